//! Which release a rollback puts back: the newest standby group, or a named one; a
//! release that `gc` collected comes back from its history record as a new release.

use super::cluster::{ClusterSnapshot, GroupState};
use super::plan::HistoryRecord;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The release is live already: nothing to do.
    AlreadyLive { group: String, ami: String },
    /// A group that still exists (warm or cold standby).
    Group { group: String, ami: String, image: Option<String> },
    /// Collected by gc: its AMI is deployed again as a new release.
    Collected { number: u16, ami: String, image: Option<String> },
}

pub fn choose(
    snap: &ClusterSnapshot,
    history: &[HistoryRecord],
    to: Option<u16>,
    cluster: &str,
) -> Result<RollbackTarget, String> {
    let live = snap.live();
    let release = |n: u16| format!("{cluster}-v{n:03}");
    let number = match to {
        Some(n) => n,
        None => {
            // The newest standby that is not the live release…
            let standby = snap
                .groups
                .iter()
                .filter(|g| g.state == GroupState::Standby && Some(g.name.as_str()) != live.map(|l| l.name.as_str()))
                .max_by_key(|g| g.number);
            if let Some(g) = standby {
                g.number
            } else {
                // …else the newest earlier release in the history that did not fail.
                let below = live.map(|l| l.number).unwrap_or(u16::MAX);
                history
                    .iter()
                    .filter(|r| r.number < below && !r.failed)
                    .map(|r| r.number)
                    .max()
                    .ok_or_else(|| format!("{cluster} has no earlier release to roll back to"))?
            }
        }
    };
    if let Some(l) = live.filter(|l| l.number == number) {
        return Ok(RollbackTarget::AlreadyLive { group: l.name.clone(), ami: l.ami.clone().unwrap_or_default() });
    }
    if let Some(g) = snap.groups.iter().find(|g| g.number == number) {
        if g.state == GroupState::Failed {
            return Err(format!("{} failed when it was deployed; it is not a rollback target", g.name));
        }
        let ami =
            g.ami.clone().ok_or_else(|| format!("{} has no drydock:ami tag; it was not made by drydock", g.name))?;
        return Ok(RollbackTarget::Group { group: g.name.clone(), ami, image: g.image.clone() });
    }
    match history.iter().find(|r| r.number == number) {
        Some(r) if r.failed => {
            Err(format!("{} failed when it was deployed; it is not a rollback target", release(number)))
        }
        Some(r) => Ok(RollbackTarget::Collected { number, ami: r.ami.clone(), image: r.image.clone() }),
        None => Err(format!("{cluster} has no release v{number:03} (see drydock history)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cluster::ObservedGroup;

    fn g(n: u16, state: GroupState, attached: bool) -> ObservedGroup {
        ObservedGroup {
            name: format!("www-prod-v{n:03}"),
            number: n,
            ami: Some(format!("ami-{n}")),
            image: Some(format!("r/www:{n}")),
            state,
            min: 1,
            desired: 2,
            max: 4,
            instances: vec![],
            attached,
            suspended: false,
            expires_at: None,
            deployed_at: None,
            deployed_by: None,
            previous: None,
            launch_template: None,
        }
    }
    fn h(n: u16, failed: bool) -> HistoryRecord {
        HistoryRecord { number: n, ami: format!("ami-{n}"), at: 0, failed, image: None, by: None }
    }
    fn snap(groups: Vec<ObservedGroup>) -> ClusterSnapshot {
        ClusterSnapshot { groups, ..Default::default() }
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
            choose(&s, &hist, None, "www-prod"),
            Ok(RollbackTarget::Group {
                group: "www-prod-v002".into(),
                ami: "ami-2".into(),
                image: Some("r/www:2".into())
            }),
            "the newest standby"
        );
        assert!(
            matches!(choose(&s, &hist, Some(1), "www-prod"), Ok(RollbackTarget::Group { group, .. }) if group == "www-prod-v001")
        );
        assert!(matches!(choose(&s, &hist, Some(3), "www-prod"), Ok(RollbackTarget::AlreadyLive { .. })));

        // v001 and v002 were collected: v002 comes back from history as a new release.
        let s = snap(vec![g(3, GroupState::Live, true)]);
        assert_eq!(
            choose(&s, &hist, None, "www-prod"),
            Ok(RollbackTarget::Collected { number: 2, ami: "ami-2".into(), image: None })
        );
        let hist_failed = vec![h(1, false), h(2, true), h(3, false)];
        assert!(
            matches!(choose(&s, &hist_failed, None, "www-prod"), Ok(RollbackTarget::Collected { number: 1, .. })),
            "failed releases are skipped"
        );
        assert!(choose(&s, &hist_failed, Some(2), "www-prod").unwrap_err().contains("failed"));
        assert!(choose(&s, &[], Some(7), "www-prod").unwrap_err().contains("no release v007"));
        assert!(choose(&snap(vec![g(1, GroupState::Live, true)]), &[h(1, false)], None, "www-prod")
            .unwrap_err()
            .contains("no earlier release"));
        let s = snap(vec![g(1, GroupState::Failed, false), g(2, GroupState::Live, true)]);
        assert!(choose(&s, &[], Some(1), "www-prod").is_err());
    }
}
