//! The application's controls of one subflow, which the socket API sets per subflow: Nagle's
//! algorithm (TCP_NODELAY), a cap on the segment size (TCP_MAXSEG), the IP traffic class
//! (IP_TOS / IPV6_TCLASS) and the congestion-control algorithm (TCP_CONGESTION), switched live.

use core::time::Duration;

use super::Subflow;
use crate::cc;

/// The ECN field of the TOS / traffic-class byte (RFC 3168 §5).
const ECN_MASK: u8 = 0b11;

/// The smallest segment size the application may set: the stack's floor for the payload of a
/// segment (below it, the options of a data segment would leave almost none).
pub const MIN_MSS_CAP: u16 = 64;

impl Subflow {
    /// Small segments go out at once (TCP_NODELAY, the default); `false` is Nagle's algorithm,
    /// which the connection applies when it gives this subflow data (RFC 9293 §3.7.4).
    pub fn nodelay(&self) -> bool {
        self.config.nodelay
    }

    /// Turns Nagle's algorithm off (`true`) or on (`false`).
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.config.nodelay = nodelay;
    }

    /// Caps the segment size: at once for what this subflow sends (see [`Subflow::send_mss`];
    /// queued segments are cut to fit when sent again), and for the MSS its SYN advertises if
    /// that is still to be sent.
    pub fn set_mss_cap(&mut self, cap: u16) {
        self.config.mss_cap = Some(cap);
    }

    /// The MSS our SYN advertises and the largest we send with: ours (the path's), under the
    /// application's cap.
    pub fn max_segment_size(&self) -> u16 {
        let mss = self.config.mss;
        self.config.mss_cap.map_or(mss, |cap| cap.max(MIN_MSS_CAP).min(mss))
    }

    /// The TOS (IPv4) or traffic class (IPv6) byte of every packet this subflow sends.
    pub fn traffic_class(&self) -> u8 {
        // RFC 3168 §6.1.1: the ECN field stays Not-ECT (see `set_traffic_class`).
        self.config.traffic_class & !ECN_MASK
    }

    /// Sets the DSCP of every packet from now on. The ECN field stays Not-ECT: ECT is only for
    /// a connection that negotiated ECN (RFC 3168 §6.1.1), which this stack does not, so that
    /// CE marks would go unanswered (Linux ignores those bits for TCP sockets too).
    pub fn set_traffic_class(&mut self, tos: u8) {
        self.config.traffic_class = tos;
    }

    /// The congestion-control algorithm.
    pub fn congestion_control(&self) -> cc::Algorithm {
        self.cc.algorithm()
    }

    /// Switches the congestion-control algorithm: a new controller takes over the current
    /// window and slow-start threshold (see [`cc::new_controller_at`]); the same algorithm
    /// keeps its state.
    pub fn set_congestion_control(&mut self, algorithm: cc::Algorithm) {
        if self.cc.algorithm() != algorithm {
            let mss = self.send_mss() as u32;
            self.cc = cc::new_controller_at(algorithm, mss, self.cc.window(), self.cc.ssthresh());
        }
    }

    /// The retransmission timeout (RFC 6298), backed off after timeouts.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }
}

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    use bytes::Bytes;

    use super::*;
    use crate::subflow::{EmitParams, Outgoing, TcpConfig, TcpState, TxMap};
    use crate::time::Instant;
    use crate::wire::tcp_options::Timestamp;
    use crate::wire::{ChecksumMode, SegmentRepr, TcpFlags, TcpOptions};

    const ISS: u32 = 1000;
    const IRS: u32 = 5000;
    /// Our timestamp clock at time zero.
    const TS_OFFSET: u32 = 100;

    /// A subflow in SYN-SENT from 10.0.0.1 (or fd00::1) to port 80 of .2.
    fn subflow(v6: bool) -> Subflow {
        let (local, remote): (IpAddr, IpAddr) = if v6 {
            (Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).into(), Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).into())
        } else {
            (Ipv4Addr::new(10, 0, 0, 1).into(), Ipv4Addr::new(10, 0, 0, 2).into())
        };
        let (local, remote) = (SocketAddr::new(local, 40000), SocketAddr::new(remote, 80));
        Subflow::connect(1, local, remote, TcpConfig::default(), ISS, TS_OFFSET)
    }

    /// Writes `out` as a packet and parses it back (checksums verified, the IPv4 header's too).
    fn emit(sf: &mut Subflow, now: Instant, out: &Outgoing) -> (Vec<u8>, Option<u16>, u8, usize) {
        let mut buf = vec![0; 2000];
        let n = sf.emit(now, out, &EmitParams { window: 65535, ..Default::default() }, &mut buf).expect("fits");
        buf.truncate(n);
        let (seg, _) = SegmentRepr::parse(&buf, ChecksumMode::Full).expect("valid packet");
        let (mss, tos, len) = (seg.options.mss, seg.tos, seg.payload.len());
        (buf, mss, tos, len)
    }

    /// The peer's answer to our SYN at 10 ms: SYN/ACK with MSS 1460, timestamps and SACK.
    fn establish(sf: &mut Subflow) -> Instant {
        let now = Instant::from_millis(10);
        let (local, remote) = (sf.local(), sf.remote());
        let options = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some(Timestamp { tsval: 1, tsecr: TS_OFFSET }),
            ..Default::default()
        };
        let synack = SegmentRepr {
            src: remote.ip(),
            dst: local.ip(),
            tos: 0,
            hop_limit: 64,
            src_port: remote.port(),
            dst_port: local.port(),
            seq: IRS,
            ack: ISS.wrapping_add(1),
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 65535,
            options,
            payload: &[],
        };
        sf.on_segment(now, &synack);
        assert_eq!(sf.state(), TcpState::Established);
        now
    }

    #[test]
    fn every_packet_carries_the_traffic_class_in_a_valid_header() {
        for v6 in [false, true] {
            let mut sf = subflow(v6);
            // DSCP 46 (EF) with both ECN bits: the ECN field stays Not-ECT.
            sf.set_traffic_class(0xbb);
            assert_eq!(sf.traffic_class(), 0xb8);
            let syn = sf.poll_control(Instant::ZERO).expect("SYN");
            let (packet, _, tos, _) = emit(&mut sf, Instant::ZERO, &syn);
            assert_eq!(tos, 0xb8, "v6 {v6}: the SYN");
            // The byte itself: IPv4 TOS is byte 1; the IPv6 traffic class spans bytes 0 and 1.
            let wire = if v6 { (packet[0] << 4) | (packet[1] >> 4) } else { packet[1] };
            assert_eq!(wire, 0xb8, "v6 {v6}");
            let now = establish(&mut sf);
            let ack = sf.poll_ack().expect("third ACK");
            assert_eq!(emit(&mut sf, now, &ack).2, 0xb8, "v6 {v6}: a pure ACK");
            let data = sf.push_data(now, Bytes::from_static(b"hello"), None);
            assert_eq!(emit(&mut sf, now, &data).2, 0xb8, "v6 {v6}: data");
            sf.set_traffic_class(0x28);
            let data = sf.push_data(now, Bytes::from_static(b"again"), None);
            assert_eq!(emit(&mut sf, now, &data).2, 0x28, "v6 {v6}: the next packet has the new class");
        }
    }

    #[test]
    fn a_cap_on_the_segment_size_is_advertised_and_sent_with() {
        let mut sf = subflow(false);
        assert_eq!(sf.max_segment_size(), 1460);
        sf.set_mss_cap(600);
        assert_eq!(sf.max_segment_size(), 600);
        let syn = sf.poll_control(Instant::ZERO).expect("SYN");
        assert_eq!(emit(&mut sf, Instant::ZERO, &syn).1, Some(600), "the SYN advertises the cap");
        establish(&mut sf);
        // The peer's 1460 under our 600, less the timestamps.
        assert_eq!(sf.send_mss(), 600 - 12);
        // A cap above the path's MSS leaves the path's.
        sf.set_mss_cap(9000);
        assert_eq!((sf.max_segment_size(), sf.send_mss()), (1460, 1460 - 12));
    }

    #[test]
    fn a_subflow_starts_with_the_controls_of_its_configuration() {
        let local = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), 40000);
        let remote = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 2).into(), 80);
        let config = TcpConfig { nodelay: false, mss_cap: Some(600), traffic_class: 0xbb, ..TcpConfig::default() };
        let mut sf = Subflow::connect(1, local, remote, config, ISS, TS_OFFSET);
        assert_eq!((sf.nodelay(), sf.max_segment_size(), sf.traffic_class()), (false, 600, 0xb8));
        let syn = sf.poll_control(Instant::ZERO).expect("SYN");
        let (_, mss, tos, _) = emit(&mut sf, Instant::ZERO, &syn);
        assert_eq!((mss, tos), (Some(600), 0xb8), "the SYN advertises the cap and carries the class");
        // A cap below the floor counts as the floor.
        let config = TcpConfig { mss_cap: Some(10), ..TcpConfig::default() };
        let sf = Subflow::connect(2, local, remote, config, ISS, TS_OFFSET);
        assert_eq!(sf.max_segment_size(), MIN_MSS_CAP);
    }

    #[test]
    fn a_segment_sent_before_the_cap_is_cut_to_fit_when_sent_again() {
        let mut sf = subflow(false);
        let syn = sf.poll_control(Instant::ZERO).expect("SYN");
        emit(&mut sf, Instant::ZERO, &syn);
        let now = establish(&mut sf);
        let payload: Bytes = (0..1400u32).map(|i| i as u8).collect::<Vec<u8>>().into();
        let map = TxMap { dsn: 77, ssn: 1, len: 1400, checksum: None };
        let data = sf.push_data(now, payload.clone(), Some(map));
        assert_eq!(emit(&mut sf, now, &data).3, 1400);
        sf.set_mss_cap(600);
        let mss = sf.send_mss();
        assert_eq!(mss, 588);
        // The retransmission timeout: the segment goes again, in pieces that fit.
        let rto = sf.poll_timeout().expect("RTO armed");
        sf.handle_timeout(rto);
        let again = sf.poll_control(rto).expect("retransmission");
        assert!(again.retransmission);
        assert_eq!((again.seq, again.payload.len(), again.map), (1, mss, Some(map)));
        assert_eq!(emit(&mut sf, rto, &again).3, mss, "what goes on the wire fits");
        let pieces: Vec<_> = sf.tx.iter().map(|s| (s.seq, s.payload.len(), s.map)).collect();
        assert_eq!(pieces, [(1, 588, Some(map)), (589, 588, Some(map)), (1177, 224, Some(map))]);
        let joined: Vec<u8> = sf.tx.iter().flat_map(|s| s.payload.iter().copied()).collect();
        assert_eq!(joined, payload, "the pieces are the segment");
    }

    #[test]
    fn a_switch_of_algorithm_keeps_the_window() {
        let mut sf = subflow(false);
        assert_eq!(sf.congestion_control(), cc::Algorithm::Cubic);
        let (cwnd, ssthresh) = (sf.cwnd(), sf.ssthresh());
        sf.set_congestion_control(cc::Algorithm::Olia);
        assert_eq!(sf.congestion_control(), cc::Algorithm::Olia);
        assert!(sf.is_coupled());
        assert_eq!((sf.cwnd(), sf.ssthresh()), (cwnd, ssthresh));
        sf.penalize(Instant::ZERO);
        let halved = sf.cwnd();
        sf.set_congestion_control(cc::Algorithm::Olia);
        assert_eq!(sf.cwnd(), halved, "the same algorithm keeps its controller");
        sf.set_congestion_control(cc::Algorithm::Reno);
        assert_eq!((sf.cwnd(), sf.ssthresh()), (halved, halved));
        assert!(!sf.is_coupled());
    }
}
