//! Table tests of the deploy planner on plain data: no emulator, no clock.

use super::*;
use crate::config::Standby;

use crate::domain::Duration;
use crate::plan::fixtures::{group, svc};
use crate::plan::history::parse_history;

pub(super) use crate::plan::fixtures::snapshot;

fn plan(svc: &ServiceEnv, ami: &str, snap: &ClusterSnapshot) -> Plan {
    plan_with(svc, ami, snap, NO_SETTINGS)
}

/// The plan of deploying `ami` with runtime settings of digest `settings`.
pub(super) fn plan_with(svc: &ServiceEnv, ami: &str, snap: &ClusterSnapshot, settings: &str) -> Plan {
    crate::plan::fixtures::deploy_plan(svc, ami, snap, settings, None)
}

/// The steps as their one-line descriptions, for readable assertions.
/// The steps as text, the user data's digest redacted (it is checked on its own).
fn lines(p: &Plan) -> Vec<String> {
    p.steps
        .iter()
        .map(|s| match s.to_string().split_once("user data sha256 ") {
            Some((head, tail)) => format!("{head}user data sha256 …{}", &tail[12..]),
            None => s.to_string(),
        })
        .collect()
}

#[test]
fn the_plan_carries_the_rendered_user_data() {
    let mut snap = snapshot(vec![]);
    snap.elb = None;
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    let Some(Step::CreateLaunchTemplate(t)) = p.steps.iter().find(|s| matches!(s, Step::CreateLaunchTemplate(_)))
    else {
        panic!("no launch template in {:#?}", lines(&p));
    };
    assert!(t.user_data.text.contains("DRYDOCK_RELEASE=v001"), "{}", t.user_data.text);
    assert_eq!(t.user_data, crate::plan::UserData::new(t.user_data.text.clone()), "the digest is of the text");
    assert!(p.steps.iter().any(|s| s.to_string().contains(&t.user_data.sha256[..12])), "the digest is shown");
}

fn position(p: &Plan, needle: &str) -> usize {
    lines(p)
        .iter()
        .position(|l| l.starts_with(needle))
        .unwrap_or_else(|| panic!("no step {needle:?} in {:#?}", lines(p)))
}

#[test]
fn first_deploy_creates_elb_template_and_group() {
    let mut snap = snapshot(vec![]);
    snap.elb = None;
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    assert_eq!(p.outcome, Outcome::Deployed);
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v001"));
    assert_eq!(p.previous, None);
    assert_eq!(
        lines(&p),
        [
            "create ELB www-prod (HTTP:80 -> 8080, health check HTTP:8080/health)",
            "create launch template www-prod-v001 (ami-b, t3.small, user data sha256 …)",
            "create group www-prod-v001 (2 instances, min 1, max 4) behind ELB www-prod",
            "enable 1-minute group metrics of www-prod-v001",
            "wait until all 2 instances of www-prod-v001 are InService in ELB www-prod (timeout 600s; fail early once every instance older than 330s fails its health checks, or one is replaced for failing them)",
            "tag www-prod-v001 drydock:state=live",
            "record drydock:release:v001 in the history on ELB www-prod",
        ]
    );
    let Step::CreateGroup(g) = &p.steps[2] else { panic!() };
    for k in [
        "Name",
        "drydock:service",
        "drydock:env",
        "drydock:release",
        "drydock:ami",
        "drydock:image",
        "drydock:deployed-at",
        "drydock:deployed-by",
    ] {
        assert!(g.tags.iter().any(|(t, _)| t == k), "tag {k}");
    }
    assert!(!g.tags.iter().any(|(t, _)| t == "drydock:previous"), "no previous on a first release");
}

