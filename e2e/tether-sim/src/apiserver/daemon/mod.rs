//! The DaemonSet controller, the one controller the double runs: woken by every change
//! to nodes, DaemonSets and pods, it syncs every DaemonSet (`sync.rs`) and writes pods and
//! status through the server's own create/delete/update paths, as kube-controller-manager
//! writes through the API (the real controller's loop: v1.34.2
//! `pkg/controller/daemon/daemon_controller.go` `syncDaemonSet` `:1204-1290`; a DaemonSet
//! being deleted is skipped, `:1253-1255`). It stops when the server's state is dropped.

mod placement;
pub mod sync;

use std::sync::{Arc, Weak};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::crud::{self, Ctx};
use super::deletion::{self, DeleteOptions};
use super::modify::{self, Change};
use super::rbac::UserInfo;
use super::state::State;

/// The storage ids whose changes wake the controller.
const WATCHED: [&str; 3] = ["/nodes", "apps/daemonsets", "/pods"];

/// Start the controller on `st`; it ends once the store it watches is gone.
pub fn spawn(st: &Arc<State>) {
    let Ok((_, mut rx, _)) = st.store.subscribe_after(st.store.current_rv()) else {
        return;
    };
    let weak: Weak<State> = Arc::downgrade(st);
    tokio::spawn(async move {
        loop {
            match weak.upgrade() {
                Some(st) => sync_all(&st),
                None => return,
            }
            loop {
                match rx.recv().await {
                    Ok(ev) if WATCHED.contains(&ev.key.resource.as_str()) => break,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                }
            }
            // Whatever else is queued is covered by the sync about to run.
            loop {
                match rx.try_recv() {
                    Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
            }
        }
    });
}

/// Sync every DaemonSet once.
pub fn sync_all(st: &State) {
    let (Some(ds_rt), Some(pod_rt)) = (
        st.find("apps", "v1", "daemonsets"),
        st.find("", "v1", "pods"),
    ) else {
        return;
    };
    let user = UserInfo::service_account("kube-system", "daemon-set-controller");
    let ctx = Ctx {
        st,
        user: &user,
        manager: "kube-controller-manager".into(),
        strict: false,
        dry_run: false,
    };
    let (daemonsets, _) = st.store.list("apps/daemonsets", None);
    // Most servers run none: every pod write wakes the controller, so stay cheap then.
    if daemonsets.is_empty() {
        return;
    }
    let (nodes, _) = st.store.list("/nodes", None);
    let now = chrono::Utc::now();
    for ds in daemonsets {
        // A DaemonSet being deleted is not synced (`syncDaemonSet`); its pods are the
        // garbage collector's.
        if !ds["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        let ns = ds["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (pods, _) = st.store.list("/pods", Some(&ns));
        let plan = sync::plan(&ds, &nodes, &pods, now);
        let hash = sync::revision_hash(&ds["spec"]["template"]);
        // Failures (a refused pod, a pod already gone, a stale DaemonSet) are retried by
        // the next sync, which any change to the objects involved triggers.
        for node in &plan.create {
            let _ = crud::create(&ctx, &pod_rt, &ns, sync::pod_for(&ds, node, &hash));
        }
        for name in &plan.delete {
            let _ = deletion::delete(&ctx, &pod_rt, &ns, name, &DeleteOptions::default());
        }
        if ds["status"] != plan.status {
            let mut updated = crud::with_version(ds.clone(), &ds_rt);
            updated["status"] = plan.status;
            let name = ds["metadata"]["name"].as_str().unwrap_or_default();
            let _ = modify::modify(&ctx, &ds_rt, &ns, name, "status", Change::Replace(updated));
        }
    }
}
