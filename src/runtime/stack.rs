//! The started stack, whichever runtime runs it: the rest of the pipeline
//! sees services, logs, exits, faults and a resource source, never whether
//! they are processes or containers.

use std::collections::BTreeMap;
use std::path::Path;

use super::docker::{ContainerStack, DockerEnv};
use super::{LogStore, RuntimeError, Stack, StartedService};
use crate::clock::RunClock;
use crate::collectors::resources::Source;
use crate::scenario::{ServiceAction, StackPlan};

pub enum RunningStack {
    Process(Stack),
    Docker(ContainerStack),
}

impl RunningStack {
    /// Start `plan` as processes, or as containers on `docker`'s network.
    pub async fn start(
        docker: Option<&DockerEnv>,
        plan: &StackPlan,
        vars: BTreeMap<String, String>,
        dir: &Path,
        run_dir: &Path,
        clock: RunClock,
    ) -> Result<Self, RuntimeError> {
        Ok(match docker {
            None => RunningStack::Process(Stack::start(plan, vars, dir, run_dir, clock).await?),
            Some(env) => RunningStack::Docker(ContainerStack::start(env, plan, vars, dir, run_dir, clock).await?),
        })
    }

    pub fn services(&self) -> Vec<StartedService> {
        match self {
            RunningStack::Process(s) => s.services(),
            RunningStack::Docker(s) => s.services(),
        }
    }

    pub fn logs(&self) -> LogStore {
        match self {
            RunningStack::Process(s) => s.logs.clone(),
            RunningStack::Docker(s) => s.logs.clone(),
        }
    }

    /// Services that stopped on their own (not by a fault) so far.
    pub async fn exited(&mut self) -> Vec<(String, String)> {
        match self {
            RunningStack::Process(s) => s.exited(),
            RunningStack::Docker(s) => s.exited().await,
        }
    }

    /// Apply (`undo: false`) or undo a fault on a service. Processes have no
    /// service faults: compile-time checks require the docker runtime.
    pub async fn fault(&mut self, service: &str, action: ServiceAction, restart: bool, undo: bool) -> Result<(), RuntimeError> {
        match self {
            RunningStack::Process(_) => {
                Err(RuntimeError::Docker(format!("`action: {}` on `{service}` needs the docker runtime", action.as_str())))
            }
            RunningStack::Docker(s) => s.fault(service, action, restart, undo).await,
        }
    }

    /// Where the resource sampler reads CPU and memory.
    pub fn resource_source(&self) -> Source {
        match self {
            RunningStack::Process(s) => Source::Groups(s.services().iter().map(|s| (s.name.clone(), s.pid as i32)).collect()),
            RunningStack::Docker(s) => Source::Containers(s.docker().clone(), s.containers()),
        }
    }

    pub async fn stop(self) -> Vec<(String, String)> {
        match self {
            RunningStack::Process(s) => s.stop().await,
            RunningStack::Docker(s) => s.stop().await,
        }
    }
}
