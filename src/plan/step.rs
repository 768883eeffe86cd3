//! The steps of a plan: data that a dry run prints (text and JSON) and the executor
//! runs, one cloud action or wait each.

use serde::Serialize;

use crate::domain::ReleaseName;

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
    /// A release's launch template is named after it.
    pub name: ReleaseName,
    pub ami: String,
    pub instance_type: String,
    pub instance_profile: Option<String>,
    pub volume_size_gib: u32,
    pub root_device: String,
    pub security_groups: Vec<String>,
    /// Non-secret runtime settings written to /etc/drydock/runtime.env at boot.
    pub runtime_env: Vec<(String, String)>,
    /// The launch template's user data, rendered when the plan is made, so that a dry
    /// run shows what will run.
    pub user_data: UserData,
    pub tags: Vec<(String, String)>,
    /// IMDSv1 allowed besides IMDSv2: for an AMI whose base's cloud-init predates IMDSv2.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub imds_v1_allowed: bool,
}

/// A rendered user-data script: its digest in every plan, its text with `-v` (and in
/// the request).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserData {
    #[serde(skip)]
    pub text: String,
    pub sha256: String,
}

impl UserData {
    pub fn new(text: String) -> Self {
        use sha2::{Digest as _, Sha256};
        let sha256 = Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        Self { text, sha256 }
    }
}

/// The builder instance of a bake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuilderSpec {
    pub base_ami: String,
    pub base_name: String,
    pub root_device: String,
    pub instance_type: String,
    pub subnet: String,
    pub security_groups: Vec<String>,
    pub instance_profile: Option<String>,
    pub volume_size_gib: u32,
    pub kms_key_id: Option<String>,
    /// IMDSv1 allowed besides IMDSv2 (`[base] imds = "v1-allowed"`, for bases whose
    /// cloud-init predates IMDSv2).
    pub imds_v1_allowed: bool,
    /// The bootstrap: installs the init job, pulls the image, powers off.
    pub user_data: UserData,
    pub tags: Vec<(String, String)>,
}

/// An instance a step acts on: known when the plan is made, or the builder that an
/// earlier step of the same plan launches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Instance {
    Id(String),
    Launched,
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Instance::Id(i) => write!(f, "builder {i}"),
            Instance::Launched => f.write_str("the builder"),
        }
    }
}

/// An AMI a step acts on: known when the plan is made, or the one that an earlier step
/// of the same plan creates or copies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ami {
    Id(String),
    Created,
}

