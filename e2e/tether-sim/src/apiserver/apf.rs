//! API Priority and Fairness emulation: per-identity concurrency and QPS limits, 429
//! with `Retry-After` over them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Limits for one identity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowLimit {
    /// Requests executing at once (long-running watches count only while starting).
    pub max_in_flight: usize,
    /// Sustained requests per second.
    pub qps: f64,
    /// Bucket size: requests allowed in a burst.
    pub burst: f64,
}

#[derive(Debug)]
struct Flow {
    limit: FlowLimit,
    in_flight: usize,
    tokens: f64,
    last: Instant,
    rejected: u64,
}

type Flows = Arc<Mutex<HashMap<String, Flow>>>;

/// The limiter. Identities without a configured limit are never limited.
#[derive(Debug, Default, Clone)]
pub struct Apf {
    flows: Flows,
}

/// Held while a request executes; releases its seat when dropped.
#[derive(Debug)]
pub struct Seat {
    flows: Flows,
    user: String,
}

impl Drop for Seat {
    fn drop(&mut self) {
        if let Some(f) = lock(&self.flows).get_mut(&self.user) {
            f.in_flight = f.in_flight.saturating_sub(1);
        }
    }
}

fn lock(f: &Flows) -> MutexGuard<'_, HashMap<String, Flow>> {
    f.lock().unwrap_or_else(|e| e.into_inner())
}

impl Apf {
    /// Set (or with `None` remove) the limit of one user name.
    pub fn set_limit(&self, user: &str, limit: Option<FlowLimit>) {
        let mut g = lock(&self.flows);
        match limit {
            Some(limit) => {
                g.insert(
                    user.into(),
                    Flow {
                        limit,
                        in_flight: 0,
                        tokens: limit.burst,
                        last: Instant::now(),
                        rejected: 0,
                    },
                );
            }
            None => {
                g.remove(user);
            }
        }
    }

    /// How many requests of `user` were rejected with 429 so far.
    pub fn rejected(&self, user: &str) -> u64 {
        lock(&self.flows).get(user).map_or(0, |f| f.rejected)
    }

    /// Admit a request: `Ok(None)` unlimited, `Ok(Some(seat))` admitted, `Err(retry_after)`
    /// rejected.
    pub fn admit(&self, user: &str) -> Result<Option<Seat>, u64> {
        let mut g = lock(&self.flows);
        let Some(f) = g.get_mut(user) else {
            return Ok(None);
        };
        let now = Instant::now();
        let elapsed = now.duration_since(f.last).as_secs_f64();
        f.tokens = (f.tokens + elapsed * f.limit.qps).min(f.limit.burst.max(1.0));
        f.last = now;
        if f.in_flight >= f.limit.max_in_flight || f.tokens < 1.0 {
            f.rejected += 1;
            return Err(1);
        }
        f.tokens -= 1.0;
        f.in_flight += 1;
        Ok(Some(Seat {
            flows: self.flows.clone(),
            user: user.into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_concurrency_and_rate() {
        let apf = Apf::default();
        assert!(apf.admit("free").unwrap().is_none());
        apf.set_limit(
            "u",
            Some(FlowLimit {
                max_in_flight: 1,
                qps: 0.0,
                burst: 2.0,
            }),
        );
        let seat = apf.admit("u").unwrap();
        assert_eq!(
            apf.admit("u").unwrap_err(),
            1,
            "second concurrent request is rejected"
        );
        drop(seat);
        let _second = apf.admit("u").unwrap();
        drop(_second);
        assert!(apf.admit("u").is_err(), "bucket of 2 is empty and qps is 0");
        assert_eq!(apf.rejected("u"), 2);
    }
}
