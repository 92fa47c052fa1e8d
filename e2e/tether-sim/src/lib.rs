//! tether-sim: doubles of what cannot run on tether's test machines, each faithful to the
//! real thing's source at the pinned version and listing where it differs.
//!
//! - [`apiserver`]: a Kubernetes API server (kube-apiserver v1.34 as clients see it).
//! - [`yurthub`]: OpenYurt's yurthub (v1.7.0), what an edge node's clients talk to, with
//!   its answers when the cloud is unreachable.
//! - [`link`]: a node's link to the cloud, as a TCP relay a test can cut.
//!
//! Nothing here depends on another crate of the tether workspace: users can put these doubles
//! in front of their own agents.

pub mod apiserver;
pub mod link;
pub mod yurthub;
