//! The HTTP conventions of the contract that are not a domain's: envelope, errors at the edge,
//! JSON bodies, CORS, compression, the general rate limit, and work that outlives its client.

pub mod client_ip;
pub mod compress;
pub mod cors;
pub mod detached;
pub mod edge;
pub mod envelope;
pub mod json;
pub mod rate_limit;
pub mod ready;
pub mod text;
