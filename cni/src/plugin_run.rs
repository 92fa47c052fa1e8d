//! Running another plugin to completion and collecting what it printed.
//!
//! Its stdin, stdout and stderr are memfds (files in memory), not pipes. With pipes the
//! parent wakes for every write and for each end-of-file before it can reap the child; with
//! files it sleeps once, until the child exits, and then reads. On the development VM those
//! wake-ups were dear: the same do-nothing plugin took 2.1–2.4 ms with pipes and 1.05–1.13
//! ms with memfds (cni/README.md, "Where the time goes"). A plugin's output also cannot fill
//! a buffer and stall it, and a child it leaves running cannot hold its output open and keep
//! this one waiting.

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::process::{Command, ExitStatus, Stdio};

use rustix::fs::{MemfdFlags, memfd_create};

/// What a plugin left when it exited.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// All it wrote to stdout.
    pub stdout: Vec<u8>,
    /// All it wrote to stderr.
    pub stderr: Vec<u8>,
}

/// Runs `command` with `stdin` as its standard input, waits for it to exit and returns what
/// it wrote. Any stdio set on `command` before is replaced.
pub fn run_to_end(command: &mut Command, stdin: &[u8]) -> io::Result<Finished> {
    let mut input = memfd(c"plugin-stdin")?;
    input.write_all(stdin)?;
    input.rewind()?;
    let mut stdout = memfd(c"plugin-stdout")?;
    let mut stderr = memfd(c"plugin-stderr")?;
    // The child writes through duplicates, which share the file offset with these handles:
    // after it exits each is rewound before reading.
    let status = command
        .stdin(Stdio::from(input))
        .stdout(Stdio::from(stdout.try_clone()?))
        .stderr(Stdio::from(stderr.try_clone()?))
        .status()?;
    Ok(Finished {
        status,
        stdout: read_from_start(&mut stdout)?,
        stderr: read_from_start(&mut stderr)?,
    })
}

/// An empty file in memory, closed on exec (the child gets its own descriptor as stdio).
fn memfd(name: &CStr) -> io::Result<File> {
    Ok(File::from(memfd_create(name, MemfdFlags::CLOEXEC)?))
}

fn read_from_start(file: &mut File) -> io::Result<Vec<u8>> {
    file.rewind()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_reaches_the_plugin_and_both_outputs_come_back() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "cat; echo oops >&2; exit 3"]);
        let done = run_to_end(&mut sh, b"{\"cniVersion\":\"1.0.0\"}").unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.stdout, b"{\"cniVersion\":\"1.0.0\"}");
        assert_eq!(done.stderr, b"oops\n");
    }

    #[test]
    fn a_plugin_that_ignores_stdin_and_prints_nothing_is_fine() {
        let done = run_to_end(&mut Command::new("true"), &[0; 1 << 20]).unwrap();
        assert!(done.status.success());
        assert!(done.stdout.is_empty() && done.stderr.is_empty());
    }

    #[test]
    fn output_larger_than_a_pipe_buffer_is_kept_whole() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "head -c 300000 /dev/zero"]);
        let done = run_to_end(&mut sh, b"").unwrap();
        assert_eq!(done.stdout.len(), 300_000);
    }

    #[test]
    fn a_child_left_running_does_not_hold_the_run_open() {
        // With pipes the run would wait for the sleeper, which keeps stdout open: fail
        // instead of hanging if it does.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sh = Command::new("sh");
            sh.args(["-c", "sleep 30 & echo $!"]);
            let _ = tx.send(run_to_end(&mut sh, b""));
        });
        let done = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the run waited for the child its plugin left running")
            .unwrap();
        let sleeper = String::from_utf8(done.stdout).unwrap();
        let killed = Command::new("kill").arg(sleeper.trim()).status().unwrap();
        assert!(killed.success(), "the sleeper {sleeper} was gone already");
    }

    #[test]
    fn a_missing_binary_is_an_error() {
        let err = run_to_end(&mut Command::new("/nonexistent/tether-test"), b"").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
