//! `drydock promote <service>… --from A --to B [--parallel N] [--dry-run]`: deploy to B
//! the exact AMI that is live and healthy in A. The artifact moves, it is never rebuilt:
//! same region → the same AMI id; another region → an encrypted CopyImage, tagged by
//! hand; another account → launch permission on the AMI and create-volume permission on
//! its snapshots. Refused (exit 1, B untouched) unless every instance of A's live group
//! is InService.

use std::time::Instant;

use futures::stream::{self, StreamExt};

use super::deploy::{plan_release, NewRelease};
use super::session::{observe, report, ServiceResult, Session, Timing};
use super::{environment, preflight};
use crate::cli::{Command, Global, PromoteArgs};
use crate::cloud::images::{self, DeployableImage};
use crate::cloud::network::{self, ResolvedNetwork};
use crate::cloud::{Cloud, CloudError};
use crate::config::{Environment, Tree};
use crate::domain::{ClusterName, ServiceName};
use crate::error::{Error, Result};
use crate::execute::Lease;
use crate::interrupt::Interrupt;
use crate::output::Reporter;
use crate::plan::promote::{carry_steps, with_carry, Carry};
use crate::plan::{Outcome, Plan};

/// How long a cross-region copy may take to become available.
const COPY_TIMEOUT_S: u64 = 3600;

/// What a service brings from the source environment (read-only, before any lease).
struct Source {
    /// The AMI live in the source, as DescribeImages there tells it.
    image: DeployableImage,
    carry: Carry,
    /// `<env>/<group>/<ami>`, for the `drydock:promoted-from` tag.
    from: String,
}

async fn source(
    src: &Cloud,
    dst: &Cloud,
    from: &Environment,
    to: &Environment,
    service: &ServiceName,
    label: &str,
) -> Result<Source> {
    let fail = |what: &str, e: CloudError| Error::cloud(format!("{label}: {what}"), e);
    let svc = &from.services[service];
    let cluster = ClusterName::new(service, &from.name);
    let snap = observe(src, &cluster, svc.elb_name.as_str()).await.map_err(|e| fail("observing the source", e))?;
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
    let mut image = images::deployable_by_id(src, &ami)
        .await
        .map_err(|e| fail("reading the source AMI", e))?
        .ok_or_else(|| Error::Failed(format!("{label}: {ami} is not available in {}", from.region)))?;
    image.image = image.image.or(live.image.clone());
    // Another account may launch (or copy) the AMI only once its owner shares it.
    let share_with = match (&from.account_id, &to.account_id) {
        (Some(a), Some(b)) if a != b => Some(b.clone()),
        _ => None,
    };
    let carry = if from.region == to.region {
        Carry::Same { ami: ami.clone(), share_with }
    } else {
        match images::find_copy(dst, &ami).await.map_err(|e| fail("looking for a copy in the target region", e))? {
            Some(c) => Carry::Copied { copy: c.id, share_with, source: ami.clone() },
            None => {
                let tags = images::image_tags(src, &ami).await.map_err(|e| fail("reading the source AMI's tags", e))?;
                // Copied to another region: without URL credentials an older drydock recorded.
                let tags: Vec<(String, String)> = tags
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with("aws:"))
                    .map(|(k, v)| (k, crate::domain::grammar::strip_url_credentials(&v)))
                    .collect();
                let name = tags
                    .iter()
                    .find(|(k, _)| k == "Name")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| format!("drydock/{service}/{ami}"));
                Carry::Copy { source: ami.clone(), from_region: from.region.clone(), name, tags, share_with }
            }
        }
    };
    Ok(Source { image, carry, from: format!("{}/{}/{ami}", from.name, live.name) })
}

