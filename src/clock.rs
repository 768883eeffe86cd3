//! The wall clock, injectable: `DRYDOCK_FAKE_NOW=<seconds since the epoch>` fixes every
//! time drydock writes (tags, progress timestamps, expiries), so that output snapshots
//! are stable across runs. Durations (waits, elapsed time) use the monotonic clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now() -> SystemTime {
    match std::env::var("DRYDOCK_FAKE_NOW").ok().and_then(|v| v.parse::<u64>().ok()) {
        Some(secs) => UNIX_EPOCH + Duration::from_secs(secs),
        None => SystemTime::now(),
    }
}

/// Seconds since the epoch.
pub fn unix() -> i64 {
    now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
