//! One line per packet, for debugging the stack against a real peer: set `MPTCP_TUN_TRACE=1`
//! and the event loop prints every packet it reads from or writes to a TUN device on stderr:
//!
//! ```text
//! [   0.012345] rx mtun0 10.71.0.1:5000 > 10.72.0.2:49152 [S.] seq=1234 ack=5678 win=64240 len=0 mss=1460 ws=7 sackok ts=1/2 MPC(v1 .. synack key=..) ...
//! ```
//!
//! Decoding uses the stack's own parser ([`SegmentRepr::parse`]); a packet it rejects is shown
//! with the error and its first bytes.

use std::fmt::Write;

use mptcp_stack::wire::mptcp::{CapablePhase, DssRepr, SeqNum};
use mptcp_stack::wire::{ChecksumMode, SegmentRepr, TcpFlags};

/// Whether `MPTCP_TUN_TRACE` asks for tracing (set, not empty, not `0`).
pub fn enabled_by_env() -> bool {
    std::env::var_os("MPTCP_TUN_TRACE").is_some_and(|v| !v.is_empty() && v != "0")
}

fn flags(f: TcpFlags) -> String {
    let names = [
        (TcpFlags::SYN, 'S'),
        (TcpFlags::FIN, 'F'),
        (TcpFlags::RST, 'R'),
        (TcpFlags::PSH, 'P'),
        (TcpFlags::ACK, '.'),
        (TcpFlags::URG, 'U'),
        (TcpFlags::ECE, 'E'),
        (TcpFlags::CWR, 'W'),
    ];
    names.iter().filter(|(flag, _)| f.contains(*flag)).map(|(_, c)| *c).collect()
}

fn seq(s: SeqNum) -> String {
    match s {
        SeqNum::Short(v) => format!("{v}/32"),
        SeqNum::Long(v) => format!("{v}"),
    }
}

fn dss(d: &DssRepr) -> String {
    let mut out = String::from("DSS(");
    if let Some(a) = d.data_ack {
        let _ = write!(out, "ack={}", seq(a));
    }
    if let Some(m) = d.mapping {
        let _ = write!(out, " map={}+{} ssn={}", seq(m.dsn), m.data_len, m.ssn);
        if let Some(c) = m.checksum {
            let _ = write!(out, " csum={c:#06x}");
        }
    }
    if d.data_fin {
        out.push_str(" FIN");
    }
    out.push(')');
    out
}

/// One line describing `packet` (no newline).
pub fn describe(packet: &[u8]) -> String {
    let (seg, ignored) = match SegmentRepr::parse(packet, ChecksumMode::Full) {
        Ok(x) => x,
        Err(e) => {
            let head: String = packet.iter().take(24).map(|b| format!("{b:02x}")).collect();
            return format!("unparsed ({e:?}), {} bytes: {head}...", packet.len());
        }
    };
    let mut out = format!(
        "{} > {} [{}] seq={} ack={} win={} len={}",
        std::net::SocketAddr::new(seg.src, seg.src_port),
        std::net::SocketAddr::new(seg.dst, seg.dst_port),
        flags(seg.flags),
        seg.seq,
        seg.ack,
        seg.window,
        seg.payload.len()
    );
    let o = &seg.options;
    if let Some(m) = o.mss {
        let _ = write!(out, " mss={m}");
    }
    if let Some(w) = o.window_scale {
        let _ = write!(out, " ws={w}");
    }
    if o.sack_permitted {
        out.push_str(" sackok");
    }
    if let Some(t) = o.timestamp {
        let _ = write!(out, " ts={}/{}", t.tsval, t.tsecr);
    }
    for (l, r) in o.sack.as_slice() {
        let _ = write!(out, " sack={l}-{r}");
    }
    let m = &o.mptcp;
    if let Some(c) = &m.capable {
        let _ = write!(out, " MPC(v{} {:?} {})", c.version, c.flags, capable_phase(&c.phase));
    }
    if let Some(d) = &m.dss {
        let _ = write!(out, " {}", dss(d));
    }
    for (name, v) in [
        ("JOIN", m.join.as_ref().map(|x| format!("{x:?}"))),
        // Keys are never printed (docs/security.md).
        ("FASTCLOSE", m.fastclose.as_ref().map(|_| "key=..".to_owned())),
        ("TCPRST", m.tcp_rst.as_ref().map(|x| format!("{x:?}"))),
        ("FAIL", m.fail.as_ref().map(|x| format!("{x:?}"))),
        ("ADD_ADDR", m.add_addr.as_ref().map(|x| format!("{x:?}"))),
        ("RM_ADDR", m.remove_addr.as_ref().map(|x| format!("{x:?}"))),
        ("PRIO", m.prio.as_ref().map(|x| format!("{x:?}"))),
    ] {
        if let Some(v) = v {
            let _ = write!(out, " {name}({v})");
        }
    }
    if ignored.count > 0 {
        let _ = write!(out, " ignored={} ({:?})", ignored.count, ignored.last_mptcp_error);
    }
    out
}

/// An MP_CAPABLE phase without its keys (docs/security.md: keys are never logged).
fn capable_phase(phase: &CapablePhase) -> String {
    match phase {
        CapablePhase::Syn => "syn".to_owned(),
        CapablePhase::SynAck { .. } => "synack key=..".to_owned(),
        CapablePhase::Ack { .. } => "ack keys=..".to_owned(),
        CapablePhase::Data { data_len, checksum, .. } => format!("data keys=.. len={data_len} csum={checksum:?}"),
    }
}

#[cfg(test)]
mod tests {
    use mptcp_stack::wire::TcpOptions;
    use mptcp_stack::wire::mptcp::{CapableFlags, CapableRepr, FastCloseRepr};

    use super::*;

    fn packet(options: TcpOptions) -> Vec<u8> {
        let seg = SegmentRepr {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            tos: 0,
            hop_limit: 64,
            src_port: 1,
            dst_port: 2,
            seq: 1,
            ack: 1,
            flags: TcpFlags::ACK,
            window: 100,
            options,
            payload: &[],
        };
        let mut buf = vec![0u8; 200];
        let (n, _) = seg.emit(&mut buf, ChecksumMode::Full).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn keys_are_never_printed() {
        const KEY: u64 = 0x1122_3344_5566_7788;
        let mut options = TcpOptions::default();
        let phase = CapablePhase::Ack { sender_key: KEY, receiver_key: KEY };
        options.mptcp.capable = Some(CapableRepr::new(CapableFlags::default(), phase));
        let mpc = describe(&packet(options));
        let mut options = TcpOptions::default();
        options.mptcp.fastclose = Some(FastCloseRepr { receiver_key: KEY });
        let fastclose = describe(&packet(options));
        for line in [&mpc, &fastclose] {
            for key in [KEY.to_string(), format!("{KEY:x}"), format!("{KEY:X}")] {
                assert!(!line.contains(&key), "{line}");
            }
        }
        assert!(mpc.contains("MPC(v1") && mpc.contains("keys=.."), "{mpc}");
        assert!(fastclose.contains("FASTCLOSE"), "{fastclose}");
    }
}
