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

/// How old (since drydock first saw it in the group) an instance must be before the ELB's
/// verdict that it fails counts as certain: the group's grace period (the service may
/// still be booting) plus the UnhealthyThreshold × Interval over which the ELB saw it
/// fail, so that every one of those failed checks came after the grace period.
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

/// The fail-early rule over the polls of one wait (issue 13). A release is certainly
/// broken when either
/// - every instance of its group fails in the ELB's eyes and is older than
///   `fail_after_s` (grace + UnhealthyThreshold × Interval): it failed every check since
///   its grace period ended; or
/// - Auto Scaling replaced an instance that failed in the ELB's eyes after its grace
///   period (HealthCheckType ELB replaces exactly those), and no instance serves: the
///   replacement runs the same AMI and settings.
///
/// Ages are on the caller's monotonic clock from the poll that first saw the instance, so
/// they never exceed the real ones: the rule can be late, never early.
#[derive(Debug, Default, Clone)]
pub struct FailingSince {
    seen: BTreeMap<String, Seen>,
    replaced: bool,
}

/// One instance, as the polls saw it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The poll that first saw it in the group.
    since: Duration,
    /// At its last poll it failed, after its grace period.
    failed_after_grace: bool,
}

impl FailingSince {
    /// One poll: the group's instances `ids` and the ELB's health at `now`; `after` is
    /// `fail_after_s` of the group's grace period. True: the release will not get
    /// healthy, fail it now.
    pub fn observe(
        &mut self,
        now: Duration,
        ids: &[String],
        health: &BTreeMap<String, InstanceHealth>,
        after: Duration,
    ) -> bool {
        let grace = after.saturating_sub(Duration::from_secs(UNHEALTHY_THRESHOLD * INTERVAL_S));
        // An instance that left the group while it failed after its grace: replaced.
        let mut replaced = false;
        self.seen.retain(|id, s| {
            let stays = ids.contains(id);
            replaced |= !stays && s.failed_after_grace;
            stays
        });
        self.replaced |= replaced;
        let failing = |id: &String| health.get(id).is_some_and(is_failing);
        for id in ids {
            let s = self.seen.entry(id.clone()).or_insert(Seen { since: now, failed_after_grace: false });
            s.failed_after_grace = failing(id) && now.saturating_sub(s.since) >= grace;
        }
        let age = |id: &String| self.seen.get(id).map(|s| now.saturating_sub(s.since)).unwrap_or_default();
        let all_certain = !ids.is_empty() && ids.iter().all(|id| failing(id) && age(id) > after);
        let none_serves = !ids.iter().any(|id| health.get(id).is_some_and(|h| h.in_service));
        all_certain || (self.replaced && none_serves)
    }

    /// Whether a verdict came from a replaced instance.
    pub fn replaced(&self) -> bool {
        self.replaced
    }
}

/// The share of the classic ELB read budget that health reads use; the rest is headroom
/// for the other reads (observation of services that start late) and for jitter.
const HEALTH_READ_SHARE: f64 = 0.8;

