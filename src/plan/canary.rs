//! Progressive delivery in the deploy plan (issue #17): the canary stage before the
//! switch, and the bake time after it. Pure: `plan::deploy` calls these to splice the
//! steps in; the executor runs them (`Step::WatchAlarms`).
//!
//! Crash-only: the canary group is tagged `drydock:state=canary`; its hold writes
//! `drydock:hold-until=<epoch>` when it starts, and the bake time writes
//! `drydock:bake-until=<epoch>` on the new live group. A run killed meanwhile is resumed
//! by the next one from those tags.

use super::{Step, WatchPhase};
use crate::config::ServiceEnv;
use crate::domain::cluster::{GroupState, ObservedGroup};

pub const HOLD_MARK: &str = "drydock:hold-until";
pub const BAKE_MARK: &str = "drydock:bake-until";

fn tag(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

/// How this deploy goes through a canary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanaryStage {
    /// Instances of the new release during the hold.
    pub instances: u32,
    pub hold_s: u64,
    /// A hold that a killed run started: it ends then (`drydock:hold-until`).
    pub until: Option<i64>,
    /// Instances of the live release beside it (for the traffic share).
    pub live: u32,
}

/// A canary when one is configured, the request is a deploy or promote (`watch` is set),
/// there is a live release to compare with, and the release is new or is the canary of a
/// killed run. A release that exists otherwise (a standby brought back, a killed run past
/// its hold) goes on as a plain deploy.
pub fn stage(
    svc: &ServiceEnv,
    watch: Option<&[String]>,
    live: Option<&ObservedGroup>,
    target: Option<&ObservedGroup>,
) -> Option<CanaryStage> {
    let c = svc.canary?;
    watch?;
    let live = live?;
    match target {
        None => Some(CanaryStage { instances: c.instances, hold_s: c.hold.as_secs(), until: None, live: live.desired }),
        Some(t) if t.state == GroupState::Canary => Some(CanaryStage {
            instances: t.desired.max(1),
            hold_s: c.hold.as_secs(),
            until: t.hold_until,
            live: live.desired,
        }),
        Some(_) => None,
    }
}

/// The canary's capacity: `instances`, with min lowered to fit.
pub fn capacity(stage: &CanaryStage, min: u32, max: u32) -> (u32, u32, u32) {
    (min.min(stage.instances), stage.instances, max.max(stage.instances))
}

/// Between the canary's creation and the full-capacity wait: the canary gets healthy,
/// holds while the alarms are watched, then is marked a normal deploying release and
/// scaled to full capacity. The plan's compensation (detach, scale to 0, tag failed)
/// covers every step of it: the live release is never changed.
#[allow(clippy::too_many_arguments)]
pub fn hold_steps(
    stage: &CanaryStage,
    release: &str,
    elb: &str,
    alarms: &[String],
    timeout_s: u64,
    fail_after_s: Option<u64>,
    full: (u32, u32, u32),
) -> Vec<Step> {
    let (min, desired, max) = full;
    vec![
        Step::WaitInService {
            group: release.to_owned(),
            elb: elb.to_owned(),
            count: stage.instances,
            timeout_s,
            fail_after_s,
        },
        Step::WatchAlarms {
            group: release.to_owned(),
            phase: WatchPhase::Canary,
            alarms: alarms.to_vec(),
            duration_s: stage.hold_s,
            until: stage.until,
            mark: HOLD_MARK.to_owned(),
            share: Some((stage.instances, stage.live)),
        },
        Step::Tag {
            group: release.to_owned(),
            tags: vec![tag("drydock:state", "deploying"), tag(HOLD_MARK, "")],
            more: vec![],
        },
        Step::ScaleTo { group: release.to_owned(), min, desired, max },
    ]
}

/// After the switch: watch the alarms for the bake time (an alarm rolls back to the
/// standby: the command does that, `commands::deploy`), then clear the mark. None when
/// there is no bake time or nothing to roll back to.
pub fn bake_steps(
    svc: &ServiceEnv,
    watch: Option<&[String]>,
    release: &str,
    has_previous: bool,
    until: Option<i64>,
) -> Vec<Step> {
    let Some(alarms) = watch else {
        return vec![];
    };
    if svc.bake_time.as_secs() == 0 || !has_previous {
        return vec![];
    }
    vec![
        Step::WatchAlarms {
            group: release.to_owned(),
            phase: WatchPhase::Bake,
            alarms: alarms.to_vec(),
            duration_s: svc.bake_time.as_secs(),
            until,
            mark: BAKE_MARK.to_owned(),
            share: None,
        },
        Step::Tag { group: release.to_owned(), tags: vec![tag(BAKE_MARK, "")], more: vec![] },
    ]
}
