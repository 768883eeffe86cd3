//! Plans as data: the steps a mutating command executes, and the deploy planner, a pure
//! function of (config, request, observed cluster). `--dry-run` prints exactly this plan;
//! after a crash, planning from the new observation gives the rest of the work.

use serde::Serialize;

use super::cluster::{ClusterSnapshot, GroupState, ObservedGroup};
use super::{ClusterName, ElbName, EnvName, ServiceName};
use crate::config::{ServiceEnv, Standby};

/// Scaling processes suspended on a warm standby: nothing launches, terminates, replaces
/// or re-registers its instances while it waits for a rollback.
pub const STANDBY_PROCESSES: [&str; 8] = [
    "Launch",
    "Terminate",
    "HealthCheck",
    "ReplaceUnhealthy",
    "AZRebalance",
    "AlarmNotification",
    "ScheduledActions",
    "AddToLoadBalancer",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LaunchTemplateSpec {
    pub name: String,
    pub ami: String,
    pub instance_type: String,
    pub instance_profile: Option<String>,
    pub volume_size_gib: u32,
    pub root_device: String,
    pub security_groups: Vec<String>,
    /// Non-secret runtime settings written to /etc/drydock/runtime.env at boot.
    pub runtime_env: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// IMDSv1 allowed besides IMDSv2: for an AMI whose base's cloud-init predates IMDSv2.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub imds_v1_allowed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupSpec {
    pub name: String,
    pub launch_template: String,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    pub elb: String,
    pub subnets: Vec<String>,
    pub grace_period_s: u64,
    pub tags: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    CreateElb {
        elb: String,
        port: u16,
        protocol: String,
        instance_port: u16,
        health_check: String,
        subnets: Vec<String>,
        security_groups: Vec<String>,
        tags: Vec<(String, String)>,
    },
    SetHealthCheck {
        elb: String,
        target: String,
    },
    CreateLaunchTemplate(LaunchTemplateSpec),
    DeleteLaunchTemplate {
        name: String,
    },
    CreateGroup(GroupSpec),
    WaitInService {
        group: String,
        elb: String,
        count: u32,
        timeout_s: u64,
    },
    Attach {
        group: String,
        elb: String,
    },
    Detach {
        group: String,
        elb: String,
    },
    Suspend {
        group: String,
    },
    Resume {
        group: String,
    },
    ScaleTo {
        group: String,
        min: u32,
        desired: u32,
        max: u32,
    },
    Tag {
        group: String,
        tags: Vec<(String, String)>,
        /// More groups tagged in the same call (CreateOrUpdateTags takes several): the
        /// switch tags the new release live and the old one standby at once.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        more: Vec<(String, Vec<(String, String)>)>,
    },
    DeleteGroup {
        group: String,
    },
    /// A line of the cluster's history, kept as a tag of its ELB (which is never deleted),
    /// so that `history` and rollback to a collected release survive `gc`.
    Record {
        elb: String,
        key: String,
        value: String,
    },
    /// gc: history records beyond the newest kept.
    Unrecord {
        elb: String,
        keys: Vec<String>,
    },
    /// gc: an unused AMI and its snapshots.
    DeregisterImage {
        ami: String,
        name: String,
    },
    /// gc: a builder older than twice the bake timeout.
    TerminateBuilder {
        instance: String,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::CreateElb { elb, port, protocol, instance_port, health_check, .. } => {
                write!(f, "create ELB {elb} ({protocol}:{port} -> {instance_port}, health check {health_check})")
            }
            Step::SetHealthCheck { elb, target } => {
                write!(f, "set the health check of ELB {elb} to {target}")
            }
            Step::CreateLaunchTemplate(t) => {
                write!(f, "create launch template {} ({}, {})", t.name, t.ami, t.instance_type)
            }
            Step::DeleteLaunchTemplate { name } => write!(f, "delete launch template {name}"),
            Step::CreateGroup(g) => write!(
                f,
                "create group {} ({} instances, min {}, max {}) behind ELB {}",
                g.name, g.desired, g.min, g.max, g.elb
            ),
            Step::WaitInService { group, elb, count, timeout_s } => {
                write!(
                    f,
                    "wait until all {count} instances of {group} are InService in ELB {elb} (timeout {timeout_s}s)"
                )
            }
            Step::Attach { group, elb } => write!(f, "attach {group} to ELB {elb}"),
            Step::Detach { group, elb } => write!(f, "detach {group} from ELB {elb}"),
            Step::Suspend { group } => {
                write!(f, "suspend the scaling processes of {group} (warm standby)")
            }
            Step::Resume { group } => write!(f, "resume the scaling processes of {group}"),
            Step::ScaleTo { group, min, desired, max } => {
                write!(f, "scale {group} to {desired} (min {min}, max {max})")
            }
            Step::Tag { group, tags, more } => {
                let one = |g: &str, t: &[(String, String)]| {
                    let t: Vec<String> = t.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{g} {}", t.join(" "))
                };
                let all: Vec<String> =
                    std::iter::once(one(group, tags)).chain(more.iter().map(|(g, t)| one(g, t))).collect();
                write!(f, "tag {}", all.join("; "))
            }
            Step::DeleteGroup { group } => write!(f, "delete group {group}"),
            Step::Record { elb, key, .. } => write!(f, "record {key} in the history on ELB {elb}"),
            Step::Unrecord { elb, keys } => write!(f, "forget {} old history record(s) on ELB {elb}", keys.len()),
            Step::DeregisterImage { ami, name } => write!(f, "deregister {ami} ({name}) and delete its snapshots"),
            Step::TerminateBuilder { instance } => write!(f, "terminate orphaned builder {instance}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Deployed,
    Unchanged,
    RolledBack,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deployed => "deployed",
            Outcome::Unchanged => "unchanged",
            Outcome::RolledBack => "rolled_back",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub service: String,
    pub cluster: String,
    pub outcome: Outcome,
    /// The release that is live when the plan succeeds.
    pub release: Option<String>,
    pub previous: Option<String>,
    pub ami: String,
    pub steps: Vec<Step>,
    /// Run if a WaitInService step fails: takes the new release out, leaves the old serving.
    pub compensation: Vec<Step>,
    pub message: String,
}

/// What to deploy, and the facts the planner needs that are not in the config.
pub struct DeployRequest<'a> {
    pub service: &'a ServiceName,
    pub env: &'a EnvName,
    pub ami: &'a str,
    /// The image reference baked into the AMI (its `drydock:image` tag), when known.
    pub image: Option<&'a str>,
    pub root_device: &'a str,
    pub health_timeout_s: u64,
    pub now: i64,
    pub deployed_by: &'a str,
    pub subnets: &'a [String],
    pub security_groups: &'a [String],
    /// Extra tags for the new group (e.g. `drydock:promoted-from`).
    pub extra_tags: Vec<(String, String)>,
    /// The AMI's base cannot use IMDSv2 (its `drydock:imds` tag).
    pub imds_v1_allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// v999 exists: the cluster is out of release numbers.
    NumbersExhausted(String),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::NumbersExhausted(c) => write!(
                f,
                "cluster {c} has used release number v999; delete old releases (drydock gc) before deploying again"
            ),
        }
    }
}

