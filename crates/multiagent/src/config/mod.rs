//! Configuration: the role, every `MULTIAGENT_*` / `OTEL_*` environment variable the
//! stack reads, their defaults and validation. Parsing is pure (it takes a lookup
//! function) so it is unit-testable without touching the process environment.

use std::net::SocketAddr;
use std::time::Duration;

use crate::mutant::{Mutant, UnknownMutant};
use parse::{parse_switch, parse_u64, parse_url, trace_settings};

mod parse;

/// Which process this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Coordinator,
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Worker => "worker",
        }
    }
}

/// A configuration problem; the message names the variable and the bad value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid { var: &'static str, value: String, reason: String },
    #[error("{var} must be set ({hint})")]
    Missing { var: &'static str, hint: &'static str },
    #[error(transparent)]
    Mutant(#[from] UnknownMutant),
}

/// OTLP transport for trace export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

/// Circuit breaker settings (shared by the `llm` and `backend` breakers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    pub reset_timeout: Duration,
}

/// Retry settings (shared by all retried dependencies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

/// Trace settings; present only when traces are on.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSettings {
    /// Export is configured only when `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` is set.
    pub export: Option<OtlpProtocol>,
    pub sample_ratio: f64,
}

/// Everything the process needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    pub role: Role,
    pub listen: SocketAddr,
    pub llm_url: String,
    pub llm_model: String,
    pub backend_url: Option<String>,
    pub worker_urls: Vec<String>,
    pub service_name: String,
    pub worker_id: String,
    pub breaker: BreakerSettings,
    pub retry: RetrySettings,
    pub llm_timeout: Duration,
    pub backend_timeout: Duration,
    pub worker_timeout: Duration,
    pub cache_ttl: Duration,
    pub logs: bool,
    pub metrics: bool,
    pub traces: Option<TraceSettings>,
    pub cpu_burn: Duration,
    pub mutant: Option<Mutant>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env(role: Role) -> Result<Self, ConfigError> {
        Self::from_lookup(role, |k| std::env::var(k).ok())
    }

    /// Parses configuration from any variable lookup (empty values count as unset).
    pub fn from_lookup(role: Role, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let default_listen = match role {
            Role::Coordinator => "127.0.0.1:8080",
            Role::Worker => "127.0.0.1:8081",
        };
        let listen_raw = get("MULTIAGENT_LISTEN").unwrap_or_else(|| default_listen.to_string());
        let listen: SocketAddr = listen_raw.parse().map_err(|e| ConfigError::Invalid {
            var: "MULTIAGENT_LISTEN",
            value: listen_raw.clone(),
            reason: format!("expected IP:PORT ({e})"),
        })?;
        let llm_url = match get("MULTIAGENT_LLM_URL") {
            Some(v) => parse_url("MULTIAGENT_LLM_URL", &v)?,
            None => {
                return Err(ConfigError::Missing {
                    var: "MULTIAGENT_LLM_URL",
                    hint: "base of an OpenAI-compatible API, e.g. http://127.0.0.1:9000/v1",
                });
            }
        };
        let backend_url = get("MULTIAGENT_BACKEND_URL").map(|v| parse_url("MULTIAGENT_BACKEND_URL", &v)).transpose()?;
        if role == Role::Worker && backend_url.is_none() {
            return Err(ConfigError::Missing { var: "MULTIAGENT_BACKEND_URL", hint: "backend API base URL, e.g. http://127.0.0.1:9001" });
        }
        let mut worker_urls = Vec::new();
        if let Some(list) = get("MULTIAGENT_WORKER_URLS") {
            for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                worker_urls.push(parse_url("MULTIAGENT_WORKER_URLS", part)?);
            }
        }
        if role == Role::Coordinator && worker_urls.is_empty() {
            return Err(ConfigError::Missing {
                var: "MULTIAGENT_WORKER_URLS",
                hint: "comma-separated worker base URLs, e.g. http://127.0.0.1:8081",
            });
        }
        let service_name = get("MULTIAGENT_SERVICE_NAME").unwrap_or_else(|| format!("multiagent-{}", role.as_str()));
        let worker_id = get("MULTIAGENT_WORKER_ID").unwrap_or_else(|| listen.to_string());
        let ms = |var: &'static str, default: u64, min: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(parse_u64(var, get(var), default, min)?))
        };
        let breaker = BreakerSettings {
            failure_threshold: parse_u64("MULTIAGENT_BREAKER_FAILURE_THRESHOLD", get("MULTIAGENT_BREAKER_FAILURE_THRESHOLD"), 5, 1)? as u32,
            reset_timeout: ms("MULTIAGENT_BREAKER_RESET_TIMEOUT_MS", 30_000, 1)?,
        };
        let retry = RetrySettings {
            max_attempts: parse_u64("MULTIAGENT_RETRY_MAX_ATTEMPTS", get("MULTIAGENT_RETRY_MAX_ATTEMPTS"), 3, 1)?.min(100) as u32,
            initial_delay: ms("MULTIAGENT_RETRY_INITIAL_DELAY_MS", 100, 0)?,
            max_delay: ms("MULTIAGENT_RETRY_MAX_DELAY_MS", 2_000, 0)?,
        };
        if retry.max_delay < retry.initial_delay {
            return Err(ConfigError::Invalid {
                var: "MULTIAGENT_RETRY_MAX_DELAY_MS",
                value: retry.max_delay.as_millis().to_string(),
                reason: "must be >= MULTIAGENT_RETRY_INITIAL_DELAY_MS".into(),
            });
        }
        let traces_on = parse_switch("MULTIAGENT_TRACES", get("MULTIAGENT_TRACES"))?;
        let traces = if traces_on { Some(trace_settings(&get)?) } else { None };
        Ok(Config {
            role,
            listen,
            llm_url,
            llm_model: get("MULTIAGENT_LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
            backend_url,
            worker_urls,
            service_name,
            worker_id,
            breaker,
            retry,
            llm_timeout: ms("MULTIAGENT_LLM_TIMEOUT_MS", 5_000, 1)?,
            backend_timeout: ms("MULTIAGENT_BACKEND_TIMEOUT_MS", 2_000, 1)?,
            worker_timeout: ms("MULTIAGENT_WORKER_TIMEOUT_MS", 15_000, 1)?,
            cache_ttl: ms("MULTIAGENT_CACHE_TTL_MS", 300_000, 0)?,
            logs: parse_switch("MULTIAGENT_LOGS", get("MULTIAGENT_LOGS"))?,
            metrics: parse_switch("MULTIAGENT_METRICS", get("MULTIAGENT_METRICS"))?,
            traces,
            cpu_burn: Duration::from_micros(parse_u64("MULTIAGENT_CPU_BURN_US", get("MULTIAGENT_CPU_BURN_US"), 0, 0)?),
            mutant: get("MULTIAGENT_MUTANT").map(|m| m.parse::<Mutant>()).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(role: Role, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(role, |k| map.get(k).cloned())
    }

    const WORKER_MIN: &[(&str, &str)] =
        &[("MULTIAGENT_LLM_URL", "http://127.0.0.1:9000/v1/"), ("MULTIAGENT_BACKEND_URL", "http://127.0.0.1:9001")];

    #[test]
    fn worker_defaults() {
        let c = parse(Role::Worker, WORKER_MIN).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.llm_url, "http://127.0.0.1:9000/v1");
        assert_eq!(c.llm_model, "gpt-4o-mini");
        assert_eq!(c.service_name, "multiagent-worker");
        assert_eq!(c.breaker.failure_threshold, 5);
        assert_eq!(c.breaker.reset_timeout, Duration::from_secs(30));
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(c.retry.initial_delay, Duration::from_millis(100));
        assert_eq!(c.retry.max_delay, Duration::from_millis(2000));
        assert_eq!(c.llm_timeout, Duration::from_secs(5));
        assert_eq!(c.cache_ttl, Duration::from_secs(300));
        assert!(c.logs && c.metrics);
        let t = c.traces.unwrap();
        assert_eq!(t.export, None);
        assert_eq!(t.sample_ratio, 1.0);
        assert!(c.mutant.is_none());
    }

    #[test]
    fn coordinator_needs_workers() {
        let err = parse(Role::Coordinator, &[("MULTIAGENT_LLM_URL", "http://x:1/v1")]).unwrap_err();
        assert!(err.to_string().contains("MULTIAGENT_WORKER_URLS"), "{err}");
        let c =
            parse(Role::Coordinator, &[("MULTIAGENT_LLM_URL", "http://x:1/v1"), ("MULTIAGENT_WORKER_URLS", " http://a:1/ , http://b:2,")])
                .unwrap();
        assert_eq!(c.worker_urls, vec!["http://a:1", "http://b:2"]);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases: &[(&str, &str)] = &[
            ("MULTIAGENT_LISTEN", "nope"),
            ("MULTIAGENT_BREAKER_FAILURE_THRESHOLD", "0"),
            ("MULTIAGENT_RETRY_MAX_ATTEMPTS", "three"),
            ("MULTIAGENT_LOGS", "maybe"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ("MULTIAGENT_LLM_URL", "https://secure/v1"),
        ];
        for (var, value) in cases {
            let mut vars = WORKER_MIN.to_vec();
            vars.push((var, value));
            let err = parse(Role::Worker, &vars).unwrap_err();
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
    }

    #[test]
    fn switches_mutant_and_otlp() {
        let mut vars = WORKER_MIN.to_vec();
        vars.extend([
            ("MULTIAGENT_LOGS", "off"),
            ("MULTIAGENT_METRICS", "OFF"),
            ("MULTIAGENT_MUTANT", "drop_span"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ]);
        let c = parse(Role::Worker, &vars).unwrap();
        assert!(!c.logs && !c.metrics);
        assert_eq!(c.mutant, Some(Mutant::DropSpan));
        let t = c.traces.unwrap();
        assert_eq!(t.export, Some(OtlpProtocol::HttpProtobuf));
        assert_eq!(t.sample_ratio, 0.25);

        vars.push(("MULTIAGENT_TRACES", "off"));
        assert!(parse(Role::Worker, &vars).unwrap().traces.is_none());
    }

    #[test]
    fn unknown_mutant_and_protocol_are_errors() {
        let mut vars = WORKER_MIN.to_vec();
        vars.push(("MULTIAGENT_MUTANT", "explode"));
        assert!(matches!(parse(Role::Worker, &vars), Err(ConfigError::Mutant(_))));
        let mut vars = WORKER_MIN.to_vec();
        vars.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"));
        assert!(parse(Role::Worker, &vars).unwrap_err().to_string().contains("PROTOCOL"));
    }
}
