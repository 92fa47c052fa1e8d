//! Preflight: docker, kind, kubectl and helm on PATH, at versions the pins allow.

use std::env;
use std::path::Path;

use super::error::KindError;
use super::exec::Executor;
use super::plan;
use super::versions::{Semver, Versions};

/// The tools the kind tier runs, in the order they are checked.
pub const TOOLS: [&str; 4] = ["docker", "kind", "kubectl", "helm"];

/// What preflight found: each tool with the version it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    /// `(tool, version)` pairs.
    pub tools: Vec<(&'static str, String)>,
}

/// Whether `program` is an executable file in one of `path`'s directories.
pub fn on_path(program: &str, path: &str) -> bool {
    env::split_paths(path).any(|dir| is_executable(&dir.join(program)))
}

fn is_executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    file.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Names every missing tool at once (not just the first) so one `nix develop` fixes them all.
pub fn missing_tools(path: &str) -> Vec<&'static str> {
    TOOLS
        .into_iter()
        .filter(|tool| !on_path(tool, path))
        .collect()
}

/// `kind v0.31.0 go1.25.5 linux/amd64` → v0.31.0.
pub fn parse_kind_version(output: &str) -> Option<Semver> {
    let mut words = output.split_whitespace();
    (words.next()? == "kind").then_some(())?;
    Semver::parse(words.next()?)
}

/// `kubectl version --client --output=json` → the client's gitVersion.
pub fn parse_kubectl_version(output: &str) -> Option<Semver> {
    let json: serde_json::Value = serde_json::from_str(output).ok()?;
    let git = json.get("clientVersion")?.get("gitVersion")?.as_str()?;
    // gitVersion may carry a build suffix (v1.34.1+k3s1, v1.34.1-dirty)
    Semver::parse(git.split(['+', '-']).next()?)
}

/// `helm version --short` → `v3.19.0+g3d8990f` → v3.19.0.
pub fn parse_helm_version(output: &str) -> Option<Semver> {
    Semver::parse(output.trim().split('+').next()?)
}

/// Checks a tool's version against the pins; `Ok` carries the version for the report.
pub fn check_version(
    tool: &'static str,
    output: &str,
    versions: &Versions,
) -> Result<String, KindError> {
    let wrong = |found: &str, wanted: String| {
        Err(KindError::WrongVersion {
            tool,
            found: found.trim().to_owned(),
            wanted,
        })
    };
    match tool {
        "kind" => match parse_kind_version(output) {
            Some(v) if (v.major, v.minor) == (versions.kind.major, versions.kind.minor) => {
                Ok(v.to_string())
            }
            _ => wrong(
                output,
                format!(
                    "hack/versions.env pins kind {}.x (its node image is built for that release)",
                    minor(versions.kind)
                ),
            ),
        },
        "kubectl" => match parse_kubectl_version(output) {
            // kubectl supports one minor version of skew either way with the API server
            Some(v)
                if v.major == versions.kubernetes.major
                    && v.minor.abs_diff(versions.kubernetes.minor) <= 1 =>
            {
                Ok(v.to_string())
            }
            _ => wrong(
                output,
                format!(
                    "kubectl must be within one minor version of Kubernetes {}",
                    versions.kubernetes
                ),
            ),
        },
        "helm" => match parse_helm_version(output) {
            Some(v) if v.major >= 3 => Ok(v.to_string()),
            _ => wrong(
                output,
                "helm v3 or later is needed (`--repo` installs)".into(),
            ),
        },
        _ => match output.trim() {
            "" => wrong(output, "the docker daemon must be running".into()),
            version => Ok(version.to_owned()),
        },
    }
}

fn minor(v: Semver) -> String {
    format!("v{}.{}", v.major, v.minor)
}

/// Runs the preflight through `exec`: first PATH, then each tool's version. In a dry run only
/// the version probes are printed.
pub fn run(exec: &mut dyn Executor, versions: &Versions) -> Result<Option<Toolchain>, KindError> {
    if !exec.is_dry_run() {
        let path = env::var("PATH").unwrap_or_default();
        let missing = missing_tools(&path);
        if !missing.is_empty() {
            let found: Vec<&str> = TOOLS.into_iter().filter(|t| !missing.contains(t)).collect();
            let found = if found.is_empty() {
                "none".to_owned()
            } else {
                found.join(", ")
            };
            return Err(KindError::MissingTools {
                missing: missing.join(", "),
                found,
            });
        }
    }
    let mut tools = Vec::new();
    for (tool, probe) in plan::tool_versions() {
        // a probe that fails is reported as such, with its standard error
        let Some(stdout) = exec.run(&probe)? else {
            continue;
        };
        tools.push((tool, check_version(tool, &stdout, versions)?));
    }
    Ok((!exec.is_dry_run()).then_some(Toolchain { tools }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_real_outputs() {
        assert_eq!(
            parse_kind_version("kind v0.31.0 go1.25.5 linux/amd64\n"),
            Semver::parse("v0.31.0")
        );
        let kubectl = r#"{"clientVersion":{"major":"1","minor":"34","gitVersion":"v1.34.2","platform":"linux/amd64"},"kustomizeVersion":"v5.7.1"}"#;
        assert_eq!(parse_kubectl_version(kubectl), Semver::parse("v1.34.2"));
        assert_eq!(
            parse_helm_version("v3.19.0+g3d8990f\n"),
            Semver::parse("v3.19.0")
        );
        assert_eq!(parse_kind_version("kubectl v0.31.0"), None);
    }

    #[test]
    fn versions_outside_the_pins_are_refused_with_the_reason() {
        let v = Versions::pinned().unwrap();
        assert!(check_version("kind", "kind v0.31.2 go1.25 linux/amd64", &v).is_ok());
        let err = check_version("kind", "kind v0.30.0 go1.24 linux/amd64", &v)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("v0.31.x") && err.contains("nix develop"),
            "{err}"
        );
        let old = r#"{"clientVersion":{"gitVersion":"v1.32.3"}}"#;
        assert!(
            check_version("kubectl", old, &v)
                .unwrap_err()
                .to_string()
                .contains("within one minor")
        );
        assert!(
            check_version(
                "kubectl",
                r#"{"clientVersion":{"gitVersion":"v1.35.0"}}"#,
                &v
            )
            .is_ok()
        );
        assert!(check_version("helm", "v2.17.0+ga690bad", &v).is_err());
        assert!(check_version("docker", "\n", &v).is_err());
    }

    #[test]
    fn every_missing_tool_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        assert_eq!(missing_tools(path), TOOLS.to_vec());
        use std::os::unix::fs::PermissionsExt;
        for tool in ["kind", "helm"] {
            let file = dir.path().join(tool);
            std::fs::write(&file, "").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.path().join("docker"), "").unwrap(); // not executable: not found
        assert_eq!(missing_tools(path), vec!["docker", "kubectl"]);
    }
}
