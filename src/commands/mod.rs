//! One module per command: each turns parsed flags into validated requests, calls the
//! core, and reports. Shared flag parsing lives here.

pub mod bake;
pub mod check;
pub mod completions;
pub mod deploy;
pub mod gc;
pub mod history;
pub mod progressive;
pub mod promote;
pub mod render;
pub mod rollback;
pub mod routes;
pub mod session;
pub mod status;

use crate::cli::ImagePin;
use std::path::Path;

use crate::cli::Command;
use crate::config::{Environment, Recipe, Tree};
use crate::domain::{EnvName, ImageTag, Pin, ServiceName};
use crate::error::{Error, Result};

/// `--image-tag` / `--image-digest` (clap checked their grammars).
pub fn parse_pin(pin: &ImagePin) -> Result<Pin> {
    match (&pin.image_tag, &pin.image_digest) {
        (Some(t), None) => Ok(Pin::Tag(t.clone())),
        (None, Some(d)) => Ok(Pin::Digest(d.clone())),
        _ => Err(Error::Usage("give exactly one of --image-tag and --image-digest".into())),
    }
}

/// The recipe of a service, or an error listing the services that have one.
pub fn recipe<'a>(tree: &'a Tree, service: &ServiceName) -> Result<&'a Recipe> {
    tree.recipe(service).ok_or_else(|| {
        let known: Vec<&str> = tree.recipes.keys().map(|s| s.as_str()).collect();
        Error::Usage(format!(
            "service {service} has no amis/{service}.toml in {}; services with a recipe: {}",
            tree.dir.display(),
            if known.is_empty() { "(none)".to_owned() } else { known.join(", ") }
        ))
    })
}

/// The environment of `--env`, or an error listing the configured ones.
pub fn environment<'a>(tree: &'a Tree, env: &EnvName) -> Result<&'a Environment> {
    tree.environment(env).ok_or_else(|| {
        let known: Vec<&str> = tree.environments.keys().map(|e| e.as_str()).collect();
        Error::Usage(format!(
            "--env {env}: there is no environments/{env}.toml in {}; environments: {}",
            tree.dir.display(),
            if known.is_empty() { "(none)".to_owned() } else { known.join(", ") }
        ))
    })
}

/// Refuses to act in another account than the environment names (`account_id`).
pub fn check_account(file: &Path, want: &str, actual: Option<&str>) -> Result<()> {
    match actual {
        Some(a) if a == want => Ok(()),
        Some(a) => Err(Error::Usage(format!(
            "{}: account_id is {want}, but the credentials in use belong to account {a}; nothing was done",
            file.display()
        ))),
        None => Err(Error::Usage(format!(
            "{}: account_id is {want}, but the caller's account could not be determined",
            file.display()
        ))),
    }
}

/// A service of `--env`'s environment, or an error listing that environment's services.
pub fn env_service(env: &Environment, service: &ServiceName) -> Result<()> {
    if env.services.contains_key(service) {
        return Ok(());
    }
    let known: Vec<&str> = env.services.keys().map(|s| s.as_str()).collect();
    Err(Error::Usage(format!(
        "service {service} is not in {} (services there: {})",
        env.file.display(),
        if known.is_empty() { "(none)".to_owned() } else { known.join(", ") }
    )))
}

/// The tag used to render a service's init job before any AWS call (as `check` does).
const PRERENDER_TAG: &str = "0.0.0-preflight";

