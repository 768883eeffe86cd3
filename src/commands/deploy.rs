//! `drydock deploy <service>… --env E (--image-tag T | --ami ID) [--all] [--parallel N]
//! [--health-timeout D] [--dry-run]`
//!
//! Per service, under the cluster's lease: observe → plan (`domain::plan::plan_deploy`) →
//! execute (`exec::Executor`). Services roll in parallel, at most `--parallel` at once;
//! every result is reported and the exit code is the worst one.

use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use super::{environment, parse_env, parse_service, preflight};
use crate::cli::{Command, DeployArgs, Global};
use crate::cloud::images::DeployableImage;
use crate::cloud::lease::{self, Acquired};
use crate::cloud::network::ResolvedNetwork;
use crate::cloud::watch::GroupWatch;
use crate::cloud::{elb, groups, images, Cloud, CloudError};
use crate::config::{Environment, Tree};
use crate::domain::cluster::ClusterSnapshot;
use crate::domain::plan::{plan_deploy, DeployRequest, Plan};
use crate::domain::{ClusterName, Duration, ImageRef, ImageTag, Pin, ServiceName};
use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::interrupt::Interrupt;
use crate::output::Reporter;

/// What one service's rollout came to.
#[derive(Debug, Clone)]
pub struct ServiceResult {
    pub service: String,
    pub outcome: &'static str,
    pub release: Option<String>,
    pub asg: Option<String>,
    pub ami: Option<String>,
    pub image: Option<String>,
    pub previous: Option<String>,
    pub elapsed_s: f64,
    pub message: String,
    pub code: i32,
    pub plan: Option<Plan>,
}

impl ServiceResult {
    pub fn json(&self) -> Value {
        let mut v = json!({
            "service": self.service,
            "outcome": self.outcome,
            "elapsed_s": (self.elapsed_s * 10.0).round() / 10.0,
            "message": self.message,
        });
        let version = |g: &str| g.rsplit_once("-v").map(|(_, n)| format!("v{n}"));
        for (k, val) in [
            ("release", self.release.as_deref().and_then(version)),
            ("asg", self.asg.clone()),
            ("ami", self.ami.clone()),
            ("image", self.image.clone()),
            ("previous", self.previous.clone()),
        ] {
            if let Some(x) = val {
                v[k] = Value::String(x);
            }
        }
        if let Some(p) = &self.plan {
            v["plan"] = Value::Array(p.steps.iter().map(|s| json!({"step": s.to_string(), "detail": s})).collect());
            if !p.compensation.is_empty() {
                // What the run would do if the new release does not get healthy.
                v["compensation"] =
                    Value::Array(p.compensation.iter().map(|s| json!({"step": s.to_string(), "detail": s})).collect());
            }
        }
        v
    }

    pub fn failed_result(service: &str, e: &Error, started: Instant) -> Self {
        ServiceResult {
            service: service.to_owned(),
            outcome: "failed",
            release: None,
            asg: None,
            ami: None,
            image: None,
            previous: None,
            elapsed_s: started.elapsed().as_secs_f64(),
            message: e.to_string(),
            code: e.exit_code(),
            plan: None,
        }
    }
}

/// Severity for "the exit code is the worst one": an interrupt, then state that needs
/// attention, then failure, busy, bad input.
fn severity(code: i32) -> u8 {
    match code {
        130 => 5,
        4 => 4,
        1 => 3,
        3 => 2,
        2 => 1,
        _ => 0,
    }
}

