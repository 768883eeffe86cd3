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
use crate::domain::ReleaseName;

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
    release: &ReleaseName,
    elb: &str,
    alarms: &[String],
    timeout_s: u64,
    fail_after_s: Option<u64>,
    full: (u32, u32, u32),
) -> Vec<Step> {
    let (min, desired, max) = full;
    vec![
        Step::WaitInService {
            group: release.clone(),
            elb: elb.to_owned(),
            count: stage.instances,
            timeout_s,
            fail_after_s,
        },
        Step::WatchAlarms {
            group: release.clone(),
            phase: WatchPhase::Canary,
            alarms: alarms.to_vec(),
            duration_s: stage.hold_s,
            until: stage.until,
            mark: HOLD_MARK.to_owned(),
            share: Some((stage.instances, stage.live)),
        },
        Step::Tag {
            group: release.clone(),
            tags: vec![tag("drydock:state", "deploying"), tag(HOLD_MARK, "")],
            more: vec![],
        },
        Step::ScaleTo { group: release.clone(), min, desired, max },
    ]
}

/// After the switch: watch the alarms for the bake time (an alarm rolls back to the
/// standby: the command does that, `commands::deploy`), then clear the mark. None when
/// there is no bake time or nothing to roll back to.
pub fn bake_steps(
    svc: &ServiceEnv,
    watch: Option<&[String]>,
    release: &ReleaseName,
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
            group: release.clone(),
            phase: WatchPhase::Bake,
            alarms: alarms.to_vec(),
            duration_s: svc.bake_time.as_secs(),
            until,
            mark: BAKE_MARK.to_owned(),
            share: None,
        },
        Step::Tag { group: release.clone(), tags: vec![tag(BAKE_MARK, "")], more: vec![] },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Canary, Standby};
    use crate::domain::cluster::GroupState;
    use crate::domain::Duration;
    use crate::plan::deploy::settings_digest;
    use crate::plan::fixtures::{deploy_plan, group, snapshot, svc};
    use crate::plan::{Outcome, Plan};

    fn canary_svc(hold_s: u64, bake_s: u64) -> ServiceEnv {
        let mut s = svc(Standby::Warm, 2);
        s.canary = Some(Canary { instances: 1, hold: Duration::from_secs(hold_s) });
        s.alarms = vec![crate::domain::alarm::AlarmName::parse("www-5xx").unwrap()];
        s.bake_time = Duration::from_secs(bake_s);
        s
    }

    fn plan(s: &ServiceEnv, groups: Vec<ObservedGroup>, watch: Option<&[String]>) -> Plan {
        let settings = settings_digest(&Default::default(), &Default::default(), &Default::default());
        deploy_plan(s, "ami-b", &snapshot(groups), &settings, watch)
    }

    fn kinds(p: &Plan) -> Vec<String> {
        p.steps.iter().map(|s| serde_json::to_value(s).unwrap()["step"].as_str().unwrap_or("").to_owned()).collect()
    }

    /// `--ignore-alarms` named every alarm: the watch still lasts its time.
    const WATCH: &[String] = &[];

    #[test]
    fn a_new_release_starts_as_a_canary_then_holds_scales_up_and_switches() {
        let watch = vec!["www-5xx".to_owned()];
        let p = plan(&canary_svc(300, 0), vec![group(1, "ami-a", GroupState::Live, 2, true)], Some(&watch));
        let k = kinds(&p);
        let at = |kind: &str| k.iter().position(|x| x == kind).unwrap_or_else(|| panic!("{kind} in {k:?}"));
        let Some(Step::CreateGroup(g)) = p.steps.get(at("create_group")) else { panic!("{k:?}") };
        assert_eq!((g.min, g.desired, g.max), (1, 1, 4), "the canary's size");
        assert!(g.tags.contains(&("drydock:state".into(), "canary".into())));
        // wait 1 InService → hold → deploying → scale to 2 → wait 2 → switch → standby
        let from = at("wait_in_service");
        assert_eq!(
            &k[from..from + 8],
            ["wait_in_service", "watch_alarms", "tag", "scale_to", "wait_in_service", "detach", "tag", "suspend"]
        );
        assert!(matches!(&p.steps[from], Step::WaitInService { count: 1, .. }));
        match &p.steps[from + 1] {
            Step::WatchAlarms { phase, alarms, duration_s, until, mark, share, .. } => {
                assert_eq!((*phase, *duration_s, *until, mark.as_str()), (WatchPhase::Canary, 300, None, HOLD_MARK));
                assert_eq!(alarms, &watch);
                assert_eq!(*share, Some((1, 2)));
            }
            s => panic!("{s}"),
        }
        assert!(matches!(&p.steps[from + 3], Step::ScaleTo { desired: 2, .. }));
        assert!(matches!(&p.steps[from + 4], Step::WaitInService { count: 2, .. }));
        assert_eq!(
            p.steps[from + 1].to_string(),
            "hold the canary www-prod-v002 (1 of 3 instances, 33% of the traffic) for 300s, watching www-5xx"
        );
        // The compensation takes the canary out; the live group is not in it.
        assert!(p.compensation.iter().all(|s| !s.to_string().contains("v001")), "{:?}", p.compensation);
        assert!(
            !k.contains(&"watch_alarms".to_owned()) || k.iter().filter(|x| *x == "watch_alarms").count() == 1,
            "no bake time"
        );
    }

    #[test]
    fn the_canary_of_a_killed_run_resumes_its_hold_at_its_size() {
        let watch = vec!["www-5xx".to_owned()];
        let mut c = group(2, "ami-b", GroupState::Canary, 1, true);
        c.settings = Some(settings_digest(&Default::default(), &Default::default(), &Default::default()));
        c.hold_until = Some(1_000_123);
        let p = plan(&canary_svc(300, 0), vec![group(1, "ami-a", GroupState::Live, 2, true), c], Some(&watch));
        let k = kinds(&p);
        assert!(!k.contains(&"create_group".to_owned()), "{k:?}");
        assert_eq!(&k[..4], ["wait_in_service", "watch_alarms", "tag", "scale_to"], "{k:?}");
        assert!(matches!(&p.steps[1], Step::WatchAlarms { until: Some(1_000_123), .. }));
    }

    #[test]
    fn no_canary_without_a_live_release_nor_in_a_rollback() {
        let watch = vec!["www-5xx".to_owned()];
        let first = plan(&canary_svc(300, 0), vec![], Some(&watch));
        assert!(!kinds(&first).contains(&"watch_alarms".to_owned()), "a first release has nothing beside it");
        let rollback = plan(&canary_svc(300, 0), vec![group(1, "ami-a", GroupState::Live, 2, true)], None);
        assert!(!kinds(&rollback).contains(&"watch_alarms".to_owned()), "{:?}", kinds(&rollback));
        let Some(Step::CreateGroup(g)) = rollback.steps.iter().find(|s| matches!(s, Step::CreateGroup(_))) else {
            panic!()
        };
        assert_eq!(g.desired, 2);
    }

    #[test]
    fn the_bake_time_comes_after_the_switch_before_the_trim_and_resumes_from_its_mark() {
        let watch = vec!["www-5xx".to_owned()];
        let mut s = canary_svc(0, 600);
        s.keep_releases = 0;
        let p = plan(&s, vec![group(1, "ami-a", GroupState::Live, 2, true)], Some(&watch));
        let k = kinds(&p);
        let n = p
            .steps
            .iter()
            .position(|s| matches!(s, Step::WatchAlarms { phase: WatchPhase::Bake, .. }))
            .expect("a bake watch")
            + 2;
        assert!(k[..n].contains(&"suspend".to_owned()), "after the old release is a standby: {k:?}");
        assert_eq!(&k[n..], ["delete_group", "delete_launch_template"], "the trim comes after the bake time: {k:?}");
        match (&p.steps[n - 2], &p.steps[n - 1]) {
            (
                Step::WatchAlarms { phase: WatchPhase::Bake, duration_s: 600, until: None, group, .. },
                Step::Tag { tags, .. },
            ) => {
                assert_eq!(group.to_string(), "www-prod-v002");
                assert_eq!(tags, &vec![(BAKE_MARK.to_owned(), String::new())]);
            }
            _ => panic!("{:?}", kinds(&p)),
        }
        // A killed run's bake time: the release is live already; it goes on to its mark.
        let mut live = group(2, "ami-b", GroupState::Live, 2, true);
        live.settings = Some(settings_digest(&Default::default(), &Default::default(), &Default::default()));
        live.previous = Some(crate::plan::fixtures::release(1));
        live.bake_until = Some(1_000_500);
        let mut standby = group(1, "ami-a", GroupState::Standby, 2, false);
        standby.suspended = true;
        let p = plan(&canary_svc(0, 600), vec![standby, live], Some(&watch));
        assert_eq!(p.outcome, Outcome::Unchanged);
        assert_eq!(kinds(&p), ["watch_alarms", "tag"]);
        assert!(matches!(&p.steps[0], Step::WatchAlarms { until: Some(1_000_500), phase: WatchPhase::Bake, .. }));
        // Without a bake time, or in a rollback (no watch), nothing is watched.
        assert!(plan(&canary_svc(0, 600), vec![group(1, "ami-a", GroupState::Live, 2, true)], Some(WATCH))
            .steps
            .iter()
            .any(|s| matches!(s, Step::WatchAlarms { .. })));
        let mut plain = canary_svc(0, 0);
        plain.canary = None;
        assert!(!plan(&plain, vec![group(1, "ami-a", GroupState::Live, 2, true)], Some(&watch))
            .steps
            .iter()
            .any(|s| matches!(s, Step::WatchAlarms { .. })));
    }

    #[test]
    fn traffic_share() {
        assert_eq!(crate::plan::share_percent(1, 2), 33);
        assert_eq!(crate::plan::share_percent(1, 9), 10);
        assert_eq!(crate::plan::share_percent(0, 0), 0);
    }
}
