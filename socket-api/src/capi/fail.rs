//! How a C ABI call fails: an errno, and for a buffer too short the length it needs (written to
//! `*optlen` before the call returns -1, so the caller can retry with enough room).

use std::io;

use libc::c_int;

/// A failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fail {
    pub(crate) errno: c_int,
    /// The buffer length the call needs, when the buffer was too short.
    pub(crate) needed: Option<usize>,
}

impl Fail {
    pub(crate) const INVAL: Fail = Fail::errno(libc::EINVAL);
    pub(crate) const NOPROTOOPT: Fail = Fail::errno(libc::ENOPROTOOPT);
    pub(crate) const BADF: Fail = Fail::errno(libc::EBADF);
    pub(crate) const FAULT: Fail = Fail::errno(libc::EFAULT);

    pub(crate) const fn errno(errno: c_int) -> Fail {
        Fail { errno, needed: None }
    }

    /// EINVAL: the buffer needs `needed` bytes.
    pub(crate) const fn short(needed: usize) -> Fail {
        Fail { errno: libc::EINVAL, needed: Some(needed) }
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::errno(crate::error::errno(&e))
    }
}

/// The result of a call.
pub(crate) type Res<T> = Result<T, Fail>;

/// What getsockopt writes back to `*optlen` after `r`: the length used, or the length a buffer
/// too short needs; `None`: it stays as the caller set it.
pub(crate) fn optlen_back(r: &Res<usize>) -> Option<usize> {
    match r {
        Ok(n) => Some(*n),
        Err(fail) => fail.needed,
    }
}
