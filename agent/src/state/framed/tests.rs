//! The framed file format: round trip, and every kind of damage detected.

use super::*;

const MAGIC: &str = "TEST-FRAME";

fn written(dir: &Path) -> PathBuf {
    let path = dir.join("f");
    write(&path, MAGIC, 2, &vec!["a".to_string(), "b".to_string()]).unwrap();
    path
}

#[test]
fn round_trips_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path());
    assert_eq!(
        read::<Vec<String>>(&path, MAGIC, 2).unwrap(),
        Some(vec!["a".into(), "b".into()])
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    assert!(
        read::<Vec<String>>(&dir.path().join("absent"), MAGIC, 2)
            .unwrap()
            .is_none()
    );
}

#[test]
fn detects_truncation_corruption_newer_format_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path());
    let good = fs::read(&path).unwrap();
    fs::write(&path, &good[..good.len() - 3]).unwrap();
    assert!(matches!(
        read::<Vec<String>>(&path, MAGIC, 2),
        Err(FrameError::Length { .. })
    ));
    let mut flipped = good.clone();
    let last = flipped.len() - 2;
    flipped[last] ^= 0x01;
    fs::write(&path, &flipped).unwrap();
    assert!(matches!(
        read::<Vec<String>>(&path, MAGIC, 2),
        Err(FrameError::Checksum(_))
    ));
    fs::write(&path, &good).unwrap();
    assert!(matches!(
        read::<Vec<String>>(&path, MAGIC, 1),
        Err(FrameError::NewerFormat {
            found: 2,
            supported: 1,
            ..
        })
    ));
    assert!(matches!(
        read::<Vec<String>>(&path, "OTHER", 2),
        Err(FrameError::Header(..))
    ));
    fs::write(&path, b"").unwrap();
    assert!(matches!(
        read::<Vec<String>>(&path, MAGIC, 2),
        Err(FrameError::Header(..))
    ));
}
