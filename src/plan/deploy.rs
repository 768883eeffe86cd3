//! The deploy planner: a pure function of (config, request, observed cluster). Deploy,
//! promote and rollback all end in this plan; after a crash, planning from the new
//! observation gives the rest of the work.

use std::collections::BTreeMap;

use super::history::history_record;
use super::{instances, Outcome, Plan, PlanError, Step};
use crate::config::ServiceEnv;
use crate::domain::cluster::{ClusterSnapshot, GroupState, ObservedGroup};
use crate::domain::{ClusterName, ElbName, EnvName, ReleaseName, ServiceName};

mod release;
mod retire;

pub use retire::trim;
use retire::{back_to_standby, delete, demote, failed, retire_to_standby, standby_tags, unfinished_retirements};

/// What to deploy, and the facts the planner needs that are not in the config.
pub struct DeployRequest<'a> {
    pub service: &'a ServiceName,
    pub env: &'a EnvName,
    pub ami: &'a str,
    /// The image reference baked into the AMI (its `drydock:image` tag), when known.
    pub image: Option<&'a str>,
    /// The AMI's root device, from DescribeImages; needed only when the plan creates a
    /// launch template (a standby brought back has one).
    pub root_device: Option<&'a str>,
    pub health_timeout_s: u64,
    pub now: i64,
    pub deployed_by: &'a str,
    pub subnets: &'a [String],
    pub security_groups: &'a [String],
    /// Extra tags for the new group (e.g. `drydock:promoted-from`).
    pub extra_tags: Vec<(String, String)>,
    /// The AMI's base cannot use IMDSv2 (its `drydock:imds` tag).
    pub imds_v1_allowed: bool,
    /// The digest of the runtime settings the release runs with (`settings_digest`): a
    /// release is the same only for the same AMI *and* settings. Deploy and promote pass
    /// the environment's; a rollback passes the digest of the group it brings back.
    pub settings: &'a str,
    /// The live release's settings, read back from its launch template when its digest
    /// differs, so that the plan says which settings change (None: by digest only).
    pub previous_settings: Option<&'a crate::domain::settings::RuntimeSettings>,
    // --- progressive delivery (issue #17) ---
    /// The alarms to watch during a canary hold and the bake time (the config's, less
    /// `--ignore-alarms`); None for a rollback, which has neither.
    pub watch: Option<&'a [String]>,
}

