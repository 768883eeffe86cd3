//! CloudWatch alarms as drydock's gates (issue #17, progressive delivery): the alarm-name
//! grammar, an observed alarm, and the pure decisions over them (the gate before a
//! deploy, and the watch during a canary hold or the bake time).

use std::collections::BTreeSet;
use std::fmt;

/// A CloudWatch alarm name as `alarms = [...]` and `--ignore-alarms` give it: 1 to 255
/// characters (PutMetricAlarm's limit), no control characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlarmName(String);

impl AlarmName {
    pub const RULE: &'static str = "a CloudWatch alarm name is 1 to 255 characters without control characters";

    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if n == 0 || n > 255 {
            return Err(format!("{s:?} ({n} characters) is not a valid alarm name: {}", Self::RULE));
        }
        if s.chars().any(char::is_control) {
            return Err(format!("{s:?} is not a valid alarm name: {}", Self::RULE));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlarmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// CloudWatch's StateValue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OK" => Some(Self::Ok),
            "ALARM" => Some(Self::Alarm),
            "INSUFFICIENT_DATA" => Some(Self::InsufficientData),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// One alarm as DescribeAlarms shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmStatus {
    pub name: AlarmName,
    pub state: AlarmState,
    /// StateReason: CloudWatch's sentence, e.g. "Threshold Crossed: 1 datapoint [12.0] …".
    pub reason: String,
    /// StateUpdatedTimestamp, RFC 3339 UTC: when it entered this state.
    pub since: String,
}

impl AlarmStatus {
    pub fn firing(&self) -> bool {
        self.state == AlarmState::Alarm
    }
}

/// The alarm that decided an outcome: JSON `"alarm": {"name", "reason", "at"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FiredAlarm {
    pub name: String,
    pub reason: String,
    pub at: String,
}

impl From<&AlarmStatus> for FiredAlarm {
    fn from(a: &AlarmStatus) -> Self {
        Self { name: a.name.to_string(), reason: a.reason.clone(), at: a.since.clone() }
    }
}

impl fmt::Display for FiredAlarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "alarm {} is in ALARM since {}: {}", self.name, self.at, self.reason)
    }
}

/// What the alarm gate decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateVerdict {
    /// Nothing firing (or only ignored alarms): go on. `ignored` are the firing alarms
    /// that `--ignore-alarms` named.
    Pass { ignored: Vec<AlarmName> },
    /// Configured alarms that CloudWatch does not have.
    Missing(Vec<AlarmName>),
    /// The first firing alarm (in config order) that was not ignored, and how many fire.
    Firing { first: AlarmStatus, count: usize },
}

/// The gate before any change, and each poll of a watch: every configured alarm must
/// exist; any in ALARM that `ignore` does not name stops the operation. Pure.
pub fn gate(configured: &[AlarmName], observed: &[AlarmStatus], ignore: &BTreeSet<AlarmName>) -> GateVerdict {
    let missing: Vec<AlarmName> =
        configured.iter().filter(|n| !observed.iter().any(|a| &a.name == *n)).cloned().collect();
    if !missing.is_empty() {
        return GateVerdict::Missing(missing);
    }
    let mut firing = configured
        .iter()
        .filter_map(|n| observed.iter().find(|a| &a.name == n))
        .filter(|a| a.firing() && !ignore.contains(&a.name));
    if let Some(first) = firing.next() {
        let count = 1 + firing.count();
        return GateVerdict::Firing { first: first.clone(), count };
    }
    let ignored = configured
        .iter()
        .filter(|n| ignore.contains(*n) && observed.iter().any(|a| &a.name == *n && a.firing()))
        .cloned()
        .collect();
    GateVerdict::Pass { ignored }
}

/// The alarms' states in one short phrase for a progress line: "2 alarms OK" or
/// "www-5xx ALARM, api-latency OK".
pub fn summary(observed: &[AlarmStatus]) -> String {
    if observed.iter().all(|a| a.state == AlarmState::Ok) {
        return format!("{} alarm{} OK", observed.len(), if observed.len() == 1 { "" } else { "s" });
    }
    observed.iter().map(|a| format!("{} {}", a.name, a.state.as_str())).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> AlarmName {
        AlarmName::parse(s).expect("valid alarm name")
    }
    fn status(n: &str, state: AlarmState) -> AlarmStatus {
        AlarmStatus { name: name(n), state, reason: format!("{n} reason"), since: "2026-11-29T22:00:00Z".into() }
    }

    #[test]
    fn alarm_names_follow_cloudwatch_rules() {
        assert!(AlarmName::parse("www-prod 5xx > 10/min").is_ok());
        assert!(AlarmName::parse(&"a".repeat(255)).is_ok());
        assert!(AlarmName::parse(&"a".repeat(256)).is_err());
        assert!(AlarmName::parse("").is_err());
        assert!(AlarmName::parse("tab\there").is_err());
        assert!(AlarmName::parse("new\nline").is_err());
    }

    #[test]
    fn gate_table() {
        let a = name("a");
        let b = name("b");
        let none = BTreeSet::new();
        let ok = vec![status("a", AlarmState::Ok), status("b", AlarmState::InsufficientData)];
        assert_eq!(gate(&[a.clone(), b.clone()], &ok, &none), GateVerdict::Pass { ignored: vec![] });
        // Missing wins over firing: the config is wrong.
        let only_a = vec![status("a", AlarmState::Alarm)];
        assert_eq!(gate(&[a.clone(), b.clone()], &only_a, &none), GateVerdict::Missing(vec![b.clone()]));
        let both = vec![status("b", AlarmState::Alarm), status("a", AlarmState::Alarm)];
        match gate(&[a.clone(), b.clone()], &both, &none) {
            GateVerdict::Firing { first, count } => {
                assert_eq!(first.name, a, "config order decides which alarm is reported");
                assert_eq!(count, 2);
            }
            v => panic!("expected Firing, got {v:?}"),
        }
        let ignore_a: BTreeSet<_> = [a.clone()].into();
        match gate(&[a.clone(), b.clone()], &both, &ignore_a) {
            GateVerdict::Firing { first, count } => assert_eq!((first.name, count), (b.clone(), 1)),
            v => panic!("expected Firing, got {v:?}"),
        }
        let ignore_both: BTreeSet<_> = [a.clone(), b.clone()].into();
        assert_eq!(gate(&[a.clone(), b.clone()], &both, &ignore_both), GateVerdict::Pass { ignored: vec![a, b] });
        assert_eq!(gate(&[], &[], &none), GateVerdict::Pass { ignored: vec![] });
    }

    #[test]
    fn summary_is_short_when_all_ok() {
        assert_eq!(summary(&[status("a", AlarmState::Ok)]), "1 alarm OK");
        assert_eq!(summary(&[status("a", AlarmState::Ok), status("b", AlarmState::Alarm)]), "a OK, b ALARM");
    }
}
