//! Byte-exact round trips of every MPTCP option in the decoded kernel traces
//! (`data/kernel-traces/*.txt`, captured between two Linux 6.18 kernels).
//!
//! For each option printed on a packet line the test builds the option's bytes from the printed
//! fields with a small builder of its own (layouts of RFC 8684 §3 as the kernel writes them; the
//! codec is not used to build them), parses them with the codec in the context the packet's
//! flags and length give, compares the parsed fields with the printed ones and re-emits the
//! option, which must reproduce the bytes exactly. Each packet's whole option block (with MSS,
//! SACK-permitted, timestamps and window scale where printed) then goes through
//! `TcpOptions::emit` and `TcpOptions::parse`.
//!
//! The traces print `ts` without values; the timestamp values used here are the packet's
//! sequence and acknowledgement numbers.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mptcp_stack::crypto::{self, Key};
use mptcp_stack::wire::mptcp::{
    AddAddrRepr, CapableFlags, CapablePhase, CapableRepr, DssRepr, FastCloseRepr, JoinRepr, Mapping, PrioRepr,
    RemoveAddrRepr, ResetReason, SeqNum, TcpRstRepr,
};
use mptcp_stack::wire::{Error, Ignored, MptcpRepr, OptionContext, TcpOptions, Timestamp};

const TRACE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/kernel-traces");

/// Every trace file, with its number of lines.
const TRACE_FILES: [(&str, usize); 7] = [
    ("sniff_csum.txt", 18),
    ("sniff_fb.txt", 20),
    ("sniff_first.txt", 12),
    ("sniff_misc.txt", 51),
    ("sniff_signal.txt", 62),
    ("sniff_subflow.txt", 57),
    ("sniff_upm.txt", 91),
];

const KIND: u8 = 30;
const NOP: u8 = 1;

// ---------------------------------------------------------------------------------------------
// Reading the traces
// ---------------------------------------------------------------------------------------------

/// Where a line is, for failure messages.
#[derive(Debug, Clone)]
struct Loc {
    file: &'static str,
    line: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "data/kernel-traces/{}:{}", self.file, self.line)
    }
}

/// A DATA_ACK or DSN as printed: `dack=` (8 bytes) or `dack32=` (4 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seq {
    Short(u32),
    Long(u64),
}

/// One MPTCP option with the fields the trace decoder printed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decoded {
    Capable {
        len: u8,
        ver: u8,
        flags: u8,
        key_s: Option<u64>,
        key_r: Option<u64>,
        dll: Option<u16>,
        csum: Option<u16>,
    },
    JoinSyn {
        backup: bool,
        id: u8,
        token: u32,
        nonce: u32,
    },
    JoinSynAck {
        backup: bool,
        id: u8,
        thmac: u64,
        nonce: u32,
    },
    JoinAck {
        hmac: [u8; 20],
    },
    Dss {
        len: u8,
        /// The flags byte, `000 F m M a A`, from the printed bits.
        flags: u8,
        dack: Option<Seq>,
        /// `(dsn, ssn, dll, csum)`.
        map: Option<(Seq, u32, u16, Option<u16>)>,
    },
    AddAddr {
        len: u8,
        echo: bool,
        id: u8,
        rest: Vec<u8>,
    },
    RemoveAddr {
        len: u8,
        ids: Vec<u8>,
    },
    Prio {
        len: u8,
        backup: bool,
    },
    FastClose {
        len: u8,
        val: u64,
    },
    TcpRst {
        len: u8,
        transient: bool,
        reason: u8,
    },
}

impl Decoded {
    fn kind(&self) -> &'static str {
        match self {
            Decoded::Capable { .. } => "MP_CAPABLE",
            Decoded::JoinSyn { .. } | Decoded::JoinSynAck { .. } | Decoded::JoinAck { .. } => "MP_JOIN",
            Decoded::Dss { .. } => "DSS",
            Decoded::AddAddr { .. } => "ADD_ADDR",
            Decoded::RemoveAddr { .. } => "REMOVE_ADDR",
            Decoded::Prio { .. } => "MP_PRIO",
            Decoded::FastClose { .. } => "MP_FASTCLOSE",
            Decoded::TcpRst { .. } => "MP_TCPRST",
        }
    }

    /// A finer classification, to count what the traces exercise.
    fn variant(&self) -> String {
        match self {
            Decoded::Capable { len, flags, .. } => format!("MP_CAPABLE len={len} flags={flags:#04x}"),
            Decoded::JoinSyn { .. } => "MP_JOIN len=12".into(),
            Decoded::JoinSynAck { .. } => "MP_JOIN len=16".into(),
            Decoded::JoinAck { .. } => "MP_JOIN len=24".into(),
            Decoded::Dss { len, flags, map, .. } => {
                let csum = if matches!(map, Some((_, _, _, Some(_)))) { " csum" } else { "" };
                format!("DSS len={len} flags={flags:#04x}{csum}")
            }
            Decoded::AddAddr { len, echo, .. } => format!("ADD_ADDR len={len} E={}", u8::from(*echo)),
            Decoded::RemoveAddr { len, .. } => format!("REMOVE_ADDR len={len}"),
            Decoded::Prio { backup, .. } => format!("MP_PRIO B={}", u8::from(*backup)),
            Decoded::FastClose { .. } => "MP_FASTCLOSE".into(),
            Decoded::TcpRst { transient, reason, .. } => {
                format!("MP_TCPRST T={} reason={reason}", u8::from(*transient))
            }
        }
    }
}