/// A tag as a plan step carries it.
fn tag(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

/// The capacity of a new release: what the live group runs now, never less than the
/// config's desired; min from the config; max raised if the live group runs above it.
pub fn new_capacity(svc: &ServiceEnv, live: Option<&ObservedGroup>) -> (u32, u32, u32) {
    let desired = live.map(|g| g.desired).unwrap_or(0).max(svc.capacity.desired).max(svc.capacity.min);
    (svc.capacity.min, desired, svc.capacity.max.max(desired))
}

pub use crate::domain::settings::settings_digest;

/// The settings digest a group runs with.
pub fn group_settings(g: &ObservedGroup) -> String {
    g.settings.clone().unwrap_or_else(|| {
        settings_digest(&BTreeMap::new(), &BTreeMap::new(), &crate::domain::scaling::Scaling::default())
    })
}

pub fn plan_deploy(svc: &ServiceEnv, req: &DeployRequest<'_>, snap: &ClusterSnapshot) -> Result<Plan, PlanError> {
    let cluster = ClusterName::new(req.service, req.env);
    let elb: &ElbName = &svc.elb_name;
    let elb_s = elb.as_str().to_owned();
    let mut steps = Vec::new();

    // The ELB: created if absent, its health check reconciled; never deleted.
    match &snap.elb {
        None => steps.push(Step::CreateElb {
            elb: elb_s.clone(),
            port: svc.listener.port,
            protocol: svc.listener.protocol.as_str().to_owned(),
            instance_port: svc.listener.instance_port,
            health_check: svc.health_check.0.clone(),
            subnets: req.subnets.to_vec(),
            security_groups: req.security_groups.to_vec(),
            tags: vec![
                tag("drydock:service", req.service.as_str()),
                tag("drydock:env", req.env.as_str()),
                tag("drydock:cluster", cluster.as_str()),
            ],
        }),
        Some(e) if e.health_target != svc.health_check.0 => {
            steps.push(Step::SetHealthCheck { elb: elb_s.clone(), target: svc.health_check.0.clone() })
        }
        Some(_) => {}
    }

    // The release this plan starts from. A switch whose run died between the detach and
    // its tags is finished as it was planned: from its old release (out of the ELB, still
    // tagged live) to the one that serves, with the tags and the retirement that run
    // would have written. Unless this request asks for that old release itself.
    let same = |g: &ObservedGroup| g.ami.as_deref() == Some(req.ami) && group_settings(g) == req.settings;
    let live = match snap.interrupted() {
        Some(o) if !same(o) => Some(o),
        _ => snap.live(),
    };
    let base =
        |outcome, release: Option<ReleaseName>, previous: Option<ReleaseName>, steps, compensation, message: String| {
            Plan {
                service: req.service.to_string(),
                cluster: Some(cluster.to_string()),
                outcome,
                release,
                previous,
                ami: Some(req.ami.to_owned()),
                steps,
                compensation,
                finally: vec![],
                message,
            }
        };

    // Groups attached to the ELB that are neither live nor for this AMI: left by an
    // abandoned run. Taken out (after the new release serves) and marked failed.
    let strays: Vec<&ObservedGroup> =
        snap.groups.iter().filter(|g| g.attached && Some(&g.name) != live.map(|l| &l.name) && !same(g)).collect();

    // A stray that was live (a run of an older drydock died between tagging the new
    // release live and detaching the old one), or that serves in full after an unfinished
    // switch to it (this request asks for another release), becomes a standby; any other
    // stray is retired as failed.
    let settle = |g: &ObservedGroup| {
        if g.state == GroupState::Live
            || live.and_then(|l| l.previous.as_ref()) == Some(&g.name)
            || (live.is_some_and(|l| !l.attached) && snap.healthy(g))
        {
            demote(svc, g, &elb_s, req.now)
        } else {
            failed(&g.name, &elb_s, g.max).to_vec()
        }
    };

    // Already live: nothing to roll.
    if let Some(l) = live.filter(|l| same(l)) {
        // Serving but never tagged live: a run died after its release got healthy and
        // before the switch's tag. Finish that switch (tag and history) as that run would
        // have, before the previous release is taken out; it is this release's deploy,
        // not "unchanged".
        let unfinished = l.state != GroupState::Live;
        if unfinished {
            steps.push(Step::Tag { group: l.name.clone(), tags: vec![tag("drydock:state", "live")], more: vec![] });
            let (key, value) = history_record(&l.name.version(), req.ami, req.now, "ok", req.image, req.deployed_by);
            steps.push(Step::Record { elb: elb_s.clone(), key, value });
        }
        for g in &strays {
            steps.extend(settle(g));
        }
        let left = unfinished_retirements(svc, snap, &[&l.name], &elb_s, req.now);
        if !strays.is_empty() || !left.is_empty() {
            steps.extend(left);
            steps.extend(trim(svc, snap, &[&l.name], None));
        }
        let healthy = snap.in_service(l);
        if unfinished {
            let message =
                format!("{} serves {} ({healthy}/{} InService): finished its switch", l.name, req.ami, l.desired);
            return Ok(base(Outcome::Deployed, Some(l.name.clone()), l.previous.clone(), steps, vec![], message));
        }
        let mut message = format!("{} already runs {} ({healthy}/{} InService)", l.name, req.ami, l.desired);
        // A bake time that a killed run started goes on until its mark.
        if let Some(until) = l.bake_until {
            let bake = super::canary::bake_steps(svc, req.watch, &l.name, l.previous.is_some(), Some(until));
            if !bake.is_empty() {
                message.push_str(&format!("; its bake time goes on until {until}"));
            }
            steps.extend(bake);
        }
        return Ok(base(Outcome::Unchanged, Some(l.name.clone()), l.previous.clone(), steps, vec![], message));
    }

    let (min, desired, max) = new_capacity(svc, live);
    // Failed releases of this AMI are removed: a new attempt gets a new number.
    let target = snap.groups.iter().filter(|g| same(g) && g.state != GroupState::Failed).max_by_key(|g| g.number());
    for g in snap.groups.iter().filter(|g| same(g) && g.state == GroupState::Failed) {
        steps.extend(delete(g));
    }

    let canary = super::canary::stage(svc, req.watch, live, target);
    let release = match target {
        // A release of this AMI exists (a run was killed after creating it, or it is a
        // standby): resume it instead of creating a second group for the same AMI.
        Some(t) => {
            steps.extend(release::resume(svc, req, t, canary.is_some(), (min, desired, max)));
            t.name.clone()
        }
        None => {
            let (created, name) = release::create(svc, req, snap, live, canary.as_ref(), (min, desired, max))?;
            steps.extend(created);
            name
        }
    };

    let fail_after_s = svc.fail_early.then(|| crate::domain::health::fail_after_s(svc.grace_period.as_secs()));
    let count = match (&canary, target) {
        // After the hold the canary is scaled to the full capacity.
        (Some(_), _) => desired,
        (None, t) => t.map(|t| t.desired.max(desired)).unwrap_or(desired),
    };
    if let Some(c) = &canary {
        steps.extend(super::canary::hold_steps(
            c,
            &release,
            &elb_s,
            req.watch.unwrap_or_default(),
            req.health_timeout_s,
            fail_after_s,
            (min, desired, max),
        ));
    }
    steps.push(Step::WaitInService {
        group: release.clone(),
        elb: elb_s.clone(),
        count,
        timeout_s: req.health_timeout_s,
        fail_after_s,
    });
    let version = release.version();
    let (hkey, hval) = history_record(&version, req.ami, req.now, "ok", req.image, req.deployed_by);
    let (_, hfail) = history_record(&version, req.ami, req.now, "failed", req.image, req.deployed_by);
    let mut compensation = match target.filter(|t| t.state == GroupState::Standby) {
        // A standby brought back goes back to being one (a later rollback can use it); a
        // new or resumed release is marked failed, and so is its history line.
        Some(t) => back_to_standby(t, &elb_s),
        _ => {
            let mut c = failed(&release, &elb_s, max).to_vec();
            c.push(Step::Record { elb: elb_s.clone(), key: hkey.clone(), value: hfail });
            c
        }
    };
    // Nothing serves because a switch took its old release out and the release it
    // switched to lost its health since: that old release, still running and never
    // suspended, goes back in before the failed one leaves.
    if let Some(g) = live.filter(|l| !l.attached && snap.live().is_none()) {
        compensation.insert(0, Step::Attach { group: g.name.clone(), elb: elb_s.clone() });
    }
    let mut tags = vec![tag("drydock:state", "live")];
    if let (Some(l), Some(_)) = (live, target) {
        tags.push(tag("drydock:previous", l.name.to_string()));
    }
    // A standby that serves again is no longer due to expire.
    if target.is_some_and(|t| t.expires_at.is_some()) {
        tags.push(tag("drydock:expires-at", ""));
    }
    // A release brought back carries why (e.g. `drydock:rolled-back-from`), and loses a
    // mark of an earlier rollback that no longer explains why it is live.
    if let Some(t) = target {
        tags.extend(req.extra_tags.iter().cloned());
        if t.rolled_back_from.is_some() && !req.extra_tags.iter().any(|(k, _)| k == "drydock:rolled-back-from") {
            tags.push(tag("drydock:rolled-back-from", ""));
        }
    }
    // The switch: only now, with every new instance InService, does the old release
    // leave the ELB. What follows is bookkeeping (`execute`): one call tags the new
    // release live and the old one standby, batched with other services' tags
    // (`groups::tag_many`), then the old one is suspended (warm, if a policy or schedule
    // may resize it) or scaled to 0 (cold).
    // A crash between the detach and the tags leaves the old group out of the ELB still
    // tagged live and the new one serving untagged: the next run finishes that switch
    // from there (`ClusterSnapshot::interrupted`). (The suspend last: each service's
    // last Auto Scaling call, so that services finish one by one, not all at once after a
    // shared tag call, which would bunch their history records and lease releases.)
    let (detach, retire): (Vec<Step>, Vec<Step>) = live
        .map(|l| retire_to_standby(svc, l, &elb_s))
        .unwrap_or_default()
        .into_iter()
        .partition(|s| matches!(s, Step::Detach { .. }));
    steps.extend(detach);
    let more = live.map(|l| vec![(l.name.clone(), standby_tags(svc, req.now))]).unwrap_or_default();
    steps.push(Step::Tag { group: release.clone(), tags, more });
    steps.extend(retire);
    for g in &strays {
        if Some(&g.name) != target.map(|t| &t.name) {
            steps.extend(settle(g));
        }
    }
    let keep: Vec<&ReleaseName> = live.map(|l| &l.name).into_iter().chain(Some(&release)).collect();
    steps.extend(unfinished_retirements(svc, snap, &keep, &elb_s, req.now));
    // The history line after the old release is out: bookkeeping, never before a switch.
    // A standby brought back keeps the record of when and by whom it was deployed.
    if !target.is_some_and(|t| t.state == GroupState::Standby) {
        steps.push(Step::Record { elb: elb_s.clone(), key: hkey, value: hval });
    }
    // The bake time, with the previous release a standby to roll back to; before the
    // trim, so that even with keep_releases = 0 that standby outlives the bake time.
    steps.extend(super::canary::bake_steps(svc, req.watch, &release, live.is_some(), None));
    steps.extend(trim(svc, snap, &[&release], live.map(|l| &l.name)));
    let mut message = match live {
        Some(l) => format!("{release} replaces {} ({} of {})", l.name, instances(count), req.ami),
        None => format!("{release} is the first release ({} of {})", instances(count), req.ami),
    };
    // What the release changes in the runtime settings, by digest (`status` shows them).
    if let Some(l) = live.filter(|l| group_settings(l) != req.settings) {
        let change = if l.ami.as_deref() == Some(req.ami) { "only the settings change" } else { "settings change" };
        message.push_str(&format!("; {change}: {} → {}", group_settings(l), req.settings));
        let named = req
            .previous_settings
            .map(|p| crate::domain::settings::settings_change(p, &svc.env, &svc.secrets))
            .filter(|c| !c.is_empty());
        if let Some(c) = named {
            message.push_str(&format!(" ({c})"));
        }
    }
    Ok(base(Outcome::Deployed, Some(release), live.map(|l| l.name.clone()), steps, compensation, message))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod scaling_tests;
