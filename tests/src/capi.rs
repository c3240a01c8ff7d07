//! Helpers of the tests of the C ABI and the `LD_PRELOAD` library (`tests/tests/capi_*.rs`,
//! `tests/tests/preload_*.rs`):
//!
//! - [`artifacts`]: `libmptcp_socket.so`, `libmptcp_preload.so` and the `mptcp` executable.
//!   `cargo test` builds the libraries its tests link (rlibs), not the cdylibs or binaries of
//!   other packages, so the first test that needs them runs `cargo build -p mptcp-socket-api -p
//!   mptcp-preload` itself, with the cargo that runs the tests, in the profile of the test
//!   executable (its directory: `target/debug` or `target/<profile>`), and waits for it. Cargo
//!   releases its lock on the build directory before it runs tests, so this does not deadlock;
//!   when everything is fresh it takes a fraction of a second.
//! - [`Serial`]: the C ABI runs one stack per process, so the tests of one executable that use
//!   it take turns, and each stops its stack when it ends (also when it fails).
//! - the kernel's side: listening sockets made inside its namespace and used from the test's
//!   thread, and an `AF_PACKET` capture to see what went on the wire.
//! - [`pattern`]: the bytes the C example sends (byte `i` is `i % 251`) and their SHA-256.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use socket2::{Domain, Protocol, Socket, Type};

use crate::interop::hex;
use crate::netns::Netns;

/// The built artifacts.
#[derive(Debug)]
pub struct Artifacts {
    /// The `mptcp` executable.
    pub mptcp: PathBuf,
    /// `libmptcp_preload.so` (next to `mptcp`, where `mptcp run` looks).
    pub preload: PathBuf,
    /// `libmptcp_socket.so`.
    pub socket_lib: PathBuf,
}

/// The workspace's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf()
}

/// Builds the artifacts once per test executable (see the module's documentation); panics with
/// cargo's output if the build fails.
pub fn artifacts() -> &'static Artifacts {
    static BUILT: OnceLock<Artifacts> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable");
        // target/<profile>/deps/<test>
        let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf();
        let profile = dir.file_name().and_then(|n| n.to_str()).expect("a profile directory").to_owned();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(workspace()).args(["build", "-p", "mptcp-socket-api", "-p", "mptcp-preload"]);
        if profile != "debug" {
            cmd.args(["--profile", &profile]);
        }
        if let Some(target_dir) = dir.parent() {
            cmd.arg("--target-dir").arg(target_dir);
        }
        let out = cmd.output().expect("run cargo");
        assert!(out.status.success(), "cargo build of the C ABI failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let a = Artifacts {
            mptcp: dir.join("mptcp"),
            preload: dir.join("libmptcp_preload.so"),
            socket_lib: dir.join("libmptcp_socket.so"),
        };
        for p in [&a.mptcp, &a.preload, &a.socket_lib] {
            assert!(p.exists(), "{} was not built", p.display());
        }
        a
    })
}

/// Compiles `examples/c/<name>.c` against the C ABI's header with gcc; the executable's path.
pub fn compile_example(name: &str) -> PathBuf {
    let root = workspace();
    let out = std::env::temp_dir().join(format!("mptcp-example-{name}-{}", std::process::id()));
    let status = Command::new("gcc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-std=gnu11", "-I"])
        .arg(root.join("socket-api/include"))
        .arg("-o")
        .arg(&out)
        .arg(root.join(format!("examples/c/{name}.c")))
        .status()
        .expect("run gcc");
    assert!(status.success(), "gcc failed on examples/c/{name}.c");
    out
}

/// Why the tests that compile C cannot run here, or `None`.
pub fn missing_gcc() -> Option<String> {
    match Command::new("gcc").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("gcc is missing".into()),
    }
}

