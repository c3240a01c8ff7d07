//! The C ABI's getsockopt/setsockopt buffers (`mptcp_socket::capi::fuzzing`): arbitrary
//! level/name/buffer/optlen combinations on an in-memory MPTCP connection, through the same
//! parsing and encoding code as `mptcp_getsockopt` / `mptcp_setsockopt`.
//!
//! Input: byte 0 = the first subflow id (0–255: ids past 254 do not fit the paper's 8 bits),
//! byte 1 = number of subflows (low 3 bits) and IPv6 (bit 3), then one state byte per subflow;
//! then calls, each 5 header bytes — op (bit 0 set, bit 1 MPTCP_SUB_GET/SETSOCKOPT with an
//! outer struct built from the next bytes), level, name, outer length, inner length — followed
//! by the buffer bytes (zero-filled past the end of the input).
//!
//! Checks: nothing panics; every failure is an errno the header documents; getsockopt's
//! `*optlen` is at most the buffer on success, and on failure either unchanged or the length
//! needed, which is larger than the buffer and, for the options that only read, enough: the
//! same call with that many bytes succeeds and uses exactly them (the outer struct of
//! MPTCP_SUB_GETSOCKOPT must be exactly its size). The bytes written are right:
//! MPTCP_GET_SUB_IDS lists the subflows with their flags, MPTCP_GET_SUB_TUPLE gives the
//! subflow's endpoints, MPTCP_OPEN_SUB_TUPLE / MPTCP_CLOSE_SUB_ID add / remove the subflow
//! named, TCP_INFO is the prefix of `struct tcp_info`, and a value set on a subflow reads
//! back as the same setting.
#![no_main]

use std::mem::size_of;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

use libc::c_int;
use libfuzzer_sys::fuzz_target;
use mptcp_socket::capi::abi::{
    MPTCP_CLOSE_SUB_ID, MPTCP_GET_SUB_IDS, MPTCP_GET_SUB_TUPLE, MPTCP_OPEN_SUB_TUPLE, MPTCP_SUB_GETSOCKOPT,
    MPTCP_SUB_LOW_PRIO, MPTCP_SUB_SETSOCKOPT, mptcp_sub_getsockopt, mptcp_sub_setsockopt,
};
use mptcp_socket::capi::fuzzing::{Connection, Outcome, getsockopt, setsockopt};
use mptcp_socket::{Algorithm, SubflowId, SubflowSnapshot};

const LEVELS: [c_int; 4] = [libc::IPPROTO_TCP, libc::IPPROTO_IP, libc::IPPROTO_IPV6, libc::SOL_SOCKET];
const ERRNOS: [c_int; 7] = [
    libc::EINVAL,
    libc::ENOPROTOOPT,
    libc::EOPNOTSUPP,
    libc::EOVERFLOW,
    libc::EAFNOSUPPORT,
    libc::ENOENT,
    libc::ENOMEM,
];

/// Takes `n` bytes (zero-filled past the end).
fn take(data: &mut &[u8], n: usize) -> Vec<u8> {
    let k = n.min(data.len());
    let mut v = data[..k].to_vec();
    *data = &data[k..];
    v.resize(n, 0);
    v
}

fn level(b: u8) -> c_int {
    if b & 0x80 != 0 { c_int::from(b & 0x7f) } else { LEVELS[usize::from(b) % LEVELS.len()] }
}

/// The outer struct of MPTCP_SUB_GET/SETSOCKOPT, the pointer fields left zero.
fn sub_struct(id: u8, level: c_int, name: c_int, len: usize) -> Vec<u8> {
    let mut v = vec![0; len.max(12)];
    v[0] = id;
    v[4..8].copy_from_slice(&level.to_ne_bytes());
    v[8..12].copy_from_slice(&name.to_ne_bytes());
    v.truncate(len);
    v
}

fn settings(s: &SubflowSnapshot) -> (bool, u16, u8, bool, Algorithm) {
    (s.nodelay, s.mss, s.traffic_class, s.backup, s.congestion_control)
}

fn check_errno(o: &Result<(), c_int>) {
    if let Err(e) = o {
        assert!(ERRNOS.contains(e), "errno {e}");
    }
}

