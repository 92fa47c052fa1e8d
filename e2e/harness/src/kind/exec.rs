//! Executors: the real one runs the plan's commands; the dry-run one records them in
//! `commands.sh` and runs nothing. Both write the plan's files.
//!
//! Besides plain commands the backend asks for four things an argv alone cannot say, and each
//! executor gives them the same meaning: a *capture* (a value a later command needs: the real
//! run returns it, the dry run writes `NAME=$(command)` and returns the placeholder
//! `${NAME}`), a *poll* (run until the output passes an [`Until`]; the transcript calls
//! `tether_poll`, defined in its header with the same tests), a *refutation* (a command that
//! must fail, such as a probe through a cut), and a redirection (`Cmd::stdout_to`). So the
//! transcript is a script: `bash commands.sh` replays what a real run would have done.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::cmd::{Cmd, shell_quote, shell_word, var, words};
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

/// When a polled command's output (trimmed) is what the poll waits for. Values may be
/// placeholders (`${NAME}`, `${NAME[*]}`) in a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    /// Any output: the command succeeding is enough.
    Succeeds,
    /// The output equals one of these.
    Is(Vec<String>),
    /// The output contains this.
    Has(String),
    /// One line of the output equals this (a Prometheus sample, say).
    Line(String),
    /// The output sorts after this (RFC 3339 times of one format and zone compare so).
    After(String),
    /// Some non-empty line is none of these (a new container ID).
    OtherThan(Vec<String>),
}

impl Until {
    /// Whether `stdout` passes.
    pub fn accepts(&self, stdout: &str) -> bool {
        let out = stdout.trim();
        match self {
            Until::Succeeds => true,
            Until::Is(values) => values.iter().any(|v| v == out),
            Until::Has(needle) => out.contains(needle.as_str()),
            Until::Line(line) => out.lines().any(|l| l.trim() == line),
            Until::After(value) => out > value.as_str(),
            Until::OtherThan(values) => out
                .lines()
                .map(str::trim)
                .any(|l| !l.is_empty() && !values.iter().any(|v| v == l)),
        }
    }

    /// `tether_poll`'s test and values, as transcript words.
    fn shell(&self) -> Vec<String> {
        let (test, values): (&str, Vec<&String>) = match self {
            Until::Succeeds => ("any", vec![]),
            Until::Is(values) => ("is", values.iter().collect()),
            Until::Has(needle) => ("has", vec![needle]),
            Until::Line(line) => ("line", vec![line]),
            Until::After(value) => ("after", vec![value]),
            Until::OtherThan(values) => ("other-than", values.iter().collect()),
        };
        std::iter::once(test.to_owned())
            .chain(values.into_iter().map(|v| shell_word(v)))
            .collect()
    }

    fn placeholders(&self) -> Vec<String> {
        let values: Vec<String> = match self {
            Until::Succeeds => vec![],
            Until::Is(v) | Until::OtherThan(v) => v.clone(),
            Until::Has(v) | Until::Line(v) | Until::After(v) => vec![v.clone()],
        };
        Cmd::new("until", values).placeholders()
    }
}

