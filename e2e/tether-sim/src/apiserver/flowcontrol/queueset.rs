//! One Limited priority level's seats and queues (kube-apiserver v1.34
//! `staging/src/k8s.io/apiserver/pkg/util/flowcontrol/fairqueuing/queueset/queueset.go`):
//! a request takes a free seat at once when nobody waits, else waits in the shortest of
//! `handSize` queues dealt from its flow's hash, and freed seats go to the queues round
//! robin (the real set orders by virtual finish time; round robin is the simplification).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

/// How a Limited level answers when no seat is free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitResponse {
    /// 429 at once.
    Reject,
    /// Wait in a queue.
    Queue {
        /// Number of queues.
        queues: usize,
        /// Queues dealt to each flow.
        hand_size: usize,
        /// Requests one queue holds at most.
        queue_length_limit: usize,
    },
}

/// A level's shape: its nominal seats and its limit response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Nominal concurrency limit.
    pub seats: usize,
    /// What to do when they are taken.
    pub response: LimitResponse,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    tx: oneshot::Sender<()>,
}

#[derive(Debug)]
struct Inner {
    shape: Shape,
    executing: usize,
    queues: Vec<VecDeque<Waiter>>,
    next_queue: usize,
    next_id: u64,
}

/// A priority level's seats and queues.
#[derive(Debug)]
pub struct QueueSet {
    inner: Mutex<Inner>,
}

/// A taken seat; freeing it hands it to the next waiter.
#[derive(Debug)]
pub struct Seat {
    set: Arc<QueueSet>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut g = self.set.lock();
        g.executing = g.executing.saturating_sub(1);
        dispatch(&mut g);
    }
}

/// Why a request got no seat.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The level rejects, or the chosen queue was full.
    Full,
    /// It waited longer than the queue-wait limit.
    TimedOut,
}

fn queue_count(r: LimitResponse) -> usize {
    match r {
        LimitResponse::Reject => 0,
        LimitResponse::Queue { queues, .. } => queues,
    }
}

impl QueueSet {
    /// A level with no one executing.
    pub fn new(shape: Shape) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                shape,
                executing: 0,
                queues: (0..queue_count(shape.response))
                    .map(|_| VecDeque::new())
                    .collect(),
                next_queue: 0,
                next_id: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Apply a changed configuration: waiters of dropped queues move to the kept ones,
    /// and new seats go to waiters at once.
    pub fn reshape(&self, shape: Shape) {
        let mut g = self.lock();
        if g.shape == shape {
            return;
        }
        g.shape = shape;
        let want = queue_count(shape.response).max(1);
        if g.queues.len() > want {
            let extra: Vec<Waiter> = g.queues.drain(want..).flatten().collect();
            for (i, w) in extra.into_iter().enumerate() {
                g.queues[i % want].push_back(w);
            }
        }
        while g.queues.len() < queue_count(shape.response) {
            g.queues.push(VecDeque::new());
        }
        dispatch(&mut g);
    }

    /// Requests waiting in the queues now.
    pub fn waiting(&self) -> usize {
        self.lock()
            .queues
            .iter()
            .flatten()
            .filter(|w| !w.tx.is_closed())
            .count()
    }

    /// Take a seat for a request of the flow hashed to `flow_hash`, waiting at most
    /// `wait_limit` in a queue.
    pub async fn acquire(
        self: &Arc<Self>,
        flow_hash: u64,
        wait_limit: Duration,
    ) -> Result<Seat, Rejection> {
        let (id, mut rx) = {
            let mut g = self.lock();
            let nobody_waits = g.queues.iter().all(VecDeque::is_empty);
            if nobody_waits && g.executing < g.shape.seats {
                g.executing += 1;
                return Ok(Seat { set: self.clone() });
            }
            let LimitResponse::Queue {
                hand_size,
                queue_length_limit,
                ..
            } = g.shape.response
            else {
                return Err(Rejection::Full);
            };
            for q in &mut g.queues {
                q.retain(|w| !w.tx.is_closed());
            }
            let Some(q) = shortest_of_hand(&g.queues, flow_hash, hand_size)
                .filter(|&q| g.queues[q].len() < queue_length_limit)
            else {
                return Err(Rejection::Full);
            };
            let (tx, rx) = oneshot::channel();
            let id = g.next_id;
            g.next_id += 1;
            g.queues[q].push_back(Waiter { id, tx });
            (id, rx)
        };
        if let Ok(Ok(())) = tokio::time::timeout(wait_limit, &mut rx).await {
            return Ok(Seat { set: self.clone() });
        }
        // Seats are handed out under the lock, so the waiter is either still queued
        // (it timed out) or was given a seat just now.
        let mut g = self.lock();
        let before: usize = g.queues.iter().map(VecDeque::len).sum();
        for q in &mut g.queues {
            q.retain(|w| w.id != id);
        }
        let after: usize = g.queues.iter().map(VecDeque::len).sum();
        if before == after && rx.try_recv().is_ok() {
            drop(g);
            return Ok(Seat { set: self.clone() });
        }
        Err(Rejection::TimedOut)
    }
}

/// Hand free seats to waiters, taking queues round robin.
fn dispatch(g: &mut Inner) {
    while g.executing < g.shape.seats {
        let n = g.queues.len();
        let Some(q) = (0..n)
            .map(|i| (g.next_queue + i) % n)
            .find(|&q| !g.queues[q].is_empty())
        else {
            return;
        };
        g.next_queue = (q + 1) % n;
        if let Some(w) = g.queues[q].pop_front()
            && w.tx.send(()).is_ok()
        {
            g.executing += 1;
        }
    }
}

