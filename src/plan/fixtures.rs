//! What the planners' tests share: a service of an environment, as the config builds it.

use crate::config::{Capacity, HealthCheckTarget, Listener, ListenerProtocol, ServiceEnv, Standby};
use crate::domain::cluster::{ClusterSnapshot, GroupState, InstanceHealth, ObservedElb, ObservedGroup};
use crate::domain::{ClusterName, Duration, ElbName, EnvName, ReleaseName, ServiceName};
use crate::plan::deploy::{plan_deploy, DeployRequest};
use crate::plan::Plan;

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
        resizes: None,
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

/// ELB www-prod, as observed.
pub fn elb() -> ObservedElb {
    ObservedElb { name: "www-prod".into(), dns: "www-prod-1.elb".into(), health_target: "HTTP:8080/health".into() }
}

/// www-prod with these groups; the instances of attached groups InService.
pub fn snapshot(groups: Vec<ObservedGroup>) -> ClusterSnapshot {
    let mut s = ClusterSnapshot { elb: Some(elb()), groups, ..Default::default() };
    for g in s.groups.clone() {
        for i in &g.instances {
            s.health.insert(
                i.clone(),
                InstanceHealth {
                    in_service: g.attached,
                    state: "InService".into(),
                    reason_code: "N/A".into(),
                    description: String::new(),
                },
            );
        }
    }
    s
}

/// The plan of deploying `ami` to www-prod with runtime settings of digest `settings`,
/// `watch` the alarms a canary or bake time watches (None: no progressive delivery).
pub fn deploy_plan(
    svc: &ServiceEnv,
    ami: &str,
    snap: &ClusterSnapshot,
    settings: &str,
    watch: Option<&[String]>,
) -> Plan {
    let service = ServiceName::parse("www").unwrap();
    let env = EnvName::parse("prod").unwrap();
    let subnets = vec!["subnet-a".to_owned()];
    let sgs = vec!["sg-1".to_owned()];
    let req = DeployRequest {
        service: &service,
        env: &env,
        ami,
        image: Some("r/www:2"),
        root_device: Some("/dev/sda1"),
        health_timeout_s: 600,
        now: 1_000_000,
        deployed_by: "jenkins",
        subnets: &subnets,
        security_groups: &sgs,
        extra_tags: vec![],
        imds_v1_allowed: false,
        settings,
        previous_settings: None,
        watch,
    };
    plan_deploy(svc, &req, snap).unwrap()
}
