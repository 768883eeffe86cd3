//! Plans as data: one type for every mutating command (deploy, promote, rollback, gc,
//! bake). A planner is a pure function of (config, request, observation) that returns a
//! `Plan`; `execute::Executor` runs any plan; `--dry-run` prints the same plan.
//!
//! Pure: no async, no SDK types, no clock, no randomness.

pub mod bake;
pub mod canary;
pub mod deploy;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod gc;
pub mod history;
#[cfg(test)]
mod model_tests;
pub mod promote;
pub mod rollback;
pub mod step;

use serde::Serialize;

pub use step::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Deployed,
    Unchanged,
    RolledBack,
    /// gc removed something.
    Collected,
    /// bake made a new AMI.
    Baked,
    /// bake found the AMI of this recipe.
    Reused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deployed => "deployed",
            Outcome::Unchanged => "unchanged",
            Outcome::RolledBack => "rolled_back",
            Outcome::Collected => "collected",
            Outcome::Baked => "baked",
            Outcome::Reused => "reused",
        }
    }
}

/// What a command will do to one cluster (or one recipe, or the region's images): the
/// steps in order, what undoes a failed release, what always runs at the end, and the
/// summary that the result reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// A service, or `(images and builders)` for gc's region-wide plan.
    pub service: String,
    /// The cluster whose lease the plan runs under; None for plans that need none (bake,
    /// gc of images and builders).
    pub cluster: Option<String>,
    /// The outcome when every step succeeds.
    pub outcome: Outcome,
    /// The release that is live when the plan succeeds.
    pub release: Option<crate::domain::ReleaseName>,
    /// The release it replaces (a standby then).
    pub previous: Option<crate::domain::ReleaseName>,
    /// The AMI deployed, baked or reused (None for gc).
    pub ami: Option<String>,
    pub steps: Vec<Step>,
    /// Run if a wait for the new release's health fails: takes the new release out,
    /// leaves the old one serving.
    pub compensation: Vec<Step>,
    /// Run on every path, success, failure or interrupt (a builder is always terminated).
    pub finally: Vec<Step>,
    pub message: String,
}

impl Plan {
    /// The release's group name for messages, e.g. `www-prod-v002`.
    pub fn release_name(&self) -> String {
        self.release.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "the new release".into())
    }

    /// Nothing to do: the dry run says `unchanged` too.
    pub fn is_noop(&self) -> bool {
        self.steps.is_empty() && self.finally.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// v999 exists: the cluster is out of release numbers.
    NumbersExhausted(String),
    /// A template that does not render (checked before any AWS call, so not expected).
    Render(String),
    /// A fact the planner needs and the observation did not give.
    Unknown(String),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::NumbersExhausted(c) => write!(
                f,
                "cluster {c} has used release number v999; delete old releases (drydock gc) before deploying again"
            ),
            PlanError::Render(m) => write!(f, "{m}"),
            PlanError::Unknown(what) => write!(f, "{what} is not known"),
        }
    }
}

/// `1 instance`, `4 instances`.
pub fn instances(n: u32) -> String {
    if n == 1 {
        "1 instance".to_owned()
    } else {
        format!("{n} instances")
    }
}
