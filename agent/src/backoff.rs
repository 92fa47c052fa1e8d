//! Exponential backoff, the one rule every retry loop of the agent follows (the outbox flusher,
//! the watches, the upstream probe): the first wait, doubled after each failure up to a cap,
//! back to the first after a success. No loop retries without waiting.

use std::time::Duration;

/// The waits of one retry loop.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Waits of `first`, doubling up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        let first = first.max(Duration::from_millis(1));
        Self {
            first,
            max: max.max(first),
            next: first,
        }
    }

    /// The wait before the next attempt; the one after it will be twice as long (up to the cap).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// After a success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests;
