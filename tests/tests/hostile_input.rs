//! Hostile input against a live connection (issue 8, "Hostile input"; the whole table with the
//! tests that cover each item is in `docs/security.md`). A client sends 4 MiB to a server over
//! one simulated path; mid-transfer a forged packet, made from the last packet one side really
//! sent, is handed to the other side as if it came over the path. Each test asserts the defined
//! outcome for what it forged, and that the connection then ends normally on both sides with the
//! data intact (SHA-256 of what was sent against what arrived).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mptcp_stack::connection::CloseReason;
use mptcp_stack::endpoint::{EndpointConfig, EndpointStats};
use mptcp_stack::wire::mptcp::{FastCloseRepr, ResetReason, SeqNum, TcpRstRepr};
use mptcp_stack::wire::{ChecksumMode, SegmentRepr, TcpFlags};
use mptcp_tests::*;
use mptcp_tun_driver::sim::{EndpointHost, Simulator};

const BYTES: u64 = 4 << 20;

type Sim = Simulator<Middlebox<EndpointHost>, Middlebox<EndpointHost>>;
type Last = Rc<RefCell<Option<Vec<u8>>>>;

/// A transfer under way, with the last data packet the client sent and the last packet the
/// server sent (both carry a DSS).
struct Live {
    sim: Sim,
    client_data: Last,
    server_ack: Last,
}

fn keeping(last: &Last, data: bool) -> impl FnMut(mptcp_stack::time::Instant, &[u8]) -> Verdict + 'static {
    let last = Rc::clone(last);
    move |_, packet| {
        let seg = parse(packet);
        if seg.options.mptcp.dss.is_some() && seg.payload.is_empty() != data {
            *last.borrow_mut() = Some(packet.to_vec());
        }
        Verdict::Pass
    }
}

/// 300 ms into a transfer of [`BYTES`] (half of it is still to go).
fn live(seed: u64) -> Live {
    let (client_data, server_ack) = (Last::default(), Last::default());
    let c = Middlebox::new(client(EndpointConfig::default(), seed, BYTES), keeping(&client_data, true));
    let s = Middlebox::new(server(EndpointConfig::default(), seed, false), keeping(&server_ack, false));
    let mut sim = network(c, s, &[link(50, 10)], seed);
    sim.run_for(Duration::from_millis(300)).expect("runs");
    assert!(conn_stats(&sim.b().inner).is_some_and(|s| s.bytes_read > 0), "data flows");
    assert!(sim.b().inner.transfer.report().bytes_received < BYTES / 2, "and much is still to come");
    Live { sim, client_data, server_ack }
}

