//! The container runtime's environment: a Docker client at a negotiated API
//! version, one private bridge network per run, the labels that mark what
//! ordeal created, and the reaping of what a SIGKILLed run left behind.
//!
//! Invariants:
//! - every container and network ordeal creates carries `org.ordeal.managed`
//!   and `org.ordeal.owner=<pid>:<start time>` of the ordeal process;
//! - a live owner's resources are never touched by another ordeal (runs in
//!   parallel are safe); a dead owner's are removed at the next start;
//! - everything created is also in a process-wide registry, removed by the
//!   panic hook and the second Ctrl-C (containers do not die with ordeal).
//!
//! Containers themselves are started through testcontainers (`containers`).

mod containers;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use bollard::Docker;

pub use containers::ContainerStack;

use super::RuntimeError;
use super::images::{self, MANAGED_LABEL};

/// `<pid>:<start time in clock ticks>` of the ordeal process that owns a resource.
pub const OWNER_LABEL: &str = "org.ordeal.owner";
/// The run a resource belongs to.
pub const RUN_LABEL: &str = "org.ordeal.run";

/// Containers and networks to remove from synchronous paths (panic, second Ctrl-C).
static CREATED: Mutex<(Vec<String>, Vec<String>)> = Mutex::new((Vec::new(), Vec::new()));

fn created() -> std::sync::MutexGuard<'static, (Vec<String>, Vec<String>)> {
    CREATED.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn register_container(id: &str) {
    created().0.push(id.to_string());
}

pub(crate) fn unregister_container(id: &str) {
    created().0.retain(|c| c != id);
}

/// Container and network creations under way (see [`uncancelled`]).
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Whether this process has used Docker at all (a sweep is needed only then).
static USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs a Docker creation to its end even if the caller is dropped (an
/// interrupt): a request cancelled half-way may still complete in the daemon
/// after teardown listed what to remove. Teardown waits for these ([`sweep`]).
pub(crate) async fn uncancelled<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    USED.store(true, std::sync::atomic::Ordering::SeqCst);
    IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let task = tokio::spawn(async move {
        let _done = Done;
        f.await
    });
    match task.await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a Docker creation task was cancelled: {e}"),
    }
}

/// Test hook (`ORDEAL_FAILPOINT=<name>`): holds a creation for `hold`, saying so on stderr.
pub(crate) async fn failpoint(name: &str, hold: std::time::Duration) {
    if std::env::var("ORDEAL_FAILPOINT").as_deref() == Ok(name) {
        tracing::warn!("ORDEAL_FAILPOINT={name}: holding for {hold:?}");
        tokio::time::sleep(hold).await;
    }
}

/// Removes the containers (and, with `with_networks`, networks) that carry
/// `filter` (a label, or `label=value`) and whose labels pass `doomed`;
/// returns their names. Whatever it removes leaves the registry too.
async fn remove_labelled(
    docker: &Docker,
    filter: String,
    doomed: impl Fn(Option<&HashMap<String, String>>) -> bool,
    with_networks: bool,
) -> Result<super::reap::Reaped, RuntimeError> {
    let filters = HashMap::from([("label".to_string(), vec![filter])]);
    let mut out = super::reap::Reaped::default();
    let opts = bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    for c in docker.list_containers(Some(opts)).await.map_err(docker_error("list containers"))? {
        let Some(id) = c.id.filter(|_| doomed(c.labels.as_ref())) else { continue };
        let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        if docker.remove_container(&id, Some(opts)).await.is_ok() {
            out.containers.push(c.names.and_then(|n| n.first().cloned()).unwrap_or_else(|| id.clone()).trim_start_matches('/').to_string());
        }
        unregister_container(&id);
    }
    if with_networks {
        let opts = bollard::query_parameters::ListNetworksOptionsBuilder::default().filters(&filters).build();
        for n in docker.list_networks(Some(opts)).await.map_err(docker_error("list networks"))? {
            let Some(name) = n.name.filter(|_| doomed(n.labels.as_ref())) else { continue };
            if docker.remove_network(&name).await.is_ok() {
                out.networks.push(name.clone());
            }
            created().1.retain(|x| x != &name);
        }
    }
    Ok(out)
}

/// Waits (at most 10 s) for the creations under way, then removes every
/// container (and, with `with_networks`, network) labelled `label=value`: what
/// an interrupted start created but never registered.
pub async fn sweep(docker: &Docker, label: &str, value: &str, with_networks: bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let out = remove_labelled(docker, format!("{label}={value}"), |_| true, with_networks).await.unwrap_or_default();
    if !out.is_empty() {
        tracing::info!("removed what an interrupted start had created: containers {:?}, networks {:?}", out.containers, out.networks);
    }
}

/// The end of a run's Docker use: closes its environment (if it got one) and,
/// after an interrupt, removes everything this process created, by owner
/// label (a network whose creation the interrupt cut short has no run to close it).
pub async fn finish(env: Option<DockerEnv>) {
    if let Some(env) = env {
        env.close().await;
    }
    if !crate::signals::interrupted() || !USED.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    if let Ok(docker) = images::connect().await {
        sweep(&docker, OWNER_LABEL, &owner(), true).await;
    }
}

