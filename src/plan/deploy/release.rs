//! The release a deploy puts live: an existing group of its AMI and settings resumed (a
//! killed run's, or a standby), or a new one created (its number, launch template with the
//! rendered user data, group, and scaling).

use super::{tag, DeployRequest};
use crate::config::ServiceEnv;
use crate::domain::cluster::{ClusterSnapshot, GroupState, ObservedGroup};
use crate::domain::settings::settings_digest;
use crate::domain::{ClusterName, ReleaseName};
use crate::plan::canary::CanaryStage;
use crate::plan::{GroupSpec, LaunchTemplateSpec, PlanError, Step, UserData};

/// An existing group of this release, brought to the new capacity (`min`, `desired`,
/// `max`) and into the ELB; a canary of a killed run stays at its size until its hold is
/// over.
pub(super) fn resume(
    svc: &ServiceEnv,
    req: &DeployRequest<'_>,
    t: &ObservedGroup,
    canary: bool,
    (min, desired, max): (u32, u32, u32),
) -> Vec<Step> {
    let mut steps = Vec::new();
    if t.suspended {
        steps.push(Step::Resume { group: t.name.clone() });
    }
    if canary {
        // The canary of a killed run: it stays at its size until its hold is over.
    } else if t.desired < desired || t.min != min || t.max < max {
        steps.push(Step::ScaleTo { group: t.name.clone(), min, desired: desired.max(t.desired), max: max.max(t.max) });
    }
    // A group this deploy made before a crash: its policies and schedules may not
    // all be in place yet. (Its scaling is the configured one: the settings digest
    // covers it. A standby keeps the scaling it was released with.)
    if t.state == GroupState::Deploying && req.settings == settings_digest(&svc.env, &svc.secrets, &svc.scaling) {
        steps.extend(scaling_steps(svc, &t.name));
    }
    if !t.attached {
        steps.push(Step::Attach { group: t.name.clone(), elb: svc.elb_name.as_str().to_owned() });
    }
    steps
}

/// A new release: the next number (or that of a launch template a killed run left for
/// this AMI and settings, reused), its launch template, its group at `capacity` (a
/// canary's size during the hold), its scaling. Returns the steps and the release.
pub(super) fn create(
    svc: &ServiceEnv,
    req: &DeployRequest<'_>,
    snap: &ClusterSnapshot,
    live: Option<&ObservedGroup>,
    canary: Option<&CanaryStage>,
    (min, desired, max): (u32, u32, u32),
) -> Result<(Vec<Step>, ReleaseName), PlanError> {
    let cluster = ClusterName::new(req.service, req.env);
    let mut steps = Vec::new();
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
            if n > ReleaseName::MAX {
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
        runtime_env
            .extend(svc.env.iter().filter(|(k, _)| !k.starts_with("DRYDOCK_")).map(|(k, v)| (k.clone(), v.clone())));
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
            user_data: UserData::new(user_data),
            tags: tags.clone(),
            imds_v1_allowed: req.imds_v1_allowed,
        }));
    }
    tags.push(tag("drydock:scaling", svc.scaling.tag()));
    tags.push(tag("drydock:state", if canary.is_some() { "canary" } else { "deploying" }));
    tags.push(tag("drydock:deployed-at", req.now.to_string()));
    tags.push(tag("drydock:deployed-by", req.deployed_by));
    if let Some(l) = live {
        tags.push(tag("drydock:previous", l.name.to_string()));
    }
    tags.extend(req.extra_tags.iter().cloned());
    let (min, desired, max) = match canary {
        Some(c) => crate::plan::canary::capacity(c, min, max),
        None => (min, desired, max),
    };
    steps.push(Step::CreateGroup(GroupSpec {
        name: name.clone(),
        launch_template: name.clone(),
        min,
        desired,
        max,
        elb: svc.elb_name.as_str().to_owned(),
        subnets: req.subnets.to_vec(),
        grace_period_s: svc.grace_period.as_secs(),
        tags,
        hooks: svc.scaling.hooks(),
    }));
    steps.extend(scaling_steps(svc, &name));
    Ok((steps, name))
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