/// Renders, offline and before any AWS call, every template a command will need, so that
/// a template `check` refuses is refused here too (exit 2) instead of failing after AWS
/// calls (exit 1): each service's init job and bootstrap (what its AMIs run) and its
/// runtime user data (every new release's launch template), and, with `routes`, the
/// environment's nginx routes (with placeholder ELB names, as `check` renders them).
pub fn prerender(tree: &Tree, env: &Environment, services: &[ServiceName], routes: bool) -> Result<()> {
    let usage = |e: crate::render::RenderError| Error::Usage(e.to_string());
    let tag = ImageTag::parse(PRERENDER_TAG).map_err(Error::Usage)?;
    for s in services {
        let cluster = crate::domain::ClusterName::new(s, &env.name);
        let mut runtime = vec![
            ("DRYDOCK_SERVICE".to_owned(), s.to_string()),
            ("DRYDOCK_ENV".to_owned(), env.name.to_string()),
            ("DRYDOCK_RELEASE".to_owned(), "v000".to_owned()),
        ];
        if let Some(recipe) = tree.recipe(s) {
            let image = crate::domain::ImageRef { repo: recipe.image.clone(), pin: Pin::Tag(tag.clone()) };
            crate::render::render_init(tree, recipe, &image).map_err(usage)?;
            runtime.push(("DRYDOCK_IMAGE".to_owned(), image.to_string()));
        }
        // As plan::deploy renders it: the environment's settings after drydock's own, and
        // the secrets' references.
        let svc = env.services.get(s);
        runtime.extend(
            svc.into_iter()
                .flat_map(|svc| &svc.env)
                .filter(|(k, _)| !k.starts_with("DRYDOCK_"))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let none = std::collections::BTreeMap::new();
        let secrets = svc.map(|svc| &svc.secrets).unwrap_or(&none);
        crate::render::runtime_user_data(&cluster.release(0), &runtime, secrets).map_err(usage)?;
    }
    if routes {
        let targets: Vec<crate::render::RouteTarget> = env
            .services
            .iter()
            .map(|(s, se)| crate::render::RouteTarget {
                service: s.to_string(),
                elb_name: se.elb_name.to_string(),
                elb_dns: crate::render::placeholder_dns(se.elb_name.as_str(), &env.region),
            })
            .collect();
        crate::render::render_routes(tree, env, &targets).map_err(usage)?;
    }
    Ok(())
}

/// The services a command names, parsed (every service of the environment with `--all`).
fn named_services(env: &Environment, list: &[ServiceName], all: bool) -> Result<Vec<ServiceName>> {
    if all {
        return Ok(env.services.keys().cloned().collect());
    }
    Ok(list.to_vec())
}

/// Checks the flags of a command against their grammars and the config tree, and renders
/// the templates it needs (`prerender`), before any AWS call (also for commands whose
/// execution is not built yet).
pub fn preflight(tree: &Tree, cmd: &Command) -> Result<()> {
    check_flags(tree, cmd)?;
    match cmd {
        Command::Deploy(a) => {
            let env = environment(tree, &a.env)?;
            prerender(tree, env, &named_services(env, &a.services, a.all)?, false)
        }
        Command::Promote(a) => {
            let to = environment(tree, &a.to)?;
            prerender(tree, to, &named_services(to, &a.services, false)?, false)
        }
        Command::Rollback(a) => {
            // A release that gc collected is deployed again: a new launch template.
            let env = environment(tree, &a.env)?;
            prerender(tree, env, std::slice::from_ref(&a.service), false)
        }
        Command::Routes(a) => prerender(tree, environment(tree, &a.env)?, &[], true),
        _ => Ok(()),
    }
}

fn check_flags(tree: &Tree, cmd: &Command) -> Result<()> {
    let services = |env: &Environment, list: &[ServiceName]| -> Result<()> {
        for s in list {
            env_service(env, s)?;
        }
        Ok(())
    };
    match cmd {
        Command::Deploy(a) => {
            let env = environment(tree, &a.env)?;
            services(env, &a.services)?;
        }
        Command::Promote(a) => {
            let from = environment(tree, &a.from)?;
            let to = environment(tree, &a.to)?;
            if from.name == to.name {
                return Err(Error::Usage(format!(
                    "--from and --to are both {}: promote moves an AMI between two environments",
                    from.name
                )));
            }
            services(from, &a.services)?;
            services(to, &a.services)?;
        }
        Command::Rollback(a) => {
            let env = environment(tree, &a.env)?;
            services(env, std::slice::from_ref(&a.service))?;
        }
        // Without --env, names only: their grammar was checked when the flags were parsed.
        Command::Status(a) => {
            if let Some(e) = &a.env {
                services(environment(tree, e)?, &a.services)?
            }
        }
        Command::History(a) => services(environment(tree, &a.env)?, std::slice::from_ref(&a.service))?,
        Command::Routes(a) => {
            environment(tree, &a.env)?;
        }
        Command::Gc(a) => {
            environment(tree, &a.env)?;
        }
        _ => {}
    }
    Ok(())
}

/// The clients of an environment (its region, or `--region`; its profile), its network
/// resolved by name, and its `account_id` checked: what every mutating command needs
/// before it observes anything. A VPC, subnet or group the config names that does not
/// exist is a config error (exit 2); a failed call is exit 1.
pub async fn connect_env(
    global: &crate::cli::Global,
    env: &Environment,
    what: &str,
) -> Result<(crate::cloud::Cloud, crate::cloud::network::ResolvedNetwork)> {
    let region = global.region.clone().unwrap_or_else(|| env.region.clone());
    let cloud = crate::cloud::Cloud::connect_as(&region, global.endpoint_url.as_deref(), env.profile.as_deref()).await;
    let net = crate::cloud::network::resolve(&cloud, &env.network).await.map_err(|e| {
        if e.missing {
            Error::Usage(format!("{}: {}", env.file.display(), e.message))
        } else {
            Error::Failed(format!("{what}: {e}"))
        }
    })?;
    if let Some(account) = &env.account_id {
        check_account(&env.file, account, net.owner_id.as_deref())?;
    }
    Ok((cloud, net))
}
