//! The validated configuration: every value here has passed its grammar, so the renderers
//! and the cloud layer can use it without checking again.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::domain::{Duration, ElbName, EnvName, ImageRepo, ServiceName};
// Plain data the cloud layer resolves too: defined in the domain, named here as well.
pub use crate::domain::network::{BaseAmi, Network, SecurityGroupRef, SubnetRef, VpcRef};

/// Everything in a config dir (`-C`).
#[derive(Debug)]
pub struct Tree {
    pub dir: PathBuf,
    pub recipes: BTreeMap<ServiceName, Recipe>,
    pub environments: BTreeMap<EnvName, Environment>,
    pub templates: Templates,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitSystem {
    Upstart,
    Systemd,
}

impl InitSystem {
    pub fn as_str(self) -> &'static str {
        match self {
            InitSystem::Upstart => "upstart",
            InitSystem::Systemd => "systemd",
        }
    }
}

/// `amis/<service>.toml`: what runs on every instance of the service.
#[derive(Debug)]
pub struct Recipe {
    pub service: ServiceName,
    pub file: PathBuf,
    pub image: ImageRepo,
    pub init: InitSystem,
    /// A template of the config tree (`upstart/<t>.conf.hbs` or `systemd/<t>.service.hbs`);
    /// None uses `default` from the tree if present, else the built-in one.
    pub template: Option<String>,
    pub container_port: u16,
    pub host_port: u16,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub base: BaseAmi,
    /// `[base] imds`: how the base's instances reach their metadata (builder and launch
    /// template alike).
    pub imds: Imds,
    /// `[base] docker`: the Docker version that the base's instances run (e.g. `1.6`), as
    /// declared: the job's docker flags are checked against it (rendering gives an upstart
    /// base 1.6 when none is declared: Ubuntu 14.04's docker.io, which the bootstrap installs).
    pub docker: Option<DockerVersion>,
    pub healthcheck: Option<Healthcheck>,
}

/// The instance metadata service mode of a base AMI's instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Imds {
    /// IMDSv2 only (session tokens required): the default, for every cloud-init since 19.1.
    #[default]
    V2,
    /// IMDSv1 allowed too: for legacy bases whose cloud-init predates IMDSv2 (Ubuntu
    /// 14.04's 0.7.5), which cannot read their user data otherwise.
    V1Allowed,
}

impl Imds {
    pub fn as_str(self) -> &'static str {
        match self {
            Imds::V2 => "v2",
            Imds::V1Allowed => "v1-allowed",
        }
    }
}

/// A Docker version, `major.minor[.patch]`, ordered numerically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DockerVersion(pub u32, pub u32, pub u32);

impl DockerVersion {
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('.').collect();
        let num = |p: &str| p.parse::<u32>().ok().filter(|_| !p.is_empty() && p.len() <= 4);
        match parts.as_slice() {
            [a, b] => num(a).zip(num(b)).map(|(a, b)| DockerVersion(a, b, 0)),
            [a, b, c] => match (num(a), num(b), num(c)) {
                (Some(a), Some(b), Some(c)) => Some(DockerVersion(a, b, c)),
                _ => None,
            },
            _ => None,
        }
        .ok_or_else(|| {
            format!("{s:?} is not a Docker version: major.minor or major.minor.patch, e.g. \"1.6\" or \"20.10.24\"")
        })
    }
}

