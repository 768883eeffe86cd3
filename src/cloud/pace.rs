//! Pacing: a token bucket per EC2 action (as EC2 throttles), for classic ELB's reads and
//! its writes, and per other service, sized after AWS's published request-rate limits
//! (estimates where AWS publishes none),
//! so that polling many services at once stays under them instead of being throttled.
//! (The SDK still retries throttling errors with backoff; pacing avoids causing them.)
//!
//! AWS's budget is per account and region, shared with every other process that calls it
//! (Jenkins runs jobs in parallel). Each process only sees its own requests, so the bucket
//! also adapts: AIMD, as TCP does. A throttled answer halves the family's refill rate and
//! empties its bucket; every answer that is not throttled adds back a fiftieth of the
//! published rate, down to a tenth of it at most.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock, so that tests can run it paused.
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// EC2 non-mutating: bucket 100, refill 20/s (per action on AWS; drydock keeps one
    /// bucket for all its reads, which is stricter).
    Ec2Read,
    /// An EC2 mutating action, by name: EC2 throttles each API on its own bucket (50,
    /// 5/s), so a lease lock, a release's launch template and a heartbeat's tags do not
    /// queue behind each other.
    Ec2Write(&'static str),
    /// Classic ELB non-mutating actions: 40, 10/s (the ELB documentation's example of its
    /// token buckets).
    ElbRead,
    /// Classic ELB mutating actions: a bucket of their own, ~40, 10/s (not published).
    ElbWrite,
    /// Auto Scaling: ~40, 10/s for reads and writes together (AWS publishes none).
    AsgRead,
    AsgWrite,
    /// CloudWatch DescribeAlarms: the default quota is 9 requests per second.
    CwRead,
}

/// A token bucket: one per EC2 action (as EC2 documents its throttling), classic ELB's
/// reads and writes (its documentation names the bucket of non-mutating actions), one for
/// Auto Scaling (which publishes nothing) and CloudWatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Ec2Read,
    Ec2Write(&'static str),
    ElbRead,
    ElbWrite,
    Asg,
    Cw,
}

impl Api {
    /// The bucket a call of this family takes a token from: (bucket, size, refill/s),
    /// the size less a reserve (`usable`).
    fn bucket(self) -> (Key, f64, f64) {
        let (key, published, rate) = self.published();
        (key, usable(published), rate)
    }

    /// AWS's bucket for this family: (bucket, size, refill/s).
    fn published(self) -> (Key, f64, f64) {
        match self {
            Api::Ec2Read => (Key::Ec2Read, 100.0, 20.0),
            // RunInstances has a smaller request bucket of its own.
            Api::Ec2Write("RunInstances") => (Key::Ec2Write("RunInstances"), 5.0, 2.0),
            Api::Ec2Write(action) => (Key::Ec2Write(action), 50.0, 5.0),
            Api::ElbRead => (Key::ElbRead, 40.0, 10.0),
            Api::ElbWrite => (Key::ElbWrite, 40.0, 10.0),
            Api::AsgRead | Api::AsgWrite => (Key::Asg, 40.0, 10.0),
            Api::CwRead => (Key::Cw, 9.0, 9.0),
        }
    }
}

/// drydock leaves a tenth of each burst (at least one token) unused. Its requests leave
/// paced, but arrive at AWS with jitter: two sent 0.1 s apart may arrive 0.05 s apart, and
/// once both buckets are empty at the same rate that is a throttle. The reserve absorbs
/// jitter of up to reserve / rate seconds (4 tokens at 10/s: 0.4 s).
fn usable(published: f64) -> f64 {
    published - (published / 10.0).floor().max(1.0)
}

/// The tokens a process starts with. Auto Scaling's budget is not published and shared by
/// every process of the account; Jenkins starts jobs together, and three drydock processes
/// that each spent a full burst at once (each service's CreateAutoScalingGroup and
/// metrics) were throttled on 2.7 % of their requests. So a process starts with a third of
/// it and earns the rest at the refill rate, as TCP starts slowly; the burst counts only at
/// the start of a rollout, where creating the groups waits on EC2's per-action buckets
/// anyway (100 launch templates at 5/s).
fn start(key: Key, usable: f64) -> f64 {
    match key {
        Key::Asg => (usable / 3.0).floor(),
        _ => usable,
    }
}

