//! The OTLP receiver against another language's SDK: the OpenTelemetry Python
//! SDK with its OTLP/HTTP and OTLP/gRPC exporters (plain and gzip), configured
//! only through the standard `OTEL_*` variables with the receiver's endpoints.
//!
//! Python packages come from `crate::common::python::PYTHON` (the system python3 if
//! it has them, else a venv cached under the target dir, filled from PyPI on
//! first use); if that cannot be done the test fails and says why, never skips.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ordeal::clock::RunClock;
use ordeal::collectors::otlp::{OtlpReceiver, SpanKind, SpanStatus, Transport};
use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/otlp_send.py");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_exports_over_http() {
    let python = python_with_otel();
    check_transport(&python, "http", Transport::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_exports_over_grpc() {
    let python = python_with_otel();
    check_transport(&python, "grpc", Transport::Grpc).await;
}

/// One plain and one gzip export over `transport`, each checked span by span.
async fn check_transport(python: &Path, transport: &str, expected: Transport) {
    let rx = OtlpReceiver::start(RunClock::start()).expect("receiver starts");
    let endpoint = if transport == "http" { rx.http_endpoint() } else { rx.grpc_endpoint() };
    let mut sent = Vec::new();
    for compression in ["none", "gzip"] {
        let label = format!("{transport}-{compression}");
        let began = Instant::now();
        let out = send(python, transport, &label, &endpoint, compression).await;
        eprintln!("python {label}: {:?}, {out}", began.elapsed());
        sent.push((label, out));
    }
    let store = rx.stop().await;
    assert!(store.rejections.is_empty(), "the receiver refused the SDK: {:#?}", store.rejections);

    for (label, out) in &sent {
        let trace_id = out["trace_id"].as_str().unwrap();
        let trace =
            store.trace(trace_id).unwrap_or_else(|| panic!("{label}: trace {trace_id} never arrived; received: {:?}", store.trace_ids()));
        assert_eq!(trace.spans.len(), 2, "{label}: {:#?}", trace.spans);
        let parent = trace.named("HandleOrder")[0];
        let child = trace.named("ChargeCard")[0];
        assert_eq!(parent.span_id, out["parent_span_id"].as_str().unwrap(), "{label}");
        assert_eq!(child.span_id, out["child_span_id"].as_str().unwrap(), "{label}");
        assert_eq!(trace.roots().len(), 1, "{label}: one root");
        assert_eq!(parent.parent_span_id, None, "{label}");
        assert_eq!(child.parent_span_id.as_deref(), Some(parent.span_id.as_str()), "{label}");
        assert_eq!(trace.ancestors(&child.span_id)[0].span_id, parent.span_id);
        assert_eq!((parent.kind, child.kind), (SpanKind::Server, SpanKind::Client), "{label}");

        for span in [parent, child] {
            assert_eq!(span.service, "py-checkout", "{label}");
            assert_eq!(span.resource["deployment.environment"], json!("ordeal-test"), "{label}");
            assert_eq!(span.resource["telemetry.sdk.language"], json!("python"), "{label}");
            assert_eq!(span.scope, "ordeal.python.test", "{label}");
            assert_eq!(span.transport, expected, "{label}");
            assert!(span.has_valid_ids(), "{label}");
            assert!(span.start.is_some() && span.end.is_some(), "{label}: stamped during the run");
            assert!(span.end >= span.start, "{label}");
        }
        assert_eq!(parent.attributes["ordeal.label"], json!(label));
        assert_eq!(parent.attributes["http.route"], json!("/orders"));
        assert_eq!(parent.status, SpanStatus::Unset, "{label}");

        let a = &child.attributes;
        assert_eq!(a["payment.amount"], json!(12.5), "{label}");
        assert_eq!(a["payment.attempts"], json!(3), "{label}");
        assert_eq!(a["payment.ok"], json!(false), "{label}");
        assert_eq!(a["payment.tags"], json!(["card", "visa"]), "{label}");
        assert_eq!((child.status, child.status_message.as_str()), (SpanStatus::Error, "card declined"), "{label}");
        assert_eq!(child.events.len(), 1, "{label}");
        assert_eq!(child.events[0].name, "retry");
        assert_eq!(child.events[0].attributes["attempt"], json!(2));
        assert!(parent.start <= child.start && child.end <= parent.end, "{label}: child inside parent");
    }
    // SimpleSpanProcessor: one export per span, two spans per run.
    let counts = store.counts[&expected];
    assert_eq!((counts.requests, counts.gzip, counts.rejected), (4, 2, 0), "{:?}", store.counts);
}

/// Runs the script against `endpoint` and returns its JSON line.
async fn send(python: &Path, transport: &str, label: &str, endpoint: &str, compression: &str) -> Value {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(SCRIPT).args([transport, label]).kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") || key.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(key);
        }
    }
    if compression != "none" {
        // Not set at all for none: the Python gRPC exporter refuses the value "none".
        cmd.env("OTEL_EXPORTER_OTLP_COMPRESSION", compression);
    }
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "10")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("the Python exporter ({label}) did not finish within 60s"))
        .unwrap_or_else(|e| panic!("could not run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the Python exporter ({label}) failed ({}):\n{stdout}\n{stderr}", out.status);
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("unexpected output from the Python exporter ({label}): {e}\n{stdout}\n{stderr}"))
}

/// An interpreter that can import the SDK and both exporters: `python3` if it
/// already can, else the cached venv, made and filled from PyPI if needed.
fn python_with_otel() -> PathBuf {
    crate::common::python::PYTHON.python()
}
