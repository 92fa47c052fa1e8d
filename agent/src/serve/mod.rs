//! What the agent serves on its node: the Unix socket `tether-cni` queries (wire protocol v1)
//! and the operations endpoint (`/metrics`, `/healthz`, `/readyz`).

pub mod ops;
pub mod socket;
