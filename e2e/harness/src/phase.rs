//! Progress of long harness work: each phase printed with how long it took.

use std::time::Instant;

/// A phase in progress; prints its duration when finished or dropped.
pub struct Phase {
    what: String,
    start: Instant,
    done: bool,
}

/// Starts a phase and says so.
pub fn phase(what: impl Into<String>) -> Phase {
    let what = what.into();
    eprintln!("[e2e] {what} ...");
    Phase {
        what,
        start: Instant::now(),
        done: false,
    }
}

impl Phase {
    /// Ends the phase successfully.
    pub fn done(mut self) {
        self.done = true;
        eprintln!("[e2e] {} done in {:.2?}", self.what, self.start.elapsed());
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if !self.done {
            eprintln!(
                "[e2e] {} FAILED after {:.2?}",
                self.what,
                self.start.elapsed()
            );
        }
    }
}
