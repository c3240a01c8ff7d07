//! The C ABI against the Linux kernel's MPTCP: the extern "C" functions called directly with raw
//! buffers, as a C program would, over TUN devices (`Topology`: the kernel in one namespace, the
//! stack's devices in another). The paper's options and their errors (EOPNOTSUPP before
//! establishment and after fallback, EINVAL with the needed length for short buffers, EINVAL for
//! unknown ids, ENOPROTOOPT), MPTCP_OPEN_SUB_TUPLE writing the id back with the kernel seeing the
//! join, MPTCP_CLOSE_SUB_ID with FIN and RST, per-subflow options (IP_TOS seen on the wire,
//! TCP_CONGESTION, MPTCP_SUB_LOW_PRIO as MP_PRIO at the kernel), TCP_INFO, events, and the data
//! intact through the descriptor.
//!
//! They need root; without it each prints why and passes without running. The C ABI has one
//! stack per process, so the cases take turns (`Serial`) and each stops its stack at the end.

use std::io;
use std::mem::{offset_of, size_of};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::RawFd;
use std::time::Duration;

use libc::{c_int, socklen_t};
use mptcp_socket::capi;
use mptcp_socket::capi::abi::*;
use mptcp_tests::capi::{Capture, Serial, eventually, kernel_listener, pattern, sockaddr_in, start_stack};
use mptcp_tests::interop::{hex, mptcp_info, read_all};
use mptcp_tests::netns::{Topology, mptcp_counters, skip_reason};
use sha2::{Digest, Sha256};
use socket2::Socket;

const PORT: u16 = 5201;
const LIMIT: Duration = Duration::from_secs(10);

