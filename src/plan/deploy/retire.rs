//! What a deploy does to the releases around the new one: the live release becomes a
//! standby after the switch; strays of abandoned runs are demoted or retired as failed; a
//! standby brought back that never gets healthy goes back to being one; standbys beyond
//! `keep_releases` and failed groups are deleted (gc uses `trim` too).

use super::tag;
use crate::config::{ServiceEnv, Standby};
use crate::domain::cluster::{ClusterSnapshot, GroupState, ObservedGroup};
use crate::domain::ReleaseName;
use crate::plan::Step;

/// The tags of a release that becomes a standby.
pub(super) fn standby_tags(svc: &ServiceEnv, now: i64) -> Vec<(String, String)> {
    match svc.standby {
        Standby::Warm => {
            vec![
                tag("drydock:state", "standby"),
                tag("drydock:expires-at", (now + svc.standby_ttl.as_secs() as i64).to_string()),
            ]
        }
        Standby::Cold => vec![tag("drydock:state", "standby")],
    }
}

/// Steps that take the previous live group out of service, after the new one serves:
/// out of the ELB (unless a switch that died took it out already), then suspended (warm,
/// when a policy or schedule may resize it: `may_resize`) or scaled to 0 (cold); tagged
/// separately.
pub(super) fn retire_to_standby(svc: &ServiceEnv, g: &ObservedGroup, elb: &str) -> Vec<Step> {
    let mut s = Vec::new();
    if g.attached {
        s.push(Step::Detach { group: g.name.clone(), elb: elb.to_owned() });
    }
    match svc.standby {
        Standby::Warm if g.may_resize() => s.push(Step::Suspend { group: g.name.clone() }),
        Standby::Warm => {}
        Standby::Cold => s.extend(cold(g)),
    }
    s
}

/// A group scaled to 0 that nothing raises again: its alarms and schedules suspended
/// first (a standby never scales), then its size.
fn cold(g: &ObservedGroup) -> [Step; 2] {
    [
        Step::SuspendScaling { group: g.name.clone() },
        Step::ScaleTo { group: g.name.clone(), min: 0, desired: 0, max: g.max },
    ]
}

/// A stray that was live: taken out as the live release is after a switch, and tagged a
/// standby in a step of its own.
pub(super) fn demote(svc: &ServiceEnv, g: &ObservedGroup, elb: &str, now: i64) -> Vec<Step> {
    let mut s = retire_to_standby(svc, g, elb);
    s.push(Step::Tag { group: g.name.clone(), tags: standby_tags(svc, now), more: vec![] });
    s
}

/// What a switch that died during its bookkeeping (tags, suspend) left: a release it took
/// out of the ELB still tagged live becomes a standby; a standby with instances whose
/// processes were never suspended is suspended. Never `keep` (the releases this plan
/// puts live or retires itself).
pub(super) fn unfinished_retirements(
    svc: &ServiceEnv,
    snap: &ClusterSnapshot,
    keep: &[&ReleaseName],
    elb: &str,
    now: i64,
) -> Vec<Step> {
    let mut s = Vec::new();
    for g in snap.groups.iter().filter(|g| !g.attached && !keep.contains(&&g.name)) {
        match g.state {
            GroupState::Live => s.extend(demote(svc, g, elb, now)),
            GroupState::Standby if g.desired > 0 && !g.suspended && g.may_resize() => {
                s.push(Step::Suspend { group: g.name.clone() })
            }
            _ => {}
        }
    }
    s
}

/// A release that never got healthy, or a stray of an abandoned run: out of the ELB, its
/// schedules and policies suspended so that they cannot raise it again, at 0, tagged
/// failed.
pub(super) fn failed(group: &ReleaseName, elb: &str, max: u32) -> [Step; 4] {
    [
        Step::Detach { group: group.clone(), elb: elb.to_owned() },
        Step::SuspendScaling { group: group.clone() },
        Step::ScaleTo { group: group.clone(), min: 0, desired: 0, max },
        Step::Tag { group: group.clone(), tags: vec![tag("drydock:state", "failed")], more: vec![] },
    ]
}

/// An existing standby (a rollback, or a deploy of a standby's AMI) that does not get
/// healthy goes back to being the standby it was: out of the ELB, at its old capacity,
/// suspended if it was; not marked failed, so a later rollback can use it.
pub(super) fn back_to_standby(t: &ObservedGroup, elb: &str) -> Vec<Step> {
    let mut c = vec![
        Step::Detach { group: t.name.clone(), elb: elb.to_owned() },
        Step::ScaleTo { group: t.name.clone(), min: t.min, desired: t.desired, max: t.max },
    ];
    if t.suspended && t.desired == 0 {
        c.insert(1, Step::SuspendScaling { group: t.name.clone() });
    } else if t.suspended {
        c.push(Step::Suspend { group: t.name.clone() });
    }
    c.push(Step::Tag { group: t.name.clone(), tags: vec![tag("drydock:state", "standby")], more: vec![] });
    c
}

/// Deletes standby groups beyond `keep_releases` (newest kept) and failed groups, never
/// touching `keep` (the releases that serve or are about to).
pub fn trim(
    svc: &ServiceEnv,
    snap: &ClusterSnapshot,
    keep: &[&ReleaseName],
    demoted: Option<&ReleaseName>,
) -> Vec<Step> {
    let mut standby: Vec<&ObservedGroup> = snap
        .groups
        .iter()
        .filter(|g| !keep.contains(&&g.name))
        .filter(|g| g.state == GroupState::Standby || Some(&g.name) == demoted)
        .collect();
    standby.sort_by_key(|g| std::cmp::Reverse(g.number()));
    let mut doomed: Vec<&ObservedGroup> = standby.into_iter().skip(svc.keep_releases as usize).collect();
    doomed.extend(snap.groups.iter().filter(|g| g.state == GroupState::Failed && !keep.contains(&&g.name)));
    doomed.sort_by_key(|g| g.number());
    doomed.into_iter().flat_map(delete).collect()
}

/// A release group and its launch template, deleted (the template as the group names it,
/// else the release's own).
pub(super) fn delete(g: &ObservedGroup) -> [Step; 2] {
    [
        Step::DeleteGroup { group: g.name.clone() },
        Step::DeleteLaunchTemplate { name: g.launch_template.clone().unwrap_or_else(|| g.name.to_string()) },
    ]
}
