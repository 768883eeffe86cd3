//! Pacing: a token bucket per API family, sized after AWS's published request-rate limits,
//! so that polling many services at once stays under them instead of being throttled.
//! (The SDK still retries throttling errors with backoff; pacing avoids causing them.)

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
}

impl Api {
    /// (bucket size, refill per second)
    pub fn limits(self) -> (f64, f64) {
        match self {
            Api::Ec2Read => (100.0, 20.0),
            Api::Ec2Write => (50.0, 5.0),
            Api::ElbRead => (40.0, 10.0),
            Api::ElbWrite => (20.0, 5.0),
            Api::AsgRead => (40.0, 10.0),
            Api::AsgWrite => (20.0, 5.0),
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
}

#[derive(Default)]
pub struct Pacer {
    buckets: Mutex<HashMap<Api, Bucket>>,
}

impl Pacer {
    /// How long to wait before a call of `api` at `now`; takes the token if none.
    /// Bookkeeping needs `reserve` more tokens in the bucket than the token it takes.
    fn try_take(&self, api: Api, now: Instant, low: bool) -> Option<Duration> {
        let (size, rate) = api.limits();
        let need = if low { 1.0 + (size / 2.0).floor() } else { 1.0 };
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.entry(api).or_insert(Bucket { tokens: size, last: now });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(size);
        b.last = now;
        if b.tokens >= need {
            b.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((need - b.tokens) / rate))
        }
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
}
