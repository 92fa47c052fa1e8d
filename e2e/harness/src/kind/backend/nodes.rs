//! Steps on one edge node: cut it off and back (and check both), restart the agent, create,
//! recreate, read and await pod sandboxes, read the MTU pods get.

use std::path::PathBuf;

use serde_json::Value;

use super::KindBackend;
use crate::backend::Cut;
use crate::kind::error::KindError;
use crate::kind::exec::{Executor, Until};
use crate::kind::files::paths;
use crate::kind::plan::{self, Family};

/// How long kubelet may take to bring a sandbox up or down.
pub const SANDBOX_SECONDS: u64 = 120;
/// How long yurthub may take to renew the node's Lease once it can reach the API server again:
/// its probe runs every 10 s with a 2 s timeout (OpenYurt v1.7.0
/// `cmd/yurthub/app/options/options.go:106-108`).
pub const RENEWAL_SECONDS: u64 = 60;
/// How long a restarted yurthub may take to answer its health endpoint (it loads its cache and
/// certificates from disk first).
pub const YURTHUB_SECONDS: u64 = 60;
/// How long a crashed kindnetd may stay down after a reconnect: kubelet's restart back-off
/// grows to 5 minutes.
pub const KINDNET_SECONDS: u64 = 330;
/// How long install-cni may take to put `tether` back into a conflist kindnetd rewrote.
pub const CONFLIST_SECONDS: u64 = 30;

/// What tether recorded for a sandbox, and where to look at it in the node's kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxAttachment {
    /// The sandbox's ID.
    pub id: String,
    /// The name of its network namespace (for `ip -n`).
    pub netns: String,
    /// The host side of its veth pair.
    pub host_veth: Option<String>,
    /// tether-cni's record of its `eth0`.
    pub record: Value,
}

/// The control plane's addresses on the cluster network; the IPv6 one is empty on a network
/// without IPv6 (a real run then skips it; a dry run cannot know and plans it).
struct ApiAddresses {
    v4: String,
    v6: String,
}

impl<E: Executor> KindBackend<E> {
    fn address_record(&self, node: &str) -> PathBuf {
        self.config
            .work_dir
            .join(paths::DISCONNECTED_DIR)
            .join(format!("{node}.ipv4"))
    }

    /// Whether the IPv6 half of a step applies: always in a dry run, else when there is an
    /// address.
    fn has_v6(&self, addresses: &ApiAddresses) -> bool {
        self.exec.is_dry_run() || !addresses.v6.is_empty()
    }

    fn api_addresses(&mut self) -> Result<ApiAddresses, KindError> {
        let cp = self.config.control_plane();
        let v4 = self.exec.capture(
            "CP_IPV4",
            &plan::container_address(&self.config, &cp, Family::V4),
        )?;
        let v6 = self.exec.capture(
            "CP_IPV6",
            &plan::container_address(&self.config, &cp, Family::V6),
        )?;
        Ok(ApiAddresses { v4, v6 })
    }

    /// Cuts an edge node off the cloud and checks it took effect. `Network`: `docker network
    /// disconnect`. `Blackhole`: the control plane's addresses dropped both ways inside the node,
    /// IPv4 and IPv6: kind's network is dual-stack, the API server listens on both, and yurthub
    /// dials it by host name (kind v0.31.0 `pkg/cluster/internal/providers/docker/provider.go:225-226`),
    /// so with IPv4 alone dropped Go's dialer falls back to IPv6 and the node stays connected.
    pub fn cut(&mut self, node: &str, how: Cut) -> Result<(), KindError> {
        let node = self.config.node_name(node)?;
        let api = self.api_addresses()?;
        match how {
            Cut::Network => {
                self.disconnect(&node)?;
            }
            Cut::Blackhole => {
                self.exec.note(&format!(
                    "blackholing the API server's addresses inside {node}"
                ));
                let mut rules = plan::blackhole_rules(&node, Family::V4, "-I", &api.v4).to_vec();
                if self.has_v6(&api) {
                    rules.extend(plan::blackhole_rules(&node, Family::V6, "-I", &api.v6));
                }
                for rule in rules {
                    self.exec.run(&rule)?;
                }
            }
        }
        self.check_cut(&node, &api)
    }

