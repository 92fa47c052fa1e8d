//! The on-disk cache, laid out as yurthub's disk storage lays it out
//! (`pkg/yurthub/storage/disk/key.go:40-81`, `storage.go`):
//! `<dir>/<component>/<resource>.<version>.<group|core>/<namespace>/<name>`, one JSON
//! object per file (namespaces and cluster-scoped objects have no namespace level). It
//! survives a restart of the double; what yurthub keeps only in memory (the recorded list
//! selectors) does not.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use super::kinds::Gvr;

/// One path segment from outside input, refused if it could leave its directory.
fn segment(s: &str) -> Option<&str> {
    (!s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])).then_some(s)
}

/// Write `bytes` to `path` through a temporary file and a rename, creating parents.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_file_name(format!(
        "tmp_{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The `resourceVersion` of an object as a number (0 if none).
pub fn resource_version(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The cache directory and one lock serialising its changes.
pub struct Cache {
    dir: PathBuf,
    lock: Mutex<()>,
}

/// Every file under `dir`, recursively, in path order (`fs.List(…, ListModeFiles, true)`).
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out)?;
        } else if !p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tmp_"))
        {
            out.push(p);
        }
    }
    Ok(())
}

impl Cache {
    /// Open (creating) the cache at `dir`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            lock: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The storage key of a component's objects: an object when `name` is set, else the
    /// directory of a resource (in a namespace). `None` for segments that cannot be paths.
    pub fn key(&self, component: &str, gvr: &Gvr, namespace: &str, name: &str) -> Option<PathBuf> {
        let group = if gvr.group.is_empty() {
            "core"
        } else {
            &gvr.group
        };
        let resource = format!("{}.{}.{group}", gvr.resource, gvr.version);
        let mut p = self.dir.join(segment(component)?).join(segment(&resource)?);
        if gvr.resource != "namespaces" && !namespace.is_empty() {
            p.push(segment(namespace)?);
        }
        if !name.is_empty() {
            p.push(segment(name)?);
        }
        Some(p)
    }

    /// The key as yurthub prints it (relative to the cache dir), to compare list paths.
    pub fn key_string(&self, component: &str, gvr: &Gvr, namespace: &str) -> Option<String> {
        let p = self.key(component, gvr, namespace, "")?;
        p.strip_prefix(&self.dir)
            .ok()
            .map(|r| r.to_string_lossy().into_owned())
    }

    /// One object; `Ok(None)` when not cached.
    pub fn get(&self, key: &Path) -> io::Result<Option<Value>> {
        let _g = self.lock();
        read_object(key)
    }

    /// Every object under a key (`storage.go:189-228`): all files below a directory, or the
    /// one file a name points at; `Ok(None)` when nothing was ever stored there.
    pub fn list(&self, key: &Path) -> io::Result<Option<Vec<Value>>> {
        let _g = self.lock();
        if key.is_file() {
            return Ok(read_object(key)?.map(|o| vec![o]));
        }
        if !key.is_dir() {
            return Ok(None);
        }
        let mut files = Vec::new();
        files_under(key, &mut files)?;
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            if let Some(o) = read_object(&f)? {
                out.push(o);
            }
        }
        Ok(Some(out))
    }

    /// Store an object unless the cached copy is newer (`storage.go:235-281`: an update
    /// needs a resourceVersion at least the stored one's).
    pub fn store(&self, key: &Path, obj: &Value) -> io::Result<()> {
        let _g = self.lock();
        if let Some(old) = read_object(key)?
            && resource_version(obj) < resource_version(&old)
        {
            return Ok(());
        }
        write_atomically(key, obj.to_string().as_bytes())
    }

    /// Remove one object (a DELETED watch event, `cache_manager.go:444-448`).
    pub fn delete(&self, key: &Path) -> io::Result<()> {
        let _g = self.lock();
        match std::fs::remove_file(key) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Replace everything under a directory key with `objects` (`storage.go:337-405`):
    /// what a list answer leaves behind, objects cached by gets included.
    pub fn replace(&self, dir_key: &Path, objects: &[(PathBuf, Value)]) -> io::Result<()> {
        let _g = self.lock();
        match std::fs::remove_dir_all(dir_key) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(dir_key)?;
        for (key, obj) in objects {
            if key.starts_with(dir_key) {
                write_atomically(key, obj.to_string().as_bytes())?;
            }
        }
        Ok(())
    }

    /// Save a non-resource answer (`/version`, …) under its cluster-info key
    /// (`storage/key.go:41-50`).
    pub fn save_cluster_info(&self, key: &str, body: &[u8]) -> io::Result<()> {
        let _g = self.lock();
        write_atomically(&self.dir.join(key), body)
    }

    /// A saved non-resource answer.
    pub fn cluster_info(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        let _g = self.lock();
        match std::fs::read(self.dir.join(key)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn read_object(path: &Path) -> io::Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::IsADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str, rv: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ns, "name": name, "resourceVersion": rv}})
    }

    #[test]
    fn keys_lists_and_resource_versions_follow_yurthub_disk_storage() {
        let dir = std::env::temp_dir().join(format!("cache-{}", uuid::Uuid::new_v4().simple()));
        let cache = Cache::open(&dir).unwrap();
        let pods = Gvr::new("", "v1", "pods");
        let k = cache.key("kubelet", &pods, "default", "a").unwrap();
        assert!(k.ends_with("kubelet/pods.v1.core/default/a"));
        assert_eq!(
            cache.key_string("kubelet", &pods, "").as_deref(),
            Some("kubelet/pods.v1.core")
        );
        assert!(cache.key("..", &pods, "default", "a").is_none());
        assert!(cache.key("kubelet", &pods, "..", "a").is_none());
        let ns = Gvr::new("", "v1", "namespaces");
        assert!(
            cache
                .key("kubelet", &ns, "kube-system", "kube-system")
                .unwrap()
                .ends_with("kubelet/namespaces.v1.core/kube-system")
        );

        cache.store(&k, &pod("default", "a", "5")).unwrap();
        cache.store(&k, &pod("default", "a", "4")).unwrap();
        assert_eq!(resource_version(&cache.get(&k).unwrap().unwrap()), 5);
        let b = cache.key("kubelet", &pods, "other", "b").unwrap();
        cache.store(&b, &pod("other", "b", "7")).unwrap();
        let all = cache.key("kubelet", &pods, "", "").unwrap();
        assert_eq!(cache.list(&all).unwrap().unwrap().len(), 2);
        assert_eq!(cache.list(&k).unwrap().unwrap().len(), 1);
        let default = cache.key("kubelet", &pods, "default", "").unwrap();
        cache.replace(&default, &[]).unwrap();
        assert_eq!(cache.list(&default).unwrap().unwrap().len(), 0);
        assert_eq!(cache.list(&all).unwrap().unwrap().len(), 1);
        assert!(
            cache
                .list(&cache.key("x", &pods, "", "").unwrap())
                .unwrap()
                .is_none()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
