//! The exported C functions (`socket-api/include/mptcp_socket.h`). Each turns the caller's
//! pointers into slices (the only unsafe step: the C contract of the call it mirrors says how
//! many bytes each points to), runs the safe code under `catch_unwind` so that no panic crosses
//! into C, and reports failure as -1 with `errno`.

use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use libc::{c_char, c_int, c_void, sockaddr, socklen_t};

use super::abi::{mptcp_event, mptcp_stack_config, mptcp_sub_getsockopt, mptcp_sub_setsockopt};
use super::addr::{self, Family};
use super::config::{self, StackSettings};
use super::event;
use super::fail::{Fail, Res, optlen_back};
use super::socket;
use super::sockopt;
use super::sys;

/// Runs `f`: its value, or -1 with `errno` set (EIO if it panicked).
fn call(f: impl FnOnce() -> Res<c_int>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(fail)) => {
            sys::set_errno(fail.errno);
            -1
        }
        Err(_) => {
            sys::set_errno(libc::EIO);
            -1
        }
    }
}

/// `len` bytes at `ptr` for reading; EFAULT for a null pointer with a length.
///
/// # Safety
/// `ptr` must point to `len` readable bytes (or be null).
unsafe fn input<'a>(ptr: *const c_void, len: usize) -> Res<&'a [u8]> {
    match (ptr.is_null(), len) {
        (_, 0) => Ok(&[]),
        (true, _) => Err(Fail::FAULT),
        // SAFETY: the caller's contract.
        (false, _) => Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }),
    }
}

/// `len` bytes at `ptr` for writing; EFAULT for a null pointer with a length.
///
/// # Safety
/// `ptr` must point to `len` writable bytes (or be null).
unsafe fn output<'a>(ptr: *mut c_void, len: usize) -> Res<&'a mut [u8]> {
    match (ptr.is_null(), len) {
        (_, 0) => Ok(&mut []),
        (true, _) => Err(Fail::FAULT),
        // SAFETY: the caller's contract.
        (false, _) => Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) }),
    }
}

/// The getsockopt pattern: `*len` bytes at `val`, `f` fills them, and `*len` becomes the length
/// used — or, when the buffer was too short, the length needed.
///
/// # Safety
/// `len` must be null or point to a writable `socklen_t`, and `val` to `*len` writable bytes.
unsafe fn with_buffer(val: *mut c_void, len: *mut socklen_t, f: impl FnOnce(&mut [u8]) -> Res<usize>) -> Res<c_int> {
    if len.is_null() {
        return Err(Fail::FAULT);
    }
    // SAFETY: `len` is valid (the caller's contract).
    let given = unsafe { *len } as usize;
    // SAFETY: `val` holds `given` bytes (the caller's contract).
    let buf = unsafe { output(val, given) }?;
    let r = f(buf);
    if let Some(n) = optlen_back(&r) {
        // SAFETY: as above.
        unsafe { *len = socklen_t::try_from(n).unwrap_or(socklen_t::MAX) };
    }
    r.map(|_| 0)
}

/// Writes a socket address like getsockname(2): as much as fits, `*len` set to its full length.
///
/// # Safety
/// `out`/`len` as for getsockname(2); both may be null together (accept(2) allows it).
unsafe fn put_name(out: *mut sockaddr, len: *mut socklen_t, name: std::net::SocketAddr, family: Family) -> Res<()> {
    if len.is_null() {
        return if out.is_null() { Ok(()) } else { Err(Fail::FAULT) };
    }
    let (bytes, n) = addr::encode(name, family);
    // SAFETY: the caller's contract.
    unsafe {
        let buf = output(out.cast(), *len as usize)?;
        let copy = buf.len().min(n);
        buf[..copy].copy_from_slice(&bytes[..copy]);
        *len = n as socklen_t;
    }
    Ok(())
}

/// A C string argument; EINVAL if it is not UTF-8, `None` if null.
///
/// # Safety
/// `s` must be null or a NUL-terminated string.
unsafe fn text<'a>(s: *const c_char) -> Res<Option<&'a str>> {
    if s.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract.
    let c = unsafe { CStr::from_ptr(s) };
    c.to_str().map(Some).map_err(|_| Fail::INVAL)
}

/// # Safety
/// `paths` must be a NUL-terminated string (or null: EINVAL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_stack_start(paths: *const c_char) -> c_int {
    let config = mptcp_stack_config {
        paths,
        path_manager: std::ptr::null(),
        scheduler: std::ptr::null(),
        congestion_control: std::ptr::null(),
    };
    // SAFETY: `config` is valid and its strings are the caller's.
    unsafe { mptcp_stack_start_config(&config) }
}