macro_rules! skip_unless_possible {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

fn v4(ip: std::net::IpAddr, port: u16) -> SocketAddrV4 {
    match ip {
        std::net::IpAddr::V4(a) => SocketAddrV4::new(a, port),
        std::net::IpAddr::V6(_) => panic!("IPv4 topology"),
    }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn socket(flags: c_int) -> RawFd {
    let fd = capi::mptcp_socket(libc::AF_INET, libc::SOCK_STREAM | flags, 0);
    assert!(fd >= 0, "mptcp_socket: {}", io::Error::last_os_error());
    fd
}

fn connect(fd: RawFd, to: SocketAddrV4) -> Result<(), i32> {
    let sa = sockaddr_in(to);
    // SAFETY: `sa` is a sockaddr_in of the length given.
    let r = unsafe { capi::mptcp_connect(fd, (&raw const sa).cast(), size_of::<libc::sockaddr_in>() as socklen_t) };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

/// getsockopt through the C ABI into `buf`: the length written back, or errno and the length
/// written back.
fn getopt(fd: RawFd, level: c_int, name: c_int, buf: &mut [u8]) -> Result<usize, (i32, usize)> {
    let mut len = buf.len() as socklen_t;
    // SAFETY: `buf` holds `len` bytes.
    let r = unsafe { capi::mptcp_getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    if r == 0 { Ok(len as usize) } else { Err((errno(), len as usize)) }
}

fn setopt(fd: RawFd, level: c_int, name: c_int, val: &[u8]) -> Result<(), i32> {
    // SAFETY: `val` holds `val.len()` bytes.
    let r = unsafe { capi::mptcp_setsockopt(fd, level, name, val.as_ptr().cast(), val.len() as socklen_t) };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

fn get_int(fd: RawFd, level: c_int, name: c_int) -> i32 {
    let mut b = [0u8; 4];
    getopt(fd, level, name, &mut b).expect("int option");
    i32::from_ne_bytes(b)
}

/// MPTCP_SUB_GETSOCKOPT of (`level`, `name`) on subflow `id` into `buf`.
fn sub_get(fd: RawFd, id: u8, level: c_int, name: c_int, buf: &mut [u8]) -> Result<usize, (i32, usize)> {
    let mut inner = buf.len() as u32;
    let mut sub =
        mptcp_sub_getsockopt { id, level, optname: name, optval: buf.as_mut_ptr().cast(), optlen: &mut inner };
    let mut outer = [0u8; size_of::<mptcp_sub_getsockopt>()];
    // SAFETY: copies the struct's bytes (the pointers stay valid for the call).
    outer.copy_from_slice(unsafe {
        std::slice::from_raw_parts((&raw mut sub).cast::<u8>(), size_of::<mptcp_sub_getsockopt>())
    });
    match getopt(fd, libc::IPPROTO_TCP, MPTCP_SUB_GETSOCKOPT, &mut outer) {
        Ok(_) => Ok(inner as usize),
        Err((e, _)) => Err((e, inner as usize)),
    }
}

/// MPTCP_SUB_SETSOCKOPT of (`level`, `name`) = `val` on subflow `id`.
fn sub_set(fd: RawFd, id: u8, level: c_int, name: c_int, val: &[u8]) -> Result<(), i32> {
    let sub = mptcp_sub_setsockopt {
        id,
        level,
        optname: name,
        optval: val.as_ptr().cast_mut().cast(),
        optlen: val.len() as u32,
    };
    // SAFETY: the struct's bytes.
    let bytes = unsafe { std::slice::from_raw_parts((&raw const sub).cast::<u8>(), size_of::<mptcp_sub_setsockopt>()) };
    setopt(fd, libc::IPPROTO_TCP, MPTCP_SUB_SETSOCKOPT, bytes)
}

/// The subflows: (id, status bits).
fn sub_ids(fd: RawFd) -> Vec<(u8, u8)> {
    let mut buf = [0u8; 2 + 2 * 32];
    let n = getopt(fd, libc::IPPROTO_TCP, MPTCP_GET_SUB_IDS, &mut buf).expect("MPTCP_GET_SUB_IDS");
    let count = usize::from(buf[0]);
    assert_eq!(n, 2 + 2 * count, "the length used");
    (0..count).map(|i| (buf[2 + 2 * i], buf[3 + 2 * i])).collect()
}

/// MPTCP_GET_SUB_TUPLE of an IPv4 subflow: (prio, local, remote).
fn sub_tuple(fd: RawFd, id: u8) -> (u8, SocketAddrV4, SocketAddrV4) {
    let mut buf = [0u8; 100];
    buf[0] = id;
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, MPTCP_GET_SUB_TUPLE, &mut buf), Ok(36));
    let addr = |at: usize| {
        assert_eq!(u16::from_ne_bytes([buf[at], buf[at + 1]]), libc::AF_INET as u16);
        let port = u16::from_be_bytes([buf[at + 2], buf[at + 3]]);
        SocketAddrV4::new(Ipv4Addr::new(buf[at + 4], buf[at + 5], buf[at + 6], buf[at + 7]), port)
    };
    (buf[1], addr(4), addr(20))
}

/// MPTCP_OPEN_SUB_TUPLE from `local` to `remote` (IPv4): the id written back.
fn open_sub(fd: RawFd, local: SocketAddrV4, remote: SocketAddrV4, prio: u8, optlen: usize) -> Result<u8, (i32, usize)> {
    let mut buf = [0u8; 36];
    buf[1] = prio;
    for (i, a) in [local, remote].into_iter().enumerate() {
        let sa = sockaddr_in(a);
        // SAFETY: the bytes of a sockaddr_in.
        let bytes = unsafe { std::slice::from_raw_parts((&raw const sa).cast::<u8>(), 16) };
        buf[4 + 16 * i..20 + 16 * i].copy_from_slice(bytes);
    }
    getopt(fd, libc::IPPROTO_TCP, MPTCP_OPEN_SUB_TUPLE, &mut buf[..optlen]).map(|n| {
        assert_eq!(n, 36);
        buf[0]
    })
}

/// MPTCP_CLOSE_SUB_ID with `how`, or with the 1-byte struct of old code when `how` is `None`.
fn close_sub(fd: RawFd, id: u8, how: Option<c_int>) -> Result<(), i32> {
    let mut buf = [0u8; 8];
    buf[0] = id;
    let len = match how {
        Some(h) => {
            buf[4..8].copy_from_slice(&h.to_ne_bytes());
            8
        }
        None => 1,
    };
    getopt(fd, libc::IPPROTO_TCP, MPTCP_CLOSE_SUB_ID, &mut buf[..len]).map(drop).map_err(|e| e.0)
}

/// Waits for the first event for which `f` holds (the others are skipped).
fn wait_event(fd: RawFd, f: impl Fn(&mptcp_event) -> bool) -> mptcp_event {
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no such event within {LIMIT:?}; subflows {:?}", sub_ids(fd));
        // SAFETY: an all-zero mptcp_event is a valid value.
        let mut ev: mptcp_event = unsafe { std::mem::zeroed() };
        // SAFETY: `ev` is writable.
        let r = unsafe { capi::mptcp_next_event(fd, &mut ev, left.as_millis() as c_int) };
        assert!(r >= 0, "mptcp_next_event: {}", io::Error::last_os_error());
        if r == 1 && f(&ev) {
            return ev;
        }
    }
}

fn write_all(fd: RawFd, data: &[u8], sha: &mut Sha256) {
    let mut off = 0;
    while off < data.len() {
        // SAFETY: writes from `data`.
        let n = unsafe { libc::write(fd, data[off..].as_ptr().cast(), data.len() - off) };
        assert!(n > 0, "write: {}", io::Error::last_os_error());
        off += n as usize;
    }
    sha.update(data);
}

fn close(fd: RawFd) {
    assert_eq!(capi::mptcp_close(fd), 0, "mptcp_close: {}", io::Error::last_os_error());
}

/// A case: its turn, namespaces with `paths` paths, the stack (path manager `manual`: the only
/// subflows are the ones the case opens) and a kernel listener on every address (MPTCP or TCP).
struct Case {
    topo: Topology,
    listener: Socket,
    _serial: Serial,
}

impl Case {
    fn new(paths: usize, mptcp: bool) -> Case {
        let serial = Serial::take();
        let topo = Topology::with_paths(false, paths).expect("namespaces and devices");
        topo.kernel.ip("mptcp limits set subflows 8 add_addr_accepted 8").expect("ip mptcp limits");
        let list = (0..paths).map(|i| format!("{}={}", Topology::tun(i), topo.stack_addr_on(i))).collect::<Vec<_>>();
        start_stack(&topo.stack, &list.join(" "), "manual");
        let any = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), PORT);
        let listener = kernel_listener(&topo.kernel, any, mptcp);
        Case { topo, listener, _serial: serial }
    }

    fn server(&self) -> SocketAddrV4 {
        v4(self.topo.kernel_addr, PORT)
    }

    /// A connection from the stack, and the kernel's end of it.
    fn connected(&self) -> (RawFd, Socket) {
        let fd = socket(0);
        connect(fd, self.server()).expect("connect");
        let (conn, _) = self.listener.accept().expect("the kernel accepts");
        conn.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        (fd, conn)
    }

    fn counter(&self, name: &str) -> u64 {
        mptcp_counters(&self.topo.kernel).expect("MPTcpExt").get(name).copied().unwrap_or(0)
    }
}