/// Remove every registered container and network now, blocking (at most ~15 s),
/// and every other one carrying this process's owner label.
/// Runs on its own thread and runtime: callers may be inside a panicking task.
pub fn remove_all_blocking() {
    let (containers, networks) = {
        let g = created();
        (g.0.clone(), g.1.clone())
    };
    if containers.is_empty() && networks.is_empty() && !USED.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let worker = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            let Ok(docker) = images::connect().await else { return };
            for c in &containers {
                let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default().force(true).v(true).build();
                let _ = docker.remove_container(c, Some(opts)).await;
            }
            for n in &networks {
                let _ = docker.remove_network(n).await;
            }
            sweep(&docker, OWNER_LABEL, &owner(), true).await;
        });
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !worker.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// This process as an owner label value: its owner mark (`reap::owner`) as `<pid>:<start>`.
pub fn owner() -> String {
    super::reap::owner().replacen('.', ":", 1)
}

/// Whether an owner label parses (`<pid>:<start>`) and names a process that
/// is gone. A label that does not parse is not ours: never dead.
pub fn owner_dead(label: &str) -> bool {
    label.split_once(':').is_some_and(|(pid, start)| super::reap::owner_is_dead(&format!("{pid}.{start}")))
}

fn docker_error(context: &str) -> impl FnOnce(bollard::errors::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Docker(format!("{context}: {e}"))
}

/// Remove the containers and networks of ordeal processes that are gone
/// (a run that was SIGKILLed cannot clean up after itself).
pub async fn reap(docker: &Docker) -> Result<super::reap::Reaped, RuntimeError> {
    // By owner label: a container merely started from an ordeal image (which
    // carries the managed label) has no owner and is not ours to remove.
    let dead = |labels: Option<&HashMap<String, String>>| owner_dead(labels.and_then(|l| l.get(OWNER_LABEL)).map_or("", String::as_str));
    let out = remove_labelled(docker, OWNER_LABEL.to_string(), dead, true).await?;
    if !out.is_empty() {
        tracing::info!("removed what killed ordeal runs left behind: containers {:?}, networks {:?}", out.containers, out.networks);
        super::reap::record(|r| {
            r.containers.extend(out.containers.iter().cloned());
            r.networks.extend(out.networks.iter().cloned());
        });
    }
    Ok(out)
}

/// A run's private network and the client that manages it.
pub struct DockerEnv {
    pub docker: Docker,
    pub run_id: String,
    /// Network name, `ordeal-<run id>`.
    pub network: String,
    /// The host's address on that network: the harness's own servers (mocks,
    /// OTLP receiver, alert webhook) listen here so containers reach them.
    pub gateway: IpAddr,
}

impl DockerEnv {
    /// Connects (exit 3 when no daemon answers), reaps leftovers of killed
    /// runs, and creates this run's network.
    pub async fn open() -> Result<Self, RuntimeError> {
        let docker = images::connect().await.map_err(|e| RuntimeError::Docker(e.to_string()))?;
        reap(&docker).await?;
        let run_id = format!("{:08x}", rand::random::<u32>());
        let network = format!("ordeal-{run_id}");
        let request = bollard::models::NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".into()),
            labels: Some(Self::labels_for(&run_id)),
            ..Default::default()
        };
        let (client, name) = (docker.clone(), network.clone());
        uncancelled(async move {
            let created_net = client.create_network(request).await;
            if created_net.is_ok() {
                created().1.push(name);
            }
            created_net
        })
        .await
        .map_err(docker_error("create network"))?;
        let info = docker
            .inspect_network(&network, None::<bollard::query_parameters::InspectNetworkOptions>)
            .await
            .map_err(docker_error("inspect network"))?;
        let gateway = info
            .ipam
            .and_then(|i| i.config)
            .and_then(|c| c.into_iter().find_map(|c| c.gateway))
            .and_then(|g| g.parse().ok())
            .ok_or_else(|| RuntimeError::Docker(format!("network {network} has no IPv4 gateway")))?;
        tracing::info!("docker: network {network}, gateway {gateway}");
        Ok(DockerEnv { docker, run_id, network, gateway })
    }

    fn labels_for(run_id: &str) -> HashMap<String, String> {
        HashMap::from([
            (MANAGED_LABEL.to_string(), "true".to_string()),
            (OWNER_LABEL.to_string(), owner()),
            (RUN_LABEL.to_string(), run_id.to_string()),
        ])
    }

    /// Labels for a container of this run.
    pub fn labels(&self) -> HashMap<String, String> {
        Self::labels_for(&self.run_id)
    }

    /// Container name (and DNS name on the network) of a service.
    pub fn container_name(&self, service: &str) -> String {
        format!("ordeal-{}-{service}", self.run_id)
    }

    /// Removes what is left of this run (containers an interrupted start
    /// created, after waiting for creations under way), then the network.
    pub async fn close(self) {
        sweep(&self.docker, RUN_LABEL, &self.run_id, false).await;
        if let Err(e) = self.docker.remove_network(&self.network).await {
            tracing::warn!("cannot remove network {}: {e}", self.network);
        }
        created().1.retain(|n| n != &self.network);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_pid_is_not() {
        assert!(!owner_dead(&owner()));
        assert!(owner_dead(&format!("{}:1", std::process::id())), "same pid, other start time");
        assert!(owner_dead("4194304:5"));
        for garbage in ["garbage", "", "1:", ":1", "1:1.1", "1.1", "1:1/2"] {
            assert!(!owner_dead(garbage), "{garbage:?} does not parse: never ours");
        }
    }
}
