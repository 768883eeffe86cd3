//! `drydock deploy <service>… --env E (--image-tag T | --ami ID) [--all] [--parallel N]
//! [--health-timeout D] [--dry-run]`
//!
//! Per service, under the cluster's lease: observe → plan (`plan::deploy`) → execute
//! (`execute::Executor`). Services roll in parallel, at most `--parallel` at once; every
//! result is reported and the exit code is the worst one.

use std::time::Instant;

use futures::stream::{self, StreamExt};

use super::session::{deployed_by, now, observe, report, ServiceResult, Session, Timing};
use super::{environment, preflight};
use crate::cli::{Command, DeployArgs, Global};
use crate::cloud::images::{self, DeployableImage};
use crate::cloud::network::ResolvedNetwork;
use crate::cloud::Cloud;
use crate::config::{Environment, Tree};
use crate::domain::{ClusterName, Duration, ImageRef, Pin, ServiceName};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Reporter;
use crate::plan::deploy::{group_settings, plan_deploy, settings_digest, DeployRequest};
use crate::plan::Plan;

/// A release to roll out: the AMI, what DescribeImages told of it (image reference, root
/// device, IMDS mode: for a cross-region copy, its source's), and the deploy's options.
pub struct NewRelease<'a> {
    pub ami: &'a str,
    pub image: &'a DeployableImage,
    pub health_timeout: Duration,
    pub extra_tags: Vec<(String, String)>,
    /// The alarms to watch during a canary hold and the bake time
    /// (`progressive::watched`).
    pub watch: Vec<String>,
}

/// Observes `service`'s cluster (the caller holds its lease) and plans the deploy of
/// `release` with the environment's own runtime settings (deploy and promote).
pub async fn plan_release(
    cloud: &Cloud,
    env: &Environment,
    net: &ResolvedNetwork,
    service: &ServiceName,
    release: NewRelease<'_>,
    label: &str,
) -> Result<Plan> {
    let svc =
        env.services.get(service).ok_or_else(|| Error::Usage(format!("{label}: not in {}", env.file.display())))?;
    let cluster = ClusterName::new(service, &env.name);
    let snap = observe(cloud, &cluster, svc.elb_name.as_str())
        .await
        .map_err(|e| Error::cloud(format!("{label}: observing {cluster}"), e))?;
    let by = deployed_by();
    let settings = settings_digest(&svc.env, &svc.secrets, &svc.scaling);
    // Which settings a release changes: read back from the live release's launch
    // template, only when the digests differ. Only the message depends on it, so a
    // failed read leaves the digests alone to say it.
    let previous = match snap.live().filter(|l| group_settings(l) != settings) {
        Some(l) => {
            let name = l.launch_template.clone().unwrap_or_else(|| l.name.to_string());
            match crate::cloud::launch_templates::user_data(cloud, &name).await {
                Ok(Some(text)) => crate::domain::settings::parse_runtime_user_data(&text),
                _ => None,
            }
        }
        None => None,
    };
    let req = DeployRequest {
        service,
        env: &env.name,
        ami: release.ami,
        image: release.image.image.as_deref(),
        root_device: Some(&release.image.root_device),
        imds_v1_allowed: release.image.imds_v1_allowed,
        settings: &settings,
        previous_settings: previous.as_ref(),
        health_timeout_s: release.health_timeout.as_secs(),
        now: now(),
        deployed_by: &by,
        subnets: &net.subnet_ids,
        security_groups: &net.security_group_ids,
        extra_tags: release.extra_tags,
        watch: Some(&release.watch),
    };
    plan_deploy(svc, &req, &snap).map_err(|e| Error::Failed(format!("{label}: {e}")))
}

/// Rolls `ami` out as the next release of `service`: lease, observe, plan, execute.
pub async fn roll(
    session: &Session<'_>,
    env: &Environment,
    net: &ResolvedNetwork,
    service: &ServiceName,
    ami: &DeployableImage,
    health_timeout: Option<Duration>,
    extra_tags: Vec<(String, String)>,
) -> ServiceResult {
    let started = Instant::now();
    let label = format!("{} {service} to {}", session.operation, env.name);
    let r = async {
        let svc =
            env.services.get(service).ok_or_else(|| Error::Usage(format!("{label}: not in {}", env.file.display())))?;
        let cluster = ClusterName::new(service, &env.name);
        // The alarm gate: read-only, before the lease, so that a stop changes nothing.
        let gate = match super::progressive::gate(session, env, service, svc, &label).await {
            // A killed run's canary or bake time: the re-run's watch meets the alarm.
            Err(Error::Alarm { .. })
                if !session.dry_run
                    && super::progressive::resumes_a_watch(session, env, service, svc, &ami.id).await =>
            {
                None
            }
            r => r?,
        };
        session
            .leased(&cluster, &label, async |lease| {
                let release = NewRelease {
                    ami: &ami.id,
                    image: ami,
                    health_timeout: health_timeout.unwrap_or(svc.health_timeout),
                    extra_tags,
                    watch: super::progressive::watched(svc, session),
                };
                let plan = plan_release(session.cloud, env, net, service, release, &label).await?;
                let mut r = session.execute(plan, ami.image.clone(), &label, lease, started).await;
                if let (Some(g), true) = (&gate, r.code == 0) {
                    r.message.push_str(&format!("; {g}"));
                }
                Ok(super::progressive::roll_back_after_bake(session, env, net, service, lease, r, &label, started)
                    .await)
            })
            .await
    }
    .await;
    r.unwrap_or_else(|e| {
        let mut f = ServiceResult::failed_result(service.as_str(), &e, started);
        f.ami = Some(ami.id.clone());
        f.image = ami.image.clone();
        f
    })
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
    let env = environment(tree, &args.env)?;
    let services: Vec<ServiceName> = if args.all {
        env.services.keys().cloned().collect()
    } else {
        let mut v: Vec<ServiceName> = Vec::new();
        for s in &args.services {
            let s = s.clone();
            if !v.contains(&s) {
                v.push(s);
            }
        }
        v
    };
    let health_timeout = args.health_timeout;
    let tag = args.what.image_tag.clone();
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
    let timing = Timing::parse(global)?;
    let ignore_alarms = super::progressive::parse_ignore(&args.ignore_alarms)?;
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
        .map_err(|e| Error::cloud(format!("deploy {s} to {}: finding its AMI", env.name), e))?;
        let ami = found.ok_or_else(|| match (wanted, &args.what.ami) {
            (Some(image), _) => Error::Usage(format!("deploy {s}: no AMI baked for {image} in {region}: run `drydock bake {s} --image-tag {} --env {}` first", tag.as_ref().map(|t| t.as_str()).unwrap_or(""), env.name)),
            (_, Some(id)) => Error::Usage(format!("--ami {id}: no available image with this id in {region}")),
            _ => Error::Usage("give --image-tag or --ami".into()),
        })?;
        amis.push(ami);
    }

    // --- per service: lease → observe → plan → execute ---
    let mut session =
        Session::new(&cloud, out, &interrupt, env.name.as_str(), Some(&net.vpc_id), "deploy", args.dry_run, timing);
    session.ignore_alarms = ignore_alarms;
    let mut results: Vec<(usize, ServiceResult)> = stream::iter(services.iter().zip(&amis).enumerate())
        .map(|(i, (s, ami))| {
            let (session, net) = (&session, &net);
            async move { (i, roll(session, env, net, s, ami, health_timeout, vec![]).await) }
        })
        .buffer_unordered(args.parallel as usize)
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<ServiceResult> = results.into_iter().map(|(_, r)| r).collect();
    report(out, "deploy", env.name.as_str(), &results)
}
