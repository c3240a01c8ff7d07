//! Options that programs commonly set and that change nothing on this stack (keepalive timers,
//! `TCP_QUICKACK`, `IPV6_V6ONLY`, ...): setting one succeeds and is remembered, reading it
//! answers what was set (0 before), so that programs written for kernel sockets run unchanged
//! instead of failing with ENOPROTOOPT. Each is listed with the reason it has no effect.

use libc::c_int;

/// Is (`level`, `name`) one of them?
pub(crate) fn is_inert(level: c_int, name: c_int) -> bool {
    match level {
        // The stack keeps no idle connection alive and probes no path MTU; delayed ACKs never
        // stall bulk transfer; there is no SYN data (TCP Fast Open) and no corking.
        libc::IPPROTO_TCP => matches!(
            name,
            libc::TCP_KEEPIDLE
                | libc::TCP_KEEPINTVL
                | libc::TCP_KEEPCNT
                | libc::TCP_QUICKACK
                | libc::TCP_USER_TIMEOUT
                | libc::TCP_NOTSENT_LOWAT
                | libc::TCP_DEFER_ACCEPT
                | libc::TCP_WINDOW_CLAMP
                | libc::TCP_FASTOPEN
                | libc::TCP_FASTOPEN_CONNECT
                | libc::TCP_CORK
                | libc::TCP_LINGER2
                | libc::TCP_SYNCNT
        ),
        // Error queues, path MTU discovery and non-local binds concern kernel sockets only; a
        // listener on `::` takes IPv4 connections whatever IPV6_V6ONLY says.
        libc::IPPROTO_IP => {
            matches!(name, libc::IP_RECVERR | libc::IP_MTU_DISCOVER | libc::IP_FREEBIND | libc::IP_BIND_ADDRESS_NO_PORT)
        }
        libc::IPPROTO_IPV6 => matches!(name, libc::IPV6_V6ONLY | libc::IPV6_RECVERR | libc::IPV6_MTU_DISCOVER),
        _ => false,
    }
}

/// The most bytes remembered of one value.
pub(crate) const MAX_VALUE: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_suspects_are_inert_and_real_options_are_not() {
        assert!(is_inert(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY));
        assert!(is_inert(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE));
        assert!(!is_inert(libc::IPPROTO_TCP, libc::TCP_NODELAY));
        assert!(!is_inert(libc::IPPROTO_IP, libc::IP_TOS));
        assert!(!is_inert(libc::SOL_SOCKET, libc::SO_REUSEADDR));
    }
}
