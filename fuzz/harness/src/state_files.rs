//! `state_files`: the agent's files as a crash (or a disk) may leave them, read back as the
//! agent does at start: the disk cache (framed), the outbox journal and its v1 predecessor
//! (framed), and the journal format itself.
//!
//! Input: byte 0 picks the file (its low 3 bits) and whether the harness seals the content
//! (bit 3): a sealed content gets a valid framed header or valid per-line checksums, so the
//! fuzzer reaches the JSON behind them; the rest is the content.
//!
//! Invariants:
//! - cache: loading fails cleanly and leaves the store unchanged, or loads what saving the
//!   store again and loading that into a fresh store reproduces;
//! - journal: opening keeps every line that ends in a newline and cuts a torn tail, so
//!   opening again finds the same records and nothing torn or foreign; a foreign or newer
//!   file is moved aside byte for byte; a record appended after opening is read back last;
//! - outbox: what opening replays (or migrates from v1) is what opening again finds pending,
//!   and a write pushed after opening is pending after reopening too.

use std::path::Path;
use std::sync::Arc;

use agent::metrics::Metrics;
use agent::state::cache;
use agent::state::journal::{Damage, Journal};
use agent::state::outbox::{Outbox, Write};
use agent::state::store::Store;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::input::mode;

const JOURNAL_MAGIC: &str = "TETHER-FUZZ-JOURNAL";
const OUTBOX_HEADER: &str = "TETHER-AGENT-OUTBOX v2\n";

/// Runs one input; panics on a broken invariant.
pub fn state_files(data: &[u8]) {
    let Some((selector, content)) = mode(data) else {
        return;
    };
    let sealed = selector & 0x08 != 0;
    let dir = tempfile::tempdir().expect("a temporary directory");
    match selector & 0x07 {
        0 | 1 => cache_file(dir.path(), content, sealed),
        2 | 3 => journal_file(dir.path(), content, sealed),
        4 | 5 => outbox_journal(dir.path(), content, sealed),
        _ => outbox_legacy(dir.path(), content, sealed),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `content` under a valid framed header for `magic` v`version`.
fn framed(magic: &str, version: u32, content: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{magic} v{version} {} {}\n",
        content.len(),
        hex(&Sha256::digest(content))
    )
    .into_bytes();
    out.extend_from_slice(content);
    out
}

/// Each line of `content` prefixed with its valid checksum, after `header`.
fn journaled(header: &str, content: &[u8]) -> Vec<u8> {
    let mut out = header.as_bytes().to_vec();
    let mut lines = content.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        out.extend_from_slice(hex(&Sha256::digest(line)[..8]).as_bytes());
        out.push(b' ');
        out.extend_from_slice(line);
        // The last piece has no newline: a torn tail, as a crash leaves it.
        if lines.peek().is_some() {
            out.push(b'\n');
        }
    }
    out
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("creating the state directory");
    }
    std::fs::write(path, bytes).expect("writing the state file");
}

fn snapshot(store: &Store) -> Value {
    let (node, pods, profiles) = store.contents();
    serde_json::json!({
        "node": serde_json::to_value(node).expect("node as JSON"),
        "pods": serde_json::to_value(pods).expect("pods as JSON"),
        "profiles": serde_json::to_value(profiles).expect("profiles as JSON"),
        "counts": [store.counts().0, store.counts().1, store.counts().2],
        "loaded": store.loaded(),
    })
}

fn cache_file(dir: &Path, content: &[u8], sealed: bool) {
    let path = cache::path(dir);
    let bytes = if sealed {
        framed("TETHER-AGENT-CACHE", cache::FORMAT_VERSION, content)
    } else {
        content.to_vec()
    };
    write(&path, &bytes);
    let store = Store::new("edge-1");
    let before = snapshot(&store);
    match cache::load(&store, &path) {
        Err(_) | Ok(cache::Loaded::OtherNode(_) | cache::Loaded::Absent) => {
            assert_eq!(
                snapshot(&store),
                before,
                "a refused cache changed the store"
            );
        }
        Ok(cache::Loaded::Loaded(..)) => {
            let again = dir.join("again").join("store.v1");
            cache::save(&store, &again).expect("saving what was loaded");
            let fresh = Store::new("edge-1");
            let loaded = cache::load(&fresh, &again).expect("loading what was saved");
            assert!(matches!(loaded, cache::Loaded::Loaded(..)), "{loaded:?}");
            assert_eq!(snapshot(&fresh), snapshot(&store), "cache round trip");
        }
    }
}

