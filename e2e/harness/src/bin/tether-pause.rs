//! `tether-pause`: the process of the sim nodes' local pause and app images. It holds a pod
//! sandbox's namespaces (or plays a pod's app container) by doing nothing until it is asked
//! to stop with SIGTERM or SIGINT, as `registry.k8s.io/pause` does; as PID 1 of its
//! container it must handle those signals itself, since the kernel ignores them otherwise.

use std::process::ExitCode;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

fn main() -> ExitCode {
    let mut signals = match Signals::new([SIGTERM, SIGINT]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("tether-pause: installing signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Blocks until one of the signals arrives; nothing else happens in this process.
    let _ = signals.forever().next();
    ExitCode::SUCCESS
}
