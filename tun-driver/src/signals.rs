//! SIGINT and SIGTERM caught as a flag, for programs that must clean up before they exit (`mptcp
//! bench` removes its namespaces): while a [`SignalCatcher`] lives, the signals no longer kill
//! the process; [`SignalCatcher::caught`] tells whether one came. The event loop has its own
//! handling ([`LoopConfig::handle_signals`](crate::event_loop::LoopConfig::handle_signals)); both
//! may be installed at once, each sees every signal.
//!
//! As with the event loop's handlers, once the catcher is dropped SIGINT and SIGTERM are ignored
//! rather than killing the process (a `signal-hook` property): exit soon after.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Records SIGINT/SIGTERM until dropped.
#[derive(Debug)]
pub struct SignalCatcher {
    signal: Arc<AtomicUsize>,
    ids: Vec<signal_hook::SigId>,
}

impl SignalCatcher {
    /// Installs the handlers.
    pub fn install() -> io::Result<SignalCatcher> {
        let signal = Arc::new(AtomicUsize::new(0));
        let mut catcher = SignalCatcher { signal, ids: Vec::new() };
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            catcher.ids.push(signal_hook::flag::register_usize(sig, Arc::clone(&catcher.signal), sig as usize)?);
        }
        Ok(catcher)
    }

    /// The last signal caught, if any (it stays caught).
    pub fn caught(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s as i32),
        }
    }
}

impl Drop for SignalCatcher {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
