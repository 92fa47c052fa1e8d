//! The pins in `hack/versions.env`, shared with the hack/ scripts, embedded at compile time and
//! parsed into typed values.

use std::collections::BTreeMap;
use std::fmt;

/// The text of `hack/versions.env`, as compiled into this crate.
pub const VERSIONS_ENV: &str = include_str!("../../../../hack/versions.env");

/// Why `hack/versions.env` could not be read into [`Versions`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionsError {
    /// A line that is neither blank, a comment, nor `KEY=value`.
    #[error("hack/versions.env line {line}: expected KEY=value, got {text:?}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// The offending line.
        text: String,
    },
    /// A key the harness needs is absent.
    #[error("hack/versions.env: {0} is missing")]
    Missing(&'static str),
    /// A key appears twice.
    #[error("hack/versions.env: {0} is set twice")]
    Duplicate(String),
    /// A value does not have the form its key requires.
    #[error("hack/versions.env: {key}={value:?} is not {expected}")]
    Malformed {
        /// The key.
        key: &'static str,
        /// The value found.
        value: String,
        /// What the value must look like.
        expected: &'static str,
    },
}

/// A semantic version `vMAJOR.MINOR.PATCH` or `MAJOR.MINOR.PATCH` (no pre-release suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Semver {
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
    /// Patch version.
    pub patch: u64,
}

impl Semver {
    /// Parses `1.2.3` or `v1.2.3`; anything else (suffixes, missing parts, signs) is `None`.
    pub fn parse(text: &str) -> Option<Semver> {
        let core = text.strip_prefix('v').unwrap_or(text);
        let mut parts = core.split('.');
        let mut next = || -> Option<u64> {
            let part = parts.next()?;
            let digits_only = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            // semver forbids leading zeros in numeric identifiers
            if !digits_only || (part.len() > 1 && part.starts_with('0')) {
                return None;
            }
            part.parse().ok()
        };
        let version = Semver {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        match parts.next() {
            None => Some(version),
            Some(_) => None,
        }
    }
}

impl fmt::Display for Semver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// An image reference pinned by digest: `repository:tag@sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedImage {
    /// For example `kindest/node`.
    pub repository: String,
    /// For example `v1.34.3`.
    pub tag: String,
    /// The 64 lowercase hex digits after `sha256:`.
    pub sha256: String,
}

impl PinnedImage {
    /// Parses `repo:tag@sha256:<64 lowercase hex>`.
    pub fn parse(text: &str) -> Option<PinnedImage> {
        let (name, digest) = text.split_once('@')?;
        let sha256 = digest.strip_prefix("sha256:")?;
        let (repository, tag) = name.rsplit_once(':')?;
        let valid = is_lower_hex(sha256, 64)
            && !repository.is_empty()
            && !repository.contains(['@', ' '])
            && !tag.is_empty();
        valid.then(|| PinnedImage {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
            sha256: sha256.to_owned(),
        })
    }
}

impl fmt::Display for PinnedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}@sha256:{}", self.repository, self.tag, self.sha256)
    }
}

/// Whether `text` is exactly `len` lowercase hex digits.
pub fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every pin of the Kind tier, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// kind CLI release the cluster is made with (`KIND_VERSION`).
    pub kind: Semver,
    /// Commit of kind's release tag (`KIND_COMMIT`).
    pub kind_commit: String,
    /// Node image built for that kind release (`KIND_NODE_IMAGE`).
    pub kind_node_image: PinnedImage,
    /// Kubernetes version of the node image (`KUBERNETES_VERSION`).
    pub kubernetes: Semver,
    /// OpenYurt release (`OPENYURT_VERSION`).
    pub openyurt: Semver,
    /// Commit of OpenYurt's release tag (`OPENYURT_COMMIT`).
    pub openyurt_commit: String,
    /// Helm repository serving OpenYurt's charts (`OPENYURT_HELM_REPO`).
    pub openyurt_helm_repo: String,
    /// Commit of openyurtio/charts holding the chart versions below (`OPENYURT_CHARTS_COMMIT`).
    pub openyurt_charts_commit: String,
    /// Version of chart `yurt-manager` (`YURT_MANAGER_CHART_VERSION`).
    pub yurt_manager_chart: Semver,
    /// Version of chart `yurthub` (`YURTHUB_CHART_VERSION`).
    pub yurthub_chart: Semver,
    /// Tag of image `openyurt/yurt-manager` (`YURT_MANAGER_IMAGE_TAG`).
    pub yurt_manager_image_tag: Semver,
    /// Tag of image `openyurt/node-servant` (`NODE_SERVANT_IMAGE_TAG`).
    pub node_servant_image_tag: Semver,
}