/// An option as it appears on the line, and its decoding.
#[derive(Debug, Clone)]
struct TraceOption {
    text: String,
    decoded: Decoded,
}

/// One packet line (and the `PAYLOAD` line that may follow it).
#[derive(Debug, Clone)]
struct Packet {
    loc: Loc,
    src: String,
    dst: String,
    flags: String,
    seq: u32,
    ack: u32,
    len: usize,
    mss: Option<u16>,
    sack_permitted: bool,
    ts: bool,
    window_scale: Option<u8>,
    options: Vec<TraceOption>,
    payload: Option<Vec<u8>>,
}

impl Packet {
    fn ctx(&self) -> OptionContext {
        OptionContext {
            syn: self.flags.contains('S'),
            ack: self.flags.contains('A'),
            rst: self.flags.contains('R'),
            has_payload: self.len > 0,
        }
    }
}

/// All lines of one file.
struct Trace {
    file: &'static str,
    lines: usize,
    packets: Vec<Packet>,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// The `key=value` list inside an option's parentheses; every field must be consumed.
struct Fields<'a> {
    loc: &'a Loc,
    text: &'a str,
    fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Fields<'a> {
    fn new(loc: &'a Loc, text: &'a str, inner: &'a str) -> Fields<'a> {
        // Split at commas outside brackets (`ids=[1,2]`).
        let mut fields = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
        for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ',' if depth == 0 => {
                    let field = &inner[start..i];
                    let (k, v) = field
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{loc}: field {field:?} of {text} is not key=value"));
                    fields.push((k, v));
                    start = i + 1;
                }
                _ => {}
            }
        }
        Fields { loc, text, fields }
    }

    fn opt(&mut self, key: &str) -> Option<&'a str> {
        let i = self.fields.iter().position(|(k, _)| *k == key)?;
        Some(self.fields.remove(i).1)
    }

    fn req(&mut self, key: &str) -> &'a str {
        let (loc, text) = (self.loc, self.text);
        self.opt(key).unwrap_or_else(|| panic!("{loc}: {text} lacks {key}="))
    }

    fn bad(&self, key: &str, v: &str) -> ! {
        panic!("{}: {}: bad value {key}={v:?}", self.loc, self.text)
    }

    fn dec<T: std::str::FromStr>(&mut self, key: &str) -> T {
        let v = self.req(key);
        v.parse().unwrap_or_else(|_| self.bad(key, v))
    }

    fn dec_opt<T: std::str::FromStr>(&mut self, key: &str) -> Option<T> {
        let v = self.opt(key)?;
        Some(v.parse().unwrap_or_else(|_| self.bad(key, v)))
    }

    fn bit(&mut self, key: &str) -> bool {
        match self.req(key) {
            "0" => false,
            "1" => true,
            v => self.bad(key, v),
        }
    }

    /// Fixed-width hex without `0x` (keys, tokens, nonces, HMACs, checksums).
    fn hex<const N: usize>(&mut self, key: &str) -> [u8; N] {
        let v = self.req(key);
        unhex(v).and_then(|b| b.try_into().ok()).unwrap_or_else(|| self.bad(key, v))
    }

    fn hex_opt<const N: usize>(&mut self, key: &str) -> Option<[u8; N]> {
        let v = self.opt(key)?;
        Some(unhex(v).and_then(|b| b.try_into().ok()).unwrap_or_else(|| self.bad(key, v)))
    }

    fn done(self) {
        assert!(self.fields.is_empty(), "{}: {}: unexpected fields {:?}", self.loc, self.text, self.fields);
    }
}

