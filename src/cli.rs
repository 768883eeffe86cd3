//! The command line, as clap definitions only: one `Command` enum, one `Args` struct per
//! command, no logic. Completions and the man page are generated from these.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domain::{grammar, Digest, Duration, EnvName, ImageTag, ServiceName};

/// `--ami`: an AMI id (ami-…), before any AWS call.
fn ami_id(s: &str) -> Result<String, String> {
    grammar::aws_id(s, "ami").map(str::to_owned)
}

/// `--health-timeout`: a duration in the range of `health_timeout` (a deadline past it
/// would overflow the clock; AWS would not wait that long either).
fn health_timeout(s: &str) -> Result<Duration, String> {
    let (min, max) = crate::domain::duration::bounds::HEALTH_TIMEOUT;
    Duration::parse_within(s, min, max)
}

#[derive(Debug, Parser)]
#[command(
    name = "drydock",
    version,
    about = "Immutable blue/green deployments of Docker images on AWS",
    long_about = "drydock bakes an AMI whose init job runs exactly one image tag, rolls it out as a new Auto Scaling group behind the service's classic ELB, promotes the identical AMI from staging to prod, rolls back in seconds, and renders NGINX routing to each service's ELB.\n\nExit codes: 0 success or nothing to do; 1 failed, live service as it was; 2 bad input or configuration, nothing touched; 3 cluster busy with another operation; 4 failed, state needs attention; 130 interrupted (cleanup done)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The config tree (amis/, environments/, upstart/, systemd/, nginx/)
    #[arg(short = 'C', long = "config-dir", global = true, default_value = ".", value_name = "DIR")]
    pub config_dir: PathBuf,
    /// Results on stdout as text or as one JSON document
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Send AWS requests to this endpoint (e.g. a local emulator)
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (default: the environment's region, then the AWS config chain)
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// More detail on stderr (repeat for debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// No progress on stderr, only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How often waits poll AWS (10ms..5m); lower only against an emulator
    #[arg(long, global = true, env = "DRYDOCK_POLL_INTERVAL", default_value = "10s", value_name = "DURATION")]
    pub poll_interval: String,
    /// A cluster lease not renewed for this long belongs to a dead process (1s..1h)
    #[arg(long, global = true, env = "DRYDOCK_LEASE_TTL", default_value = "2m", value_name = "DURATION")]
    pub lease_ttl: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate every file and template and render everything offline
    Check(CheckArgs),
    /// Print rendered artifacts offline
    #[command(subcommand)]
    Render(RenderCommand),
    /// Bake (or reuse) the AMI that runs one image of a service; print its id
    Bake(BakeArgs),
    /// Roll a new release group per service, blue/green behind its ELB
    Deploy(DeployArgs),
    /// Deploy to one environment the exact AMI live and healthy in another
    Promote(PromoteArgs),
    /// Put the previous (or a named) release back in service
    Rollback(RollbackArgs),
    /// Live release, image, AMI, health and standby releases per service
    Status(StatusArgs),
    /// Releases of a cluster, newest first
    History(HistoryArgs),
    /// Render NGINX routing from URL prefixes to each service's ELB
    Routes(RoutesArgs),
    /// Expire standby groups, delete old releases and unused AMIs, reap orphaned builders
    Gc(GcArgs),
    /// Print the least-privilege IAM policy drydock needs (or, with --instance, that of a
    /// service's instances in one environment)
    IamPolicy(IamPolicyArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// The instance role's policy of this service: exactly its secrets, and its ECR image
    #[arg(long, value_name = "SERVICE", requires = "env", value_parser = ServiceName::parse)]
    pub instance: Option<ServiceName>,
    /// The environment of --instance
    #[arg(long, value_name = "ENV", requires = "instance", value_parser = EnvName::parse)]
    pub env: Option<EnvName>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Skip `nginx -t` on the rendered routes even when nginx is installed
    #[arg(long)]
    pub no_nginx: bool,
}

#[derive(Debug, Subcommand)]
pub enum RenderCommand {
    /// Print the init job (upstart or systemd) and the bootstrap script of a service
    Init(RenderInitArgs),
}

/// How the image is pinned: exactly one of tag or digest.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ImagePin {
    /// The image tag to pin (never `latest`)
    #[arg(long, value_name = "TAG", value_parser = ImageTag::parse)]
    pub image_tag: Option<ImageTag>,
    /// The image digest to pin (sha256:…)
    #[arg(long, value_name = "DIGEST", value_parser = Digest::parse)]
    pub image_digest: Option<Digest>,
}

#[derive(Debug, Args)]
pub struct RenderInitArgs {
    #[arg(value_parser = ServiceName::parse)]
    pub service: ServiceName,
    #[command(flatten)]
    pub pin: ImagePin,
}

