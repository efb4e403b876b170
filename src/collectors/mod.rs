//! TEMPORARY: merged with the metrics branch's collectors/mod.rs.
pub mod health;
