//! The wall clock. Durations (waits, elapsed time) use the monotonic clock.
//!
//! A build with the cargo feature `test-hooks` (off by default; `make test` and the
//! integration tests turn it on) also reads `DRYDOCK_FAKE_NOW=<seconds since the epoch>`,
//! which fixes every time drydock writes (tags, progress timestamps, expiries), so that
//! output snapshots are stable across runs. A normal or release build never reads it:
//! a value left in a CI environment cannot move gc's expiry.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> SystemTime {
    hooks::fake_now().unwrap_or_else(SystemTime::now)
}

/// Seconds since the epoch.
pub fn unix() -> i64 {
    now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(feature = "test-hooks")]
mod hooks {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    pub fn fake_now() -> Option<SystemTime> {
        let secs = std::env::var("DRYDOCK_FAKE_NOW").ok()?.parse::<u64>().ok()?;
        Some(UNIX_EPOCH + Duration::from_secs(secs))
    }
}

#[cfg(not(feature = "test-hooks"))]
mod hooks {
    use std::time::SystemTime;

    /// Without the feature there is no hook: the environment is not even read.
    pub fn fake_now() -> Option<SystemTime> {
        None
    }
}
