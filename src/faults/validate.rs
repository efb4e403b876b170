//! Compile-time checks of mock configurations and fault specs, returning
//! human-readable problems (empty = valid) for the scenario compiler to
//! attach to file:line. The runtime calls the same checks before starting a
//! mock or applying a fault.

use super::config::{FaultSpec, MockConfig, RouteConfig};
use super::latency::Latency;
use super::route::{PathPattern, RouteFilter, normalize_method};

/// Fault parts that only make sense on one kind of mock, with the kinds that support them.
const KIND_SPECIFIC: &[(&str, &[&str])] = &[("slow_stream", &["openai"]), ("truncate_stream", &["openai"])];

fn ratio(out: &mut Vec<String>, what: &str, r: f64) {
    if !(0.0..=1.0).contains(&r) {
        out.push(format!("{what}.ratio must be between 0 and 1, got {r}"));
    }
}

fn file(out: &mut Vec<String>, what: &str, p: &std::path::Path) {
    if !p.is_absolute() {
        out.push(format!("{what} {} must be an absolute path", p.display()));
    } else if !p.is_file() {
        out.push(format!("{what} {} does not exist", p.display()));
    }
}

fn latency(out: &mut Vec<String>, l: Option<&Latency>) {
    out.extend(l.into_iter().flat_map(Latency::problems).map(|p| format!("latency: {p}")));
}

fn status(out: &mut Vec<String>, what: &str, s: u16) {
    if !(100..=599).contains(&s) {
        out.push(format!("{what} must be an HTTP status between 100 and 599, got {s}"));
    }
}

/// Checks a fault spec against the mock it targets.
pub fn validate(mock: &MockConfig, spec: &FaultSpec) -> Vec<String> {
    let mut out = Vec::new();
    if *spec == FaultSpec::default() {
        out.push(
            "fault sets nothing: give at least one of latency, error, rate_limit, hang, \
                  slow_stream, truncate_stream, malformed, reset"
                .to_string(),
        );
    }
    latency(&mut out, spec.latency.as_ref());
    if let Some(e) = &spec.error {
        status(&mut out, "error.status", e.status);
        ratio(&mut out, "error", e.ratio);
    }
    if let Some(r) = &spec.rate_limit {
        ratio(&mut out, "rate_limit", r.ratio);
    }
    if let Some(h) = &spec.hang {
        ratio(&mut out, "hang", h.ratio);
        if h.duration.is_zero() {
            out.push("hang.for must be longer than 0s".to_string());
        }
    }
    if let Some(t) = &spec.truncate_stream {
        ratio(&mut out, "truncate_stream", t.ratio);
    }
    if let Some(m) = &spec.malformed {
        ratio(&mut out, "malformed", m.ratio);
    }
    if let Some(r) = &spec.reset {
        ratio(&mut out, "reset", r.ratio);
    }
    let present = [("slow_stream", spec.slow_stream.is_some()), ("truncate_stream", spec.truncate_stream.is_some())];
    for (field, set) in present {
        let Some((_, kinds)) = KIND_SPECIFIC.iter().find(|(f, _)| *f == field) else { continue };
        if set && !kinds.contains(&mock.kind()) {
            out.push(format!("{field} is not supported by a mock of kind {}; supported kinds: {}", mock.kind(), kinds.join(", ")));
        }
    }
    out
}

/// Checks a mock configuration (routes, statuses, files, latency).
pub fn validate_mock(mock: &MockConfig) -> Vec<String> {
    let mut out = Vec::new();
    match mock {
        MockConfig::Openai(c) => {
            if c.model.trim().is_empty() {
                out.push("model must not be empty".to_string());
            }
            if let Some(p) = &c.responses_file {
                let before = out.len();
                file(&mut out, "responses_file", p);
                if out.len() == before
                    && let Err(why) = super::openai::read_answers(p)
                {
                    out.push(format!("responses_file {}: {why}", p.display()));
                }
            }
            latency(&mut out, c.latency.as_ref());
        }
        MockConfig::Http(c) => {
            for (i, r) in c.routes.iter().enumerate() {
                out.extend(route_problems(r).into_iter().map(|p| format!("routes[{i}]: {p}")));
            }
            latency(&mut out, c.latency.as_ref());
        }
    }
    out
}

