//! raw → model: every value through its grammar, every error located (file, line, key).

use std::collections::BTreeMap;

use super::model::*;
use super::raw;
use super::source::Source;
use super::ConfigError;
use crate::domain::duration::bounds;
use crate::domain::{grammar, Duration, ElbName, EnvName, ImageRepo, ServiceName};

/// Collects the errors of one file.
pub struct Check<'a> {
    pub src: &'a Source,
    pub errors: Vec<ConfigError>,
}

impl<'a> Check<'a> {
    pub fn new(src: &'a Source) -> Self {
        Self { src, errors: Vec::new() }
    }
    pub fn err(&mut self, path: &[&str], msg: impl Into<String>) {
        let e = self.src.error(path, msg);
        self.errors.push(e);
    }
    pub fn required<T>(&mut self, path: &[&str], v: Option<T>) -> Option<T> {
        if v.is_none() {
            self.err(path, "is required");
        }
        v
    }
    pub fn ok<T>(&mut self, path: &[&str], r: Result<T, String>) -> Option<T> {
        r.map_err(|m| self.err(path, m)).ok()
    }
    /// A duration within `bounds` (see `domain::duration::bounds`), or `default`.
    pub(super) fn duration(
        &mut self,
        path: &[&str],
        v: Option<String>,
        default: u64,
        (min, max): (Duration, Duration),
    ) -> Option<Duration> {
        match v {
            None => Some(Duration::from_secs(default)),
            Some(s) => self.ok(path, Duration::parse_within(&s, min, max)),
        }
    }
    pub(super) fn count(&mut self, path: &[&str], v: Option<i64>, range: (i64, i64)) -> Option<u32> {
        let n = v?;
        if n < range.0 || n > range.1 {
            self.err(path, format!("{n} is out of range: a whole number from {} to {} is allowed", range.0, range.1));
            return None;
        }
        u32::try_from(n).ok()
    }
}

/// A release group's min, desired and max: during a switch the new release is registered
/// with the ELB beside the live one at the same capacity, and a classic ELB takes 1,000
/// registered instances (the default quota "Registered Instances per Classic Load
/// Balancer"), so each group gets half.
const MAX_CAPACITY: i64 = 500;

