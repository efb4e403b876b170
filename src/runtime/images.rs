//! Images without a registry: a service's program, the shared libraries
//! `ldd` says it loads, the host's CA bundle and an empty `/tmp`, packed into
//! a `FROM scratch` build context and built by the local Docker engine (bollard). Nothing is
//! pulled. The tag is a hash of the context, so an unchanged program is not
//! rebuilt: `ordeal/<program>:<hash>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bollard::Docker;
use futures::StreamExt;
use sha2::{Digest, Sha256};

/// Label on every image (and later container) ordeal creates.
pub const MANAGED_LABEL: &str = "org.ordeal.managed";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("no Docker daemon reachable ({0}); start it, or use the process runtime")]
    NoDaemon(String),
    #[error("`{program}` cannot be packed into an image: {reason}")]
    Program { program: PathBuf, reason: String },
    #[error("building image `{image}` failed: {message}")]
    Build { image: String, message: String },
}

/// What to pack: one program, run as the container's entrypoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Repository name, e.g. `ordeal/multiagent`.
    pub name: String,
    pub program: PathBuf,
}

impl ImageSpec {
    /// `ordeal/<file name>` for a program path.
    pub fn for_program(program: &Path) -> ImageSpec {
        let base = program.file_name().map(|f| f.to_string_lossy().to_lowercase()).unwrap_or_else(|| "program".into());
        let clean: String =
            base.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '-' }).collect();
        ImageSpec { name: format!("ordeal/{clean}"), program: program.to_path_buf() }
    }

    /// Where the program lives inside the image.
    pub fn entrypoint(&self) -> String {
        format!("/usr/local/bin/{}", self.program.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default())
    }
}

/// The build context: a tar with the Dockerfile and `rootfs/`, and its hash.
pub struct Context {
    pub tar: Vec<u8>,
    pub hash: String,
    /// Files packed: path inside the image -> bytes.
    pub files: BTreeMap<String, u64>,
}