fn open(path: &Path) -> (Journal, Vec<Value>, Vec<Damage>) {
    Journal::open::<Value>(path, JOURNAL_MAGIC, 1).expect("opening a journal in a fresh dir")
}

fn journal_file(dir: &Path, content: &[u8], sealed: bool) {
    let path = dir.join("journal");
    let bytes = if sealed {
        journaled(&format!("{JOURNAL_MAGIC} v1\n"), content)
    } else {
        content.to_vec()
    };
    write(&path, &bytes);
    let (journal, records, damage) = open(&path);
    drop(journal);
    for d in &damage {
        if let Damage::Foreign { moved_to } | Damage::Newer { moved_to, .. } = d {
            let aside = std::fs::read(moved_to).expect("reading the file moved aside");
            assert_eq!(aside, bytes, "the file moved aside is not the original");
            assert!(records.is_empty());
        }
    }
    let on_disk = std::fs::read(&path).expect("reading the journal");
    assert!(on_disk.starts_with(format!("{JOURNAL_MAGIC} v").as_bytes()));
    assert_eq!(on_disk.last(), Some(&b'\n'), "the journal ends mid-line");
    let (mut journal, again, damage_again) = open(&path);
    assert_eq!(again, records, "records after reopening");
    let kept: Vec<&Damage> = damage
        .iter()
        .filter(|d| matches!(d, Damage::Checksum { .. } | Damage::Record { .. }))
        .collect();
    assert_eq!(
        damage_again.iter().collect::<Vec<_>>(),
        kept,
        "damage after reopening"
    );
    let appended = serde_json::json!({"appended": records.len()});
    journal.append(&appended).expect("appending");
    drop(journal);
    let (_, last, _) = open(&path);
    assert_eq!(last.len(), records.len() + 1);
    assert_eq!(last.last(), Some(&appended), "the appended record");
}

fn open_outbox(path: &Path) -> Arc<Outbox> {
    Outbox::open(path, 8, Arc::new(Metrics::default())).0
}

fn outbox_journal(dir: &Path, content: &[u8], sealed: bool) {
    let path = Outbox::path(dir);
    let bytes = if sealed {
        journaled(OUTBOX_HEADER, content)
    } else {
        content.to_vec()
    };
    write(&path, &bytes);
    check_outbox(&path);
}

fn outbox_legacy(dir: &Path, content: &[u8], sealed: bool) {
    let path = Outbox::path(dir);
    let legacy = path.with_file_name("outbox.v1");
    let bytes = if sealed {
        framed("TETHER-AGENT-OUTBOX", 1, content)
    } else {
        content.to_vec()
    };
    write(&legacy, &bytes);
    check_outbox(&path);
}

fn check_outbox(path: &Path) {
    let outbox = open_outbox(path);
    let pending = outbox.pending();
    drop(outbox);
    let outbox = open_outbox(path);
    assert_eq!(outbox.pending(), pending, "pending after reopening");
    let write = Write::ProfileApplied {
        namespace: "fuzz".into(),
        pod_name: "p".into(),
        pod_uid: "u".into(),
        profile: "fast".into(),
        generation: 1,
        note: "n".into(),
        time: "2024-01-01T00:00:00Z".into(),
    };
    let queued = outbox.push(write.clone());
    drop(outbox);
    let outbox = open_outbox(path);
    if queued {
        assert!(
            outbox.pending().contains(&write),
            "pushed, then lost on reopening"
        );
    }
}
