//! Pacing: a token bucket per API family, sized after AWS's published request-rate limits,
//! so that polling many services at once stays under them instead of being throttled.
//! (The SDK still retries throttling errors with backoff; pacing avoids causing them.)
//!
//! AWS's budget is per account and region, shared with every other process that calls it
//! (Jenkins runs jobs in parallel). Each process only sees its own requests, so the bucket
//! also adapts: AIMD, as TCP does. A throttled answer halves the family's refill rate and
//! empties its bucket; every answer that is not throttled adds back a fiftieth of the
//! published rate, down to a tenth of it at most.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// EC2 non-mutating: bucket 100, refill 20/s.
    Ec2Read,
    /// EC2 mutating: bucket 50, refill 5/s.
    Ec2Write,
    /// Classic ELB reads: ~40, 10/s.
    ElbRead,
    ElbWrite,
    /// Auto Scaling (no published bucket; the same as classic ELB is safe).
    AsgRead,
    AsgWrite,
    /// CloudWatch DescribeAlarms: the default quota is 9 requests per second.
    CwRead,
}

/// A token bucket. Auto Scaling and classic ELB have one budget per service that reads
/// and writes share (the test world's model; AWS publishes none), and writes a smaller
/// one of their own on top; EC2 publishes separate read and write buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Ec2Read,
    Ec2Write,
    Elb,
    ElbWrite,
    Asg,
    AsgWrite,
    Cw,
}

impl Api {
    /// The buckets a call of this family takes a token from: (bucket, size, refill/s).
    fn buckets(self) -> &'static [(Key, f64, f64)] {
        match self {
            Api::Ec2Read => &[(Key::Ec2Read, 100.0, 20.0)],
            Api::Ec2Write => &[(Key::Ec2Write, 50.0, 5.0)],
            Api::ElbRead => &[(Key::Elb, 40.0, 10.0)],
            Api::ElbWrite => &[(Key::Elb, 40.0, 10.0), (Key::ElbWrite, 20.0, 5.0)],
            Api::AsgRead => &[(Key::Asg, 40.0, 10.0)],
            Api::AsgWrite => &[(Key::Asg, 40.0, 10.0), (Key::AsgWrite, 20.0, 5.0)],
            Api::CwRead => &[(Key::Cw, 9.0, 9.0)],
        }
    }
}

tokio::task_local! {
    /// Set on work that no switch waits for (standby suspend, history, deleting old
    /// releases, the lease's heartbeat): it leaves half of each burst to the rest.
    static BOOKKEEPING: bool;
}

/// Runs `f` as bookkeeping: its calls take a token only while the bucket holds more than
/// half its burst, so that a switch of another service never queues behind them.
pub async fn bookkeeping<F: std::future::Future>(f: F) -> F::Output {
    BOOKKEEPING.scope(true, f).await
}

fn is_bookkeeping() -> bool {
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
}

