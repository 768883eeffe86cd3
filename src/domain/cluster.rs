//! What exists for one cluster (`<service>-<env>`), as plain data: release groups with
//! their tags, capacity and ELB attachment; the ELB; per-instance ELB health. Built by
//! the cloud layer, read by the planners.

use std::collections::BTreeMap;

use super::ReleaseName;

/// `drydock:state` of a release group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    /// Created, not yet switched to (or a crash left it so).
    Deploying,
    Live,
    Standby,
    /// Never got healthy; detached and scaled to 0 by compensation.
    Failed,
    /// No or an unknown tag (a group made by hand or an older tool).
    Unknown,
    /// Progressive delivery: serving a few instances beside the live release during the
    /// canary hold (`drydock:hold-until`).
    Canary,
}

impl GroupState {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Deploying => "deploying",
            GroupState::Live => "live",
            GroupState::Standby => "standby",
            GroupState::Failed => "failed",
            GroupState::Unknown => "unknown",
            GroupState::Canary => "canary",
        }
    }
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("deploying") => GroupState::Deploying,
            Some("live") => GroupState::Live,
            Some("standby") => GroupState::Standby,
            Some("failed") => GroupState::Failed,
            Some("canary") => GroupState::Canary,
            _ => GroupState::Unknown,
        }
    }
}

/// A release group as observed: only groups named `<cluster>-vNNN` are releases (any
/// other group tagged with the cluster is not drydock's to touch, and is left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedGroup {
    pub name: ReleaseName,
    pub ami: Option<String>,
    pub image: Option<String>,
    pub state: GroupState,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    /// Instances the group has (any lifecycle state but Terminating/Terminated).
    pub instances: Vec<String>,
    /// The cluster's ELB is in the group's LoadBalancerNames.
    pub attached: bool,
    /// Any scaling process suspended (a warm standby).
    pub suspended: bool,
    /// `drydock:scaling`: whether the release has scaling policies or schedules that may
    /// change its size (None: no tag, a release of an older drydock; `may_resize`).
    pub resizes: Option<bool>,
    pub expires_at: Option<i64>,
    pub deployed_at: Option<i64>,
    pub deployed_by: Option<String>,
    /// `drydock:previous`: the release it replaced; a value that names no release of the
    /// cluster counts as none.
    pub previous: Option<ReleaseName>,
    /// Set when a rollback made this release live: the release it rolled back from (the
    /// tag as written, for messages).
    pub rolled_back_from: Option<String>,
    /// The digest of the runtime settings it runs with (`drydock:settings`).
    pub settings: Option<String>,
    pub launch_template: Option<String>,
    // --- progressive delivery (issue #17) ---
    /// `drydock:hold-until`: the canary's hold ends at this epoch second.
    pub hold_until: Option<i64>,
    /// `drydock:bake-until`: the release's bake time ends at this epoch second.
    pub bake_until: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedElb {
    pub name: String,
    pub dns: String,
    /// The current health check target, e.g. `HTTP:8080/health`.
    pub health_target: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceHealth {
    pub in_service: bool,
    pub state: String,
    /// `ELB` (the ELB's side, e.g. registration in progress), `Instance` (the instance
    /// fails its checks or is not running) or `N/A`.
    pub reason_code: String,
    pub description: String,
}

/// What a classic ELB says while it drains an instance that was deregistered: the
/// instance is still listed InService, but it is not serving capacity.
pub const DEREGISTERING: &str = "Instance deregistration currently in progress.";

impl ObservedGroup {
    /// Its release number, `NNN` of `<cluster>-vNNN`.
    pub fn number(&self) -> u16 {
        self.name.number
    }

    /// Whether a policy or schedule may change its size: true unless its release is
    /// tagged `drydock:scaling=none`. A warm standby that may resize itself has its
    /// processes suspended; one that may not keeps them, so that it stays at its size
    /// and still replaces an instance that fails its EC2 status checks.
    pub fn may_resize(&self) -> bool {
        self.resizes != Some(false)
    }
}

impl InstanceHealth {
    /// One entry of DescribeInstanceHealth. `in_service` is what drydock counts as serving
    /// capacity (waits, `status`, never-less-capacity): InService, and not draining.
    pub fn from_elb(state: String, reason_code: String, description: String) -> Self {
        let draining = description.trim() == DEREGISTERING;
        Self { in_service: state == "InService" && !draining, state, reason_code, description }
    }
}

/// What a release launch template is for: its `drydock:ami` and `drydock:settings` tags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateOf {
    pub ami: Option<String>,
    pub settings: Option<String>,
}

