//! CNI specification types: the versions tether speaks and the ADD result in each of them.
//!
//! A result is parsed from any supported version into [`CniResult`], which holds the 1.1.0
//! superset, and written out in any version: the 0.3.x/0.4.0 `ips[].version` field is
//! derived from the address, and fields a version does not know are dropped.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A CNI specification version tether accepts in a network configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CniVersion {
    /// 0.3.0
    V0_3_0,
    /// 0.3.1 (flannel, OpenYurt's default network, still writes it)
    V0_3_1,
    /// 0.4.0 (adds CHECK)
    V0_4_0,
    /// 1.0.0 (drops `ips[].version`)
    V1_0_0,
    /// 1.1.0 (adds STATUS, GC and new result fields)
    V1_1_0,
}

impl CniVersion {
    /// Every supported version, oldest first, as VERSION reports them.
    pub const ALL: [CniVersion; 5] = [
        CniVersion::V0_3_0,
        CniVersion::V0_3_1,
        CniVersion::V0_4_0,
        CniVersion::V1_0_0,
        CniVersion::V1_1_0,
    ];
    /// The newest version, used when no configuration says otherwise.
    pub const LATEST: CniVersion = CniVersion::V1_1_0;

    /// Parses a `cniVersion` string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The version as the spec writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CniVersion::V0_3_0 => "0.3.0",
            CniVersion::V0_3_1 => "0.3.1",
            CniVersion::V0_4_0 => "0.4.0",
            CniVersion::V1_0_0 => "1.0.0",
            CniVersion::V1_1_0 => "1.1.0",
        }
    }

    /// Whether results in this version carry `ips[].version`.
    fn has_ip_version_field(self) -> bool {
        self < CniVersion::V1_0_0
    }

    /// Whether the CHECK command exists in this version.
    pub fn has_check(self) -> bool {
        self >= CniVersion::V0_4_0
    }

    /// Whether the STATUS and GC commands exist in this version.
    pub fn has_status_and_gc(self) -> bool {
        self >= CniVersion::V1_1_0
    }
}

impl fmt::Display for CniVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a result could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    /// The JSON does not have the shape of a CNI result.
    #[error("not a CNI result: {0}")]
    Shape(String),
    /// An `ips[].address` is not an address with a prefix length.
    #[error("ips[{index}].address {address:?} is not CIDR notation")]
    Address {
        /// Position in `ips`.
        index: usize,
        /// The offending value.
        address: String,
    },
    /// An `ips[].interface` points past the end of `interfaces`.
    #[error("ips[{index}].interface {interface} is out of range ({count} interfaces)")]
    InterfaceIndex {
        /// Position in `ips`.
        index: usize,
        /// The index it names.
        interface: usize,
        /// How many interfaces there are.
        count: usize,
    },
}

/// An ADD result in the 1.1.0 superset of every supported version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CniResult {
    /// Interfaces created or used by the plugins so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Addresses assigned to those interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    /// Routes installed in the sandbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// DNS settings, passed through as they came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Value>,
}

/// `interfaces[]` of a result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Hardware address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Network namespace path; absent for host-side interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// MTU (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Fields of newer versions, kept for the versions that have them (1.1.0).
    #[serde(flatten)]
    pub v1_1: Map<String, Value>,
}

/// `ips[]` of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    /// Address with prefix length, e.g. `10.1.0.5/24`.
    pub address: String,
    /// Default gateway of the subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// `routes[]` of a result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Route {
    /// Destination in CIDR notation.
    pub dst: String,
    /// Next hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
    /// `mtu`, `advmss`, `priority`, `table`, `scope` (1.1.0).
    #[serde(flatten)]
    pub v1_1: Map<String, Value>,
}

impl CniResult {
    /// Reads a result written in any supported version.
    pub fn from_value(value: Value) -> Result<Self, ResultError> {
        let mut value = value;
        // `ips[].version` only restates the address family; it is derived again on output.
        if let Some(ips) = value.get_mut("ips").and_then(Value::as_array_mut) {
            for ip in ips {
                if let Some(ip) = ip.as_object_mut() {
                    ip.remove("version");
                }
            }
        }
        if let Some(obj) = value.as_object_mut() {
            obj.remove("cniVersion");
        }
        let result: CniResult =
            serde_json::from_value(value).map_err(|e| ResultError::Shape(e.to_string()))?;
        result.check()?;
        Ok(result)
    }

    fn check(&self) -> Result<(), ResultError> {
        for (index, ip) in self.ips.iter().enumerate() {
            ip_family(&ip.address).ok_or_else(|| ResultError::Address {
                index,
                address: ip.address.clone(),
            })?;
            if let Some(interface) = ip.interface
                && interface >= self.interfaces.len()
            {
                return Err(ResultError::InterfaceIndex {
                    index,
                    interface,
                    count: self.interfaces.len(),
                });
            }
        }
        Ok(())
    }

    /// Writes the result as `version` has it, with `cniVersion` set.
    pub fn to_value(&self, version: CniVersion) -> Value {
        let mut out = Map::new();
        out.insert("cniVersion".into(), version.as_str().into());
        let keep_new = version >= CniVersion::V1_1_0;
        if !self.interfaces.is_empty() {
            let interfaces = self.interfaces.iter().map(|i| {
                let mut i = i.clone();
                if !keep_new {
                    i.mtu = None;
                    i.v1_1.clear();
                }
                to_json(&i)
            });
            out.insert("interfaces".into(), interfaces.collect());
        }
        if !self.ips.is_empty() {
            let ips = self.ips.iter().map(|ip| {
                let mut v = to_json(ip);
                if version.has_ip_version_field()
                    && let (Some(obj), Some(family)) = (v.as_object_mut(), ip_family(&ip.address))
                {
                    obj.insert("version".into(), family.into());
                }
                v
            });
            out.insert("ips".into(), ips.collect());
        }
        if !self.routes.is_empty() {
            let routes = self.routes.iter().map(|r| {
                let mut r = r.clone();
                if !keep_new {
                    r.v1_1.clear();
                }
                to_json(&r)
            });
            out.insert("routes".into(), routes.collect());
        }
        if let Some(dns) = &self.dns {
            out.insert("dns".into(), dns.clone());
        }
        Value::Object(out)
    }
}

