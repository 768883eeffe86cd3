//! `drydock gc` as data: what to collect in a cluster, among AMIs and among builders.
//! A live or attached group is never touched.

use std::collections::{BTreeMap, BTreeSet};

use super::deploy::trim;
use super::{Instance, Step};
use crate::config::ServiceEnv;
use crate::domain::bake::{InstanceState, ObservedAmi, ObservedBuilder};
use crate::domain::cluster::{ClusterSnapshot, GroupState};
use crate::domain::ReleaseName;

/// History records kept on an ELB (a classic ELB holds at most 50 tags).
pub const KEEP_HISTORY: usize = 40;

/// One cluster: expired warm standbys go cold; standbys beyond `keep_releases` and failed
/// groups are deleted; history beyond `KEEP_HISTORY` records is forgotten.
pub fn plan_cluster(svc: &ServiceEnv, snap: &ClusterSnapshot, history: &[u16], now: i64) -> Vec<Step> {
    let elb = svc.elb_name.as_str().to_owned();
    let live = snap.live().map(|g| &g.name);
    // Never touched: the live group, anything in the ELB, anything being deployed.
    let keep: Vec<&ReleaseName> = snap
        .groups
        .iter()
        .filter(|g| {
            Some(&g.name) == live || g.attached || matches!(g.state, GroupState::Deploying | GroupState::Canary)
        })
        .map(|g| &g.name)
        .collect();
    let mut steps = trim(svc, snap, &keep, None);
    let doomed: BTreeSet<ReleaseName> = steps
        .iter()
        .filter_map(|s| match s {
            Step::DeleteGroup { group } => Some(group.clone()),
            _ => None,
        })
        .collect();
    for g in &snap.groups {
        let expired = g.state == GroupState::Standby
            && !keep.contains(&&g.name)
            && !doomed.contains(&g.name)
            && g.desired > 0
            && g.expires_at.is_some_and(|t| t <= now);
        if expired {
            // Terminate must run again for the group to scale in; its alarms and schedules
            // stay suspended, so that nothing raises the cold standby again.
            if g.suspended {
                steps.push(Step::ResumeForScaleIn { group: g.name.clone() });
            } else {
                steps.push(Step::SuspendScaling { group: g.name.clone() });
            }
            steps.push(Step::ScaleTo { group: g.name.clone(), min: 0, desired: 0, max: g.max });
            steps.push(Step::Tag {
                group: g.name.clone(),
                tags: vec![("drydock:state".into(), "standby".into()), ("drydock:expires-at".into(), String::new())],
                more: vec![],
            });
        }
    }
    let mut numbers = history.to_vec();
    numbers.sort_unstable_by(|a, b| b.cmp(a));
    let old: Vec<String> = numbers.iter().skip(KEEP_HISTORY).map(|n| format!("drydock:release:v{n:03}")).collect();
    if !old.is_empty() {
        steps.push(Step::Unrecord { elb, keys: old });
    }
    steps
}

/// Unused AMIs older than `retention_s`, beyond the newest `keep` of their service.
pub fn plan_images(
    amis: &[ObservedAmi],
    used: &BTreeSet<String>,
    now: i64,
    retention_s: i64,
    keep: usize,
) -> Vec<Step> {
    let mut by_service: BTreeMap<&str, Vec<&ObservedAmi>> = BTreeMap::new();
    for a in amis {
        by_service.entry(a.service.as_str()).or_default().push(a);
    }
    let mut steps = Vec::new();
    for (_, mut list) in by_service {
        list.sort_by_key(|a| std::cmp::Reverse(a.created));
        for a in list.into_iter().skip(keep) {
            if !used.contains(&a.id) && now - a.created > retention_s {
                steps.push(Step::DeregisterImage { ami: a.id.clone(), name: a.name.clone() });
            }
        }
    }
    steps
}

