//! Replays every file of `fuzz/corpus/<target>/` through its target's body, so the corpora
//! (and every crash reproducer kept in them) run as regression tests on stable Rust.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{}: an empty corpus tests nothing",
        dir.display()
    );
    for file in files {
        let data = std::fs::read(&file).unwrap();
        // Name the input before running it: a panic's message alone does not say which.
        eprintln!("{target}: {}", file.display());
        body(&data);
    }
}

#[test]
fn plugin_config() {
    replay("plugin_config", tether_fuzz::plugin_config);
}

#[test]
fn result_conversion() {
    replay("result_conversion", tether_fuzz::result_conversion);
}

#[test]
fn socket_request() {
    replay("socket_request", tether_fuzz::socket_request);
}

#[test]
fn state_files() {
    replay("state_files", tether_fuzz::state_files);
}

#[test]
fn patch_select() {
    replay("patch_select", tether_fuzz::patch_select);
}

#[test]
fn every_fuzz_target_is_replayed() {
    let here = include_str!("corpus.rs");
    let targets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz_targets");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&targets).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            here.contains(&format!("replay(\"{name}\", tether_fuzz::{name})")),
            "fuzz target {name} has no replay test here"
        );
        names.push(name);
    }
    assert_eq!(names.len(), 5, "{names:?}");
}
