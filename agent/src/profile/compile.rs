//! The agent's own validation of NetworkProfiles: a profile may predate the schema, come from
//! the disk cache or from an API double, so every field is checked again and compiled into the
//! form resolution uses. An invalid profile is reported and ignored, never a crash.

use std::collections::BTreeMap;

use cni::protocol::{Bandwidth, MTU_MAX, MTU_MIN, is_net_sysctl_key};
use thiserror::Error;

use crate::profile::crd::{
    ALLOWED_SYSCTLS, BandwidthSpec, NetworkProfile, NetworkProfileSpec, PRIORITY_LIMIT,
};
use crate::profile::quantity::{QuantityError, parse_bits};
use crate::profile::selector::{Selector, SelectorError};

/// Why a profile is ignored by the agent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProfileError {
    /// The priority is outside `-PRIORITY_LIMIT..=PRIORITY_LIMIT`.
    #[error("priority {0} is outside ±{PRIORITY_LIMIT}")]
    Priority(i32),
    /// The MTU is outside the range the plugin accepts.
    #[error("mtu {0} is outside {MTU_MIN}..={MTU_MAX}")]
    Mtu(u32),
    /// A bandwidth quantity does not parse.
    #[error("bandwidth {field}: {source}")]
    Quantity {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        source: QuantityError,
    },
    /// A direction has a rate without a burst or the reverse.
    #[error("bandwidth {0}: rate and burst must both be set")]
    HalfDirection(&'static str),
    /// A sysctl that is not allow-listed.
    #[error("sysctl {0:?} is not allow-listed")]
    Sysctl(String),
    /// A sysctl value that is not a list of integers.
    #[error("sysctl {key:?} has value {value:?}, want integers separated by spaces")]
    SysctlValue {
        /// The sysctl.
        key: String,
        /// Its rejected value.
        value: String,
    },
    /// A selector the agent cannot evaluate.
    #[error("{which}: {source}")]
    Selector {
        /// `podSelector` or `nodeSelector`.
        which: &'static str,
        /// What is wrong with it.
        source: SelectorError,
    },
}

/// The settings a valid profile hands to the plugin, in wire-protocol units.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Traffic shaping, if any direction is set.
    pub bandwidth: Option<Bandwidth>,
    /// MTU, if set.
    pub mtu: Option<u32>,
    /// Sysctls to set.
    pub sysctls: BTreeMap<String, String>,
}

/// A validated profile, ready for matching.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledProfile {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.generation` (0 when the API server did not set one).
    pub generation: i64,
    /// `spec.priority`.
    pub priority: i32,
    /// Compiled `spec.podSelector`.
    pub pod_selector: Selector,
    /// Compiled `spec.nodeSelector`.
    pub node_selector: Selector,
    /// What to apply.
    pub settings: Settings,
}

/// Validates a profile's spec and compiles its selectors and quantities.
pub fn compile(
    name: &str,
    generation: i64,
    spec: &NetworkProfileSpec,
) -> Result<CompiledProfile, ProfileError> {
    if spec.priority.abs() > PRIORITY_LIMIT {
        return Err(ProfileError::Priority(spec.priority));
    }
    if let Some(mtu) = spec.mtu
        && !(MTU_MIN..=MTU_MAX).contains(&mtu)
    {
        return Err(ProfileError::Mtu(mtu));
    }
    for (key, value) in &spec.sysctls {
        if !ALLOWED_SYSCTLS.contains(&key.as_str()) || !is_net_sysctl_key(key) {
            return Err(ProfileError::Sysctl(key.clone()));
        }
        if !is_sysctl_value(value) {
            return Err(ProfileError::SysctlValue {
                key: key.clone(),
                value: value.clone(),
            });
        }
    }
    let pod_selector =
        Selector::compile(spec.pod_selector.as_ref()).map_err(|source| ProfileError::Selector {
            which: "podSelector",
            source,
        })?;
    let node_selector = Selector::compile(spec.node_selector.as_ref()).map_err(|source| {
        ProfileError::Selector {
            which: "nodeSelector",
            source,
        }
    })?;
    let bandwidth = spec
        .bandwidth
        .as_ref()
        .map(compile_bandwidth)
        .transpose()?
        .flatten();
    Ok(CompiledProfile {
        name: name.to_owned(),
        generation,
        priority: spec.priority,
        pod_selector,
        node_selector,
        settings: Settings {
            bandwidth,
            mtu: spec.mtu,
            sysctls: spec.sysctls.clone(),
        },
    })
}

/// Compiles a stored `NetworkProfile` object.
pub fn compile_object(profile: &NetworkProfile) -> Result<CompiledProfile, ProfileError> {
    let name = profile.metadata.name.as_deref().unwrap_or_default();
    compile(
        name,
        profile.metadata.generation.unwrap_or(0),
        &profile.spec,
    )
}

fn is_sysctl_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .split([' ', '\t'])
            .all(|part| !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit()))
}

fn compile_bandwidth(spec: &BandwidthSpec) -> Result<Option<Bandwidth>, ProfileError> {
    let bits = |field: &'static str, q: &Option<String>| {
        q.as_deref()
            .map(parse_bits)
            .transpose()
            .map_err(|source| ProfileError::Quantity { field, source })
    };
    let bw = Bandwidth {
        ingress_rate: bits("ingressRate", &spec.ingress_rate)?,
        ingress_burst: bits("ingressBurst", &spec.ingress_burst)?,
        egress_rate: bits("egressRate", &spec.egress_rate)?,
        egress_burst: bits("egressBurst", &spec.egress_burst)?,
    };
    if bw.ingress_rate.is_some() != bw.ingress_burst.is_some() {
        return Err(ProfileError::HalfDirection("ingress"));
    }
    if bw.egress_rate.is_some() != bw.egress_burst.is_some() {
        return Err(ProfileError::HalfDirection("egress"));
    }
    Ok((bw != Bandwidth::default()).then_some(bw))
}

#[cfg(test)]
mod tests;
