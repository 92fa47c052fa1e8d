//! API Priority and Fairness: per-identity concurrency and QPS limits set through the
//! handle, which take precedence for their user, else the stored FlowSchemas and
//! PriorityLevelConfigurations (`flowcontrol/`); 429 with `Retry-After` over them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::flowcontrol::{FlowControl, queueset};
use super::rbac::{Attributes, UserInfo};
use super::store::Store;

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

/// The limiter.
#[derive(Debug, Default, Clone)]
pub struct Apf {
    flows: Flows,
    stored: Arc<FlowControl>,
}

/// What an admitted request holds until it ends.
#[derive(Debug)]
#[allow(dead_code)] // The seats are held only for their Drop, which frees them.
pub enum Admission {
    /// Not limited.
    Free,
    /// A seat of a handle-set limit.
    Handle(Seat),
    /// A seat of a stored priority level.
    Level(queueset::Seat),
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

    /// How many requests of `user` with a handle-set limit were rejected with 429 so far.
    pub fn rejected(&self, user: &str) -> u64 {
        lock(&self.flows).get(user).map_or(0, |f| f.rejected)
    }

    /// Requests waiting in the queues of a stored priority level.
    pub fn waiting(&self, level: &str) -> usize {
        self.stored.waiting(level)
    }

    /// Admit a request under the handle's limit of its user if there is one, else under
    /// the stored FlowSchemas; `Err(retry_after)` when rejected.
    pub async fn admit_request(
        &self,
        store: &Store,
        user: &UserInfo,
        a: &Attributes,
    ) -> Result<Admission, u64> {
        if lock(&self.flows).contains_key(&user.name) {
            return Ok(self
                .admit(&user.name)?
                .map_or(Admission::Free, Admission::Handle));
        }
        match self.stored.admit(store, user, a).await {
            Ok(seat) => Ok(seat.map_or(Admission::Free, Admission::Level)),
            Err(_) => Err(1),
        }
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