    /// The cut holds: the API server answers neither by name (as yurthub dials it) nor at
    /// either of its addresses.
    fn check_cut(&mut self, node: &str, api: &ApiAddresses) -> Result<(), KindError> {
        let mut hosts = vec![self.config.control_plane(), api.v4.clone()];
        if self.has_v6(api) {
            hosts.push(format!("[{}]", api.v6));
        }
        for host in hosts {
            self.exec.refute(
                &format!("{node} is cut off, so the API server at {host} must be out of its reach"),
                &plan::api_probe(node, &host),
            )?;
        }
        Ok(())
    }

    /// The docker half of a network cut: `docker network disconnect kind <node>`, after
    /// recording the node's address so [`Self::reconnect_network`] can check it comes back the
    /// same. Returns the node's name.
    pub fn disconnect(&mut self, node: &str) -> Result<String, KindError> {
        let node = self.config.node_name(node)?;
        let record = self.address_record(&node);
        self.exec
            .run(&plan::node_address(&self.config, &node).stdout_to(&record))?;
        let network = &self.config.network;
        self.exec
            .note(&format!("cutting {node} off docker network {network}"));
        self.exec.run(&plan::disconnect(&self.config, &node))?;
        Ok(node)
    }

    /// Undoes [`Self::cut`], then waits until the node is back for real: yurthub has renewed
    /// the node's Lease twice since (one success makes yurthub probe again, two make it
    /// healthy: OpenYurt v1.7.0 `pkg/yurthub/healthchecker/cloudapiserver/prober.go:130-145`,
    /// threshold 2 in `cmd/yurthub/app/options/options.go:106`), the node is Ready, kindnetd
    /// runs and the conflist still chains `tether`.
    pub fn reconnect(&mut self, node: &str, how: Cut) -> Result<(), KindError> {
        let node = self.config.node_name(node)?;
        let since = self.exec.capture("RECONNECTED_AT", &plan::now_micro())?;
        match how {
            Cut::Network => {
                self.reconnect_network(&node)?;
            }
            Cut::Blackhole => {
                let api = self.api_addresses()?;
                let mut rules = plan::blackhole_rules(&node, Family::V4, "-D", &api.v4).to_vec();
                if self.has_v6(&api) {
                    rules.extend(plan::blackhole_rules(&node, Family::V6, "-D", &api.v6));
                }
                for rule in rules {
                    self.exec.run(&rule)?;
                }
            }
        }
        self.await_back(&node, &since)
    }

    /// The docker half of a network reconnect: `docker network connect`, then the node's address
    /// must be the one recorded at the disconnect (kubelet, kindnet and the API server's view of
    /// the node all hold it). Returns the node's name.
    pub fn reconnect_network(&mut self, node: &str) -> Result<String, KindError> {
        let node = self.config.node_name(node)?;
        let network = &self.config.network;
        self.exec
            .note(&format!("reconnecting {node} to docker network {network}"));
        self.exec.run(&plan::reconnect(&self.config, &node))?;
        let record = self.address_record(&node);
        if !self.exec.is_dry_run() && !record.exists() {
            self.exec.note(&format!(
                "no address recorded for {node} (disconnected by hand?): not compared"
            ));
            return Ok(node);
        }
        let before = self
            .exec
            .capture("ADDRESS_BEFORE", &plan::read_local(&record))?;
        let after = self
            .exec
            .capture("ADDRESS_AFTER", &plan::node_address(&self.config, &node))?;
        let same = plan::same(&after, &before);
        if self.exec.is_dry_run() {
            // a replay stops here as the real run does
            self.exec.run(&same)?;
        } else if self.exec.output(&same)?.is_some_and(|out| !out.success) {
            return Err(KindError::AddressChanged {
                node,
                before,
                after,
            });
        }
        self.exec.run(&plan::remove_local(&record))?;
        Ok(node)
    }

