//! `mptcp`, the command-line program of the userspace MPTCP stack. Usage: `docs/cli.md`.
//!
//! Subcommands so far: `sim` (one transfer in the deterministic simulator), `server` and
//! `client` (transfers over TUN devices). Each lives in its own module and is one variant of
//! [`args::Command`].

mod args;
mod report;
mod sim;
mod tun;
mod units;

use std::process::ExitCode;

use args::Command;

/// Exit status for bad arguments.
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let argv: Result<Vec<String>, _> = std::env::args_os().skip(1).map(|a| a.into_string()).collect();
    let command = match argv {
        Ok(argv) => args::parse(&argv),
        Err(bad) => Err(format!("argument {bad:?} is not valid UTF-8")),
    };
    match command {
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Sim(a)) => sim::main(&a),
        Ok(Command::Server(a)) => tun::server(&a),
        Ok(Command::Client(a)) => tun::client(&a),
        Err(e) => {
            eprintln!("mptcp: {e}");
            ExitCode::from(USAGE_ERROR)
        }
    }
}