/// `amis/<service>.toml`
pub fn recipe(src: &Source, service: ServiceName, r: raw::Recipe) -> Result<Recipe, Vec<ConfigError>> {
    let mut c = Check::new(src);
    let image = c.required(&["image"], r.image).and_then(|s| c.ok(&["image"], ImageRepo::parse(&s)));
    let init = match r.init.as_deref() {
        None | Some("upstart") => Some(InitSystem::Upstart),
        Some("systemd") => Some(InitSystem::Systemd),
        Some(other) => {
            c.err(&["init"], format!("{other:?} is not an init system: upstart or systemd is allowed"));
            None
        }
    };
    let template = r.template.and_then(|t| c.ok(&["template"], grammar::template_name(&t).map(str::to_owned)));
    let container_port =
        c.required(&["container_port"], r.container_port).and_then(|p| c.ok(&["container_port"], grammar::port(p)));
    // The host port defaults to the container port: most services listen where they run.
    let host_port = match r.host_port {
        Some(p) => c.ok(&["host_port"], grammar::port(p)),
        None => container_port,
    };
    let mut args = Vec::new();
    for a in &r.args {
        if let Some(a) = c.ok(&["args"], grammar::word(a)) {
            args.push(a.to_owned());
        }
    }
    let mut env = BTreeMap::new();
    for (k, v) in &r.env {
        let path = ["env", k.as_str()];
        let k_ok = c.ok(&path, grammar::env_name(k)).is_some();
        let v_ok = c.ok(&path, grammar::env_value(v)).is_some();
        if k_ok && v_ok {
            env.insert(k.clone(), v.clone());
        }
    }
    let mut imds = Some(Imds::V2);
    let mut docker = None;
    if let Some(b) = &r.base {
        imds = match b.imds.as_deref() {
            None | Some("v2") => Some(Imds::V2),
            Some("v1-allowed") => Some(Imds::V1Allowed),
            Some(o) => {
                c.err(&["base", "imds"], format!("{o:?} is not a metadata mode: \"v2\" (IMDSv2 required, the default) or \"v1-allowed\" (for a base whose cloud-init predates IMDSv2) is allowed"));
                None
            }
        };
        docker = b.docker.as_deref().and_then(|v| c.ok(&["base", "docker"], DockerVersion::parse(v)));
    }
    let base = match c.required(&["base"], r.base) {
        None => None,
        Some(b) => match (b.ami_id, b.owner, b.name) {
            (Some(id), None, None) => {
                c.ok(&["base", "ami_id"], grammar::aws_id(&id, "ami").map(|s| BaseAmi::Id(s.to_owned())))
            }
            (None, Some(owner), Some(name)) => {
                let owner_ok = matches!(owner.as_str(), "self" | "amazon" | "aws-marketplace")
                    || grammar::account_id(&owner).is_ok();
                if !owner_ok {
                    c.err(&["base", "owner"], format!("{owner:?} is not an image owner: a 12-digit account id, self, amazon or aws-marketplace is allowed"));
                }
                let name = c.ok(&["base", "name"], grammar::aws_name(&name).map(str::to_owned));
                match (owner_ok, name) {
                    (true, Some(name)) => Some(BaseAmi::Search { owner, name }),
                    _ => None,
                }
            }
            _ => {
                c.err(&["base"], "set either ami_id, or owner and name (the newest available image of that owner whose name matches)");
                None
            }
        },
    };
    let healthcheck = match r.healthcheck {
        None => None,
        Some(h) => {
            let cmd = c.required(&["healthcheck", "cmd"], h.cmd).and_then(|cmd| {
                if cmd.is_empty() {
                    c.err(&["healthcheck", "cmd"], "must name a command");
                    return None;
                }
                let ok: Vec<_> = cmd.iter().filter_map(|a| c.ok(&["healthcheck", "cmd"], grammar::word(a))).collect();
                (ok.len() == cmd.len()).then(|| cmd.clone())
            });
            let interval = c.duration(&["healthcheck", "interval"], h.interval, 30, bounds::HEALTHCHECK);
            let timeout = c.duration(&["healthcheck", "timeout"], h.timeout, 5, bounds::HEALTHCHECK);
            let retries = c.count(&["healthcheck", "retries"], h.retries.or(Some(3)), (1, 100));
            match (cmd, interval, timeout, retries) {
                (Some(cmd), Some(interval), Some(timeout), Some(retries)) => {
                    Some(Healthcheck { cmd, interval, timeout, retries })
                }
                _ => None,
            }
        }
    };
    match (image, init, container_port, host_port, base, imds) {
        (Some(image), Some(init), Some(container_port), Some(host_port), Some(base), Some(imds))
            if c.errors.is_empty() =>
        {
            Ok(Recipe {
                service,
                file: src.display.clone(),
                image,
                init,
                template,
                container_port,
                host_port,
                args,
                env,
                base,
                imds,
                docker,
                healthcheck,
            })
        }
        _ => Err(c.errors),
    }
}

fn subnet_ref(s: &str) -> Result<SubnetRef, String> {
    if s == "default" {
        Ok(SubnetRef::Default)
    } else if s.starts_with("subnet-") {
        grammar::aws_id(s, "subnet").map(|s| SubnetRef::Id(s.to_owned()))
    } else {
        grammar::aws_name(s).map(|s| SubnetRef::Name(s.to_owned()))
    }
}

/// The host port of each `amis/<service>.toml`, by file stem: None where that file is
/// itself invalid (its own errors are reported; no second error here).
pub type HostPorts = BTreeMap<String, Option<u16>>;

