//! The agent's Prometheus metrics.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label set of one static pair.
pub type Label = [(&'static str, &'static str); 1];

/// Every metric the agent exports.
pub struct Metrics {
    registry: Registry,
    /// Socket answers by HTTP status code.
    pub socket_responses: Family<Label, Counter>,
    /// Successful ADD answers by source (live, cache, default).
    pub socket_answers: Family<Label, Counter>,
    /// Time from a request's arrival to its answer, including any wait for the pod.
    pub socket_answer_seconds: Histogram,
    /// ADD requests being answered right now.
    pub socket_in_flight: Gauge,
    /// Socket connections refused because the peer was not the required uid.
    pub socket_rejected_peers: Counter,
    /// Socket connections dropped at their deadline.
    pub socket_timeouts: Counter,
    /// API requests that waited for the client-side token bucket.
    pub api_throttled: Counter,
    /// API requests retried after 429, 503 or 504.
    pub api_retried: Counter,
    /// Watch events and errors by resource.
    pub watch_errors: Family<Label, Counter>,
    /// Writes waiting in the outbox.
    pub outbox_depth: Gauge,
    /// Writes dropped because the outbox was full.
    pub outbox_dropped: Counter,
    /// Failures to open, append to or compact the outbox journal.
    pub outbox_journal_errors: Counter,
    /// Writes the API server was proven to have applied, by kind (event, status).
    pub writes_confirmed: Family<Label, Counter>,
    /// Writes answered 2xx without proof they were applied (yurthub's cache), by kind.
    pub writes_unconfirmed: Family<Label, Counter>,
    /// Best-effort corrections of a profile's status summary, by result (written, unconfirmed,
    /// conflict, failed); never queued, never retried.
    pub status_summaries: Family<Label, Counter>,
    /// What answers the agent's API requests: 1 for the current state, 0 for the others.
    pub upstream: Family<Label, Gauge>,
    /// Watches that reached their timeout without a single event or bookmark, by resource.
    pub watches_silent: Family<Label, Counter>,
    /// NetworkProfiles ignored as invalid.
    pub profiles_rejected: Gauge,
    /// Disk cache loads or saves that failed.
    pub cache_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tether_agent");
        let m = Self {
            socket_responses: Family::default(),
            socket_answers: Family::default(),
            socket_answer_seconds: Histogram::new(exponential_buckets(0.000_025, 2.0, 16)),
            socket_in_flight: Gauge::default(),
            socket_rejected_peers: Counter::default(),
            socket_timeouts: Counter::default(),
            api_throttled: Counter::default(),
            api_retried: Counter::default(),
            watch_errors: Family::default(),
            outbox_depth: Gauge::default(),
            outbox_dropped: Counter::default(),
            outbox_journal_errors: Counter::default(),
            writes_confirmed: Family::default(),
            writes_unconfirmed: Family::default(),
            status_summaries: Family::default(),
            upstream: Family::default(),
            watches_silent: Family::default(),
            profiles_rejected: Gauge::default(),
            cache_errors: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "socket_responses",
            "Socket answers by HTTP status",
            m.socket_responses.clone(),
        );
        registry.register(
            "socket_answers",
            "ADD answers by source",
            m.socket_answers.clone(),
        );
        registry.register(
            "socket_answer_seconds",
            "Time from a socket request's arrival to its answer",
            m.socket_answer_seconds.clone(),
        );
        registry.register(
            "socket_in_flight",
            "ADD requests being answered",
            m.socket_in_flight.clone(),
        );
        registry.register(
            "socket_rejected_peers",
            "Connections from a peer that is not root",
            m.socket_rejected_peers.clone(),
        );
        registry.register(
            "socket_timeouts",
            "Connections dropped at their deadline",
            m.socket_timeouts.clone(),
        );
        registry.register(
            "api_throttled",
            "API requests delayed by the client-side token bucket",
            m.api_throttled.clone(),
        );
        registry.register(
            "api_retried",
            "API requests retried after 429, 503 or 504",
            m.api_retried.clone(),
        );
        registry.register(
            "watch_errors",
            "Watch errors by resource",
            m.watch_errors.clone(),
        );
        registry.register(
            "outbox_depth",
            "Writes waiting in the outbox",
            m.outbox_depth.clone(),
        );
        registry.register(
            "outbox_dropped",
            "Writes dropped because the outbox was full",
            m.outbox_dropped.clone(),
        );
        registry.register(
            "outbox_journal_errors",
            "Failures to open, append to or compact the outbox journal",
            m.outbox_journal_errors.clone(),
        );
        registry.register(
            "writes_confirmed",
            "Writes the API server was proven to have applied, by kind",
            m.writes_confirmed.clone(),
        );
        registry.register(
            "writes_unconfirmed",
            "Writes acknowledged without proof they were applied (yurthub's cache), by kind",
            m.writes_unconfirmed.clone(),
        );
        registry.register(
            "status_summaries",
            "Best-effort corrections of a NetworkProfile's status summary (matchedPods, nodesReporting), by result",
            m.status_summaries.clone(),
        );
        registry.register(
            "upstream",
            "What answers the agent's API requests (api-server, yurthub-cache, unreachable, unknown): 1 for the current state",
            m.upstream.clone(),
        );
        registry.register(
            "watches_silent",
            "Watches that reached their timeout without an event or bookmark, by resource",
            m.watches_silent.clone(),
        );
        registry.register(
            "profiles_rejected",
            "NetworkProfiles ignored as invalid",
            m.profiles_rejected.clone(),
        );
        registry.register(
            "cache_errors",
            "Disk cache loads or saves that failed",
            m.cache_errors.clone(),
        );
        Self { registry, ..m }
    }
}

impl Metrics {
    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests;