/// The kernel's end reading everything, on its own thread: what it read and its SHA-256.
fn kernel_reader(conn: &Socket) -> std::thread::JoinHandle<(u64, String)> {
    let mut conn = conn.try_clone().expect("dup");
    std::thread::spawn(move || {
        let (n, sha, reset) = read_all(&mut conn, &mut None).expect("the kernel reads to the end");
        assert!(!reset, "the connection was reset");
        (n, sha)
    })
}

/// Writes `bytes` more of the pattern, shuts down, and checks the kernel read exactly what was
/// written (`written` bytes hashed in `sha` before).
fn finish_intact(
    fd: RawFd,
    reader: std::thread::JoinHandle<(u64, String)>,
    mut sha: Sha256,
    written: usize,
    bytes: usize,
) {
    let (data, _) = pattern(bytes);
    write_all(fd, &data, &mut sha);
    assert_eq!(capi::mptcp_shutdown(fd, libc::SHUT_WR), 0, "shutdown: {}", io::Error::last_os_error());
    let (n, got) = reader.join().expect("the kernel's reader");
    assert_eq!(n as usize, written + bytes, "the kernel received everything");
    assert_eq!(got, hex(&sha.finalize()), "data intact");
    close(fd);
}

#[test]
fn errors_before_establishment_and_for_unreachable_destinations() {
    skip_unless_possible!();
    let case = Case::new(1, true);
    let mut buf = [0u8; 42];
    let fd = socket(0);
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, MPTCP_GET_SUB_IDS, &mut buf).map_err(|e| e.0), Err(libc::EOPNOTSUPP));
    assert_eq!(get_int(fd, libc::IPPROTO_TCP, TCP_IS_MPTCP), 0);
    assert_eq!(get_int(fd, libc::SOL_SOCKET, libc::SO_TYPE), libc::SOCK_STREAM);
    assert_eq!(get_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN), libc::AF_INET);
    assert_eq!(connect(fd, SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT)), Err(libc::ENETUNREACH));
    close(fd);
    let fd6 = capi::mptcp_socket(libc::AF_INET6, libc::SOCK_STREAM, libc::IPPROTO_MPTCP);
    assert!(fd6 >= 0);
    // SAFETY: a zeroed sockaddr_in6 is valid; then the fields set.
    let mut sa6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa6.sin6_family = libc::AF_INET6 as u16;
    sa6.sin6_port = PORT.to_be();
    sa6.sin6_addr.s6_addr = "fd00:71::1".parse::<std::net::Ipv6Addr>().unwrap().octets();
    // SAFETY: `sa6` is a sockaddr_in6 of the length given.
    let r = unsafe { capi::mptcp_connect(fd6, (&raw const sa6).cast(), size_of::<libc::sockaddr_in6>() as socklen_t) };
    assert_eq!((r, errno()), (-1, libc::ENETUNREACH), "no IPv6 path");
    close(fd6);

    // A handshake that never completes: nobody has that address on the kernel's link.
    let fd = socket(libc::SOCK_NONBLOCK);
    let silent = SocketAddrV4::new(Ipv4Addr::new(10, 71, 0, 99), PORT);
    assert_eq!(connect(fd, silent), Err(libc::EINPROGRESS));
    assert_eq!(connect(fd, silent), Err(libc::EALREADY));
    for name in [MPTCP_GET_SUB_IDS, MPTCP_GET_SUB_TUPLE, MPTCP_OPEN_SUB_TUPLE, MPTCP_CLOSE_SUB_ID] {
        let mut buf = [0u8; 64];
        assert_eq!(getopt(fd, libc::IPPROTO_TCP, name, &mut buf).map_err(|e| e.0), Err(libc::EOPNOTSUPP), "{name}");
    }
    let mut info = [0u8; 8];
    assert_eq!(sub_get(fd, 1, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info).map_err(|e| e.0), Err(libc::EOPNOTSUPP));
    close(fd);
    drop(case);
}

