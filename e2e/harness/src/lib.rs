//! tether's end-to-end harness: one contract ([`backend::Backend`]) the scenarios are written
//! against, the `sim` backend (edge nodes as Docker containers, the control plane from
//! `tether-sim`) and the `kind` backend (Kind + OpenYurt), and what runs inside a sim node.
//!
//! Start at [`backend`]; the scenarios are under `tests/`. `sim` and `kind` never import each
//! other: what both need is in the leaf modules `binaries`, `docker`, `image`, `kubeconfig`.

pub mod backend;
pub mod binaries;
pub mod cleanup;
pub mod demo;
pub mod docker;
pub mod image;
pub mod kind;
pub mod kubeconfig;
pub mod node;
pub mod phase;
pub mod request;
pub mod sim;
