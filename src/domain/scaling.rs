//! A release's scaling, as declared per service and environment (`[services.<n>.scaling]`,
//! `[[services.<n>.schedule]]`, `[services.<n>.lifecycle]`): a CPU target-tracking policy,
//! scheduled actions and lifecycle hooks. Every value here has passed its grammar.
//!
//! The declaration is part of a release's identity: its canonical text (`canonical`) is
//! folded into the settings digest (`domain::settings`), so a change of scaling alone is a
//! new release of the same AMI, and a rollback brings back exactly the scaling it ran with.

use super::Duration;

/// The name of the one target-tracking policy drydock puts on a release group.
pub const CPU_POLICY: &str = "drydock-cpu";
/// The lifecycle hook names drydock creates with a release group.
pub const LAUNCH_HOOK: &str = "drydock-launch";
pub const DRAIN_HOOK: &str = "drydock-drain";

/// Processes suspended on a cold standby (scaled to 0): without them a schedule or an
/// alarm would raise it again. Launch and Terminate stay on so that it can scale to 0.
pub const COLD_STANDBY_PROCESSES: [&str; 2] = ["AlarmNotification", "ScheduledActions"];

/// Everything a service declares about scaling in one environment; `Scaling::default()`
/// declares nothing (and adds nothing to the settings digest).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scaling {
    pub cpu: Option<CpuTarget>,
    pub schedules: Vec<Schedule>,
    pub lifecycle: Lifecycle,
}

impl Scaling {
    /// The `drydock:scaling` tag of a release's group: what may change its size by itself
    /// (`cpu`, `schedules`, both, or `none`). A warm standby whose release has neither
    /// is not suspended: nothing would resize it (`ObservedGroup::may_resize`).
    pub fn tag(&self) -> &'static str {
        match (self.cpu.is_some(), !self.schedules.is_empty()) {
            (true, true) => "cpu,schedules",
            (true, false) => "cpu",
            (false, true) => "schedules",
            (false, false) => "none",
        }
    }
}

/// `[services.<n>.scaling]`: target tracking on `ASGAverageCPUUtilization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuTarget {
    /// Percent, 1 to 100.
    pub percent: u32,
    /// EstimatedInstanceWarmup; None leaves the group's default.
    pub warmup: Option<Duration>,
    /// false: DisableScaleIn.
    pub scale_in: bool,
}

/// `[[services.<n>.schedule]]`: a recurring scheduled action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub name: String,
    /// Five cron fields, as written (each field checked by `cron`).
    pub recurrence: String,
    /// An IANA zone name (`Europe/Berlin`, `UTC`); None is UTC.
    pub time_zone: Option<String>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub desired: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookResult {
    Continue,
    Abandon,
}

impl HookResult {
    pub fn as_str(self) -> &'static str {
        match self {
            HookResult::Continue => "CONTINUE",
            HookResult::Abandon => "ABANDON",
        }
    }
}

/// `[services.<n>.lifecycle]`: hooks created with each release group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// A launch hook: instances wait in Pending:Wait up to this long, then `launch_default`.
    pub launch: Option<(Duration, HookResult)>,
    /// A termination hook: instances wait in Terminating:Wait this long, then CONTINUE.
    pub drain: Option<Duration>,
}

/// One lifecycle hook as the group is created with it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hook {
    pub name: String,
    /// `autoscaling:EC2_INSTANCE_LAUNCHING` or `autoscaling:EC2_INSTANCE_TERMINATING`.
    pub transition: String,
    pub heartbeat_s: u64,
    pub default_result: String,
}

impl Scaling {
    pub fn is_empty(&self) -> bool {
        self.cpu.is_none() && self.schedules.is_empty() && self.lifecycle == Lifecycle::default()
    }

    /// The lifecycle hooks of a new release group.
    pub fn hooks(&self) -> Vec<Hook> {
        let mut v = Vec::new();
        if let Some((t, r)) = self.lifecycle.launch {
            v.push(Hook {
                name: LAUNCH_HOOK.into(),
                transition: "autoscaling:EC2_INSTANCE_LAUNCHING".into(),
                heartbeat_s: t.as_secs(),
                default_result: r.as_str().into(),
            });
        }
        if let Some(t) = self.lifecycle.drain {
            v.push(Hook {
                name: DRAIN_HOOK.into(),
                transition: "autoscaling:EC2_INSTANCE_TERMINATING".into(),
                heartbeat_s: t.as_secs(),
                default_result: HookResult::Continue.as_str().into(),
            });
        }
        v
    }

