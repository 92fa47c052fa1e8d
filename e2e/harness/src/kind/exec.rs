//! Executors: the real one runs the plan's commands; the dry-run one prints them, records them
//! in `commands.sh` and runs nothing. Both write the plan's files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cmd::Cmd;
use super::error::KindError;

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit status 0.
    pub success: bool,
    /// The exit status, for messages.
    pub status: String,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs (or pretends to run) commands and writes files for the backend.
pub trait Executor {
    /// True when nothing is run; outputs are then unknown (`None`).
    fn is_dry_run(&self) -> bool;
    /// Runs a command to completion and returns what it printed, whatever its exit status;
    /// `None` in a dry run.
    fn output(&mut self, cmd: &Cmd) -> Result<Option<Output>, KindError>;
    /// Writes a file, creating its directory.
    fn write_file(&mut self, path: &Path, contents: &str) -> Result<(), KindError>;
    /// Reports progress to the person watching.
    fn note(&mut self, message: &str);

    /// Runs a command that must succeed; returns its standard output (`None` in a dry run).
    fn run(&mut self, cmd: &Cmd) -> Result<Option<String>, KindError> {
        match self.output(cmd)? {
            None => Ok(None),
            Some(out) if out.success => Ok(Some(out.stdout)),
            Some(out) => Err(KindError::Failed {
                command: cmd.to_string(),
                status: out.status,
                stderr: tail(&out.stderr),
            }),
        }
    }
}

/// The last lines of a command's standard error, enough to see why it failed.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn write(path: &Path, contents: &str) -> Result<(), KindError> {
    let err = |source| KindError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    fs::write(path, contents).map_err(err)
}

/// Runs commands with `std::process::Command` (argv, no shell), printing each first.
#[derive(Debug, Default)]
pub struct RealExecutor;

impl Executor for RealExecutor {
    fn is_dry_run(&self) -> bool {
        false
    }

    fn output(&mut self, cmd: &Cmd) -> Result<Option<Output>, KindError> {
        eprintln!("+ {cmd}");
        let out = Command::new(&cmd.program)
            .args(&cmd.args)
            .output()
            .map_err(|source| KindError::Spawn {
                command: cmd.to_string(),
                source,
            })?;
        Ok(Some(Output {
            success: out.status.success(),
            status: out.status.to_string(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }))
    }

    fn write_file(&mut self, path: &Path, contents: &str) -> Result<(), KindError> {
        eprintln!("+ write {}", path.display());
        write(path, contents)
    }

    fn note(&mut self, message: &str) {
        eprintln!("==> {message}");
    }
}

/// `TETHER_E2E_DRY_RUN=1`: prints every command and appends it to `<dir>/commands.sh`, writes
/// every file for real, runs nothing.
#[derive(Debug)]
pub struct DryRunExecutor {
    dir: PathBuf,
    commands: Vec<Cmd>,
    files: Vec<PathBuf>,
}

impl DryRunExecutor {
    /// File, under the output directory, that lists the commands in order.
    pub const TRANSCRIPT: &'static str = "commands.sh";

    /// A dry run whose transcript goes to `dir` (the backend's work directory).
    pub fn new(dir: PathBuf) -> Result<DryRunExecutor, KindError> {
        let transcript = dir.join(Self::TRANSCRIPT);
        write(
            &transcript,
            "#!/usr/bin/env bash\n# What the kind backend would run (TETHER_E2E_DRY_RUN=1).\nset -euo pipefail\n",
        )?;
        Ok(DryRunExecutor {
            dir,
            commands: Vec::new(),
            files: Vec::new(),
        })
    }

    /// Every command, in the order the backend would have run them.
    pub fn commands(&self) -> &[Cmd] {
        &self.commands
    }

    /// Every file written, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn append(&self, line: &str) -> Result<(), KindError> {
        let path = self.dir.join(Self::TRANSCRIPT);
        let err = |source| KindError::Write {
            path: path.clone(),
            source,
        };
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(err)?;
        writeln!(file, "{line}").map_err(err)
    }
}

