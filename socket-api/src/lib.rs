//! The socket facade over the userspace MPTCP stack: streams and listeners, the subflow
//! operations of "An enhanced socket API for Multipath TCP" (Hesmans & Bonaventure), events,
//! address advertisement, scheduler control and the C ABI.
//!
//! It sits on top of `mptcp-tun-driver` and is filled in by the socket-API issue; for now it
//! only fixes its place in the dependency graph (see `docs/architecture.md`).
#![forbid(unsafe_code)]
