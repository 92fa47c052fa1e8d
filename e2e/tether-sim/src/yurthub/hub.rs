//! What every part of the double shares: the cache, the kinds, the cache agents, the
//! recorded selectors, the health probe's verdict, the upstream clients, and the background
//! tasks to stop on shutdown.

use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::YurthubError;
use super::cache::Cache;
use super::cache_agents::CacheAgents;
use super::cacheable::Recorded;
use super::config::{ProbeConfig, YurthubConfig};
use super::health::Health;
use super::kinds::Kinds;
use super::upstream::Clients;

/// The shared state.
pub struct Hub {
    /// The node's name.
    pub node: String,
    /// The upstream URL, for messages.
    pub upstream_server: String,
    /// Upstream clients.
    pub clients: Clients,
    /// The on-disk cache.
    pub cache: Cache,
    /// Recognised resources.
    pub kinds: Kinds,
    /// Cache agents.
    pub agents: CacheAgents,
    /// List selectors recorded in this process.
    pub recorded: Recorded,
    /// The cloud's health.
    pub health: Health,
    /// Probe settings.
    pub probe: ProbeConfig,
    /// Base of a local watch's timeout when it asks none.
    pub min_request_timeout: Duration,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Hub {
    /// Open the cache and build the clients.
    pub fn new(config: &YurthubConfig) -> Result<Self, YurthubError> {
        let dir = &config.cache_dir;
        let io = |what: &str, source| YurthubError::Io {
            what: format!("{what} {}", dir.display()),
            source,
        };
        let cache = Cache::open(dir).map_err(|e| io("opening the cache dir", e))?;
        let kinds = Kinds::open(dir).map_err(|e| io("reading the custom kinds under", e))?;
        Ok(Self {
            node: config.node_name.clone(),
            upstream_server: config.upstream.server(),
            clients: config.upstream.clients(config.probe.timeout)?,
            cache,
            kinds,
            agents: CacheAgents::new(&config.node_name, &config.cache_agents),
            recorded: Recorded::default(),
            health: Health::default(),
            probe: config.probe,
            min_request_timeout: config.min_request_timeout,
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Run a background task until shutdown.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// Stop every background task.
    pub fn abort_tasks(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}
