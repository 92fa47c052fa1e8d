//! The journal's file format and its damage cases: torn tails, bad checksums, unknown
//! records, foreign and newer files, and compaction with records appended meanwhile.

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Rec {
    n: u32,
}

const MAGIC: &str = "TEST-JOURNAL";

fn open(path: &Path) -> (Journal, Vec<Rec>, Vec<Damage>) {
    Journal::open::<Rec>(path, MAGIC, 2).unwrap()
}

fn written(dir: &Path, records: &[u32]) -> PathBuf {
    let path = dir.join("j").join("journal.v2");
    let (mut j, _, _) = open(&path);
    for n in records {
        j.append(&Rec { n: *n }).unwrap();
    }
    path
}

fn ns(records: &[Rec]) -> Vec<u32> {
    records.iter().map(|r| r.n).collect()
}

#[test]
fn the_format_is_a_header_then_one_checksummed_json_line_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), &[1, 2]);
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "TEST-JOURNAL v2");
    assert_eq!(lines[1], format!("{} {{\"n\":1}}", checksum(b"{\"n\":1}")));
    assert_eq!(lines[1].split_once(' ').unwrap().0.len(), 16);
    assert_eq!(lines.len(), 3);
    let (j, records, damage) = open(&path);
    assert_eq!((ns(&records), damage, j.records()), (vec![1, 2], vec![], 2));
}

#[test]
fn a_torn_last_record_is_cut_off_and_the_next_append_starts_a_clean_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), &[1, 2]);
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(b"0123456789abcdef {\"n\":");
    fs::write(&path, &bytes).unwrap();
    let (mut j, records, damage) = open(&path);
    assert_eq!(ns(&records), [1, 2]);
    assert_eq!(damage, [Damage::TornTail { bytes: 22 }]);
    j.append(&Rec { n: 3 }).unwrap();
    drop(j);
    let (_, records, damage) = open(&path);
    assert_eq!((ns(&records), damage), (vec![1, 2, 3], vec![]));
}

#[test]
fn a_damaged_line_is_skipped_and_reported_the_others_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), &[1, 2, 3]);
    let text = fs::read_to_string(&path).unwrap();
    // A flipped bit in record 2's JSON; a line that is not a record of this type (valid sum).
    let json = "{\"other\":true}";
    let foreign_record = format!("{} {json}\n", checksum(json.as_bytes()));
    let damaged = text.replacen("{\"n\":2}", "{\"n\":7}", 1) + &foreign_record + "garbage\n";
    fs::write(&path, damaged).unwrap();
    let (_, records, damage) = open(&path);
    assert_eq!(ns(&records), [1, 3]);
    assert_eq!(damage.len(), 3, "{damage:?}");
    assert_eq!(damage[0], Damage::Checksum { line: 3 });
    assert!(
        matches!(&damage[1], Damage::Record { line: 5, .. }),
        "{damage:?}"
    );
    assert_eq!(damage[2], Damage::Checksum { line: 6 });
}

#[test]
fn a_foreign_or_newer_file_is_moved_aside_and_a_fresh_journal_started() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.v2");
    for (content, newer) in [
        (&b"TETHER-AGENT-OUTBOX v1 2 00\n{}"[..], false),
        (b"TEST-JOURNAL v3\nwhatever\n", true),
        (b"\x00\x00\x00", false),
    ] {
        fs::write(&path, content).unwrap();
        let (mut j, records, damage) = open(&path);
        assert!(records.is_empty());
        let moved = dir.path().join("journal.v2.damaged");
        match &damage[..] {
            [Damage::Newer { found: 3, moved_to }] if newer => assert_eq!(moved_to, &moved),
            [Damage::Foreign { moved_to }] if !newer => assert_eq!(moved_to, &moved),
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read(&moved).unwrap(), content, "kept unread");
        j.append(&Rec { n: 9 }).unwrap();
        let (_, records, damage) = open(&path);
        assert_eq!((ns(&records), damage), (vec![9], vec![]));
    }
}

#[test]
fn an_empty_file_is_a_fresh_journal_and_older_versions_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    fs::write(&path, b"").unwrap();
    let (_, records, damage) = open(&path);
    assert!(records.is_empty() && damage.is_empty());
    let json = "{\"n\":4}";
    fs::write(
        &path,
        format!("TEST-JOURNAL v1\n{} {json}\n", checksum(json.as_bytes())),
    )
    .unwrap();
    let (_, records, damage) = open(&path);
    assert_eq!((ns(&records), damage), (vec![4], vec![]));
}

#[test]
fn compaction_keeps_the_snapshot_and_what_was_appended_while_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), &[1, 2, 3, 4]);
    let (mut j, _, _) = open(&path);
    let (p, header, covers) = j.snapshot_point();
    // Only 4 is still live; 5 arrives while the snapshot is being written.
    let snapshot = Journal::write_snapshot(&p, &header, covers, [&Rec { n: 4 }]).unwrap();
    j.append(&Rec { n: 5 }).unwrap();
    let dir_to_sync = j.install_snapshot(snapshot).unwrap();
    sync_dir(&dir_to_sync).unwrap();
    assert_eq!(j.records(), 2);
    j.append(&Rec { n: 6 }).unwrap();
    drop(j);
    let (j, records, damage) = open(&path);
    assert_eq!(
        (ns(&records), damage, j.records()),
        (vec![4, 5, 6], vec![], 3)
    );
    assert!(!append_path(&path, ".compact").exists());
}
