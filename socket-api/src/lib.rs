//! The socket facade over the userspace MPTCP stack: streams and listeners, the subflow
//! operations of "An enhanced socket API for Multipath TCP" (Hesmans & Bonaventure), events,
//! address advertisement, scheduler control and the C ABI.
//!
//! - [`Stack`] / [`StackBuilder`] — the stack over TUN devices (one per path) with its I/O
//!   thread; see [`runtime`](crate::runtime) for how threads share it.
//! - [`MptcpStream`] — `Read` + `Write`, blocking with timeouts or non-blocking, plus the
//!   paper's subflow operations ([`subflows`]) and events ([`event`]).
//! - [`MptcpListener`] — accepts connections.
//! - With the `tokio` feature, `tokio::io::AsyncRead`/`AsyncWrite` for streams, async connect,
//!   accept and events (`tokio_io.rs`).
//!
//! Unsafe code is confined to the C ABI.
#![deny(unsafe_code)]

pub mod capi;
pub mod error;
pub mod event;
mod listener;
mod pump;
mod runtime;
mod stack;
mod stream;
pub mod subflows;
#[cfg(feature = "tokio")]
mod tokio_io;

pub use event::TimedEvent;
pub use listener::MptcpListener;
pub use mptcp_tun_driver::stack::cc::Algorithm;
pub use mptcp_tun_driver::stack::connection::path_manager::PathManagerKind;
pub use mptcp_tun_driver::stack::connection::{
    ConnectionStats, Mode, SubflowOption, SubflowOptionKind, SubflowSnapshot,
};
pub use mptcp_tun_driver::stack::scheduler::SchedulerKind;
pub use mptcp_tun_driver::stack::subflow::{SubflowId, TcpState};
pub use stack::{Stack, StackBuilder};
pub use stream::MptcpStream;
pub use subflows::{CloseMode, Snapshot, SubflowStatus};
