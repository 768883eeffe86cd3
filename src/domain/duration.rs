//! Durations as operators write them in config and flags: `90s`, `10m`, `1h30m`, `2d`.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

impl Duration {
    pub const RULE: &'static str =
        "a duration is one or more <number><unit> with unit s, m, h or d, e.g. 90s, 10m, 1h30m";

    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || format!("{s:?} is not a valid duration: {}", Self::RULE);
        if s.is_empty() {
            return Err(err());
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit: u64 = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => return Err(err()),
            };
            let n: u64 = digits.parse().map_err(|_| err())?;
            digits.clear();
            total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(err)?;
        }
        if !digits.is_empty() {
            return Err(err());
        }
        Ok(Self(std::time::Duration::from_secs(total)))
    }

    /// Parses `s` and checks that it lies in `min..=max`: every duration drydock reads is
    /// bounded by what AWS and the operation allow, so that no later arithmetic on it (an
    /// `Instant` deadline, an `i32` of an AWS field, an expiry in seconds) can overflow.
    pub fn parse_within(s: &str, min: Duration, max: Duration) -> Result<Self, String> {
        let d = Self::parse(s)?;
        if d < min || d > max {
            return Err(format!("{s:?} is out of range: a duration from {min} to {max} is allowed"));
        }
        Ok(d)
    }

    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }
    pub fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }
    pub fn std(&self) -> std::time::Duration {
        self.0
    }
}

/// The range each duration of the config and the flags allows: (min, max), and why.
pub mod bounds {
    use super::Duration;

    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;

    /// `health_timeout`, `--health-timeout`: the wait for a new release to be InService
    /// holds the cluster's lease and keeps the old release serving; a release that is not
    /// healthy within a day never will be.
    pub const HEALTH_TIMEOUT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(DAY));
    /// `grace_period`: the group's HealthCheckGracePeriod (an Int32 of seconds in the API,
    /// which documents no tighter bound). 2 h, as long as a launch lifecycle hook may hold
    /// an instance (HeartbeatTimeout is 30 to 7200 s): a longer grace only hides failures,
    /// since ELB health is ignored meanwhile.
    pub const GRACE_PERIOD: (Duration, Duration) = (Duration::from_secs(0), Duration::from_secs(2 * HOUR));
    /// `[bake] timeout`: a builder that has not powered off in 4 hours is stuck (and costs
    /// money); the bootstrap only pulls one image.
    pub const BAKE_TIMEOUT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(4 * HOUR));
    /// `standby_ttl`: how long a standby group is kept for rollback; a month at most (it
    /// is paid for while it waits).
    pub const STANDBY_TTL: (Duration, Duration) = (Duration::from_secs(0), Duration::from_secs(30 * DAY));
    /// `[nginx] resolver_valid`: ELB addresses change; a longer cache defeats the resolver.
    pub const RESOLVER_VALID: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(HOUR));
    /// `[gc] ami_retention`: up to ten years.
    pub const AMI_RETENTION: (Duration, Duration) = (Duration::from_secs(0), Duration::from_secs(3650 * DAY));
    /// `[healthcheck] interval` and `timeout` (Docker's `--health-interval`/`--health-timeout`).
    pub const HEALTHCHECK: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(HOUR));
    /// `canary.hold`: the canary serves beside the live release, both registered with the
    /// ELB, under the cluster's lease; six hours is a working day's watch at most.
    pub const CANARY_HOLD: (Duration, Duration) = (Duration::from_secs(0), Duration::from_secs(6 * HOUR));
    /// `bake_time`: the command keeps watching (and holds the lease) after the switch.
    pub const BAKE_TIME: (Duration, Duration) = (Duration::from_secs(0), Duration::from_secs(6 * HOUR));
}

impl fmt::Display for Duration {
    /// The shortest canonical spelling: 5400s prints as 1h30m.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.0.as_secs();
        if s == 0 {
            return f.write_str("0s");
        }
        for (unit, secs) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
            if s >= secs {
                write!(f, "{}{unit}", s / secs)?;
                s %= secs;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (text, secs, canon) in
            [("90s", 90, "1m30s"), ("10m", 600, "10m"), ("1h30m", 5400, "1h30m"), ("2d", 172800, "2d"), ("0s", 0, "0s")]
        {
            let d = Duration::parse(text).unwrap();
            assert_eq!(d.as_secs(), secs, "{text}");
            assert_eq!(d.to_string(), canon);
        }
        for bad in ["", "10", "m", "10x", "1.5m", "-5s", "10 m", "99999999999999999999d"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_within_bounds_the_value_and_names_the_range() {
        let (min, max) = bounds::HEALTH_TIMEOUT;
        assert_eq!(Duration::parse_within("10m", min, max).unwrap().as_secs(), 600);
        assert_eq!(Duration::parse_within("1d", min, max).unwrap().as_secs(), 86400);
        // The value of issue 12: parses (it fits a u64 of seconds), overflows an Instant.
        let e = Duration::parse_within("106751991167301d", min, max).unwrap_err();
        assert!(e.contains("\"106751991167301d\" is out of range: a duration from 1s to 1d is allowed"), "{e}");
        assert!(Duration::parse_within("0s", min, max).unwrap_err().contains("out of range"));
        assert!(Duration::parse_within("1d1s", min, max).is_err());
        assert!(Duration::parse_within("soon", min, max).unwrap_err().contains("not a valid duration"));
        let (min, max) = bounds::GRACE_PERIOD;
        assert!(Duration::parse_within("7200s", min, max).is_ok());
        assert!(Duration::parse_within("7201s", min, max).is_err());
    }

    #[test]
    fn every_bound_fits_the_arithmetic_done_with_it() {
        for (min, max) in [
            bounds::HEALTH_TIMEOUT,
            bounds::GRACE_PERIOD,
            bounds::BAKE_TIMEOUT,
            bounds::STANDBY_TTL,
            bounds::RESOLVER_VALID,
            bounds::AMI_RETENTION,
            bounds::HEALTHCHECK,
        ] {
            assert!(min <= max);
            assert!(i32::try_from(max.as_secs()).is_ok(), "{max} fits an AWS Integer field");
            assert!(std::time::Instant::now().checked_add(max.std()).is_some());
        }
    }
}
