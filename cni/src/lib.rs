//! tether's CNI side: the CNI spec types `tether-cni` speaks, its configuration, the errors it
//! reports with the spec's codes, the agent wire protocol v1 shared with `tether-agent`, and
//! the plugin's commands.
//!
//! Nothing here needs an async runtime or a Kubernetes client: the plugin is exec'd once per
//! pod and must stay small and fast.

pub mod agent_client;
pub mod commands;
pub mod config;
pub mod delegate;
pub mod error;
pub mod invocation;
pub mod plugin_run;
pub mod protocol;
pub mod spec;
pub mod state;
