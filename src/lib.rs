//! shopd: a complete e-commerce backend in one binary.

pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod store;
