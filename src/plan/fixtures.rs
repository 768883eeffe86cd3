//! What the planners' tests share: a service of an environment, as the config builds it.

use crate::config::{Capacity, HealthCheckTarget, Listener, ListenerProtocol, ServiceEnv, Standby};
use crate::domain::cluster::{GroupState, ObservedGroup};
use crate::domain::{ClusterName, Duration, ElbName, EnvName, ReleaseName, ServiceName};

/// www in prod: 2 instances (1–4) behind HTTP:8080/health, a 10-minute health timeout.
pub fn svc(standby: Standby, keep: u32) -> ServiceEnv {
    ServiceEnv {
        route: Some("/".into()),
        instance_type: "t3.small".into(),
        capacity: Capacity { min: 1, desired: 2, max: 4 },
        listener: Listener { port: 80, protocol: ListenerProtocol::Http, instance_port: 8080 },
        health_check: HealthCheckTarget("HTTP:8080/health".into()),
        health_timeout: Duration::from_secs(600),
        grace_period: Duration::from_secs(300),
        fail_early: true,
        keep_releases: keep,
        standby,
        standby_ttl: Duration::from_secs(3600),
        elb_name: ElbName::parse("www-prod").unwrap(),
        instance_profile: None,
        volume_size_gib: 8,
        env: Default::default(),
        secrets: Default::default(),
        scaling: Default::default(),
        canary: None,
        alarms: vec![],
        bake_time: Duration::from_secs(0),
    }
}

/// The cluster www-prod.
pub fn cluster() -> ClusterName {
    ClusterName::new(&ServiceName::parse("www").unwrap(), &EnvName::parse("prod").unwrap())
}

/// Release `n` of www-prod, `www-prod-vNNN`.
pub fn release(n: u16) -> ReleaseName {
    cluster().release(n)
}

/// Release `n` of www-prod, running `ami` with `desired` instances.
pub fn group(n: u16, ami: &str, state: GroupState, desired: u32, attached: bool) -> ObservedGroup {
    ObservedGroup {
        name: release(n),
        ami: Some(ami.into()),
        image: None,
        state,
        min: 1,
        desired,
        max: 4.max(desired),
        instances: (0..desired).map(|i| format!("i-{n}-{i}")).collect(),
        attached,
        suspended: false,
        expires_at: None,
        deployed_at: None,
        deployed_by: None,
        previous: None,
        rolled_back_from: None,
        settings: None,
        launch_template: Some(release(n).to_string()),
        hold_until: None,
        bake_until: None,
    }
}
