//! One module per expectation kind; each implements
//! [`Kind`](super::kind::Kind) and is listed once in `super::registry`.
//! Kinds that share helpers form a family folder (`journal`, `traces`,
//! `alerts`) whose `mod.rs` holds the shared parts and the family's tests.

pub mod alerts;
pub mod breaker;
pub mod contract;
pub mod health;
pub mod journal;
pub mod load;
pub mod logs;
pub mod metric;
pub mod no_leaks;
pub mod no_task_lost;
pub mod overhead;
pub mod promql;
pub mod traces;
