//! Changes to the network scheduled at a virtual instant.

use core::fmt;

use mptcp_stack::time::Instant;

use crate::link::LinkConfig;

use super::path::{Direction, Path};

/// A closure run on the paths at its instant (with that instant).
pub type PathsFn = Box<dyn FnOnce(Instant, &mut [Path])>;

/// Something done to the network at a scheduled instant
/// ([`Simulator::schedule`](super::Simulator::schedule)). It applies to packets offered from
/// then on; packets already accepted by a link keep their fate.
pub enum Action {
    /// Turn one direction's blackhole on or off.
    SetBlackhole {
        /// Path index.
        path: usize,
        /// Which direction.
        direction: Direction,
        /// On or off.
        on: bool,
    },
    /// Replace one direction's configuration.
    SetConfig {
        /// Path index.
        path: usize,
        /// Which direction.
        direction: Direction,
        /// The new configuration.
        config: LinkConfig,
    },
    /// Anything else, on all paths.
    Custom(PathsFn),
}

impl Action {
    /// A closure over the paths.
    pub fn custom(f: impl FnOnce(Instant, &mut [Path]) + 'static) -> Action {
        Action::Custom(Box::new(f))
    }

    /// Applies the action. Panics if it names a path that does not exist.
    pub(crate) fn apply(self, now: Instant, paths: &mut [Path]) {
        match self {
            Action::SetBlackhole { path, direction, on } => paths[path].link_mut(direction).set_blackhole(on),
            Action::SetConfig { path, direction, config } => paths[path].link_mut(direction).set_config(config),
            Action::Custom(f) => f(now, paths),
        }
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetBlackhole { path, direction, on } => f
                .debug_struct("SetBlackhole")
                .field("path", path)
                .field("direction", direction)
                .field("on", on)
                .finish(),
            Action::SetConfig { path, direction, config } => f
                .debug_struct("SetConfig")
                .field("path", path)
                .field("direction", direction)
                .field("config", config)
                .finish(),
            Action::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}