#[test]
fn second_deploy_switches_only_after_every_new_instance_serves() {
    let snap = snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v002"));
    assert_eq!(p.previous.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v001"));
    let wait = position(&p, "wait until all 2 instances of www-prod-v002");
    let detach = position(&p, "detach www-prod-v001");
    assert!(wait < detach, "the old group leaves the ELB only after the wait");
    assert!(position(&p, "suspend the scaling processes of www-prod-v001") > detach);
    let switch = position(
        &p,
        "tag www-prod-v002 drydock:state=live; www-prod-v001 drydock:state=standby drydock:expires-at=1003600",
    );
    let suspend = position(&p, "suspend the scaling processes of www-prod-v001");
    assert!(
        wait < detach && detach < switch && switch < suspend,
        "the switch is the detach; then bookkeeping: one call tags both, and the suspend"
    );
    let Step::CreateGroup(g) = &p.steps[1] else { panic!("{:?}", p.steps) };
    assert!(g.tags.contains(&("drydock:previous".into(), "www-prod-v001".into())));
    assert_eq!(
        p.compensation.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        [
            "detach www-prod-v002 from ELB www-prod",
            "suspend AlarmNotification and ScheduledActions of www-prod-v002",
            "scale www-prod-v002 to 0 (min 0, max 4)",
            "tag www-prod-v002 drydock:state=failed",
            "record drydock:release:v002 in the history on ELB www-prod",
        ]
    );
}

#[test]
fn the_live_ami_is_unchanged() {
    let snap = snapshot(vec![group(3, "ami-a", GroupState::Live, 2, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-a", &snap);
    assert_eq!(p.outcome, Outcome::Unchanged);
    assert!(p.steps.is_empty(), "{:?}", lines(&p));
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v003"));
}

#[test]
fn a_changed_health_check_is_reconciled() {
    let mut snap = snapshot(vec![group(3, "ami-a", GroupState::Live, 2, true)]);
    snap.elb.as_mut().unwrap().health_target = "TCP:8080".into();
    let p = plan(&svc(Standby::Warm, 2), "ami-a", &snap);
    assert_eq!(lines(&p), ["set the health check of ELB www-prod to HTTP:8080/health"]);
}

#[test]
fn the_new_group_gets_the_live_capacity_never_less_than_config() {
    let snap = snapshot(vec![group(1, "ami-a", GroupState::Live, 5, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    let Step::CreateGroup(g) = &p.steps[1] else { panic!() };
    assert_eq!((g.min, g.desired, g.max), (1, 5, 5), "5 live with config 2..4 gives 5");
    let snap = snapshot(vec![group(1, "ami-a", GroupState::Live, 1, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    let Step::CreateGroup(g) = &p.steps[1] else { panic!() };
    assert_eq!(g.desired, 2, "never less than the config's desired");
}

#[test]
fn a_killed_deploy_resumes_its_group() {
    let snap =
        snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true), group(2, "ami-b", GroupState::Deploying, 2, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v002"));
    let l = lines(&p);
    assert!(!l.iter().any(|s| s.starts_with("create")), "nothing is created twice: {l:#?}");
    // Its metrics, policies and schedules are put again (upserts): the crash may have
    // come between CreateGroup and them.
    assert_eq!(l[0], "enable 1-minute group metrics of www-prod-v002");
    assert_eq!(l[1], "wait until all 2 instances of www-prod-v002 are InService in ELB www-prod (timeout 600s; fail early once every instance older than 330s fails its health checks, or one is replaced for failing them)");
    assert!(l.contains(&"detach www-prod-v001 from ELB www-prod".to_owned()));
}

#[test]
fn a_launch_template_without_its_group_is_reused_or_removed() {
    let mut snap = snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true)]);
    snap.launch_templates.insert(1, crate::domain::cluster::TemplateOf { ami: Some("ami-a".into()), settings: None });
    snap.launch_templates.insert(2, crate::domain::cluster::TemplateOf { ami: Some("ami-b".into()), settings: None });
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v002"));
    assert!(!lines(&p).iter().any(|s| s.starts_with("create launch template")), "{:#?}", lines(&p));
    assert_eq!(position(&p, "create group www-prod-v002"), 0);

    let p = plan(&svc(Standby::Warm, 2), "ami-c", &snap);
    assert_eq!(lines(&p)[0], "delete launch template www-prod-v002");
    assert_eq!(
        p.release.as_ref().map(|r| r.to_string()).as_deref(),
        Some("www-prod-v003"),
        "a number once used is not reused"
    );
}

#[test]
fn a_failed_release_of_the_same_ami_is_replaced() {
    let snap =
        snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true), group(2, "ami-b", GroupState::Failed, 0, false)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    assert_eq!(&lines(&p)[..2], ["delete group www-prod-v002", "delete launch template www-prod-v002"]);
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v003"));
}

#[test]
fn standby_releases_beyond_keep_are_deleted_after_the_switch() {
    let snap = snapshot(vec![
        group(1, "ami-a", GroupState::Standby, 2, false),
        group(2, "ami-b", GroupState::Standby, 2, false),
        group(3, "ami-c", GroupState::Live, 2, true),
    ]);
    let p = plan(&svc(Standby::Warm, 2), "ami-d", &snap);
    let l = lines(&p);
    // Kept: v003 (just demoted) and v002; deleted: v001.
    assert!(l.contains(&"delete group www-prod-v001".to_owned()), "{l:#?}");
    assert!(!l.iter().any(|s| s == "delete group www-prod-v002" || s == "delete group www-prod-v003"));
    assert!(position(&p, "delete group www-prod-v001") > position(&p, "detach www-prod-v003"));
}

#[test]
fn a_cold_standby_is_scaled_to_zero() {
    let snap = snapshot(vec![group(1, "ami-a", GroupState::Live, 3, true)]);
    let p = plan(&svc(Standby::Cold, 2), "ami-b", &snap);
    let l = lines(&p);
    assert!(l.contains(&"scale www-prod-v001 to 0 (min 0, max 4)".to_owned()), "{l:#?}");
    // Only its alarms and schedules are suspended (issue 16), before it scales in: nothing
    // raises a cold standby again, and Terminate still runs.
    assert!(!l.iter().any(|s| s.starts_with("suspend the scaling processes")));
    assert!(
        position(&p, "suspend AlarmNotification and ScheduledActions of www-prod-v001")
            < position(&p, "scale www-prod-v001 to 0")
    );
}

#[test]
fn a_warm_standby_of_the_target_ami_is_brought_back_not_recreated() {
    let mut standby = group(1, "ami-a", GroupState::Standby, 2, false);
    standby.suspended = true;
    let snap = snapshot(vec![standby, group(2, "ami-b", GroupState::Live, 2, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-a", &snap);
    let l = lines(&p);
    assert_eq!(
        &l[..3],
        [
            "resume the scaling processes of www-prod-v001",
            "attach www-prod-v001 to ELB www-prod",
            "wait until all 2 instances of www-prod-v001 are InService in ELB www-prod (timeout 600s; fail early once every instance older than 330s fails its health checks, or one is replaced for failing them)"
        ]
    );
    assert!(l.contains(&"detach www-prod-v002 from ELB www-prod".to_owned()));
}

#[test]
fn a_stray_attached_group_is_retired_after_the_switch() {
    let snap =
        snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true), group(2, "ami-x", GroupState::Deploying, 2, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v003"));
    assert!(position(&p, "detach www-prod-v002") > position(&p, "wait until all 2 instances of www-prod-v003"));
    assert!(lines(&p).contains(&"tag www-prod-v002 drydock:state=failed".to_owned()));
}

#[test]
fn release_numbers_run_out_at_999() {
    let snap = snapshot(vec![group(999, "ami-a", GroupState::Live, 2, true)]);
    let service = ServiceName::parse("www").unwrap();
    let env = EnvName::parse("prod").unwrap();
    let req = DeployRequest {
        service: &service,
        env: &env,
        ami: "ami-b",
        image: None,
        root_device: Some("/dev/sda1"),
        health_timeout_s: 1,
        now: 0,
        deployed_by: "x",
        subnets: &[],
        security_groups: &[],
        extra_tags: vec![],
        imds_v1_allowed: false,
        settings: NO_SETTINGS,
        previous_settings: None,
        watch: None,
    };
    assert_eq!(plan_deploy(&svc(Standby::Warm, 2), &req, &snap), Err(PlanError::NumbersExhausted("www-prod".into())));
}

#[test]
fn a_crash_after_the_switch_is_finished_by_the_next_run() {
    // v002 was tagged live, then the run died before v001 left the ELB.
    let mut new = group(2, "ami-b", GroupState::Live, 2, true);
    new.previous = Some(crate::plan::fixtures::release(1));
    let snap = snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true), new]);
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    assert_eq!(p.outcome, Outcome::Unchanged);
    assert_eq!(
        lines(&p),
        [
            "detach www-prod-v001 from ELB www-prod",
            "suspend the scaling processes of www-prod-v001 (warm standby)",
            "tag www-prod-v001 drydock:state=standby drydock:expires-at=1003600",
        ]
    );
}

#[test]
fn history_records_fit_elb_tags_and_read_back() {
    let by = "https://jenkins.example.com/job/www/42/?x=1&y=2";
    let (k, v) = history_record("v007", "ami-0abc", 1700000000, "ok", Some("r.example.com/www:1.4.2"), by);
    assert_eq!(k, "drydock:release:v007");
    assert!(v.chars().all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c)), "{v}");
    let r = parse_history(&k, &v).unwrap();
    assert_eq!((r.number, r.ami.as_str(), r.at, r.failed), (7, "ami-0abc", 1700000000, false));
    assert_eq!(r.image.as_deref(), Some("r.example.com/www:1.4.2"));
    assert_eq!(r.by.as_deref(), Some("https://jenkins.example.com/job/www/42/_x=1_y=2"));
    let long = "x".repeat(300);
    let (_, v) = history_record("v001", "ami-1", 1, "failed", Some(&long), &long);
    assert!(v.len() <= 256);
    let r = parse_history("drydock:release:v001", &v).unwrap();
    assert!(r.failed && r.ami == "ami-1", "the head survives truncation");
    assert_eq!(parse_history("drydock:cluster", "x"), None);
}

#[test]
fn a_standby_brought_back_that_fails_becomes_the_standby_again() {
    let mut standby = group(1, "ami-a", GroupState::Standby, 2, false);
    standby.suspended = true;
    let snap = snapshot(vec![standby, group(2, "ami-b", GroupState::Live, 2, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-a", &snap);
    assert_eq!(
        p.compensation.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        [
            "detach www-prod-v001 from ELB www-prod",
            "scale www-prod-v001 to 2 (min 1, max 4)",
            "suspend the scaling processes of www-prod-v001 (warm standby)",
            "tag www-prod-v001 drydock:state=standby",
        ],
        "not failed, not scaled to 0: still a rollback target"
    );
}

/// The digest of no settings (what a group without the tag ran with).
const NO_SETTINGS: &str = "e3b0c44298fc";

/// The wait carries the fail-early threshold (grace period + 3 × 10 s), so that a dry
/// run shows it; `fail_early = false` leaves only the timeout.
#[test]
fn the_wait_carries_the_fail_early_threshold_from_the_grace_period() {
    let wait = |s: &ServiceEnv| {
        plan(s, "ami-b", &snapshot(vec![]))
            .steps
            .into_iter()
            .find_map(|s| match s {
                Step::WaitInService { timeout_s, fail_after_s, .. } => Some((timeout_s, fail_after_s)),
                _ => None,
            })
            .expect("a wait")
    };
    let table: [(u64, bool, Option<u64>); 4] =
        [(300, true, Some(330)), (1, true, Some(31)), (0, true, Some(30)), (300, false, None)];
    for (grace, fail_early, want) in table {
        let mut s = svc(Standby::Warm, 2);
        s.grace_period = Duration::from_secs(grace);
        s.fail_early = fail_early;
        assert_eq!(wait(&s), (600, want), "grace {grace}s, fail_early {fail_early}");
    }
}

/// A first release whose run died after it got healthy and before the switch's tag
/// (kill -9 while it waited): the re-run finishes that switch instead of calling the
/// untagged release "unchanged" and leaving the cluster without a live release.
#[test]
fn a_healthy_release_never_tagged_live_gets_its_switch_finished() {
    let snap = snapshot(vec![group(1, "ami-a", GroupState::Deploying, 2, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-a", &snap);
    assert_eq!(p.outcome, Outcome::Deployed, "{}", p.message);
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v001"));
    assert_eq!(
        lines(&p),
        ["tag www-prod-v001 drydock:state=live", "record drydock:release:v001 in the history on ELB www-prod"],
        "{}",
        p.message
    );
    // Once tagged live, the same request changes nothing.
    let snap = snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-a", &snap);
    assert_eq!(p.outcome, Outcome::Unchanged);
    assert!(p.steps.is_empty(), "{:#?}", lines(&p));
}

/// A deploy of ami-b killed between its switch (v001's detach) and the tags after it:
/// v001 is out of the ELB still tagged live, v002 serves untagged, and v001 is not
/// suspended yet.
fn killed_after_the_switch() -> ClusterSnapshot {
    snapshot(vec![group(1, "ami-a", GroupState::Live, 2, false), group(2, "ami-b", GroupState::Deploying, 2, true)])
}

#[test]
fn a_rerun_after_a_kill_between_the_detach_and_the_tags_finishes_that_switch() {
    let snap = killed_after_the_switch();
    let svc = svc(Standby::Warm, 2);
    let p = plan(&svc, "ami-b", &snap);
    assert_eq!(p.outcome, Outcome::Deployed);
    assert_eq!(p.release.as_ref().map(|r| r.to_string()).as_deref(), Some("www-prod-v002"));
    let l = lines(&p);
    assert!(!l.iter().any(|s| s.starts_with("detach")), "nothing leaves the ELB again: {l:#?}");
    let tags = position(
        &p,
        "tag www-prod-v002 drydock:state=live drydock:previous=www-prod-v001; www-prod-v001 drydock:state=standby",
    );
    assert!(tags < position(&p, "suspend the scaling processes of www-prod-v001"));
    position(&p, "record drydock:release:v002");

    // Another AMI: v002 served in full, so it becomes a standby (not a failed release)
    // once the new one serves; v001 becomes one too.
    let p = plan(&svc, "ami-c", &snap);
    let l = lines(&p);
    assert!(position(&p, "wait until all 2 instances of www-prod-v003") < position(&p, "detach www-prod-v002"));
    position(&p, "tag www-prod-v002 drydock:state=standby");
    assert!(!l.iter().any(|s| s.contains("state=failed")), "{l:#?}");
    assert!(l.iter().any(|s| s.contains("www-prod-v001 drydock:state=standby")), "{l:#?}");

    // v001's own AMI: v001 goes back in, and v002 leaves only after it serves.
    let p = plan(&svc, "ami-a", &snap);
    let attach = position(&p, "attach www-prod-v001");
    let wait = position(&p, "wait until all 2 instances of www-prod-v001");
    let detach = position(&p, "detach www-prod-v002");
    assert!(attach < wait && wait < detach, "{:#?}", lines(&p));
    position(&p, "tag www-prod-v001 drydock:state=live");
    position(&p, "suspend the scaling processes of www-prod-v002");
}

#[test]
fn when_nothing_serves_after_an_unfinished_switch_the_old_release_goes_back_in_before_the_failed_one_leaves() {
    let mut snap = killed_after_the_switch();
    // v002 lost its health since the switch.
    for h in snap.health.values_mut() {
        h.in_service = false;
    }
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    let c: Vec<String> = p.compensation.iter().map(|s| s.to_string()).collect();
    assert_eq!(c[..2], ["attach www-prod-v001 to ELB www-prod", "detach www-prod-v002 from ELB www-prod"], "{c:#?}");
    // While it serves, nothing is attached back.
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &killed_after_the_switch());
    assert!(!p.compensation.iter().any(|s| matches!(s, Step::Attach { .. })), "{:?}", p.compensation);
}

#[test]
fn a_standby_left_unsuspended_by_a_killed_run_is_suspended_by_the_next() {
    let standby = group(1, "ami-a", GroupState::Standby, 2, false);
    let snap = snapshot(vec![standby.clone(), group(2, "ami-b", GroupState::Live, 2, true)]);
    let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
    assert_eq!(p.outcome, Outcome::Unchanged);
    assert_eq!(lines(&p), ["suspend the scaling processes of www-prod-v001 (warm standby)"]);
    // Suspended, or a cold standby at 0: nothing to do.
    let suspended = ObservedGroup { suspended: true, ..standby.clone() };
    let cold = ObservedGroup { desired: 0, instances: vec![], ..standby };
    for g in [suspended, cold] {
        let snap = snapshot(vec![g, group(2, "ami-b", GroupState::Live, 2, true)]);
        assert!(plan(&svc(Standby::Warm, 2), "ami-b", &snap).steps.is_empty());
    }
}

#[test]
fn a_warm_standby_is_suspended_only_if_a_policy_or_schedule_may_resize_it() {
    let suspends = |g: &ObservedGroup| {
        let snap = snapshot(vec![g.clone()]);
        let p = plan(&svc(Standby::Warm, 2), "ami-b", &snap);
        p.steps.iter().any(|s| matches!(s, Step::Suspend { group } if *group == g.name))
    };
    let live = group(1, "ami-a", GroupState::Live, 2, true);
    // A release of an older drydock (no tag) or one with a policy: suspended.
    assert!(suspends(&live));
    assert!(suspends(&ObservedGroup { resizes: Some(true), ..live.clone() }));
    // `drydock:scaling=none`: nothing would resize it; it keeps replacing failed instances.
    let fixed = ObservedGroup { resizes: Some(false), ..live };
    assert!(!suspends(&fixed));
    // Nor is such a standby suspended later by the check for unfinished retirements.
    let standby = ObservedGroup { state: GroupState::Standby, attached: false, ..fixed };
    let snap = snapshot(vec![standby, group(2, "ami-b", GroupState::Live, 2, true)]);
    assert!(plan(&svc(Standby::Warm, 2), "ami-b", &snap).steps.is_empty());
}

#[test]
fn a_new_release_is_tagged_with_what_may_resize_it() {
    let scaling_tag = |svc: &ServiceEnv| {
        let p = plan(svc, "ami-b", &snapshot(vec![group(1, "ami-a", GroupState::Live, 2, true)]));
        let Some(Step::CreateGroup(g)) = p.steps.iter().find(|s| matches!(s, Step::CreateGroup(_))) else {
            panic!("no group in {:#?}", lines(&p));
        };
        g.tags.iter().find(|(k, _)| k == "drydock:scaling").map(|(_, v)| v.clone())
    };
    let mut s = svc(Standby::Warm, 2);
    assert_eq!(scaling_tag(&s).as_deref(), Some("none"));
    s.scaling.cpu = Some(crate::domain::scaling::CpuTarget { percent: 60, warmup: None, scale_in: true });
    assert_eq!(scaling_tag(&s).as_deref(), Some("cpu"));
}
