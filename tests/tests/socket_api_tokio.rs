//! The socket API's async I/O (feature `tokio`) against the Linux kernel: `AsyncRead` and
//! `AsyncWrite` with one task writing and another reading the same stream through `&MptcpStream`,
//! `Stack::connect_async`, `MptcpListener::accept_async`, `MptcpStream::next_event_async`. The
//! data goes through the kernel and back and must come back intact.
//!
//! Each test builds its own namespaces and removes them when it ends; they need root (see
//! `socket_api_subflows.rs`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mptcp_socket::event::{CloseReason, ConnEvent};
use mptcp_socket::{MptcpStream, PathManagerKind};
use mptcp_tests::interop::hex;
use mptcp_tests::skip_unless_possible;
use mptcp_tests::socket_api::{CHUNK, KernelPeer, KernelPlay, LIMIT, MIB, Outgoing, PORT, kernel_on, stack, topology};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BYTES: u64 = 8 * MIB;

/// Writes `out` in chunks, then ends the stream.
async fn send(mut w: &MptcpStream, out: &mut Outgoing) {
    while out.sent < BYTES {
        let n = (BYTES - out.sent).min(CHUNK as u64) as usize;
        w.write_all(out.take(n)).await.expect("write_all");
    }
    AsyncWriteExt::shutdown(&mut w).await.expect("shutdown");
}

/// Reads to the end; returns the bytes and their SHA-256.
async fn receive(mut r: &MptcpStream) -> (u64, String) {
    let (mut h, mut buf, mut total) = (Sha256::new(), vec![0u8; CHUNK], 0u64);
    loop {
        let n = r.read(&mut buf).await.expect("read");
        if n == 0 {
            return (total, hex(&h.finalize()));
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
}

/// Takes events until the connection's end; returns its reason.
async fn closed(stream: &MptcpStream) -> ConnEvent {
    loop {
        match stream.next_event_async().await.expect("next_event_async") {
            Some(e) if matches!(e.event, ConnEvent::Closed(_)) => return e.event,
            Some(_) => {}
            None => panic!("the connection ended without a Closed event"),
        }
    }
}

#[tokio::test]
async fn async_echo_through_kernel_server() {
    skip_unless_possible!();
    let topo = topology(1);
    let kernel = KernelPeer::server(&topo, KernelPlay::Echo, false);
    let stack = stack(&topo, &[0], PathManagerKind::FullMesh);
    let run = async {
        let stream = stack.connect_async(kernel_on(&topo, 0)).await.expect("connect_async");
        let first = stream.next_event_async().await.expect("next_event_async").expect("an event");
        assert!(matches!(first.event, ConnEvent::SubflowEstablished(_)), "{first:?}");
        let second = stream.next_event_async().await.expect("next_event_async").expect("an event");
        assert_eq!(second.event, ConnEvent::Established { mptcp: true });
        let mut out = Outgoing::new(BYTES);
        let ((), echoed) = tokio::join!(send(&stream, &mut out), receive(&stream));
        assert_eq!(closed(&stream).await, ConnEvent::Closed(CloseReason::Normal));
        (out, echoed)
    };
    let (out, (received, sha256_received)) = tokio::time::timeout(LIMIT, run).await.expect("in time");
    let k = kernel.finish();
    assert_eq!((k.received, &k.sha256_received), (BYTES, &out.sha256()), "stack -> kernel intact");
    assert_eq!((received, &sha256_received), (BYTES, &out.sha256()), "the echo came back intact");
}

#[tokio::test]
async fn async_accept_echoes_kernel_client() {
    skip_unless_possible!();
    let topo = topology(1);
    let stack = stack(&topo, &[0], PathManagerKind::FullMesh);
    let listener = stack.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).expect("bind");
    let kernel = KernelPeer::client(&topo, SocketAddr::new(topo.stack_addr, PORT), KernelPlay::Duplex(BYTES));
    let run = async {
        let (stream, peer) = listener.accept_async().await.expect("accept_async");
        assert_eq!(peer.ip(), topo.kernel_addr);
        // Echo: one task's reads are the other's writes, through two `&MptcpStream`s.
        let (mut r, mut w) = (&stream, &stream);
        let copied = tokio::io::copy(&mut r, &mut w).await.expect("copy");
        AsyncWriteExt::shutdown(&mut w).await.expect("shutdown");
        assert_eq!(closed(&stream).await, ConnEvent::Closed(CloseReason::Normal));
        copied
    };
    let copied = tokio::time::timeout(LIMIT, run).await.expect("in time");
    let k = kernel.finish();
    assert_eq!((copied, k.sent, k.received), (BYTES, BYTES, BYTES));
    assert_eq!(k.sha256_received, k.sha256_sent, "the echo came back intact");
}