/// The history tag of a release: `drydock:release:vNNN` on the ELB, value
/// `ami=… at=… result=ok|failed image=… by=…`. Classic ELB tag values allow letters,
/// digits, spaces and `_ . : / = + - @` up to 256 characters: anything else becomes `_`,
/// and the least important fields (by, then image) are dropped or cut first.
pub fn history_record(
    version: &str,
    ami: &str,
    at: i64,
    result: &str,
    image: Option<&str>,
    by: &str,
) -> (String, String) {
    let clean = |s: &str| -> String {
        s.chars().map(|c| if c.is_alphanumeric() || "_.:/=+-@".contains(c) { c } else { '_' }).collect()
    };
    let mut value = format!("ami={} at={at} result={result}", clean(ami));
    if let Some(i) = image {
        value.push_str(&format!(" image={}", clean(i)));
    }
    let by = format!(" by={}", clean(by));
    if value.len() + by.len() <= 256 {
        value.push_str(&by);
    }
    value.truncate(256);
    (format!("drydock:release:{version}"), value)
}

/// A history record read back from an ELB tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryRecord {
    pub number: u16,
    pub ami: String,
    pub at: i64,
    pub failed: bool,
    pub image: Option<String>,
    pub by: Option<String>,
}

pub fn parse_history(key: &str, value: &str) -> Option<HistoryRecord> {
    let v = key.strip_prefix("drydock:release:v")?;
    if v.len() != 3 {
        return None;
    }
    let number = v.parse().ok()?;
    let field = |name: &str| value.split(' ').find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_owned));
    Some(HistoryRecord {
        number,
        ami: field("ami")?,
        at: field("at").and_then(|a| a.parse().ok()).unwrap_or(0),
        failed: field("result").as_deref() == Some("failed"),
        image: field("image"),
        by: field("by"),
    })
}

