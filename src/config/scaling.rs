//! raw → model for a service's scaling (issue 16): `[services.<n>.scaling]`,
//! `[[services.<n>.schedule]]` and `[services.<n>.lifecycle]`. Every value through its
//! grammar and bounds; every error located (file, line, key).

use std::collections::BTreeSet;

use super::raw::{LifecycleRaw, ScalingRaw, ScheduleRaw};
use super::validate::Check;
use crate::domain::scaling::{self, CpuTarget, HookResult, Lifecycle, Scaling, Schedule};
use crate::domain::Duration;

/// `warmup`: EstimatedInstanceWarmup, up to an hour (an instance that needs longer to
/// count towards the group's CPU should not be in service).
pub const WARMUP: (Duration, Duration) = (Duration::from_secs(0), Duration::from_secs(3600));
/// `launch_timeout`, `drain`: a lifecycle hook's HeartbeatTimeout, which AWS bounds to
/// 30 to 7200 seconds.
pub const HEARTBEAT: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(7200));
/// Scheduled actions per group: AWS's quota is 125.
const MAX_SCHEDULES: usize = 125;
/// A schedule's sizes have the bounds of the service's own (`validate/service.rs`, `MAX_CAPACITY`).
const MAX_SIZE: i64 = 500;

pub(super) fn scaling(
    c: &mut Check<'_>,
    key: &str,
    scaling: Option<ScalingRaw>,
    schedules: Vec<ScheduleRaw>,
    lifecycle: Option<LifecycleRaw>,
    health_timeout: Option<Duration>,
) -> Option<Scaling> {
    let before = c.errors.len();
    let cpu = scaling.and_then(|s| {
        let p = |k: &'static str| ["services", key, "scaling", k];
        let percent =
            c.required(&p("cpu_target"), s.cpu_target).and_then(|v| c.count(&p("cpu_target"), Some(v), (1, 100)));
        let warmup = match s.warmup {
            None => Some(None),
            Some(w) => c.ok(&p("warmup"), Duration::parse_within(&w, WARMUP.0, WARMUP.1)).map(Some),
        };
        Some(CpuTarget { percent: percent?, warmup: warmup?, scale_in: s.scale_in.unwrap_or(true) })
    });

    if schedules.len() > MAX_SCHEDULES {
        c.err(
            &["services", key, "schedule"],
            format!(
                "{} schedules: at most {MAX_SCHEDULES} are allowed (AWS's scheduled actions per group)",
                schedules.len()
            ),
        );
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, s) in schedules.into_iter().enumerate() {
        let idx = i.to_string();
        let p = |k: &'static str| ["services", key, "schedule", idx.as_str(), k];
        let name = c
            .required(&p("name"), s.name)
            .and_then(|n| c.ok(&p("name"), scaling::schedule_name(&n).map(str::to_owned)));
        if let Some(n) = &name {
            if !names.insert(n.clone()) {
                c.err(
                    &p("name"),
                    format!("schedule {n:?} is declared twice: each schedule of a service has its own name"),
                );
            }
        }
        let recurrence = c
            .required(&p("recurrence"), s.recurrence)
            .and_then(|r| c.ok(&p("recurrence"), scaling::cron(&r).map(str::to_owned)));
        let time_zone = match s.time_zone {
            None => Some(None),
            Some(z) => c.ok(&p("time_zone"), scaling::time_zone(&z).map(|z| Some(z.to_owned()))),
        };
        let size = |c: &mut Check<'_>, k: &'static str, v: Option<i64>| match v {
            None => Some(None),
            Some(v) => c.count(&p(k), Some(v), (0, MAX_SIZE)).map(Some),
        };
        let min = size(c, "min", s.min);
        let max = size(c, "max", s.max);
        let desired = size(c, "desired", s.desired);
        if let (Some(min), Some(max), Some(desired)) = (min, max, desired) {
            if min.is_none() && max.is_none() && desired.is_none() {
                c.err(&p("name"), "a schedule sets at least one of min, max and desired");
            }
            let pairs = [("min", min, "desired", desired), ("desired", desired, "max", max), ("min", min, "max", max)];
            if let Some((a, av, b, bv)) = pairs.iter().find_map(|(a, av, b, bv)| match (av, bv) {
                (Some(x), Some(y)) if x > y => Some((a, x, b, y)),
                _ => None,
            }) {
                c.err(
                    &p(b),
                    format!("{a} {av} is above {b} {bv}: a schedule's sizes must satisfy min ≤ desired ≤ max"),
                );
            }
        }
        if let (Some(name), Some(recurrence), Some(time_zone), Some(min), Some(max), Some(desired)) =
            (name, recurrence, time_zone, min, max, desired)
        {
            out.push(Schedule { name, recurrence, time_zone, min, max, desired });
        }
    }

    let lifecycle = match lifecycle {
        None => Some(Lifecycle::default()),
        Some(l) => {
            let p = |k: &'static str| ["services", key, "lifecycle", k];
            if l.launch_default.is_some() && l.launch_timeout.is_none() {
                c.err(
                    &p("launch_default"),
                    "is set without launch_timeout: the launch hook exists only with a launch_timeout",
                );
            }
            let launch_timeout = match l.launch_timeout {
                None => Some(None),
                Some(t) => c.ok(&p("launch_timeout"), Duration::parse_within(&t, HEARTBEAT.0, HEARTBEAT.1)).map(Some),
            };
            let launch_default = match l.launch_default.as_deref() {
                None => Some(HookResult::Continue),
                Some("CONTINUE") => Some(HookResult::Continue),
                Some("ABANDON") => Some(HookResult::Abandon),
                Some(o) => {
                    c.err(
                        &p("launch_default"),
                        format!("{o:?} is not a lifecycle hook result: CONTINUE or ABANDON is allowed"),
                    );
                    None
                }
            };
            if let (Some(Some(t)), Some(h)) = (launch_timeout, health_timeout) {
                if t >= h {
                    c.err(&p("launch_timeout"), format!("{t} is not shorter than health_timeout {h}: a release whose instances wait for their launch hook that long could never be InService in time"));
                }
            }
            let drain = match l.drain {
                None => Some(None),
                Some(t) => c.ok(&p("drain"), Duration::parse_within(&t, HEARTBEAT.0, HEARTBEAT.1)).map(Some),
            };
            match (launch_timeout, launch_default, drain) {
                (Some(t), Some(r), Some(drain)) => Some(Lifecycle { launch: t.map(|t| (t, r)), drain }),
                _ => None,
            }
        }
    };
    if c.errors.len() != before {
        return None;
    }
    Some(Scaling { cpu, schedules: out, lifecycle: lifecycle? })
}
