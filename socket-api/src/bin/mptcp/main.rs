//! `mptcp`, the command-line program of the userspace MPTCP stack. Usage: `docs/cli.md`.
//!
//! Subcommands: `bench` (our stack and the kernel's MPTCP over paths between two network
//! namespaces, side by side), `sim` (one transfer in the deterministic simulator), `server` and
//! `client` (transfers over TUN devices), `run` (an unmodified program over the stack through the
//! `LD_PRELOAD` library). Each lives in its own module and is one variant of
//! [`args::Command`]; `bench` uses `topology` (the namespaces) and `kernel` (the kernel's side).

mod args;
mod bench;
mod emulation;
mod kernel;
mod observe;
mod report;
mod run;
mod schedule;
mod sim;
mod topology;
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
        Ok(Command::Bench(a)) => bench::main(&a),
        Ok(Command::Run(a)) => run::main(&a),
        Err(e) => {
            eprintln!("mptcp: {e}");
            ExitCode::from(USAGE_ERROR)
        }
    }
}