/// Runs (or pretends to run) commands and writes files for the backend.
pub trait Executor {
    /// True when nothing is run; outputs are then unknown.
    fn is_dry_run(&self) -> bool;
    /// Runs a command to completion and returns what it printed, whatever its exit status;
    /// `None` in a dry run.
    fn output(&mut self, cmd: &Cmd) -> Result<Option<Output>, KindError>;
    /// Runs a command that must succeed; returns its standard output (`None` in a dry run).
    fn run(&mut self, cmd: &Cmd) -> Result<Option<String>, KindError>;
    /// Runs a command that must succeed for a value later commands use: its trimmed output,
    /// or in a dry run the placeholder `${name}`.
    fn capture(&mut self, name: &str, cmd: &Cmd) -> Result<String, KindError>;
    /// [`Executor::capture`] of a list, one item per non-empty line; in a dry run the single
    /// placeholder `${name[*]}`, which the shell splits into words.
    fn capture_words(&mut self, name: &str, cmd: &Cmd) -> Result<Vec<String>, KindError>;
    /// Runs `cmd` once a second until it succeeds with an output `until` accepts; that output,
    /// `None` in a dry run. Fails after `seconds`, naming `what`.
    fn poll(
        &mut self,
        what: &str,
        cmd: &Cmd,
        until: &Until,
        seconds: u64,
    ) -> Result<Option<String>, KindError>;
    /// Runs a command that must fail (a probe that must not get through); `what` says why.
    fn refute(&mut self, what: &str, cmd: &Cmd) -> Result<(), KindError>;
    /// Writes a file, creating its directory.
    fn write_file(&mut self, path: &Path, contents: &str) -> Result<(), KindError>;
    /// Reports progress to the person watching.
    fn note(&mut self, message: &str);
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

fn failed(cmd: &Cmd, out: Output) -> KindError {
    KindError::Failed {
        command: cmd.to_string(),
        status: out.status,
        stderr: tail(&out.stderr),
    }
}

/// Runs commands with `std::process::Command` (argv, no shell), printing each first.
#[derive(Debug, Default)]
pub struct RealExecutor;

impl Executor for RealExecutor {
    fn is_dry_run(&self) -> bool {
        false
    }

    fn output(&mut self, cmd: &Cmd) -> Result<Option<Output>, KindError> {
        let unresolved = cmd.placeholders();
        if !unresolved.is_empty() {
            return Err(KindError::Unresolved {
                command: cmd.to_string(),
                names: unresolved.join(", "),
            });
        }
        eprintln!("+ {cmd}");
        let out = Command::new(&cmd.program)
            .args(&cmd.args)
            .output()
            .map_err(|source| KindError::Spawn {
                command: cmd.to_string(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // as `> file` does: the file holds the output whatever the command's status
        if let Some(file) = &cmd.stdout_to {
            write(file, &stdout)?;
        }
        Ok(Some(Output {
            success: out.status.success(),
            status: out.status.to_string(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }))
    }

    fn run(&mut self, cmd: &Cmd) -> Result<Option<String>, KindError> {
        match self.output(cmd)? {
            Some(out) if out.success => Ok(Some(out.stdout)),
            Some(out) => Err(failed(cmd, out)),
            None => Ok(None),
        }
    }

    fn capture(&mut self, _name: &str, cmd: &Cmd) -> Result<String, KindError> {
        Ok(self.run(cmd)?.unwrap_or_default().trim().to_owned())
    }

    fn capture_words(&mut self, _name: &str, cmd: &Cmd) -> Result<Vec<String>, KindError> {
        let out = self.run(cmd)?.unwrap_or_default();
        Ok(out.split_whitespace().map(str::to_owned).collect())
    }

    fn poll(
        &mut self,
        what: &str,
        cmd: &Cmd,
        until: &Until,
        seconds: u64,
    ) -> Result<Option<String>, KindError> {
        let unresolved = until.placeholders();
        if !unresolved.is_empty() {
            return Err(KindError::Unresolved {
                command: format!("poll until {what}"),
                names: unresolved.join(", "),
            });
        }
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(out) = self.output(cmd)?
                && out.success
                && until.accepts(&out.stdout)
            {
                return Ok(Some(out.stdout));
            }
            if Instant::now() >= deadline {
                return Err(KindError::Timeout {
                    what: what.to_owned(),
                    seconds,
                });
            }
            sleep(Duration::from_secs(1));
        }
    }

    fn refute(&mut self, what: &str, cmd: &Cmd) -> Result<(), KindError> {
        match self.output(cmd)? {
            Some(out) if out.success => Err(KindError::NotRefuted {
                what: what.to_owned(),
                command: cmd.to_string(),
            }),
            _ => Ok(()),
        }
    }

    fn write_file(&mut self, path: &Path, contents: &str) -> Result<(), KindError> {
        eprintln!("+ write {}", path.display());
        write(path, contents)
    }

    fn note(&mut self, message: &str) {
        eprintln!("==> {message}");
    }
}

/// The transcript's first lines: strict bash, and `tether_poll`, which gives a poll the same
/// meaning as [`RealExecutor::poll`] with [`Until`].
pub const TRANSCRIPT_HEADER: &str = r#"#!/usr/bin/env bash
# What the kind backend would run (TETHER_E2E_DRY_RUN=1). Replay it with `bash commands.sh`.
set -euo pipefail

# tether_poll SECONDS TEST [VALUE...] -- COMMAND...
# Runs COMMAND once a second until it succeeds and its output, trimmed, passes TEST; fails
# after SECONDS. TEST: any | is (equals a VALUE) | has (contains VALUE) | line (a line equals
# VALUE) | after (sorts after VALUE) | other-than (a non-empty line is none of the VALUEs).
tether_poll() {
  local LC_ALL=C seconds=$1 test=$2 out line value i fresh
  local -a values=()
  shift 2
  while (($#)) && [[ $1 != -- ]]; do
    values+=("$1")
    shift
  done
  shift
  for ((i = 0; i < seconds; i++)); do
    if out=$("$@"); then
      out=${out#"${out%%[![:space:]]*}"}
      out=${out%"${out##*[![:space:]]}"}
      case $test in
        any) return 0 ;;
        is) for value in "${values[@]}"; do [[ $out == "$value" ]] && return 0; done ;;
        has) [[ $out == *"${values[0]}"* ]] && return 0 ;;
        line) while IFS= read -r line; do [[ $line == "${values[0]}" ]] && return 0; done <<<"$out" ;;
        after) [[ $out > "${values[0]}" ]] && return 0 ;;
        other-than)
          while IFS= read -r line; do
            [[ -n $line ]] || continue
            fresh=1
            for value in "${values[@]}"; do [[ $line == "$value" ]] && fresh=0; done
            ((fresh)) && return 0
          done <<<"$out"
          ;;
      esac
    fi
    sleep 1
  done
  printf 'tether_poll: timed out after %ss: %s\n' "$seconds" "$*" >&2
  return 1
}

"#;

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