#[derive(Debug, Args)]
pub struct BakeArgs {
    #[arg(value_parser = ServiceName::parse)]
    pub service: ServiceName,
    #[command(flatten)]
    pub pin: ImagePin,
    /// The environment whose [bake] section and region to use
    #[arg(long, value_name = "ENV", value_parser = EnvName::parse)]
    pub env: EnvName,
    /// The CI build that asked for this AMI, recorded on it
    // Its value is not shown in --help: a Jenkins URL may carry credentials.
    #[arg(long, env = "BUILD_URL", hide_env_values = true, value_name = "URL")]
    pub build_url: Option<String>,
    /// Read only: print whether the AMI would be reused or baked, and the steps
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[group(id = "what", required = true, multiple = false)]
pub struct DeployWhat {
    /// Deploy the AMI that drydock baked for this image tag
    #[arg(long, value_name = "TAG", group = "what", value_parser = ImageTag::parse)]
    pub image_tag: Option<ImageTag>,
    /// Deploy this AMI id (e.g. one baked by Packer)
    #[arg(long, value_name = "AMI", group = "what", value_parser = ami_id)]
    pub ami: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Services to deploy (or --all)
    #[arg(required_unless_present = "all", conflicts_with = "all", value_parser = ServiceName::parse)]
    pub services: Vec<ServiceName>,
    #[arg(long, value_name = "ENV", value_parser = EnvName::parse)]
    pub env: EnvName,
    #[command(flatten)]
    pub what: DeployWhat,
    /// Every service of the environment
    #[arg(long)]
    pub all: bool,
    /// How many services roll at once
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
    pub parallel: u16,
    /// Override the services' health_timeout (e.g. 10m)
    #[arg(long, value_name = "DURATION", value_parser = health_timeout)]
    pub health_timeout: Option<Duration>,
    /// Read only: print the plan a real run would execute
    #[arg(long)]
    pub dry_run: bool,
    /// CloudWatch alarms (of the services' `alarms`) whose ALARM state neither stops the
    /// deploy before it begins nor fails its canary or bake time
    #[arg(long, value_name = "NAME", num_args = 1.., action = clap::ArgAction::Append)]
    pub ignore_alarms: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[arg(required = true, value_parser = ServiceName::parse)]
    pub services: Vec<ServiceName>,
    #[arg(long, value_name = "ENV", value_parser = EnvName::parse)]
    pub from: EnvName,
    #[arg(long, value_name = "ENV", value_parser = EnvName::parse)]
    pub to: EnvName,
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
    pub parallel: u16,
    #[arg(long)]
    pub dry_run: bool,
    /// CloudWatch alarms (of the services' `alarms`) whose ALARM state neither stops the
    /// promotion before it begins nor fails its canary or bake time
    #[arg(long, value_name = "NAME", num_args = 1.., action = clap::ArgAction::Append)]
    pub ignore_alarms: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[arg(value_parser = ServiceName::parse)]
    pub service: ServiceName,
    #[arg(long, value_name = "ENV", value_parser = EnvName::parse)]
    pub env: EnvName,
    /// The release to put back (default: the newest standby release)
    #[arg(long, value_name = "vNNN", value_parser = crate::domain::names::parse_version)]
    pub to: Option<u16>,
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this environment (default: every configured environment)
    #[arg(long, value_name = "ENV", value_parser = EnvName::parse)]
    pub env: Option<EnvName>,
    #[arg(value_parser = ServiceName::parse)]
    pub services: Vec<ServiceName>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[arg(value_parser = ServiceName::parse)]
    pub service: ServiceName,
    #[arg(long, value_name = "ENV", value_parser = EnvName::parse)]
    pub env: EnvName,
}

#[derive(Debug, Args)]
pub struct RoutesArgs {
    #[arg(long, value_name = "ENV", value_parser = EnvName::parse)]
    pub env: EnvName,
    /// Write to this file (atomically; unchanged output is not rewritten)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Run `nginx -t` on the result
    #[arg(long)]
    pub check: bool,
    /// Run this command after the file changed and passed the check (e.g. `nginx -s reload`)
    #[arg(long, value_name = "CMD")]
    pub reload_cmd: Option<String>,
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    #[arg(long, value_name = "ENV", value_parser = EnvName::parse)]
    pub env: EnvName,
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn image_pin_is_exclusive_and_required() {
        assert!(Cli::try_parse_from(["drydock", "render", "init", "www"]).is_err());
        assert!(Cli::try_parse_from([
            "drydock",
            "render",
            "init",
            "www",
            "--image-tag",
            "1",
            "--image-digest",
            "sha256:x"
        ])
        .is_err());
        assert!(Cli::try_parse_from(["drydock", "render", "init", "www", "--image-tag", "1"]).is_ok());
    }

    #[test]
    fn help_does_not_show_the_build_url_value() {
        let help = Cli::command().find_subcommand_mut("bake").unwrap().render_long_help().to_string();
        assert!(help.contains("BUILD_URL"), "{help}");
        let arg = Cli::command()
            .find_subcommand("bake")
            .unwrap()
            .get_arguments()
            .find(|a| a.get_id() == "build_url")
            .cloned();
        assert!(arg.unwrap().is_hide_env_values_set());
    }

    #[test]
    fn deploy_needs_services_or_all() {
        assert!(Cli::try_parse_from(["drydock", "deploy", "--env", "staging", "--image-tag", "1"]).is_err());
        assert!(Cli::try_parse_from(["drydock", "deploy", "--env", "staging", "--image-tag", "1", "--all"]).is_ok());
        assert!(Cli::try_parse_from(["drydock", "deploy", "www", "--env", "staging", "--ami", "ami-12345678"]).is_ok());
        assert!(Cli::try_parse_from(["drydock", "deploy", "www", "--env", "staging"]).is_err());
    }
}
