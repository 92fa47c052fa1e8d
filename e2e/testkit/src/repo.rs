//! The checkout: its root, `deploy/` and the documents `kubectl apply -k deploy/` sends.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why deploy/ could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A file is not the YAML it should be.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The root of the checkout (where the workspace's Cargo.toml is).
pub fn root() -> PathBuf {
    // This crate sits at e2e/testkit; its manifest dir is fixed at compile time.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The kustomize base, `deploy/`.
pub fn deploy_dir() -> PathBuf {
    root().join("deploy")
}

/// The text of `deploy/<file>`.
pub fn deploy_file(file: &str) -> Result<String, DeployError> {
    let path = deploy_dir().join(file);
    std::fs::read_to_string(&path).map_err(|source| DeployError::Read { path, source })
}

/// The YAML documents of `deploy/<file>`, empty documents dropped.
pub fn deploy_file_documents(file: &str) -> Result<Vec<Value>, DeployError> {
    let text = deploy_file(file)?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| DeployError::Parse {
        path: deploy_dir().join(file),
        message: e.to_string(),
    })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The files of deploy/kustomization.yaml's `resources`, in order.
pub fn deploy_resources() -> Result<Vec<String>, DeployError> {
    let path = deploy_dir().join("kustomization.yaml");
    let kustomization = deploy_file_documents("kustomization.yaml")?;
    let resources = kustomization
        .first()
        .and_then(|k| k["resources"].as_array())
        .ok_or_else(|| DeployError::Parse {
            path: path.clone(),
            message: "no resources list".into(),
        })?;
    resources
        .iter()
        .map(|r| {
            r.as_str()
                .map(str::to_string)
                .ok_or_else(|| DeployError::Parse {
                    path: path.clone(),
                    message: format!("resource {r} is not a file name"),
                })
        })
        .collect()
}

/// Every document of deploy/ in kustomization order, as `kubectl apply -k deploy/` sends them.
pub fn deploy_documents() -> Result<Vec<Value>, DeployError> {
    let mut docs = Vec::new();
    for file in deploy_resources()? {
        docs.extend(deploy_file_documents(&file)?);
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_documents_start_with_the_namespace_and_include_the_crd() {
        let docs = deploy_documents().unwrap_or_else(|e| panic!("{e}"));
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert!(kinds.contains(&"CustomResourceDefinition"), "{kinds:?}");
        assert!(kinds.contains(&"DaemonSet"), "{kinds:?}");
        assert_eq!(kinds.len(), docs.len(), "every document has a kind");
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = deploy_file("no-such.yaml").err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("deploy/no-such.yaml")),
            "{err:?}"
        );
    }
}
