//! `drydock rollback <service> --env E [--to vNNN] [--dry-run]`: put the previous (or a
//! named) release back in service. A warm standby is resumed and attached (seconds); a
//! cold one is scaled up to the current capacity first; a collected one is deployed again
//! from its history record as a new release. Same session, lease and executor as deploy;
//! the choice of release and the plan are `plan::rollback`.

use std::time::Instant;

use super::session::{deployed_by, now, observe, report, ServiceResult, Session, Timing};
use super::{environment, preflight};
use crate::cli::{Command, Global, RollbackArgs};
use crate::cloud::network::ResolvedNetwork;
use crate::cloud::{elb, images, Cloud};
use crate::config::{Environment, Tree};
use crate::domain::{ClusterName, ServiceName};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Reporter;
use crate::plan::deploy::{group_settings, settings_digest, DeployRequest};
use crate::plan::history::parse_history;
use crate::plan::rollback::{choose, plan_rollback, rolled_back_from, RollbackTarget};
use crate::plan::Plan;

pub async fn run(
    tree: &Tree,
    global: &Global,
    args: &RollbackArgs,
    out: &Reporter,
    interrupt: Interrupt,
    cmd: &Command,
) -> Result<()> {
    preflight(tree, cmd)?;
    let env = environment(tree, &args.env)?;
    let service = args.service.clone();
    let to = args.to;
    let timing = Timing::parse(global)?;
    let label = format!("rollback {service} in {}", env.name);
    let (cloud, net) = super::connect_env(global, env, &label).await?;
    let session =
        Session::new(&cloud, out, &interrupt, env.name.as_str(), Some(&net.vpc_id), "rollback", args.dry_run, timing);
    let started = Instant::now();
    let cluster = ClusterName::new(&service, &env.name);
    let result = session
        .leased(&cluster, &label, async |lease| {
            let (plan, image) = plan_rollback_now(&cloud, env, &net, &service, to, &label).await?;
            Ok(session.execute(plan, image, &label, lease, started).await)
        })
        .await
        .unwrap_or_else(|e| ServiceResult::failed_result(service.as_str(), &e, started));
    report(out, "rollback", env.name.as_str(), &[result])
}

/// Observes the cluster (the caller holds its lease), chooses the release to go back to
/// (`to`, or the newest usable one older than the live one) and plans the rollback. Used
/// by `rollback` and by a deploy whose bake time saw an alarm.
pub async fn plan_rollback_now(
    cloud: &Cloud,
    env: &Environment,
    net: &ResolvedNetwork,
    service: &ServiceName,
    to: Option<u16>,
    label: &str,
) -> Result<(Plan, Option<String>)> {
    let svc =
        env.services.get(service).ok_or_else(|| Error::Usage(format!("{label}: not in {}", env.file.display())))?;
    let cluster = ClusterName::new(service, &env.name);
    let elb_name = svc.elb_name.as_str();
    let fail = |what: &str, e| Error::cloud(format!("{label}: {what}"), e);
    let snap = observe(cloud, &cluster, elb_name).await.map_err(|e| fail("observing the cluster", e))?;
    let history: Vec<_> = match &snap.elb {
        Some(_) => elb::tags(cloud, elb_name)
            .await
            .map_err(|e| fail("reading the history", e))?
            .iter()
            .filter_map(|(k, v)| parse_history(k, v))
            .collect(),
        None => vec![],
    };
    let target = choose(&snap, &history, to, &cluster).map_err(|m| Error::Failed(format!("{label}: {m}")))?;
    let (ami, image, root_device, imds_v1_allowed) = match &target {
        RollbackTarget::AlreadyLive { ami, .. } => (ami.clone(), None, None, false),
        // The group exists, with its launch template: no new instance spec is needed.
        RollbackTarget::Group { ami, image, .. } => (ami.clone(), image.clone(), None, false),
        RollbackTarget::Collected { number, ami, image } => {
            let found = images::deployable_by_id(cloud, ami)
                .await
                .map_err(|e| fail("finding the release's AMI", e))?
                .ok_or_else(|| {
                    Error::Failed(format!(
                        "{label}: v{number:03} was collected and its AMI {ami} is gone too; bake its image again and deploy it"
                    ))
                })?;
            (ami.clone(), image.clone().or(found.image), Some(found.root_device), found.imds_v1_allowed)
        }
    };
    let by = deployed_by();
    let from = rolled_back_from(&snap, &target);
    // A group comes back with the settings it ran with (its launch template's); a
    // collected release is deployed again with the environment's settings now.
    let settings = match &target {
        RollbackTarget::AlreadyLive { group, .. } | RollbackTarget::Group { group, .. } => {
            snap.group(group).map(group_settings).unwrap_or_default()
        }
        RollbackTarget::Collected { .. } => settings_digest(&svc.env, &svc.secrets, &svc.scaling),
    };
    let req = DeployRequest {
        service,
        env: &env.name,
        ami: &ami,
        image: image.as_deref(),
        root_device: root_device.as_deref(),
        imds_v1_allowed,
        settings: &settings,
        previous_settings: None,
        health_timeout_s: svc.health_timeout.as_secs(),
        now: now(),
        deployed_by: &by,
        subnets: &net.subnet_ids,
        security_groups: &net.security_group_ids,
        extra_tags: match &target {
            RollbackTarget::AlreadyLive { .. } => vec![],
            _ => vec![("drydock:rolled-back-from".into(), from)],
        },
        watch: None,
    };
    let plan = plan_rollback(svc, &req, &snap, &target).map_err(|e| Error::Failed(format!("{label}: {e}")))?;
    Ok((plan, image))
}
