//! Which socket connections are open, and which one gives way when a new caller finds every
//! slot taken.
//!
//! `tether-cni` writes its whole request as soon as it connects, so a connection that is still
//! reading its request when the slots run out is the one most likely stalled (a slow or buggy
//! root process). The oldest such connection is closed to make room: a stalled caller cannot
//! lock out the plugin, whatever their number. Connections already being answered are never
//! closed for a newcomer; an answer is bounded by the pod wait, so when every slot is answering
//! the newcomer waits for the first one to finish.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// The open connections, at most `limit` of them.
pub(super) struct Admission {
    limit: usize,
    /// By admission order: the first reading entry is the oldest stalled candidate.
    open: Mutex<Open>,
    /// Signalled whenever a connection ends.
    freed: Notify,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    slots: BTreeMap<u64, Arc<Slot>>,
}

/// Where a connection is: reading its request, being answered, or closed for a newer one.
const READING: u8 = 0;
const ANSWERING: u8 = 1;
const SHED: u8 = 2;

/// One open connection's state, shared between its task and the admission table.
#[derive(Default)]
pub(super) struct Slot {
    /// `READING`, then `ANSWERING` once the whole request (head and body) is read, or `SHED`.
    phase: AtomicU8,
    /// Set once hyper has parsed the request head and called the service.
    routed: AtomicBool,
    /// Notified when the connection is closed to make room for a newer one.
    shed: Notify,
}

impl Slot {
    /// Marks the request read whole: from now on the connection is never shed. False if it
    /// was shed already (it is being closed).
    pub(super) fn answering(&self) -> bool {
        self.phase
            .compare_exchange(READING, ANSWERING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the service has been called (hyper parsed the request head).
    pub(super) fn is_routed(&self) -> bool {
        self.routed.load(Ordering::Acquire)
    }

    /// Marks the request head parsed and handed to the service.
    pub(super) fn routed(&self) {
        self.routed.store(true, Ordering::Release);
    }

    /// Chooses this connection to make room, unless it is already being answered.
    fn try_shed(&self) -> bool {
        let shed = self
            .phase
            .compare_exchange(READING, SHED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if shed {
            // notify_one keeps the signal if the task is not waiting on it yet.
            self.shed.notify_one();
        }
        shed
    }

    /// Resolves when the connection was chosen to make room for a newer one.
    pub(super) async fn shed(&self) {
        self.shed.notified().await;
    }
}

/// A connection's place in the table; dropping it frees the place.
pub(super) struct Ticket {
    admission: Arc<Admission>,
    id: u64,
    slot: Arc<Slot>,
}

impl Ticket {
    /// The connection's state.
    pub(super) fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.lock().slots.remove(&self.id);
        self.admission.freed.notify_waiters();
    }
}

/// What [`Admission::admit`] did to find a place.
pub(super) enum Admitted {
    /// A place was free.
    Free(Ticket),
    /// The oldest connection still reading its request was closed for this one.
    Shed(Ticket),
}

impl Admission {
    /// A table of at most `limit` connections (at least one).
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            open: Mutex::default(),
            freed: Notify::new(),
        })
    }

    /// A place for a new connection: a free one, else the place of the oldest connection still
    /// reading its request, else the first place an answered connection leaves.
    pub(super) async fn admit(self: &Arc<Self>) -> Admitted {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a connection ending in between is not missed.
            freed.as_mut().enable();
            if let Some(admitted) = self.try_admit() {
                return admitted;
            }
            freed.await;
        }
    }

    fn try_admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.lock();
        let shed = if open.slots.len() < self.limit {
            false
        } else {
            let (&oldest, _) = open.slots.iter().find(|(_, s)| s.try_shed())?;
            open.slots.remove(&oldest);
            true
        };
        let id = open.next_id;
        open.next_id += 1;
        let slot = Arc::new(Slot::default());
        open.slots.insert(id, slot.clone());
        let ticket = Ticket {
            admission: self.clone(),
            id,
            slot,
        };
        Some(if shed {
            Admitted::Shed(ticket)
        } else {
            Admitted::Free(ticket)
        })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // The table stays consistent under every panic that could poison it (no code between
        // a removal and an insert can panic), so a poisoned lock is still usable.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections open now.
    #[cfg(test)]
    pub(super) fn open(&self) -> usize {
        self.lock().slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(admitted: Admitted) -> (bool, Ticket) {
        match admitted {
            Admitted::Free(t) => (false, t),
            Admitted::Shed(t) => (true, t),
        }
    }

    #[tokio::test]
    async fn the_oldest_reading_connection_gives_way_and_answering_ones_never_do() {
        let table = Admission::new(3);
        let (_, answering) = ticket(table.admit().await);
        assert!(answering.slot().answering());
        let (_, older) = ticket(table.admit().await);
        let (_, newer) = ticket(table.admit().await);
        assert_eq!(table.open(), 3);

        let (shed, fourth) = ticket(table.admit().await);
        assert!(shed);
        assert_eq!(table.open(), 3);
        tokio::time::timeout(std::time::Duration::from_secs(5), older.slot().shed())
            .await
            .expect("the oldest reading connection is told to close");
        let signalled = tokio::time::timeout(std::time::Duration::ZERO, newer.slot().shed()).await;
        assert!(signalled.is_err(), "only one connection gives way");

        // Every place answering: the next one waits for a place to be freed.
        assert!(newer.slot().answering());
        assert!(fourth.slot().answering());
        assert!(!older.slot().answering(), "a shed connection stays shed");
        let waiting = tokio::spawn({
            let table = table.clone();
            async move { ticket(table.admit().await) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(answering);
        let (shed, _fifth) = waiting.await.unwrap();
        assert!(!shed);
        drop(older);
        assert_eq!(table.open(), 3, "a shed ticket no longer counts");
    }
}
