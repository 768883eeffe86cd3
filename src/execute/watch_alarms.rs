//! `Step::WatchAlarms` (issue #17): the canary's hold and the bake time. Polls the
//! alarms through the one waiter until the end of the watch; an alarm in ALARM ends it
//! with `Error::Alarm`, which the executor turns into the compensation (canary) or the
//! command into a rollback (bake).

use std::time::Duration;

use super::wait::{deadline, Poll};
use super::Executor;
use crate::cloud::{alarms, groups};
use crate::domain::alarm::{self, AlarmName, FiredAlarm};
use crate::domain::ReleaseName;
use crate::error::Error;
use crate::plan::{share_percent, WatchPhase};

/// What the step says, as the executor passes it.
pub struct Watch<'a> {
    pub group: &'a ReleaseName,
    pub phase: WatchPhase,
    pub alarms: &'a [String],
    pub duration_s: u64,
    pub until: Option<i64>,
    pub mark: &'a str,
    pub share: Option<(u32, u32)>,
}

/// `95` → `1m35s`.
fn clock(secs: u64) -> String {
    match secs {
        s if s >= 3600 => format!("{}h{:02}m{:02}s", s / 3600, s % 3600 / 60, s % 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

impl Executor<'_> {
    pub(super) async fn watch_alarms(&self, w: Watch<'_>) -> Result<(), Error> {
        let now = crate::clock::unix();
        let end = match w.until {
            Some(t) => t,
            None => {
                // Written before the watch begins, so that a run killed meanwhile resumes
                // it where it is rather than starting it again.
                let end = now.saturating_add(i64::try_from(w.duration_s).unwrap_or(i64::MAX));
                groups::tag_many(self.cloud, &[(w.group.clone(), vec![(w.mark.to_owned(), end.to_string())])])
                    .await
                    .map_err(|e| {
                        Error::cloud(format!("{}: marking the end of the watch on {}", self.label, w.group), e)
                    })?;
                end
            }
        };
        let remaining = u64::try_from(end.saturating_sub(now)).unwrap_or(0);
        let names: Vec<AlarmName> = w.alarms.iter().filter_map(|a| AlarmName::parse(a).ok()).collect();
        let what = match w.phase {
            WatchPhase::Canary => match w.share {
                Some((n, live)) => format!(
                    "canary {} holds ({n} of {} instances, {}% of the traffic)",
                    w.group,
                    n + live,
                    share_percent(n, live)
                ),
                None => format!("canary {} holds", w.group),
            },
            WatchPhase::Bake => format!("{} bakes (the previous release is a warm standby)", w.group),
        };
        let started = std::time::Instant::now();
        let mut last = String::new();
        let fired = self
            .waiter()
            .until(deadline(Duration::from_secs(remaining)), &what, async || {
                let seen = alarms::describe(self.cloud, &names).await?;
                if let Some(a) = names.iter().filter_map(|n| seen.iter().find(|s| &s.name == n)).find(|s| s.firing()) {
                    return Ok(Poll::Ready(a.clone()));
                }
                let left = remaining.saturating_sub(started.elapsed().as_secs());
                // Whole 10 s steps above a minute, so that a plain log of a long hold gets
                // a line every 10 s at most (and one whenever an alarm's state changes).
                let left = if left > 60 { left.div_ceil(10) * 10 } else { left };
                let states = if names.is_empty() { "no alarms".to_owned() } else { alarm::summary(&seen) };
                let line = format!("{what}: {} left; {states}", clock(left));
                if line != last {
                    self.out.step(&self.label, &line);
                    last = line;
                }
                Ok(Poll::Pending)
            })
            .await;
        let fired = match fired {
            Ok(f) => f,
            Err(Error::Interrupted(m)) if w.phase == WatchPhase::Bake => {
                return Err(Error::Interrupted(format!(
                    "{m}: stopped watching the bake time of {}; it stays live, and the previous release stays a warm standby (`drydock rollback` brings it back)",
                    w.group
                )))
            }
            Err(e) => return Err(e),
        };
        match fired {
            None => {
                self.out.step(&self.label, &format!("{what}: done, no alarm fired"));
                Ok(())
            }
            Some(a) => {
                let alarm = FiredAlarm::from(&a);
                let during = match w.phase {
                    WatchPhase::Canary => format!("during the canary hold of {}", w.group),
                    WatchPhase::Bake => format!("during the bake time of {}", w.group),
                };
                Err(Error::Alarm {
                    message: format!("{}: {alarm} ({during})", self.label),
                    alarm,
                    phase: Some(w.phase),
                })
            }
        }
    }
}