    /// A dry run whose transcript goes to `dir` (the backend's work directory), replacing any
    /// transcript of an earlier run there.
    pub fn new(dir: PathBuf) -> Result<DryRunExecutor, KindError> {
        write(&dir.join(Self::TRANSCRIPT), TRANSCRIPT_HEADER)?;
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

    /// The transcript written so far.
    pub fn transcript(&self) -> Result<String, KindError> {
        let path = self.dir.join(Self::TRANSCRIPT);
        fs::read_to_string(&path).map_err(|source| KindError::Write { path, source })
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

    fn record(&mut self, cmd: &Cmd, line: String) -> Result<(), KindError> {
        println!("{line}");
        self.append(&line)?;
        self.commands.push(cmd.clone());
        Ok(())
    }
}

impl Executor for DryRunExecutor {
    fn is_dry_run(&self) -> bool {
        true
    }

    fn output(&mut self, cmd: &Cmd) -> Result<Option<Output>, KindError> {
        // whatever its status: a replay goes on as the real run does
        self.record(cmd, format!("{cmd} || true"))?;
        Ok(None)
    }

    fn run(&mut self, cmd: &Cmd) -> Result<Option<String>, KindError> {
        self.record(cmd, cmd.to_string())?;
        Ok(None)
    }

    fn capture(&mut self, name: &str, cmd: &Cmd) -> Result<String, KindError> {
        self.record(cmd, format!("{name}=$({cmd})"))?;
        Ok(var(name))
    }

    fn capture_words(&mut self, name: &str, cmd: &Cmd) -> Result<Vec<String>, KindError> {
        self.record(cmd, format!("{name}=$({cmd})"))?;
        Ok(vec![words(name)])
    }

    fn poll(
        &mut self,
        what: &str,
        cmd: &Cmd,
        until: &Until,
        seconds: u64,
    ) -> Result<Option<String>, KindError> {
        self.note(&format!("until {what}, at most {seconds}s"));
        let test = until.shell().join(" ");
        self.record(cmd, format!("tether_poll {seconds} {test} -- {cmd}"))?;
        Ok(None)
    }

    fn refute(&mut self, what: &str, cmd: &Cmd) -> Result<(), KindError> {
        let why = shell_quote(&format!("expected to fail: {what}"));
        self.record(
            cmd,
            format!("if {cmd}; then printf '%s\\n' {why} >&2; exit 1; fi"),
        )
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

impl AnyExecutor {
    fn inner(&mut self) -> &mut dyn Executor {
        match self {
            AnyExecutor::Real(e) => e,
            AnyExecutor::DryRun(e) => e,
        }
    }
}

impl Executor for AnyExecutor {
    fn is_dry_run(&self) -> bool {
        matches!(self, AnyExecutor::DryRun(_))
    }
    fn output(&mut self, cmd: &Cmd) -> Result<Option<Output>, KindError> {
        self.inner().output(cmd)
    }
    fn run(&mut self, cmd: &Cmd) -> Result<Option<String>, KindError> {
        self.inner().run(cmd)
    }
    fn capture(&mut self, name: &str, cmd: &Cmd) -> Result<String, KindError> {
        self.inner().capture(name, cmd)
    }
    fn capture_words(&mut self, name: &str, cmd: &Cmd) -> Result<Vec<String>, KindError> {
        self.inner().capture_words(name, cmd)
    }
    fn poll(
        &mut self,
        what: &str,
        cmd: &Cmd,
        until: &Until,
        seconds: u64,
    ) -> Result<Option<String>, KindError> {
        self.inner().poll(what, cmd, until, seconds)
    }
    fn refute(&mut self, what: &str, cmd: &Cmd) -> Result<(), KindError> {
        self.inner().refute(what, cmd)
    }
    fn write_file(&mut self, path: &Path, contents: &str) -> Result<(), KindError> {
        self.inner().write_file(path, contents)
    }
    fn note(&mut self, message: &str) {
        self.inner().note(message)
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
    fn the_real_executor_redirects_captures_refutes_and_never_runs_a_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        let mut exec = RealExecutor;
        let file = dir.path().join("sub/out.txt");
        exec.run(&Cmd::new("printf", ["a\\nb\\n"]).stdout_to(&file))
            .unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "a\nb\n");
        assert_eq!(
            exec.capture("X", &Cmd::new("printf", ["  v \\n"])).unwrap(),
            "v"
        );
        assert_eq!(
            exec.capture_words("X", &Cmd::new("printf", ["a\\n\\nb c\\n"]))
                .unwrap(),
            ["a", "b", "c"]
        );
        exec.refute("false fails", &Cmd::new("false", Vec::<String>::new()))
            .unwrap();
        assert!(matches!(
            exec.refute("true fails", &Cmd::new("true", Vec::<String>::new())),
            Err(KindError::NotRefuted { .. })
        ));
        let leaked = Cmd::new("touch", [dir.path().join(var("X")).display().to_string()]);
        assert!(matches!(
            exec.run(&leaked),
            Err(KindError::Unresolved { .. })
        ));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "nothing ran");
    }

    #[test]
    fn polls_wait_for_the_condition_and_time_out_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("ready");
        let cat = Cmd::new("cat", [flag.to_str().unwrap()]);
        let writer = {
            let flag = flag.clone();
            std::thread::spawn(move || {
                sleep(Duration::from_millis(1500));
                fs::write(flag, "old\nnew\n").unwrap();
            })
        };
        let until = Until::OtherThan(vec!["old".into()]);
        let out = RealExecutor.poll("the flag", &cat, &until, 60).unwrap();
        writer.join().unwrap();
        assert_eq!(out.as_deref(), Some("old\nnew\n"));
        let never = Cmd::new("false", Vec::<String>::new());
        match RealExecutor.poll("never", &never, &Until::Succeeds, 1) {
            Err(KindError::Timeout { what, seconds }) => {
                assert_eq!((what.as_str(), seconds), ("never", 1))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn until_means_the_same_in_rust_and_in_the_transcripts_tether_poll() {
        let cases: Vec<(Until, &str, bool)> = vec![
            (Until::Succeeds, "", true),
            (Until::Is(vec!["".into(), "false".into()]), " false\n", true),
            (Until::Is(vec!["".into(), "false".into()]), "true", false),
            (Until::Is(vec!["".into(), "false".into()]), "\n", true),
            (
                Until::Has("\"tether\"".into()),
                "{\"type\": \"tether\"}",
                true,
            ),
            (Until::Has("\"tether\"".into()), "/run/tether/x", false),
            (
                Until::Line("m{a=\"b\"} 2".into()),
                "x 1\nm{a=\"b\"} 2\n",
                true,
            ),
            (Until::Line("m{a=\"b\"} 2".into()), "m{a=\"b\"} 20", false),
            (
                Until::After("2026-01-01T10:00:00.000000Z".into()),
                "2026-01-01T10:00:01.000000Z",
                true,
            ),
            (
                Until::After("2026-01-01T10:00:00.000000Z".into()),
                "2026-01-01T10:00:00.000000Z",
                false,
            ),
            (
                Until::OtherThan(vec!["a".into(), "b".into()]),
                "a\nb\n",
                false,
            ),
            (Until::OtherThan(vec!["a".into(), "b".into()]), "b\nc", true),
            (Until::OtherThan(vec![]), "\n", false),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (i, (until, output, expected)) in cases.iter().enumerate() {
            assert_eq!(
                until.accepts(output),
                *expected,
                "Rust: {until:?} {output:?}"
            );
            let file = dir.path().join(format!("out{i}"));
            fs::write(&file, output).unwrap();
            let cat = Cmd::new("cat", [file.to_str().unwrap()]);
            let script = format!(
                "{TRANSCRIPT_HEADER}tether_poll 1 {} -- {cat}\n",
                until.shell().join(" ")
            );
            let status = Command::new("bash")
                .args(["-c", &script])
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert_eq!(status.success(), *expected, "bash: {until:?} {output:?}");
        }
    }

    #[test]
    fn the_dry_run_runs_nothing_but_writes_files_and_a_transcript_bash_accepts() {
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
        let id = exec.capture("ID", &Cmd::new("echo", ["x"])).unwrap();
        assert_eq!(id, "${ID}");
        let ids = exec
            .capture_words("IDS", &Cmd::new("echo", ["a b"]))
            .unwrap();
        assert_eq!(ids, ["${IDS[*]}"]);
        let mut rm = Cmd::new("rm", ["-f"]);
        rm.args.extend(ids);
        exec.run(&rm).unwrap();
        exec.poll(
            "a new one",
            &Cmd::new("echo", [id]),
            &Until::OtherThan(vec![words("IDS")]),
            5,
        )
        .unwrap();
        exec.refute("false fails", &Cmd::new("false", Vec::<String>::new()))
            .unwrap();
        let transcript = exec.transcript().unwrap();
        assert!(transcript.starts_with(TRANSCRIPT_HEADER));
        let body = &transcript[TRANSCRIPT_HEADER.len()..];
        let expected = format!(
            "{touch}\n# wrote {}\nID=$(echo x)\nIDS=$(echo 'a b')\nrm -f ${{IDS[*]}}\n# until a new one, at most 5s\ntether_poll 5 other-than ${{IDS[*]}} -- echo \"${{ID}}\"\nif false; then printf '%s\\n' 'expected to fail: false fails' >&2; exit 1; fi\n",
            dir.path().join("sub/f.yaml").display()
        );
        assert_eq!(body, expected);
        assert_eq!(exec.commands().len(), 6);
        assert_eq!(exec.files(), [dir.path().join("sub/f.yaml")]);
        // and it runs: this transcript's commands are harmless
        let status = Command::new("bash")
            .arg(dir.path().join(DryRunExecutor::TRANSCRIPT))
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "bash commands.sh");
        assert!(marker.exists());
    }
}