/// A socket address the C ABI wrote at `at`, by hand.
fn sockaddr(buf: &[u8], at: usize, v6: bool) -> SocketAddr {
    let family = c_int::from(u16::from_ne_bytes([buf[at], buf[at + 1]]));
    let port = u16::from_be_bytes([buf[at + 2], buf[at + 3]]);
    if v6 {
        assert_eq!(family, libc::AF_INET6);
        let ip: [u8; 16] = buf[at + 8..at + 24].try_into().unwrap();
        let flow = u32::from_be_bytes(buf[at + 4..at + 8].try_into().unwrap());
        let scope = u32::from_ne_bytes(buf[at + 24..at + 28].try_into().unwrap());
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope))
    } else {
        assert_eq!(family, libc::AF_INET);
        let ip: [u8; 4] = buf[at + 4..at + 8].try_into().unwrap();
        SocketAddr::new(IpAddr::from(ip), port)
    }
}

/// Does the option only read (so that repeating it must give the same answer)?
fn read_only(level: c_int, name: c_int) -> bool {
    !(level == libc::IPPROTO_TCP && matches!(name, MPTCP_CLOSE_SUB_ID | MPTCP_OPEN_SUB_TUPLE))
}

fn get(conn: &Connection, level: c_int, name: c_int, mut buf: Vec<u8>, mut inner: Vec<u8>) {
    let before = conn.clone();
    let given = buf.len();
    let o: Outcome = getsockopt(conn, level, name, &mut buf, &mut inner);
    check_errno(&o.result);
    let sub = level == libc::IPPROTO_TCP && name == MPTCP_SUB_GETSOCKOPT;
    if sub && o.inner_optlen.is_none() {
        // The outer struct: exactly its size, else EINVAL with that size.
        let size = size_of::<mptcp_sub_getsockopt>();
        assert_eq!((o.result, o.optlen), if given == size { (Ok(()), size) } else { (Err(libc::EINVAL), size) });
        return;
    }
    let (len, got, what) = match o.inner_optlen {
        Some(n) => (inner.len(), n, "inner"),
        None => (given, o.optlen, "outer"),
    };
    match o.result {
        Ok(()) => assert!(got <= len, "{what} optlen {got} > {len}"),
        Err(e) if got != len => {
            assert_eq!(e, libc::EINVAL, "a length needed comes with EINVAL");
            assert!(got > len, "{what}: needs {got}, had {len}");
            if read_only(level, name) {
                // The length needed is enough.
                let (mut buf2, mut inner2) = (buf.clone(), inner.clone());
                if sub {
                    inner2.resize(got, 0)
                } else {
                    buf2.resize(got, 0)
                }
                let again = getsockopt(&before, level, name, &mut buf2, &mut inner2);
                let used = if sub { again.inner_optlen } else { Some(again.optlen) }.expect("got that far");
                match again.result {
                    Ok(()) => assert_eq!(used, got, "{what}: retry with the {got} bytes needed"),
                    // Only an empty buffer had no subflow id to check: with one, it may be wrong.
                    Err(e) if used == got => assert!(given == 0 && !sub, "{what}: retry with {got} bytes: errno {e}"),
                    Err(_) => assert!(used > got, "{what}: needed {got}, then {used}"),
                }
            }
        }
        Err(_) => {}
    }
    if o.result.is_err() || level != libc::IPPROTO_TCP || sub {
        return;
    }
    match name {
        MPTCP_GET_SUB_IDS => {
            let all = before.statuses();
            assert_eq!(o.optlen, 2 + 2 * all.len());
            assert_eq!(usize::from(buf[0]), all.len());
            for (i, s) in all.iter().enumerate() {
                assert_eq!(SubflowId::from(buf[2 + 2 * i]), s.id + 1);
                let bits = [s.joined, s.fully_established, s.attached, s.backup, s.pre_established];
                let flags = bits.iter().enumerate().fold(0u8, |acc, (b, on)| acc | (u8::from(*on) << b));
                assert_eq!(buf[3 + 2 * i], flags, "{s:?}");
            }
        }
        MPTCP_GET_SUB_TUPLE => {
            let s = before.snapshot(SubflowId::from(buf[0]) - 1).expect("a subflow that exists");
            let v6 = o.optlen == 60;
            assert_eq!(o.optlen, if s.local.is_ipv4() { 36 } else { 60 });
            assert_eq!(buf[1], u8::from(s.backup));
            assert_eq!(sockaddr(&buf, 4, v6), s.local);
            assert_eq!(sockaddr(&buf, if v6 { 32 } else { 20 }, v6), s.remote);
        }
        MPTCP_OPEN_SUB_TUPLE => {
            let id = SubflowId::from(buf[0]) - 1;
            assert!(before.snapshot(id).is_none() && conn.snapshot(id).is_some(), "opened subflow {id}");
        }
        MPTCP_CLOSE_SUB_ID => {
            let id = SubflowId::from(buf[0]) - 1;
            assert!(before.snapshot(id).is_some() && conn.snapshot(id).is_none(), "closed subflow {id}");
        }
        libc::TCP_INFO => assert_eq!(o.optlen, given.min(size_of::<libc::tcp_info>())),
        _ => {}
    }
}