/// # Safety
/// `config` must point to a `struct mptcp_stack_config` whose strings are NUL-terminated or null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_stack_start_config(config: *const mptcp_stack_config) -> c_int {
    call(|| {
        // SAFETY: the caller's contract.
        let c = unsafe { config.as_ref() }.ok_or(Fail::FAULT)?;
        // SAFETY: the caller's contract.
        let (paths, pm, sched, cc) =
            unsafe { (text(c.paths)?, text(c.path_manager)?, text(c.scheduler)?, text(c.congestion_control)?) };
        let settings = StackSettings::parse(paths.ok_or(Fail::INVAL)?, pm, sched, cc).map_err(|_| Fail::INVAL)?;
        config::start(&settings)?;
        Ok(0)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn mptcp_stack_stop() -> c_int {
    call(|| {
        config::stop()?;
        Ok(0)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn mptcp_socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    call(|| socket::socket(domain, ty, protocol))
}

/// # Safety
/// As bind(2): `addr` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    call(|| {
        // SAFETY: the caller's contract.
        socket::bind(fd, unsafe { input(addr.cast(), len as usize) }?)?;
        Ok(0)
    })
}

/// # Safety
/// As connect(2): `addr` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    call(|| {
        // SAFETY: the caller's contract.
        socket::connect(fd, unsafe { input(addr.cast(), len as usize) }?)?;
        Ok(0)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn mptcp_listen(fd: c_int, backlog: c_int) -> c_int {
    call(|| {
        socket::listen(fd, backlog)?;
        Ok(0)
    })
}

/// # Safety
/// As accept(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's contract.
    unsafe { mptcp_accept4(fd, addr, len, 0) }
}

/// # Safety
/// As accept4(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    call(|| {
        let (newfd, peer, family) = socket::accept(fd, flags)?;
        // SAFETY: the caller's contract.
        if let Err(e) = unsafe { put_name(addr, len, peer, family) } {
            socket::close(newfd)?;
            return Err(e);
        }
        Ok(newfd)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn mptcp_shutdown(fd: c_int, how: c_int) -> c_int {
    call(|| {
        socket::shutdown(fd, how)?;
        Ok(0)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn mptcp_close(fd: c_int) -> c_int {
    call(|| {
        socket::close(fd)?;
        Ok(0)
    })
}

/// # Safety
/// As getsockopt(2); for MPTCP_SUB_GETSOCKOPT also the inner `optval`/`optlen` pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    call(|| {
        if !sockopt::is_sub_getsockopt(level, name) {
            // SAFETY: the caller's contract.
            return unsafe { with_buffer(val, len, |buf| sockopt::get(fd, level, name, buf)) };
        }
        // SAFETY: the caller's contract.
        let outer = unsafe { with_buffer(val, len, |buf| sockopt::exact::<mptcp_sub_getsockopt>(buf)) };
        outer?;
        // SAFETY: `val` holds a whole `struct mptcp_sub_getsockopt` (checked just above).
        let sub = unsafe { std::ptr::read_unaligned(val.cast::<mptcp_sub_getsockopt>()) };
        // SAFETY: the inner pointers follow getsockopt(2)'s contract (the caller's).
        unsafe {
            with_buffer(sub.optval.cast(), sub.optlen.cast(), |buf| {
                sockopt::sub_getsockopt(fd, sub.id, sub.level, sub.optname, buf)
            })
        }
    })
}

/// # Safety
/// As setsockopt(2); for MPTCP_SUB_SETSOCKOPT also the inner `optval` pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    call(|| {
        // SAFETY: the caller's contract.
        let bytes = unsafe { input(val, len as usize) }?;
        if !sockopt::is_sub_setsockopt(level, name) {
            sockopt::set(fd, level, name, bytes)?;
            return Ok(0);
        }
        sockopt::exact::<mptcp_sub_setsockopt>(bytes)?;
        // SAFETY: `val` holds a whole `struct mptcp_sub_setsockopt` (checked just above).
        let sub = unsafe { std::ptr::read_unaligned(val.cast::<mptcp_sub_setsockopt>()) };
        // SAFETY: the inner pointer follows setsockopt(2)'s contract (the caller's).
        let inner = unsafe { input(sub.optval.cast_const().cast(), sub.optlen as usize) }?;
        sockopt::sub_setsockopt(fd, sub.id, sub.level, sub.optname, inner)?;
        Ok(0)
    })
}

/// # Safety
/// As getsockname(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    call(|| {
        let (name, family) = socket::local_name(fd)?;
        // SAFETY: the caller's contract.
        unsafe { put_name(addr, len, name, family) }?;
        Ok(0)
    })
}

/// # Safety
/// As getpeername(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    call(|| {
        let (name, family) = socket::peer_name(fd)?;
        // SAFETY: the caller's contract.
        unsafe { put_name(addr, len, name, family) }?;
        Ok(0)
    })
}

/// # Safety
/// `ev` must point to a writable `struct mptcp_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mptcp_next_event(fd: c_int, ev: *mut mptcp_event, timeout_ms: c_int) -> c_int {
    call(|| {
        if ev.is_null() {
            return Err(Fail::FAULT);
        }
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        loop {
            let Some(e) = socket::next_event(fd, timeout)? else { return Ok(0) };
            if let Some(c) = event::to_c(&e) {
                // SAFETY: `ev` is valid for writes (the caller's contract).
                unsafe { ev.write_unaligned(c) };
                return Ok(1);
            }
        }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn mptcp_is_socket(fd: c_int) -> c_int {
    call(|| Ok(socket::tracks(fd).into()))
}