impl Pacer {
    /// How long to wait before a call of `api` at `now`; takes its tokens (one of each of
    /// its buckets) if none. Bookkeeping (`low`) leaves half of each bucket to the rest.
    fn try_take(&self, api: Api, now: Instant, low: bool) -> Option<Duration> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait: Option<Duration> = None;
        for &(key, size, rate) in api.buckets() {
            let need = if low { 1.0 + (size / 2.0).floor() } else { 1.0 };
            let b = map.entry(key).or_insert(Bucket { tokens: size, last: now, share: 1.0 });
            let rate = rate * b.share;
            let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
            b.tokens = (b.tokens + elapsed * rate).min(size);
            b.last = now;
            if b.tokens < need {
                let w = Duration::from_secs_f64((need - b.tokens) / rate);
                wait = Some(wait.map_or(w, |x| x.max(w)));
            }
        }
        if wait.is_none() {
            for &(key, _, _) in api.buckets() {
                if let Some(b) = map.get_mut(&key) {
                    b.tokens -= 1.0;
                }
            }
        }
        wait
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
        for &(key, size, _) in api.buckets() {
            f(map.entry(key).or_insert(Bucket { tokens: size, last: Instant::now(), share: 1.0 }));
        }
    }

    /// The share of `api`'s published rate this process uses now (its most slowed bucket).
    pub fn share(&self, api: Api) -> f64 {
        let map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        api.buckets().iter().map(|(k, _, _)| map.get(k).map(|b| b.share).unwrap_or(1.0)).fold(1.0, f64::min)
    }

    /// Waits for a token of `api`.
    pub async fn take(&self, api: Api) {
        let low = is_bookkeeping();
        while let Some(wait) = self.try_take(api, Instant::now(), low) {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let p = Pacer::default();
        let t0 = Instant::now();
        for _ in 0..40 {
            assert_eq!(p.try_take(Api::ElbRead, t0, false), None, "the burst");
        }
        let wait = p.try_take(Api::ElbRead, t0, false).expect("empty");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "10/s: {wait:?}");
        // 0.5 s later, 5 tokens have come back.
        let t1 = t0 + Duration::from_millis(500);
        for _ in 0..5 {
            assert_eq!(p.try_take(Api::ElbRead, t1, false), None);
        }
        assert!(p.try_take(Api::ElbRead, t1, false).is_some());
        // Families are independent.
        assert_eq!(p.try_take(Api::Ec2Read, t1, false), None);
    }

    #[test]
    fn bookkeeping_leaves_half_the_burst_to_the_rest() {
        let p = Pacer::default();
        let t0 = Instant::now();
        // AsgWrite: burst 20. Bookkeeping takes tokens while more than 10 are left.
        for _ in 0..10 {
            assert_eq!(p.try_take(Api::AsgWrite, t0, true), None);
        }
        let wait = p.try_take(Api::AsgWrite, t0, true).expect("bookkeeping waits at half");
        assert!((wait.as_secs_f64() - 0.2).abs() < 1e-6, "one token at 5/s: {wait:?}");
        // The other half is the switches'.
        for _ in 0..10 {
            assert_eq!(p.try_take(Api::AsgWrite, t0, false), None);
        }
        assert!(p.try_take(Api::AsgWrite, t0, false).is_some());
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
        assert_eq!(p.try_take(Api::Ec2Write, t0, false), None);
        p.throttled(Api::Ec2Write);
        assert_eq!(p.share(Api::Ec2Write), 0.5);
        // The bucket is empty: the next token comes at half of 5/s.
        let wait = p.try_take(Api::Ec2Write, t0, false).expect("emptied");
        assert!((wait.as_secs_f64() - 0.4).abs() < 1e-6, "{wait:?}");
        for _ in 0..10 {
            p.throttled(Api::Ec2Write);
        }
        assert_eq!(p.share(Api::Ec2Write), MIN_SHARE, "never below a tenth");
        for _ in 0..100 {
            p.answered(Api::Ec2Write);
        }
        assert_eq!(p.share(Api::Ec2Write), 1.0, "back to the published rate, not above");
        // Other families are not slowed by it.
        p.throttled(Api::Ec2Write);
        assert_eq!(p.share(Api::Ec2Read), 1.0);
    }

    #[test]
    fn auto_scaling_reads_and_writes_share_the_services_budget() {
        let p = Pacer::default();
        let t0 = Instant::now();
        // 20 writes (the write bucket's burst) and 20 reads empty the service's 40.
        for _ in 0..20 {
            assert_eq!(p.try_take(Api::AsgWrite, t0, false), None);
            assert_eq!(p.try_take(Api::AsgRead, t0, false), None);
        }
        let wait = p.try_take(Api::AsgRead, t0, false).expect("the service's bucket is empty");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "10/s: {wait:?}");
        // A write waits for the slower of its two buckets: its own at 5/s.
        let wait = p.try_take(Api::AsgWrite, t0, false).expect("empty");
        assert!((wait.as_secs_f64() - 0.2).abs() < 1e-6, "{wait:?}");
        // EC2 is not touched by it.
        assert_eq!(p.try_take(Api::Ec2Write, t0, false), None);
    }
}