fn decode_option(loc: &Loc, text: &str) -> Decoded {
    let (name, inner) = text
        .strip_suffix(')')
        .and_then(|t| t.split_once('('))
        .unwrap_or_else(|| panic!("{loc}: {text:?} is not NAME(fields)"));
    let mut f = Fields::new(loc, text, inner);
    let len: u8 = f.dec("len");
    let decoded = match name {
        "MP_CAPABLE" => {
            let ver = f.dec("ver");
            let flags = f.req("flags");
            let flags = flags
                .strip_prefix("0x")
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or_else(|| f.bad("flags", flags));
            Decoded::Capable {
                len,
                ver,
                flags,
                key_s: f.hex_opt("key_s").map(u64::from_be_bytes),
                key_r: f.hex_opt("key_r").map(u64::from_be_bytes),
                dll: f.dec_opt("dll"),
                csum: f.hex_opt("csum").map(u16::from_be_bytes),
            }
        }
        "MP_JOIN" => match len {
            12 => Decoded::JoinSyn {
                backup: f.bit("B"),
                id: f.dec("id"),
                token: u32::from_be_bytes(f.hex("token")),
                nonce: u32::from_be_bytes(f.hex("nonce")),
            },
            16 => Decoded::JoinSynAck {
                backup: f.bit("B"),
                id: f.dec("id"),
                thmac: u64::from_be_bytes(f.hex("thmac")),
                nonce: u32::from_be_bytes(f.hex("nonce")),
            },
            24 => Decoded::JoinAck { hmac: f.hex("hmac") },
            _ => f.bad("len", &len.to_string()),
        },
        "DSS" => {
            let mut flags = 0;
            for (bit, key) in [(0x10, "F"), (0x08, "m"), (0x04, "M"), (0x02, "a"), (0x01, "A")] {
                if f.bit(key) {
                    flags |= bit;
                }
            }
            let dack = match (f.dec_opt("dack"), f.dec_opt("dack32")) {
                (Some(v), None) => Some(Seq::Long(v)),
                (None, Some(v)) => Some(Seq::Short(v)),
                (None, None) => None,
                (Some(_), Some(_)) => panic!("{loc}: {text}: both dack and dack32"),
            };
            let map = match (f.dec_opt::<u64>("dsn"), f.dec_opt("ssn"), f.dec_opt("dll")) {
                (Some(dsn), Some(ssn), Some(dll)) => {
                    let dsn = if flags & 0x08 != 0 {
                        Seq::Long(dsn)
                    } else {
                        Seq::Short(u32::try_from(dsn).unwrap_or_else(|_| panic!("{loc}: {text}: m=0, dsn > 32 bits")))
                    };
                    Some((dsn, ssn, dll, f.hex_opt("csum").map(u16::from_be_bytes)))
                }
                (None, None, None) => None,
                _ => panic!("{loc}: {text}: partial mapping"),
            };
            // The printed flags must agree with the fields printed.
            assert_eq!(flags & 0x01 != 0, dack.is_some(), "{loc}: {text}: A vs DATA_ACK");
            if let Some(d) = dack {
                assert_eq!(flags & 0x02 != 0, matches!(d, Seq::Long(_)), "{loc}: {text}: a vs dack/dack32");
            }
            assert_eq!(flags & 0x04 != 0, map.is_some(), "{loc}: {text}: M vs mapping");
            Decoded::Dss { len, flags, dack, map }
        }
        "ADD_ADDR" => {
            let echo = f.bit("E");
            let id = f.dec("id");
            let rest = f.req("rest");
            let rest = unhex(rest).unwrap_or_else(|| f.bad("rest", rest));
            Decoded::AddAddr { len, echo, id, rest }
        }
        "REMOVE_ADDR" => {
            let ids = f.req("ids");
            let parsed = ids
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.split(',').map(|i| i.trim().parse().ok()).collect::<Option<Vec<u8>>>());
            Decoded::RemoveAddr { len, ids: parsed.unwrap_or_else(|| f.bad("ids", ids)) }
        }
        "MP_PRIO" => Decoded::Prio { len, backup: f.bit("B") },
        "MP_FASTCLOSE" => Decoded::FastClose { len, val: u64::from_be_bytes(f.hex("val")) },
        "MP_TCPRST" => Decoded::TcpRst { len, transient: f.bit("T"), reason: f.dec("reason") },
        _ => panic!("{loc}: unknown option {name} in {text}"),
    };
    f.done();
    decoded
}

fn parse_packet(loc: Loc, line: &str) -> Packet {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let bad = |what: &str| -> ! { panic!("{loc}: {what} in {line:?}") };
    if toks.len() < 9 {
        bad("too few fields");
    }
    toks[0].parse::<f64>().unwrap_or_else(|_| bad("time"));
    if !toks[1].starts_with("vb") || !matches!(toks[2], "in" | "out") {
        bad("device/direction");
    }
    let (src, dst) = toks[3].split_once('>').unwrap_or_else(|| bad("src>dst"));
    let flags = toks[4].strip_prefix('[').and_then(|f| f.strip_suffix(']')).unwrap_or_else(|| bad("[flags]"));
    if flags.is_empty() || !flags.chars().all(|c| "SAPFR".contains(c)) {
        bad("TCP flags");
    }
    let num = |tok: &str, key: &str| -> u64 {
        tok.strip_prefix(key)
            .and_then(|v| v.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| bad(&format!("{key}=")))
    };
    let seq = u32::try_from(num(toks[5], "seq")).unwrap_or_else(|_| bad("seq"));
    let ack = u32::try_from(num(toks[6], "ack")).unwrap_or_else(|_| bad("ack"));
    num(toks[7], "win");
    let len = num(toks[8], "len") as usize;
    let mut p = Packet {
        loc: loc.clone(),
        src: src.to_owned(),
        dst: dst.to_owned(),
        flags: flags.to_owned(),
        seq,
        ack,
        len,
        mss: None,
        sack_permitted: false,
        ts: false,
        window_scale: None,
        options: Vec::new(),
        payload: None,
    };
    for &tok in &toks[9..] {
        match tok {
            "sackok" => p.sack_permitted = true,
            "ts" => p.ts = true,
            _ if tok.starts_with("mss=") => p.mss = Some(num(tok, "mss").try_into().unwrap_or_else(|_| bad("mss"))),
            _ if tok.starts_with("ws=") => {
                p.window_scale = Some(num(tok, "ws").try_into().unwrap_or_else(|_| bad("ws")))
            }
            _ if tok.contains('(') => {
                p.options.push(TraceOption { text: tok.to_owned(), decoded: decode_option(&loc, tok) })
            }
            _ => bad(&format!("unknown token {tok:?}")),
        }
    }
    p
}

