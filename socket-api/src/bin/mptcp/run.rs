//! `mptcp run`: executes a program with `libmptcp_preload.so` preloaded and the stack's settings
//! in its environment (`MPTCP_PATHS`, `MPTCP_PATH_MANAGER`, `MPTCP_SCHEDULER`, `MPTCP_CC`), so
//! that its TCP sockets use this stack. The program replaces this process: its exit status is
//! the command's.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

use mptcp_socket::capi::config::{PathArg, StackSettings};

use crate::args::RunArgs;

/// The library's file name.
const LIBRARY: &str = "libmptcp_preload.so";
/// Where to find it instead of next to this executable.
const ENV_PRELOAD: &str = "MPTCP_PRELOAD";
/// Exit status when the library is missing.
const CANNOT_RUN: u8 = 3;
/// Exit status when the program cannot be executed (as shells report it).
const NOT_EXECUTED: u8 = 127;

/// The preload library: `$MPTCP_PRELOAD`, or next to this executable.
fn library() -> Result<PathBuf, String> {
    let path = match std::env::var_os(ENV_PRELOAD).filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
            exe.with_file_name(LIBRARY)
        }
    };
    path.canonicalize().map_err(|e| {
        format!(
            "{}: {e} (build it with `cargo build -p mptcp-preload`, in the same profile as mptcp, or set {ENV_PRELOAD})",
            path.display()
        )
    })
}

/// `LD_PRELOAD` with the library appended to what is there already.
fn ld_preload(library: &PathBuf) -> OsString {
    let mut value = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()).unwrap_or_default();
    if !value.is_empty() {
        value.push(":");
    }
    value.push(library);
    value
}

pub(crate) fn main(a: &RunArgs) -> ExitCode {
    let library = match library() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mptcp: run: {e}");
            return ExitCode::from(CANNOT_RUN);
        }
    };
    let settings = StackSettings {
        paths: a.paths.iter().map(|p| PathArg { device: p.device.clone(), addr: p.addr, backup: p.backup }).collect(),
        path_manager: Some(a.multipath.path_manager),
        scheduler: Some(a.multipath.scheduler),
        congestion_control: Some(a.multipath.cc),
    };
    let (program, args) = a.program.split_first().expect("the arguments name a program");
    let err = std::process::Command::new(program)
        .args(args)
        .envs(settings.to_env())
        .env("LD_PRELOAD", ld_preload(&library))
        .exec();
    eprintln!("mptcp: run: cannot execute {program}: {err}");
    ExitCode::from(NOT_EXECUTED)
}
