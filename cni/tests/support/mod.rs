//! Shared by the privileged tests and the benchmark: a node with a bridge network, pods as
//! network namespaces, an in-test agent and a runtime that runs the plugin chain.
#![allow(dead_code, missing_docs)]

pub mod agent;
pub mod kernel;
pub mod runtime;
pub mod stand_in;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cni::protocol::{AddResponse, Bandwidth, ProfileRef, Source};
use serde_json::{Value, json};

use runtime::Attachment;
use testkit::cni_runtime::NetworkList;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Whether privileged tests can run (root and the plugins); under `CI=true` not being able
/// to is a failure.
pub fn privileged() -> bool {
    testkit::require::root_with_plugins(Path::new(runtime::PLUGIN_DIR))
}

pub use testkit::netns::Netns;

/// One test's node: its own bridge, subnet, IPAM and tether state directories, agent socket.
pub struct Node {
    pub id: u32,
    pub dir: PathBuf,
    pub bridge: String,
    subnet: String,
}

impl Node {
    pub fn new() -> Node {
        let id = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("tether-it-{pid}-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Node {
            id,
            dir,
            bridge: format!("tt{:x}b{id}", pid % 0x10000),
            subnet: format!("10.{}.{}.0/24", 100 + pid % 100, id),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Files tether left in its state directory.
    pub fn state_files(&self) -> Vec<String> {
        match std::fs::read_dir(self.state_dir()) {
            Ok(entries) => entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// bridge + host-local, then tether with `tether` keys added to its defaults.
    pub fn chain(&self, version: &str, tether: Value) -> NetworkList {
        let mut tether_conf = json!({
            "type": "tether",
            "agentSocket": self.socket(),
            "agentTimeoutMs": 2000,
            "stateDir": self.state_dir(),
        });
        tether_conf
            .as_object_mut()
            .unwrap()
            .extend(tether.as_object().cloned().unwrap_or_default());
        self.list(
            version,
            vec![
                (plugin("bridge"), self.bridge_conf()),
                (runtime::tether_binary(), tether_conf),
            ],
        )
    }

    /// The same chain without tether: bridge + host-local, bandwidth, tuning, configured directly.
    pub fn direct_chain(&self, version: &str, answer: &AddResponse) -> NetworkList {
        let mut plugins = vec![(plugin("bridge"), self.bridge_conf())];
        for delegate in cni::delegate::plan(answer) {
            let mut conf = Value::Object(delegate.conf);
            conf["type"] = json!(delegate.plugin);
            plugins.push((plugin(&delegate.plugin), conf));
        }
        self.list(version, plugins)
    }

    fn list(&self, version: &str, plugins: Vec<(PathBuf, Value)>) -> NetworkList {
        NetworkList {
            cni_version: version.into(),
            name: format!("tether-it-{}", self.id),
            plugins: plugins
                .into_iter()
                .map(|(b, c)| (b, c.as_object().cloned().unwrap()))
                .collect(),
            timeout: Duration::from_secs(30),
        }
    }

    fn bridge_conf(&self) -> Value {
        json!({
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": true,
            "ipam": {"type": "host-local", "subnet": self.subnet, "dataDir": self.dir.join("ipam")},
        })
    }

    /// A pod sandbox: a fresh namespace and the attachment that names it.
    pub fn pod(&self, name: &str) -> (Netns, Attachment) {
        let netns = Netns::new(format!(
            "tether-it-{}-{}-{name}",
            std::process::id(),
            self.id
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let container_id = format!("c{}x{}x{name}", std::process::id(), self.id);
        let attachment = Attachment {
            args: Attachment::kubernetes_args(
                "default",
                name,
                &format!("uid-{name}"),
                &container_id,
            ),
            container_id,
            netns: netns.path(),
            ifname: "eth0".into(),
            cni_path: runtime::PLUGIN_DIR.into(),
        };
        (netns, attachment)
    }
}

fn plugin(name: &str) -> PathBuf {
    Path::new(runtime::PLUGIN_DIR).join(name)
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The profile of DESIGN.md: 10M/1M in, 5M/512k out, MTU 1400, one keepalive sysctl.
pub fn camera_profile() -> AddResponse {
    AddResponse {
        profile: Some(ProfileRef {
            name: "camera".into(),
            generation: 4,
        }),
        bandwidth: Some(Bandwidth {
            ingress_rate: Some(10_000_000),
            ingress_burst: Some(1_000_000),
            egress_rate: Some(5_000_000),
            egress_burst: Some(512_000),
        }),
        mtu: Some(1400),
        sysctls: BTreeMap::from([("net.ipv4.tcp_keepalive_time".into(), "60".into())]),
        source: Source::Live,
    }
}

/// No profile matches.
pub fn no_profile() -> AddResponse {
    AddResponse {
        source: Source::Default,
        ..AddResponse::default()
    }
}
