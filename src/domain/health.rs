//! The ELB health check drydock gives every ELB, and the rule that fails a release early
//! when its instances are certainly broken (issue 13). Pure: the caller passes the time.

use std::collections::BTreeMap;
use std::time::Duration;

use super::cluster::InstanceHealth;

/// Seconds between two health checks of the ELB (`src/cloud/elb.rs` configures it).
pub const INTERVAL_S: u64 = 10;
/// Consecutive passed checks after which an instance is InService.
pub const HEALTHY_THRESHOLD: u64 = 2;
/// Consecutive failed checks after which an instance is OutOfService / `Instance`.
pub const UNHEALTHY_THRESHOLD: u64 = 3;

/// How long every instance of a new group must have been failing its health checks
/// (OutOfService with ReasonCode `Instance`) without a break before the release counts
/// as certainly broken: the group's grace period (the service may still be booting) plus
/// the UnhealthyThreshold × Interval it takes the ELB to see a failing instance.
pub fn fail_after_s(grace_period_s: u64) -> u64 {
    grace_period_s.saturating_add(UNHEALTHY_THRESHOLD * INTERVAL_S)
}

/// Whether the ELB says this instance itself fails (ReasonCode `Instance`: failed health
/// checks, stopped, terminated), as opposed to the ELB still registering it (ReasonCode
/// `ELB`, "Instance registration is still in progress.") or serving it.
pub fn is_failing(h: &InstanceHealth) -> bool {
    h.state == "OutOfService"
        && h.reason_code == "Instance"
        && !h.description.contains("registration is still in progress")
}

/// Per instance, since when (on the caller's monotonic clock) it has been failing
/// without a break.
#[derive(Debug, Default, Clone)]
pub struct FailingSince {
    since: BTreeMap<String, Duration>,
}