impl Versions {
    /// The pins compiled into this crate from `hack/versions.env`.
    pub fn pinned() -> Result<Versions, VersionsError> {
        Versions::parse(VERSIONS_ENV)
    }

    /// Parses the text of a versions file; every key must be present and well-formed.
    pub fn parse(text: &str) -> Result<Versions, VersionsError> {
        let map = parse_env(text)?;
        let get = |key: &'static str| {
            map.get(key)
                .map(String::as_str)
                .ok_or(VersionsError::Missing(key))
        };
        let semver = |key: &'static str| -> Result<Semver, VersionsError> {
            let value = get(key)?;
            Semver::parse(value)
                .ok_or_else(|| malformed(key, value, "a semantic version like v1.2.3"))
        };
        let commit = |key: &'static str| -> Result<String, VersionsError> {
            let value = get(key)?;
            match is_lower_hex(value, 40) {
                true => Ok(value.to_owned()),
                false => Err(malformed(key, value, "a 40-hex-digit git commit")),
            }
        };
        let image_text = get("KIND_NODE_IMAGE")?;
        let kind_node_image = PinnedImage::parse(image_text).ok_or_else(|| {
            malformed(
                "KIND_NODE_IMAGE",
                image_text,
                "an image pinned as repo:tag@sha256:<64 hex>",
            )
        })?;
        let repo = get("OPENYURT_HELM_REPO")?;
        if !repo.starts_with("https://") || repo.contains(char::is_whitespace) {
            return Err(malformed("OPENYURT_HELM_REPO", repo, "an https:// URL"));
        }
        let versions = Versions {
            kind: semver("KIND_VERSION")?,
            kind_commit: commit("KIND_COMMIT")?,
            kind_node_image,
            kubernetes: semver("KUBERNETES_VERSION")?,
            openyurt: semver("OPENYURT_VERSION")?,
            openyurt_commit: commit("OPENYURT_COMMIT")?,
            openyurt_helm_repo: repo.to_owned(),
            openyurt_charts_commit: commit("OPENYURT_CHARTS_COMMIT")?,
            yurt_manager_chart: semver("YURT_MANAGER_CHART_VERSION")?,
            yurthub_chart: semver("YURTHUB_CHART_VERSION")?,
            yurt_manager_image_tag: semver("YURT_MANAGER_IMAGE_TAG")?,
            node_servant_image_tag: semver("NODE_SERVANT_IMAGE_TAG")?,
        };
        // the node image's tag names the Kubernetes version; a mismatch means a half-done bump
        if Semver::parse(&versions.kind_node_image.tag) != Some(versions.kubernetes) {
            return Err(malformed(
                "KUBERNETES_VERSION",
                &versions.kubernetes.to_string(),
                "the tag of KIND_NODE_IMAGE",
            ));
        }
        Ok(versions)
    }
}

fn malformed(key: &'static str, value: &str, expected: &'static str) -> VersionsError {
    VersionsError::Malformed {
        key,
        value: value.to_owned(),
        expected,
    }
}

