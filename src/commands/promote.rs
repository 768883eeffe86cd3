//! `drydock promote <service>… --from A --to B [--parallel N] [--dry-run]`: deploy to B
//! the exact AMI that is live and healthy in A. The artifact moves, it is never rebuilt:
//! same region → the same AMI id; another region → an encrypted CopyImage, tagged by
//! hand; another account → launch permission on the AMI and create-volume permission on
//! its snapshots. Refused (exit 1, B untouched) unless every instance of A's live group
//! is InService.

use std::time::{Duration as StdDuration, Instant};

use futures::stream::{self, StreamExt};

use super::deploy::{lease_ttl, observe, report, Rollout, ServiceResult};
use super::{environment, parse_env, parse_service, preflight};
use crate::cli::{Command, Global, PromoteArgs};
use crate::cloud::images::{self, DeployableImage};
use crate::cloud::watch::GroupWatch;
use crate::cloud::{network, Cloud, CloudError};
use crate::config::{Environment, Tree};
use crate::domain::bake::ImageState;
use crate::domain::{ClusterName, ServiceName};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Reporter;

/// What a service brings from the source environment.
struct Source {
    image: DeployableImage,
    from: String,
}

/// The two sides of a promotion.
struct Promotion<'a> {
    src: &'a Cloud,
    dst: &'a Cloud,
    from: &'a Environment,
    to: &'a Environment,
    dry_run: bool,
    interrupt: &'a Interrupt,
    out: &'a Reporter,
}

async fn prepare(p: &Promotion<'_>, service: &ServiceName) -> Result<Source> {
    let Promotion { src, dst, from, to, dry_run, interrupt, out } = *p;
    let label = format!("promote {service} from {} to {}", from.name, to.name);
    let fail = |e: CloudError| Error::Failed(format!("{label}: {e}"));
    let svc = &from.services[service];
    let cluster = ClusterName::new(service, &from.name);
    let snap = observe(src, &cluster, svc.elb_name.as_str()).await.map_err(fail)?;
    let live = snap
        .live()
        .ok_or_else(|| Error::Failed(format!("{label}: {cluster} has no live release; {} is untouched", to.name)))?;
    if !snap.healthy(live) {
        return Err(Error::Failed(format!(
            "{label}: refused: {} is {}/{} InService in ELB {}; only a fully healthy release is promoted. {} is untouched",
            live.name,
            snap.in_service(live),
            live.desired,
            svc.elb_name,
            to.name
        )));
    }
    let ami =
        live.ami.clone().ok_or_else(|| Error::Failed(format!("{label}: {} has no drydock:ami tag", live.name)))?;
    let from_tag = format!("{}/{}/{ami}", from.name, live.name);
    let mut target_ami = ami.clone();
    // Another account may launch (or copy) the AMI only once its owner shares it: the
    // source account grants launch permission on the AMI and create-volume permission on
    // its snapshots first; a copy is then made by, and owned by, the target account.
    if let (Some(a), Some(b)) = (&from.account_id, &to.account_id) {
        if a != b && !dry_run {
            out.progress(&format!("{label}: sharing {ami} and its snapshots with account {b}"));
            images::share(src, &ami, b).await.map_err(fail)?;
        }
    }
    if from.region != to.region {
        target_ami = match images::find_copy(dst, &ami).await.map_err(fail)? {
            Some(c) => c.id,
            None if dry_run => format!("(a copy of {ami} in {})", to.region),
            None => {
                out.progress(&format!("{label}: copying {ami} from {} to {}", from.region, to.region));
                let tags = images::image_tags(src, &ami).await.map_err(fail)?;
                // Copied to another region: without URL credentials an older drydock recorded.
                let tags: Vec<(String, String)> = tags
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with("aws:"))
                    .map(|(k, v)| (k, crate::domain::words::strip_url_credentials(&v)))
                    .collect();
                let name = tags
                    .iter()
                    .find(|(k, _)| k == "Name")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| format!("drydock/{service}/{ami}"));
                images::copy(dst, &from.region, &ami, &name, &tags).await.map_err(fail)?
            }
        };
        if !dry_run {
            // Wait until the copy is available.
            let deadline = Instant::now() + StdDuration::from_secs(3600);
            loop {
                match images::describe(dst, &target_ami).await.map_err(fail)? {
                    Some((ImageState::Available, _)) => break,
                    Some((ImageState::Pending, _)) if Instant::now() < deadline => {
                        interrupt.sleep(super::bake::poll_interval(), &label).await?;
                    }
                    _ => {
                        return Err(Error::Failed(format!(
                            "{label}: the copy {target_ami} of {ami} did not become available"
                        )))
                    }
                }
            }
        }
    }
    let image = if dry_run && target_ami.starts_with('(') {
        DeployableImage {
            id: target_ami,
            root_device: "/dev/sda1".into(),
            image: live.image.clone(),
            service: Some(service.to_string()),
        }
    } else {
        let mut i = images::deployable_by_id(dst, &target_ami)
            .await
            .map_err(fail)?
            .ok_or_else(|| Error::Failed(format!("{label}: {target_ami} is not available in {}", to.region)))?;
        i.image = i.image.or(live.image.clone());
        i
    };
    Ok(Source { image, from: from_tag })
}

