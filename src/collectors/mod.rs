//! Collectors: what the harness records about the stack while a run goes on.
//!
//! - [`exposition`]: Prometheus text 0.0.4 / OpenMetrics 1.0 parser (no sample lost silently).
//! - [`store`]: every scraped sample at its run offset, and the window queries
//!   expectations ask (increase, rate, gauge stats, histogram quantiles, presence).
//! - [`scraper`]: the task that scrapes every target each interval into a store.
//! - [`health`]: the prober that records every health endpoint's status each interval.
//! - [`otlp`]: the OTLP trace receiver (gRPC + HTTP) that records every span the stack exports.
//! - [`resources`]: CPU seconds and RSS of each service's process group, from /proc.
//! - [`alerts`]: what a real Prometheus / Alertmanager reported (alert polls,
//!   webhook deliveries) and the PromQL HTTP API client.
//!
//! Invariant: collectors record; they never judge. Queries on the store are
//! pure (no I/O), so expectations can be tested on synthetic series.

pub mod alerts;
pub mod exposition;
pub mod health;
pub mod otlp;
pub mod resources;
pub mod scraper;
pub mod store;
