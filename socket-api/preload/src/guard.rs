//! Re-entrance: while a hook runs on a thread, the calls it makes (through the C ABI, Rust's
//! standard library or the stack) that reach a hook again go straight to the C library.

use std::cell::Cell;

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// A hook is running on this thread; dropped when it returns.
#[derive(Debug)]
pub(crate) struct Inside(());

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|i| i.set(false));
    }
}

/// Marks this thread inside a hook; `None` if it already is (or is being torn down), and then
/// the call goes to the C library.
pub(crate) fn enter() -> Option<Inside> {
    INSIDE.try_with(|i| !i.replace(true)).ok().filter(|fresh| *fresh).map(|_| Inside(()))
}
