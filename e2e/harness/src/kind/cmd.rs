//! A command as an argv vector, never a shell string; optionally with its standard output sent
//! to a file (`helm template … > file`), and with placeholders for values only a real run
//! knows (`${CP_IPV4}`), which a dry run writes into its transcript as shell variables.

use std::fmt;
use std::path::{Path, PathBuf};

/// One program invocation: what the plan builds and an executor runs or prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The program, looked up on PATH (`docker`, `kind`, `kubectl`, `helm`).
    pub program: String,
    /// Its arguments, passed as they are.
    pub args: Vec<String>,
    /// Where its standard output goes instead of the caller (`> file` in the transcript).
    pub stdout_to: Option<PathBuf>,
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
            stdout_to: None,
        }
    }

    /// The same command with its standard output written to `file`.
    pub fn stdout_to(mut self, file: &Path) -> Cmd {
        self.stdout_to = Some(file.to_owned());
        self
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

    /// The names of the placeholders in the arguments: a real run must never see one.
    pub fn placeholders(&self) -> Vec<String> {
        self.args
            .iter()
            .flat_map(|a| segments(a))
            .filter_map(|s| match s {
                Segment::Var(name) | Segment::Words(name) => Some(name.to_owned()),
                Segment::Text(_) => None,
            })
            .collect()
    }
}

/// A placeholder for one value only a real run knows: `${NAME}`, written `"${NAME}"` in the
/// transcript. `NAME` is upper case, digits and `_`.
pub fn var(name: &str) -> String {
    format!("${{{name}}}")
}

/// A placeholder for a whitespace-separated list only a real run knows, standing for as many
/// arguments as it has words: `${NAME[*]}`, written unquoted so the shell splits it.
pub fn words(name: &str) -> String {
    format!("${{{name}[*]}}")
}

/// Shell-quoted, so a printed plan can be pasted into bash.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self.argv().into_iter().map(shell_word).collect();
        f.write_str(&quoted.join(" "))?;
        if let Some(file) = &self.stdout_to {
            write!(f, " > {}", shell_quote(&file.display().to_string()))?;
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Segment<'a> {
    Text(&'a str),
    Var(&'a str),
    Words(&'a str),
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `word` cut into literal text and placeholders; a `${NAME[*]}` counts only as a whole word.
fn segments(word: &str) -> Vec<Segment<'_>> {
    if let Some(name) = word
        .strip_prefix("${")
        .and_then(|w| w.strip_suffix("[*]}"))
        .filter(|n| is_var_name(n))
    {
        return vec![Segment::Words(name)];
    }
    let mut out = Vec::new();
    // `text_from`: where the literal text not yet emitted starts; `at`: where to look next
    let (mut text_from, mut at) = (0, 0);
    while let Some(found) = word[at..].find("${") {
        let start = at + found;
        let name_from = start + 2;
        match word[name_from..].find('}') {
            Some(len) if is_var_name(&word[name_from..name_from + len]) => {
                if start > text_from {
                    out.push(Segment::Text(&word[text_from..start]));
                }
                out.push(Segment::Var(&word[name_from..name_from + len]));
                text_from = name_from + len + 1;
                at = text_from;
            }
            _ => at = name_from,
        }
    }
    if text_from < word.len() || out.is_empty() {
        out.push(Segment::Text(&word[text_from..]));
    }
    out
}

/// One argument for bash: literal text quoted, placeholders expanded by the shell.
pub fn shell_word(word: &str) -> String {
    let parts = segments(word);
    if let [Segment::Text(text)] = parts.as_slice() {
        return shell_quote(text);
    }
    parts
        .into_iter()
        .map(|s| match s {
            Segment::Text(text) => shell_quote(text),
            Segment::Var(name) => format!("\"${{{name}}}\""),
            Segment::Words(name) => format!("${{{name}[*]}}"),
        })
        .collect()
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

    #[test]
    fn a_redirected_command_says_where_its_output_goes() {
        let cmd = Cmd::new("helm", ["template", "x"]).stdout_to(Path::new("/w/a b.yaml"));
        assert_eq!(cmd.to_string(), "helm template x > '/w/a b.yaml'");
    }

    #[test]
    fn placeholders_become_shell_expansions_and_nothing_else_does() {
        let cmd = Cmd::new(
            "docker",
            [
                "exec".to_owned(),
                var("NODE"),
                format!("/var/lib/tether/cni/{}@eth0.json", var("SANDBOX")),
                words("OLD_IDS"),
                "${lower}".into(),
                "$HOME".into(),
                "{{.Id}}".into(),
            ],
        );
        assert_eq!(
            cmd.to_string(),
            r#"docker exec "${NODE}" /var/lib/tether/cni/"${SANDBOX}"@eth0.json ${OLD_IDS[*]} '${lower}' '$HOME' '{{.Id}}'"#
        );
        assert_eq!(cmd.placeholders(), ["NODE", "SANDBOX", "OLD_IDS"]);
        assert!(Cmd::new("kubectl", ["get", "x"]).placeholders().is_empty());
        // the rendering is valid bash: it survives `bash -n`
        let status = std::process::Command::new("bash")
            .args(["-n", "-c", &cmd.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}
