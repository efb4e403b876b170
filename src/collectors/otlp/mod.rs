//! The built-in OTLP trace receiver: lets ordeal check that the stack under
//! test really exports complete, correct traces, with no collector or Jaeger.
//!
//! - [`OtlpReceiver::start`] binds two loopback ports: OTLP/gRPC
//!   (`TraceService/Export`, tonic, gzip accepted) and OTLP/HTTP
//!   (`POST /v1/traces`, axum; `application/x-protobuf` or `application/json`,
//!   optionally `Content-Encoding: gzip`).
//! - Every span of an accepted request becomes a [`SpanRecord`] in a
//!   [`TraceStore`], stamped on the run clock. Every refused request (bad
//!   protobuf or JSON, wrong content type or encoding, body over
//!   [`MAX_BODY_BYTES`], wrong path) gets a proper OTLP error answer and is
//!   recorded as a [`Rejection`]. No input can crash or wedge the receiver.
//! - [`OtlpReceiver::stop`] stops accepting, gives in-flight requests
//!   [`STOP_GRACE`], then cuts the rest off, and returns the store.
//!
//! Files: [`store`] (records + queries), `convert` (decoding and conversion),
//! `grpc` and `http` (the two servers).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod convert;
mod grpc;
mod http;
pub mod store;

#[cfg(test)]
mod tests_convert;
#[cfg(test)]
mod tests_servers;
#[cfg(test)]
mod tests_store;

pub use convert::{DecodeError, any_value_to_json, decode_json, decode_protobuf};
pub use store::{Rejection, SpanEvent, SpanKind, SpanRecord, SpanStatus, Trace, TraceStore, Transport, TransportCounts, UNKNOWN_SERVICE};

use crate::clock::RunClock;

/// Largest export accepted, on the wire and after decompression (16 MiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How long [`OtlpReceiver::stop`] lets in-flight requests finish.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long an HTTP client may take to send its body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("the OTLP receiver must be started inside a tokio runtime")]
    NoRuntime,
    #[error("could not bind the OTLP/{transport} listener on {addr}: {source}")]
    Bind { transport: &'static str, addr: SocketAddr, source: std::io::Error },
}

/// Where and how the receiver listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpOptions {
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub grpc_port: u16,
    /// 0 picks a free port.
    pub http_port: u16,
    pub max_body_bytes: usize,
}

impl Default for OtlpOptions {
    fn default() -> Self {
        Self { bind: IpAddr::V4(Ipv4Addr::LOCALHOST), grpc_port: 0, http_port: 0, max_body_bytes: MAX_BODY_BYTES }
    }
}

/// State shared by both servers and the handle.
struct Shared {
    clock: RunClock,
    max_body_bytes: usize,
    store: Mutex<TraceStore>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, TraceStore> {
        // A panic elsewhere while recording must not cost the run its traces.
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Converts (outside the lock) and records an accepted request.
    fn accept(&self, request: &ExportTraceServiceRequest, transport: Transport, gzip: bool, received_at: Duration) -> usize {
        let spans = convert::spans_of(request, &self.clock, received_at, transport);
        let n = spans.len();
        tracing::debug!(?transport, gzip, spans = n, "OTLP export accepted");
        self.store().record(transport, gzip, spans);
        n
    }

    fn reject(&self, rejection: Rejection) {
        tracing::warn!(
            transport = ?rejection.transport,
            response = %rejection.response,
            reason = %rejection.reason,
            bytes = ?rejection.bytes,
            "OTLP export refused"
        );
        self.store().reject(rejection);
    }
}

/// A running receiver; see the module doc. Dropping it without
/// [`stop`](Self::stop) aborts both servers.
pub struct OtlpReceiver {
    shared: Arc<Shared>,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Starts both servers on 127.0.0.1, free ports. Must be called inside a tokio runtime.
    pub fn start(clock: RunClock) -> Result<Self, OtlpError> {
        Self::start_with(clock, OtlpOptions::default())
    }

    /// Starts both servers as `options` say.
    pub fn start_with(clock: RunClock, options: OtlpOptions) -> Result<Self, OtlpError> {
        tokio::runtime::Handle::try_current().map_err(|_| OtlpError::NoRuntime)?;
        let grpc_listener = bind("gRPC", SocketAddr::new(options.bind, options.grpc_port))?;
        let http_listener = bind("HTTP", SocketAddr::new(options.bind, options.http_port))?;
        let local = |l: &tokio::net::TcpListener, transport, requested| {
            l.local_addr().map_err(|source| OtlpError::Bind { transport, addr: requested, source })
        };
        let grpc_addr = local(&grpc_listener, "gRPC", SocketAddr::new(options.bind, options.grpc_port))?;
        let http_addr = local(&http_listener, "HTTP", SocketAddr::new(options.bind, options.http_port))?;
        let shared = Arc::new(Shared { clock, max_body_bytes: options.max_body_bytes, store: Mutex::new(TraceStore::default()) });
        let (shutdown, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(grpc::serve(Arc::clone(&shared), grpc_listener, signal(stopped.clone()))),
            tokio::spawn(http::serve(Arc::clone(&shared), http_listener, signal(stopped))),
        ];
        tracing::info!(%grpc_addr, %http_addr, "OTLP receiver listening");
        Ok(Self { shared, grpc_addr, http_addr, shutdown, tasks })
    }

    /// OTLP/gRPC endpoint, `http://127.0.0.1:PORT` (for `OTEL_EXPORTER_OTLP_ENDPOINT` with protocol `grpc`).
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// OTLP/HTTP base URL without a path: SDKs append `/v1/traces` to
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (not to `..._TRACES_ENDPOINT`, which is the full URL).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> TraceStore {
        self.shared.store().clone()
    }

    /// Stops both servers (in-flight requests get [`STOP_GRACE`], then are
    /// cut off) and returns what was recorded. Never waits longer than that.
    pub async fn stop(mut self) -> TraceStore {
        let _ = self.shutdown.send(true);
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for mut task in std::mem::take(&mut self.tasks) {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "OTLP server task failed"),
                Err(_) => {
                    tracing::warn!("OTLP server still busy after {STOP_GRACE:?}; cutting it off");
                    task.abort();
                }
            }
        }
        std::mem::take(&mut *self.shared.store())
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn bind(transport: &'static str, addr: SocketAddr) -> Result<tokio::net::TcpListener, OtlpError> {
    let err = |source| OtlpError::Bind { transport, addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    tokio::net::TcpListener::from_std(listener).map_err(err)
}

/// Resolves once shutdown is requested (or the handle is gone).
async fn signal(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