/// How long a waiter sleeps between ELB health reads of a group whose instances are
/// registered, so possibly close to ready. The `waiting` services share the classic ELB
/// read budget (`elb_read_rate`, requests per second). Those created first (a low
/// `rank`, `GroupWatch::rank`: the closest to ready) are read twice a round, as many as the
/// budget allows; the others once a round, or, when the budget has no room for that,
/// every two rounds (the youngest groups, so most likely still booting). As services get
/// healthy the rank of the others drops: the next to get healthy are read most often.
/// The configured interval, when shorter, stands for the round; reads beyond the budget
/// would only queue in the pacer.
pub fn poll_interval(configured: Duration, rank: usize, waiting: usize, elb_read_rate: f64) -> Duration {
    let round = configured.as_secs_f64().min(INTERVAL_S as f64).max(0.001);
    let fast = (INTERVAL_S as f64 / 2.0).min(round);
    let budget = elb_read_rate.max(0.0) * HEALTH_READ_SHARE;
    let w = waiting.max(1) as f64;
    // The rest once a round if that fits in the budget, else every two rounds; `k` read
    // twice a round with what is left: k / fast + (w - k) / rest <= budget.
    let rest = if w / round <= budget { round } else { 2.0 * round };
    if fast >= rest {
        return Duration::from_secs_f64(rest);
    }
    let k = (budget - w / rest) / (1.0 / fast - 1.0 / rest);
    Duration::from_secs_f64(if (rank as f64) < k { fast } else { rest })
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
    /// not registered) and the verdict after the last poll, with `fail_after_s` 31 s
    /// (grace 1 s): the instances exist from the first poll.
    #[test]
    fn a_release_fails_early_when_every_instance_fails_past_grace_and_three_rounds() {
        type Polls = Vec<(u64, Option<InstanceHealth>, Option<InstanceHealth>)>;
        let f = || Some(failing());
        let r = || Some(registering());
        let s = || Some(serving());
        let table: Vec<(&str, Polls, bool)> = vec![
            ("both failing, 32 s old", vec![(0, f(), f()), (32, f(), f())], true),
            ("both failing, exactly 31 s old: not older", vec![(0, f(), f()), (31, f(), f())], false),
            ("registering first, failing once old enough", vec![(0, r(), r()), (10, f(), f()), (40, f(), f())], true),
            ("still registering when old enough", vec![(0, r(), r()), (40, r(), r())], false),
            ("one serves", vec![(0, f(), s()), (100, f(), s())], false),
            ("one serves at the last poll", vec![(0, f(), f()), (40, f(), s())], false),
            ("one not registered yet", vec![(0, f(), None), (100, f(), None)], false),
            ("failing early on, serving later", vec![(0, f(), f()), (20, s(), s()), (60, s(), s())], false),
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
    fn a_replacement_is_young_and_no_instance_is_no_verdict() {
        let after = Duration::from_secs(31);
        let mut rule = FailingSince::default();
        let one = |id: &str| BTreeMap::from([(id.to_owned(), failing())]);
        // i-1 fails within its grace period (grace 1 s, seen at 0 s): then it is replaced.
        assert!(!rule.observe(Duration::ZERO, &["i-1".into()], &one("i-1"), after));
        // Not a replacement for health (it never failed after its grace): i-3 is young.
        assert!(!rule.observe(Duration::from_secs(40), &["i-3".into()], &one("i-3"), after));
        assert!(!rule.observe(Duration::from_secs(71), &["i-3".into()], &one("i-3"), after));
        assert!(rule.observe(Duration::from_secs(72), &["i-3".into()], &one("i-3"), after));
        assert!(!FailingSince::default().observe(Duration::from_secs(99), &[], &BTreeMap::new(), after));
    }

    #[test]
    fn auto_scaling_replacing_an_instance_that_failed_after_its_grace_fails_the_release() {
        let after = Duration::from_secs(31);
        let both = |a: &str, b: &str| BTreeMap::from([(a.to_owned(), failing()), (b.to_owned(), failing())]);
        let mut rule = FailingSince::default();
        assert!(!rule.observe(Duration::ZERO, &["i-1".into(), "i-2".into()], &both("i-1", "i-2"), after));
        // 5 s later both still fail, past the 1 s grace: Auto Scaling may replace them.
        assert!(!rule.observe(Duration::from_secs(5), &["i-1".into(), "i-2".into()], &both("i-1", "i-2"), after));
        // i-1 was replaced by i-3 (booting, not registered) and nothing serves: broken.
        let health = BTreeMap::from([("i-2".to_owned(), failing())]);
        assert!(rule.observe(Duration::from_secs(10), &["i-2".into(), "i-3".into()], &health, after));
        // With a serving instance, a replacement alone is no verdict.
        let mut rule = FailingSince::default();
        let mixed = BTreeMap::from([("i-1".to_owned(), failing()), ("i-2".to_owned(), serving())]);
        rule.observe(Duration::from_secs(5), &["i-1".into(), "i-2".into()], &mixed, after);
        rule.observe(Duration::from_secs(6), &["i-1".into(), "i-2".into()], &mixed, after);
        let health = BTreeMap::from([("i-2".to_owned(), serving())]);
        assert!(!rule.observe(Duration::from_secs(10), &["i-2".into(), "i-3".into()], &health, after));
    }

    #[test]
    fn health_reads_go_to_the_groups_closest_to_ready_within_the_elb_budget() {
        let s = Duration::from_secs;
        // One service: twice a round.
        assert_eq!(poll_interval(s(10), 0, 1, 10.0), s(5));
        // 30 services: all twice a round is 6 reads/s, within 80 % of 10/s.
        assert_eq!(poll_interval(s(10), 29, 30, 10.0), s(5));
        // 50: once a round for all is 5/s; the 30 created first twice (30/5 + 20/10 = 8).
        assert_eq!(poll_interval(s(10), 29, 50, 10.0), s(5));
        assert_eq!(poll_interval(s(10), 30, 50, 10.0), s(10));
        // 100: a round for all would be 10/s, over the 8: the 20 created first twice a
        // round, the others every two rounds (20/5 + 80/20 = 8).
        assert_eq!(poll_interval(s(10), 19, 100, 10.0), s(5));
        assert_eq!(poll_interval(s(10), 20, 100, 10.0), s(20));
        // After a throttle (AIMD halved the rate) fewer are read twice a round.
        assert_eq!(poll_interval(s(10), 9, 30, 5.0), s(5));
        assert_eq!(poll_interval(s(10), 10, 30, 5.0), s(10));
        // A shorter configured interval stands for the round (tests poll every 50 ms), within
        // the budget too: 20 reads/s of one service is more than 8, so every 100 ms.
        let ms = Duration::from_millis;
        assert_eq!(poll_interval(s(3), 0, 1, 10.0), s(3));
        assert_eq!(poll_interval(s(3), 23, 24, 10.0), s(3));
        assert_eq!(poll_interval(s(3), 24, 25, 10.0), s(6));
        assert_eq!(poll_interval(ms(50), 0, 1, 10.0), ms(100));
        // No rate at all cannot make it divide by zero or wait forever.
        assert_eq!(poll_interval(s(30), 0, 5, 0.0), s(20));
        assert_eq!(poll_interval(s(30), 0, 0, 0.0), s(20));
    }
}
