//! The `sim` backend: edge nodes as Docker containers, the control plane an in-process API
//! double.

pub mod image;
