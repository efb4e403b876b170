//! OpenTelemetry tracing: tracer provider setup (OTLP gRPC or HTTP/protobuf, batch
//! export, parent-based ratio sampling), W3C trace-context propagation over HTTP
//! headers, and small helpers to start spans and mark them failed.

use std::time::Duration;

use axum::http::HeaderMap;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};

use crate::config::{Config, OtlpProtocol};

/// Trace export could not be configured.
#[derive(Debug, thiserror::Error)]
#[error("cannot configure OTLP trace export: {0}")]
pub struct TraceInitError(String);

/// Owns the tracer provider (if any) so it can be flushed on shutdown.
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

/// Installs the global tracer provider and W3C propagator. With traces off nothing is
/// installed: the global no-op tracer stays and no context is extracted or injected.
pub fn init(cfg: &Config) -> Result<Tracing, TraceInitError> {
    let Some(settings) = &cfg.traces else {
        return Ok(Tracing { provider: None });
    };
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").map(|v| v.trim().is_empty()).unwrap_or(true) {
        resource = resource.with_service_name(cfg.service_name.clone());
    }
    let resource = resource.with_attribute(KeyValue::new("service.instance.id", cfg.worker_id.clone())).build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
    let mut builder = SdkTracerProvider::builder().with_resource(resource).with_sampler(sampler);
    if let Some(protocol) = settings.export {
        // The exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT / _HEADERS / _TIMEOUT itself
        // (and appends /v1/traces for HTTP, as the spec says).
        let exporter = match protocol {
            OtlpProtocol::Grpc => SpanExporter::builder().with_tonic().build(),
            OtlpProtocol::HttpProtobuf => SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary).build(),
        }
        .map_err(|e| TraceInitError(e.to_string()))?;
        let batch = BatchConfigBuilder::default().with_scheduled_delay(Duration::from_millis(200)).build();
        builder = builder.with_span_processor(BatchSpanProcessor::builder(exporter).with_batch_config(batch).build());
    }
    let provider = builder.build();
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(Tracing { provider: Some(provider) })
}

impl Tracing {
    /// Flushes and shuts the provider down (blocking work moved off the async threads).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let res = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(Duration::from_secs(2))).await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "trace provider shutdown reported an error"),
            Err(e) => tracing::warn!(error = %e, "trace provider shutdown task failed"),
        }
    }
}

fn tracer() -> BoxedTracer {
    global::tracer("multiagent")
}

/// Starts span `name` as a child of `parent` and returns the context holding it.
pub fn start(name: &'static str, kind: SpanKind, parent: &Context, attrs: Vec<KeyValue>) -> Context {
    let span = tracer().span_builder(name).with_kind(kind).with_attributes(attrs).start_with_context(&tracer(), parent);
    parent.with_span(span)
}

/// Starts a child of the current context.
pub fn start_child(name: &'static str, kind: SpanKind, attrs: Vec<KeyValue>) -> Context {
    start(name, kind, &Context::current(), attrs)
}

/// Marks the span in `cx` failed: status Error plus an `exception` event.
pub fn record_failure(cx: &Context, error_type: &str, message: &str) {
    let span = cx.span();
    span.set_status(Status::error(message.to_string()));
    span.add_event(
        "exception",
        vec![KeyValue::new("exception.type", error_type.to_string()), KeyValue::new("exception.message", message.to_string())],
    );
}

/// Runs a synchronous closure (typically a log statement) with `cx` as the current context.
pub fn in_context<R>(cx: &Context, f: impl FnOnce() -> R) -> R {
    let _guard = cx.clone().attach();
    f()
}

/// The parent context carried by incoming W3C `traceparent`/`tracestate` headers.
pub fn extract(headers: &HeaderMap) -> Context {
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Trace-context headers to send on an outgoing call made within `cx`.
pub fn inject(cx: &Context) -> Vec<(String, String)> {
    let mut out = HeaderInjector(Vec::new());
    global::get_text_map_propagator(|p| p.inject_context(cx, &mut out));
    out.0
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector(Vec<(String, String)>);

impl Injector for HeaderInjector {
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.push((key.to_string(), value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use opentelemetry::propagation::TextMapPropagator;

    #[test]
    fn traceparent_round_trip() {
        let p = TraceContextPropagator::new();
        let mut headers = HeaderMap::new();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        headers.insert("traceparent", HeaderValue::from_static(tp));
        let cx = p.extract(&HeaderExtractor(&headers));
        let sc = cx.span().span_context().clone();
        assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let mut inj = HeaderInjector(Vec::new());
        p.inject_context(&cx, &mut inj);
        assert_eq!(inj.0, vec![("traceparent".to_string(), tp.to_string())]);
    }
}
