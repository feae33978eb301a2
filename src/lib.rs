//! shopd: a complete e-commerce backend in one binary.

pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod error;
pub mod health;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod products;
pub mod search;
pub mod seed;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod types;
pub mod uploads;
pub mod users;
