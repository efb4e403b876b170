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
            tokio::spawn(crate::signals::component(
                "OTLP receiver (gRPC)",
                grpc::serve(Arc::clone(&shared), grpc_listener, signal(stopped.clone())),
            )),
            tokio::spawn(crate::signals::component(
                "OTLP receiver (HTTP)",
                http::serve(Arc::clone(&shared), http_listener, signal(stopped)),
            )),
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

#[cfg(test)]
mod tests {
    //! The real servers with real clients: tonic's generated `TraceServiceClient`,
    //! a raw-bytes gRPC client for garbage, reqwest for OTLP/HTTP.

    use std::io::Write;
    use std::time::{Duration, Instant};

    use axum::http::uri::PathAndQuery;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use prost::Message;
    use prost::bytes::{Buf, BufMut};
    use tokio::io::AsyncWriteExt;
    use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};

    use super::convert::tests::{now_nanos, sample_request};
    use super::grpc::EXPORT_PATH;
    use super::http::RpcStatus;
    use super::*;

    const PROTOBUF: &str = "application/x-protobuf";
    const JSON: &str = "application/json";

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    async fn post(rx: &OtlpReceiver, content_type: &str, gzipped: bool, body: Vec<u8>) -> reqwest::Response {
        let mut req = client().post(format!("{}/v1/traces", rx.http_endpoint())).header("content-type", content_type);
        if gzipped {
            req = req.header("content-encoding", "gzip");
        }
        req.body(body).send().await.expect("the receiver answers")
    }

    fn trace_of(store: &TraceStore, byte: u8) -> Vec<&SpanRecord> {
        store.trace(&format!("{byte:02x}").repeat(16)).map(|t| t.spans).unwrap_or_default()
    }

    #[test]
    fn start_outside_a_runtime_is_an_error() {
        assert!(matches!(OtlpReceiver::start(RunClock::start()), Err(OtlpError::NoRuntime)));
    }

    #[tokio::test]
    async fn grpc_exports_are_recorded_plain_and_gzipped() {
        let rx = OtlpReceiver::start(RunClock::start()).unwrap();
        assert!(rx.grpc_endpoint().starts_with("http://127.0.0.1:"));
        let mut plain = TraceServiceClient::connect(rx.grpc_endpoint()).await.unwrap();
        let answer = plain.export(sample_request(Some("coordinator"), 1, now_nanos())).await.unwrap();
        assert_eq!(answer.into_inner(), ExportTraceServiceResponse { partial_success: None });
        let mut gz = TraceServiceClient::connect(rx.grpc_endpoint()).await.unwrap().send_compressed(CompressionEncoding::Gzip);
        gz.export(sample_request(Some("worker"), 2, now_nanos())).await.unwrap();

        let store = rx.stop().await;
        let t1 = trace_of(&store, 1);
        assert_eq!(t1.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["ExecuteTask", "LLMCall"]);
        assert!(t1.iter().all(|s| s.transport == Transport::Grpc && s.service == "coordinator"));
        assert_eq!(t1[1].status, SpanStatus::Error);
        assert_eq!(trace_of(&store, 2)[0].service, "worker");
        assert_eq!(store.counts[&Transport::Grpc], TransportCounts { requests: 2, spans: 4, gzip: 1, rejected: 0 });
        assert!(store.rejections.is_empty());
    }

    #[tokio::test]
    async fn http_protobuf_json_and_gzip_exports_are_recorded() {
        let rx = OtlpReceiver::start(RunClock::start()).unwrap();
        let request = |byte| sample_request(Some("web"), byte, now_nanos());

        let r = post(&rx, PROTOBUF, false, request(1).encode_to_vec()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], PROTOBUF);
        assert!(ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).is_ok());

        // The JSON that opentelemetry-proto's serializer (the Rust SDK's http-json) writes.
        let json = serde_json::to_vec(&request(2)).unwrap();
        let r = post(&rx, "application/json; charset=utf-8", false, json.clone()).await;
        assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "{}".to_owned()));

        assert_eq!(post(&rx, PROTOBUF, true, gzip(&request(3).encode_to_vec())).await.status(), 200);
        assert_eq!(post(&rx, JSON, true, gzip(&serde_json::to_vec(&request(4)).unwrap())).await.status(), 200);

        let store = rx.snapshot();
        let transports = |b| trace_of(&store, b).iter().map(|s| s.transport).collect::<Vec<_>>();
        assert_eq!(transports(1), [Transport::HttpProtobuf; 2]);
        assert_eq!(transports(2), [Transport::HttpJson; 2]);
        assert_eq!(transports(3), [Transport::HttpProtobuf; 2]);
        assert_eq!(transports(4), [Transport::HttpJson; 2]);
        let child = trace_of(&store, 2)[1];
        assert_eq!((child.name.as_str(), child.parent_span_id.as_deref()), ("LLMCall", Some("abababababababab")));
        assert_eq!(child.attributes["llm.attempts"], serde_json::json!(3));
        assert!(store.rejections.is_empty(), "{:?}", store.rejections);
        assert_eq!((store.counts[&Transport::HttpProtobuf].gzip, store.counts[&Transport::HttpJson].gzip), (1, 1));
        assert_eq!(rx.stop().await.spans.len(), 8);
    }

    /// Sends one refused request and checks the answer's status and OTLP body.
    async fn refused(rx: &OtlpReceiver, content_type: &str, gzipped: bool, body: Vec<u8>, status: u16, code: i32) -> String {
        let r = post(rx, content_type, gzipped, body).await;
        assert_eq!(r.status().as_u16(), status, "for {content_type}");
        let answered_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        let bytes = r.bytes().await.unwrap();
        let rpc = if answered_type == PROTOBUF {
            RpcStatus::decode(bytes).expect("a google.rpc.Status in protobuf")
        } else {
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("a google.rpc.Status in JSON");
            RpcStatus { code: v["code"].as_i64().unwrap() as i32, message: v["message"].as_str().unwrap().into() }
        };
        assert_eq!(rpc.code, code, "{}", rpc.message);
        rpc.message
    }

    #[tokio::test]
    async fn http_garbage_is_refused_recorded_and_survived() {
        let rx = OtlpReceiver::start(RunClock::start()).unwrap();
        let valid = sample_request(Some("web"), 9, now_nanos()).encode_to_vec();

        let m = refused(&rx, PROTOBUF, false, valid[..valid.len() - 5].to_vec(), 400, 3).await;
        assert!(m.contains("protobuf"), "{m}");
        let m = refused(&rx, JSON, false, b"{\"resourceSpans\": [{".to_vec(), 400, 3).await;
        assert!(m.contains("not OTLP/JSON"), "{m}");
        let m = refused(&rx, PROTOBUF, false, vec![0u8; 20 * 1024 * 1024], 413, 8).await;
        assert!(m.contains("limit"), "{m}");
        let m = refused(&rx, "text/plain", false, b"hello".to_vec(), 415, 3).await;
        assert!(m.contains("text/plain"), "{m}");
        let m = refused(&rx, PROTOBUF, true, valid.clone(), 400, 3).await;
        assert!(m.contains("gzip"), "{m}");
        let bomb = gzip(&vec![0u8; MAX_BODY_BYTES + 1]);
        assert!(bomb.len() < 100_000);
        refused(&rx, PROTOBUF, true, bomb, 413, 8).await;

        let r = client().post(format!("{}/v1/metrics", rx.http_endpoint())).body("x").send().await.unwrap();
        assert_eq!(r.status(), 404);
        let r = client().get(format!("{}/v1/traces", rx.http_endpoint())).send().await.unwrap();
        assert_eq!(r.status(), 405);

        assert_eq!(post(&rx, PROTOBUF, false, valid).await.status(), 200, "still accepts after garbage");
        let store = rx.stop().await;
        assert_eq!(trace_of(&store, 9).len(), 2);
        assert_eq!(store.rejected_requests(), 8);
        assert_eq!(store.rejections.len(), 8);
        let big = store.rejections.iter().find(|r| r.response == "HTTP 413").unwrap();
        assert_eq!((big.transport, big.bytes), (Transport::HttpProtobuf, Some(20 * 1024 * 1024)));
        let wrong_type = store.rejections.iter().find(|r| r.response == "HTTP 415").unwrap();
        assert_eq!((wrong_type.transport, wrong_type.bytes), (Transport::Http, Some(5)));
        assert!(store.rejections.iter().any(|r| r.reason.contains("/v1/metrics is not served")));
        assert_eq!(store.counts[&Transport::HttpProtobuf].requests, 1);
    }

    /// Any bytes as a gRPC message, for sending what the generated client cannot.
    struct RawCodec;
    struct Raw;

    impl Codec for RawCodec {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = Raw;
        type Decoder = Raw;
        fn encoder(&mut self) -> Raw {
            Raw
        }
        fn decoder(&mut self) -> Raw {
            Raw
        }
    }

    impl Encoder for Raw {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for Raw {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
            Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
        }
    }

    async fn raw_grpc(rx: &OtlpReceiver, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
        let channel = tonic::transport::Endpoint::from_shared(rx.grpc_endpoint()).unwrap().connect().await.unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        grpc.unary(tonic::Request::new(body), PathAndQuery::from_static(path), RawCodec).await.map(|r| r.into_inner())
    }

    #[tokio::test]
    async fn grpc_garbage_is_refused_recorded_and_survived() {
        let rx = OtlpReceiver::start(RunClock::start()).unwrap();
        let valid = sample_request(Some("worker"), 7, now_nanos()).encode_to_vec();

        let err = raw_grpc(&rx, EXPORT_PATH, valid[..valid.len() - 5].to_vec()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
        let err = raw_grpc(&rx, EXPORT_PATH, vec![0u8; 20 * 1024 * 1024]).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
        let err = raw_grpc(&rx, "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", vec![]).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented, "{err}");

        let answer = raw_grpc(&rx, EXPORT_PATH, valid.clone()).await.expect("still accepts after garbage");
        assert!(ExportTraceServiceResponse::decode(&answer[..]).is_ok());
        let store = rx.stop().await;
        assert_eq!(trace_of(&store, 7).len(), 2);
        let responses: Vec<&str> = store.rejections.iter().map(|r| r.response.as_str()).collect();
        assert_eq!(responses, ["gRPC InvalidArgument", "gRPC ResourceExhausted", "gRPC Unimplemented"]);
        assert_eq!(store.rejections[0].bytes, Some(valid.len() - 5));
        assert_eq!(store.counts[&Transport::Grpc], TransportCounts { requests: 1, spans: 2, gzip: 0, rejected: 3 });
    }

    #[tokio::test]
    async fn stop_is_prompt_with_stalled_clients() {
        let rx = OtlpReceiver::start(RunClock::start()).unwrap();
        // An HTTP client that promises a body and sends half of it.
        let mut http = tokio::net::TcpStream::connect(rx.http_addr()).await.unwrap();
        let head = "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 1000\r\n\r\n";
        http.write_all(head.as_bytes()).await.unwrap();
        http.write_all(&[0u8; 500]).await.unwrap();
        // A gRPC client that connects and says nothing.
        let _grpc = tokio::net::TcpStream::connect(rx.grpc_addr()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;

        let http_addr = rx.http_addr();
        let began = Instant::now();
        let store = rx.stop().await;
        let took = began.elapsed();
        assert!(took < STOP_GRACE + Duration::from_secs(1), "stop took {took:?}");
        assert!(store.spans.is_empty());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(http_addr).await.is_err(), "the port is closed after stop");
    }
}