/// Takes turns among the tests of one executable that use the C ABI's stack; stops the stack
/// (if one runs) when dropped.
#[derive(Debug)]
pub struct Serial(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Serial {
    pub fn take() -> Serial {
        static LOCK: Mutex<()> = Mutex::new(());
        Serial(LOCK.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for Serial {
    fn drop(&mut self) {
        // Fails (ENETDOWN) when no stack was started, which is fine.
        let _ = mptcp_socket::capi::mptcp_stack_stop();
    }
}

/// Starts the C ABI's stack inside `ns` with `paths` (`DEV=IP ...`) and `path_manager`.
pub fn start_stack(ns: &Netns, paths: &str, path_manager: &str) {
    let (paths, pm) =
        (std::ffi::CString::new(paths).expect("no NUL"), std::ffi::CString::new(path_manager).expect("no NUL"));
    let r = ns
        .run(|| {
            let config = mptcp_socket::capi::abi::mptcp_stack_config {
                paths: paths.as_ptr(),
                path_manager: pm.as_ptr(),
                scheduler: std::ptr::null(),
                congestion_control: std::ptr::null(),
            };
            // SAFETY: the strings live until the call returns.
            let r = unsafe { mptcp_socket::capi::mptcp_stack_start_config(&config) };
            (r, io::Error::last_os_error())
        })
        .expect("entered the stack's namespace");
    assert_eq!(r.0, 0, "mptcp_stack_start_config: {}", r.1);
}

/// A kernel socket listening on `addr` in `ns` (MPTCP if `mptcp`, else plain TCP); accept(2)
/// on it from any thread, within 20 s.
pub fn kernel_listener(ns: &Netns, addr: SocketAddr, mptcp: bool) -> Socket {
    ns.run(move || -> io::Result<Socket> {
        let protocol = if mptcp { Protocol::MPTCP } else { Protocol::TCP };
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(protocol))?;
        s.set_reuse_address(true)?;
        s.bind(&addr.into())?;
        s.listen(8)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(s)
    })
    .expect("entered the kernel's namespace")
    .expect("kernel listener")
}

/// A `struct sockaddr_in` for the C ABI's functions.
pub fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(addr.ip().octets()) },
        sin_zero: [0; 8],
    }
}

/// Captures the IPv4 packets that pass device `dev` of `ns` (both directions), from any thread.
#[derive(Debug)]
pub struct Capture(Socket);

impl Capture {
    pub fn new(ns: &Netns, dev: &str) -> Capture {
        let dev = dev.to_owned();
        let s = ns
            .run(move || -> io::Result<Socket> {
                let proto = (libc::ETH_P_IP as u16).to_be();
                let s = Socket::new(Domain::PACKET, Type::DGRAM, Some(Protocol::from(i32::from(proto))))?;
                let index = nix_if_index(&dev)?;
                // sockaddr_ll bound to the device.
                // SAFETY: zeroed sockaddr_ll is a valid value; bind reads sizeof of it.
                let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
                sll.sll_family = libc::AF_PACKET as u16;
                sll.sll_protocol = proto;
                sll.sll_ifindex = index;
                let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                // SAFETY: `sll` is a valid sockaddr_ll of `len` bytes.
                let r = unsafe { libc::bind(s.as_raw_fd(), (&raw const sll).cast(), len) };
                if r < 0 {
                    return Err(io::Error::last_os_error());
                }
                s.set_read_timeout(Some(Duration::from_millis(100)))?;
                Ok(s)
            })
            .expect("entered the namespace")
            .expect("AF_PACKET socket");
        Capture(s)
    }

    /// Waits (at most `limit`) for an IPv4 packet for which `f` holds; runs `tick` between
    /// reads (to make traffic).
    pub fn wait_for(&self, limit: Duration, mut tick: impl FnMut(), f: impl Fn(&[u8]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            tick();
            loop {
                // SAFETY: recv writes at most `buf.len()` bytes into `buf`.
                let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n < 0 {
                    break;
                }
                if f(&buf[..n as usize]) {
                    return true;
                }
            }
        }
        false
    }
}

/// The index of interface `dev` in the calling thread's namespace.
fn nix_if_index(dev: &str) -> io::Result<i32> {
    let name = std::ffi::CString::new(dev).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `name` is NUL-terminated.
    let i = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if i == 0 { Err(io::Error::last_os_error()) } else { Ok(i as i32) }
}

/// `bytes` of the C example's pattern (byte `i` is `i % 251`) and their SHA-256.
pub fn pattern(bytes: usize) -> (Vec<u8>, String) {
    let data: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    let sha = hex(&Sha256::digest(&data));
    (data, sha)
}

/// Polls `f` until it holds or `limit` passes (for kernel state that has no notification).
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` to its end, killing it after `limit`; its output (stdout, stderr) and exit code
/// (`None` if it was killed or died of a signal).
pub fn run_limited(mut cmd: Command, limit: Duration) -> (String, String, Option<i32>) {
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let (out, err) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let read = |mut r: Box<dyn io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let deadline = Instant::now() + limit;
    let code = loop {
        match child.try_wait().expect("wait") {
            Some(status) => break status.code(),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    (out.join().unwrap_or_default(), err.join().unwrap_or_default(), code)
}

/// `ip netns exec <ns> <program> <args>` as a command.
pub fn in_netns(ns: &Netns, program: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns.name()]).arg(program).args(args);
    cmd
}
