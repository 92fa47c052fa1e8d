//! `tether-cni`, installed as `/opt/cni/bin/tether`: a chained CNI plugin that applies the
//! NetworkProfile the tether agent picks for a pod, through the `bandwidth` and `tuning`
//! plugins. This file only dispatches; the commands live in the library.
//!
//! The C runtime calls [`main`] directly (`no_main`): Rust's start-up would add ten system
//! calls to every exec, among them a read of `/proc/self/maps`, to print a message on a stack
//! overflow (cni/README.md, "Where the time goes").
#![no_main]

use std::ffi::{CStr, c_char, c_int};
use std::io::{self, IsTerminal, Read, Write};

use cni::commands;
use cni::config::{MAX_STDIN_BYTES, NetConf};
use cni::error::{CniError, Code};
use cni::invocation::{Command, Invocation};
use cni::spec::CniVersion;

// musl's allocator returns a page to the kernel whenever its last slot is freed, so this
// short-lived process would map and unmap pages ~30 times per ADD (7 µs a pair on a VM);
// dlmalloc keeps what it maps until exit. glibc's malloc does too, and is already set up by
// glibc's start-up: there the system allocator is the cheaper one (cni/README.md).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

const HELP: &str = "\
tether-cni: chained CNI plugin of tether (installed as /opt/cni/bin/tether, type \"tether\")

A container runtime runs it, after the main plugin of a conflist, with CNI_COMMAND
(ADD, DEL, CHECK, STATUS, GC, VERSION), CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH
and CNI_ARGS in the environment and the network configuration on stdin (CNI spec 1.1.0;
cniVersion 0.3.0 to 1.1.0). On ADD it asks the tether agent which NetworkProfile applies
to the pod and hands rates, MTU and sysctls to the bandwidth and tuning plugins.

Configuration keys (all optional):
  agentSocket     agent's Unix socket            [default: /run/tether/agent.sock]
  agentTimeoutMs  deadline for the agent          [default: 2000]
  failurePolicy   ignore | fail when the agent cannot answer  [default: ignore]
  stateDir        where ADD records what DEL undoes [default: /var/lib/tether/cni]

Try: CNI_COMMAND=VERSION tether-cni";

/// What the C runtime calls. It ignores SIGPIPE, as Rust's start-up would: a runtime that
/// closes its end of stdout early must fail tether's write, not kill tether.
#[allow(unsafe_code)] // the unmangled `main` the C runtime calls, and two libc calls
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: SIG_IGN installs no handler code, and nothing else in this process sets one.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: the C runtime passes `argc` pointers to NUL-terminated strings in `argv`.
    // (`std::env::args` is empty under `no_main` with musl, which does not pass them to
    // initialisers as glibc does.)
    let first_arg = (argc > 1).then(|| {
        unsafe { CStr::from_ptr(*argv.add(1)) }
            .to_string_lossy()
            .into_owned()
    });
    // A panic must not unwind into C; 101 is the status Rust's start-up gives one.
    let status = std::panic::catch_unwind(|| run(first_arg)).unwrap_or(101);
    let _ = io::stdout().flush();
    status
}

/// Runs this invocation, `first_arg` being the command line's first argument; the exit status.
fn run(first_arg: Option<String>) -> c_int {
    if let Some(arg) = first_arg {
        match arg.as_str() {
            "-h" | "--help" => println!("{HELP}"),
            "-V" | "--version" => println!("tether-cni {}", env!("CARGO_PKG_VERSION")),
            _ => {
                eprintln!("tether-cni takes no arguments; see tether-cni --help");
                return 1;
            }
        }
        return 0;
    }
    let env = |var: &str| std::env::var_os(var).map(|v| v.to_string_lossy().into_owned());
    let invocation = Invocation::from_env(env);
    let mut stdin = Vec::new();
    // VERSION needs no configuration, and a person at a terminal has none to give; every
    // other call reads it, also to answer errors in the configuration's cniVersion.
    let wants_stdin = !matches!(&invocation, Ok(i) if i.command == Command::Version);
    let read = if wants_stdin && !io::stdin().is_terminal() {
        read_stdin(&mut stdin)
    } else {
        Ok(())
    };
    let outcome = read
        .and(invocation)
        .and_then(|invocation| commands::run(&invocation, &stdin));
    let mut stdout = io::stdout().lock();
    match outcome {
        Ok(output) => {
            if let Some(output) = output {
                let _ = writeln!(stdout, "{output}");
            }
            0
        }
        Err(e) => {
            let version = NetConf::sniff_version(&stdin).unwrap_or(CniVersion::LATEST);
            let _ = writeln!(stdout, "{}", e.to_json(version));
            if io::stdout().is_terminal() {
                eprintln!("tether-cni is run by a container runtime; see tether-cni --help");
            }
            1
        }
    }
}

/// Reads stdin, one byte past the limit so an oversized configuration is noticed.
fn read_stdin(buf: &mut Vec<u8>) -> Result<(), CniError> {
    io::stdin()
        .lock()
        .take(MAX_STDIN_BYTES as u64 + 1)
        .read_to_end(buf)
        .map(drop)
        .map_err(|e| {
            CniError::new(Code::Io, "cannot read the network configuration on stdin")
                .with_details(e.to_string())
        })
}
