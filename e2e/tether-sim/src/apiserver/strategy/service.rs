//! Services: defaults (kubernetes v1.34.1 `pkg/apis/core/v1/defaults.go:106-165`), the
//! ClusterIP from the service CIDR 10.96.0.0/12 and node ports from 30000-32767
//! (`pkg/registry/core/service/storage/alloc.go`, `ipallocator`, `portallocator`; the
//! allocators' texts: "provided port is not in the valid range. The range of valid ports
//! is 30000-32767", "provided port is already allocated", "provided IP is already
//! allocated"), the single-stack IPv4 fields, and `clusterIP` immutability
//! (`pkg/apis/core/validation/validation.go` `ValidateServiceUpdate`). Values left out of
//! an update are kept from the stored object (`storage.go` `patchAllocatedValues`).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};

use super::pod_spec::{items_mut, or_default};

const NET: u32 = 0x0a60_0000; // 10.96.0.0
const MASK_BITS: u32 = 12;
const PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// Who holds each ClusterIP and node port: `namespace/name` of the Service.
#[derive(Debug, Default)]
pub struct Allocations {
    inner: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    ips: HashMap<Ipv4Addr, String>,
    ports: HashMap<u16, String>,
}

impl Allocations {
    fn lock(&self) -> MutexGuard<'_, Held> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Free everything `owner` holds (its Service was deleted).
    pub fn release(&self, owner: &str) {
        let mut held = self.lock();
        held.ips.retain(|_, o| o != owner);
        held.ports.retain(|_, o| o != owner);
    }
}

fn in_cidr(ip: Ipv4Addr) -> bool {
    u32::from(ip) >> (32 - MASK_BITS) == NET >> (32 - MASK_BITS)
}

fn random_u32() -> u32 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn needs_node_ports(spec: &Value) -> bool {
    matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"))
}

