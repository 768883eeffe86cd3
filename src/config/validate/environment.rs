//! `environments/<env>.toml`: region and account, network, bake, nginx, gc and its
//! services (each through `service.rs`); and the checks across environments.

use std::collections::BTreeMap;

use super::Check;
use crate::config::model::*;
use crate::config::raw;
use crate::config::source::Source;
use crate::config::ConfigError;
use crate::domain::duration::bounds;
use crate::domain::Duration;
use crate::domain::{grammar, EnvName, ServiceName};

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
        if let Some(s) = super::service::service_env(&mut c, &name, &service, &key, s, host_port) {
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
