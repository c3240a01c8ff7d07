//! Starting the stack once, at the first socket the program makes, from the environment.

use std::sync::OnceLock;
use std::time::Duration;

use libc::c_int;
use mptcp_socket::capi::config::{self, StackSettings};

/// What the first socket call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stack {
    /// No `MPTCP_PATHS`: every call goes to the C library.
    Absent,
    /// Running in this process.
    Running,
    /// It could not start: this errno for every socket the program asks for.
    Failed(c_int),
}

static STACK: OnceLock<Stack> = OnceLock::new();

/// The stack, started now if this is the first call.
pub(crate) fn stack() -> Stack {
    *STACK.get_or_init(|| match StackSettings::from_env() {
        None => Stack::Absent,
        Some(Err(e)) => fail(libc::EINVAL, &format!("bad settings in the environment: {e}")),
        Some(Ok(settings)) => match config::start(&settings) {
            Ok(()) => {
                // SAFETY: registers a function with the C signature atexit(3) expects.
                unsafe { libc::atexit(at_exit) };
                Stack::Running
            }
            Err(e) => fail(mptcp_socket::error::errno(&e), &e.to_string()),
        },
    })
}

/// How long the process may wait at exit for its connections to finish.
const LINGER: Duration = Duration::from_secs(5);

/// At exit: the connections finish sending (the kernel would do it for TCP sockets).
extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let _inside = crate::guard::enter();
        if config::owns_stack() {
            mptcp_socket::capi::linger(LINGER);
        }
    });
}

fn fail(errno: c_int, why: &str) -> Stack {
    eprintln!("mptcp-preload: cannot start the MPTCP stack: {why}");
    Stack::Failed(errno)
}