#[test]
fn after_fallback_the_subflow_options_are_not_supported() {
    skip_unless_possible!();
    let case = Case::new(1, false);
    let (fd, conn) = case.connected();
    let reader = kernel_reader(&conn);
    let ev = wait_event(fd, |e| e.r#type == MPTCP_EVENT_ESTABLISHED);
    assert_eq!(ev.value, 0, "established as plain TCP");
    assert_eq!(get_int(fd, libc::IPPROTO_TCP, TCP_IS_MPTCP), 0);
    for name in [MPTCP_GET_SUB_IDS, MPTCP_GET_SUB_TUPLE, MPTCP_OPEN_SUB_TUPLE, MPTCP_CLOSE_SUB_ID] {
        let mut buf = [0u8; 64];
        assert_eq!(getopt(fd, libc::IPPROTO_TCP, name, &mut buf).map_err(|e| e.0), Err(libc::EOPNOTSUPP), "{name}");
    }
    assert_eq!(sub_set(fd, 1, libc::IPPROTO_IP, libc::IP_TOS, &8i32.to_ne_bytes()), Err(libc::EOPNOTSUPP));
    // The connection-wide options still work on the TCP connection.
    setopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &0i32.to_ne_bytes()).expect("TCP_NODELAY");
    assert_eq!(get_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY), 0);
    let mut info = [0u8; size_of::<libc::tcp_info>()];
    getopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info).expect("TCP_INFO");
    assert_eq!(info[0], 1, "TCP_ESTABLISHED");
    finish_intact(fd, reader, Sha256::new(), 0, 256 * 1024);
    drop(case);
}

