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

    pub fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }
    pub fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }
    pub fn std(&self) -> std::time::Duration {
        self.0
    }
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
}