/// Parses `KEY=value` lines the way bash's `source` would read this restricted form: blank
/// lines and `#` comments are skipped, values are taken literally (no quotes, no expansions).
fn parse_env(text: &str) -> Result<BTreeMap<String, String>, VersionsError> {
    let mut map = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let syntax = || VersionsError::Syntax {
            line: index + 1,
            text: raw.to_owned(),
        };
        let (key, value) = line.split_once('=').ok_or_else(syntax)?;
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && !key.starts_with(|c: char| c.is_ascii_digit());
        // anything bash would interpret differently from the literal text is refused
        let value_ok = !value.is_empty()
            && !value.contains(|c: char| c.is_whitespace() || "'\"$`\\;&|<>()#".contains(c));
        if !key_ok || !value_ok {
            return Err(syntax());
        }
        if map.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(VersionsError::Duplicate(key.to_owned()));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_file_parses_and_every_pin_is_well_formed() {
        let v = Versions::pinned().unwrap();
        assert_eq!((v.kind.major, v.kind.minor), (0, 31), "kind v0.31.x");
        assert_eq!(
            (v.kubernetes.major, v.kubernetes.minor),
            (1, 34),
            "Kubernetes v1.34.x"
        );
        assert_eq!(v.kind_node_image.repository, "kindest/node");
        assert_eq!(v.kind_node_image.tag, v.kubernetes.to_string());
        assert!(is_lower_hex(&v.kind_node_image.sha256, 64));
        for commit in [
            &v.kind_commit,
            &v.openyurt_commit,
            &v.openyurt_charts_commit,
        ] {
            assert!(is_lower_hex(commit, 40), "{commit}");
        }
        assert_eq!(
            v.openyurt,
            Semver {
                major: 1,
                minor: 7,
                patch: 0
            }
        );
        // charts and images must all be of the same OpenYurt release
        for pin in [
            v.yurt_manager_chart,
            v.yurthub_chart,
            v.yurt_manager_image_tag,
            v.node_servant_image_tag,
        ] {
            assert_eq!(pin, v.openyurt);
        }
    }

    #[test]
    fn semver_rejects_what_is_not_one() {
        assert_eq!(
            Semver::parse("v1.34.3"),
            Some(Semver {
                major: 1,
                minor: 34,
                patch: 3
            })
        );
        assert_eq!(
            Semver::parse("0.31.0"),
            Some(Semver {
                major: 0,
                minor: 31,
                patch: 0
            })
        );
        for bad in [
            "",
            "v1.34",
            "v1.34.3-rc.1",
            "1.34.3.4",
            "v01.2.3",
            "v1.x.3",
            "latest",
            "v-1.2.3",
        ] {
            assert_eq!(Semver::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pinned_image_needs_a_full_sha256_digest() {
        let hex = "a".repeat(64);
        assert!(PinnedImage::parse(&format!("kindest/node:v1.34.3@sha256:{hex}")).is_some());
        for bad in [
            "kindest/node:v1.34.3".to_owned(),
            format!("kindest/node@sha256:{hex}"),
            format!("kindest/node:v1.34.3@sha256:{}", "a".repeat(63)),
            format!("kindest/node:v1.34.3@sha256:{}", "A".repeat(64)),
            format!("kindest/node:v1.34.3@sha512:{hex}"),
        ] {
            assert_eq!(PinnedImage::parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_files_get_errors_naming_the_key_or_line() {
        let good = VERSIONS_ENV;
        let dropped: String = good
            .lines()
            .filter(|l| !l.starts_with("KIND_COMMIT="))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            Versions::parse(&dropped),
            Err(VersionsError::Missing("KIND_COMMIT"))
        );
        let twice = format!("{good}\nKIND_VERSION=v0.31.0\n");
        assert_eq!(
            Versions::parse(&twice),
            Err(VersionsError::Duplicate("KIND_VERSION".into()))
        );
        let quoted = good.replace("KIND_VERSION=v0.31.0", "KIND_VERSION=\"v0.31.0\"");
        assert!(matches!(
            Versions::parse(&quoted),
            Err(VersionsError::Syntax { .. })
        ));
        let short = good.replace("OPENYURT_COMMIT=35ef4cd6", "OPENYURT_COMMIT=35ef");
        assert!(matches!(
            Versions::parse(&short),
            Err(VersionsError::Malformed {
                key: "OPENYURT_COMMIT",
                ..
            })
        ));
        let skew = good.replace("KUBERNETES_VERSION=v1.34.3", "KUBERNETES_VERSION=v1.34.4");
        assert!(matches!(
            Versions::parse(&skew),
            Err(VersionsError::Malformed {
                key: "KUBERNETES_VERSION",
                ..
            })
        ));
    }
}
