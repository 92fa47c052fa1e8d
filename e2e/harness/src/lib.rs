//! tether's end-to-end harness: `tether-sim` (an in-process Kubernetes API double), one
//! backend interface with the `sim` backend (edge nodes as Docker containers) and the `kind`
//! backend, and what runs inside a sim edge node.

pub mod backend;
pub mod binaries;
pub mod cleanup;
pub mod demo;
pub mod docker;
pub mod image;
pub mod kind;
pub mod node;
pub mod phase;
pub mod sim;
