//! Benchmark (placeholder until written).
