//! JSON-lines logging on stdout: a `tracing` layer that writes one JSON object per event
//! with `timestamp`, `level`, `message`, `service` and, from the current OpenTelemetry
//! context, `trace_id` / `span_id` / `request_id` / `task_id`.
//!
//! Field convention: a field named `json_<name>` carries serialized JSON and is emitted
//! as the parsed value under `<name>` (used for the redacted request headers and body).

use std::io::Write;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Per-request log correlation, stored as a value in the OpenTelemetry [`opentelemetry::Context`].
#[derive(Clone, Debug)]
pub struct LogFields {
    pub request_id: String,
    /// Set once the handler knows the task id; shared so later lines of the request carry it.
    pub task_id: Arc<OnceLock<String>>,
}

impl LogFields {
    pub fn new(request_id: String) -> Self {
        LogFields { request_id, task_id: Arc::new(OnceLock::new()) }
    }

    /// Records the task id for the remaining log lines of the current request.
    pub fn set_current_task_id(task_id: &str) {
        opentelemetry::Context::map_current(|cx| {
            if let Some(f) = cx.get::<LogFields>() {
                let _ = f.task_id.set(task_id.to_string());
            }
        });
    }
}

/// Default filter when `RUST_LOG` is unset: our lines at info, noisy libraries at warn.
const DEFAULT_FILTER: &str = "info,h2=warn,hyper=warn,hyper_util=warn,tonic=warn,tower=warn,reqwest=warn,opentelemetry=warn,opentelemetry_sdk=warn,opentelemetry_otlp=warn";

/// Installs the JSON layer as the global subscriber.
/// `drop_unsigned`: mutant `drop_numeric_log_fields`.
pub fn init(service: &str, drop_unsigned: bool) -> Result<(), String> {
    DROP_UNSIGNED.store(drop_unsigned, std::sync::atomic::Ordering::Relaxed);
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v).map_err(|e| format!("RUST_LOG={v:?} is invalid: {e}"))?,
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    tracing_subscriber::registry()
        .with(JsonLayer { service: service.to_string() }.with_filter(filter))
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))
}

/// The layer that renders events as JSON lines on stdout.
pub struct JsonLayer {
    service: String,
}

impl<S: Subscriber> Layer<S> for JsonLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let line = render(&self.service, event);
        let mut out = std::io::stdout().lock();
        // A closed stdout must not take the service down: drop the line.
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

fn render(service: &str, event: &Event<'_>) -> String {
    let mut map = Map::new();
    map.insert("timestamp".into(), Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));
    map.insert("level".into(), Value::String(event.metadata().level().as_str().to_ascii_lowercase()));
    map.insert("message".into(), Value::String(String::new()));
    map.insert("service".into(), Value::String(service.to_string()));
    map.insert("target".into(), Value::String(event.metadata().target().to_string()));
    opentelemetry::Context::map_current(|cx| {
        let sc = cx.span().span_context().clone();
        if sc.is_valid() {
            map.insert("trace_id".into(), Value::String(sc.trace_id().to_string()));
            map.insert("span_id".into(), Value::String(sc.span_id().to_string()));
        }
        if let Some(f) = cx.get::<LogFields>() {
            map.insert("request_id".into(), Value::String(f.request_id.clone()));
            if let Some(t) = f.task_id.get() {
                map.insert("task_id".into(), Value::String(t.clone()));
            }
        }
    });
    event.record(&mut JsonVisitor(&mut map));
    // OpenTelemetry's internal events carry their text in `name` and leave `message` empty.
    if map.get("message").and_then(Value::as_str).is_some_and(str::is_empty)
        && let Some(name) = map.get("name").cloned()
    {
        map.insert("message".into(), name);
    }
    let mut line = Value::Object(map).to_string();
    line.push('\n');
    line
}

/// Mutant `drop_numeric_log_fields`: unsigned integer fields are left out.
static DROP_UNSIGNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if let Some(stripped) = name.strip_prefix("json_") {
            let parsed = match &value {
                Value::String(s) => serde_json::from_str(s).unwrap_or(value),
                _ => value,
            };
            self.0.insert(stripped.to_string(), parsed);
        } else {
            self.0.insert(name.to_string(), value);
        }
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if DROP_UNSIGNED.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tracing_subscriber::layer::Context as LCtx;

    struct Capture(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _ctx: LCtx<'_, S>) {
            self.0.lock().unwrap().push(render("svc", event));
        }
    }

    #[test]
    fn lines_are_json_with_context_fields() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sub = tracing_subscriber::registry().with(Capture(lines.clone()));
        tracing::subscriber::with_default(sub, || {
            let fields = LogFields::new("req-1".into());
            let _g = opentelemetry::Context::current().with_value(fields).attach();
            LogFields::set_current_task_id("task-9");
            tracing::warn!(json_body = r#"{"a":[1]}"#, n = 3u64, "hello {}", "world");
        });
        let line = lines.lock().unwrap()[0].clone();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["message"], "hello world");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["service"], "svc");
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["task_id"], "task-9");
        assert_eq!(v["body"]["a"][0], 1);
        assert_eq!(v["n"], 3);
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(v.get("trace_id").is_none());
    }
}