/// The shared libraries (and the dynamic loader) `ldd` lists for `program`;
/// empty for a static binary.
pub fn shared_libraries(program: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let fail = |reason: String| ImageError::Program { program: program.to_path_buf(), reason };
    let out = std::process::Command::new("ldd").arg(program).output().map_err(|e| fail(format!("cannot run ldd: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return if text.contains("not a dynamic executable") || String::from_utf8_lossy(&out.stderr).contains("not a dynamic executable") {
            Ok(Vec::new())
        } else {
            Err(fail(format!("ldd failed: {}", String::from_utf8_lossy(&out.stderr).trim())))
        };
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`.
        let path = match line.split_once("=>") {
            Some((_, rhs)) => rhs.split_whitespace().next(),
            None => line.split_whitespace().next().filter(|p| p.starts_with('/')),
        };
        match path {
            Some(p) if p.starts_with('/') => libs.push(PathBuf::from(p)),
            Some("not") => return Err(fail(format!("a library is missing: {}", line.trim()))),
            _ => {} // linux-vdso and the like live in the kernel
        }
    }
    Ok(libs)
}

/// Data a packaged program reads at start-up, by program file name: Debian's
/// Alertmanager refuses to start without its notification templates.
const DATA_DIRS: [(&str, &str); 2] =
    [("prometheus-alertmanager", "/usr/share/prometheus/alertmanager"), ("alertmanager", "/usr/share/prometheus/alertmanager")];

/// The CA bundle every image carries, as real base images do (Debian's
/// `ca-certificates`): an HTTP client built on rustls-platform-verifier (the
/// reference stack's OTLP exporter, with the features of a workspace build)
/// refuses to start without root certificates, even for plain-HTTP endpoints.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Every regular file under the data directories `program` needs, and the
/// host's CA bundle when it has one.
fn data_files(program: &Path) -> Vec<PathBuf> {
    let name = program.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = DATA_DIRS.iter().filter(|(p, _)| *p == name).map(|(_, d)| PathBuf::from(d)).collect();
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(e.path()),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    if Path::new(CA_BUNDLE).is_file() {
        out.push(PathBuf::from(CA_BUNDLE));
    }
    out.sort();
    out
}

fn dockerfile(spec: &ImageSpec) -> String {
    format!("FROM scratch\nCOPY rootfs/ /\nLABEL {MANAGED_LABEL}=true\nENTRYPOINT [\"{}\"]\n", spec.entrypoint())
}

/// Pack the program, its libraries and `/tmp` into a deterministic tar.
pub fn context(spec: &ImageSpec) -> Result<Context, ImageError> {
    let fail = |reason: String| ImageError::Program { program: spec.program.clone(), reason };
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let program = std::fs::read(&spec.program).map_err(|e| fail(e.to_string()))?;
    files.insert(spec.entrypoint(), program);
    for lib in shared_libraries(&spec.program)?.into_iter().chain(data_files(&spec.program)) {
        // Follows symlinks: the image gets the file under the name the loader asks for.
        let bytes = std::fs::read(&lib).map_err(|e| fail(format!("{}: {e}", lib.display())))?;
        files.insert(lib.display().to_string(), bytes);
    }
    let dockerfile = dockerfile(spec);
    let mut hasher = Sha256::new();
    hasher.update(dockerfile.as_bytes());
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, bytes: &[u8], mode: u32| -> Result<(), ImageError> {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, bytes).map_err(|e| fail(format!("tar {path}: {e}")))
    };
    add("Dockerfile", dockerfile.as_bytes(), 0o644)?;
    for (path, bytes) in &files {
        hasher.update(path.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
        add(&format!("rootfs{path}"), bytes, 0o755)?;
    }
    let mut tmp = tar::Header::new_gnu();
    tmp.set_entry_type(tar::EntryType::Directory);
    tmp.set_mode(0o1777);
    tmp.set_mtime(0);
    tmp.set_size(0);
    tar.append_data(&mut tmp, "rootfs/tmp/", std::io::empty()).map_err(|e| fail(format!("tar /tmp: {e}")))?;
    let tar = tar.into_inner().map_err(|e| fail(format!("tar: {e}")))?;
    let hash = format!("{:x}", hasher.finalize())[..12].to_string();
    Ok(Context { tar, hash, files: files.into_iter().map(|(k, v)| (k, v.len() as u64)).collect() })
}

/// A client for the local engine, at an API version it speaks, or why not.
pub async fn connect() -> Result<Docker, ImageError> {
    let docker = Docker::connect_with_local_defaults().map_err(|e| ImageError::NoDaemon(e.to_string()))?;
    let docker = tokio::time::timeout(std::time::Duration::from_secs(10), docker.negotiate_version())
        .await
        .map_err(|_| ImageError::NoDaemon("no answer within 10s".into()))?
        .map_err(|e| ImageError::NoDaemon(e.to_string()))?;
    docker.ping().await.map_err(|e| ImageError::NoDaemon(e.to_string()))?;
    Ok(docker)
}

/// The result of [`build`].
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct BuiltImage {
    /// `name:tag`
    pub reference: String,
    /// Already present: nothing was built.
    pub cached: bool,
    pub files: usize,
    pub bytes: u64,
}

/// Build `spec` unless an image with its content hash exists already.
pub async fn build(docker: &Docker, spec: &ImageSpec) -> Result<BuiltImage, ImageError> {
    let ctx = context(spec)?;
    let reference = format!("{}:{}", spec.name, ctx.hash);
    let (files, bytes) = (ctx.files.len(), ctx.files.values().sum());
    if docker.inspect_image(&reference).await.is_ok() {
        return Ok(BuiltImage { reference, cached: true, files, bytes });
    }
    let labels = BTreeMap::from([(MANAGED_LABEL.to_string(), "true".to_string())]).into_iter().collect::<std::collections::HashMap<_, _>>();
    let options = bollard::query_parameters::BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(&reference)
        .rm(true)
        .forcerm(true)
        .labels(&labels)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(ctx.tar.into())));
    let fail = |message: String| ImageError::Build { image: reference.clone(), message };
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| fail(e.to_string()))?;
        if let Some(detail) = info.error_detail {
            return Err(fail(detail.message.unwrap_or_default()));
        }
        if let Some(s) = info.stream.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            tracing::debug!("build {reference}: {s}");
        }
    }
    docker.inspect_image(&reference).await.map_err(|e| fail(format!("built, but not found afterwards: {e}")))?;
    Ok(BuiltImage { reference, cached: false, files, bytes })
}

/// The program a service runs (its `command`, with `{{env.*}}` rendered,
/// made absolute against the scenario directory, symlinks resolved).
pub fn program_path(dir: &Path, s: &crate::scenario::ServicePlan) -> Result<PathBuf, ImageError> {
    let rendered = crate::scenario::template::render(&s.command, &BTreeMap::new())
        .map_err(|reason| ImageError::Program { program: PathBuf::from(&s.command), reason: format!("service `{}`: {reason}", s.name) })?;
    let path = if rendered.contains('/') {
        let p = PathBuf::from(&rendered);
        if p.is_relative() { dir.join(p) } else { p }
    } else {
        super::alerting::find_program(&rendered).unwrap_or_else(|| PathBuf::from(&rendered))
    };
    std::fs::canonicalize(&path).map_err(|e| ImageError::Program {
        program: path.clone(),
        reason: format!("service `{}`: {e} (is it built? `ordeal run` builds it through `stack.prepare`)", s.name),
    })
}

/// The images a scenario needs: one per distinct service program (its
/// `command`, with `{{env.*}}` rendered and made absolute), plus Prometheus
/// and Alertmanager when the scenario runs them.
pub fn specs_for(plan: &crate::plan::Plan) -> Result<Vec<ImageSpec>, ImageError> {
    let mut programs: Vec<PathBuf> = Vec::new();
    for s in plan.stack.services.iter().filter(|s| s.image.is_none()) {
        programs.push(program_path(&plan.dir, s)?);
    }
    if let Some(m) = plan.alerting.as_ref().and_then(|a| a.managed()) {
        for (bin, package) in [(&m.prometheus_bin, "prometheus"), (&m.alertmanager_bin, "prometheus-alertmanager")] {
            let path = super::alerting::find_program(bin).ok_or_else(|| ImageError::Program {
                program: PathBuf::from(bin),
                reason: format!(
                    "not found: run `scripts/setup` (it installs Debian's `{package}` package; or apt-get install -y {package})"
                ),
            })?;
            programs.push(std::fs::canonicalize(&path).unwrap_or(path));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    Ok(programs.into_iter().filter(|p| seen.insert(p.clone())).map(|p| ImageSpec::for_program(&p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_lists_libc_and_the_loader_for_a_dynamic_program() {
        let libs = shared_libraries(Path::new("/bin/sh")).unwrap();
        assert!(libs.iter().any(|l| l.to_string_lossy().contains("libc.so")), "{libs:?}");
        assert!(libs.iter().any(|l| l.to_string_lossy().contains("ld-linux")), "{libs:?}");
        let err = shared_libraries(Path::new("/nonexistent/program")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/program"), "{err}");
    }

    #[test]
    fn context_is_deterministic_and_holds_program_libraries_and_tmp() {
        let spec = ImageSpec::for_program(Path::new("/bin/sh"));
        assert_eq!(spec.name, "ordeal/sh");
        let (a, b) = (context(&spec).unwrap(), context(&spec).unwrap());
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.tar, b.tar);
        let mut names = Vec::new();
        for entry in tar::Archive::new(&a.tar[..]).entries().unwrap() {
            names.push(entry.unwrap().path().unwrap().display().to_string());
        }
        assert!(names.contains(&"Dockerfile".to_string()), "{names:?}");
        assert!(names.contains(&"rootfs/usr/local/bin/sh".to_string()), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("rootfs/") && n.contains("libc.so")), "{names:?}");
        assert!(names.contains(&"rootfs/tmp/".to_string()), "{names:?}");
        let other = context(&ImageSpec::for_program(Path::new("/bin/ls"))).unwrap();
        assert_ne!(other.hash, a.hash);
    }
}