fn to_json<T: Serialize>(item: &T) -> Value {
    // These types hold only strings, numbers and JSON values: serialising cannot fail.
    serde_json::to_value(item).unwrap_or(Value::Null)
}

/// `"4"` or `"6"` for an address in CIDR notation, `None` when it is not one.
fn ip_family(cidr: &str) -> Option<&'static str> {
    let (addr, prefix) = cidr.split_once('/')?;
    let prefix: u8 = prefix.parse().ok()?;
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) if prefix <= 32 => Some("4"),
        IpAddr::V6(_) if prefix <= 128 => Some("6"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bridge_result_0_3_1() -> Value {
        json!({
            "cniVersion": "0.3.1",
            "interfaces": [
                {"name": "cni0", "mac": "aa:bb:cc:dd:ee:01"},
                {"name": "veth1", "mac": "aa:bb:cc:dd:ee:02"},
                {"name": "eth0", "mac": "aa:bb:cc:dd:ee:03", "sandbox": "/var/run/netns/p"}
            ],
            "ips": [
                {"version": "4", "address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 2},
                {"version": "6", "address": "fd00::5/64", "interface": 2}
            ],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
            "dns": {"nameservers": ["10.96.0.10"]}
        })
    }

    #[test]
    fn versions_parse_and_print() {
        for v in CniVersion::ALL {
            assert_eq!(CniVersion::parse(v.as_str()), Some(v));
        }
        assert_eq!(CniVersion::parse("0.2.0"), None);
        assert_eq!(CniVersion::parse("1.2.0"), None);
        assert_eq!(CniVersion::parse(""), None);
        assert!(!CniVersion::V0_3_1.has_check());
        assert!(CniVersion::V0_4_0.has_check());
        assert!(!CniVersion::V1_0_0.has_status_and_gc());
        assert!(CniVersion::V1_1_0.has_status_and_gc());
    }

    #[test]
    fn old_result_round_trips_unchanged() {
        let input = bridge_result_0_3_1();
        let result = CniResult::from_value(input.clone()).unwrap();
        assert_eq!(result.to_value(CniVersion::V0_3_1), input);
    }

    #[test]
    fn upgrade_to_1_0_drops_ip_version() {
        let result = CniResult::from_value(bridge_result_0_3_1()).unwrap();
        let v1 = result.to_value(CniVersion::V1_0_0);
        assert_eq!(v1["cniVersion"], "1.0.0");
        assert_eq!(
            v1["ips"][0],
            json!({"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 2})
        );
        assert_eq!(v1["interfaces"], bridge_result_0_3_1()["interfaces"]);
    }

    #[test]
    fn downgrade_derives_ip_version_and_drops_1_1_fields() {
        let input = json!({
            "cniVersion": "1.1.0",
            "interfaces": [{"name": "eth0", "sandbox": "/n", "mtu": 1400, "socketPath": "/s", "pciID": "0000:01:00.0"}],
            "ips": [{"address": "fd00::5/64", "interface": 0}],
            "routes": [{"dst": "::/0", "gw": "fd00::1", "mtu": 1300, "table": 100, "scope": 0}]
        });
        let result = CniResult::from_value(input.clone()).unwrap();
        assert_eq!(result.to_value(CniVersion::V1_1_0), input);
        let old = result.to_value(CniVersion::V0_4_0);
        assert_eq!(
            old,
            json!({
                "cniVersion": "0.4.0",
                "interfaces": [{"name": "eth0", "sandbox": "/n"}],
                "ips": [{"address": "fd00::5/64", "interface": 0, "version": "6"}],
                "routes": [{"dst": "::/0", "gw": "fd00::1"}]
            })
        );
        assert!(
            result.to_value(CniVersion::V1_0_0)["interfaces"][0]
                .get("mtu")
                .is_none()
        );
    }

    #[test]
    fn empty_result_is_valid() {
        let result = CniResult::from_value(json!({"cniVersion": "1.0.0"})).unwrap();
        assert_eq!(
            result.to_value(CniVersion::V1_0_0),
            json!({"cniVersion": "1.0.0"})
        );
    }

    #[test]
    fn bad_results_are_rejected() {
        let not_cidr = json!({"ips": [{"address": "10.1.0.5"}]});
        assert!(matches!(
            CniResult::from_value(not_cidr),
            Err(ResultError::Address { index: 0, .. })
        ));
        let bad_prefix = json!({"ips": [{"address": "10.1.0.5/33"}]});
        assert!(matches!(
            CniResult::from_value(bad_prefix),
            Err(ResultError::Address { .. })
        ));
        let dangling = json!({"interfaces": [{"name": "eth0"}], "ips": [{"address": "10.1.0.5/24", "interface": 1}]});
        assert!(matches!(
            CniResult::from_value(dangling),
            Err(ResultError::InterfaceIndex {
                interface: 1,
                count: 1,
                ..
            })
        ));
        assert!(matches!(
            CniResult::from_value(json!([1, 2])),
            Err(ResultError::Shape(_))
        ));
        assert!(matches!(
            CniResult::from_value(json!({"interfaces": "eth0"})),
            Err(ResultError::Shape(_))
        ));
    }
}
