//! Exponential backoff, the one rule every retry loop of the agent follows (the outbox flusher,
//! the watches, the upstream probe): the first wait, doubled after each failure up to a cap,
//! back to the first after a success. No loop retries without waiting.
//!
//! A fleet cut off together fails together, so waits that are the same on every node would
//! bring every node back at the same instant. [`Backoff::jittered`] spreads each wait over its
//! upper half (client-go's reflector spreads its relists the same way, jitter 1.0 on its
//! backoff manager), and [`Jitter::spread`] draws a delay from a whole window for what must
//! not start at once on every node (the relists after the API server returns or answers 410).
//! The random source is injected so that tests replay exact waits.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// A small random source (xorshift64*): enough to decorrelate nodes, seedable for tests.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// The same sequence for the same seed.
    pub fn seeded(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A sequence of its own: seeded from std's per-process random hash keys and the process
    /// id, so two agents started at the same instant draw different waits.
    pub fn from_entropy() -> Self {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        Self::seeded(h.finish())
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A source of its own, seeded from this one: the same seed, the same two sequences.
    pub fn fork(&mut self) -> Self {
        Self::seeded(self.next())
    }

    /// A fraction in `[0, 1)`.
    pub fn fraction(&mut self) -> f64 {
        // The top 53 bits: every value an f64 in [0, 1) can hold exactly.
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A delay drawn uniformly from `[0, window)`.
    pub fn spread(&mut self, window: Duration) -> Duration {
        window.mul_f64(self.fraction())
    }
}

/// The waits of one retry loop.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
    jitter: Option<Jitter>,
}

impl Backoff {
    /// Waits of `first`, doubling up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        let first = first.max(Duration::from_millis(1));
        Self {
            first,
            max: max.max(first),
            next: first,
            jitter: None,
        }
    }

    /// Like [`Backoff::new`], each wait drawn from `[w/2, w)` of what it would have been: never
    /// less than half, so a loop still slows down, and nodes that failed together drift apart.
    pub fn jittered(first: Duration, max: Duration, jitter: Jitter) -> Self {
        Self {
            jitter: Some(jitter),
            ..Self::new(first, max)
        }
    }

    /// The wait before the next attempt; the one after it will be twice as long (up to the cap).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        match &mut self.jitter {
            Some(j) => (wait / 2 + j.spread(wait / 2)).max(Duration::from_millis(1)),
            None => wait,
        }
    }

    /// After a success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests;