/// Prints every result (one JSON document, or a line each) and turns the worst code into
/// the command's error.
pub fn report(out: &Reporter, command: &str, env: &str, results: &[ServiceResult]) -> Result<()> {
    let mut text = String::new();
    for r in results {
        text.push_str(&format!("{}: {} — {}\n", r.service, r.outcome, r.message));
        if let Some(p) = &r.plan {
            for (i, s) in p.steps.iter().enumerate() {
                text.push_str(&format!("  {}. {s}\n", i + 1));
            }
            if !p.compensation.is_empty() {
                text.push_str("  if the new release does not get healthy:\n");
                for s in &p.compensation {
                    text.push_str(&format!("     {s}\n"));
                }
            }
        }
    }
    out.result(
        &text,
        &json!({"command": command, "env": env, "results": results.iter().map(|r| r.json()).collect::<Vec<_>>()}),
    );
    let worst = results.iter().map(|r| r.code).max_by_key(|c| severity(*c)).unwrap_or(0);
    if worst == 0 {
        return Ok(());
    }
    // The reasons go to stderr too: with `--output json > file` (Jenkins), stderr is the
    // log a person reads.
    for r in results.iter().filter(|r| r.code != 0) {
        eprintln!("drydock {command}: {}: {}", r.service, r.message);
    }
    let failed: Vec<&str> = results.iter().filter(|r| r.code != 0).map(|r| r.service.as_str()).collect();
    Err(Error::Reported {
        code: worst,
        summary: format!("{} of {} service(s) did not succeed: {}", failed.len(), results.len(), failed.join(", ")),
    })
}

/// Who runs this operation: the Jenkins build if any, else user@host, plus the pid.
pub fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let mut h = format!("{user}@{host} pid {}", std::process::id());
    if let Ok(b) = std::env::var("BUILD_URL") {
        if !b.is_empty() {
            h.push_str(&format!(" build {}", crate::domain::words::strip_url_credentials(&b)));
        }
    }
    h
}

pub fn deployed_by() -> String {
    match std::env::var("BUILD_URL") {
        // A Jenkins BUILD_URL may carry `user:token@`: never into a tag.
        Ok(b) if !b.is_empty() => crate::domain::words::strip_url_credentials(&b),
        _ => {
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "unknown-host".into());
            format!("{user}@{host}")
        }
    }
}

/// The lease TTL: 2 minutes, or `DRYDOCK_LEASE_TTL` (a duration, e.g. `5s` in tests).
pub fn lease_ttl() -> Result<Duration> {
    match std::env::var("DRYDOCK_LEASE_TTL") {
        Ok(v) => {
            let (min, max) = crate::domain::duration::bounds::LEASE_TTL;
            Duration::parse_within(&v, min, max).map_err(|m| Error::Usage(format!("DRYDOCK_LEASE_TTL: {m}")))
        }
        Err(_) => Ok(Duration::from_secs(120)),
    }
}

pub fn now() -> i64 {
    crate::clock::unix()
}

/// Everything a rollout of one service needs besides the service itself.
pub struct Rollout<'a> {
    pub cloud: &'a Cloud,
    pub out: &'a Reporter,
    pub interrupt: &'a Interrupt,
    pub env: &'a Environment,
    pub net: &'a ResolvedNetwork,
    pub health_timeout: Option<Duration>,
    pub dry_run: bool,
    pub operation: &'static str,
    pub ttl: Duration,
    /// One DescribeAutoScalingGroups per poll for every service waiting.
    pub watch: &'a GroupWatch,
}

/// Observes one cluster (after the lease is taken, so that the plan sees the truth).
pub async fn observe(cloud: &Cloud, cluster: &ClusterName, elb_name: &str) -> Result<ClusterSnapshot, CloudError> {
    let elb = elb::describe_one(cloud, elb_name).await?;
    let groups = groups::describe_cluster(cloud, cluster, elb_name).await?;
    let launch_templates = groups::cluster_launch_templates(cloud, cluster).await?;
    let health = match &elb {
        Some(_) => elb::instance_health(cloud, elb_name).await?,
        None => Default::default(),
    };
    Ok(ClusterSnapshot { elb, groups, health, launch_templates })
}