fn load_traces() -> Vec<Trace> {
    let mut on_disk: Vec<String> = std::fs::read_dir(TRACE_DIR)
        .unwrap_or_else(|e| panic!("{TRACE_DIR}: {e}"))
        .map(|e| e.expect("directory entry").file_name().into_string().expect("UTF-8 file name"))
        .collect();
    on_disk.sort();
    let expected: Vec<&str> = TRACE_FILES.iter().map(|(f, _)| *f).collect();
    assert_eq!(on_disk, expected, "{TRACE_DIR} holds other files than the test knows");

    TRACE_FILES
        .iter()
        .map(|&(file, _)| {
            let path = format!("{TRACE_DIR}/{file}");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let mut packets: Vec<Packet> = Vec::new();
            let mut lines = 0;
            for (i, line) in text.lines().enumerate() {
                lines += 1;
                let loc = Loc { file, line: i + 1 };
                let trimmed = line.trim();
                if let Some(hex) = trimmed.strip_prefix("PAYLOAD ") {
                    let prev = packets.last_mut().unwrap_or_else(|| panic!("{loc}: PAYLOAD before any packet"));
                    assert!(prev.payload.is_none(), "{loc}: second PAYLOAD for one packet");
                    let payload = unhex(hex.trim()).unwrap_or_else(|| panic!("{loc}: bad PAYLOAD hex"));
                    assert_eq!(payload.len(), prev.len, "{loc}: PAYLOAD length vs len= of {}", prev.loc);
                    prev.payload = Some(payload);
                } else {
                    assert!(!trimmed.is_empty(), "{loc}: empty line");
                    packets.push(parse_packet(loc, trimmed));
                }
            }
            Trace { file, lines, packets }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The independent builder (RFC 8684 §3 layouts, as the kernel writes them)
// ---------------------------------------------------------------------------------------------

fn put_seq(out: &mut Vec<u8>, s: Seq) {
    match s {
        Seq::Short(v) => out.extend_from_slice(&v.to_be_bytes()),
        Seq::Long(v) => out.extend_from_slice(&v.to_be_bytes()),
    }
}

/// The option's bytes: kind 30, length, `subtype << 4 | nibble`, then the subtype's fields.
fn build(d: &Decoded) -> Vec<u8> {
    let (subtype, nibble): (u8, u8) = match d {
        Decoded::Capable { ver, .. } => (0x0, *ver),
        Decoded::JoinSyn { backup, .. } | Decoded::JoinSynAck { backup, .. } => (0x1, u8::from(*backup)),
        Decoded::JoinAck { .. } => (0x1, 0),
        Decoded::Dss { .. } => (0x2, 0),
        Decoded::AddAddr { echo, .. } => (0x3, u8::from(*echo)),
        Decoded::RemoveAddr { .. } => (0x4, 0),
        Decoded::Prio { backup, .. } => (0x5, u8::from(*backup)),
        Decoded::FastClose { .. } => (0x7, 0),
        Decoded::TcpRst { transient, .. } => (0x8, u8::from(*transient)),
    };
    // The length byte is patched once the option is complete.
    let mut out = vec![KIND, 0, subtype << 4 | nibble];
    match d {
        Decoded::Capable { flags, key_s, key_r, dll, csum, .. } => {
            out.push(*flags);
            for v in [key_s, key_r].into_iter().flatten() {
                out.extend_from_slice(&v.to_be_bytes());
            }
            for v in [dll, csum].into_iter().flatten() {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        Decoded::JoinSyn { id, token, nonce, .. } => {
            out.push(*id);
            out.extend_from_slice(&token.to_be_bytes());
            out.extend_from_slice(&nonce.to_be_bytes());
        }
        Decoded::JoinSynAck { id, thmac, nonce, .. } => {
            out.push(*id);
            out.extend_from_slice(&thmac.to_be_bytes());
            out.extend_from_slice(&nonce.to_be_bytes());
        }
        Decoded::JoinAck { hmac } => {
            out.push(0); // reserved
            out.extend_from_slice(hmac);
        }
        Decoded::Dss { flags, dack, map, .. } => {
            out.push(*flags);
            if let Some(a) = dack {
                put_seq(&mut out, *a);
            }
            if let Some((dsn, ssn, dll, csum)) = map {
                put_seq(&mut out, *dsn);
                out.extend_from_slice(&ssn.to_be_bytes());
                out.extend_from_slice(&dll.to_be_bytes());
                if let Some(c) = csum {
                    out.extend_from_slice(&c.to_be_bytes());
                }
            }
        }
        Decoded::AddAddr { id, rest, .. } => {
            out.push(*id);
            out.extend_from_slice(rest);
        }
        Decoded::RemoveAddr { ids, .. } => out.extend_from_slice(ids),
        Decoded::Prio { .. } => {}
        Decoded::FastClose { val, .. } => {
            out.push(0); // reserved
            out.extend_from_slice(&val.to_be_bytes());
        }
        Decoded::TcpRst { reason, .. } => out.push(*reason),
    }
    out[1] = u8::try_from(out.len()).expect("option fits a length byte");
    out
}

/// The length the trace printed for the option.
fn printed_len(d: &Decoded) -> u8 {
    match d {
        Decoded::Capable { len, .. }
        | Decoded::Dss { len, .. }
        | Decoded::AddAddr { len, .. }
        | Decoded::RemoveAddr { len, .. }
        | Decoded::Prio { len, .. }
        | Decoded::FastClose { len, .. }
        | Decoded::TcpRst { len, .. } => *len,
        Decoded::JoinSyn { .. } => 12,
        Decoded::JoinSynAck { .. } => 16,
        Decoded::JoinAck { .. } => 24,
    }
}

fn seq_num(s: Seq) -> SeqNum {
    match s {
        Seq::Short(v) => SeqNum::Short(v),
        Seq::Long(v) => SeqNum::Long(v),
    }
}

/// The ADD_ADDR fields from its length and the bytes after the address id
/// (RFC 8684 §3.4.1: IPv4 8/16, with port 10/18; IPv6 20/28, with port 22/30; HMAC iff E=0).
fn add_addr_fields(loc: &Loc, len: u8, echo: bool, rest: &[u8]) -> (IpAddr, Option<u16>, Option<u64>) {
    let base = if echo { len } else { len - 8 };
    let (v6, port) = match base {
        8 => (false, false),
        10 => (false, true),
        20 => (true, false),
        22 => (true, true),
        _ => panic!("{loc}: ADD_ADDR len={len} E={} is not a valid length", u8::from(echo)),
    };
    assert_eq!(rest.len(), usize::from(len) - 4, "{loc}: ADD_ADDR rest= vs len=");
    let (addr, rest) = if v6 {
        (IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&rest[..16]).unwrap())), &rest[16..])
    } else {
        (IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&rest[..4]).unwrap())), &rest[4..])
    };
    let (port, rest) = if port { (Some(u16::from_be_bytes([rest[0], rest[1]])), &rest[2..]) } else { (None, rest) };
    let hmac = (!echo).then(|| u64::from_be_bytes(rest.try_into().expect("8 HMAC bytes")));
    (addr, port, hmac)
}

