//! The wall clock. Durations (waits, elapsed time) use the monotonic clock.
//!
//! A build with the cargo feature `test-hooks` (off by default; `make test` and the
//! integration tests turn it on) also reads `DRYDOCK_FAKE_NOW=<seconds since the epoch>`,
//! which fixes every time drydock writes (tags, progress timestamps, expiries), so that
//! output snapshots are stable across runs. A normal or release build never reads it:
//! a value left in a CI environment cannot move gc's expiry.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The first second of the year 10000: later times have no RFC 3339 spelling (and a
/// `SystemTime` that far out overflows on some platforms).
pub const YEAR_10000: u64 = 253_402_300_800;

pub fn now() -> SystemTime {
    hooks::fake_now().unwrap_or_else(SystemTime::now)
}

/// Seconds since the epoch.
pub fn unix() -> i64 {
    now().duration_since(UNIX_EPOCH).ok().and_then(|d| i64::try_from(d.as_secs()).ok()).unwrap_or(0)
}

/// `after` from now on the monotonic clock, saturating instead of panicking (`Instant +
/// Duration` panics on overflow). Every duration of the config is bounded far below that;
/// this is the second line of defence.
pub fn deadline(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after).or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400))).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_never_overflows() {
        let before = Instant::now();
        assert!(deadline(Duration::from_secs(5)) >= before + Duration::from_secs(5));
        // `Instant::now() + Duration::MAX` panics ("overflow when adding duration to instant").
        assert!(deadline(Duration::MAX) > before + Duration::from_secs(86_400));
        assert!(deadline(Duration::from_secs(106_751_991_167_301 * 86_400)) > before);
    }
}

#[cfg(feature = "test-hooks")]
mod hooks {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// A value past the year 9999 is ignored (no overflow, no unprintable time).
    pub fn fake_now() -> Option<SystemTime> {
        let secs = std::env::var("DRYDOCK_FAKE_NOW").ok()?.parse::<u64>().ok()?;
        if secs >= super::YEAR_10000 {
            return None;
        }
        UNIX_EPOCH.checked_add(Duration::from_secs(secs))
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
