//! A sans-IO Multipath TCP (RFC 8684, MPTCP v1) protocol core.
//!
//! No sockets, threads or clock reads live here: callers hand in bytes, time and randomness,
//! and poll for what to send. This crate currently holds the wire codec ([`wire`]) and the
//! protocol cryptography ([`crypto`]); the connection engine builds on them.
#![forbid(unsafe_code)]

pub mod cc;
pub mod connection;
pub mod crypto;
pub mod endpoint;
pub mod range_set;
pub mod scheduler;
pub mod subflow;
pub mod time;
pub mod wire;

pub use time::Instant;
