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
    /// CloudWatch DescribeAlarms: the default quota is 9 requests per second.
    CwRead,
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
            Api::CwRead => (9.0, 9.0),
        }
    }
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
    fn try_take(&self, api: Api, now: Instant) -> Option<Duration> {
        let (size, rate) = api.limits();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.entry(api).or_insert(Bucket { tokens: size, last: now });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(size);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }

    /// Waits for a token of `api`.
    pub async fn take(&self, api: Api) {
        while let Some(wait) = self.try_take(api, Instant::now()) {
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
            assert_eq!(p.try_take(Api::ElbRead, t0), None, "the burst");
        }
        let wait = p.try_take(Api::ElbRead, t0).expect("empty");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "10/s: {wait:?}");
        // 0.5 s later, 5 tokens have come back.
        let t1 = t0 + Duration::from_millis(500);
        for _ in 0..5 {
            assert_eq!(p.try_take(Api::ElbRead, t1), None);
        }
        assert!(p.try_take(Api::ElbRead, t1).is_some());
        // Families are independent.
        assert_eq!(p.try_take(Api::Ec2Read, t1), None);
    }
}