impl Rollout<'_> {
    /// Takes the lease (not in a dry run), then runs `work`, renewing the lease meanwhile.
    pub async fn leased<F, Fut>(&self, cluster: &ClusterName, label: &str, work: F) -> Result<ServiceResult>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<ServiceResult>>,
    {
        if self.dry_run {
            if let Some(l) = lease::observe(self.cloud, cluster.as_str())
                .await
                .map_err(|e| Error::Failed(format!("{label}: {e}")))?
            {
                self.out
                    .progress(&format!("{label}: note: the cluster's lease is held by {} ({})", l.holder, l.operation));
            }
            return work().await;
        }
        let ttl = self.ttl.as_secs() as i64;
        let acquired =
            lease::acquire(self.cloud, cluster.as_str(), self.env.name.as_str(), &holder(), self.operation, now(), ttl)
                .await
                .map_err(|e| Error::Failed(format!("{label}: {e}")))?;
        let handle = match acquired {
            Acquired::Busy { holder, operation, age_s } => {
                return Err(Error::Busy(format!(
                    "{label}: cluster {cluster} is busy: {operation} by {holder} (heartbeat {age_s} s ago); try again when it is done"
                )))
            }
            Acquired::Taken { handle, took_over } => {
                if let Some(t) = took_over {
                    self.out.progress(&format!("{label}: took over the lease of {t}: its holder is gone; converging"));
                }
                handle
            }
        };
        let beat = {
            let cloud = self.cloud.clone();
            let h = handle.clone();
            let every = std::time::Duration::from_secs((ttl / 4).max(1) as u64);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let _ = lease::renew(&cloud, &h, now()).await;
                }
            })
        };
        let result = work().await;
        beat.abort();
        if let Err(e) = lease::release(self.cloud, &handle).await {
            self.out.progress(&format!("{label}: could not release the lease (it expires in {ttl} s): {e}"));
        }
        result
    }

    /// Rolls `ami` out as the next release of `service` (deploy and promote).
    pub async fn roll(
        &self,
        service: &ServiceName,
        ami: &DeployableImage,
        extra_tags: Vec<(String, String)>,
    ) -> ServiceResult {
        let started = Instant::now();
        let label = format!("{} {service} to {}", self.operation, self.env.name);
        let r = self.roll_inner(service, ami, extra_tags, &label, started).await;
        r.unwrap_or_else(|e| {
            let mut f = ServiceResult::failed_result(service.as_str(), &e, started);
            f.ami = Some(ami.id.clone());
            f.image = ami.image.clone();
            f
        })
    }

    async fn roll_inner(
        &self,
        service: &ServiceName,
        ami: &DeployableImage,
        extra_tags: Vec<(String, String)>,
        label: &str,
        started: Instant,
    ) -> Result<ServiceResult> {
        let svc = self
            .env
            .services
            .get(service)
            .ok_or_else(|| Error::Usage(format!("{label}: not in {}", self.env.file.display())))?;
        let cluster = ClusterName::new(service, &self.env.name);
        self.leased(&cluster, label, || async {
            let snap = observe(self.cloud, &cluster, svc.elb_name.as_str())
                .await
                .map_err(|e| Error::Failed(format!("{label}: {e}")))?;
            let by = deployed_by();
            let req = DeployRequest {
                service,
                env: &self.env.name,
                ami: &ami.id,
                image: ami.image.as_deref(),
                root_device: &ami.root_device,
                health_timeout_s: self.health_timeout.unwrap_or(svc.health_timeout).as_secs(),
                now: now(),
                deployed_by: &by,
                subnets: &self.net.subnet_ids,
                security_groups: &self.net.security_group_ids,
                extra_tags,
            };
            let plan = plan_deploy(svc, &req, &snap).map_err(|e| Error::Failed(format!("{label}: {e}")))?;
            self.execute(service, plan, ami.image.clone(), label, started).await
        })
        .await
    }

    /// Prints (dry run) or executes a plan, and reports it as a result.
    pub async fn execute(
        &self,
        service: &ServiceName,
        plan: Plan,
        image: Option<String>,
        label: &str,
        started: Instant,
    ) -> Result<ServiceResult> {
        let mut result = ServiceResult {
            service: service.to_string(),
            outcome: plan.outcome.as_str(),
            release: plan.release.clone(),
            asg: plan.release.clone(),
            ami: Some(plan.ami.clone()),
            image,
            previous: plan.previous.clone(),
            elapsed_s: 0.0,
            message: plan.message.clone(),
            code: 0,
            plan: None,
        };
        if self.dry_run {
            // Nothing to do is `unchanged`, in a dry run too.
            if !(plan.outcome == crate::domain::plan::Outcome::Unchanged && plan.steps.is_empty()) {
                result.outcome = "planned";
            }
            result.plan = Some(plan);
        } else {
            let exec = Executor {
                cloud: self.cloud,
                out: self.out,
                interrupt: self.interrupt,
                watch: self.watch,
                poll: super::bake::poll_interval(),
                label: label.to_owned(),
            };
            if let Err(e) = exec.run(&plan).await {
                // The result still names the release this run made (and took out again),
                // so that a Jenkins step can report it without parsing the message.
                result.outcome = "failed";
                result.code = e.exit_code();
                result.message = e.to_string();
            }
        }
        result.elapsed_s = started.elapsed().as_secs_f64();
        Ok(result)
    }
}

