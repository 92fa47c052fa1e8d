//! The `sim` backend: edge nodes as Docker containers built locally, the control plane an
//! in-process Kubernetes API double.

pub mod cluster;
pub mod image;
pub mod node;

pub use cluster::SimCluster;
