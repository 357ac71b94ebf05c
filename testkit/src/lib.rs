//! Fakes for tests that speak the real protocol, so the code under test
//! runs unchanged. Only the network boundary is faked.

pub mod smtp;