/// What the codec must parse the option into.
fn expected_repr(loc: &Loc, d: &Decoded) -> MptcpRepr {
    match d {
        Decoded::Capable { ver, flags, key_s, key_r, dll, csum, .. } => {
            // A, C and H are the only flags a valid v1 option carries; H is always set.
            assert_eq!(flags & !0xa0, 0x01, "{loc}: MP_CAPABLE flags {flags:#04x} not representable");
            let phase = match (key_s, key_r, dll) {
                (None, None, None) => CapablePhase::Syn,
                (Some(k), None, None) => CapablePhase::SynAck { sender_key: *k },
                (Some(s), Some(r), None) => CapablePhase::Ack { sender_key: *s, receiver_key: *r },
                (Some(s), Some(r), Some(l)) => {
                    CapablePhase::Data { sender_key: *s, receiver_key: *r, data_len: *l, checksum: *csum }
                }
                _ => panic!("{loc}: MP_CAPABLE with an impossible field set"),
            };
            MptcpRepr::Capable(CapableRepr {
                version: *ver,
                flags: CapableFlags { checksum_required: flags & 0x80 != 0, deny_join_id0: flags & 0x20 != 0 },
                phase,
            })
        }
        Decoded::JoinSyn { backup, id, token, nonce } => {
            MptcpRepr::Join(JoinRepr::Syn { backup: *backup, addr_id: *id, token: *token, nonce: *nonce })
        }
        Decoded::JoinSynAck { backup, id, thmac, nonce } => {
            MptcpRepr::Join(JoinRepr::SynAck { backup: *backup, addr_id: *id, truncated_hmac: *thmac, nonce: *nonce })
        }
        Decoded::JoinAck { hmac } => MptcpRepr::Join(JoinRepr::Ack { hmac: *hmac }),
        Decoded::Dss { flags, dack, map, .. } => MptcpRepr::Dss(DssRepr {
            data_ack: dack.map(seq_num),
            mapping: map.map(|(dsn, ssn, data_len, checksum)| Mapping { dsn: seq_num(dsn), ssn, data_len, checksum }),
            data_fin: flags & 0x10 != 0,
        }),
        Decoded::AddAddr { len, echo, id, rest } => {
            let (addr, port, hmac) = add_addr_fields(loc, *len, *echo, rest);
            MptcpRepr::AddAddr(AddAddrRepr { addr_id: *id, addr, port, hmac })
        }
        Decoded::RemoveAddr { ids, .. } => {
            MptcpRepr::RemoveAddr(RemoveAddrRepr::new(ids).unwrap_or_else(|| panic!("{loc}: REMOVE_ADDR ids {ids:?}")))
        }
        Decoded::Prio { backup, .. } => MptcpRepr::Prio(PrioRepr { backup: *backup }),
        Decoded::FastClose { val, .. } => MptcpRepr::FastClose(FastCloseRepr { receiver_key: *val }),
        Decoded::TcpRst { transient, reason, .. } => {
            MptcpRepr::TcpRst(TcpRstRepr { flags: u8::from(*transient), reason: ResetReason::from(*reason) })
        }
    }
}