fn route_problems(r: &RouteConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = normalize_method(&r.method) {
        out.push(e.to_string());
    }
    if let Err(e) = PathPattern::new(&r.path) {
        out.push(e.to_string());
    }
    status(&mut out, "status", r.status);
    if r.body.is_some() && r.body_file.is_some() {
        out.push("give either body or body_file, not both".to_string());
    }
    if let Some(p) = &r.body_file {
        file(&mut out, "body_file", p);
    }
    for (k, v) in &r.headers {
        if axum::http::HeaderName::from_bytes(k.as_bytes()).is_err() {
            out.push(format!("header name {k:?} is invalid"));
        }
        if axum::http::HeaderValue::from_str(v).is_err() {
            out.push(format!("header {k:?} has an invalid value"));
        }
    }
    out
}

/// Warns when a fault's route filter can match none of the mock's known routes.
pub fn validate_route(mock: &MockConfig, filter: &RouteFilter) -> Vec<String> {
    let known: Vec<(String, String)> = match mock {
        MockConfig::Openai(_) => {
            vec![("POST".into(), "/v1/chat/completions".into()), ("GET".into(), "/v1/models".into())]
        }
        MockConfig::Http(c) => c.routes.iter().map(|r| (r.method.to_ascii_uppercase(), r.path.clone())).collect(),
    };
    // A template such as "/items/{id}" is itself a path the filter's regex can test.
    if known.iter().any(|(m, p)| filter.matches(m, p)) {
        return Vec::new();
    }
    let list: Vec<String> = known.iter().map(|(m, p)| format!("{m} {p}")).collect();
    vec![format!(
        "route filter \"{filter}\" matches none of the mock's routes ({})",
        if list.is_empty() { "none defined".to_string() } else { list.join(", ") }
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::config::{HttpMockConfig, OpenAiMockConfig};

    fn spec(y: &str) -> FaultSpec {
        serde_norway::from_str(y).unwrap()
    }

    fn http() -> MockConfig {
        serde_norway::from_str("kind: http\nroutes: [{method: GET, path: \"/items/{id}\"}]").unwrap()
    }

    #[test]
    fn stream_faults_only_on_llm_mocks() {
        let llm = MockConfig::Openai(OpenAiMockConfig::default());
        assert!(validate(&llm, &spec("slow_stream: { token_delay: 1s }")).is_empty());
        let p = validate(&http(), &spec("slow_stream: { token_delay: 1s }\ntruncate_stream: { after_tokens: 1 }"));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("kind http") && p[0].contains("supported kinds: openai"), "{p:?}");
    }

    #[test]
    fn ratios_statuses_and_empty_specs() {
        let p = validate(&http(), &spec("error: { status: 700, ratio: 1.5 }\nreset: { ratio: -0.1 }"));
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(validate(&http(), &FaultSpec::default())[0].contains("sets nothing"));
        assert!(validate(&http(), &spec("hang: { for: 0s }"))[0].contains("hang.for"));
        assert!(validate(&http(), &spec("latency: { uniform: [2s, 1s] }"))[0].contains("above max"));
        assert!(validate(&http(), &spec("error: { status: 503, ratio: 0.5 }")).is_empty());
    }

    #[test]
    fn mock_configs_are_checked() {
        let bad: MockConfig =
            serde_norway::from_str("kind: http\nroutes:\n  - { method: 'G T', path: items, status: 42, body: 1, body_file: rel.json }")
                .unwrap();
        let p = validate_mock(&bad);
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(validate_mock(&http()).is_empty());
        let llm = MockConfig::Openai(OpenAiMockConfig { responses_file: Some("/nonexistent/x.json".into()), ..Default::default() });
        assert!(validate_mock(&llm)[0].contains("does not exist"));
        let dir = tempfile::tempdir().unwrap();
        let answers = |text: &str| {
            let path = dir.path().join("answers.json");
            std::fs::write(&path, text).unwrap();
            validate_mock(&MockConfig::Openai(OpenAiMockConfig { responses_file: Some(path), ..Default::default() }))
        };
        assert!(answers("[\"fine\"]").is_empty());
        assert!(answers("{\"not\": \"a list\"}")[0].contains("expected a JSON array of strings"), "{:?}", answers("{}"));
        assert!(answers("[\" \"]")[0].contains("the list of answers is empty"));
        assert!(validate_mock(&MockConfig::Http(HttpMockConfig::default())).is_empty());
    }

    #[test]
    fn route_filters_are_checked_against_routes() {
        assert!(validate_route(&http(), &"GET /items/*".parse().unwrap()).is_empty());
        assert!(validate_route(&http(), &"/items/{x}".parse().unwrap()).is_empty());
        let p = validate_route(&http(), &"POST /items/*".parse().unwrap());
        assert!(p[0].contains("GET /items/{id}"), "{p:?}");
        let llm = MockConfig::Openai(OpenAiMockConfig::default());
        assert!(validate_route(&llm, &"POST /v1/chat/completions".parse().unwrap()).is_empty());
    }
}
