//! Progressive delivery in the commands (issue #17): the alarm gate before any change,
//! and the rollback after an alarm during the bake time. The steps themselves are
//! planned by `plan::canary` and run by the executor (`Step::WatchAlarms`).

use std::time::Instant;

use super::rollback::plan_rollback_now;
use super::session::{ServiceResult, Session};
use crate::cloud::alarms;
use crate::cloud::network::ResolvedNetwork;
use crate::config::{Environment, ServiceEnv};
use crate::domain::alarm::{self, AlarmName, FiredAlarm, GateVerdict};
use crate::domain::{ReleaseName, ServiceName};
use crate::error::{Error, Result};
use crate::execute::Lease;
use crate::plan::WatchPhase;

/// The alarms a deploy of `svc` watches during a canary hold and the bake time: the
/// config's, less `--ignore-alarms`.
pub fn watched(svc: &ServiceEnv, session: &Session<'_>) -> Vec<String> {
    svc.alarms.iter().filter(|a| !session.ignore_alarms.contains(*a)).map(|a| a.to_string()).collect()
}

/// `--ignore-alarms NAME…` through the alarm-name grammar.
pub fn parse_ignore(names: &[String]) -> Result<std::collections::BTreeSet<AlarmName>> {
    names.iter().map(|n| AlarmName::parse(n).map_err(|m| Error::Usage(format!("--ignore-alarms: {m}")))).collect()
}

/// The gate before any change (a dry run reports it too): every configured alarm must
/// exist (else exit 2: the config names something that is not there), and none may be in
/// ALARM unless `--ignore-alarms` names it (else exit 1, with the alarm). Read-only, and
/// run before the lease is taken, so a stopped deploy has changed nothing at all. Returns
/// a note for the result's message.
pub async fn gate(
    session: &Session<'_>,
    env: &Environment,
    service: &ServiceName,
    svc: &ServiceEnv,
    label: &str,
) -> Result<Option<String>> {
    if svc.alarms.is_empty() {
        return Ok(None);
    }
    let seen = alarms::describe(session.cloud, &svc.alarms)
        .await
        .map_err(|e| Error::cloud(format!("{label}: reading the alarms of services.{service}.alarms"), e))?;
    match alarm::gate(&svc.alarms, &seen, &session.ignore_alarms) {
        GateVerdict::Missing(names) => {
            let names: Vec<String> = names.iter().map(|n| format!("{:?}", n.as_str())).collect();
            Err(Error::Usage(format!(
                "{}: services.{service}.alarms: no CloudWatch alarm named {} in {}: create it, or remove it from the list; nothing was changed",
                env.file.display(),
                names.join(", "),
                session.cloud.region
            )))
        }
        GateVerdict::Firing { first, count } => {
            let alarm = FiredAlarm::from(&first);
            let more = if count > 1 { format!(" (and {} more in ALARM)", count - 1) } else { String::new() };
            Err(Error::Alarm {
                message: format!(
                    "{label}: stopped before any change: {alarm}{more}; `--ignore-alarms {}` deploys anyway",
                    first.name
                ),
                alarm,
                phase: None,
            })
        }
        GateVerdict::Pass { ignored } if ignored.is_empty() => {
            Ok(Some(format!("alarm gate: {}", alarm::summary(&seen))))
        }
        GateVerdict::Pass { ignored } => {
            let names: Vec<&str> = ignored.iter().map(|n| n.as_str()).collect();
            Ok(Some(format!("alarm gate: passed, ignoring {} in ALARM (--ignore-alarms)", names.join(", "))))
        }
    }
}

/// Whether a run killed during a canary hold or a bake time left this release of `ami`
/// mid-watch: a group of it tagged `canary`, or live with a bake mark. Then a firing alarm
/// must not stop the re-run before it starts (that would leave the canary serving, or the
/// release live unwatched): the re-run resumes the watch, which sees the alarm and
/// compensates the canary or rolls back. Read-only, before the lease.
pub async fn resumes_a_watch(
    session: &Session<'_>,
    env: &Environment,
    service: &ServiceName,
    svc: &ServiceEnv,
    ami: &str,
) -> bool {
    use crate::domain::cluster::GroupState;
    let cluster = crate::domain::ClusterName::new(service, &env.name);
    let Ok(snap) = super::session::observe(session.cloud, &cluster, svc.elb_name.as_str()).await else {
        return false;
    };
    snap.groups.iter().any(|g| {
        g.ami.as_deref() == Some(ami)
            && (g.state == GroupState::Canary || (g.state == GroupState::Live && g.bake_until.is_some()))
    })
}

/// After an alarm during the bake time: roll back to the standby, planned from a fresh
/// observation and run by the same executor under the same lease. The outcome is
/// `rolled_back`, exit 1; a rollback that fails needs attention (exit 4).
#[allow(clippy::too_many_arguments)]
pub async fn roll_back_after_bake(
    session: &Session<'_>,
    env: &Environment,
    net: &ResolvedNetwork,
    service: &ServiceName,
    lease: Option<&Lease>,
    failed: ServiceResult,
    label: &str,
    started: Instant,
) -> ServiceResult {
    if failed.alarm_phase != Some(WatchPhase::Bake) {
        return failed;
    }
    session.out.progress(&format!("{label}: {}; rolling back to the standby", failed.message));
    let r = match plan_rollback_now(session.cloud, env, net, service, None, label).await {
        Ok((plan, image)) => session.execute(plan, image, label, lease, started).await,
        Err(e) => ServiceResult::failed_result(service.as_str(), &e, started),
    };
    let mut out = failed;
    out.elapsed_s = started.elapsed().as_secs_f64();
    if r.code == 0 {
        out.outcome = "rolled_back";
        out.code = 1;
        let name = |r: &Option<ReleaseName>, none: &str| r.as_ref().map_or_else(|| none.to_owned(), |r| r.to_string());
        out.message = format!(
            "{}; rolled back: {} serves again (drydock:rolled-back-from={})",
            out.message,
            name(&r.release, "the previous release"),
            name(&r.previous, "the new release")
        );
        out.release = r.release;
        out.ami = r.ami;
        out.image = r.image;
        out.previous = r.previous;
    } else {
        out.code = 4;
        out.message = format!(
            "{}; and the automatic rollback failed: {}. Run `drydock rollback {service} --env {}`",
            out.message, r.message, env.name
        );
    }
    out
}