/// Builders older than twice the bake timeout: their bake died without cleaning up.
pub fn plan_builders(builders: &[ObservedBuilder], now: i64, bake_timeout_s: i64) -> Vec<Step> {
    builders
        .iter()
        .filter(|b| !matches!(b.state, InstanceState::ShuttingDown | InstanceState::Terminated))
        .filter(|b| now - b.launched > 2 * bake_timeout_s)
        .map(|b| Step::TerminateBuilder { instance: Instance::Id(b.id.clone()) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Standby;
    use crate::domain::cluster::ObservedGroup;

    fn svc(keep: u32) -> ServiceEnv {
        crate::plan::fixtures::svc(Standby::Warm, keep)
    }

    /// The shared fixture's release group, without instances (gc does not look at them),
    /// suspended when it is a warm standby with capacity.
    fn g(n: u16, state: GroupState, attached: bool, desired: u32, expires: Option<i64>) -> ObservedGroup {
        ObservedGroup {
            max: 4,
            instances: vec![],
            suspended: desired > 0 && state == GroupState::Standby,
            expires_at: expires,
            ..crate::plan::fixtures::group(n, &format!("ami-{n}"), state, desired, attached)
        }
    }

    fn lines(steps: &[Step]) -> Vec<String> {
        steps.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cluster_collection() {
        let snap = ClusterSnapshot {
            groups: vec![
                g(1, GroupState::Standby, false, 0, None),
                g(2, GroupState::Failed, false, 0, None),
                g(3, GroupState::Standby, false, 2, Some(100)),
                g(4, GroupState::Standby, false, 2, Some(10_000)),
                g(5, GroupState::Live, true, 2, None),
            ],
            ..Default::default()
        };
        let steps = plan_cluster(&svc(2), &snap, &[1, 2, 3, 4, 5], 1000);
        assert_eq!(
            lines(&steps),
            [
                "delete group www-prod-v001",
                "delete launch template www-prod-v001",
                "delete group www-prod-v002",
                "delete launch template www-prod-v002",
                "resume the scaling processes of www-prod-v003 but AlarmNotification and ScheduledActions",
                "scale www-prod-v003 to 0 (min 0, max 4)",
                "tag www-prod-v003 drydock:state=standby drydock:expires-at=",
            ]
        );
        assert!(!lines(&steps).iter().any(|l| l.contains("v005") || l.contains("v004")), "live and unexpired are kept");
    }

    #[test]
    fn attached_and_deploying_groups_are_never_touched() {
        let snap = ClusterSnapshot {
            groups: vec![
                g(1, GroupState::Failed, true, 2, None),
                g(2, GroupState::Deploying, false, 2, None),
                g(3, GroupState::Live, true, 2, None),
            ],
            ..Default::default()
        };
        assert!(plan_cluster(&svc(0), &snap, &[], 1000).is_empty());
    }

    #[test]
    fn history_beyond_the_kept_records_is_forgotten() {
        let numbers: Vec<u16> = (1..=45).collect();
        let steps = plan_cluster(&svc(2), &ClusterSnapshot::default(), &numbers, 0);
        let Some(Step::Unrecord { keys, .. }) = steps.last() else { panic!("{steps:?}") };
        assert_eq!(keys.len(), 5);
        assert_eq!(keys[0], "drydock:release:v005");
        assert_eq!(keys[4], "drydock:release:v001");
    }

    #[test]
    fn images_unused_old_and_beyond_the_newest_are_deregistered() {
        let a = |id: &str, svc: &str, created: i64| ObservedAmi {
            id: id.into(),
            name: format!("n-{id}"),
            service: svc.into(),
            created,
        };
        let amis = vec![
            a("ami-1", "www", 100),
            a("ami-2", "www", 200),
            a("ami-3", "www", 300),
            a("ami-4", "www", 9_000),
            a("ami-5", "www", 9_500),
            a("ami-6", "api", 100),
        ];
        let used: BTreeSet<String> = ["ami-2".to_owned()].into();
        let steps = plan_images(&amis, &used, 10_000, 5_000, 2);
        assert_eq!(
            lines(&steps),
            [
                "deregister ami-3 (n-ami-3) and delete its snapshots",
                "deregister ami-1 (n-ami-1) and delete its snapshots"
            ]
        );
        // ami-6 is the newest (only) of its service: kept.
    }

    #[test]
    fn only_old_live_builders_are_reaped() {
        let b = |id: &str, state, launched| ObservedBuilder { id: id.into(), state, launched };
        let steps = plan_builders(
            &[
                b("i-old", InstanceState::Running, 0),
                b("i-new", InstanceState::Running, 9_000),
                b("i-dead", InstanceState::Terminated, 0),
            ],
            10_000,
            1200,
        );
        assert_eq!(lines(&steps), ["terminate builder i-old"]);
    }
}