#[test]
fn sub_ids_tuples_options_and_tcp_info_of_one_subflow() {
    skip_unless_possible!();
    let case = Case::new(1, true);
    let (fd, conn) = case.connected();
    let reader = kernel_reader(&conn);
    assert_eq!(wait_event(fd, |e| e.r#type == MPTCP_EVENT_ESTABLISHED).value, 1, "MPTCP");
    assert_eq!(get_int(fd, libc::IPPROTO_TCP, TCP_IS_MPTCP), 1);

    // MPTCP_GET_SUB_IDS: a short buffer gets EINVAL and the length it needs.
    let mut buf = [0u8; 4];
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, MPTCP_GET_SUB_IDS, &mut buf[..3]), Err((libc::EINVAL, 4)));
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, MPTCP_GET_SUB_IDS, &mut []), Err((libc::EINVAL, 4)));
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, MPTCP_GET_SUB_IDS, &mut buf), Ok(4));
    let id = buf[2];
    assert_eq!((buf[0], buf[3]), (1, SUB_FULLY_ESTABLISHED | SUB_ATTACHED), "one subflow, every bit filled");

    // MPTCP_GET_SUB_TUPLE: the initial subflow is what getsockname/getpeername name.
    let mut tuple = [0u8; 100];
    tuple[0] = id;
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, MPTCP_GET_SUB_TUPLE, &mut tuple[..20]), Err((libc::EINVAL, 36)));
    let (prio, local, remote) = sub_tuple(fd, id);
    assert_eq!((prio, remote), (0, case.server()));
    assert_eq!(*local.ip(), Ipv4Addr::new(10, 72, 0, 2));
    let mut name: libc::sockaddr_in = sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    let mut len = size_of::<libc::sockaddr_in>() as socklen_t;
    // SAFETY: `name` has `len` bytes.
    assert_eq!(unsafe { capi::mptcp_getsockname(fd, (&raw mut name).cast(), &mut len) }, 0);
    assert_eq!(u16::from_be(name.sin_port), local.port());
    tuple[0] = 99;
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, MPTCP_GET_SUB_TUPLE, &mut tuple), Err((libc::EINVAL, 100)), "unknown id");
    assert_eq!(close_sub(fd, 99, Some(MPTCP_CLOSE_FIN)), Err(libc::EINVAL), "unknown id");

    // MPTCP_SUB_GETSOCKOPT: the outer length must be exact; unknown ids and options.
    let mut outer = [0u8; size_of::<mptcp_sub_getsockopt>() - 1];
    let needed = size_of::<mptcp_sub_getsockopt>();
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, MPTCP_SUB_GETSOCKOPT, &mut outer), Err((libc::EINVAL, needed)));
    let mut int = [0u8; 4];
    assert_eq!(sub_get(fd, 99, libc::IPPROTO_TCP, libc::TCP_NODELAY, &mut int).map_err(|e| e.0), Err(libc::EINVAL));
    assert_eq!(
        sub_get(fd, id, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, &mut int).map_err(|e| e.0),
        Err(libc::ENOPROTOOPT)
    );
    assert_eq!(sub_get(fd, id, libc::IPPROTO_TCP, libc::TCP_NODELAY, &mut int[..2]), Err((libc::EINVAL, 4)));
    // On the connection: an option with no effect here is accepted and read back as set; one
    // this stack does not offer is ENOPROTOOPT.
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, &mut int), Ok(4));
    assert_eq!(int, [0; 4], "not set yet");
    setopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, &30i32.to_ne_bytes()).expect("TCP_KEEPIDLE");
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, &mut int), Ok(4));
    assert_eq!(i32::from_ne_bytes(int), 30);
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, libc::TCP_REPAIR, &mut int).map_err(|e| e.0), Err(libc::ENOPROTOOPT));
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, 70, &mut int).map_err(|e| e.0), Err(libc::ENOPROTOOPT));

    // TCP_CONGESTION on the subflow, then on the connection.
    sub_set(fd, id, libc::IPPROTO_TCP, libc::TCP_CONGESTION, b"lia").expect("lia");
    let mut ca = [0u8; 16];
    assert_eq!(sub_get(fd, id, libc::IPPROTO_TCP, libc::TCP_CONGESTION, &mut ca), Ok(16));
    assert_eq!(&ca[..4], b"lia\0");
    assert_eq!(sub_set(fd, id, libc::IPPROTO_TCP, libc::TCP_CONGESTION, b"bbr"), Err(libc::ENOENT));
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, libc::TCP_CONGESTION, &mut ca), Ok(16));
    assert_eq!(&ca[..6], b"cubic\0", "the connection's own");
    setopt(fd, libc::IPPROTO_TCP, libc::TCP_CONGESTION, b"olia").expect("olia on the connection");
    assert_eq!(sub_get(fd, id, libc::IPPROTO_TCP, libc::TCP_CONGESTION, &mut ca), Ok(16));
    assert_eq!(&ca[..5], b"olia\0", "applied to the subflow");
    setopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &0i32.to_ne_bytes()).expect("TCP_NODELAY");
    assert_eq!(sub_get(fd, id, libc::IPPROTO_TCP, libc::TCP_NODELAY, &mut int), Ok(4));
    assert_eq!(i32::from_ne_bytes(int), 0, "applied to the subflow");
    setopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &1i32.to_ne_bytes()).expect("TCP_NODELAY");

    // Data, read by the kernel; then TCP_INFO of the subflow and of the connection.
    let mut sha = Sha256::new();
    let first = 256 * 1024;
    let (data, _) = pattern(first);
    write_all(fd, &data, &mut sha);
    let info_of = |buf: &[u8], at: usize, n: usize| -> u64 {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&buf[at..at + n]);
        u64::from_ne_bytes(b)
    };
    let mut info = [0u8; size_of::<libc::tcp_info>()];
    let acked = offset_of!(libc::tcp_info, tcpi_bytes_acked);
    assert!(
        eventually(LIMIT, || {
            sub_get(fd, id, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info) == Ok(info.len())
                && info_of(&info, acked, 8) >= first as u64
        }),
        "the subflow's TCP_INFO counts the bytes acknowledged"
    );
    assert_eq!(info[0], 1, "TCP_ESTABLISHED");
    let rtt = info_of(&info, offset_of!(libc::tcp_info, tcpi_rtt), 4);
    let mss = info_of(&info, offset_of!(libc::tcp_info, tcpi_snd_mss), 4);
    let cwnd = info_of(&info, offset_of!(libc::tcp_info, tcpi_snd_cwnd), 4);
    let sent = info_of(&info, offset_of!(libc::tcp_info, tcpi_bytes_sent), 8);
    let rto = info_of(&info, offset_of!(libc::tcp_info, tcpi_rto), 4);
    assert!(rtt > 0 && rtt < 1_000_000, "rtt {rtt} us");
    assert!((500..=1460).contains(&mss), "mss {mss}");
    assert!(cwnd >= 1, "cwnd {cwnd}");
    assert!(sent >= first as u64, "bytes sent {sent}");
    assert!(rto >= 200_000, "rto {rto} us (200 ms floor)");
    assert_eq!(sub_get(fd, id, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info[..8]), Ok(8), "as much as fits");
    let mut conn_info = [0u8; size_of::<libc::tcp_info>()];
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut conn_info), Ok(conn_info.len()));
    assert_eq!(conn_info[0], 1);
    assert!(info_of(&conn_info, acked, 8) >= first as u64);

    // IP_TOS on the subflow: read back, and seen on the wire at the kernel's end.
    sub_set(fd, id, libc::IPPROTO_IP, libc::IP_TOS, &0x28i32.to_ne_bytes()).expect("IP_TOS");
    assert_eq!(sub_get(fd, id, libc::IPPROTO_IP, libc::IP_TOS, &mut int), Ok(4));
    assert_eq!(i32::from_ne_bytes(int), 0x28);
    let capture = Capture::new(&case.topo.kernel, &Topology::kernel_dev(0));
    let from = case.topo.stack_addr_on(0);
    let chunk = [7u8; 1000];
    let mut written = first;
    let seen = capture.wait_for(
        LIMIT,
        || {
            write_all(fd, &chunk, &mut sha);
            written += chunk.len();
        },
        |p| p.len() >= 20 && p[9] == 6 && p[12..16] == v4(from, 0).ip().octets() && p[1] & 0xfc == 0x28,
    );
    assert!(seen, "a segment of the subflow with TOS 0x28 reached the kernel");
    finish_intact(fd, reader, sha, written, 1 << 20);
    drop(case);
}

