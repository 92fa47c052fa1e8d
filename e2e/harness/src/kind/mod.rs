//! The `kind` backend: a real Kind cluster (one control plane, edge workers) with OpenYurt's
//! yurt-manager and yurthub, and tether installed from `deploy/`.
//!
//! Kind cannot run on machines without an image registry, so this backend is correct by
//! construction: [`plan`] and [`files`] build every command (argv vectors) and every file from
//! a [`KindConfig`] and the pins of `hack/versions.env` ([`versions`]); [`KindBackend`] runs them
//! through an [`Executor`], either [`RealExecutor`] or [`DryRunExecutor`]
//! (`TETHER_E2E_DRY_RUN=1`: writes every file and a replayable `commands.sh`, runs nothing).
//! The dry-run tests check the plan, replay its transcript, and plan each scenario's steps after
//! bring-up. `README.md` beside this file has the code map and, for every external fact, its
//! source and the test that pins it.

pub mod apf;
pub mod audit;
pub mod backend;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod error;
pub mod exec;
pub mod files;
pub mod image;
pub mod plan;
pub mod preflight;
pub mod versions;

#[cfg(test)]
mod tests;

pub use backend::KindBackend;
pub use cmd::Cmd;
pub use config::{EdgeNode, KindConfig};
pub use error::KindError;
pub use exec::{AnyExecutor, DryRunExecutor, Executor, Output, RealExecutor};
pub use versions::Versions;
