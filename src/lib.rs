//! drydock: immutable blue/green deployments of Docker images on AWS.
//!
//! The shape (see DESIGN.md): `config` validates the user's tree; `domain` and `render`
//! are pure; `cloud` (later) is the only place that talks to AWS; `commands` glue them
//! together per CLI command; `main` maps the result to an exit code.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cli;
pub mod clock;
pub mod cloud;
pub mod commands;
pub mod config;
pub mod domain;
pub mod error;
pub mod execute;
pub mod iam;
pub mod instance_policy;
pub mod interrupt;
pub mod output;
pub mod plan;
pub mod render;

use cli::{Cli, Command, RenderCommand};
use error::{Error, Result};
use output::Reporter;

/// The command's name as reports and errors use it.
pub fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Check(_) => "check",
        Command::Render(_) => "render",
        Command::Bake(_) => "bake",
        Command::Deploy(_) => "deploy",
        Command::Promote(_) => "promote",
        Command::Rollback(_) => "rollback",
        Command::Status(_) => "status",
        Command::History(_) => "history",
        Command::Routes(_) => "routes",
        Command::Gc(_) => "gc",
        Command::IamPolicy(_) => "iam-policy",
        Command::Completions(_) => "completions",
        Command::Man => "man",
    }
}

/// Runs one command. Config is loaded (and so validated) before anything else happens:
/// a bad tree never reaches AWS.
pub async fn run(cli: Cli, out: &Reporter) -> Result<()> {
    validate_global(&cli.global)?;
    let load = || config::load(&cli.global.config_dir).map_err(Error::from);
    match &cli.command {
        Command::Completions(a) => commands::completions::completions(a.shell),
        Command::Man => commands::completions::man(),
        Command::Check(a) => commands::check::run(&load()?, a, out),
        Command::Render(RenderCommand::Init(a)) => commands::render::init(&load()?, a, out),
        Command::Bake(a) => commands::bake::run(&load()?, &cli.global, a, out, interrupt::Interrupt::install()).await,
        Command::Deploy(a) => {
            let tree = load()?;
            let interrupt = interrupt::Interrupt::install();
            commands::deploy::run(&tree, &cli.global, a, out, interrupt, &cli.command).await
        }
        Command::Rollback(a) => {
            let tree = load()?;
            let interrupt = interrupt::Interrupt::install();
            commands::rollback::run(&tree, &cli.global, a, out, interrupt, &cli.command).await
        }
        Command::Promote(a) => {
            let tree = load()?;
            let interrupt = interrupt::Interrupt::install();
            commands::promote::run(&tree, &cli.global, a, out, interrupt, &cli.command).await
        }
        Command::Gc(a) => {
            let tree = load()?;
            let interrupt = interrupt::Interrupt::install();
            commands::gc::run(&tree, &cli.global, a, out, interrupt, &cli.command).await
        }
        Command::IamPolicy(commands_args @ cli::IamPolicyArgs { instance: Some(service), .. }) => {
            let tree = load()?;
            // clap requires --env with --instance.
            let env_name = commands_args.env.as_ref().ok_or_else(|| Error::Usage("--instance needs --env".into()))?;
            let env = commands::environment(&tree, env_name)?;
            let service = service.clone();
            commands::env_service(env, &service)?;
            let p = instance_policy::policy(
                &env.services[&service],
                tree.recipe(&service),
                &env.region,
                env.account_id.as_deref(),
            );
            let text = serde_json::to_string_pretty(&p).map_err(|e| Error::Failed(e.to_string()))? + "\n";
            out.result(&text, &p);
            Ok(())
        }
        Command::IamPolicy(_) => {
            let p = iam::policy();
            let text = serde_json::to_string_pretty(&p).map_err(|e| Error::Failed(e.to_string()))? + "\n";
            out.result(&text, &p);
            Ok(())
        }
        Command::Routes(a) => commands::routes::run(&load()?, &cli.global, a, out, &cli.command).await,
        Command::Status(a) => commands::status::status(&load()?, &cli.global, a, out).await,
        Command::History(a) => commands::history::run(&load()?, &cli.global, a, out).await,
    }
}

/// Global flags that reach AWS are checked like every other value, before any call.
fn validate_global(g: &cli::Global) -> Result<()> {
    if let Some(r) = &g.region {
        domain::grammar::region(r).map_err(|m| Error::Usage(format!("--region: {m}")))?;
    }
    if let Some(u) = &g.endpoint_url {
        domain::grammar::endpoint_url(u)
            .map_err(|m| Error::Usage(format!("--endpoint-url (or AWS_ENDPOINT_URL): {m}")))?;
    }
    // The SDK also reads a per-service endpoint (AWS_ENDPOINT_URL_EC2, …): the same rule.
    for (k, v) in std::env::vars_os() {
        let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else { continue };
        if k.starts_with("AWS_ENDPOINT_URL_") && !v.is_empty() {
            domain::grammar::endpoint_url(v).map_err(|m| Error::Usage(format!("{k}: {m}")))?;
        }
    }
    Ok(())
}