    /// One line per declared item, in a fixed order: what the settings digest covers.
    /// Empty when nothing is declared, so that a service without scaling keeps the digest
    /// it had before scaling existed.
    pub fn canonical(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(c) = &self.cpu {
            lines.push(format!(
                "scaling cpu={} warmup={} scale_in={}",
                c.percent,
                c.warmup.map(|w| w.as_secs().to_string()).unwrap_or_else(|| "-".into()),
                c.scale_in
            ));
        }
        let mut schedules: Vec<&Schedule> = self.schedules.iter().collect();
        schedules.sort_by(|a, b| a.name.cmp(&b.name));
        let opt = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        for s in schedules {
            lines.push(format!(
                "schedule {} recurrence={} tz={} min={} max={} desired={}",
                s.name,
                s.recurrence,
                s.time_zone.as_deref().unwrap_or("UTC"),
                opt(s.min),
                opt(s.max),
                opt(s.desired)
            ));
        }
        for h in self.hooks() {
            lines.push(format!("hook {} {} {} {}", h.name, h.transition, h.heartbeat_s, h.default_result));
        }
        lines
    }
}

/// A scheduled action's name: 1 to 64 of `[A-Za-z0-9._-]`, beginning with a letter or digit.
pub fn schedule_name(s: &str) -> Result<&str, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(s)
    } else {
        Err(format!(
            "{s:?} is not a schedule name: 1 to 64 letters, digits, '.', '_' or '-', beginning with a letter or digit"
        ))
    }
}

/// An IANA time zone name as Auto Scaling takes it: `UTC`, `Etc/GMT+5`, `Europe/Berlin`,
/// `America/Argentina/Buenos_Aires`: up to three `/`-separated parts, each beginning with an
/// upper-case letter, of letters, digits, `_`, `+` and `-`.
pub fn time_zone(s: &str) -> Result<&str, String> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 30
            && p.starts_with(|c: char| c.is_ascii_uppercase())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
    };
    let parts: Vec<&str> = s.split('/').collect();
    if (1..=3).contains(&parts.len()) && parts.iter().all(|p| part_ok(p)) {
        Ok(s)
    } else {
        Err(format!(
            "{s:?} is not a time zone: an IANA name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\""
        ))
    }
}

/// A five-field cron recurrence (minute hour day-of-month month day-of-week), each field
/// `*`, a value, a range `a-b`, any of those with a step `/n`, or a comma list of them;
/// months may be `JAN`–`DEC` and days of the week `SUN`–`SAT` (0–6, 7 is Sunday too).
pub fn cron(s: &str) -> Result<&str, String> {
    const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day of month", 1, 31, &[]),
        ("month", 1, 12, &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
        ("day of week", 0, 7, &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ];
    let rule = "a recurrence is five cron fields separated by single spaces: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of week (0-7 or SUN-SAT); each *, a value, a range a-b, with an optional step /n, or a comma list of them, e.g. \"0 7 * * MON-FRI\"";
    let fields: Vec<&str> = s.split(' ').collect();
    if fields.len() != 5 {
        return Err(format!("{s:?} has {} field(s): {rule}", fields.len()));
    }
    for (f, (what, lo, hi, names)) in fields.iter().zip(FIELDS) {
        let value = |v: &str| -> Option<u32> {
            if !v.is_empty() && v.len() <= 2 && v.chars().all(|c| c.is_ascii_digit()) {
                v.parse::<u32>().ok().filter(|n| (lo..=hi).contains(n))
            } else {
                let up = v.to_ascii_uppercase();
                names.iter().position(|n| *n == up).map(|i| i as u32 + lo)
            }
        };
        let item_ok = |item: &str| -> bool {
            let (range, step) = match item.split_once('/') {
                Some((r, st)) => (r, Some(st)),
                None => (item, None),
            };
            let step_ok = step.is_none_or(|st| {
                !st.is_empty()
                    && st.len() <= 2
                    && st.chars().all(|c| c.is_ascii_digit())
                    && st.parse::<u32>().is_ok_and(|n| n >= 1 && n <= hi)
            });
            let range_ok = match range.split_once('-') {
                _ if range == "*" => true,
                Some((a, b)) => matches!((value(a), value(b)), (Some(a), Some(b)) if a <= b),
                None => value(range).is_some(),
            };
            step_ok && range_ok
        };
        if f.is_empty() || f.len() > 64 || !f.split(',').all(item_ok) {
            return Err(format!("{s:?}: the {what} field {f:?} is not valid: {rule}"));
        }
    }
    Ok(s)
}

/// A scaling policy of a group as AWS describes it (`status`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ObservedPolicy {
    pub name: String,
    /// `TargetTrackingScaling`, `StepScaling`, …
    pub kind: String,
    /// The predefined metric of a target-tracking policy (`ASGAverageCPUUtilization`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_in: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_s: Option<i64>,
}