impl std::fmt::Display for DockerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Since 17.03 the minor is a two-digit month: 17.07, 20.10.
        if self.0 >= 17 {
            write!(f, "{}.{:02}", self.0, self.1)?;
        } else {
            write!(f, "{}.{}", self.0, self.1)?;
        }
        if self.2 != 0 {
            write!(f, ".{}", self.2)?;
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct Healthcheck {
    pub cmd: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
}

/// `environments/<env>.toml`: where and how big each service runs.
#[derive(Debug)]
pub struct Environment {
    pub name: EnvName,
    pub file: PathBuf,
    pub region: String,
    pub account_id: Option<String>,
    /// The AWS profile whose credentials reach this environment's account (None: the
    /// default chain). Lets one run promote from a staging account to a prod account.
    pub profile: Option<String>,
    pub network: Network,
    pub bake: Bake,
    pub nginx: Nginx,
    pub gc: Gc,
    pub services: BTreeMap<ServiceName, ServiceEnv>,
}

/// `[gc]`: which unused AMIs `drydock gc` deregisters.
#[derive(Debug, Clone, Copy)]
pub struct Gc {
    /// An unused AMI younger than this is kept.
    pub ami_retention: Duration,
    /// The newest this many AMIs of each service are kept, used or not.
    pub keep_amis: u32,
}

#[derive(Debug)]
pub struct Bake {
    pub instance_type: String,
    /// None: the first subnet of the environment's network.
    pub subnet: Option<SubnetRef>,
    pub timeout: Duration,
    pub instance_profile: Option<String>,
    pub volume_size_gib: u32,
    /// The KMS key that encrypts the builder's volume and so the AMI's snapshots (None:
    /// the account's default EBS key, which cannot be shared with another account: set a
    /// customer-managed key to promote across accounts).
    pub kms_key_id: Option<String>,
}

#[derive(Debug)]
pub struct Nginx {
    pub listen: String,
    pub server_names: Vec<String>,
    pub resolvers: Vec<String>,
    pub resolver_valid: Duration,
    pub template: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standby {
    /// Instances kept running, processes suspended, for rollback in seconds.
    Warm,
    /// Scaled to zero: rollback has to launch instances again.
    Cold,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    pub min: u32,
    pub desired: u32,
    pub max: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerProtocol {
    Http,
    Tcp,
}

impl ListenerProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerProtocol::Http => "HTTP",
            ListenerProtocol::Tcp => "TCP",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    pub protocol: ListenerProtocol,
    pub instance_port: u16,
}

/// A classic ELB health check target, `HTTP:8080/health` or `TCP:8080`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheckTarget(pub String);

/// `[services.<name>]` of an environment.
#[derive(Debug)]
pub struct ServiceEnv {
    pub route: Option<String>,
    pub instance_type: String,
    pub capacity: Capacity,
    pub listener: Listener,
    pub health_check: HealthCheckTarget,
    pub health_timeout: Duration,
    pub grace_period: Duration,
    /// Fail a release whose instances are certainly broken before `health_timeout`
    /// (`domain::health`); on unless set to false.
    pub fail_early: bool,
    pub keep_releases: u32,
    pub standby: Standby,
    pub standby_ttl: Duration,
    pub elb_name: ElbName,
    pub instance_profile: Option<String>,
    pub volume_size_gib: u32,
    /// Runtime settings: they travel in the release's user data, never in the AMI, and
    /// override the recipe's baked env.
    pub env: BTreeMap<String, String>,
    /// Secrets by reference, resolved on the instance at every start of the service.
    pub secrets: BTreeMap<String, crate::domain::secret::SecretRef>,
    // ---- scaling (issue 16)
    /// Policies, schedules and lifecycle hooks of each release group (part of the
    /// release's identity: see `domain::scaling`).
    pub scaling: crate::domain::scaling::Scaling,
    // ---- end scaling
    // --- progressive delivery (issue #17; config/progressive.rs) ---
    /// `canary = { instances, hold }`: the new release first serves with this many
    /// instances beside the full live group, for `hold`, watched by `alarms`.
    pub canary: Option<Canary>,
    /// `alarms = [...]`: CloudWatch alarms that gate the deploy, the canary hold and the
    /// bake time; unique, in config order (the first firing one is reported).
    pub alarms: Vec<crate::domain::alarm::AlarmName>,
    /// `bake_time`: how long after the switch the alarms are watched (0 s: not at all).
    pub bake_time: Duration,
    // --- end progressive delivery ---
}

/// `canary = { instances = N, hold = "5m" }` (1 ≤ N < desired).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Canary {
    pub instances: u32,
    pub hold: Duration,
}

/// A user template file of the config tree.
#[derive(Debug, Clone)]
pub struct TemplateFile {
    pub display: PathBuf,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Templates {
    pub upstart: BTreeMap<String, TemplateFile>,
    pub systemd: BTreeMap<String, TemplateFile>,
    pub nginx: BTreeMap<String, TemplateFile>,
}

impl Tree {
    pub fn recipe(&self, service: &ServiceName) -> Option<&Recipe> {
        self.recipes.get(service)
    }
    pub fn environment(&self, env: &EnvName) -> Option<&Environment> {
        self.environments.get(env)
    }
}