pub async fn run(
    tree: &Tree,
    global: &Global,
    args: &PromoteArgs,
    out: &Reporter,
    interrupt: Interrupt,
    cmd: &Command,
) -> Result<()> {
    preflight(tree, cmd)?;
    let from = environment(tree, &parse_env(&args.from)?)?;
    let to = environment(tree, &parse_env(&args.to)?)?;
    let mut services: Vec<ServiceName> = Vec::new();
    for s in &args.services {
        let s = parse_service(s)?;
        if !services.contains(&s) {
            services.push(s);
        }
    }
    let ttl = lease_ttl()?;
    let endpoint = global.endpoint_url.as_deref();
    let src = Cloud::connect_as(&from.region, endpoint, from.profile.as_deref()).await;
    // The source's account is checked too: reading a release from the wrong account
    // would promote the wrong artifact.
    if let Some(account) = &from.account_id {
        let net = network::resolve(&src, &from.network).await.map_err(|e| {
            if e.missing {
                Error::Usage(format!("{}: {}", from.file.display(), e.message))
            } else {
                Error::Failed(format!("promote from {}: {e}", from.name))
            }
        })?;
        super::check_account(&from.file, account, net.owner_id.as_deref())?;
    }
    let dst = if from.region == to.region && from.profile == to.profile {
        src.clone()
    } else {
        Cloud::connect_as(&to.region, endpoint, to.profile.as_deref()).await
    };
    let net = network::resolve(&dst, &to.network).await.map_err(|e| {
        if e.missing {
            Error::Usage(format!("{}: {}", to.file.display(), e.message))
        } else {
            Error::Failed(format!("promote to {}: {e}", to.name))
        }
    })?;
    if let Some(account) = &to.account_id {
        super::check_account(&to.file, account, net.owner_id.as_deref())?;
    }
    let watch = GroupWatch::new(dst.clone());
    let rollout = Rollout {
        cloud: &dst,
        out,
        interrupt: &interrupt,
        env: to,
        net: &net,
        health_timeout: None,
        dry_run: args.dry_run,
        operation: "promote",
        ttl,
        watch: &watch,
    };
    let mut results: Vec<(usize, ServiceResult)> = stream::iter(services.iter().enumerate())
        .map(|(i, s)| {
            let (rollout, src, dst, interrupt) = (&rollout, &src, &dst, &interrupt);
            async move {
                let started = Instant::now();
                let p = Promotion { src, dst, from, to, dry_run: args.dry_run, interrupt, out };
                let r = match prepare(&p, s).await {
                    Ok(source) => {
                        let mut r = rollout
                            .roll(s, &source.image, vec![("drydock:promoted-from".into(), source.from.clone())])
                            .await;
                        if r.code == 0 && r.outcome == "deployed" {
                            r.message = format!("{}; promoted from {}", r.message, source.from);
                        }
                        r
                    }
                    Err(e) => ServiceResult::failed_result(s.as_str(), &e, started),
                };
                (i, r)
            }
        })
        .buffer_unordered(args.parallel as usize)
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<ServiceResult> = results.into_iter().map(|(_, r)| r).collect();
    report(out, "promote", to.name.as_str(), &results)
}
