//! `multiagent` binary: parses the command line (`coordinator` | `worker` | `--help`),
//! loads configuration, installs logging, and runs the role on a Tokio runtime.
//! Exit codes: 0 clean shutdown, 1 runtime failure (e.g. bind), 2 usage/configuration.

mod backend;
mod breaker;
mod cache;
mod config;
mod coordinator;
mod errors;
mod http_obs;
mod llm;
mod logging;
mod metrics;
mod mutant;
mod redact;
mod retry;
mod server;
mod sse;
mod traces;
mod upstream;
mod worker;

use std::process::ExitCode;

use config::{Config, Role};

const USAGE: &str = "\
multiagent — reference multi-agent stack for ordeal

USAGE:
    multiagent coordinator    run the coordinator (POST /v1/tasks)
    multiagent worker         run a worker (POST /v1/work)
    multiagent --help         show this help

Configuration is read from the environment; see crates/multiagent/README.md.
Main variables: MULTIAGENT_LISTEN, MULTIAGENT_LLM_URL, MULTIAGENT_BACKEND_URL (worker),
MULTIAGENT_WORKER_URLS (coordinator), MULTIAGENT_LLM_MODEL, MULTIAGENT_SERVICE_NAME,
MULTIAGENT_BREAKER_*, MULTIAGENT_RETRY_*, MULTIAGENT_*_TIMEOUT_MS, MULTIAGENT_CACHE_TTL_MS,
MULTIAGENT_LOGS|METRICS|TRACES=off, MULTIAGENT_CPU_BURN_US, MULTIAGENT_MUTANT,
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_TRACES_SAMPLER_ARG.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let role = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["coordinator"] => Role::Coordinator,
        ["worker"] => Role::Worker,
        ["--help" | "-h" | "help"] => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        ["--version" | "-V"] => {
            println!("multiagent {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("error: expected exactly one of `coordinator`, `worker`, `--help`; got {args:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cfg = match Config::from_env(role) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("multiagent {}: configuration error: {e}", role.as_str());
            return ExitCode::from(2);
        }
    };
    if cfg.logs
        && let Err(e) = logging::init(&cfg.service_name, mutant::is(cfg.mutant, mutant::Mutant::DropNumericLogFields))
    {
        eprintln!("multiagent {}: {e}", role.as_str());
        return ExitCode::from(2);
    }
    if let Some(m) = cfg.mutant {
        tracing::warn!(mutant = m.as_str(), "MUTANT ACTIVE: behaviour deliberately broken for harness self-tests");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("multiagent {}: cannot start the async runtime: {e}", role.as_str());
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(server::run(cfg));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "fatal error");
            eprintln!("multiagent {}: {e}", role.as_str());
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