impl std::fmt::Display for Ami {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ami::Id(a) => f.write_str(a),
            Ami::Created => f.write_str("the new image"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupSpec {
    pub name: ReleaseName,
    pub launch_template: ReleaseName,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    pub elb: String,
    pub subnets: Vec<String>,
    pub grace_period_s: u64,
    pub tags: Vec<(String, String)>,
    /// Lifecycle hooks created with the group (LifecycleHookSpecificationList), so that no
    /// instance launches before its hook exists (issue 16).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<crate::domain::scaling::Hook>,
}

impl GroupSpec {
    /// Whether an existing group whose `drydock:ami` tag is `ami` is this release's: a group
    /// of this name is named after the release, so its AMI tells ours from another's.
    pub fn runs(&self, ami: &str) -> bool {
        self.tags.iter().any(|(k, v)| k == "drydock:ami" && v == ami)
    }
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
        group: ReleaseName,
        elb: String,
        count: u32,
        timeout_s: u64,
        /// Fail before the timeout once every instance older than this (the grace period +
        /// 3 failed checks) fails its health checks, or Auto Scaling replaced one for
        /// failing them (`domain::health`); None with `fail_early = false`.
        fail_after_s: Option<u64>,
    },
    Attach {
        group: ReleaseName,
        elb: String,
    },
    Detach {
        group: ReleaseName,
        elb: String,
    },
    Suspend {
        group: ReleaseName,
    },
    Resume {
        group: ReleaseName,
    },
    ScaleTo {
        group: ReleaseName,
        min: u32,
        desired: u32,
        max: u32,
    },
    Tag {
        group: ReleaseName,
        tags: Vec<(String, String)>,
        /// More groups tagged in the same call (CreateOrUpdateTags takes several): the
        /// switch tags the new release live and the old one standby at once.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        more: Vec<(ReleaseName, Vec<(String, String)>)>,
    },
    DeleteGroup {
        group: ReleaseName,
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
    /// gc: a builder older than twice the bake timeout; bake: a leftover builder of an
    /// earlier run, or (in `finally`) this bake's own builder.
    TerminateBuilder {
        instance: Instance,
    },
    /// bake: run the builder with the bootstrap as its user data.
    LaunchBuilder(BuilderSpec),
    /// bake: until the builder has powered itself off (the bootstrap succeeded).
    WaitBuilderStopped {
        instance: Instance,
        timeout_s: u64,
        /// Where the timeout is set, for the error that says it ran out.
        timeout_setting: String,
    },
    /// bake: CreateImage from the stopped builder; the image and its snapshots tagged.
    CreateImage {
        instance: Instance,
        name: String,
        description: String,
        tags: Vec<(String, String)>,
    },
    /// bake and promote: until the image is available.
    WaitImageAvailable {
        ami: Ami,
        timeout_s: u64,
    },
    /// promote to another account: launch permission on the AMI and create-volume
    /// permission on its snapshots, granted in the source account.
    ShareImage {
        ami: String,
        account: String,
    },
    /// promote to another region: an encrypted copy, made in the target region.
    CopyImage {
        ami: String,
        from_region: String,
        name: String,
        tags: Vec<(String, String)>,
    },
    // ---- scaling (issue 16): each release group owns its policies and schedules.
    /// Target tracking on the group's average CPU (PutScalingPolicy, an upsert).
    PutCpuPolicy {
        group: ReleaseName,
        policy: String,
        cpu_percent: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        warmup_s: Option<u64>,
        scale_in: bool,
    },
    /// A recurring scheduled action (PutScheduledUpdateGroupAction, an upsert).
    PutSchedule {
        group: ReleaseName,
        name: String,
        recurrence: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        time_zone: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        desired: Option<u32>,
    },
    /// EnableMetricsCollection at 1-minute granularity (every new release group).
    EnableMetrics {
        group: ReleaseName,
    },
    /// A cold standby: AlarmNotification and ScheduledActions suspended, so that neither
    /// a policy nor a schedule raises it again (`COLD_STANDBY_PROCESSES`).
    SuspendScaling {
        group: ReleaseName,
    },
    /// gc, a warm standby going cold: every process resumed except AlarmNotification and
    /// ScheduledActions, so that it can scale in to 0 and nothing raises it again.
    ResumeForScaleIn {
        group: ReleaseName,
    },
    // ---- end scaling
    // --- progressive delivery (issue #17) ---
    /// Watch CloudWatch alarms for `duration_s` (the canary's hold, or the bake time after
    /// the switch): polled every interval; one in ALARM fails the step. A fresh watch
    /// first writes its end (`mark` = epoch second) on `group`, so that a run killed
    /// meanwhile resumes it from there (`until`).
    WatchAlarms {
        group: ReleaseName,
        phase: WatchPhase,
        alarms: Vec<String>,
        duration_s: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<i64>,
        mark: String,
        /// canary: (canary instances, live instances), for the traffic share.
        #[serde(skip_serializing_if = "Option::is_none")]
        share: Option<(u32, u32)>,
    },
}

/// When alarms are watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchPhase {
    /// Before the switch: an alarm fails the release (compensated; exit 1).
    Canary,
    /// After the switch: an alarm rolls back to the standby (outcome rolled_back; exit 1).
    Bake,
}

/// The canary's share of the ELB's instances (so, with round robin, of the traffic), in
/// whole percent.
pub fn share_percent(canary: u32, live: u32) -> u32 {
    let all = u64::from(canary) + u64::from(live);
    if all == 0 {
        return 0;
    }
    u32::try_from((u64::from(canary) * 100 + all / 2) / all).unwrap_or(100)
}

impl Step {
    /// Waits change nothing: no lease check is needed before them.
    pub fn is_wait(&self) -> bool {
        matches!(self, Step::WaitInService { .. } | Step::WaitBuilderStopped { .. } | Step::WaitImageAvailable { .. })
    }
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
            Step::CreateLaunchTemplate(t) => write!(
                f,
                "create launch template {} ({}, {}, user data sha256 {})",
                t.name,
                t.ami,
                t.instance_type,
                &t.user_data.sha256[..12]
            ),
            Step::DeleteLaunchTemplate { name } => write!(f, "delete launch template {name}"),
            Step::CreateGroup(g) => {
                write!(
                    f,
                    "create group {} ({} instances, min {}, max {}) behind ELB {}",
                    g.name, g.desired, g.min, g.max, g.elb
                )?;
                if !g.hooks.is_empty() {
                    let hooks: Vec<String> = g
                        .hooks
                        .iter()
                        .map(|h| {
                            let on = h.transition.rsplit('_').next().unwrap_or_default().to_ascii_lowercase();
                            format!("{} ({on}: wait up to {}s, then {})", h.name, h.heartbeat_s, h.default_result)
                        })
                        .collect();
                    write!(f, " with lifecycle hook(s) {}", hooks.join(", "))?;
                }
                Ok(())
            }
            Step::WaitInService { group, elb, count, timeout_s, fail_after_s } => {
                write!(
                    f,
                    "wait until all {count} instances of {group} are InService in ELB {elb} (timeout {timeout_s}s"
                )?;
                if let Some(a) = fail_after_s {
                    write!(f, "; fail early once every instance older than {a}s fails its health checks, or one is replaced for failing them")?;
                }
                f.write_str(")")
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
                let one = |g: &ReleaseName, t: &[(String, String)]| {
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
            Step::TerminateBuilder { instance } => write!(f, "terminate {instance}"),
            Step::LaunchBuilder(b) => write!(
                f,
                "launch a {} builder from {} ({}) in {} with the bootstrap (user data sha256 {})",
                b.instance_type,
                b.base_ami,
                b.base_name,
                b.subnet,
                &b.user_data.sha256[..12]
            ),
            Step::WaitBuilderStopped { instance, timeout_s, .. } => {
                write!(f, "wait until {instance} has powered off (timeout {timeout_s}s)")
            }
            Step::CreateImage { instance, name, .. } => {
                write!(f, "create image {name} from {instance}; tag it and its snapshots")
            }
            Step::WaitImageAvailable { ami, timeout_s } => {
                write!(f, "wait until {ami} is available (timeout {timeout_s}s)")
            }
            Step::ShareImage { ami, account } => write!(f, "share {ami} and its snapshots with account {account}"),
            Step::CopyImage { ami, from_region, name, .. } => {
                write!(f, "copy {ami} ({name}) from {from_region}, encrypted")
            }
            Step::PutCpuPolicy { group, policy, cpu_percent, warmup_s, scale_in } => {
                write!(f, "put scaling policy {policy} on {group}: keep average CPU at {cpu_percent}%")?;
                if let Some(w) = warmup_s {
                    write!(f, ", warmup {w}s")?;
                }
                if !scale_in {
                    f.write_str(", scale-in disabled")?;
                }
                Ok(())
            }
            Step::PutSchedule { group, name, recurrence, time_zone, min, max, desired } => {
                let sizes: Vec<String> = [("min", min), ("desired", desired), ("max", max)]
                    .iter()
                    .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
                    .collect();
                write!(
                    f,
                    "put schedule {name} on {group}: \"{recurrence}\" ({}) sets {}",
                    time_zone.as_deref().unwrap_or("UTC"),
                    sizes.join(", ")
                )
            }
            Step::EnableMetrics { group } => write!(f, "enable 1-minute group metrics of {group}"),
            Step::SuspendScaling { group } => {
                write!(f, "suspend AlarmNotification and ScheduledActions of {group}")
            }
            Step::ResumeForScaleIn { group } => {
                write!(f, "resume the scaling processes of {group} but AlarmNotification and ScheduledActions")
            }
            Step::WatchAlarms { group, phase, alarms, duration_s, until, share, .. } => {
                let watched = if alarms.is_empty() { "no alarms".to_owned() } else { alarms.join(", ") };
                match phase {
                    WatchPhase::Canary => {
                        write!(f, "hold the canary {group}")?;
                        if let Some((n, live)) = share {
                            write!(
                                f,
                                " ({n} of {} instances, {}% of the traffic)",
                                n + live,
                                share_percent(*n, *live)
                            )?;
                        }
                    }
                    WatchPhase::Bake => write!(f, "bake {group}")?,
                }
                match until {
                    Some(t) => write!(f, " until {t} (resumed; {duration_s}s in all)")?,
                    None => write!(f, " for {duration_s}s")?,
                }
                write!(f, ", watching {watched}")
            }
        }
    }
}
