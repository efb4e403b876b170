//! Parsers for single configuration values (URLs, numbers, on/off switches, the OTLP
//! trace settings), each producing a `ConfigError` that names the variable.

use super::{ConfigError, OtlpProtocol, TraceSettings};

pub(super) fn trace_settings(get: &impl Fn(&str) -> Option<String>) -> Result<TraceSettings, ConfigError> {
    let endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| get("OTEL_EXPORTER_OTLP_ENDPOINT"));
    let protocol_var = if get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").is_some() {
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    } else {
        "OTEL_EXPORTER_OTLP_PROTOCOL"
    };
    let protocol = match get(protocol_var).as_deref() {
        None | Some("grpc") => OtlpProtocol::Grpc,
        Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
        Some(other) => {
            return Err(ConfigError::Invalid {
                var: if protocol_var.contains("TRACES") { "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" } else { "OTEL_EXPORTER_OTLP_PROTOCOL" },
                value: other.to_string(),
                reason: "supported: grpc, http/protobuf".into(),
            });
        }
    };
    let sample_ratio = match get("OTEL_TRACES_SAMPLER_ARG") {
        None => 1.0,
        Some(v) => match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => r,
            _ => {
                return Err(ConfigError::Invalid {
                    var: "OTEL_TRACES_SAMPLER_ARG",
                    value: v,
                    reason: "expected a ratio between 0.0 and 1.0".into(),
                });
            }
        },
    };
    Ok(TraceSettings { export: endpoint.map(|_| protocol), sample_ratio })
}

pub(super) fn parse_url(var: &'static str, value: &str) -> Result<String, ConfigError> {
    if !value.starts_with("http://") || value.len() <= "http://".len() {
        return Err(ConfigError::Invalid {
            var,
            value: value.to_string(),
            reason: "expected an http:// URL (TLS is not supported by the reference stack)".into(),
        });
    }
    Ok(value.trim_end_matches('/').to_string())
}

pub(super) fn parse_u64(var: &'static str, value: Option<String>, default: u64, min: u64) -> Result<u64, ConfigError> {
    let Some(v) = value else { return Ok(default) };
    match v.parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        Ok(_) => Err(ConfigError::Invalid { var, value: v, reason: format!("must be >= {min}") }),
        Err(e) => Err(ConfigError::Invalid { var, value: v, reason: format!("not a whole number ({e})") }),
    }
}

pub(super) fn parse_switch(var: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("on" | "true" | "1" | "yes") => Ok(true),
        Some("off" | "false" | "0" | "no") => Ok(false),
        Some(_) => Err(ConfigError::Invalid { var, value: value.unwrap_or_default(), reason: "expected on|off".into() }),
    }
}