/// `packet` changed by `change`, emitted again with valid checksums.
fn forge(packet: &[u8], change: impl FnOnce(&mut SegmentRepr<'_>)) -> Vec<u8> {
    let mut seg = parse(packet);
    change(&mut seg);
    let mut out = vec![0; packet.len() + 64];
    let (n, _) = seg.emit(&mut out, ChecksumMode::Full).expect("fits");
    out.truncate(n);
    out
}

impl Live {
    fn client_data(&self) -> Vec<u8> {
        self.client_data.borrow().clone().expect("the client sent data")
    }

    fn server_ack(&self) -> Vec<u8> {
        self.server_ack.borrow().clone().expect("the server acknowledged")
    }

    /// Hands `packet` to the server as if from the client.
    fn hand_to_server(&mut self, packet: &[u8]) {
        let now = self.sim.now();
        self.sim.b_mut().inner.endpoint.handle(now, packet);
    }

    /// Hands `packet` to the client as if from the server.
    fn hand_to_client(&mut self, packet: &[u8]) {
        let now = self.sim.now();
        self.sim.a_mut().inner.endpoint.handle(now, packet);
    }

    fn server_stats(&self) -> EndpointStats {
        self.sim.b().inner.endpoint.stats()
    }

    fn client_stats(&self) -> EndpointStats {
        self.sim.a().inner.endpoint.stats()
    }

    /// Runs to the end: both sides close normally, every byte arrived intact.
    fn ends_intact(mut self) {
        run_to_close(&mut self.sim, Duration::from_secs(60));
        assert_intact(&self.sim, BYTES, false);
        for (side, h) in [("client", &self.sim.a().inner), ("server", &self.sim.b().inner)] {
            assert_eq!(h.transfer.report().closed.map(|c| c.1), Some(CloseReason::Normal), "{side}");
        }
    }
}

#[test]
fn a_data_ack_for_data_never_sent_is_ignored() {
    let mut l = live(81);
    let sent = l.sim.a().inner.transfer.report().bytes_sent;
    let forged = forge(&l.server_ack(), |seg| {
        let dss = seg.options.mptcp.dss.as_mut().expect("a DSS");
        dss.data_ack = Some(match dss.data_ack.expect("a DATA_ACK") {
            SeqNum::Long(v) => SeqNum::Long(v + (1 << 30)),
            SeqNum::Short(v) => SeqNum::Short(v.wrapping_add(1 << 30)),
        });
    });
    l.hand_to_client(&forged);
    l.sim.run_for(Duration::from_millis(50)).expect("runs");
    let acked = conn_stats(&l.sim.a().inner).expect("alive").bytes_acked;
    assert!(acked <= l.sim.a().inner.transfer.report().bytes_sent.max(sent), "acked {acked} of what was sent");
    assert!(acked < BYTES, "the forged DATA_ACK acknowledged nothing");
    l.ends_intact();
}

#[test]
fn mp_fastclose_with_the_wrong_key_is_ignored() {
    let mut l = live(82);
    let forged = forge(&l.server_ack(), |seg| {
        seg.options.mptcp.dss = None;
        seg.options.mptcp.fastclose = Some(FastCloseRepr { receiver_key: 0x0123_4567_89ab_cdef });
    });
    l.hand_to_client(&forged);
    l.ends_intact();
}

#[test]
fn mp_tcprst_without_the_rst_flag_is_ignored() {
    let mut l = live(83);
    let before = l.client_stats().ignored_options;
    let forged = forge(&l.server_ack(), |seg| {
        seg.options.mptcp.dss = None;
        seg.options.mptcp.tcp_rst = Some(TcpRstRepr { flags: 0, reason: ResetReason::MptcpError });
        assert!(!seg.flags.contains(TcpFlags::RST));
    });
    l.hand_to_client(&forged);
    assert_eq!(l.client_stats().ignored_options, before + 1, "MP_TCPRST on a segment without RST: not taken");
    l.ends_intact();
}

#[test]
fn rsts_and_syns_out_of_the_window_do_not_reset_rfc_5961() {
    let mut l = live(84);
    let template = l.server_ack();
    let seq = parse(&template).seq;
    // §3.2: a RST outside the window is dropped; a RST in it but not at RCV.NXT gets a challenge
    // ACK (engine_endpoint.rs). §4.2: any SYN on a synchronized connection gets a challenge ACK.
    for (flags, off) in [(TcpFlags::RST, 1u32 << 30), (TcpFlags::RST, 0u32.wrapping_sub(1 << 20))] {
        l.hand_to_client(&forge(&template, |seg| {
            seg.flags = flags;
            seg.seq = seq.wrapping_add(off);
            seg.options = Default::default();
        }));
    }
    for off in [1u32 << 30, 12_345] {
        l.hand_to_client(&forge(&template, |seg| {
            seg.flags = TcpFlags::SYN;
            seg.seq = seq.wrapping_add(off);
            seg.ack = 0;
            seg.options = Default::default();
        }));
    }
    assert_eq!(l.client_stats().resets_sent, 0);
    l.ends_intact();
}

#[test]
fn malformed_packets_on_a_live_connection_are_dropped_and_counted() {
    let mut l = live(86);
    let good = l.client_data();
    let before = l.server_stats();
    // Truncated IP header, truncated TCP header.
    l.hand_to_server(&good[..10]);
    l.hand_to_server(&good[..30]);
    // Bad TCP checksum (the payload changed, the checksum not).
    let mut bad_sum = good.clone();
    *bad_sum.last_mut().expect("payload") ^= 0xff;
    l.hand_to_server(&bad_sum);
    // Bad IPv4 header checksum.
    let mut bad_ip = good.clone();
    bad_ip[8] ^= 1;
    l.hand_to_server(&bad_ip);
    // A TCP data offset past the end of the packet (an option block that overruns the header).
    let mut overrun = good.clone();
    overrun[20 + 12] = 15 << 4;
    l.hand_to_server(&overrun[..20 + 40]);
    let after = l.server_stats();
    assert_eq!(after.malformed, before.malformed + 5, "{after:?}");
    // An IP fragment (more fragments set, the header checksum fixed up): not handled.
    let mut frag = good.clone();
    frag[6] |= 0x20;
    frag[10..12].fill(0);
    let sum: u32 = frag[..20].chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    frag[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
    l.hand_to_server(&frag);
    let after = l.server_stats();
    assert_eq!(after.unsupported, before.unsupported + 1, "{after:?}");
    assert_eq!(after.resets_sent, before.resets_sent, "nothing answered with a RST");
    l.ends_intact();
}

#[test]
fn an_option_that_overruns_the_option_block_drops_the_segment() {
    let mut l = live(87);
    let before = l.server_stats();
    // A segment of the client's whose DSS claims a length that runs past the end of the
    // option block (TCP checksum fixed up): the block cannot be parsed, the segment is dropped.
    let good = l.client_data();
    let opts_end = 20 + usize::from(good[20 + 12] >> 4) * 4;
    let dss_at = (20 + 20..opts_end).find(|&i| good[i] == 30).expect("the DSS option");
    let mut bad = good.clone();
    bad[dss_at + 1] = 40;
    l.hand_to_server(&with_tcp_checksum(&bad, &parse(&good)));
    let after = l.server_stats();
    assert_eq!(after.malformed, before.malformed + 1, "{after:?}");
    assert_eq!(after.resets_sent, before.resets_sent);
    l.ends_intact();
}

/// `packet` with its TCP checksum recomputed (IPv4).
fn with_tcp_checksum(packet: &[u8], seg: &SegmentRepr<'_>) -> Vec<u8> {
    let mut p = packet.to_vec();
    let tcp_len = p.len() - 20;
    p[20 + 16..20 + 18].fill(0);
    let (std::net::IpAddr::V4(src), std::net::IpAddr::V4(dst)) = (seg.src, seg.dst) else { panic!("IPv4") };
    let mut sum: u32 = 0;
    for w in src.octets().chunks(2).chain(dst.octets().chunks(2)) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    sum += 6 + tcp_len as u32;
    for w in p[20..].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[20 + 16..20 + 18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p
}