#[test]
fn open_writes_the_id_back_and_close_with_fin_and_rst() {
    skip_unless_possible!();
    let case = Case::new(2, true);
    let (fd, conn) = case.connected();
    let reader = kernel_reader(&conn);
    assert_eq!(wait_event(fd, |e| e.r#type == MPTCP_EVENT_ESTABLISHED).value, 1, "MPTCP");
    let initial = sub_ids(fd)[0].0;
    assert_eq!(initial, 1, "the initial subflow is 1, as in the paper's kernel");
    let local2 = v4(case.topo.stack_addr_on(1), 0);
    let remote2 = v4(case.topo.kernel_addr_on(1), 0);
    let established = |id: u8| {
        wait_event(fd, move |e| e.r#type == MPTCP_EVENT_SUBFLOW_ESTABLISHED && e.subflow_id == u32::from(id));
    };
    let closed = |id: u8| {
        wait_event(fd, move |e| e.r#type == MPTCP_EVENT_SUBFLOW_CLOSED && e.subflow_id == u32::from(id)).reason
    };
    let kernel_subflows = |n: u8| eventually(LIMIT, || mptcp_info(&conn).is_some_and(|i| i.subflows == n));

    // Errors first: a short buffer, a family that is not IP, an address that is no path.
    assert_eq!(open_sub(fd, local2, remote2, 0, 35), Err((libc::EINVAL, 36)));
    let mut bad = [0u8; 36];
    bad[4..6].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
    assert_eq!(getopt(fd, libc::IPPROTO_TCP, MPTCP_OPEN_SUB_TUPLE, &mut bad).map_err(|e| e.0), Err(libc::EAFNOSUPPORT));
    let stranger = SocketAddrV4::new(Ipv4Addr::new(10, 72, 9, 2), 0);
    assert_eq!(open_sub(fd, stranger, remote2, 0, 36).map_err(|e| e.0), Err(libc::EADDRNOTAVAIL));

    let mut sha = Sha256::new();
    let (first, _) = pattern(64 * 1024);
    write_all(fd, &first, &mut sha);
    let (chunk, mut written) = ([5u8; 1000], first.len());

    // Open: the id comes back, the kernel takes the join.
    let id = open_sub(fd, local2, remote2, 0, 36).expect("MPTCP_OPEN_SUB_TUPLE");
    assert!(id != 0 && id != initial, "a new id was written back: {id}");
    established(id);
    let (prio, local, remote) = sub_tuple(fd, id);
    assert_eq!((prio, *local.ip(), remote), (0, *local2.ip(), SocketAddrV4::new(*remote2.ip(), PORT)));
    let subs = sub_ids(fd);
    assert!(subs.contains(&(id, SUB_SLAVE_SK | SUB_FULLY_ESTABLISHED | SUB_ATTACHED)), "{subs:?}");
    assert!(kernel_subflows(1), "the kernel's MPTCP_INFO counts the join: {:?}", mptcp_info(&conn));
    assert!(case.counter("MPJoinSynRx") >= 1 && case.counter("MPJoinAckRx") >= 1);

    // MPTCP_SUB_LOW_PRIO: backup, told to the kernel with MP_PRIO.
    sub_set(fd, id, libc::IPPROTO_TCP, MPTCP_SUB_LOW_PRIO, &1i32.to_ne_bytes()).expect("MPTCP_SUB_LOW_PRIO");
    assert!(sub_ids(fd).iter().any(|&(i, bits)| i == id && bits & SUB_LOW_PRIO != 0));
    assert!(eventually(LIMIT, || case.counter("MPPrioRx") >= 1), "the kernel received MP_PRIO");

    // Close with FIN: the subflow leaves the list and the kernel drops it (its
    // MPTCP_EVENT_SUBFLOW_CLOSED comes when TIME-WAIT ends).
    close_sub(fd, id, Some(MPTCP_CLOSE_FIN)).expect("MPTCP_CLOSE_SUB_ID FIN");
    assert!(eventually(LIMIT, || sub_ids(fd).iter().all(|s| s.0 != id)), "subflow {id} closed");
    assert!(kernel_subflows(0), "the kernel dropped the subflow");

    // Close with RST, and with the 1-byte struct of old code (RST too).
    for how in [Some(MPTCP_CLOSE_RST), None] {
        let next = open_sub(fd, local2, remote2, 0, 36).expect("MPTCP_OPEN_SUB_TUPLE");
        assert!(next > id, "ids are not reused");
        established(next);
        assert!(kernel_subflows(1));
        close_sub(fd, next, how).expect("MPTCP_CLOSE_SUB_ID RST");
        // The stack reports the ended subflow when it next handles a segment or a timer: data
        // makes one.
        write_all(fd, &chunk, &mut sha);
        written += chunk.len();
        assert_eq!(closed(next), 3, "MPTCP_SUBFLOW_END_ABORTED");
        assert!(kernel_subflows(0), "the kernel dropped the reset subflow");
    }

    // A backup subflow (prio 1).
    let backup = open_sub(fd, local2, remote2, 1, 36).expect("backup subflow");
    established(backup);
    assert_eq!(sub_tuple(fd, backup).0, 1, "prio reads back as backup");
    finish_intact(fd, reader, sha, written, 1 << 20);
    drop(case);
}
