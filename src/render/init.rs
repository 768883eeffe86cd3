//! The init job that runs the pinned image, and the bootstrap script that installs it on
//! a builder instance.

use serde::Serialize;

use super::{docker, render, upstart_check, RenderError};
use crate::config::{DockerVersion, Imds, InitSystem, Recipe, Tree};
use crate::domain::ImageRef;

/// Bumped whenever the bootstrap changes in a way that must give a new AMI for an
/// otherwise identical recipe; part of the recipe hash. 2: sealing after cloud-init, the
/// release's settings reach the container, the Docker version is checked on the builder.
pub const BAKE_FORMAT: u32 = 2;

/// The quoted-heredoc delimiter in the bootstrap. Every value is validated, but a user
/// template could still hold this line, which would end the heredoc early: refused.
const DELIMITER: &str = "DRYDOCK_EOF";

const UPSTART: &str = include_str!("templates/upstart.conf.hbs");
const SYSTEMD: &str = include_str!("templates/systemd.service.hbs");
const BOOTSTRAP: &str = include_str!("templates/bootstrap.sh.hbs");
const CONTAINER_ENV: &str = include_str!("templates/container-env.sh.hbs");
const SEAL: &str = include_str!("templates/seal.sh.hbs");

/// The Docker of an upstart base that declares none: Ubuntu 14.04's docker.io.
const UPSTART_DOCKER: DockerVersion = DockerVersion(1, 6, 0);

/// The helper that merges the baked and the release's settings before each start.
pub const ENV_HELPER: &str = "/usr/local/lib/drydock/container-env";
/// The release's settings, written at boot from the launch template's user data.
pub const RUNTIME_ENV_FILE: &str = "/etc/drydock/runtime.env";

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
    /// The baked settings (`/etc/drydock/<service>.env`).
    env_file: String,
    /// The release's settings, written at boot (`/etc/drydock/runtime.env`).
    runtime_env_file: &'static str,
    /// What the container reads: both merged before each start (`/run/drydock/<service>.env`).
    container_env_file: String,
    /// The command that writes `container_env_file`; an upstart job adds a wait in seconds.
    env_command: String,
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
    env_helper: &'static str,
    env_helper_script: String,
    seal_script: String,
    delimiter: &'static str,
    /// The Docker version that the job's flags need, checked on the builder ("" for none).
    docker_min: String,
    docker_why: String,
    ecr: bool,
    ecr_registry: String,
    ecr_region: String,
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
    let container_env_file = format!("/run/drydock/{service}.env");
    let mut run_flags = format!("--env-file {container_env_file} -p {}:{}", recipe.host_port, recipe.container_port);
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
        runtime_env_file: RUNTIME_ENV_FILE,
        container_env_file,
        env_command: format!("{ENV_HELPER} {service}"),
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
    if recipe.init == InitSystem::Upstart {
        let problems = upstart_check::check(&job);
        if !problems.is_empty() {
            // A template's values expand within their line: the job's lines are the template's.
            let list: Vec<String> =
                problems.iter().map(|p| format!("  {template}:{}: {}", p.line, p.message)).collect();
            return Err(RenderError {
                message: format!("the job fails the upstart check:\n{}", list.join("\n")),
                source_name: template,
            });
        }
    }
    // Ubuntu 14.04, the upstart base, has cloud-init 0.7.5, which cannot read its user data
    // when IMDSv2 is required: the builder would never run the bootstrap, and the bake would
    // wait out its timeout. Such a base must say so.
    if recipe.init == InitSystem::Upstart && recipe.imds == Imds::V2 {
        return Err(RenderError {
            source_name: recipe.file.display().to_string(),
            message: "[base] imds: an upstart base (Ubuntu 14.04: cloud-init 0.7.5) cannot read its user data when IMDSv2 is required, and its bake would wait out bake.timeout: set imds = \"v1-allowed\" in [base] (or bake on a systemd base, whose cloud-init supports IMDSv2)".into(),
        });
    }
    // The base's Docker as declared; an upstart base without a declaration has Ubuntu
    // 14.04's docker.io (1.6), which the bootstrap installs.
    let base_docker = recipe.docker.or((recipe.init == InitSystem::Upstart).then_some(UPSTART_DOCKER));
    let needs = docker::needs(&job, &recipe.image);
    if let (Some(have), Some(need)) = (base_docker, needs.first()) {
        if need.version > have {
            let (source_name, key) = if need.flag.starts_with("--health") && recipe.healthcheck.is_some() {
                (recipe.file.display().to_string(), "[healthcheck]".to_owned())
            } else if need.flag == "an ECR login" {
                (recipe.file.display().to_string(), "image".to_owned())
            } else {
                (template.clone(), format!("`{}`", need.flag))
            };
            return Err(RenderError {
                source_name,
                message: format!(
                    "{key} needs Docker {} or newer ({}), but the base's Docker is {have} ([base] docker in {}{}): use a base with a newer Docker and say so with [base] docker, or leave the flag out",
                    need.version,
                    need.flag,
                    recipe.file.display(),
                    if recipe.init == InitSystem::Upstart { ", 1.6 by default for an upstart base: Ubuntu 14.04's docker.io" } else { "" },
                ),
            });
        }
    }
    let ecr = docker::ecr(&recipe.image);
    let systemd = recipe.init == InitSystem::Systemd;
    let ctx = BootstrapContext {
        format: BAKE_FORMAT,
        service,
        image: image.to_string(),
        init: recipe.init.as_str(),
        systemd,
        job_name,
        job_path: job_path.clone(),
        job: job.trim_end(),
        env_file,
        env_lines: recipe.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        env_helper: ENV_HELPER,
        env_helper_script: render("built-in container-env", CONTAINER_ENV, &serde_json::json!({ "path": ENV_HELPER }))?
            .trim_end()
            .to_owned(),
        seal_script: render("built-in seal", SEAL, &serde_json::json!({ "systemd": systemd }))?.trim_end().to_owned(),
        delimiter: DELIMITER,
        docker_min: needs.first().map(|n| n.version.to_string()).unwrap_or_default(),
        docker_why: needs.first().map(|n| n.flag.to_owned()).unwrap_or_default(),
        ecr: ecr.is_some(),
        ecr_registry: ecr.as_ref().map(|e| e.registry.clone()).unwrap_or_default(),
        ecr_region: ecr.map(|e| e.region).unwrap_or_default(),
    };
    let bootstrap = render("built-in bootstrap", BOOTSTRAP, &ctx)?;
    Ok(InitArtifacts { init: recipe.init, job_path, template, job, bootstrap })
}
