//! The rollback planner. Which release a rollback puts back: without `--to`, the newest
//! usable release *older* than the live one (a standby group, or a collected release from
//! its history record, deployed again as a new release); never forward. A live release
//! that a rollback put there is final for a rollback without `--to`: re-running a
//! finished rollback is `unchanged`, and a re-run after a crash finishes the same switch.

use super::deploy::{plan_deploy, DeployRequest};
use super::history::HistoryRecord;
use super::{Outcome, Plan, PlanError};
use crate::config::ServiceEnv;
use crate::domain::cluster::{ClusterSnapshot, GroupState};
use crate::domain::{ClusterName, ReleaseName};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The release is live already: nothing to do.
    AlreadyLive { group: ReleaseName, ami: String },
    /// A group that still exists (warm or cold standby).
    Group { group: ReleaseName, ami: String, image: Option<String> },
    /// Collected by gc: its AMI is deployed again as a new release.
    Collected { number: u16, ami: String, image: Option<String> },
}

pub fn choose(
    snap: &ClusterSnapshot,
    history: &[HistoryRecord],
    to: Option<u16>,
    cluster: &ClusterName,
) -> Result<RollbackTarget, String> {
    // The release rolled back from: the live one, or the newer of the two that an
    // unfinished switch was between (`ClusterSnapshot::rollback_from`), so that a re-run
    // of a rollback killed in its switch goes on to the same target, not further back,
    // and a rollback after a deploy killed there goes back from the new release.
    let live = snap.rollback_from();
    let interrupted = snap.interrupted();
    let number = match to {
        Some(n) => n,
        // Put there by a rollback: a retried rollback job must not go further back.
        None if live.is_some_and(|l| l.rolled_back_from.is_some()) => live.map(|l| l.number()).unwrap_or_default(),
        None => {
            let below = live.map(|l| l.number()).unwrap_or(u16::MAX);
            // The newest standby older than the live release (or the old release of an
            // unfinished switch: a standby-to-be)…
            let standby = snap
                .groups
                .iter()
                .filter(|g| g.state == GroupState::Standby || interrupted.is_some_and(|s| s.name == g.name))
                .filter(|g| g.number() < below)
                .max_by_key(|g| g.number());
            if let Some(g) = standby {
                g.number()
            } else {
                // …else the newest older release in the history that did not fail.
                history
                    .iter()
                    .filter(|r| r.number < below && !r.failed)
                    .map(|r| r.number)
                    .filter(|n| !snap.groups.iter().any(|g| g.number() == *n && g.state == GroupState::Failed))
                    .max()
                    .ok_or_else(|| format!("{cluster} has no earlier release to roll back to (rollback without --to goes only to a release older than the live one)"))?
            }
        }
    };
    // Live already, and not in an unfinished switch (which the Group target finishes,
    // with a rollback's tags).
    if let Some(l) = snap.live().filter(|l| l.number() == number && interrupted.is_none()) {
        return Ok(RollbackTarget::AlreadyLive { group: l.name.clone(), ami: l.ami.clone().unwrap_or_default() });
    }
    if let Some(g) = snap.groups.iter().find(|g| g.number() == number) {
        if g.state == GroupState::Failed {
            return Err(format!("{} failed when it was deployed; it is not a rollback target", g.name));
        }
        let ami =
            g.ami.clone().ok_or_else(|| format!("{} has no drydock:ami tag; it was not made by drydock", g.name))?;
        return Ok(RollbackTarget::Group { group: g.name.clone(), ami, image: g.image.clone() });
    }
    match history.iter().find(|r| r.number == number) {
        Some(r) if r.failed => {
            Err(format!("{} failed when it was deployed; it is not a rollback target", cluster.release(number)))
        }
        Some(r) => Ok(RollbackTarget::Collected { number, ami: r.ami.clone(), image: r.image.clone() }),
        None => Err(format!("{cluster} has no release v{number:03} (see drydock history)")),
    }
}

/// The `drydock:rolled-back-from` of a rollback to `target`: the release rolled back from
/// (`ClusterSnapshot::rollback_from`), or the one that serves when that is the target.
pub fn rolled_back_from(snap: &ClusterSnapshot, target: &RollbackTarget) -> String {
    let number = match target {
        RollbackTarget::AlreadyLive { group, .. } | RollbackTarget::Group { group, .. } => group.number,
        RollbackTarget::Collected { number, .. } => *number,
    };
    snap.rollback_from()
        .filter(|g| g.number() != number)
        .or_else(|| snap.live())
        .map(|g| g.name.to_string())
        .unwrap_or_default()
}

