//! Fakes and helpers for tests and benchmarks that speak the real
//! protocol, so the code under test runs unchanged. Only the network
//! boundary is faked.

pub mod redis;
pub mod signers;
pub mod smtp;
