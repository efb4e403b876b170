//! The OTLP/gRPC server: `opentelemetry.proto.collector.trace.v1.TraceService/Export`
//! on tonic, gzip accepted, messages up to the body limit.
//!
//! One tower service does the whole job instead of the generated
//! `TraceServiceServer`, so that (a) a message that is not an
//! `ExportTraceServiceRequest` is answered `InvalidArgument` (tonic's prost
//! codec says `Internal`), and (b) every non-OK answer, including those tonic
//! gives before our handler runs (an oversized message, answered
//! `ResourceExhausted` rather than tonic's `OutOfRange`; a bad or unsupported
//! compression), is recorded as a rejection.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use prost::bytes::Buf;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

use super::Shared;
use super::convert::DecodeError;
use super::store::{Rejection, Transport};

/// The one method served.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

type HttpRequest = axum::http::Request<tonic::body::Body>;
type HttpResponse = axum::http::Response<tonic::body::Body>;

/// Serves until `shutdown` resolves (graceful: in-flight calls finish).
pub(super) async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener, shutdown: impl std::future::Future<Output = ()> + Send) {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = tonic::transport::Server::builder().serve_with_incoming_shutdown(GrpcService { shared }, incoming, shutdown).await;
    if let Err(e) = result {
        tracing::error!(error = %e, "OTLP/gRPC server failed");
    }
}

#[derive(Clone)]
struct GrpcService {
    shared: Arc<Shared>,
}

impl tower::Service<HttpRequest> for GrpcService {
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { Ok(export(shared, request).await) })
    }
}

async fn export(shared: Arc<Shared>, request: HttpRequest) -> HttpResponse {
    let at = shared.clock.now();
    let path = request.uri().path().to_owned();
    // Size of the message our decoder saw (after decompression), if it got that far.
    let seen = Arc::new(AtomicUsize::new(usize::MAX));
    let response = if path == EXPORT_PATH {
        let codec = OtlpCodec { seen: Arc::clone(&seen) };
        let gzip = request.headers().get("grpc-encoding").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let mut grpc =
            tonic::server::Grpc::new(codec).accept_compressed(CompressionEncoding::Gzip).max_decoding_message_size(shared.max_body_bytes);
        let response = grpc.unary(ExportHandler { shared: Arc::clone(&shared), at, gzip }, request).await;
        match status_of(&response) {
            // tonic answers an oversized message OutOfRange; gRPC's convention
            // (and OTLP's) is ResourceExhausted. Nothing else here says OutOfRange.
            Some(s) if s.code() == Code::OutOfRange => Status::resource_exhausted(s.message()).into_http(),
            _ => response,
        }
    } else {
        Status::unimplemented(format!("{path} is not served: ordeal receives traces only ({EXPORT_PATH})")).into_http()
    };
    if let Some(status) = status_of(&response).filter(|s| s.code() != Code::Ok) {
        let bytes = Some(seen.load(Ordering::Relaxed)).filter(|n| *n != usize::MAX);
        shared.reject(rejection(at, &status, bytes));
    }
    response
}

/// The status of a trailers-only (error) answer; `None` for a normal one.
fn status_of(response: &HttpResponse) -> Option<Status> {
    response.extensions().get::<Status>().cloned().or_else(|| Status::from_header_map(response.headers()))
}

fn rejection(at: Duration, status: &Status, bytes: Option<usize>) -> Rejection {
    Rejection { at, transport: Transport::Grpc, response: format!("gRPC {:?}", status.code()), reason: status.message().to_owned(), bytes }
}

/// Records the spans of a decoded request.
struct ExportHandler {
    shared: Arc<Shared>,
    at: Duration,
    gzip: bool,
}

impl tonic::server::UnaryService<ExportTraceServiceRequest> for ExportHandler {
    type Response = ExportTraceServiceResponse;
    type Future = Ready<Result<tonic::Response<ExportTraceServiceResponse>, Status>>;

    fn call(&mut self, request: tonic::Request<ExportTraceServiceRequest>) -> Self::Future {
        self.shared.accept(request.get_ref(), Transport::Grpc, self.gzip, self.at);
        ready(Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None })))
    }
}

/// Prost codec whose decode errors are `InvalidArgument` and that notes the message size.
struct OtlpCodec {
    seen: Arc<AtomicUsize>,
}

impl Codec for OtlpCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = ExportTraceServiceRequest;
    type Encoder = ResponseEncoder;
    type Decoder = RequestDecoder;

    fn encoder(&mut self) -> ResponseEncoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> RequestDecoder {
        RequestDecoder { seen: Arc::clone(&self.seen) }
    }
}

struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst).map_err(|e| Status::internal(format!("could not encode the response: {e}")))
    }
}

struct RequestDecoder {
    seen: Arc<AtomicUsize>,
}

impl Decoder for RequestDecoder {
    type Item = ExportTraceServiceRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        self.seen.store(src.remaining(), Ordering::Relaxed);
        ExportTraceServiceRequest::decode(src)
            .map(Some)
            .map_err(|e| Status::invalid_argument(DecodeError::Protobuf(e.to_string()).to_string()))
    }
}
