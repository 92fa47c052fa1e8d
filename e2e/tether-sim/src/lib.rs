//! tether-sim: doubles of what cannot run on tether's test machines, each faithful to the
//! real thing's source at the pinned version and listing where it differs.
//!
//! - [`apiserver`]: a Kubernetes API server (kube-apiserver v1.34 as clients see it).
//!
//! Nothing here depends on another crate of the tether workspace: users can put these doubles
//! in front of their own agents.

pub mod apiserver;