/// The plan that puts `target` back in service: the deploy plan of its AMI (which brings
/// a standby group back, or deploys a collected release's AMI as a new release), with a
/// rollback's outcome and words.
pub fn plan_rollback(
    svc: &ServiceEnv,
    req: &DeployRequest<'_>,
    snap: &ClusterSnapshot,
    target: &RollbackTarget,
) -> Result<Plan, PlanError> {
    let mut plan = plan_deploy(svc, req, snap)?;
    let live = snap.rollback_from().map(|l| &l.name);
    match target {
        // Live already: nothing to do, or the rest of a switch that a crash interrupted.
        RollbackTarget::AlreadyLive { group, .. } => {
            if plan.steps.is_empty() {
                plan.outcome = Outcome::Unchanged;
                plan.message = match snap.live().and_then(|l| l.rolled_back_from.clone()) {
                    Some(from) => format!("{group} is live already (rolled back from {from})"),
                    None => format!("{group} is live already"),
                };
            } else {
                plan.outcome = Outcome::RolledBack;
                plan.message = format!("{group} is live; finishing the switch that an earlier run began");
            }
        }
        RollbackTarget::Group { group, .. } if plan.outcome == Outcome::Deployed => {
            plan.outcome = Outcome::RolledBack;
            plan.message = match live {
                Some(l) => format!("{group} is live again; {l} is standby"),
                None => format!("{group} is live again; nothing is standby"),
            };
        }
        RollbackTarget::Collected { number, ami, .. } if plan.outcome == Outcome::Deployed => {
            plan.outcome = Outcome::RolledBack;
            plan.message =
                format!("v{number:03} was collected; its AMI {ami} is live again as {}", plan.release_name());
        }
        _ => {}
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cluster::ObservedGroup;

    fn g(n: u16, state: GroupState, attached: bool) -> ObservedGroup {
        let mut g = crate::plan::fixtures::group(n, &format!("ami-{n}"), state, 2, attached);
        g.image = Some(format!("r/www:{n}"));
        g
    }
    fn h(n: u16, failed: bool) -> HistoryRecord {
        HistoryRecord { number: n, ami: format!("ami-{n}"), at: 0, failed, image: None, by: None }
    }
    fn www_prod() -> ClusterName {
        crate::plan::fixtures::cluster()
    }
    fn snap(groups: Vec<ObservedGroup>) -> ClusterSnapshot {
        ClusterSnapshot { groups, ..Default::default() }
    }

    /// A run killed between a switch's detach and its tags: a rollback goes on from the
    /// newer of the two releases it was between, to the same target.
    #[test]
    fn after_a_switch_killed_before_its_tags() {
        let hist = vec![h(1, false), h(2, false), h(3, false)];
        let cases = [
            // A rollback from v003 to v002: v003 is out, still tagged live; v002 serves.
            (GroupState::Standby, GroupState::Live),
            // A deploy from v002 to v003: v002 is out, still tagged live; v003 serves untagged.
            (GroupState::Live, GroupState::Deploying),
        ];
        for (v2, v3) in cases {
            let attached = v2 == GroupState::Standby;
            let s = crate::plan::fixtures::snapshot(vec![
                g(1, GroupState::Standby, false),
                g(2, v2, attached),
                g(3, v3, !attached),
            ]);
            let t = choose(&s, &hist, None, &www_prod());
            assert!(matches!(&t, Ok(RollbackTarget::Group { group, .. }) if group.number == 2), "{v2:?}: {t:?}");
            let t = t.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(rolled_back_from(&s, &t), "www-prod-v003", "{v2:?}");
        }
    }

    #[test]
    fn choices() {
        let s = snap(vec![
            g(1, GroupState::Standby, false),
            g(2, GroupState::Standby, false),
            g(3, GroupState::Live, true),
        ]);
        let hist = vec![h(1, false), h(2, false), h(3, false)];
        assert_eq!(
            choose(&s, &hist, None, &www_prod()),
            Ok(RollbackTarget::Group {
                group: crate::plan::fixtures::release(2),
                ami: "ami-2".into(),
                image: Some("r/www:2".into())
            }),
            "the newest standby"
        );
        assert!(
            matches!(choose(&s, &hist, Some(1), &www_prod()), Ok(RollbackTarget::Group { group, .. }) if group.to_string() == "www-prod-v001")
        );
        assert!(matches!(choose(&s, &hist, Some(3), &www_prod()), Ok(RollbackTarget::AlreadyLive { .. })));

        // v001 and v002 were collected: v002 comes back from history as a new release.
        let s = snap(vec![g(3, GroupState::Live, true)]);
        assert_eq!(
            choose(&s, &hist, None, &www_prod()),
            Ok(RollbackTarget::Collected { number: 2, ami: "ami-2".into(), image: None })
        );
        let hist_failed = vec![h(1, false), h(2, true), h(3, false)];
        assert!(
            matches!(choose(&s, &hist_failed, None, &www_prod()), Ok(RollbackTarget::Collected { number: 1, .. })),
            "failed releases are skipped"
        );
        assert!(choose(&s, &hist_failed, Some(2), &www_prod()).unwrap_err().contains("failed"));
        assert!(choose(&s, &[], Some(7), &www_prod()).unwrap_err().contains("no release v007"));
        assert!(choose(&snap(vec![g(1, GroupState::Live, true)]), &[h(1, false)], None, &www_prod())
            .unwrap_err()
            .contains("no earlier release"));
        // Never forward: the live release is older than the only standby.
        let s = snap(vec![g(1, GroupState::Live, true), g(2, GroupState::Standby, false)]);
        assert!(choose(&s, &hist, None, &www_prod()).unwrap_err().contains("no earlier release"));
        // A release that a rollback made live stays: a retried rollback is a no-op…
        let mut back = g(2, GroupState::Live, true);
        back.rolled_back_from = Some("www-prod-v003".into());
        let s = snap(vec![g(1, GroupState::Standby, false), back, g(3, GroupState::Standby, false)]);
        assert!(matches!(choose(&s, &hist, None, &www_prod()), Ok(RollbackTarget::AlreadyLive { .. })));
        // …and going further back is said explicitly.
        assert!(
            matches!(choose(&s, &hist, Some(1), &www_prod()), Ok(RollbackTarget::Group { group, .. }) if group.to_string() == "www-prod-v001")
        );
        let s = snap(vec![g(1, GroupState::Failed, false), g(2, GroupState::Live, true)]);
        assert!(choose(&s, &[], Some(1), &www_prod()).is_err());
    }
}
