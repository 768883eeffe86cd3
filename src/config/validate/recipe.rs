//! `amis/<service>.toml`: a recipe (image, init system, container, base image, build).

use std::collections::BTreeMap;

use super::Check;
use crate::config::model::*;
use crate::config::raw;
use crate::config::source::Source;
use crate::config::ConfigError;
use crate::domain::duration::bounds;
use crate::domain::{grammar, ImageRepo, ServiceName};

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