impl FailingSince {
    /// One poll: the group's instances `ids` and the ELB's health at `now`. True when
    /// there is at least one instance and every one has been failing continuously for
    /// longer than `after`: the release will not get healthy, fail it now.
    pub fn observe(
        &mut self,
        now: Duration,
        ids: &[String],
        health: &BTreeMap<String, InstanceHealth>,
        after: Duration,
    ) -> bool {
        // An instance that is not failing (any more), or is gone, starts over.
        self.since.retain(|id, _| ids.contains(id) && health.get(id).is_some_and(is_failing));
        for id in ids {
            if health.get(id).is_some_and(is_failing) {
                self.since.entry(id.clone()).or_insert(now);
            }
        }
        !ids.is_empty() && ids.iter().all(|id| self.since.get(id).is_some_and(|t| now.saturating_sub(*t) > after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILED: &str = "Instance has failed at least the UnhealthyThreshold number of health checks consecutively.";
    const REGISTERING: &str = "Instance registration is still in progress.";

    fn h(state: &str, code: &str, description: &str) -> InstanceHealth {
        InstanceHealth {
            in_service: state == "InService",
            state: state.into(),
            reason_code: code.into(),
            description: description.into(),
        }
    }
    fn failing() -> InstanceHealth {
        h("OutOfService", "Instance", FAILED)
    }
    fn registering() -> InstanceHealth {
        h("OutOfService", "ELB", REGISTERING)
    }
    fn serving() -> InstanceHealth {
        h("InService", "N/A", "N/A")
    }

    #[test]
    fn a_draining_instance_is_never_in_service() {
        let draining = InstanceHealth::from_elb(
            "InService".into(),
            "N/A".into(),
            "Instance deregistration currently in progress.".into(),
        );
        assert!(!draining.in_service);
        assert!(InstanceHealth::from_elb("InService".into(), "N/A".into(), "N/A".into()).in_service);
        assert!(!InstanceHealth::from_elb("OutOfService".into(), "ELB".into(), REGISTERING.into()).in_service);
    }

    #[test]
    fn the_threshold_is_the_grace_period_plus_three_failed_checks() {
        assert_eq!(fail_after_s(0), 30);
        assert_eq!(fail_after_s(1), 31);
        assert_eq!(fail_after_s(300), 330);
        assert_eq!(fail_after_s(u64::MAX), u64::MAX);
    }

    #[test]
    fn which_health_counts_as_failing() {
        let table: [(InstanceHealth, bool); 6] = [
            (failing(), true),
            (h("OutOfService", "Instance", "Instance is in stopped state."), true),
            (registering(), false),
            // An emulator or an odd answer: the registration text wins over the code.
            (h("OutOfService", "Instance", REGISTERING), false),
            (h("OutOfService", "N/A", FAILED), false),
            (serving(), false),
        ];
        for (health, want) in table {
            assert_eq!(is_failing(&health), want, "{health:?}");
        }
    }

    /// Each row: polls (seconds since the wait began, the health of i-1 and i-2; None:
    /// not registered) and the verdict after the last poll, with a threshold of 31 s.
    #[test]
    fn a_release_fails_early_only_when_every_instance_failed_without_a_break_for_longer_than_the_threshold() {
        type Polls = Vec<(u64, Option<InstanceHealth>, Option<InstanceHealth>)>;
        let f = || Some(failing());
        let r = || Some(registering());
        let s = || Some(serving());
        let table: Vec<(&str, Polls, bool)> = vec![
            ("both failing for 32 s", vec![(0, f(), f()), (32, f(), f())], true),
            ("both failing for exactly 31 s: not longer", vec![(0, f(), f()), (31, f(), f())], false),
            (
                "registering first; failing counts from the first failing poll",
                vec![(0, r(), r()), (10, f(), f()), (40, f(), f())],
                false,
            ),
            ("registering first, then failing for 32 s", vec![(0, r(), r()), (10, f(), f()), (42, f(), f())], true),
            ("one serves", vec![(0, f(), s()), (100, f(), s())], false),
            (
                "one recovers for a poll: starts over",
                vec![(0, f(), f()), (20, f(), s()), (40, f(), f()), (60, f(), f())],
                false,
            ),
            (
                "one recovers, then fails long enough again",
                vec![(0, f(), f()), (20, f(), s()), (40, f(), f()), (72, f(), f())],
                true,
            ),
            ("one not registered yet", vec![(0, f(), None), (100, f(), None)], false),
            ("one only starts failing late", vec![(0, f(), r()), (30, f(), f()), (50, f(), f())], false),
        ];
        let after = Duration::from_secs(31);
        for (what, polls, want) in table {
            let mut rule = FailingSince::default();
            let mut verdict = false;
            for (t, a, b) in polls {
                let mut health = BTreeMap::new();
                if let Some(a) = a {
                    health.insert("i-1".to_owned(), a);
                }
                if let Some(b) = b {
                    health.insert("i-2".to_owned(), b);
                }
                verdict = rule.observe(Duration::from_secs(t), &["i-1".into(), "i-2".into()], &health, after);
            }
            assert_eq!(verdict, want, "{what}");
        }
    }

    #[test]
    fn a_replaced_instance_starts_over_and_no_instance_is_no_verdict() {
        let after = Duration::from_secs(31);
        let mut rule = FailingSince::default();
        let one = |id: &str| BTreeMap::from([(id.to_owned(), failing())]);
        assert!(!rule.observe(Duration::ZERO, &["i-1".into()], &one("i-1"), after));
        // Auto Scaling replaced i-1 by i-3: i-3's streak begins now.
        assert!(!rule.observe(Duration::from_secs(40), &["i-3".into()], &one("i-3"), after));
        assert!(rule.observe(Duration::from_secs(72), &["i-3".into()], &one("i-3"), after));
        assert!(!FailingSince::default().observe(Duration::from_secs(99), &[], &BTreeMap::new(), after));
    }
}
