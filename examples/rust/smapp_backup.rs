//! A SMAPP-style application ([`mptcp_examples::smapp`]): it sends a bulk stream over its primary
//! path and opens a backup subflow on its second path only while the primary suffers a
//! retransmission timeout, closing it once the primary recovers.
//!
//! As root, with a server at REMOTE that reads to the end (`mptcp server --echo` or any
//! MPTCP-capable sink) and a TUN device per path (docs/tun.md); BACKUP_REMOTE is the server's
//! address reached over the second path (default: REMOTE's address):
//!
//! ```sh
//! cargo run -p mptcp-examples --example smapp_backup -- 10.71.0.1:5201 mtun0=10.72.0.2 mtun1=10.72.1.2 10.71.1.1
//! ```
//!
//! Then take the primary path down and up again (`ip link set ... down`) and watch the backup
//! come and go.

use std::error::Error;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::Duration;

use mptcp_examples::args::{manual_stack, remote_and_paths};
use mptcp_examples::smapp::BackupController;

const USAGE: &str = "smapp_backup REMOTE PRIMARY_DEV=IP BACKUP_DEV=IP [BACKUP_REMOTE_IP]";
/// How much to send.
const BYTES: u64 = 1 << 30;
/// The controller looks at the primary at least this often while writes wait.
const TICK: Duration = Duration::from_millis(50);

fn main() -> Result<(), Box<dyn Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let backup_remote: Option<IpAddr> = match args.last().map(|a| a.parse()) {
        Some(Ok(ip)) if args.len() == 4 => {
            args.pop();
            Some(ip)
        }
        _ => None,
    };
    let (remote, paths) = remote_and_paths(&args, USAGE)?;
    let [primary, backup] = &paths[..] else { return Err(format!("two paths; usage: {USAGE}").into()) };
    let stack = manual_stack(&paths)?;
    let mut stream = stack.connect_timeout(Some(primary.addr), remote, Duration::from_secs(10))?;
    let initial = stream.subflows()?.first().ok_or("no subflow")?.id;
    let backup_to = SocketAddr::new(backup_remote.unwrap_or(remote.ip()), remote.port());
    let mut controller = BackupController::new(&stream, initial, SocketAddr::new(backup.addr, 0), backup_to)?;
    println!("sending {BYTES} bytes to {remote} over {}; backup {} -> {backup_to}", primary.addr, backup.addr);

    stream.set_write_timeout(Some(TICK))?;
    let chunk = vec![0x5a; 64 * 1024];
    let mut sent = 0u64;
    while sent < BYTES {
        let n = chunk.len().min((BYTES - sent) as usize);
        match stream.write(&chunk[..n]) {
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == ErrorKind::TimedOut => {}
            Err(e) => return Err(e.into()),
        }
        while let Some(e) = stream.poll_event() {
            println!("{:>10.3} s  {:?}", e.at.as_secs_f64(), e.event);
            controller.on_event(&e.event);
        }
        if let Some(action) = controller.tick(&stream)? {
            let primary = stream.subflow_info(initial)?;
            println!(
                "{action:?} after {sent} bytes (primary: {} RTOs, {} bytes acknowledged, rto {:?})",
                primary.stats.rto_count, primary.stats.bytes_acked, primary.rto
            );
        }
    }
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(None)?;
    let echoed = std::io::copy(&mut stream, &mut std::io::sink())?;
    println!("done: {sent} bytes sent, {echoed} received back");
    Ok(())
}