/// Under the target's lease: carry the AMI (share, copy, wait), then deploy it.
#[allow(clippy::too_many_arguments)]
async fn promote_one(
    session: &Session<'_>,
    to: &Environment,
    net: &ResolvedNetwork,
    service: &ServiceName,
    src: &Source,
    label: &str,
    started: Instant,
) -> Result<ServiceResult> {
    let svc = &to.services[service];
    let cluster = ClusterName::new(service, &to.name);
    // The alarm gate of the target: read-only, before the lease.
    let known_ami = match &src.carry {
        Carry::Same { ami, .. } => Some(ami.as_str()),
        Carry::Copied { copy, .. } => Some(copy.as_str()),
        Carry::Copy { .. } => None,
    };
    let gate = match super::progressive::gate(session, to, service, svc, label).await {
        // A killed run's canary or bake time: the re-run's watch meets the alarm.
        Err(Error::Alarm { .. })
            if !session.dry_run && known_ami.is_some() && {
                let ami = known_ami.unwrap_or_default();
                super::progressive::resumes_a_watch(session, to, service, svc, ami).await
            } =>
        {
            None
        }
        r => r?,
    };
    session
        .leased(&cluster, label, async |lease: Option<&Lease>| {
            let carry = carry_steps(&src.carry, COPY_TIMEOUT_S);
            let (ami, carry) = match &src.carry {
                Carry::Same { ami, .. } => (ami.clone(), carry),
                Carry::Copied { copy, .. } => (copy.clone(), carry),
                // The copy's id exists only once CopyImage has answered: a real run
                // carries first, then plans the deploy of the copy; a dry run plans it
                // against a description of the copy-to-be.
                Carry::Copy { source, .. } if session.dry_run => {
                    (format!("(a copy of {source} in {})", to.region), carry)
                }
                Carry::Copy { .. } => {
                    let plan = Plan {
                        service: service.to_string(),
                        cluster: Some(cluster.to_string()),
                        outcome: Outcome::Deployed,
                        release: None,
                        previous: None,
                        ami: None,
                        steps: carry,
                        compensation: vec![],
                        finally: vec![],
                        message: format!("copied to {}", to.region),
                    };
                    let r = session.execute(plan, None, label, lease, started).await;
                    match (r.code, r.ami) {
                        (0, Some(copy)) => (copy, vec![]),
                        _ => {
                            return Ok(ServiceResult {
                                plan: None,
                                ..ServiceResult::failed_result(service.as_str(), &Error::Failed(r.message), started)
                            })
                        }
                    }
                }
            };
            // The target's own settings (plan_release): promote carries the AMI, never the
            // source's settings. A copy keeps the source's block device mapping and IMDS
            // mode, read in the source account (a shared AMI's tags are not visible here).
            let release = NewRelease {
                ami: &ami,
                image: &src.image,
                health_timeout: svc.health_timeout,
                extra_tags: vec![("drydock:promoted-from".into(), src.from.clone())],
                watch: super::progressive::watched(svc, session),
            };
            let plan = plan_release(session.cloud, to, net, service, release, label).await?;
            let plan = with_carry(plan, carry, &src.from);
            let mut r = session.execute(plan, src.image.image.clone(), label, lease, started).await;
            if let (Some(g), true) = (&gate, r.code == 0) {
                r.message.push_str(&format!("; {g}"));
            }
            Ok(super::progressive::roll_back_after_bake(session, to, net, service, lease, r, label, started).await)
        })
        .await
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
    let from = environment(tree, &args.from)?;
    let to = environment(tree, &args.to)?;
    let mut services: Vec<ServiceName> = Vec::new();
    for s in &args.services {
        let s = s.clone();
        if !services.contains(&s) {
            services.push(s);
        }
    }
    let timing = Timing::parse(global)?;
    let ignore_alarms = super::progressive::parse_ignore(&args.ignore_alarms)?;
    let endpoint = global.endpoint_url.as_deref();
    let src = Cloud::connect_as(&from.region, endpoint, from.profile.as_deref()).await;
    // The source's account is checked too: reading a release from the wrong account
    // would promote the wrong artifact.
    if let Some(account) = &from.account_id {
        let net = network::resolve(&src, &from.network).await.map_err(|e| {
            if e.missing {
                Error::Usage(format!("{}: {}", from.file.display(), e.message))
            } else {
                Error::cloud(format!("promote from {}", from.name), e)
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
            Error::cloud(format!("promote to {}", to.name), e)
        }
    })?;
    if let Some(account) = &to.account_id {
        super::check_account(&to.file, account, net.owner_id.as_deref())?;
    }
    let mut session =
        Session::new(&dst, out, &interrupt, to.name.as_str(), Some(&net.vpc_id), "promote", args.dry_run, timing);
    session.ignore_alarms = ignore_alarms;
    session.source = Some(&src);
    let mut results: Vec<(usize, ServiceResult)> = stream::iter(services.iter().enumerate())
        .map(|(i, s)| {
            let (session, src, dst, net) = (&session, &src, &dst, &net);
            async move {
                let started = Instant::now();
                let label = format!("promote {s} from {} to {}", from.name, to.name);
                let r = match source(src, dst, from, to, s, &label).await {
                    Ok(source) => promote_one(session, to, net, s, &source, &label, started).await,
                    Err(e) => Err(e),
                };
                (i, r.unwrap_or_else(|e| ServiceResult::failed_result(s.as_str(), &e, started)))
            }
        })
        .buffer_unordered(args.parallel as usize)
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<ServiceResult> = results.into_iter().map(|(_, r)| r).collect();
    report(out, "promote", to.name.as_str(), &results)
}
