//! One line per packet, for debugging the stack against a real peer: set `MPTCP_TUN_TRACE=1`
//! and the event loop prints every packet it reads from or writes to a TUN device on stderr:
//!
//! ```text
//! [   0.012345] rx mtun0 10.71.0.1:5000 > 10.72.0.2:49152 [S.] seq=1234 ack=5678 win=64240 len=0 mss=1460 ws=7 sackok ts=1/2 MPC(SynAck v1 key=.. ) ...
//! ```
//!
//! Decoding uses the stack's own parser ([`SegmentRepr::parse`]); a packet it rejects is shown
//! with the error and its first bytes.

use std::fmt::Write;

use mptcp_stack::wire::mptcp::{DssRepr, SeqNum};
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
        let _ = write!(out, " MPC({c:?})");
    }
    if let Some(d) = &m.dss {
        let _ = write!(out, " {}", dss(d));
    }
    for (name, v) in [
        ("JOIN", m.join.as_ref().map(|x| format!("{x:?}"))),
        ("FASTCLOSE", m.fastclose.as_ref().map(|x| format!("{x:?}"))),
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