/// `environments/<env>.toml`; `host_ports` gives each service's ELB instance port when the
/// listener does not name one.
pub fn environment(
    src: &Source,
    name: EnvName,
    r: raw::Environment,
    host_ports: &HostPorts,
) -> Result<Environment, Vec<ConfigError>> {
    let mut c = Check::new(src);
    let region =
        c.required(&["region"], r.region).and_then(|s| c.ok(&["region"], grammar::region(&s).map(str::to_owned)));
    let account_id = r.account_id.and_then(|s| c.ok(&["account_id"], grammar::account_id(&s).map(str::to_owned)));
    let profile = r.profile.and_then(|s| c.ok(&["profile"], grammar::profile(&s).map(str::to_owned)));

    let net = r.network.unwrap_or(raw::Network { vpc: None, subnets: None, security_groups: None });
    let vpc = match net.vpc.as_deref() {
        None | Some("default") => Some(VpcRef::Default),
        Some(s) if s.starts_with("vpc-") => {
            c.ok(&["network", "vpc"], grammar::aws_id(s, "vpc").map(|s| VpcRef::Id(s.to_owned())))
        }
        Some(s) => c.ok(&["network", "vpc"], grammar::aws_name(s).map(|s| VpcRef::Name(s.to_owned()))),
    };
    let subnets: Vec<SubnetRef> = net
        .subnets
        .unwrap_or_else(|| vec!["default".into()])
        .iter()
        .filter_map(|s| c.ok(&["network", "subnets"], subnet_ref(s)))
        .collect();
    if subnets.is_empty() {
        c.err(&["network", "subnets"], "must name at least one subnet (or \"default\")");
    }
    let security_groups: Vec<SecurityGroupRef> = net
        .security_groups
        .unwrap_or_else(|| vec!["default".into()])
        .iter()
        .filter_map(|s| {
            let r = if s.starts_with("sg-") {
                grammar::aws_id(s, "sg").map(|s| SecurityGroupRef::Id(s.to_owned()))
            } else {
                grammar::aws_name(s).map(|s| SecurityGroupRef::Name(s.to_owned()))
            };
            c.ok(&["network", "security_groups"], r)
        })
        .collect();

    let b = r.bake.unwrap_or(raw::Bake {
        instance_type: None,
        subnet: None,
        timeout: None,
        instance_profile: None,
        volume_size: None,
        kms_key_id: None,
    });
    let bake_type = c.ok(
        &["bake", "instance_type"],
        grammar::instance_type(b.instance_type.as_deref().unwrap_or("t3.small")).map(str::to_owned),
    );
    let bake_subnet = match b.subnet {
        None => Some(None),
        Some(s) => c.ok(&["bake", "subnet"], subnet_ref(&s)).map(Some),
    };
    let bake_timeout = c.duration(&["bake", "timeout"], b.timeout, 20 * 60, bounds::BAKE_TIMEOUT);
    let bake_profile =
        b.instance_profile.and_then(|s| c.ok(&["bake", "instance_profile"], grammar::aws_name(&s).map(str::to_owned)));
    let bake_volume = c.count(&["bake", "volume_size"], b.volume_size.or(Some(8)), (1, 16384));
    let bake_kms = b.kms_key_id.and_then(|k| c.ok(&["bake", "kms_key_id"], grammar::kms_key(&k).map(str::to_owned)));

    let n = r.nginx.unwrap_or(raw::Nginx {
        listen: None,
        server_name: None,
        resolver: None,
        resolver_valid: None,
        template: None,
    });
    let listen = c.ok(&["nginx", "listen"], grammar::listen(n.listen.as_deref().unwrap_or("80")).map(str::to_owned));
    let server_names: Vec<String> = n
        .server_name
        .unwrap_or_else(|| vec!["_".into()])
        .iter()
        .filter_map(|s| c.ok(&["nginx", "server_name"], grammar::server_name(s).map(str::to_owned)))
        .collect();
    if server_names.is_empty() {
        c.err(&["nginx", "server_name"], "must name at least one server name (or \"_\" for any host)");
    }
    // 169.254.169.253 is the VPC's Amazon-provided DNS, reachable from every instance.
    let resolvers: Vec<String> = n
        .resolver
        .unwrap_or_else(|| vec!["169.254.169.253".into()])
        .iter()
        .filter_map(|s| c.ok(&["nginx", "resolver"], grammar::resolver(s).map(str::to_owned)))
        .collect();
    if resolvers.is_empty() {
        c.err(&["nginx", "resolver"], "must name at least one DNS server");
    }
    let resolver_valid = c.duration(&["nginx", "resolver_valid"], n.resolver_valid, 30, bounds::RESOLVER_VALID);
    let nginx_template =
        n.template.and_then(|t| c.ok(&["nginx", "template"], grammar::template_name(&t).map(str::to_owned)));

    let (ami_retention, keep_amis) = match r.gc {
        None => (Some(Duration::from_secs(14 * 86400)), Some(3)),
        Some(g) => (
            c.duration(&["gc", "ami_retention"], g.ami_retention, 14 * 86400, bounds::AMI_RETENTION),
            c.count(&["gc", "keep_amis"], g.keep_amis.or(Some(3)), (1, 100)),
        ),
    };
    let mut services = BTreeMap::new();
    let mut routes: BTreeMap<String, String> = BTreeMap::new();
    for (key, s) in r.services {
        let Some(service) = c.ok(&["services", key.as_str()], ServiceName::parse(&key)) else {
            continue;
        };
        let host_port = host_ports.get(&key).copied();
        if let Some(s) = service_env(&mut c, &name, &service, &key, s, host_port) {
            if let Some(route) = &s.route {
                if let Some(other) = routes.insert(route.clone(), key.clone()) {
                    c.err(&["services", key.as_str(), "route"], format!("route {route:?} is already the route of service {other}: each URL prefix goes to exactly one service"));
                }
            }
            services.insert(service, s);
        }
    }

    let gc = match (ami_retention, keep_amis) {
        (Some(ami_retention), Some(keep_amis)) => Some(Gc { ami_retention, keep_amis }),
        _ => None,
    };
    let e = match (region, vpc, bake_type, bake_subnet, bake_timeout, bake_volume, listen, resolver_valid, gc) {
        (Some(region), Some(vpc), Some(it), Some(bs), Some(bt), Some(bv), Some(listen), Some(rv), Some(gc))
            if c.errors.is_empty() =>
        {
            Environment {
                name,
                file: src.display.clone(),
                region,
                account_id,
                profile,
                network: Network { vpc, subnets, security_groups },
                bake: Bake {
                    instance_type: it,
                    subnet: bs,
                    timeout: bt,
                    instance_profile: bake_profile,
                    volume_size_gib: bv,
                    kms_key_id: bake_kms,
                },
                nginx: Nginx { listen, server_names, resolvers, resolver_valid: rv, template: nginx_template },
                gc,
                services,
            }
        }
        _ => return Err(c.errors),
    };
    Ok(e)
}

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

fn service_env(
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
    let scaling = super::scaling::scaling(c, key, s.scaling, s.schedule, s.lifecycle, health_timeout);
    let progressive = super::progressive::service(
        c,
        key,
        super::progressive::Raw { canary: s.canary, alarms: s.alarms, bake_time: s.bake_time },
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

/// Checks across files: ELB names are unique per account and region, so two environments
/// in one region must not configure the same one.
pub fn cross_checks(envs: &BTreeMap<EnvName, Environment>, sources: &BTreeMap<EnvName, Source>) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut seen: BTreeMap<(String, String), (EnvName, ServiceName)> = BTreeMap::new();
    for (en, e) in envs {
        for (sn, s) in &e.services {
            let k = (e.region.clone(), s.elb_name.as_str().to_owned());
            if let Some((oe, os)) = seen.get(&k) {
                if let Some(src) = sources.get(en) {
                    errors.push(src.error(&["services", sn.as_str(), "elb_name"], format!("ELB name {:?} is also used by service {os} in environment {oe} in region {}: ELB names are unique per account and region", s.elb_name.as_str(), e.region)));
                }
            } else {
                seen.insert(k, (en.clone(), sn.clone()));
            }
        }
    }
    errors
}