    fn await_back(&mut self, node: &str, since: &str) -> Result<(), KindError> {
        let lease = plan::lease_renew_time(&self.config, node);
        self.exec.poll(
            &format!("yurthub on {node} renewing its Lease after the reconnect"),
            &lease,
            &Until::After(since.to_owned()),
            RENEWAL_SECONDS,
        )?;
        let first = self.exec.capture("FIRST_RENEWAL", &lease)?;
        self.exec.poll(
            &format!("yurthub on {node} renewing its Lease a second time (healthy again)"),
            &lease,
            &Until::After(first),
            RENEWAL_SECONDS,
        )?;
        self.exec.run(&plan::wait_node_ready(&self.config, node))?;
        self.exec.poll(
            &format!("kindnetd running on {node}"),
            &plan::kindnet_running(node),
            &Until::OtherThan(Vec::new()),
            KINDNET_SECONDS,
        )?;
        let chained = self.exec.poll(
            &format!("tether in {node}'s {}", plan::KINDNET_CONFLIST),
            &plan::read_conflist(node),
            &Until::Has("\"tether\"".into()),
            CONFLIST_SECONDS,
        );
        match chained {
            Err(KindError::Timeout { .. }) => Err(KindError::TetherDropped {
                node: node.to_owned(),
            }),
            other => other.map(drop),
        }
    }

    /// Restarts the agent's container on a node with crictl (works while the node is cut off:
    /// kubelet restarts it from local state) and waits for a new one to run.
    pub fn restart_agent(&mut self, node: &str) -> Result<(), KindError> {
        let node = self.config.node_name(node)?;
        let list = plan::agent_containers(&self.config, &node, "running");
        let old = self.exec.capture_words("OLD_AGENTS", &list)?;
        if old.is_empty() {
            return Err(KindError::Failed {
                command: list.to_string(),
                status: "no output".into(),
                stderr: format!("no running agent container on {node}"),
            });
        }
        self.exec.run(&plan::stop_containers(&node, &old))?;
        self.exec.poll(
            &format!("a new agent container on {node}"),
            &list,
            &Until::OtherThan(old),
            SANDBOX_SECONDS,
        )?;
        Ok(())
    }

    /// Restarts kindnetd on a node (`crictl stop`; kubelet starts it again), which writes its
    /// conflist again without tether, and waits for the new container.
    pub fn restart_main_plugin(&mut self, node: &str) -> Result<(), KindError> {
        let node = self.config.node_name(node)?;
        let list = plan::kindnet_running(&node);
        let old = self.exec.capture_words("OLD_KINDNET", &list)?;
        if !old.is_empty() {
            self.exec.run(&plan::stop_containers(&node, &old))?;
        }
        self.exec.poll(
            &format!("a new kindnetd on {node}"),
            &list,
            &Until::OtherThan(old),
            KINDNET_SECONDS,
        )?;
        Ok(())
    }

    /// Deletes the tether DaemonSet and waits until its pods are gone from every node.
    pub fn remove_tether(&mut self) -> Result<(), KindError> {
        self.exec
            .run(&plan::delete_tether_daemonset(&self.config))?;
        self.exec.run(&plan::wait_tether_pods_gone(&self.config))?;
        Ok(())
    }

    /// Restarts yurthub (`systemctl restart yurthub.service`; systemd needs no API server, so
    /// this works cut off) and waits until its health endpoint answers.
    pub fn restart_yurthub(&mut self, node: &str) -> Result<(), KindError> {
        let node = self.config.node_name(node)?;
        self.exec.run(&plan::restart_yurthub(&node))?;
        self.exec.poll(
            &format!("yurthub healthy on {node} after its restart"),
            &plan::yurthub_healthz(&node),
            &Until::Succeeds,
            YURTHUB_SECONDS,
        )?;
        Ok(())
    }

