//! What the socket API's examples in `rust/` share: their command line ([`args`]) and the
//! SMAPP-style backup controller of `smapp_backup` ([`smapp`]), which
//! `tests/tests/socket_api_smapp.rs` also runs against the Linux kernel.

pub mod args;
pub mod smapp;
