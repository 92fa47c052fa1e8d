//! `Backend::limit` on kind: the agent's priority level squeezed to exactly the seats asked
//! for, checked in the API server's own metrics, and the objects of the contention load.

use super::KindBackend;
use crate::kind::apf;
use crate::kind::config::{BOOTSTRAP_SHARES, SERVER_CONCURRENCY};
use crate::kind::error::KindError;
use crate::kind::exec::{Executor, Until};
use crate::kind::files;
use crate::kind::files::paths;
use crate::kind::plan;

/// How long the API server's APF controller may take to apply a changed priority level.
pub const SQUEEZE_SECONDS: u64 = 60;

impl<E: Executor> KindBackend<E> {
    /// Makes the agent's priority level hold exactly `seats` requests at once and reject the
    /// rest, waits until the API server's metrics show it, and adds the contention load's
    /// ServiceAccount and FlowSchema. Returns a token of that ServiceAccount for the load (in a
    /// dry run the placeholder `${LOAD_TOKEN}`).
    pub fn limit(&mut self, seats: u32) -> Result<String, KindError> {
        let levels = self.exec.run(&plan::priority_levels(&self.config))?;
        let others = match levels {
            Some(json) => apf::other_shares(&json)?,
            None => {
                self.exec.note(&format!(
                    "the other levels' shares: {BOOTSTRAP_SHARES} in this plan (Kubernetes v1.34's bootstrap levels); a real run sums the list above"
                ));
                BOOTSTRAP_SHARES
            }
        };
        let shares = apf::shares_for(seats, others, SERVER_CONCURRENCY)?;
        self.exec.note(&format!(
            "tether-agent's level: {shares} shares of {} on a {SERVER_CONCURRENCY}-seat server = {seats} seats, none lent or borrowed, the rest rejected",
            others + shares
        ));
        self.write(&files::limit_patch(shares)?)?;
        self.exec
            .run(&plan::patch_agent_priority_level(&self.config))?;
        for sample in apf::limit_samples(seats) {
            self.exec.poll(
                &format!("the API server reporting {sample}"),
                &plan::apiserver_metrics(&self.config),
                &Until::Line(sample.clone()),
                SQUEEZE_SECONDS,
            )?;
        }
        self.write(&files::contention()?)?;
        self.exec
            .run(&plan::kubectl_apply_file(&self.config, paths::CONTENTION))?;
        self.exec
            .capture("LOAD_TOKEN", &plan::load_token(&self.config))
    }
}