impl Executor for DryRunExecutor {
    fn is_dry_run(&self) -> bool {
        true
    }

    fn output(&mut self, cmd: &Cmd) -> Result<Option<Output>, KindError> {
        println!("{cmd}");
        self.append(&cmd.to_string())?;
        self.commands.push(cmd.clone());
        Ok(None)
    }

    fn write_file(&mut self, path: &Path, contents: &str) -> Result<(), KindError> {
        println!("# write {}", path.display());
        self.append(&format!("# wrote {}", path.display()))?;
        write(path, contents)?;
        self.files.push(path.to_owned());
        Ok(())
    }

    fn note(&mut self, message: &str) {
        println!("# {message}");
        // a failed transcript append is reported by the next command's append
        let _ = self.append(&format!("# {message}"));
    }
}

/// The real or the dry-run executor, chosen from the environment.
#[derive(Debug)]
pub enum AnyExecutor {
    /// Runs commands.
    Real(RealExecutor),
    /// Prints them (`TETHER_E2E_DRY_RUN=1`).
    DryRun(DryRunExecutor),
}

impl Executor for AnyExecutor {
    fn is_dry_run(&self) -> bool {
        matches!(self, AnyExecutor::DryRun(_))
    }
    fn output(&mut self, cmd: &Cmd) -> Result<Option<Output>, KindError> {
        match self {
            AnyExecutor::Real(e) => e.output(cmd),
            AnyExecutor::DryRun(e) => e.output(cmd),
        }
    }
    fn write_file(&mut self, path: &Path, contents: &str) -> Result<(), KindError> {
        match self {
            AnyExecutor::Real(e) => e.write_file(path, contents),
            AnyExecutor::DryRun(e) => e.write_file(path, contents),
        }
    }
    fn note(&mut self, message: &str) {
        match self {
            AnyExecutor::Real(e) => e.note(message),
            AnyExecutor::DryRun(e) => e.note(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_executor_runs_argv_without_a_shell_and_reports_failures() {
        let mut exec = RealExecutor;
        let ok = Cmd::new("printf", ["%s|", "a b", "$HOME", ";"]);
        assert_eq!(
            exec.run(&ok).unwrap().as_deref(),
            Some("a b|$HOME|;|"),
            "arguments are not re-split or expanded"
        );
        let failing = Cmd::new("sh", ["-c", "echo out; echo why >&2; exit 3"]);
        let out = exec.output(&failing).unwrap().unwrap();
        assert_eq!(
            (out.success, out.stdout.as_str(), out.stderr.as_str()),
            (false, "out\n", "why\n")
        );
        match exec.run(&failing) {
            Err(KindError::Failed {
                command, stderr, ..
            }) => {
                assert_eq!(command, "sh -c 'echo out; echo why >&2; exit 3'");
                assert_eq!(stderr, "why");
            }
            other => panic!("{other:?}"),
        }
        let missing = Cmd::new("tether-no-such-program", ["x"]);
        assert!(matches!(exec.run(&missing), Err(KindError::Spawn { .. })));
    }

    #[test]
    fn the_dry_run_runs_nothing_but_writes_files_and_the_transcript() {
        let dir = tempfile::tempdir().unwrap();
        let mut exec = DryRunExecutor::new(dir.path().to_owned()).unwrap();
        let marker = dir.path().join("marker");
        let touch = Cmd::new("touch", [marker.to_str().unwrap()]);
        assert_eq!(exec.run(&touch).unwrap(), None);
        assert!(!marker.exists(), "nothing ran");
        exec.write_file(&dir.path().join("sub/f.yaml"), "a: 1\n")
            .unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("sub/f.yaml")).unwrap(),
            "a: 1\n"
        );
        let transcript = fs::read_to_string(dir.path().join(DryRunExecutor::TRANSCRIPT)).unwrap();
        assert!(transcript.contains(&format!("\n{touch}\n")), "{transcript}");
        assert_eq!(exec.commands(), [touch]);
        assert_eq!(exec.files(), [dir.path().join("sub/f.yaml")]);
    }
}