impl std::fmt::Display for ObservedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.metric.as_deref(), self.target) {
            (Some("ASGAverageCPUUtilization"), Some(t)) => write!(f, "cpu {t}%")?,
            (Some(m), Some(t)) => write!(f, "{m} {t}")?,
            _ => f.write_str(&self.kind)?,
        }
        if self.scale_in == Some(false) {
            f.write_str(" no-scale-in")?;
        }
        Ok(())
    }
}

/// A scheduled action of a group as AWS describes it (`status`): `next_at` is its next
/// run (AWS's StartTime of a recurring action), in Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ObservedSchedule {
    pub name: String,
    pub recurrence: Option<String>,
    pub time_zone: Option<String>,
    pub next_at: Option<i64>,
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub desired: Option<i32>,
}

/// The scheduled action that runs next at or after `now`: the earliest known next run;
/// an action whose next run AWS does not give comes after every known one.
pub fn next_scheduled(actions: &[ObservedSchedule], now: i64) -> Option<&ObservedSchedule> {
    actions
        .iter()
        .filter(|a| a.next_at.is_none_or(|t| t >= now))
        .min_by_key(|a| (a.next_at.is_none(), a.next_at, a.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_fields_are_checked_one_by_one() {
        for ok in ["0 7 * * MON-FRI", "*/5 * * * *", "0 0 1 JAN *", "30 22 * * 0,6", "0 8-18/2 * * 1-5", "0 0 * * 7"] {
            assert_eq!(cron(ok), Ok(ok), "{ok}");
        }
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "60 * * * *",
            "0 24 * * *",
            "0 0 0 * *",
            "0 0 * 13 *",
            "0 0 * * 8",
            "0 0 * * FOO",
            "5-1 * * * *",
            "*/0 * * * *",
            "0  0 * * *",
            "0 0 * * *;",
            "$(x) * * * *",
            "1,,2 * * * *",
            "0 0 ? * *",
        ] {
            assert!(cron(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn time_zones_and_schedule_names() {
        for ok in ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"] {
            assert!(time_zone(ok).is_ok(), "{ok}");
        }
        for bad in ["", "utc", "Europe/", "Europe//Berlin", "Europe/Berlin;x", "A/B/C/D", "Europe/Ber lin"] {
            assert!(time_zone(bad).is_err(), "{bad:?}");
        }
        assert!(schedule_name("business-hours").is_ok());
        assert!(schedule_name("-x").is_err());
        assert!(schedule_name("a b").is_err());
        assert!(schedule_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn nothing_declared_renders_nothing_and_hooks_follow_the_lifecycle() {
        assert!(Scaling::default().canonical().is_empty());
        let s = Scaling {
            cpu: Some(CpuTarget { percent: 60, warmup: None, scale_in: true }),
            schedules: vec![],
            lifecycle: Lifecycle {
                launch: Some((Duration::from_secs(300), HookResult::Abandon)),
                drain: Some(Duration::from_secs(120)),
            },
        };
        let hooks = s.hooks();
        assert_eq!(hooks.len(), 2);
        assert_eq!(hooks[0].transition, "autoscaling:EC2_INSTANCE_LAUNCHING");
        assert_eq!(hooks[0].default_result, "ABANDON");
        assert_eq!(hooks[1].name, DRAIN_HOOK);
        assert_eq!(hooks[1].heartbeat_s, 120);
        assert_eq!(hooks[1].default_result, "CONTINUE");
        assert_eq!(s.canonical().len(), 3);
    }

    #[test]
    fn the_next_scheduled_action_is_the_earliest_to_come() {
        let a = |name: &str, next_at: Option<i64>| ObservedSchedule {
            name: name.into(),
            recurrence: Some("0 7 * * *".into()),
            time_zone: None,
            next_at,
            min: None,
            max: None,
            desired: Some(2),
        };
        let v = vec![a("late", Some(300)), a("past", Some(50)), a("soon", Some(200)), a("unknown", None)];
        assert_eq!(next_scheduled(&v, 100).map(|s| s.name.as_str()), Some("soon"));
        assert_eq!(next_scheduled(&v, 400).map(|s| s.name.as_str()), Some("unknown"));
        assert_eq!(next_scheduled(&[], 0), None);
    }
}
