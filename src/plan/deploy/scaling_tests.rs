//! The deploy planner and a service's scaling (issue 16): each release group owns its
//! policies, schedules and hooks; standbys never scale.

use super::*;
use crate::config::Standby;

use super::tests::{plan_with as plan, snapshot};
use crate::domain::scaling::{CpuTarget, HookResult, Lifecycle, Scaling, Schedule};
use crate::domain::Duration;
use crate::plan::fixtures::{group, svc};

fn scaled(standby: Standby) -> ServiceEnv {
    let mut s = svc(standby, 2);
    s.scaling = Scaling {
        cpu: Some(CpuTarget { percent: 60, warmup: Some(Duration::from_secs(120)), scale_in: true }),
        schedules: vec![Schedule {
            name: "business-hours".into(),
            recurrence: "0 7 * * MON-FRI".into(),
            time_zone: Some("Europe/Berlin".into()),
            min: Some(2),
            max: None,
            desired: Some(3),
        }],
        lifecycle: Lifecycle {
            launch: Some((Duration::from_secs(300), HookResult::Continue)),
            drain: Some(Duration::from_secs(120)),
        },
    };
    s
}

fn digest(s: &ServiceEnv) -> String {
    settings_digest(&s.env, &s.secrets, &s.scaling)
}

fn lines(steps: &[Step]) -> Vec<String> {
    steps.iter().map(|s| s.to_string()).collect()
}

fn position(steps: &[Step], needle: &str) -> usize {
    let l = lines(steps);
    l.iter().position(|s| s.starts_with(needle)).unwrap_or_else(|| panic!("no step {needle:?} in {l:#?}"))
}

#[test]
fn a_new_group_gets_its_hooks_with_it_and_its_policies_before_it_serves() {
    let s = scaled(Standby::Warm);
    let snap = snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true)]);
    let p = plan(&s, "ami-b", &snap, &digest(&s));
    let create = position(&p.steps, "create group www-prod-v002");
    let Step::CreateGroup(g) = &p.steps[create] else { panic!() };
    let hooks: Vec<(&str, &str, u64, &str)> = g
        .hooks
        .iter()
        .map(|h| (h.name.as_str(), h.transition.as_str(), h.heartbeat_s, h.default_result.as_str()))
        .collect();
    assert_eq!(
        hooks,
        [
            ("drydock-launch", "autoscaling:EC2_INSTANCE_LAUNCHING", 300, "CONTINUE"),
            ("drydock-drain", "autoscaling:EC2_INSTANCE_TERMINATING", 120, "CONTINUE"),
        ]
    );
    assert!(p.steps[create].to_string().contains("drydock-drain (terminating: wait up to 120s, then CONTINUE)"));
    let wait = position(&p.steps, "wait until");
    for step in [
        "enable 1-minute group metrics of www-prod-v002",
        "put scaling policy drydock-cpu on www-prod-v002: keep average CPU at 60%, warmup 120s",
        "put schedule business-hours on www-prod-v002: \"0 7 * * MON-FRI\" (Europe/Berlin) sets min 2, desired 3",
    ] {
        let at = position(&p.steps, step);
        assert!(create < at && at < wait, "{step} between CreateGroup and the wait");
    }
    // Nothing of it is put on the old group, which becomes a warm standby: all suspended.
    assert!(!lines(&p.steps).iter().any(|l| l.starts_with("put") && l.contains("v001")));
    assert!(position(&p.steps, "suspend the scaling processes of www-prod-v001") > wait);
}

#[test]
fn the_new_group_starts_at_what_the_live_group_runs_now() {
    let s = scaled(Standby::Warm);
    let mut live = group(1, "ami-a", GroupState::Live, 7, true);
    live.max = 8;
    let p = plan(&s, "ami-b", &snapshot(vec![live]), &digest(&s));
    let Step::CreateGroup(g) = &p.steps[position(&p.steps, "create group")] else { panic!() };
    assert_eq!((g.min, g.desired, g.max), (1, 7, 7), "scaled to 7 by its policy: the new group starts at 7");
    assert!(lines(&p.steps).iter().any(|l| l.starts_with("wait until all 7 instances of www-prod-v002")));
}