/// `1 instance`, `4 instances`.
pub fn instances(n: u32) -> String {
    if n == 1 {
        "1 instance".to_owned()
    } else {
        format!("{n} instances")
    }
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
        Standby::Cold => s.push(Step::ScaleTo { group: g.name.clone(), min: 0, desired: 0, max: g.max }),
    }
    s
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
            s.push(Step::ScaleTo { group: g.name.clone(), min: 0, desired: 0, max: g.max });
            s.push(Step::Tag { group: g.name.clone(), tags: vec![tag("drydock:state", "standby")], more: vec![] });
        }
    }
    s
}

/// Deletes standby groups beyond `keep_releases` (newest kept) and failed groups, never
/// touching `keep` (the releases that serve or are about to).
pub fn trim(svc: &ServiceEnv, snap: &ClusterSnapshot, keep: &[&str], demoted: Option<&str>) -> Vec<Step> {
    let mut standby: Vec<&ObservedGroup> = snap
        .groups
        .iter()
        .filter(|g| !keep.contains(&g.name.as_str()))
        .filter(|g| g.state == GroupState::Standby || Some(g.name.as_str()) == demoted)
        .collect();
    standby.sort_by_key(|g| std::cmp::Reverse(g.number));
    let mut doomed: Vec<&ObservedGroup> = standby.into_iter().skip(svc.keep_releases as usize).collect();
    doomed.extend(snap.groups.iter().filter(|g| g.state == GroupState::Failed && !keep.contains(&g.name.as_str())));
    doomed.sort_by_key(|g| g.number);
    let mut steps = Vec::new();
    for g in doomed {
        steps.push(Step::DeleteGroup { group: g.name.clone() });
        steps.push(Step::DeleteLaunchTemplate { name: g.launch_template.clone().unwrap_or_else(|| g.name.clone()) });
    }
    steps
}

