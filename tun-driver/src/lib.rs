//! Runs the sans-IO `mptcp-stack` over Linux TUN devices: one device per path, the event loop,
//! the monotonic clock, TUN offloads and the userspace link emulator.
//!
//! This layer depends on `mptcp-stack` only; the socket facade (`mptcp-socket-api`) depends on
//! it (see `docs/architecture.md`).
//!
//! Modules:
//!
//! - [`link`] — the pure model of one direction of one path (rate, delay, jitter, loss, bursty
//!   loss, reordering, duplication, a drop-tail queue, blackholing), deciding each packet's fate
//!   with an injected random generator. The simulator and the link emulator use it.
//! - [`emulator`] — that model in real time: per path and direction, packets held until their
//!   release instants, a schedule of changes, in the stack's own I/O ([`path_io`]) and as a
//!   TUN-to-TUN bridge between two namespaces ([`emulator::bridge`]).
//! - [`sim`] — a deterministic, virtual-time, in-memory network: two [`sim::Host`]s joined by
//!   any number of paths, each a pair of [`link::Link`]s. The default backend of `mptcp sim` and
//!   of the end-to-end tests.
//! - [`device`] — one TUN device (`IFF_TUN | IFF_NO_PI`), attached or created, non-blocking,
//!   with batched reads (`docs/tun.md`).
//! - [`path_io`] — the devices of the paths read into and written from one endpoint, the
//!   clock, and readiness waits; shared by the event loop and the socket layer's I/O thread.
//! - [`event_loop`] — drives one endpoint and one [`transfer::Transfer`] over one device per
//!   path with a monotonic clock, `ppoll(2)` and clean stops on SIGINT/SIGTERM.
//! - [`trace`] — one line per packet for debugging (`MPTCP_TUN_TRACE=1`).
//! - [`timeseries`], [`event_log`], [`plot`], [`pcap`] — observing a transfer: per-subflow
//!   samples (CSV or JSON lines), the connection's events (JSON lines), an SVG plot of both,
//!   and a pcap file per path (written by the event loop and the simulator).
//! - [`netns`] — network namespaces: entering one from one thread, uniquely named ones removed
//!   on drop, `ip`/`tc` commands and sysctls inside them (tests and `mptcp bench`).
//! - [`signals`] — SIGINT/SIGTERM as a flag, for programs that clean up before exiting.
//!
//! `unsafe` code is confined to the private `sys` module (the TUN and interface ioctls,
//! `ppoll`, `setns`), each block with its reason.
#![deny(unsafe_code)]

/// The protocol core this driver runs, for the layers above (they reach it only through here).
pub use mptcp_stack as stack;

pub mod device;
pub mod emulator;
pub mod event_log;
pub mod event_loop;
mod jsonl;
pub mod link;
pub mod netns;
pub mod path_io;
pub mod pcap;
pub mod plot;
pub mod signals;
pub mod sim;
mod sys;
pub mod timeseries;
pub mod trace;
pub mod transfer;