/// The `&'static` name of an EC2 action the SDK reports at run time (the interceptor sees
/// it as a borrowed string): interned once per distinct action, a bounded set.
pub fn ec2_action(name: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::OnceLock;
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = names.get(name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(n);
    n
}

/// Work of a cluster whose switch is still to come (`Gate::critical`, held by the
/// cluster's lease until its executor passes the switch). While any is pending,
/// bookkeeping leaves half of each bucket to it; once none is, bookkeeping may use the
/// whole budget (at the end of a rollout, the last services' suspends and history).
pub struct Critical {
    pacer: Arc<Pacer>,
    done: AtomicBool,
}

impl Critical {
    pub fn new(pacer: Arc<Pacer>) -> Self {
        pacer.critical.fetch_add(1, Ordering::SeqCst);
        Critical { pacer, done: Default::default() }
    }

    /// The switch is behind: what is left of this work is bookkeeping.
    pub fn done(&self) {
        if !self.done.swap(true, Ordering::SeqCst) {
            self.pacer.critical.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Critical {
    fn drop(&mut self) {
        self.done();
    }
}

tokio::task_local! {
    /// Set on work that no switch waits for (standby suspend, history, deleting old
    /// releases, the lease's heartbeat): it leaves half of each burst to the rest.
    static BOOKKEEPING: bool;
}

/// Runs `f` as bookkeeping: while a switch is still to come (`Critical`), its calls take
/// a token only while the bucket holds more than half its burst, so that a switch of
/// another service never queues behind them.
pub async fn bookkeeping<F: std::future::Future>(f: F) -> F::Output {
    BOOKKEEPING.scope(true, f).await
}

pub fn is_bookkeeping() -> bool {
    BOOKKEEPING.try_with(|b| *b).unwrap_or(false)
}

struct Bucket {
    tokens: f64,
    last: Instant,
    /// The share of the published rate this process uses now (AIMD), in [MIN_SHARE, 1].
    share: f64,
}

const MIN_SHARE: f64 = 0.1;
const INCREASE: f64 = 0.02;

#[derive(Default)]
pub struct Pacer {
    buckets: Mutex<HashMap<Key, Bucket>>,
    /// Pending `Critical` work.
    critical: AtomicUsize,
}

impl Pacer {
    /// How long to wait before a call of `api` at `now`; takes its token if none.
    /// Bookkeeping leaves half of each bucket to pending critical work; a spare call
    /// waits for a full bucket meanwhile (`take_spare`).
    fn try_take(&self, api: Api, now: Instant, lane: Lane) -> Option<Duration> {
        let lane = if self.critical.load(Ordering::SeqCst) > 0 { lane } else { Lane::Now };
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (key, size, rate) = api.bucket();
        let need = match lane {
            Lane::Now => 1.0,
            Lane::Bookkeeping => 1.0 + (size / 2.0).floor(),
            Lane::Spare => size,
        };
        let b = map.entry(key).or_insert(Bucket { tokens: start(key, size), last: now, share: 1.0 });
        let rate = rate * b.share;
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(size);
        b.last = now;
        if b.tokens < need {
            return Some(Duration::from_secs_f64((need - b.tokens) / rate));
        }
        b.tokens -= 1.0;
        None
    }

    /// AWS throttled a call of `api`: multiplicative decrease.
    pub fn throttled(&self, api: Api) {
        self.adapt(api, |b| {
            b.share = (b.share * 0.5).max(MIN_SHARE);
            b.tokens = b.tokens.min(0.0);
        });
    }

    /// AWS answered a call of `api` without throttling it: additive increase.
    pub fn answered(&self, api: Api) {
        self.adapt(api, |b| b.share = (b.share + INCREASE).min(1.0));
    }

    fn adapt(&self, api: Api, f: impl Fn(&mut Bucket)) {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (key, size, _) = api.bucket();
        f(map.entry(key).or_insert(Bucket { tokens: start(key, size), last: Instant::now(), share: 1.0 }));
    }

    /// The share of `api`'s published rate this process uses now.
    pub fn share(&self, api: Api) -> f64 {
        let map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&api.bucket().0).map(|b| b.share).unwrap_or(1.0)
    }

    /// The rate (requests per second) this process allows itself for `api` now: AWS's
    /// published rate times the AIMD share.
    pub fn rate(&self, api: Api) -> f64 {
        api.published().2 * self.share(api)
    }

    /// Waits for a token of `api`.
    pub async fn take(&self, api: Api) {
        let lane = if is_bookkeeping() { Lane::Bookkeeping } else { Lane::Now };
        while let Some(wait) = self.try_take(api, Instant::now(), lane) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits for a token of `api` for a batch that grows while it waits (group tags):
    /// while a switch is still to come, it takes one only from a full bucket, where a
    /// token not spent now would be lost, until `enough()` (a call's worth queued) or
    /// `SPARE_HOLD` has passed; then as bookkeeping. So the batch costs no call that a
    /// switch could have had, and fewer calls carry more (issue 13: at 100 services, the
    /// first switches' tags went one call each while the bucket was still above half).
    pub async fn take_spare(&self, api: Api, enough: impl Fn() -> bool) {
        let until = Instant::now() + SPARE_HOLD;
        loop {
            let now = Instant::now();
            let lane = if now >= until || enough() { Lane::Bookkeeping } else { Lane::Spare };
            match self.try_take(api, now, lane) {
                None => return,
                // `enough` can change without a token coming: look again after a tick.
                Some(wait) => tokio::time::sleep(wait.min(SPARE_TICK)).await,
            }
        }
    }
}

/// How a call takes its token: at once; as bookkeeping (`bookkeeping`); or, for a batch
/// that grows while it waits, from spare tokens only (`Pacer::take_spare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    Now,
    Bookkeeping,
    Spare,
}

/// The longest a spare batch waits for a full bucket or a call's worth: a few health
/// rounds of a standby left unsuspended would be worth more than the calls it saves.
const SPARE_HOLD: Duration = Duration::from_secs(5);
const SPARE_TICK: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let p = Pacer::default();
        let t0 = Instant::now();
        // ELB: 40, less the reserve of 4.
        for _ in 0..36 {
            assert_eq!(p.try_take(Api::ElbRead, t0, Lane::Now), None, "the burst");
        }
        let wait = p.try_take(Api::ElbRead, t0, Lane::Now).expect("empty");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "10/s: {wait:?}");
        // 0.5 s later, 5 tokens have come back.
        let t1 = t0 + Duration::from_millis(500);
        for _ in 0..5 {
            assert_eq!(p.try_take(Api::ElbRead, t1, Lane::Now), None);
        }
        assert!(p.try_take(Api::ElbRead, t1, Lane::Now).is_some());
        // Families are independent.
        assert_eq!(p.try_take(Api::Ec2Read, t1, Lane::Now), None);
    }

    #[test]
    fn bookkeeping_leaves_half_the_burst_to_the_rest() {
        let p = Arc::new(Pacer::default());
        let pending = Critical::new(p.clone());
        let t0 = Instant::now();
        // Classic ELB writes: burst 36 usable. Bookkeeping takes tokens while more than 18 are left.
        for _ in 0..18 {
            assert_eq!(p.try_take(Api::ElbWrite, t0, Lane::Bookkeeping), None);
        }
        let wait = p.try_take(Api::ElbWrite, t0, Lane::Bookkeeping).expect("bookkeeping waits at half");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "one token at 10/s: {wait:?}");
        // The other half is the switches'.
        for _ in 0..18 {
            assert_eq!(p.try_take(Api::ElbWrite, t0, Lane::Now), None);
        }
        assert!(p.try_take(Api::ElbWrite, t0, Lane::Now).is_some());
        drop(pending);
    }

    #[test]
    fn once_no_switch_is_to_come_bookkeeping_uses_the_whole_bucket() {
        let p = Arc::new(Pacer::default());
        let (a, b) = (Critical::new(p.clone()), Critical::new(p.clone()));
        let t0 = Instant::now();
        for _ in 0..18 {
            assert_eq!(p.try_take(Api::ElbWrite, t0, Lane::Bookkeeping), None);
        }
        assert!(p.try_take(Api::ElbWrite, t0, Lane::Bookkeeping).is_some(), "two switches to come: half");
        a.done();
        a.done();
        assert!(
            p.try_take(Api::ElbWrite, t0, Lane::Bookkeeping).is_some(),
            "done twice counts once: one still to come"
        );
        drop(b);
        for _ in 0..18 {
            assert_eq!(p.try_take(Api::ElbWrite, t0, Lane::Bookkeeping), None, "none to come: the rest of the burst");
        }
        assert!(p.try_take(Api::ElbWrite, t0, Lane::Bookkeeping).is_some());
        drop(a);
        assert_eq!(p.critical.load(Ordering::SeqCst), 0, "a dropped guard that was done counts nothing");
    }

    #[test]
    fn a_spare_call_takes_only_a_token_that_a_full_bucket_would_lose() {
        let p = Arc::new(Pacer::default());
        let t0 = Instant::now();
        // No switch to come: a spare call goes at once.
        assert_eq!(p.try_take(Api::ElbWrite, t0, Lane::Spare), None);
        let pending = Critical::new(p.clone());
        let wait = p.try_take(Api::ElbWrite, t0, Lane::Spare).expect("35 of 36 left: not full");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "full again in one token at 10/s: {wait:?}");
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(p.try_take(Api::ElbWrite, t1, Lane::Spare), None, "full: the token would be lost");
        // Below full, bookkeeping still goes (down to half), and a switch always.
        assert!(p.try_take(Api::ElbWrite, t1, Lane::Spare).is_some());
        assert_eq!(p.try_take(Api::ElbWrite, t1, Lane::Bookkeeping), None);
        assert_eq!(p.try_take(Api::ElbWrite, t1, Lane::Now), None);
        drop(pending);
        assert_eq!(p.try_take(Api::ElbWrite, t1, Lane::Spare), None, "the last switch is behind");
    }

    #[tokio::test(start_paused = true)]
    async fn a_spare_call_waits_for_a_calls_worth_or_its_hold() {
        let p = Arc::new(Pacer::default());
        let _pending = Critical::new(p.clone());
        // Switches keep the bucket at 26 of 36: they spend what it earns, 10/s.
        for _ in 0..10 {
            p.take(Api::ElbWrite).await;
        }
        let t0 = Instant::now();
        let busy = async {
            while t0.elapsed() < SPARE_HOLD * 2 {
                p.take(Api::ElbWrite).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        // A call's worth queues at 1 s.
        let worth = async {
            p.take_spare(Api::ElbWrite, || t0.elapsed() >= Duration::from_secs(1)).await;
            t0.elapsed()
        };
        // Nothing more queues: the hold ends the wait.
        let held = async {
            p.take_spare(Api::ElbWrite, || false).await;
            t0.elapsed()
        };
        let (worth, held, ()) = tokio::join!(worth, held, busy);
        assert!(worth >= Duration::from_secs(1) && worth < Duration::from_millis(1200), "{worth:?}");
        assert!(held >= SPARE_HOLD && held < SPARE_HOLD + Duration::from_millis(200), "{held:?}");
    }

    #[tokio::test]
    async fn bookkeeping_is_known_inside_its_scope_only() {
        assert!(!is_bookkeeping());
        assert!(bookkeeping(async { is_bookkeeping() }).await);
        assert!(!is_bookkeeping());
    }

    #[test]
    fn a_throttle_halves_the_rate_and_answers_bring_it_back() {
        let p = Pacer::default();
        let t0 = Instant::now();
        assert_eq!(p.try_take(Api::Ec2Write("CreateTags"), t0, Lane::Now), None);
        p.throttled(Api::Ec2Write("CreateTags"));
        assert_eq!(p.share(Api::Ec2Write("CreateTags")), 0.5);
        // The bucket is empty: the next token comes at half of 5/s.
        let wait = p.try_take(Api::Ec2Write("CreateTags"), t0, Lane::Now).expect("emptied");
        assert!((wait.as_secs_f64() - 0.4).abs() < 1e-6, "{wait:?}");
        for _ in 0..10 {
            p.throttled(Api::Ec2Write("CreateTags"));
        }
        assert_eq!(p.share(Api::Ec2Write("CreateTags")), MIN_SHARE, "never below a tenth");
        for _ in 0..100 {
            p.answered(Api::Ec2Write("CreateTags"));
        }
        assert_eq!(p.share(Api::Ec2Write("CreateTags")), 1.0, "back to the published rate, not above");
        // Other families are not slowed by it.
        p.throttled(Api::Ec2Write("CreateTags"));
        assert_eq!(p.share(Api::Ec2Read), 1.0);
    }

    #[test]
    fn auto_scaling_reads_and_writes_share_the_services_budget() {
        let p = Pacer::default();
        let t0 = Instant::now();
        // A process starts with a third of the 36 usable tokens: 12.
        for _ in 0..6 {
            assert_eq!(p.try_take(Api::AsgWrite, t0, Lane::Now), None);
            assert_eq!(p.try_take(Api::AsgRead, t0, Lane::Now), None);
        }
        let wait = p.try_take(Api::AsgRead, t0, Lane::Now).expect("the service's bucket is empty");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "10/s: {wait:?}");
        assert!(p.try_take(Api::AsgWrite, t0, Lane::Now).is_some());
        // EC2 is not touched by it.
        assert_eq!(p.try_take(Api::Ec2Write("CreateTags"), t0, Lane::Now), None);
    }

    #[test]
    fn auto_scaling_starts_with_a_third_of_its_burst_and_earns_the_rest() {
        let p = Pacer::default();
        let t0 = Instant::now();
        for _ in 0..12 {
            assert_eq!(p.try_take(Api::AsgWrite, t0, Lane::Now), None);
        }
        assert!(p.try_take(Api::AsgWrite, t0, Lane::Now).is_some(), "12 at the start");
        // 10/s: after 10 s the full 36 usable tokens, never more.
        let later = t0 + Duration::from_secs(10);
        for _ in 0..36 {
            assert_eq!(p.try_take(Api::AsgRead, later, Lane::Now), None);
        }
        assert!(p.try_take(Api::AsgRead, later, Lane::Now).is_some());
        // Published budgets start full: EC2 reads.
        for _ in 0..90 {
            assert_eq!(p.try_take(Api::Ec2Read, t0, Lane::Now), None);
        }
    }

    #[test]
    fn classic_elb_writes_do_not_queue_behind_its_reads() {
        let p = Pacer::default();
        let t0 = Instant::now();
        for _ in 0..36 {
            assert_eq!(p.try_take(Api::ElbRead, t0, Lane::Now), None);
        }
        assert!(p.try_take(Api::ElbRead, t0, Lane::Now).is_some(), "reads: 36 usable");
        // A history record is not behind 36 health reads.
        assert_eq!(p.try_take(Api::ElbWrite, t0, Lane::Now), None);
    }

    #[test]
    fn a_reserve_of_a_tenth_is_left_for_jitter() {
        assert_eq!(usable(40.0), 36.0);
        assert_eq!(usable(50.0), 45.0);
        assert_eq!(usable(100.0), 90.0);
        assert_eq!(usable(5.0), 4.0, "at least one token");
        assert_eq!(usable(9.0), 8.0);
    }

    #[test]
    fn each_ec2_action_has_its_own_bucket() {
        let p = Pacer::default();
        let t0 = Instant::now();
        let lock = Api::Ec2Write(ec2_action("CreateLaunchTemplate"));
        for _ in 0..45 {
            assert_eq!(p.try_take(lock, t0, Lane::Now), None, "the burst less the reserve");
        }
        assert!(p.try_take(Api::Ec2Write("CreateLaunchTemplate"), t0, Lane::Now).is_some(), "interned: one bucket");
        assert_eq!(p.try_take(Api::Ec2Write("CreateTags"), t0, Lane::Now), None, "another action's bucket is full");
        // A throttle of one action slows that action only.
        p.throttled(Api::Ec2Write(ec2_action("CreateTags")));
        assert_eq!(p.share(Api::Ec2Write("CreateTags")), 0.5);
        assert_eq!(p.share(lock), 1.0);
        assert!(std::ptr::eq(ec2_action("DeleteTags"), ec2_action(&String::from("DeleteTags"))));
    }
}
