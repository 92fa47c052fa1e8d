//! The `sim` backend: an in-process Kubernetes API double.

pub mod apiserver;
