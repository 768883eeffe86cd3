//! The deploy planner: a pure function of (config, request, observed cluster). Deploy,
//! promote and rollback all end in this plan; after a crash, planning from the new
//! observation gives the rest of the work.

use super::history::history_record;
use super::{instances, GroupSpec, LaunchTemplateSpec, Outcome, Plan, PlanError, Step};
use crate::config::{ServiceEnv, Standby};
use crate::domain::cluster::{ClusterSnapshot, GroupState, ObservedGroup};
use crate::domain::{ClusterName, ElbName, EnvName, ReleaseName, ServiceName};
use std::collections::BTreeMap;

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

fn tag(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

/// Steps that take the previous live group out of service, after the new one serves.
/// The tags of a release that becomes a standby.
fn standby_tags(svc: &ServiceEnv, now: i64) -> Vec<(String, String)> {
    match svc.standby {
        Standby::Warm => {
            vec![
                tag("drydock:state", "standby"),
                tag("drydock:expires-at", (now + svc.standby_ttl.as_secs() as i64).to_string()),
            ]
        }
        Standby::Cold => vec![tag("drydock:state", "standby")],
    }
}

/// Out of the ELB, then suspended (warm) or scaled to 0 (cold); tagged separately.
fn retire_to_standby(svc: &ServiceEnv, g: &ObservedGroup, elb: &str) -> Vec<Step> {
    let mut s = vec![Step::Detach { group: g.name.clone(), elb: elb.to_owned() }];
    match svc.standby {
        Standby::Warm => s.push(Step::Suspend { group: g.name.clone() }),
        Standby::Cold => s.extend(cold(g)),
    }
    s
}

/// A group scaled to 0 that nothing raises again: its alarms and schedules suspended
/// first (a standby never scales), then its size.
fn cold(g: &ObservedGroup) -> [Step; 2] {
    [
        Step::SuspendScaling { group: g.name.clone() },
        Step::ScaleTo { group: g.name.clone(), min: 0, desired: 0, max: g.max },
    ]
}

/// The policies and schedules of a new release group, and its metrics: put right after
/// CreateGroup and before the group takes traffic (all upserts, so a rerun after a crash
/// puts them again safely). Its lifecycle hooks came with CreateGroup.
fn scaling_steps(svc: &ServiceEnv, group: &ReleaseName) -> Vec<Step> {
    let s = &svc.scaling;
    let mut steps = vec![Step::EnableMetrics { group: group.clone() }];
    if let Some(c) = &s.cpu {
        steps.push(Step::PutCpuPolicy {
            group: group.clone(),
            policy: crate::domain::scaling::CPU_POLICY.to_owned(),
            cpu_percent: c.percent,
            warmup_s: c.warmup.map(|w| w.as_secs()),
            scale_in: c.scale_in,
        });
    }
    for sc in &s.schedules {
        steps.push(Step::PutSchedule {
            group: group.clone(),
            name: sc.name.clone(),
            recurrence: sc.recurrence.clone(),
            time_zone: sc.time_zone.clone(),
            min: sc.min,
            max: sc.max,
            desired: sc.desired,
        });
    }
    steps
}

fn demote(svc: &ServiceEnv, g: &ObservedGroup, elb: &str, now: i64) -> Vec<Step> {
    let mut s = vec![Step::Detach { group: g.name.clone(), elb: elb.to_owned() }];
    match svc.standby {
        Standby::Warm => {
            s.push(Step::Suspend { group: g.name.clone() });
            let expires = now + svc.standby_ttl.as_secs() as i64;
            s.push(Step::Tag {
                group: g.name.clone(),
                tags: vec![tag("drydock:state", "standby"), tag("drydock:expires-at", expires.to_string())],
                more: vec![],
            });
        }
        Standby::Cold => {
            s.extend(cold(g));
            s.push(Step::Tag { group: g.name.clone(), tags: vec![tag("drydock:state", "standby")], more: vec![] });
        }
    }
    s
}

/// Deletes standby groups beyond `keep_releases` (newest kept) and failed groups, never
/// touching `keep` (the releases that serve or are about to).
pub fn trim(
    svc: &ServiceEnv,
    snap: &ClusterSnapshot,
    keep: &[&ReleaseName],
    demoted: Option<&ReleaseName>,
) -> Vec<Step> {
    let mut standby: Vec<&ObservedGroup> = snap
        .groups
        .iter()
        .filter(|g| !keep.contains(&&g.name))
        .filter(|g| g.state == GroupState::Standby || Some(&g.name) == demoted)
        .collect();
    standby.sort_by_key(|g| std::cmp::Reverse(g.number()));
    let mut doomed: Vec<&ObservedGroup> = standby.into_iter().skip(svc.keep_releases as usize).collect();
    doomed.extend(snap.groups.iter().filter(|g| g.state == GroupState::Failed && !keep.contains(&&g.name)));
    doomed.sort_by_key(|g| g.number());
    doomed.into_iter().flat_map(delete).collect()
}

/// A release group and its launch template, deleted (the template as the group names it,
/// else the release's own).
fn delete(g: &ObservedGroup) -> [Step; 2] {
    [
        Step::DeleteGroup { group: g.name.clone() },
        Step::DeleteLaunchTemplate { name: g.launch_template.clone().unwrap_or_else(|| g.name.to_string()) },
    ]
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

    let live = snap.live();
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

    // The release this request asks for: its AMI with its settings.
    let same = |g: &ObservedGroup| g.ami.as_deref() == Some(req.ami) && group_settings(g) == req.settings;

    // Groups attached to the ELB that are neither live nor for this AMI: left by an
    // abandoned run. Taken out (after the new release serves) and marked failed.
    let strays: Vec<&ObservedGroup> =
        snap.groups.iter().filter(|g| g.attached && Some(&g.name) != live.map(|l| &l.name) && !same(g)).collect();
    let retire = |g: &ObservedGroup| {
        vec![
            Step::Detach { group: g.name.clone(), elb: elb_s.clone() },
            Step::SuspendScaling { group: g.name.clone() },
            Step::ScaleTo { group: g.name.clone(), min: 0, desired: 0, max: g.max },
            Step::Tag { group: g.name.clone(), tags: vec![tag("drydock:state", "failed")], more: vec![] },
        ]
    };

    // A stray that was live (a run died between tagging the new release live and
    // detaching the old one) becomes a standby; any other stray is retired.
    let settle = |g: &ObservedGroup| {
        if g.state == GroupState::Live || live.and_then(|l| l.previous.as_ref()) == Some(&g.name) {
            demote(svc, g, &elb_s, req.now)
        } else {
            retire(g)
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
        if !strays.is_empty() {
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
    let release: ReleaseName;
    match target {
        // A release of this AMI exists (a run was killed after creating it, or it is a
        // standby): resume it instead of creating a second group for the same AMI.
        Some(t) => {
            release = t.name.clone();
            if t.suspended {
                steps.push(Step::Resume { group: t.name.clone() });
            }
            if canary.is_some() {
                // The canary of a killed run: it stays at its size until its hold is over.
            } else if t.desired < desired || t.min != min || t.max < max {
                steps.push(Step::ScaleTo {
                    group: t.name.clone(),
                    min,
                    desired: desired.max(t.desired),
                    max: max.max(t.max),
                });
            }
            // A group this deploy made before a crash: its policies and schedules may not
            // all be in place yet. (Its scaling is the configured one: the settings digest
            // covers it. A standby keeps the scaling it was released with.)
            if t.state == GroupState::Deploying && req.settings == settings_digest(&svc.env, &svc.secrets, &svc.scaling)
            {
                steps.extend(scaling_steps(svc, &t.name));
            }
            if !t.attached {
                steps.push(Step::Attach { group: t.name.clone(), elb: elb_s.clone() });
            }
        }
        None => {
            // A launch template left without its group: reused when it is for this AMI,
            // deleted otherwise.
            let orphan = snap
                .launch_templates
                .iter()
                .filter(|(n, _)| !snap.groups.iter().any(|g| g.number() == **n))
                .map(|(n, t)| (*n, t.ami.as_deref() == Some(req.ami) && t.settings() == req.settings))
                .collect::<Vec<_>>();
            let reuse = orphan.iter().find(|(_, ours)| *ours).map(|(n, _)| *n);
            for (n, ours) in &orphan {
                if !ours {
                    steps.push(Step::DeleteLaunchTemplate { name: cluster.release(*n).to_string() });
                }
            }
            let number = match reuse {
                Some(n) => n,
                None => {
                    let n = snap.highest_number() + 1;
                    if n > crate::domain::ReleaseName::MAX {
                        return Err(PlanError::NumbersExhausted(cluster.to_string()));
                    }
                    n
                }
            };
            let name = cluster.release(number);
            let version = name.version();
            let mut tags = vec![
                tag("Name", name.to_string()),
                tag("drydock:service", req.service.as_str()),
                tag("drydock:env", req.env.as_str()),
                tag("drydock:cluster", cluster.as_str()),
                tag("drydock:release", version.clone()),
                tag("drydock:ami", req.ami),
                tag("drydock:settings", req.settings),
            ];
            if let Some(i) = req.image {
                tags.push(tag("drydock:image", i));
            }
            if reuse.is_none() {
                let mut runtime_env = vec![
                    ("DRYDOCK_SERVICE".to_owned(), req.service.to_string()),
                    ("DRYDOCK_ENV".to_owned(), req.env.to_string()),
                    ("DRYDOCK_RELEASE".to_owned(), version.clone()),
                ];
                if let Some(i) = req.image {
                    runtime_env.push(("DRYDOCK_IMAGE".to_owned(), i.to_owned()));
                }
                // The environment's settings, after drydock's own (they cannot override them).
                runtime_env.extend(
                    svc.env.iter().filter(|(k, _)| !k.starts_with("DRYDOCK_")).map(|(k, v)| (k.clone(), v.clone())),
                );
                let root_device =
                    req.root_device.ok_or_else(|| PlanError::Unknown(format!("the root device of {}", req.ami)))?;
                let user_data = crate::render::runtime_user_data(&name, &runtime_env, &svc.secrets)
                    .map_err(|e| PlanError::Render(e.to_string()))?;
                steps.push(Step::CreateLaunchTemplate(LaunchTemplateSpec {
                    name: name.clone(),
                    ami: req.ami.to_owned(),
                    instance_type: svc.instance_type.clone(),
                    instance_profile: svc.instance_profile.clone(),
                    volume_size_gib: svc.volume_size_gib,
                    root_device: root_device.to_owned(),
                    security_groups: req.security_groups.to_vec(),
                    runtime_env,
                    user_data: super::UserData::new(user_data),
                    tags: tags.clone(),
                    imds_v1_allowed: req.imds_v1_allowed,
                }));
            }
            tags.push(tag("drydock:state", if canary.is_some() { "canary" } else { "deploying" }));
            tags.push(tag("drydock:deployed-at", req.now.to_string()));
            tags.push(tag("drydock:deployed-by", req.deployed_by));
            if let Some(l) = live {
                tags.push(tag("drydock:previous", l.name.to_string()));
            }
            tags.extend(req.extra_tags.iter().cloned());
            let (min, desired, max) = match &canary {
                Some(c) => super::canary::capacity(c, min, max),
                None => (min, desired, max),
            };
            steps.push(Step::CreateGroup(GroupSpec {
                name: name.clone(),
                launch_template: name.clone(),
                min,
                desired,
                max,
                elb: elb_s.clone(),
                subnets: req.subnets.to_vec(),
                grace_period_s: svc.grace_period.as_secs(),
                tags,
                hooks: svc.scaling.hooks(),
            }));
            steps.extend(scaling_steps(svc, &name));
            release = name;
        }
    }

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
    let compensation = match target.filter(|t| t.state == GroupState::Standby) {
        // An existing standby (a rollback, or a deploy of a standby's AMI) that does not get
        // healthy goes back to being the standby it was: out of the ELB, at its old
        // capacity, suspended if it was; not marked failed, so a later rollback can use it.
        Some(t) => {
            let mut c = vec![
                Step::Detach { group: t.name.clone(), elb: elb_s.clone() },
                Step::ScaleTo { group: t.name.clone(), min: t.min, desired: t.desired, max: t.max },
            ];
            if t.suspended && t.desired == 0 {
                c.insert(1, Step::SuspendScaling { group: t.name.clone() });
            } else if t.suspended {
                c.push(Step::Suspend { group: t.name.clone() });
            }
            c.push(Step::Tag { group: t.name.clone(), tags: vec![tag("drydock:state", "standby")], more: vec![] });
            c
        }
        _ => vec![
            Step::Detach { group: release.clone(), elb: elb_s.clone() },
            // Its schedules and policies must not raise it again.
            Step::SuspendScaling { group: release.clone() },
            Step::ScaleTo { group: release.clone(), min: 0, desired: 0, max },
            Step::Tag { group: release.clone(), tags: vec![tag("drydock:state", "failed")], more: vec![] },
            Step::Record { elb: elb_s.clone(), key: hkey.clone(), value: hfail },
        ],
    };
    // Only now, with every new instance InService, does the old release leave the ELB.
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
    // One call tags the new release live and the old one standby; a crash right after
    // it leaves the old group attached but tagged standby, which the next run takes out
    // (it is the live release's `previous`).
    let more = live.map(|l| vec![(l.name.clone(), standby_tags(svc, req.now))]).unwrap_or_default();
    steps.push(Step::Tag { group: release.clone(), tags, more });
    if let Some(l) = live {
        steps.extend(retire_to_standby(svc, l, &elb_s));
    }
    for g in &strays {
        if Some(&g.name) != target.map(|t| &t.name) {
            steps.extend(settle(g));
        }
    }
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