/// Deal `hand_size` distinct queues of `deck` from `hash`, as the real shuffle-sharding
/// dealer does (`staging/src/k8s.io/apiserver/pkg/util/shufflesharding/shufflesharding.go`):
/// mixed-radix digits of the hash, each shifted past the cards already dealt.
pub fn deal(mut hash: u64, deck: usize, hand_size: usize) -> Vec<usize> {
    let hand_size = hand_size.clamp(1, deck.max(1));
    let mut digits = Vec::with_capacity(hand_size);
    for i in 0..hand_size {
        let radix = (deck - i) as u64;
        digits.push((hash % radix) as usize);
        hash /= radix;
    }
    let mut hand: Vec<usize> = Vec::with_capacity(hand_size);
    for (i, &d) in digits.iter().enumerate() {
        let mut card = d;
        for &prev in digits[..i].iter().rev() {
            if card >= prev {
                card += 1;
            }
        }
        hand.push(card);
    }
    hand
}

fn shortest_of_hand(
    queues: &[VecDeque<Waiter>],
    flow_hash: u64,
    hand_size: usize,
) -> Option<usize> {
    if queues.is_empty() {
        return None;
    }
    deal(flow_hash, queues.len(), hand_size)
        .into_iter()
        .min_by_key(|&q| queues[q].len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn queued(seats: usize, queues: usize, hand: usize, limit: usize) -> Arc<QueueSet> {
        QueueSet::new(Shape {
            seats,
            response: LimitResponse::Queue {
                queues,
                hand_size: hand,
                queue_length_limit: limit,
            },
        })
    }

    #[test]
    fn dealt_hands_are_distinct_and_in_the_deck() {
        for hash in [0u64, 1, 7, 12345, u64::MAX, 0xdead_beef_cafe] {
            let mut hand = deal(hash, 16, 4);
            assert!(hand.iter().all(|&c| c < 16), "{hand:?}");
            hand.sort_unstable();
            hand.dedup();
            assert_eq!(hand.len(), 4, "hash {hash}: {hand:?}");
        }
        assert_eq!(deal(0, 16, 4), vec![0, 1, 2, 3]);
        assert_eq!(deal(5, 1, 8), vec![0], "hand no larger than the deck");
    }

    #[tokio::test]
    async fn reject_level_answers_429_when_seats_are_taken() {
        let set = QueueSet::new(Shape {
            seats: 1,
            response: LimitResponse::Reject,
        });
        let seat = set.acquire(1, Duration::from_secs(15)).await.unwrap();
        assert_eq!(
            set.acquire(1, Duration::from_secs(15)).await.unwrap_err(),
            Rejection::Full
        );
        drop(seat);
        set.acquire(1, Duration::from_secs(15)).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn queued_requests_get_freed_seats_or_time_out() {
        let set = queued(1, 1, 1, 1);
        let seat = set.acquire(9, Duration::from_secs(15)).await.unwrap();
        let waiting = tokio::spawn({
            let set = set.clone();
            async move { set.acquire(9, Duration::from_secs(15)).await.map(drop) }
        });
        while set.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            set.acquire(9, Duration::from_secs(15)).await.unwrap_err(),
            Rejection::Full,
            "the one queue already holds queueLengthLimit requests"
        );
        drop(seat);
        waiting.await.unwrap().unwrap();
        // With the seat held again, a waiter gives up after the wait limit.
        let _seat = set.acquire(9, Duration::from_secs(15)).await.unwrap();
        assert_eq!(
            set.acquire(9, Duration::from_secs(15)).await.unwrap_err(),
            Rejection::TimedOut
        );
        assert_eq!(set.waiting(), 0);
    }

    #[tokio::test]
    async fn freed_seats_go_round_robin_over_queues() {
        let set = queued(1, 2, 1, 10);
        let seat = set.acquire(0, Duration::from_secs(15)).await.unwrap();
        // Hash 0 deals queue 0, hash 1 queue 1; two waiters in queue 0, one in queue 1.
        let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (label, hash) in [("a0", 0u64), ("b0", 0), ("a1", 1)] {
            let tx = order_tx.clone();
            let before = set.waiting();
            let mine = set.clone();
            tasks.push(tokio::spawn(async move {
                let seat = mine.acquire(hash, Duration::from_secs(15)).await.unwrap();
                tx.send(label).unwrap();
                drop(seat);
            }));
            while set.waiting() == before {
                tokio::task::yield_now().await;
            }
        }
        drop(seat);
        for t in tasks {
            t.await.unwrap();
        }
        let order: Vec<_> = std::iter::from_fn(|| order_rx.try_recv().ok()).collect();
        assert_eq!(order, ["a0", "a1", "b0"]);
    }

    #[tokio::test]
    async fn added_seats_serve_waiters_at_once() {
        let set = queued(0, 1, 1, 5);
        let waiting = tokio::spawn({
            let set = set.clone();
            async move { set.acquire(3, Duration::from_secs(15)).await.map(drop) }
        });
        while set.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        set.reshape(Shape {
            seats: 1,
            response: LimitResponse::Reject,
        });
        waiting.await.unwrap().unwrap();
    }
}
