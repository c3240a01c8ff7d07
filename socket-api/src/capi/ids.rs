//! Subflow ids as the C ABI shows them: the stack's id plus one. The paper's kernel numbered the
//! initial subflow 1 and never used 0 (its examples set `id = 0` as "none"), and its structures
//! hold 8 bits; the stack's ids start at 0 and are 32 bits, never reused within a connection.

use super::fail::{Fail, Res};
use crate::SubflowId;

/// The C id of stack subflow `id`; EOVERFLOW if it does not fit the paper's 8 bits.
pub(crate) fn to_c(id: SubflowId) -> Res<u8> {
    id.checked_add(1).and_then(|c| u8::try_from(c).ok()).ok_or(Fail::errno(libc::EOVERFLOW))
}

/// The C id of stack subflow `id` in a 32-bit field (events).
pub(crate) fn to_c32(id: SubflowId) -> u32 {
    id.saturating_add(1)
}

/// The stack's id of C subflow `id`; EINVAL (an unknown id) for 0.
pub(crate) fn from_c(id: u8) -> Res<SubflowId> {
    SubflowId::from(id).checked_sub(1).ok_or(Fail::INVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        assert_eq!((to_c(0), to_c(254), to_c(255)), (Ok(1), Ok(255), Err(Fail::errno(libc::EOVERFLOW))));
        assert_eq!((from_c(1), from_c(255), from_c(0)), (Ok(0), Ok(254), Err(Fail::INVAL)));
        assert_eq!(to_c32(u32::MAX), u32::MAX);
    }
}