#[test]
fn only_a_scaling_change_is_a_new_release_of_the_same_ami() {
    let s = scaled(Standby::Warm);
    let mut live = group(1, "ami-a", GroupState::Live, 2, true);
    live.settings = Some(digest(&s));
    let snap = snapshot(vec![live]);
    assert_eq!(plan(&s, "ami-a", &snap, &digest(&s)).outcome, Outcome::Unchanged);
    let mut s2 = scaled(Standby::Warm);
    s2.scaling.cpu = Some(CpuTarget { percent: 70, warmup: Some(Duration::from_secs(120)), scale_in: true });
    assert_ne!(digest(&s2), digest(&s));
    let p = plan(&s2, "ami-a", &snap, &digest(&s2));
    assert_eq!(p.outcome, Outcome::Deployed);
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v002"));
    assert!(p.message.contains("only the settings change"), "{}", p.message);
}

#[test]
fn a_cold_standby_has_its_alarms_and_schedules_suspended_before_it_scales_in() {
    let s = scaled(Standby::Cold);
    let snap = snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true)]);
    let p = plan(&s, "ami-b", &snap, &digest(&s));
    let suspend = position(&p.steps, "suspend AlarmNotification and ScheduledActions of www-prod-v001");
    let scale = position(&p.steps, "scale www-prod-v001 to 0");
    assert!(position(&p.steps, "detach www-prod-v001") < suspend && suspend < scale);
}

#[test]
fn rollback_resumes_a_partly_suspended_cold_standby_before_it_serves() {
    let s = scaled(Standby::Cold);
    let mut cold = group(1, "ami-a", GroupState::Standby, 0, false);
    // Only AlarmNotification and ScheduledActions suspended: observed as suspended.
    cold.suspended = true;
    cold.settings = Some("0123456789ab".into());
    let snap = snapshot(vec![cold, group(2, "ami-b", GroupState::Live, 3, true)]);
    let p = plan(&s, "ami-a", &snap, "0123456789ab");
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v001"));
    let resume = position(&p.steps, "resume the scaling processes of www-prod-v001");
    assert!(resume < position(&p.steps, "scale www-prod-v001 to 3"));
    assert!(resume < position(&p.steps, "attach www-prod-v001"));
    // The standby keeps the scaling it was released with: nothing is put on it.
    assert!(!lines(&p.steps).iter().any(|l| l.starts_with("put ")), "{:#?}", lines(&p.steps));
    // The release it replaces becomes the cold standby, alarms and schedules suspended.
    assert!(
        position(&p.steps, "suspend AlarmNotification and ScheduledActions of www-prod-v002")
            < position(&p.steps, "scale www-prod-v002 to 0")
    );
    // If it does not get healthy, it goes back to a cold standby that nothing raises.
    let c = lines(&p.compensation);
    assert_eq!(
        c[..3],
        [
            "detach www-prod-v001 from ELB www-prod",
            "suspend AlarmNotification and ScheduledActions of www-prod-v001",
            "scale www-prod-v001 to 0 (min 1, max 4)",
        ]
    );
}

#[test]
fn a_killed_deploy_puts_its_policies_again_but_never_on_another_release() {
    let s = scaled(Standby::Warm);
    let mut deploying = group(2, "ami-b", GroupState::Deploying, 2, true);
    deploying.settings = Some(digest(&s));
    let snap = snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true), deploying]);
    let p = plan(&s, "ami-b", &snap, &digest(&s));
    assert!(position(&p.steps, "put scaling policy drydock-cpu on www-prod-v002") < position(&p.steps, "wait until"));
    assert!(!lines(&p.steps).iter().any(|l| l.starts_with("create group")));
}
