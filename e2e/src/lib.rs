//! tether's end-to-end harness: one backend interface, the `sim` backend (edge nodes as
//! Docker containers, an in-process Kubernetes API double) and the `kind` backend, and what
//! runs inside a sim edge node.

pub mod docker;
pub mod node;
pub mod sim;