/// `SetDefaults_Service` and the single-stack IPv4 fields.
fn default(spec: &mut Value) {
    if spec["sessionAffinity"].as_str().is_none_or(str::is_empty) {
        spec["sessionAffinity"] = json!("None");
    }
    if spec["type"].as_str().is_none_or(str::is_empty) {
        spec["type"] = json!("ClusterIP");
    }
    for p in items_mut(spec, "ports") {
        if p["protocol"].as_str().is_none_or(str::is_empty) {
            p["protocol"] = json!("TCP");
        }
        if p["targetPort"].is_null() || p["targetPort"] == 0 || p["targetPort"] == "" {
            p["targetPort"] = p["port"].clone();
        }
    }
    let kind = spec["type"].as_str().unwrap_or_default().to_string();
    if needs_node_ports(spec) {
        or_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if kind != "ExternalName" {
        or_default(spec, "internalTrafficPolicy", json!("Cluster"));
        or_default(spec, "ipFamilies", json!(["IPv4"]));
        or_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    if kind == "LoadBalancer" {
        or_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

/// Default, keep what an update left out, check immutability and allocate. `owner` is
/// `namespace/name`; with `dry_run` nothing is reserved.
pub fn prepare(
    allocations: &Allocations,
    owner: &str,
    old: Option<&Value>,
    obj: &mut Value,
    dry_run: bool,
) -> Vec<(String, String)> {
    default(&mut obj["spec"]);
    let spec = &mut obj["spec"];
    let mut causes = Vec::new();
    if let Some(old_spec) = old.map(|o| &o["spec"]) {
        let old_ip = old_spec["clusterIP"].as_str().unwrap_or_default();
        match spec["clusterIP"].as_str().unwrap_or_default() {
            "" => {
                spec["clusterIP"] = old_spec["clusterIP"].clone();
                spec["clusterIPs"] = old_spec["clusterIPs"].clone();
            }
            ip if ip != old_ip && !old_ip.is_empty() => causes.push((
                "spec.clusterIP".into(),
                format!("Invalid value: {ip:?}: field is immutable"),
            )),
            _ => {}
        }
        // A port keeps its node port when the update leaves it out.
        for p in items_mut(spec, "ports") {
            if p["nodePort"].as_i64().unwrap_or(0) == 0
                && let Some(was) = old_spec["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|q| q["port"] == p["port"] && q["protocol"] == p["protocol"])
                && !was["nodePort"].is_null()
            {
                p["nodePort"] = was["nodePort"].clone();
            }
        }
    }
    if !causes.is_empty() {
        return causes;
    }
    let mut held = allocations.lock();
    if spec["type"] != "ExternalName" {
        match spec["clusterIP"].as_str().unwrap_or_default() {
            "None" => spec["clusterIPs"] = json!(["None"]),
            "" => {
                let size = 1u32 << (32 - MASK_BITS);
                let ip = (0..size)
                    .map(|_| Ipv4Addr::from(NET + 1 + random_u32() % (size - 2)))
                    .find(|ip| !held.ips.contains_key(ip));
                if let Some(ip) = ip {
                    spec["clusterIP"] = json!(ip.to_string());
                    spec["clusterIPs"] = json!([ip.to_string()]);
                }
            }
            asked => {
                let bad = |why: String| {
                    (
                        "spec.clusterIPs".to_string(),
                        format!("Invalid value: [{asked:?}]: failed to allocate IP {asked}: {why}"),
                    )
                };
                match asked.parse::<Ipv4Addr>() {
                    Ok(ip) if !in_cidr(ip) => causes.push(bad(format!(
                        "the provided IP ({asked}) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
                    ))),
                    Ok(ip) if held.ips.get(&ip).is_some_and(|o| o != owner) => {
                        causes.push(bad("provided IP is already allocated".into()))
                    }
                    Ok(_) => spec["clusterIPs"] = json!([asked]),
                    Err(_) => causes.push((
                        "spec.clusterIPs[0]".into(),
                        format!("Invalid value: {asked:?}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"),
                    )),
                }
            }
        }
    }
    let want_ports = needs_node_ports(spec);
    let mut taken_now: Vec<u16> = Vec::new();
    for (i, p) in items_mut(spec, "ports").enumerate() {
        if !want_ports {
            if let Some(m) = p.as_object_mut() {
                m.remove("nodePort");
            }
            continue;
        }
        let field = format!("spec.ports[{i}].nodePort");
        match p["nodePort"].as_i64().unwrap_or(0) {
            0 => {
                let span = u32::from(PORTS.end() - PORTS.start()) + 1;
                let free = (0..span * 4)
                    .filter_map(|_| u16::try_from(random_u32() % span).ok())
                    .map(|o| PORTS.start() + o)
                    .find(|n| {
                        held.ports.get(n).is_none_or(|o| o == owner) && !taken_now.contains(n)
                    });
                if let Some(n) = free {
                    p["nodePort"] = json!(n);
                    taken_now.push(n);
                }
            }
            n => match u16::try_from(n).ok().filter(|n| PORTS.contains(n)) {
                None => causes.push((
                    field,
                    format!("Invalid value: {n}: provided port is not in the valid range. The range of valid ports is 30000-32767"),
                )),
                Some(n) if held.ports.get(&n).is_some_and(|o| o != owner) || taken_now.contains(&n) => {
                    causes.push((field, format!("Invalid value: {n}: provided port is already allocated")))
                }
                Some(n) => taken_now.push(n),
            },
        }
    }
    if causes.is_empty() && !dry_run {
        held.ips.retain(|_, o| o != owner);
        held.ports.retain(|_, o| o != owner);
        if let Some(ip) = spec["clusterIP"].as_str().and_then(|s| s.parse().ok()) {
            held.ips.insert(ip, owner.to_string());
        }
        for n in taken_now {
            held.ports.insert(n, owner.to_string());
        }
    }
    if old.is_none() && obj["status"].is_null() {
        obj["status"] = json!({"loadBalancer": {}});
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "s"}, "spec": spec})
    }

    #[test]
    fn a_cluster_ip_service_is_defaulted_and_gets_an_address() {
        let a = Allocations::default();
        let mut s = svc(json!({"ports": [{"port": 80}]}));
        assert!(prepare(&a, "ns/s", None, &mut s, false).is_empty());
        let spec = &s["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
        assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
        assert_eq!(
            spec["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        let ip: Ipv4Addr = spec["clusterIP"].as_str().unwrap().parse().unwrap();
        assert!(in_cidr(ip) && ip != Ipv4Addr::new(10, 96, 0, 0));
        assert_eq!(spec["clusterIPs"], json!([ip.to_string()]));
        let mut headless = svc(json!({"clusterIP": "None"}));
        assert!(prepare(&a, "ns/h", None, &mut headless, false).is_empty());
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    }

    #[test]
    fn node_ports_are_allocated_in_range_and_not_twice() {
        let a = Allocations::default();
        let mut s = svc(
            json!({"type": "NodePort", "ports": [{"port": 80}, {"port": 81, "nodePort": 30080}]}),
        );
        assert!(prepare(&a, "ns/a", None, &mut s, false).is_empty());
        let n = s["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
        assert!((30000..=32767).contains(&n));
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        let mut clash =
            svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}));
        assert_eq!(
            prepare(&a, "ns/b", None, &mut clash, false),
            [(
                "spec.ports[0].nodePort".to_string(),
                "Invalid value: 30080: provided port is already allocated".to_string()
            )]
        );
        let mut low = svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}));
        assert_eq!(
            prepare(&a, "ns/c", None, &mut low, false)[0].1,
            "Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
        a.release("ns/a");
        assert!(prepare(&a, "ns/b", None, &mut clash, false).is_empty());
    }

    #[test]
    fn the_cluster_ip_is_immutable_and_kept_when_left_out() {
        let a = Allocations::default();
        let mut s = svc(json!({"ports": [{"port": 80}]}));
        prepare(&a, "ns/s", None, &mut s, false);
        let mut again = svc(json!({"ports": [{"port": 80}]}));
        assert!(prepare(&a, "ns/s", Some(&s), &mut again, false).is_empty());
        assert_eq!(again["spec"]["clusterIP"], s["spec"]["clusterIP"]);
        let mut moved = svc(json!({"clusterIP": "10.96.0.77", "ports": [{"port": 80}]}));
        assert_eq!(
            prepare(&a, "ns/s", Some(&s), &mut moved, false),
            [(
                "spec.clusterIP".to_string(),
                "Invalid value: \"10.96.0.77\": field is immutable".to_string()
            )]
        );
        let mut taken = svc(json!({"clusterIP": s["spec"]["clusterIP"]}));
        assert!(
            prepare(&a, "ns/t", None, &mut taken, false)[0]
                .1
                .ends_with("provided IP is already allocated")
        );
    }
}