impl TemplateOf {
    /// The settings digest, a template without the tag having had no settings.
    pub fn settings(&self) -> String {
        self.settings.clone().unwrap_or_else(|| {
            super::settings::settings_digest(
                &BTreeMap::new(),
                &BTreeMap::new(),
                &crate::domain::scaling::Scaling::default(),
            )
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterSnapshot {
    pub elb: Option<ObservedElb>,
    /// Sorted by release number.
    pub groups: Vec<ObservedGroup>,
    /// ELB health of every instance the ELB knows.
    pub health: BTreeMap<String, InstanceHealth>,
    /// Release launch templates (`<cluster>-vNNN`) by number, with their AMI; may exist
    /// without a group when a run was killed between the two creations.
    pub launch_templates: BTreeMap<u16, TemplateOf>,
}

impl ClusterSnapshot {
    /// The release serving now: the attached group tagged live, else the newest attached
    /// group whose instances are all InService (a crash between attach and tag, or between
    /// a switch's detach and its tags).
    pub fn live(&self) -> Option<&ObservedGroup> {
        let attached = || self.groups.iter().filter(|g| g.attached);
        attached()
            .filter(|g| g.state == GroupState::Live)
            .max_by_key(|g| g.number())
            .or_else(|| attached().filter(|g| self.healthy(g)).max_by_key(|g| g.number()))
    }

    /// The newest group tagged live that is out of the ELB: a switch took it out and its
    /// run died before the tags that follow (a switch is the detach; its tags are
    /// bookkeeping). The re-run finishes its retirement; it is the release to attach
    /// again if nothing else serves.
    pub fn switched_from(&self) -> Option<&ObservedGroup> {
        self.groups.iter().filter(|g| !g.attached && g.state == GroupState::Live).max_by_key(|g| g.number())
    }

    /// The old release of a switch that is not finished: out of the ELB, still tagged
    /// live, while no attached group is tagged live yet. (Once another release is tagged
    /// live, such a group is only a leftover to retire.)
    pub fn interrupted(&self) -> Option<&ObservedGroup> {
        self.switched_from().filter(|_| self.live().is_none_or(|l| l.state != GroupState::Live))
    }

    /// What a rollback rolls back from: the live release, or the newer of the two an
    /// unfinished switch was between (a deploy's new release, or a rollback's old one).
    pub fn rollback_from(&self) -> Option<&ObservedGroup> {
        [self.live(), self.interrupted()].into_iter().flatten().max_by_key(|g| g.number())
    }

    /// Every instance of the group is InService in the ELB, and it has its desired count.
    pub fn healthy(&self, g: &ObservedGroup) -> bool {
        g.desired > 0 && g.instances.len() as u32 == g.desired && self.in_service(g) == g.desired as usize
    }

    pub fn in_service(&self, g: &ObservedGroup) -> usize {
        g.instances.iter().filter(|i| self.health.get(*i).is_some_and(|h| h.in_service)).count()
    }

    /// The ELB's InService count over every attached group.
    pub fn serving(&self) -> usize {
        self.groups.iter().filter(|g| g.attached).map(|g| self.in_service(g)).sum()
    }

    pub fn group(&self, name: &ReleaseName) -> Option<&ObservedGroup> {
        self.groups.iter().find(|g| &g.name == name)
    }

    /// The highest release number ever seen (groups or launch templates).
    pub fn highest_number(&self) -> u16 {
        let g = self.groups.iter().map(|g| g.number()).max().unwrap_or(0);
        let t = self.launch_templates.keys().copied().max().unwrap_or(0);
        g.max(t)
    }
}
