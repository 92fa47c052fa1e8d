//! A command as an argv vector, never a shell string.

use std::fmt;

/// One program invocation: what the plan builds and an executor runs or prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The program, looked up on PATH (`docker`, `kind`, `kubectl`, `helm`).
    pub program: String,
    /// Its arguments, passed as they are.
    pub args: Vec<String>,
}

impl Cmd {
    /// A command with arguments.
    pub fn new<I, S>(program: &str, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            program: program.to_owned(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// The full argv: program first.
    pub fn argv(&self) -> Vec<&str> {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect()
    }

    /// Whether the arguments contain `needle` as consecutive elements.
    pub fn has_args(&self, needle: &[&str]) -> bool {
        !needle.is_empty()
            && self
                .args
                .windows(needle.len())
                .any(|w| w.iter().zip(needle).all(|(a, b)| a == b))
    }

    /// The value following flag `flag` (`--flag value`) or given as `--flag=value`.
    pub fn flag(&self, flag: &str) -> Option<&str> {
        let prefix = format!("{flag}=");
        self.args
            .iter()
            .enumerate()
            .find_map(|(i, arg)| match arg.strip_prefix(&prefix) {
                Some(value) => Some(value),
                None if arg == flag => self.args.get(i + 1).map(String::as_str),
                None => None,
            })
    }
}

/// Shell-quoted, so a printed plan can be pasted into bash.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self.argv().into_iter().map(shell_quote).collect();
        f.write_str(&quoted.join(" "))
    }
}

/// Quotes one word for POSIX sh when it contains anything but safe characters.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b));
    match safe {
        true => word.to_owned(),
        false => format!("'{}'", word.replace('\'', r"'\''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_needs_it() {
        let cmd = Cmd::new("kubectl", ["wait", "--for=jsonpath={.a}=true", "it's"]);
        assert_eq!(
            cmd.to_string(),
            r#"kubectl wait '--for=jsonpath={.a}=true' 'it'\''s'"#
        );
        assert_eq!(
            Cmd::new("docker", ["network", "disconnect", "kind", "n-1"]).to_string(),
            "docker network disconnect kind n-1"
        );
    }

    #[test]
    fn flags_are_found_in_both_spellings() {
        let cmd = Cmd::new("helm", ["--version", "1.7.0", "--namespace=kube-system"]);
        assert_eq!(cmd.flag("--version"), Some("1.7.0"));
        assert_eq!(cmd.flag("--namespace"), Some("kube-system"));
        assert_eq!(cmd.flag("--values"), None);
        assert!(cmd.has_args(&["--version", "1.7.0"]));
        assert!(!cmd.has_args(&["1.7.0", "--version"]));
    }
}
