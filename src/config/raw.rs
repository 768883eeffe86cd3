//! The files as written: serde structs that reject unknown keys and keep every value in
//! its plain TOML type. `build.rs` turns them into the validated model.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `amis/<service>.toml`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub image: Option<String>,
    pub init: Option<String>,
    pub template: Option<String>,
    pub container_port: Option<i64>,
    pub host_port: Option<i64>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub base: Option<Base>,
    pub healthcheck: Option<Healthcheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    pub ami_id: Option<String>,
    pub owner: Option<String>,
    pub name: Option<String>,
    pub imds: Option<String>,
    pub docker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    pub cmd: Option<Vec<String>>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<i64>,
}

/// `environments/<env>.toml`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub profile: Option<String>,
    pub network: Option<Network>,
    pub bake: Option<Bake>,
    pub nginx: Option<Nginx>,
    pub gc: Option<Gc>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gc {
    pub ami_retention: Option<String>,
    pub keep_amis: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub vpc: Option<String>,
    pub subnets: Option<Vec<String>>,
    pub security_groups: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bake {
    pub instance_type: Option<String>,
    pub subnet: Option<String>,
    pub timeout: Option<String>,
    pub instance_profile: Option<String>,
    pub volume_size: Option<i64>,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nginx {
    pub listen: Option<String>,
    pub server_name: Option<Vec<String>>,
    pub resolver: Option<Vec<String>>,
    pub resolver_valid: Option<String>,
    pub template: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub route: Option<String>,
    pub instance_type: Option<String>,
    pub min: Option<i64>,
    pub desired: Option<i64>,
    pub max: Option<i64>,
    pub listener: Option<Listener>,
    pub health_check: Option<String>,
    pub health_timeout: Option<String>,
    pub grace_period: Option<String>,
    pub fail_early: Option<bool>,
    pub keep_releases: Option<i64>,
    pub standby: Option<String>,
    pub standby_ttl: Option<String>,
    pub elb_name: Option<String>,
    pub instance_profile: Option<String>,
    pub volume_size: Option<i64>,
    /// Runtime settings of the service in this environment (override the recipe's env).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secrets by reference: NAME = "ssm:/path" or "secretsmanager:<id>[#key]".
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    // ---- scaling (issue 16): `[services.<n>.scaling]`, `[[services.<n>.schedule]]`,
    // `[services.<n>.lifecycle]`; validated in `config/scaling.rs`.
    pub scaling: Option<ScalingRaw>,
    #[serde(default)]
    pub schedule: Vec<ScheduleRaw>,
    pub lifecycle: Option<LifecycleRaw>,
    // ---- end scaling
    // --- progressive delivery (issue #17; validated in config/progressive.rs) ---
    pub canary: Option<Canary>,
    pub alarms: Option<Vec<String>>,
    pub bake_time: Option<String>,
    // --- end progressive delivery ---
}

/// `canary = { instances = N, hold = "5m" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    pub instances: Option<i64>,
    pub hold: Option<String>,
}

// ---- scaling (issue 16)
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingRaw {
    pub cpu_target: Option<i64>,
    pub warmup: Option<String>,
    pub scale_in: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRaw {
    pub name: Option<String>,
    pub recurrence: Option<String>,
    pub time_zone: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub desired: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRaw {
    pub launch_timeout: Option<String>,
    pub launch_default: Option<String>,
    pub drain: Option<String>,
}
// ---- end scaling

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub port: Option<i64>,
    pub protocol: Option<String>,
    pub instance_port: Option<i64>,
}