/// The option block the kernel writes (`tcp_options_write()`): MSS; SACK-permitted sharing the
/// timestamp's word (or NOP NOP before either alone); NOP + window scale; then the MPTCP options
/// in wire order, each padded with trailing NOPs to 32 bits.
fn kernel_block(p: &Packet, mptcp: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(mss) = p.mss {
        out.extend_from_slice(&[2, 4]);
        out.extend_from_slice(&mss.to_be_bytes());
    }
    match (p.sack_permitted, p.ts) {
        (true, true) => out.extend_from_slice(&[4, 2, 8, 10]),
        (false, true) => out.extend_from_slice(&[NOP, NOP, 8, 10]),
        (true, false) => out.extend_from_slice(&[NOP, NOP, 4, 2]),
        (false, false) => {}
    }
    if p.ts {
        out.extend_from_slice(&p.seq.to_be_bytes());
        out.extend_from_slice(&p.ack.to_be_bytes());
    }
    if let Some(ws) = p.window_scale {
        out.extend_from_slice(&[NOP, 3, 3, ws]);
    }
    for o in mptcp {
        out.extend_from_slice(o);
        while out.len() % 4 != 0 {
            out.push(NOP);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The round trips
// ---------------------------------------------------------------------------------------------

/// What was checked, to compare with what the data holds.
#[derive(Debug, Default)]
struct Counts {
    lines: usize,
    packet_lines: usize,
    payload_lines: usize,
    lines_with_mptcp: usize,
    blocks: usize,
    options: usize,
    by_kind: BTreeMap<&'static str, usize>,
    by_variant: BTreeMap<String, usize>,
}

/// Round-trips one option; returns the bytes the builder made.
fn check_option(p: &Packet, o: &TraceOption) -> (Vec<u8>, MptcpRepr) {
    let (loc, text) = (&p.loc, &o.text);
    let bytes = build(&o.decoded);
    assert_eq!(bytes.len(), usize::from(printed_len(&o.decoded)), "{loc}: {text}: builder length vs printed len=");

    let ctx = p.ctx();
    let parsed = MptcpRepr::parse_bytes(&bytes, ctx)
        .unwrap_or_else(|e| panic!("{loc}: {text}: parse of {bytes:02x?} in {ctx:?} failed: {e:?}"));
    assert_eq!(parsed, expected_repr(loc, &o.decoded), "{loc}: {text}: parsed fields differ from the trace");
    assert_eq!(parsed.buffer_len(), bytes.len(), "{loc}: {text}: buffer_len");

    let mut out = [0xeeu8; 40];
    let n = parsed.emit(&mut out).unwrap_or_else(|e| panic!("{loc}: {text}: emit failed: {e:?}"));
    assert_eq!(&out[..n], &bytes[..], "{loc}: {text}: re-emitted bytes differ");
    assert!(out[n..].iter().all(|&b| b == 0xee), "{loc}: {text}: emit wrote past its length");
    assert_eq!(
        parsed.emit(&mut out[..n - 1]),
        Err(Error::BufferTooSmall),
        "{loc}: {text}: emit into a buffer one byte short"
    );
    (bytes, parsed)
}

/// Emits and re-parses the packet's whole option block.
fn check_block(p: &Packet, built: &[Vec<u8>], reprs: &[MptcpRepr]) {
    let loc = &p.loc;
    let mut opts = TcpOptions {
        mss: p.mss,
        window_scale: p.window_scale,
        sack_permitted: p.sack_permitted,
        timestamp: p.ts.then_some(Timestamp { tsval: p.seq, tsecr: p.ack }),
        ..TcpOptions::default()
    };
    for r in reprs {
        assert!(!opts.mptcp.insert(*r), "{loc}: two MPTCP options of one subtype");
    }

    let mut buf = [0u8; 40];
    let emitted = opts.emit(&mut buf);
    assert!(emitted.dropped.is_empty(), "{loc}: TcpOptions::emit dropped {:?}", emitted.dropped);
    assert_eq!(emitted.len % 4, 0, "{loc}: block length {} not 32-bit aligned", emitted.len);
    let block = &buf[..emitted.len];

    let (parsed, ignored) = TcpOptions::parse(block, p.ctx())
        .unwrap_or_else(|e| panic!("{loc}: TcpOptions::parse of {block:02x?} failed: {e:?}"));
    assert_eq!(ignored, Ignored::default(), "{loc}: options ignored when parsing {block:02x?}");
    assert_eq!(parsed, opts, "{loc}: option block round trip");

    assert_eq!(block, &kernel_block(p, built)[..], "{loc}: option block differs from the kernel's layout");
}

fn check_all(traces: &[Trace]) -> Counts {
    let mut c = Counts::default();
    for t in traces {
        c.lines += t.lines;
        for p in &t.packets {
            c.packet_lines += 1;
            c.payload_lines += usize::from(p.payload.is_some());
            c.lines_with_mptcp += usize::from(!p.options.is_empty());
            let mut built = Vec::new();
            let mut reprs = Vec::new();
            for o in &p.options {
                let (bytes, repr) = check_option(p, o);
                built.push(bytes);
                reprs.push(repr);
                c.options += 1;
                *c.by_kind.entry(o.decoded.kind()).or_default() += 1;
                *c.by_variant.entry(o.decoded.variant()).or_default() += 1;
            }
            check_block(p, &built, &reprs);
            c.blocks += 1;
        }
    }
    c
}

#[test]
fn every_trace_option_round_trips_byte_exact() {
    let traces = load_traces();
    for (t, (file, lines)) in traces.iter().zip(TRACE_FILES) {
        assert_eq!((t.file, t.lines), (file, lines), "line count of {file}");
    }
    let c = check_all(&traces);

    assert_eq!(c.lines, 311, "lines read");
    assert_eq!(c.packet_lines, 308, "packet lines");
    assert_eq!(c.payload_lines, 3, "PAYLOAD lines");
    assert_eq!(c.lines, c.packet_lines + c.payload_lines, "every line is a packet or a payload");
    assert_eq!(c.blocks, 308, "option blocks round-tripped");
    assert_eq!(c.lines_with_mptcp, 288, "packet lines with MPTCP options");
    assert_eq!(c.options, 294, "MPTCP options round-tripped");

    let by_kind: Vec<(&str, usize)> = c.by_kind.iter().map(|(k, n)| (*k, *n)).collect();
    assert_eq!(
        by_kind,
        [
            ("ADD_ADDR", 8),
            ("DSS", 235),
            ("MP_CAPABLE", 24),
            ("MP_FASTCLOSE", 3),
            ("MP_JOIN", 18),
            ("MP_PRIO", 2),
            ("MP_TCPRST", 3),
            ("REMOVE_ADDR", 1),
        ],
        "options checked per kind"
    );

    let by_variant: Vec<(&str, usize)> = c.by_variant.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(
        by_variant,
        [
            ("ADD_ADDR len=10 E=1", 1),
            ("ADD_ADDR len=16 E=0", 2),
            ("ADD_ADDR len=18 E=0", 1),
            ("ADD_ADDR len=20 E=1", 1),
            ("ADD_ADDR len=28 E=0", 1),
            ("ADD_ADDR len=8 E=1", 2),
            ("DSS len=12 flags=0x03", 124),
            ("DSS len=22 flags=0x0d", 49),
            ("DSS len=22 flags=0x1d", 1),
            ("DSS len=26 flags=0x0f", 39),
            ("DSS len=26 flags=0x1f", 7),
            ("DSS len=28 flags=0x0f csum", 2),
            ("DSS len=28 flags=0x1f csum", 2),
            ("DSS len=8 flags=0x01", 11),
            ("MP_CAPABLE len=12 flags=0x01", 6),
            ("MP_CAPABLE len=20 flags=0x01", 5),
            ("MP_CAPABLE len=20 flags=0x81", 1),
            ("MP_CAPABLE len=22 flags=0x01", 4),
            ("MP_CAPABLE len=24 flags=0x81", 1),
            ("MP_CAPABLE len=4 flags=0x01", 6),
            ("MP_CAPABLE len=4 flags=0x81", 1),
            ("MP_FASTCLOSE", 3),
            ("MP_JOIN len=12", 6),
            ("MP_JOIN len=16", 6),
            ("MP_JOIN len=24", 6),
            ("MP_PRIO B=1", 2),
            ("MP_TCPRST T=0 reason=0", 3),
            ("REMOVE_ADDR len=4", 1),
        ],
        "options checked per variant"
    );
}

// ---------------------------------------------------------------------------------------------
// The traces' MACs and checksums against the crypto module
// ---------------------------------------------------------------------------------------------

/// A subflow seen in a trace: its connection's MP_CAPABLE keys and the address of the client
/// (the connection's initiator, which also initiates every join in these traces).
#[derive(Debug, Clone)]
struct Conn {
    client: String,
    client_key: Key,
    server_key: Key,
}

/// A 4-tuple in a fixed order, to find a subflow from either direction.
fn tuple(p: &Packet) -> (String, String) {
    if p.src < p.dst { (p.src.clone(), p.dst.clone()) } else { (p.dst.clone(), p.src.clone()) }
}

fn key(loc: &Loc, v: u64) -> Key {
    Key::from_wire(v).unwrap_or_else(|| panic!("{loc}: zero key"))
}

/// Which counts of MACs and checksums were verified.
#[derive(Debug, Default, PartialEq, Eq)]
struct MacCounts {
    join_tokens: usize,
    join_synack: usize,
    join_ack: usize,
    add_addr: usize,
    fastclose: usize,
    checksums: usize,
}

#[test]
fn trace_macs_and_checksums_verify_with_the_keys_of_the_trace() {
    let mut n = MacCounts::default();
    for t in load_traces() {
        let mut by_token: HashMap<u32, Conn> = HashMap::new();
        let mut by_tuple: HashMap<(String, String), Conn> = HashMap::new();
        // Join subflows in progress: the initiator's nonce, then also the responder's.
        let mut joins: HashMap<(String, String), (u32, Option<u32>)> = HashMap::new();
        for p in &t.packets {
            let loc = &p.loc;
            for o in &p.options {
                match &o.decoded {
                    Decoded::Capable { len: 20, key_s: Some(c), key_r: Some(s), .. } => {
                        let conn = Conn { client: p.src.clone(), client_key: key(loc, *c), server_key: key(loc, *s) };
                        by_token.insert(conn.server_key.token().0, conn.clone());
                        by_tuple.insert(tuple(p), conn);
                    }
                    Decoded::Capable { csum: Some(csum), key_s: Some(c), dll: Some(dll), .. } => {
                        let payload = p.payload.as_ref().unwrap_or_else(|| panic!("{loc}: no PAYLOAD line"));
                        let dsn = key(loc, *c).idsn() + 1;
                        assert_eq!(crypto::dss_checksum(dsn, 1, *dll, payload), *csum, "{loc}: MPC+data checksum");
                        n.checksums += 1;
                    }
                    Decoded::Dss { map: Some((Seq::Long(dsn), ssn, dll, Some(csum))), .. } => {
                        let payload = p.payload.as_deref().unwrap_or(&[]);
                        assert_eq!(crypto::dss_checksum(*dsn, *ssn, *dll, payload), *csum, "{loc}: DSS checksum");
                        n.checksums += 1;
                    }
                    Decoded::JoinSyn { token, nonce, .. } => {
                        let conn = by_token.get(token).unwrap_or_else(|| panic!("{loc}: token {token:08x} unknown"));
                        n.join_tokens += 1;
                        let subflow = Conn { client: p.src.clone(), ..conn.clone() };
                        by_tuple.insert(tuple(p), subflow);
                        joins.insert(tuple(p), (*nonce, None));
                    }
                    Decoded::JoinSynAck { thmac, nonce, .. } => {
                        let conn = by_tuple.get(&tuple(p)).unwrap_or_else(|| panic!("{loc}: subflow unknown"));
                        let join = joins.get_mut(&tuple(p)).unwrap_or_else(|| panic!("{loc}: SYN/ACK without SYN"));
                        join.1 = Some(*nonce);
                        let (ki, kr) = (conn.client_key, conn.server_key);
                        assert!(crypto::verify_join_synack_hmac(kr, ki, *nonce, join.0, *thmac), "{loc}: thmac");
                        n.join_synack += 1;
                    }
                    Decoded::JoinAck { hmac } => {
                        let conn = by_tuple.get(&tuple(p)).unwrap_or_else(|| panic!("{loc}: subflow unknown"));
                        let (ri, rr) = *joins.get(&tuple(p)).unwrap_or_else(|| panic!("{loc}: ACK without SYN"));
                        let rr = rr.unwrap_or_else(|| panic!("{loc}: third ACK without SYN/ACK"));
                        let (ki, kr) = (conn.client_key, conn.server_key);
                        assert!(crypto::verify_join_ack_hmac(ki, kr, ri, rr, hmac), "{loc}: join hmac");
                        n.join_ack += 1;
                    }
                    Decoded::AddAddr { len, echo: false, id, rest } => {
                        let conn = by_tuple.get(&tuple(p)).unwrap_or_else(|| panic!("{loc}: subflow unknown"));
                        let (sender, receiver) = if p.src == conn.client {
                            (conn.client_key, conn.server_key)
                        } else {
                            (conn.server_key, conn.client_key)
                        };
                        let (addr, port, hmac) = add_addr_fields(loc, *len, false, rest);
                        let hmac = hmac.expect("E=0 carries an HMAC");
                        assert!(
                            crypto::verify_add_addr_hmac(sender, receiver, *id, addr, port, hmac),
                            "{loc}: ADD_ADDR"
                        );
                        n.add_addr += 1;
                    }
                    Decoded::FastClose { val, .. } => {
                        let conn = by_tuple.get(&tuple(p)).unwrap_or_else(|| panic!("{loc}: subflow unknown"));
                        let receiver = if p.src == conn.client { conn.server_key } else { conn.client_key };
                        assert_eq!(*val, receiver.to_wire(), "{loc}: MP_FASTCLOSE carries the receiver's key");
                        n.fastclose += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    assert_eq!(
        n,
        MacCounts { join_tokens: 6, join_synack: 6, join_ack: 6, add_addr: 4, fastclose: 3, checksums: 5 },
        "MACs and checksums verified"
    );
}