pub async fn run(
    tree: &Tree,
    global: &Global,
    args: &DeployArgs,
    out: &Reporter,
    interrupt: Interrupt,
    cmd: &Command,
) -> Result<()> {
    // --- validate: no AWS call before this block has passed ---
    preflight(tree, cmd)?;
    let env = environment(tree, &parse_env(&args.env)?)?;
    let services: Vec<ServiceName> = if args.all {
        env.services.keys().cloned().collect()
    } else {
        let mut v: Vec<ServiceName> = Vec::new();
        for s in &args.services {
            let s = parse_service(s)?;
            if !v.contains(&s) {
                v.push(s);
            }
        }
        v
    };
    let health_timeout = args.health_timeout.as_deref().map(super::parse_health_timeout).transpose()?;
    let tag = args
        .what
        .image_tag
        .as_deref()
        .map(ImageTag::parse)
        .transpose()
        .map_err(|m| Error::Usage(format!("--image-tag: {m}")))?;
    let mut images_wanted = Vec::new();
    for s in &services {
        if let Some(t) = &tag {
            let recipe = tree.recipe(s).ok_or_else(|| {
                Error::Usage(format!("--image-tag needs amis/{s}.toml to know the image of {s}; deploy an AMI that was not baked by drydock with --ami"))
            })?;
            images_wanted.push(Some(ImageRef { repo: recipe.image.clone(), pin: Pin::Tag(t.clone()) }.to_string()));
        } else {
            images_wanted.push(None);
        }
    }
    let ttl = lease_ttl()?;
    let region = global.region.clone().unwrap_or_else(|| env.region.clone());

    // --- observe what all services share ---
    let (cloud, net) = super::connect_env(global, env, &format!("deploy to {}", env.name)).await?;
    let mut amis = Vec::new();
    // `--ami` names one image for every service: looked up once.
    let mut by_id: Option<Option<DeployableImage>> = None;
    for (s, wanted) in services.iter().zip(&images_wanted) {
        let found = match (wanted, &args.what.ami) {
            (Some(image), _) => images::baked_for(&cloud, s.as_str(), image).await,
            (None, Some(id)) => match &by_id {
                Some(cached) => Ok(cached.clone()),
                None => {
                    let r = images::deployable_by_id(&cloud, id).await;
                    if let Ok(found) = &r {
                        by_id = Some(found.clone());
                    }
                    r
                }
            },
            (None, None) => return Err(Error::Usage("give --image-tag or --ami".into())),
        }
        .map_err(|e| Error::Failed(format!("deploy {s} to {}: {e}", env.name)))?;
        let ami = found.ok_or_else(|| match (wanted, &args.what.ami) {
            (Some(image), _) => Error::Usage(format!("deploy {s}: no AMI baked for {image} in {region}: run `drydock bake {s} --image-tag {} --env {}` first", tag.as_ref().map(|t| t.as_str()).unwrap_or(""), env.name)),
            (_, Some(id)) => Error::Usage(format!("--ami {id}: no available image with this id in {region}")),
            _ => Error::Usage("give --image-tag or --ami".into()),
        })?;
        amis.push(ami);
    }

    // --- per service: lease → observe → plan → execute ---
    let watch = GroupWatch::new(cloud.clone());
    let rollout = Rollout {
        watch: &watch,
        cloud: &cloud,
        out,
        interrupt: &interrupt,
        env,
        net: &net,
        health_timeout,
        dry_run: args.dry_run,
        operation: "deploy",
        ttl,
    };
    let mut results: Vec<(usize, ServiceResult)> = stream::iter(services.iter().zip(&amis).enumerate())
        .map(|(i, (s, ami))| {
            let rollout = &rollout;
            async move { (i, rollout.roll(s, ami, vec![]).await) }
        })
        .buffer_unordered(args.parallel as usize)
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<ServiceResult> = results.into_iter().map(|(_, r)| r).collect();
    report(out, "deploy", env.name.as_str(), &results)
}
