//! `drydock rollback <service> --env E [--to vNNN] [--dry-run]`: put the previous (or a
//! named) release back in service. A warm standby is resumed and attached (seconds); a
//! cold one is scaled up to the current capacity first; a collected one is deployed again
//! from its history record as a new release. Same lease, plan and exit codes as deploy.

use std::time::Instant;

use super::deploy::{deployed_by, lease_ttl, now, observe, report, Rollout, ServiceResult};
use super::{environment, parse_env, parse_service, preflight};
use crate::cli::{Command, Global, RollbackArgs};
use crate::cloud::watch::GroupWatch;
use crate::cloud::{elb, images};
use crate::config::Tree;
use crate::domain::names::parse_version;
use crate::domain::plan::{parse_history, plan_deploy, DeployRequest, Outcome};
use crate::domain::rollback::{choose, RollbackTarget};
use crate::domain::ClusterName;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Reporter;

pub async fn run(
    tree: &Tree,
    global: &Global,
    args: &RollbackArgs,
    out: &Reporter,
    interrupt: Interrupt,
    cmd: &Command,
) -> Result<()> {
    preflight(tree, cmd)?;
    let env = environment(tree, &parse_env(&args.env)?)?;
    let service = parse_service(&args.service)?;
    let to = args.to.as_deref().map(parse_version).transpose().map_err(|m| Error::Usage(format!("--to: {m}")))?;
    let svc = &env.services[&service];
    let ttl = lease_ttl()?;
    let (cloud, net) = super::connect_env(global, env, &format!("rollback {service} in {}", env.name)).await?;
    let watch = GroupWatch::new(cloud.clone());
    let rollout = Rollout {
        cloud: &cloud,
        out,
        interrupt: &interrupt,
        env,
        net: &net,
        health_timeout: None,
        dry_run: args.dry_run,
        operation: "rollback",
        ttl,
        watch: &watch,
    };
    let started = Instant::now();
    let cluster = ClusterName::new(&service, &env.name);
    let label = format!("rollback {service} in {}", env.name);
    let elb_name = svc.elb_name.as_str();
    let fail = |e: crate::cloud::CloudError| Error::Failed(format!("{label}: {e}"));
    let result = rollout
        .leased(&cluster, &label, || async {
            let snap = observe(&cloud, &cluster, elb_name).await.map_err(fail)?;
            let history: Vec<_> = match &snap.elb {
                Some(_) => elb::tags(&cloud, elb_name).await.map_err(fail)?.iter().filter_map(|(k, v)| parse_history(k, v)).collect(),
                None => vec![],
            };
            let target = choose(&snap, &history, to, cluster.as_str()).map_err(|m| Error::Failed(format!("{label}: {m}")))?;
            let (ami, image, root_device, from, imds_v1_allowed) = match &target {
                RollbackTarget::AlreadyLive { group, ami } => {
                    return Ok(ServiceResult {
                        service: service.to_string(),
                        outcome: "unchanged",
                        release: Some(group.clone()),
                        asg: Some(group.clone()),
                        ami: Some(ami.clone()),
                        image: None,
                        previous: None,
                        elapsed_s: started.elapsed().as_secs_f64(),
                        message: format!("{group} is live already"),
                        code: 0,
                        plan: None,
                    });
                }
                // The group exists: its launch template carries the root device; the
                // plan resumes, scales and attaches it, no new instance spec is needed.
                RollbackTarget::Group { group, ami, image } => (ami.clone(), image.clone(), "/dev/sda1".to_owned(), group.clone(), false),
                RollbackTarget::Collected { number, ami, image } => {
                    let found = images::deployable_by_id(&cloud, ami).await.map_err(fail)?.ok_or_else(|| {
                        Error::Failed(format!(
                            "{label}: v{number:03} was collected and its AMI {ami} is gone too; bake its image again and deploy it"
                        ))
                    })?;
                    (ami.clone(), image.clone().or(found.image), found.root_device, cluster.release(*number).to_string(), found.imds_v1_allowed)
                }
            };
            let by = deployed_by();
            let req = DeployRequest {
                service: &service,
                env: &env.name,
                ami: &ami,
                image: image.as_deref(),
                root_device: &root_device,
                health_timeout_s: svc.health_timeout.as_secs(),
                now: now(),
                deployed_by: &by,
                subnets: &net.subnet_ids,
                security_groups: &net.security_group_ids,
                extra_tags: vec![("drydock:rolled-back-from".into(), snap.live().map(|l| l.name.clone()).unwrap_or_default())],
                imds_v1_allowed,
            };
            let mut plan = plan_deploy(svc, &req, &snap).map_err(|e| Error::Failed(format!("{label}: {e}")))?;
            if plan.outcome == Outcome::Deployed {
                plan.outcome = Outcome::RolledBack;
                plan.message = match &target {
                    RollbackTarget::Collected { .. } => format!("{from} was collected; its AMI {ami} is live again as {}", plan.release.as_deref().unwrap_or("?")),
                    _ => format!("{from} is live again; {} is standby", plan.previous.as_deref().unwrap_or("nothing")),
                };
            }
            rollout.execute(&service, plan, image, &label, started).await
        })
        .await
        .unwrap_or_else(|e| {
            let mut r = ServiceResult::failed_result(service.as_str(), &e, started);
            r.outcome = "failed";
            r
        });
    report(out, "rollback", env.name.as_str(), &[result])
}
