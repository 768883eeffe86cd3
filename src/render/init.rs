//! The init job that runs the pinned image, and the bootstrap script that installs it on
//! a builder instance.

use serde::Serialize;

use super::{render, RenderError};
use crate::config::{InitSystem, Recipe, Tree};
use crate::domain::ImageRef;

/// Bumped whenever the bootstrap changes in a way that must give a new AMI for an
/// otherwise identical recipe; part of the recipe hash.
pub const BAKE_FORMAT: u32 = 1;

/// The quoted-heredoc delimiter in the bootstrap. Every value is validated, but a user
/// template could still hold this line, which would end the heredoc early: refused.
const DELIMITER: &str = "DRYDOCK_EOF";

const UPSTART: &str = include_str!("templates/upstart.conf.hbs");
const SYSTEMD: &str = include_str!("templates/systemd.service.hbs");
const BOOTSTRAP: &str = include_str!("templates/bootstrap.sh.hbs");

/// What an init template may use. Every field is made of validated values only.
#[derive(Serialize)]
struct JobContext<'a> {
    service: &'a str,
    /// The full pinned reference, `repo:tag` or `repo@sha256:…`.
    image: String,
    container: String,
    /// `--env-file … -p host:container` and health-check flags, ready to splice in.
    run_flags: String,
    /// The container's arguments, space-separated (each a validated word).
    args: String,
    env_file: String,
    host_port: u16,
    container_port: u16,
}

#[derive(Serialize)]
struct BootstrapContext<'a> {
    format: u32,
    service: &'a str,
    image: String,
    init: &'static str,
    systemd: bool,
    job_name: String,
    job_path: String,
    job: &'a str,
    env_file: String,
    env_lines: Vec<String>,
    delimiter: &'static str,
}

/// The rendered pair that `drydock render init` prints and a bake installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitArtifacts {
    pub init: InitSystem,
    /// Where the job is installed on the instance.
    pub job_path: String,
    /// Which template produced the job (a tree file, or `built-in`).
    pub template: String,
    pub job: String,
    pub bootstrap: String,
}

pub fn render_init(tree: &Tree, recipe: &Recipe, image: &ImageRef) -> Result<InitArtifacts, RenderError> {
    let service = recipe.service.as_str();
    let job_name = format!("drydock-{service}");
    let env_file = format!("/etc/drydock/{service}.env");
    let mut run_flags = format!("--env-file {env_file} -p {}:{}", recipe.host_port, recipe.container_port);
    if let Some(h) = &recipe.healthcheck {
        // Each word is validated to need no quoting, so single quotes group them safely.
        run_flags.push_str(&format!(
            " --health-cmd '{}' --health-interval {}s --health-timeout {}s --health-retries {}",
            h.cmd.join(" "),
            h.interval.as_secs(),
            h.timeout.as_secs(),
            h.retries
        ));
    }
    let ctx = JobContext {
        service,
        image: image.to_string(),
        container: job_name.clone(),
        run_flags,
        args: recipe.args.join(" "),
        env_file: env_file.clone(),
        host_port: recipe.host_port,
        container_port: recipe.container_port,
    };

    let (set, builtin, folder, ext, job_path) = match recipe.init {
        InitSystem::Upstart => {
            (&tree.templates.upstart, UPSTART, "upstart", "conf", format!("/etc/init/{job_name}.conf"))
        }
        InitSystem::Systemd => {
            (&tree.templates.systemd, SYSTEMD, "systemd", "service", format!("/etc/systemd/system/{job_name}.service"))
        }
    };
    // The recipe's template, else the tree's `default`, else the built-in one.
    let chosen = recipe.template.as_deref().or(set.contains_key("default").then_some("default"));
    let (template, text) = match chosen.and_then(|t| set.get(t)) {
        Some(f) => (f.display.display().to_string(), f.text.as_str()),
        None => (format!("built-in {folder} {ext}"), builtin),
    };
    let job = render(&template, text, &ctx)?;
    if job.lines().any(|l| l.trim() == DELIMITER) {
        return Err(RenderError {
            source_name: template,
            message: format!(
                "a line of the rendered job is {DELIMITER}, which the bootstrap uses as its heredoc delimiter"
            ),
        });
    }
    let ctx = BootstrapContext {
        format: BAKE_FORMAT,
        service,
        image: image.to_string(),
        init: recipe.init.as_str(),
        systemd: recipe.init == InitSystem::Systemd,
        job_name,
        job_path: job_path.clone(),
        job: job.trim_end(),
        env_file,
        env_lines: recipe.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        delimiter: DELIMITER,
    };
    let bootstrap = render("built-in bootstrap", BOOTSTRAP, &ctx)?;
    Ok(InitArtifacts { init: recipe.init, job_path, template, job, bootstrap })
}
