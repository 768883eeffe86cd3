//! Progressive delivery keys of `[services.<name>]` (issue #17): `canary`, `alarms`,
//! `bake_time`. Kept apart from validate/service.rs so that the other per-service blocks can grow
//! beside it.

use super::model::Canary;
use super::raw;
use super::validate::Check;
use crate::domain::alarm::AlarmName;
use crate::domain::duration::bounds;
use crate::domain::Duration;

/// DescribeAlarms takes at most 100 names in one call; one call per poll is the budget.
pub const MAX_ALARMS: usize = 100;

pub struct Raw {
    pub canary: Option<raw::Canary>,
    pub alarms: Option<Vec<String>>,
    pub bake_time: Option<String>,
}

pub struct Progressive {
    pub canary: Option<Canary>,
    pub alarms: Vec<AlarmName>,
    pub bake_time: Duration,
}

/// `desired`: the service's validated desired capacity (None when that is itself invalid:
/// then the canary's upper bound is not checked again).
pub fn service(c: &mut Check<'_>, key: &str, r: Raw, desired: Option<u32>) -> Option<Progressive> {
    let before = c.errors.len();
    let canary = match r.canary {
        None => None,
        Some(raw::Canary { instances, hold }) => {
            let ip = ["services", key, "canary", "instances"];
            let instances = c.required(&ip, instances).and_then(|n| match desired {
                Some(d) if n < 1 || n >= i64::from(d) => {
                    let rule = if d <= 1 {
                        format!("a canary needs desired ≥ 2 (desired is {d}): the canary is 1 to desired − 1 instances beside the full live group")
                    } else {
                        format!("a whole number from 1 to {} (desired − 1) is allowed", d - 1)
                    };
                    c.err(&ip, format!("{n} is out of range: {rule}"));
                    None
                }
                Some(_) => u32::try_from(n).ok(),
                None => None,
            });
            let hp = ["services", key, "canary", "hold"];
            let hold = c
                .required(&hp, hold)
                .and_then(|h| c.ok(&hp, Duration::parse_within(&h, bounds::CANARY_HOLD.0, bounds::CANARY_HOLD.1)));
            match (instances, hold) {
                (Some(instances), Some(hold)) => Some(Canary { instances, hold }),
                _ => None,
            }
        }
    };
    let ap = ["services", key, "alarms"];
    let mut alarms: Vec<AlarmName> = Vec::new();
    let raw_alarms = r.alarms.unwrap_or_default();
    if raw_alarms.len() > MAX_ALARMS {
        c.err(
            &ap,
            format!("{} alarms: at most {MAX_ALARMS} are allowed (one DescribeAlarms call per poll)", raw_alarms.len()),
        );
    }
    for a in &raw_alarms {
        if let Some(name) = c.ok(&ap, AlarmName::parse(a)) {
            if alarms.contains(&name) {
                c.err(&ap, format!("{a:?} is listed twice: each alarm once"));
            } else {
                alarms.push(name);
            }
        }
    }
    let bake_time = c.duration(&["services", key, "bake_time"], r.bake_time, 0, bounds::BAKE_TIME);
    if c.errors.len() != before {
        return None;
    }
    Some(Progressive { canary, alarms, bake_time: bake_time? })
}
