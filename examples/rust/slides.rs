//! Slides 19 to 21 of "An enhanced socket API for Multipath TCP" (Hesmans & Bonaventure, ANRW
//! 2016) with this stack's Rust API: list the subflows of a connection (MPTCP_GET_SUB_IDS), print
//! the endpoints of each (MPTCP_GET_SUB_TUPLE), open one with chosen endpoints
//! (MPTCP_OPEN_SUB_TUPLE). Where the paper's C code guesses buffer sizes ("must be large
//! enough"), the Rust calls return what they found; the new subflow's id comes back at once and
//! an event tells when its handshake completed.
//!
//! As root, with a server listening at REMOTE (e.g. `mptcp server` or any MPTCP-capable server)
//! and a TUN device per path (docs/tun.md):
//!
//! ```sh
//! cargo run -p mptcp-examples --example slides -- 10.71.0.1:5201 mtun0=10.72.0.2 mtun1=10.72.1.2
//! ```

use std::error::Error;
use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use mptcp_examples::args::{manual_stack, remote_and_paths};
use mptcp_socket::event::ConnEvent;
use mptcp_socket::{MptcpStream, SubflowId};

const USAGE: &str = "slides REMOTE DEV=IP [DEV=IP]  (the subflow opens from the last path's address)";

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (remote, paths) = remote_and_paths(&args, USAGE)?;
    let stack = manual_stack(&paths)?;
    let mut stream = stack.connect_timeout(Some(paths[0].addr), remote, Duration::from_secs(10))?;
    println!("connected to {remote}, MPTCP: {}", stream.is_mptcp());
    // A client joins once the server acknowledged its first data (RFC 8684 §3.1): say hello.
    stream.write_all(b"hello from slides 19-21\n")?;

    let ids = slide19_list_subflows(&stream)?;
    for id in &ids {
        slide20_print_endpoints(&stream, *id)?;
    }
    let last = paths.last().expect("at least one path").addr;
    // The slide opens 10.0.0.1:12345 -> 10.1.0.1:1234; the remote port here is 0: the
    // connection's own (the server listens there).
    let id = slide21_open_subflow(&stream, SocketAddr::new(last, 12345), SocketAddr::new(remote.ip(), 0))?;
    // The outcome arrives as an event on the connection itself.
    for e in stream.events() {
        println!("event at {:?}: {:?}", e.at, e.event);
        match e.event {
            ConnEvent::SubflowEstablished(s) if s == id => break,
            ConnEvent::SubflowClosed(s, why) if s == id => return Err(format!("subflow {id} failed: {why:?}").into()),
            _ => {}
        }
    }
    slide19_list_subflows(&stream)?;
    slide20_print_endpoints(&stream, id)?;
    // The stack lives in this process: end the stream and wait for the server's end before the
    // process (and with it the stack) goes.
    stream.shutdown(Shutdown::Write)?;
    std::io::copy(&mut stream, &mut std::io::sink())?;
    Ok(())
}

/// Slide 19: the currently established subflows (MPTCP_GET_SUB_IDS).
fn slide19_list_subflows(stream: &MptcpStream) -> std::io::Result<Vec<SubflowId>> {
    let subflows = stream.subflows()?;
    for s in &subflows {
        println!("Subflow id : {} {s:?}", s.id);
    }
    Ok(subflows.iter().map(|s| s.id).collect())
}

/// Slide 20: the endpoints of a subflow (MPTCP_GET_SUB_TUPLE).
fn slide20_print_endpoints(stream: &MptcpStream, id: SubflowId) -> std::io::Result<()> {
    let (local, remote) = stream.subflow_endpoints(id)?;
    println!("\tip src : {} src port : {}", local.ip(), local.port());
    println!("\tip dst : {} dst port : {}", remote.ip(), remote.port());
    Ok(())
}

/// Slide 21: a subflow with chosen endpoints, not a backup (MPTCP_OPEN_SUB_TUPLE, prio 0).
fn slide21_open_subflow(stream: &MptcpStream, local: SocketAddr, remote: SocketAddr) -> std::io::Result<SubflowId> {
    let id = stream.open_subflow(local, remote, false)?;
    println!("opening subflow {id}: {local} -> {remote}");
    Ok(id)
}