/// The capacity of a new release: what the live group runs now, never less than the
/// config's desired; min from the config; max raised if the live group runs above it.
pub fn new_capacity(svc: &ServiceEnv, live: Option<&ObservedGroup>) -> (u32, u32, u32) {
    let desired = live.map(|g| g.desired).unwrap_or(0).max(svc.capacity.desired).max(svc.capacity.min);
    (svc.capacity.min, desired, svc.capacity.max.max(desired))
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
        |outcome, release: Option<String>, previous: Option<String>, steps, compensation, message: String| Plan {
            service: req.service.to_string(),
            cluster: cluster.to_string(),
            outcome,
            release,
            previous,
            ami: req.ami.to_owned(),
            steps,
            compensation,
            message,
        };

    // Groups attached to the ELB that are neither live nor for this AMI: left by an
    // abandoned run. Taken out (after the new release serves) and marked failed.
    let strays: Vec<&ObservedGroup> = snap
        .groups
        .iter()
        .filter(|g| {
            g.attached && Some(g.name.as_str()) != live.map(|l| l.name.as_str()) && g.ami.as_deref() != Some(req.ami)
        })
        .collect();
    let retire = |g: &ObservedGroup| {
        vec![
            Step::Detach { group: g.name.clone(), elb: elb_s.clone() },
            Step::ScaleTo { group: g.name.clone(), min: 0, desired: 0, max: g.max },
            Step::Tag { group: g.name.clone(), tags: vec![tag("drydock:state", "failed")], more: vec![] },
        ]
    };

    // A stray that was live (a run died between tagging the new release live and
    // detaching the old one) becomes a standby; any other stray is retired.
    let settle = |g: &ObservedGroup| {
        if g.state == GroupState::Live || live.and_then(|l| l.previous.as_deref()) == Some(g.name.as_str()) {
            demote(svc, g, &elb_s, req.now)
        } else {
            retire(g)
        }
    };

    // Already live: nothing to roll.
    if let Some(l) = live.filter(|l| l.ami.as_deref() == Some(req.ami)) {
        for g in &strays {
            steps.extend(settle(g));
        }
        if !strays.is_empty() {
            steps.extend(trim(svc, snap, &[l.name.as_str()], None));
        }
        let healthy = snap.in_service(l);
        let message = format!("{} already runs {} ({healthy}/{} InService)", l.name, req.ami, l.desired);
        return Ok(base(Outcome::Unchanged, Some(l.name.clone()), l.previous.clone(), steps, vec![], message));
    }

    let (min, desired, max) = new_capacity(svc, live);
    // Failed releases of this AMI are removed: a new attempt gets a new number.
    let target = snap
        .groups
        .iter()
        .filter(|g| g.ami.as_deref() == Some(req.ami) && g.state != GroupState::Failed)
        .max_by_key(|g| g.number);
    for g in snap.groups.iter().filter(|g| g.ami.as_deref() == Some(req.ami) && g.state == GroupState::Failed) {
        steps.push(Step::DeleteGroup { group: g.name.clone() });
        steps.push(Step::DeleteLaunchTemplate { name: g.launch_template.clone().unwrap_or_else(|| g.name.clone()) });
    }

    let release: String;
    match target {
        // A release of this AMI exists (a run was killed after creating it, or it is a
        // standby): resume it instead of creating a second group for the same AMI.
        Some(t) => {
            release = t.name.clone();
            if t.suspended {
                steps.push(Step::Resume { group: t.name.clone() });
            }
            if t.desired < desired || t.min != min || t.max < max {
                steps.push(Step::ScaleTo {
                    group: t.name.clone(),
                    min,
                    desired: desired.max(t.desired),
                    max: max.max(t.max),
                });
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
                .filter(|(n, _)| !snap.groups.iter().any(|g| g.number == **n))
                .map(|(n, ami)| (*n, ami.clone()))
                .collect::<Vec<_>>();
            let reuse = orphan.iter().find(|(_, ami)| ami.as_deref() == Some(req.ami)).map(|(n, _)| *n);
            for (n, ami) in &orphan {
                if ami.as_deref() != Some(req.ami) {
                    steps.push(Step::DeleteLaunchTemplate { name: cluster.release(*n).to_string() });
                }
            }
            let number = match reuse {
                Some(n) => n,
                None => {
                    let n = snap.highest_number() + 1;
                    if n > super::ReleaseName::MAX {
                        return Err(PlanError::NumbersExhausted(cluster.to_string()));
                    }
                    n
                }
            };
            let name = cluster.release(number).to_string();
            let version = cluster.release(number).version();
            let mut tags = vec![
                tag("Name", name.clone()),
                tag("drydock:service", req.service.as_str()),
                tag("drydock:env", req.env.as_str()),
                tag("drydock:cluster", cluster.as_str()),
                tag("drydock:release", version.clone()),
                tag("drydock:ami", req.ami),
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
                steps.push(Step::CreateLaunchTemplate(LaunchTemplateSpec {
                    name: name.clone(),
                    ami: req.ami.to_owned(),
                    instance_type: svc.instance_type.clone(),
                    instance_profile: svc.instance_profile.clone(),
                    volume_size_gib: svc.volume_size_gib,
                    root_device: req.root_device.to_owned(),
                    security_groups: req.security_groups.to_vec(),
                    runtime_env,
                    tags: tags.clone(),
                    imds_v1_allowed: req.imds_v1_allowed,
                }));
            }
            tags.push(tag("drydock:state", "deploying"));
            tags.push(tag("drydock:deployed-at", req.now.to_string()));
            tags.push(tag("drydock:deployed-by", req.deployed_by));
            if let Some(l) = live {
                tags.push(tag("drydock:previous", l.name.clone()));
            }
            tags.extend(req.extra_tags.iter().cloned());
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
            }));
            release = name;
        }
    }

    let count = target.map(|t| t.desired.max(desired)).unwrap_or(desired);
    steps.push(Step::WaitInService {
        group: release.clone(),
        elb: elb_s.clone(),
        count,
        timeout_s: req.health_timeout_s,
    });
    let version = release.rsplit_once("-v").map(|(_, n)| format!("v{n}")).unwrap_or_default();
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
            if t.suspended {
                c.push(Step::Suspend { group: t.name.clone() });
            }
            c.push(Step::Tag { group: t.name.clone(), tags: vec![tag("drydock:state", "standby")], more: vec![] });
            c
        }
        _ => vec![
            Step::Detach { group: release.clone(), elb: elb_s.clone() },
            Step::ScaleTo { group: release.clone(), min: 0, desired: 0, max },
            Step::Tag { group: release.clone(), tags: vec![tag("drydock:state", "failed")], more: vec![] },
            Step::Record { elb: elb_s.clone(), key: hkey.clone(), value: hfail },
        ],
    };
    // Only now, with every new instance InService, does the old release leave the ELB.
    let mut tags = vec![tag("drydock:state", "live")];
    if let (Some(l), Some(_)) = (live, target) {
        tags.push(tag("drydock:previous", l.name.clone()));
    }
    // A standby that serves again is no longer due to expire.
    if target.is_some_and(|t| t.expires_at.is_some()) {
        tags.push(tag("drydock:expires-at", ""));
    }
    // One call tags the new release live and the old one standby; a crash right after
    // it leaves the old group attached but tagged standby, which the next run takes out
    // (it is the live release's `previous`).
    let more = live.map(|l| vec![(l.name.clone(), standby_tags(svc, req.now))]).unwrap_or_default();
    steps.push(Step::Tag { group: release.clone(), tags, more });
    // A standby brought back keeps the record of when and by whom it was deployed.
    if !target.is_some_and(|t| t.state == GroupState::Standby) {
        steps.push(Step::Record { elb: elb_s.clone(), key: hkey, value: hval });
    }
    if let Some(l) = live {
        steps.extend(retire_to_standby(svc, l, &elb_s));
    }
    for g in &strays {
        if Some(g.name.as_str()) != target.map(|t| t.name.as_str()) {
            steps.extend(settle(g));
        }
    }
    steps.extend(trim(svc, snap, &[release.as_str()], live.map(|l| l.name.as_str())));
    let message = match live {
        Some(l) => format!("{release} replaces {} ({} of {})", l.name, instances(count), req.ami),
        None => format!("{release} is the first release ({} of {})", instances(count), req.ami),
    };
    Ok(base(Outcome::Deployed, Some(release), live.map(|l| l.name.clone()), steps, compensation, message))
}

#[cfg(test)]
mod tests;
