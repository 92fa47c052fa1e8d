//! tether's CNI side: the CNI spec types `tether-cni` speaks, its configuration, the errors it
//! reports with the spec's codes, and the agent wire protocol v1 shared with `tether-agent`.
//!
//! Nothing here needs an async runtime or a Kubernetes client: the plugin is exec'd once per
//! pod and must stay small and fast.

pub mod protocol;