    /// Waits until the pod `uid` has a ready sandbox that is not one of `old`; its ID (in a dry
    /// run the placeholder `${SANDBOX}`).
    pub fn await_sandbox(
        &mut self,
        node: &str,
        uid: &str,
        old: &[String],
    ) -> Result<String, KindError> {
        let node = self.config.node_name(node)?;
        self.exec.poll(
            &format!("a new sandbox of pod {uid} on {node}"),
            &plan::pod_sandboxes(&node, uid, false),
            &Until::OtherThan(old.to_vec()),
            SANDBOX_SECONDS,
        )?;
        self.exec
            .capture("SANDBOX", &plan::pod_sandboxes(&node, uid, true))
    }

    /// Removes the ready sandboxes of pod `uid` so kubelet makes another (CNI ADD runs again,
    /// through the agent's cache when the node is cut off), and waits for it; its ID (in a dry
    /// run `${SANDBOX}`).
    pub fn recreate_sandbox(&mut self, node: &str, uid: &str) -> Result<String, KindError> {
        let name = self.config.node_name(node)?;
        let old = self
            .exec
            .capture_words("OLD_SANDBOXES", &plan::pod_sandboxes(&name, uid, false))?;
        if !old.is_empty() {
            self.exec.run(&plan::remove_sandboxes(&name, &old))?;
        }
        self.await_sandbox(&name, uid, &old)
    }

    /// What tether-cni recorded for sandbox `id`, its network namespace and its host veth
    /// (`None` in a dry run).
    pub fn sandbox_attachment(
        &mut self,
        node: &str,
        id: &str,
    ) -> Result<Option<SandboxAttachment>, KindError> {
        let node = self.config.node_name(node)?;
        let read = plan::cni_record(&node, id);
        let record = self.exec.capture("RECORD", &read)?;
        let netns = self
            .exec
            .capture("NETNS", &plan::sandbox_netns(&node, id))?;
        let host_veth = self
            .exec
            .capture("HOST_VETH", &plan::host_veth(&node, &netns))?;
        if self.exec.is_dry_run() {
            return Ok(None);
        }
        let record: Value = serde_json::from_str(&record).map_err(|e| KindError::Unexpected {
            command: read.to_string(),
            why: format!("not tether-cni's JSON record: {e}"),
        })?;
        Ok(Some(SandboxAttachment {
            id: id.to_owned(),
            netns,
            host_veth: (!host_veth.is_empty()).then_some(host_veth),
            record,
        }))
    }

    /// Waits until sandbox `id` is no longer ready: it was stopped, and CNI DEL has run.
    pub fn await_sandbox_gone(&mut self, node: &str, id: &str) -> Result<(), KindError> {
        let node = self.config.node_name(node)?;
        self.exec.poll(
            &format!("sandbox {id} on {node} torn down"),
            &plan::sandbox_ready(&node, id),
            &Until::Is(vec![String::new()]),
            SANDBOX_SECONDS,
        )?;
        Ok(())
    }

    /// The MTU a pod on the node gets when no profile sets one: kindnetd writes the MTU of the
    /// node's `eth0` into its conflist (`None` in a dry run).
    pub fn default_pod_mtu(&mut self, node: &str) -> Result<Option<u32>, KindError> {
        let node = self.config.node_name(node)?;
        let read = plan::node_mtu(&node);
        let Some(out) = self.exec.run(&read)? else {
            return Ok(None);
        };
        out.trim()
            .parse()
            .map(Some)
            .map_err(|e| KindError::Unexpected {
                command: read.to_string(),
                why: format!("not an MTU ({e}): {out:?}"),
            })
    }
}
