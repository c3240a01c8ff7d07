//! Runs the sans-IO `mptcp-stack` over Linux TUN devices: one device per path, the event loop,
//! the monotonic clock, TUN offloads and the userspace link emulator.
//!
//! This layer depends on `mptcp-stack` only; the socket facade (`mptcp-socket-api`) depends on
//! it. It is filled in by the TUN-driver issue; for now it only fixes its place in the
//! dependency graph (see `docs/architecture.md`).
#![forbid(unsafe_code)]
