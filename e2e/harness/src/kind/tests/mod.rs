//! Dry-run tests: the whole plan is executed with [`DryRunExecutor`] in a temporary directory,
//! then the files it wrote are parsed as YAML and the commands it printed are checked against
//! the pins. Nothing here needs docker, kind, kubectl, helm or the network.

mod cluster;
mod limits;
mod nodes;
mod scenarios;

use std::path::Path;

use serde_json::Value;

use super::*;

pub(super) struct DryRun {
    pub(super) backend: KindBackend<DryRunExecutor>,
    _dir: tempfile::TempDir,
}

impl DryRun {
    pub(super) fn new() -> DryRun {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let deploy = testkit::repo::deploy_dir();
        let config = KindConfig::new(deploy, work.clone());
        let backend = KindBackend::new(config, DryRunExecutor::new(work).unwrap()).unwrap();
        DryRun { backend, _dir: dir }
    }

    pub(super) fn work(&self) -> &Path {
        &self.backend.config().work_dir
    }

    pub(super) fn yaml(&self, rel: &str) -> Value {
        let text = std::fs::read_to_string(self.work().join(rel)).unwrap();
        serde_saphyr::from_str(&text).unwrap()
    }

    pub(super) fn yaml_docs(&self, rel: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(self.work().join(rel)).unwrap();
        serde_saphyr::from_multiple(&text).unwrap()
    }

    pub(super) fn transcript(&self) -> String {
        self.backend.executor().transcript().unwrap()
    }

    pub(super) fn commands(&self) -> &[Cmd] {
        self.backend.executor().commands()
    }

    /// Index of the first command satisfying `pred`, failing the test if there is none.
    pub(super) fn position(&self, what: &str, pred: impl Fn(&Cmd) -> bool) -> usize {
        self.commands()
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("no command {what} in:\n{}", self.listing()))
    }

    pub(super) fn listing(&self) -> String {
        self.commands().iter().map(|c| format!("{c}\n")).collect()
    }
}

pub(super) fn up_and_install() -> DryRun {
    let mut run = DryRun::new();
    run.backend.up().unwrap();
    run.backend.install_tether().unwrap();
    run
}

pub(super) fn pins() -> Versions {
    Versions::pinned().unwrap()
}