fn set(conn: &Connection, level: c_int, name: c_int, outer: Vec<u8>, inner: Vec<u8>) {
    let r = setsockopt(conn, level, name, &outer, &inner);
    check_errno(&r);
    if r.is_err() || (level, name) != (libc::IPPROTO_TCP, MPTCP_SUB_SETSOCKOPT) {
        return;
    }
    // A value set on a subflow reads back as the same setting: set what getsockopt gives.
    let id = SubflowId::from(outer[0]) - 1;
    let set_to = settings(&conn.snapshot(id).expect("the subflow set"));
    let (ilevel, iname) =
        (c_int::from_ne_bytes(outer[4..8].try_into().unwrap()), c_int::from_ne_bytes(outer[8..12].try_into().unwrap()));
    let mut read = vec![0u8; 16];
    let mut g = sub_struct(outer[0], ilevel, iname, size_of::<mptcp_sub_getsockopt>());
    let o = getsockopt(conn, libc::IPPROTO_TCP, MPTCP_SUB_GETSOCKOPT, &mut g, &mut read);
    assert_eq!(o.result, Ok(()), "get after set");
    read.truncate(o.inner_optlen.expect("inner"));
    let copy = conn.clone();
    assert_eq!(setsockopt(&copy, libc::IPPROTO_TCP, MPTCP_SUB_SETSOCKOPT, &outer, &read), Ok(()), "set {read:?}");
    assert_eq!(settings(&copy.snapshot(id).expect("still there")), set_to);
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let head = take(&mut data, 2);
    let conn = Connection::new(SubflowId::from(head[0]));
    for bits in take(&mut data, usize::from(head[1] & 7)) {
        conn.add(head[1] & 8 != 0, bits);
    }
    for _ in 0..16 {
        if data.is_empty() {
            break;
        }
        let h = take(&mut data, 5);
        let (op, lvl, name, outer_len, inner_len) =
            (h[0], level(h[1]), c_int::from(h[2]), usize::from(h[3]), usize::from(h[4]));
        if op & 2 != 0 {
            // MPTCP_SUB_GET/SETSOCKOPT with a well-formed outer struct (the id in the next byte).
            let id = take(&mut data, 1)[0];
            let iname = if h[2] & 0x80 != 0 { MPTCP_SUB_LOW_PRIO } else { name };
            let inner = take(&mut data, inner_len % 48);
            if op & 1 == 0 {
                let size = size_of::<mptcp_sub_getsockopt>();
                let outer = sub_struct(id, lvl, iname, if op & 4 != 0 { outer_len % 40 } else { size });
                get(&conn, libc::IPPROTO_TCP, MPTCP_SUB_GETSOCKOPT, outer, inner);
            } else {
                let size = size_of::<mptcp_sub_setsockopt>();
                let outer = sub_struct(id, lvl, iname, if op & 4 != 0 { outer_len % 40 } else { size });
                set(&conn, libc::IPPROTO_TCP, MPTCP_SUB_SETSOCKOPT, outer, inner);
            }
        } else {
            let outer = take(&mut data, outer_len % 96);
            let inner = take(&mut data, inner_len % 48);
            if op & 1 == 0 { get(&conn, lvl, name, outer, inner) } else { set(&conn, lvl, name, outer, inner) }
        }
    }
});
