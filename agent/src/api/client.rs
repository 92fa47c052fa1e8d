//! The Kubernetes client: in-cluster or kubeconfig configuration, the `tether-agent/<version>`
//! User-Agent (yurthub caches per User-Agent), the client-side token bucket and kube's retry of
//! 429/503/504 honouring Retry-After, each retry counted and itself rate limited.
//!
//! A `Retry-After` is a floor, never a time to come back at: every client throttled in the same
//! second is told the same number, and those that retry on it exactly come back together, as a
//! wave the server throttles again. So a retry after `Retry-After: R` waits `R` plus a delay
//! drawn from `[0, R)` ([`after_retry_after`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{HeaderValue, Request, Response, header::USER_AGENT};
use kube::client::{Body, ClientBuilder, retry::RetryPolicy};
use kube::{Client, Config};
use prometheus_client::metrics::counter::Counter;
use tower::retry::{Policy, RetryLayer};
use tower::util::MapRequestLayer;
use tower::{BoxError, Layer, Service, ServiceBuilder};

use crate::api::ratelimit::{RateLimit, RateLimitLayer};
use crate::backoff::Jitter;

/// The User-Agent of every request; yurthub's cache key is the part before the `/`.
pub const USER_AGENT_VALUE: &str = concat!("tether-agent/", env!("CARGO_PKG_VERSION"));

/// Client-side limits and the counters they update.
#[derive(Clone)]
pub struct Limits {
    /// Sustained requests per second.
    pub qps: f64,
    /// Burst size.
    pub burst: u32,
    /// Incremented when a request waits for a token.
    pub throttled: Counter,
    /// Incremented when a request is retried.
    pub retried: Counter,
}

/// kube's server-aware retry policy, counting the retries it makes and spreading the retries
/// a `Retry-After` asks for.
#[derive(Clone)]
pub struct CountingRetry {
    inner: RetryPolicy,
    retried: Counter,
    jitter: Arc<Mutex<Jitter>>,
}

impl CountingRetry {
    /// Up to 5 retries, 100 ms to 30 s apart, or as the server's Retry-After says.
    pub fn new(retried: Counter) -> Self {
        Self::with_jitter(retried, Jitter::from_entropy())
    }

    /// Like [`CountingRetry::new`], drawing its spreads from `jitter`.
    pub fn with_jitter(retried: Counter, jitter: Jitter) -> Self {
        let inner = RetryPolicy::new(Duration::from_millis(100), Duration::from_secs(30), 5, true)
            .unwrap_or_else(|_| RetryPolicy::server_retry());
        Self {
            inner,
            retried,
            jitter: Arc::new(Mutex::new(jitter)),
        }
    }
}

/// The `Retry-After` of an answer, in whole seconds (the form kube-apiserver sends); an HTTP
/// date or garbage reads as none.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse().ok().map(Duration::from_secs)
}

/// When to retry: not before `backoff_deadline` (kube's policy: the later of its backoff and
/// the `Retry-After`), nor before `Retry-After` has passed since `now`, and then a delay drawn
/// from `[0, Retry-After)` later, so that the clients throttled together do not return together.
pub fn after_retry_after(
    now: tokio::time::Instant,
    backoff_deadline: tokio::time::Instant,
    retry_after: Option<Duration>,
    jitter: &mut Jitter,
) -> tokio::time::Instant {
    match retry_after {
        Some(r) => backoff_deadline.max(now + r) + jitter.spread(r),
        None => backoff_deadline,
    }
}

impl<Res> Policy<Request<Body>, Response<Res>, BoxError> for CountingRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut Request<Body>,
        result: &mut Result<Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        let asked = result.as_ref().ok().and_then(|r| retry_after(r.headers()));
        let now = tokio::time::Instant::now();
        let wait = self.inner.retry(req, result)?;
        self.retried.inc();
        let mut jitter = self.jitter.lock().unwrap_or_else(PoisonError::into_inner);
        let at = after_retry_after(now, wait.deadline(), asked, &mut jitter);
        Some(tokio::time::sleep_until(at))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        <RetryPolicy as Policy<Request<Body>, Response<Res>, BoxError>>::clone_request(
            &mut self.inner,
            req,
        )
    }
}

/// Builds the client from `Config::infer()` (in-cluster, else `KUBECONFIG`).
pub async fn infer(limits: &Limits) -> Result<Client, kube::Error> {
    let mut config = Config::infer().await.map_err(kube::Error::InferConfig)?;
    // Our retry layer replaces kube's so that retries are rate limited and counted.
    config.default_retry = false;
    let builder = ClientBuilder::try_from(config)?;
    Ok(with_layers(builder, limits))
}

/// Wraps any kube service stack with the agent's layers: retry (outermost), token bucket,
/// User-Agent. Tests use it over a mock service.
pub fn with_layers<S, B>(builder: ClientBuilder<S>, limits: &Limits) -> Client
where
    S: Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + Sync + 'static,
    S::Response: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    builder.with_layer(&AgentStack(limits.clone())).build()
}

struct AgentStack(Limits);

impl<S> Layer<S> for AgentStack
where
    S: Service<Request<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + Sync + 'static,
    S::Response: Send + 'static,
{
    type Service = tower::retry::Retry<
        CountingRetry,
        RateLimit<
            tower::util::MapRequest<
                tower::buffer::Buffer<Request<Body>, S::Future>,
                fn(Request<Body>) -> Request<Body>,
            >,
        >,
    >;

    fn layer(&self, inner: S) -> Self::Service {
        let limits = &self.0;
        let set_ua: fn(Request<Body>) -> Request<Body> = |mut req| {
            req.headers_mut()
                .insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
            req
        };
        ServiceBuilder::new()
            .layer(RetryLayer::new(CountingRetry::new(limits.retried.clone())))
            .layer(RateLimitLayer::new(
                limits.qps,
                limits.burst,
                limits.throttled.clone(),
            ))
            .layer(MapRequestLayer::new(set_ua))
            .service(tower::buffer::Buffer::new(inner, 1024))
    }
}

#[cfg(test)]
mod tests;
