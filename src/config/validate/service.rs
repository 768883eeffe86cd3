//! One service's block of an environment (`[services.<name>]`): capacity, listener and
//! health check, standby, ELB name, settings and secrets, scaling and progressive
//! delivery (the last two through `config/scaling.rs` and `config/progressive.rs`).

use std::collections::BTreeMap;

use super::Check;
use crate::config::model::*;
use crate::config::raw;
use crate::domain::duration::bounds;
use crate::domain::{grammar, ElbName, EnvName, ServiceName};

/// A release group's min, desired and max: during a switch the new release is registered
/// with the ELB beside the live one at the same capacity, and a classic ELB takes 1,000
/// registered instances (the default quota "Registered Instances per Classic Load
/// Balancer"), so each group gets half.
const MAX_CAPACITY: i64 = 500;

fn health_check(s: &str) -> Result<HealthCheckTarget, String> {
    const RULE: &str = "a health check is HTTP:<port>/<path>, HTTPS:<port>/<path>, TCP:<port> or SSL:<port>, where the path is made of [A-Za-z0-9._~/-]";
    let err = || format!("{s:?} is not a valid ELB health check: {RULE}");
    let (proto, rest) = s.split_once(':').ok_or_else(err)?;
    let (port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let port_ok = port.parse::<i64>().ok().is_some_and(|p| grammar::port(p).is_ok());
    let path_ok = |p: &str| p.len() <= 1000 && p.chars().all(|c| c.is_ascii_alphanumeric() || "._~/-".contains(c));
    let ok = port_ok
        && match (proto, path) {
            ("HTTP" | "HTTPS", Some(p)) => path_ok(p),
            ("TCP" | "SSL", None) => true,
            _ => false,
        };
    if ok {
        Ok(HealthCheckTarget(s.to_owned()))
    } else {
        Err(err())
    }
}

pub(super) fn service_env(
    c: &mut Check<'_>,
    env: &EnvName,
    service: &ServiceName,
    key: &str,
    s: raw::Service,
    host_port: Option<Option<u16>>,
) -> Option<ServiceEnv> {
    let before = c.errors.len();
    let p = |k: &'static str| ["services", key, k];
    let route = s.route.and_then(|r| c.ok(&p("route"), grammar::route(&r).map(str::to_owned)));
    let instance_type = c
        .required(&p("instance_type"), s.instance_type)
        .and_then(|t| c.ok(&p("instance_type"), grammar::instance_type(&t).map(str::to_owned)));
    let min = c.required(&p("min"), s.min).and_then(|v| c.count(&p("min"), Some(v), (0, MAX_CAPACITY)));
    let max = c.required(&p("max"), s.max).and_then(|v| c.count(&p("max"), Some(v), (1, MAX_CAPACITY)));
    let desired = match s.desired {
        Some(v) => c.count(&p("desired"), Some(v), (0, MAX_CAPACITY)),
        None => min,
    };
    let capacity = match (min, desired, max) {
        (Some(min), Some(desired), Some(max)) => {
            if min <= desired && desired <= max {
                Some(Capacity { min, desired, max })
            } else {
                c.err(
                    &p("desired"),
                    format!("min {min}, desired {desired} and max {max} must satisfy min ≤ desired ≤ max"),
                );
                None
            }
        }
        _ => None,
    };
    let listener = match s.listener {
        None => Some((80, ListenerProtocol::Http, None)),
        Some(l) => {
            let port = c.ok(&["services", key, "listener", "port"], grammar::port(l.port.unwrap_or(80)));
            let protocol = match l.protocol.as_deref() {
                None | Some("HTTP") => Some(ListenerProtocol::Http),
                Some("TCP") => Some(ListenerProtocol::Tcp),
                Some(o) => {
                    c.err(
                        &["services", key, "listener", "protocol"],
                        format!("{o:?} is not supported: HTTP or TCP is allowed (terminate TLS in NGINX in front)"),
                    );
                    None
                }
            };
            let ip = match l.instance_port {
                None => Some(None),
                Some(v) => c.ok(&["services", key, "listener", "instance_port"], grammar::port(v)).map(Some),
            };
            match (port, protocol, ip) {
                (Some(port), Some(protocol), Some(ip)) => Some((port, protocol, ip)),
                _ => None,
            }
        }
    };
    let listener = listener.and_then(|(port, protocol, ip)| match (ip, host_port) {
        (Some(instance_port), _) | (None, Some(Some(instance_port))) => {
            Some(Listener { port, protocol, instance_port })
        }
        (None, Some(None)) => None,
        (None, None) => {
            c.err(
                &["services", key, "listener"],
                format!(
                    "set listener.instance_port: there is no amis/{service}.toml whose host_port it could default to"
                ),
            );
            None
        }
    });
    let health =
        c.required(&p("health_check"), s.health_check).and_then(|h| c.ok(&p("health_check"), health_check(&h)));
    let health_timeout = c.duration(&p("health_timeout"), s.health_timeout, 10 * 60, bounds::HEALTH_TIMEOUT);
    let grace_period = c.duration(&p("grace_period"), s.grace_period, 5 * 60, bounds::GRACE_PERIOD);
    let keep_releases = c.count(&p("keep_releases"), s.keep_releases.or(Some(2)), (0, 20));
    let standby = match s.standby.as_deref() {
        None | Some("warm") => Some(Standby::Warm),
        Some("cold") => Some(Standby::Cold),
        Some(o) => {
            c.err(
                &p("standby"),
                format!("{o:?} is not a standby mode: warm (instances kept running) or cold (scaled to 0) is allowed"),
            );
            None
        }
    };
    let standby_ttl = c.duration(&p("standby_ttl"), s.standby_ttl, 3600, bounds::STANDBY_TTL);
    let cluster = crate::domain::ClusterName::new(service, env);
    let elb_name = match s.elb_name {
        None => Some(ElbName::for_cluster(&cluster)),
        Some(n) => c.ok(&p("elb_name"), ElbName::parse(&n)),
    };
    let instance_profile =
        s.instance_profile.and_then(|v| c.ok(&p("instance_profile"), grammar::aws_name(&v).map(str::to_owned)));
    let volume = c.count(&p("volume_size"), s.volume_size.or(Some(8)), (1, 16384));
    let mut env_settings = BTreeMap::new();
    for (k, v) in &s.env {
        let path = ["services", key, "env", k.as_str()];
        let k_ok = c.ok(&path, grammar::env_name(k)).is_some();
        let v_ok = c.ok(&path, grammar::env_value(v)).is_some();
        if k_ok && v_ok {
            env_settings.insert(k.clone(), v.clone());
        }
    }
    let mut secrets = BTreeMap::new();
    for (k, v) in &s.secrets {
        let path = ["services", key, "secrets", k.as_str()];
        // The name is a plain env name here: its value is a reference, never a secret.
        let k_ok = c.ok(&path, crate::domain::grammar::env_var_name(k)).is_some();
        if env_settings.contains_key(k) {
            c.err(&path, format!("{k} is both a setting ([services.{key}.env]) and a secret: give it one source"));
        }
        if let (true, Some(r)) = (k_ok, c.ok(&path, crate::domain::secret::SecretRef::parse(v))) {
            secrets.insert(k.clone(), r);
        }
    }
    let scaling = crate::config::scaling::scaling(c, key, s.scaling, s.schedule, s.lifecycle, health_timeout);
    let progressive = crate::config::progressive::service(
        c,
        key,
        crate::config::progressive::Raw { canary: s.canary, alarms: s.alarms, bake_time: s.bake_time },
        capacity.as_ref().map(|cap| cap.desired),
    );
    if c.errors.len() != before {
        return None;
    }
    let progressive = progressive?;
    Some(ServiceEnv {
        route,
        instance_type: instance_type?,
        capacity: capacity?,
        listener: listener?,
        health_check: health?,
        health_timeout: health_timeout?,
        grace_period: grace_period?,
        fail_early: s.fail_early.unwrap_or(true),
        keep_releases: keep_releases?,
        standby: standby?,
        standby_ttl: standby_ttl?,
        elb_name: elb_name?,
        instance_profile,
        volume_size_gib: volume?,
        env: env_settings,
        secrets,
        scaling: scaling?,
        canary: progressive.canary,
        alarms: progressive.alarms,
        bake_time: progressive.bake_time,
    })
}
