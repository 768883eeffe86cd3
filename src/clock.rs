//! The wall clock, injectable: `DRYDOCK_FAKE_NOW=<seconds since the epoch>` fixes every
//! time drydock writes (tags, progress timestamps, expiries), so that output snapshots
//! are stable across runs. Durations (waits, elapsed time) use the monotonic clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The first second of the year 10000: later times have no RFC 3339 spelling (and a
/// `SystemTime` that far out overflows on some platforms).
pub const YEAR_10000: u64 = 253_402_300_800;

pub fn now() -> SystemTime {
    let fake = std::env::var("DRYDOCK_FAKE_NOW")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s < YEAR_10000)
        .and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)));
    fake.unwrap_or_else(SystemTime::now)
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
