//! `drydock gc --env E [--dry-run]`: expire warm standbys, delete standby groups beyond
//! `keep_releases` and failed ones, deregister AMIs that no group or launch template of
//! any configured environment of the region uses (older than `[gc] ami_retention`,
//! beyond the newest `[gc] keep_amis` of their service), terminate builders older than
//! twice the bake timeout, forget old history records. Never touches a live group; each
//! cluster is collected under its lease. `--dry-run` prints the plan and changes nothing.

use std::collections::BTreeSet;
use std::time::Instant;

use super::deploy::{lease_ttl, now, observe, report, Rollout, ServiceResult};
use super::{environment, parse_env, preflight};
use crate::cli::{Command, GcArgs, Global};
use crate::cloud::watch::GroupWatch;
use crate::cloud::{elb, groups, images, instances, CloudError};
use crate::config::Tree;
use crate::domain::gc::{plan_builders, plan_cluster, plan_images};
use crate::domain::plan::{parse_history, Outcome, Plan, Step};
use crate::domain::ClusterName;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Reporter;

fn gc_plan(service: &str, cluster: &str, steps: Vec<Step>) -> Plan {
    let n = steps.len();
    Plan {
        service: service.to_owned(),
        cluster: cluster.to_owned(),
        outcome: Outcome::Unchanged,
        release: None,
        previous: None,
        ami: String::new(),
        steps,
        compensation: vec![],
        message: if n == 0 { "nothing to collect".into() } else { format!("{n} step(s) of collection") },
    }
}

fn outcome(r: &mut ServiceResult, steps: usize, dry_run: bool) {
    if r.code != 0 {
        return;
    }
    r.release = None;
    r.asg = None;
    r.ami = None;
    r.previous = None;
    r.outcome = match (steps, dry_run) {
        (_, true) => "planned",
        (0, false) => "unchanged",
        (_, false) => "collected",
    };
}

pub async fn run(
    tree: &Tree,
    global: &Global,
    args: &GcArgs,
    out: &Reporter,
    interrupt: Interrupt,
    cmd: &Command,
) -> Result<()> {
    preflight(tree, cmd)?;
    let env = environment(tree, &parse_env(&args.env)?)?;
    let ttl = lease_ttl()?;
    let (cloud, net) = super::connect_env(global, env, &format!("gc {}", env.name)).await?;
    let watch = GroupWatch::new(cloud.clone());
    let rollout = Rollout {
        cloud: &cloud,
        out,
        interrupt: &interrupt,
        env,
        net: &net,
        health_timeout: None,
        dry_run: args.dry_run,
        operation: "gc",
        ttl,
        watch: &watch,
    };
    let mut results = Vec::new();
    // Groups and launch templates the cluster plans delete: their AMIs count as unused
    // below, in a dry run as in a real run (where they are gone by then), so that the
    // dry run lists exactly what the real run does.
    let deleted = std::sync::Mutex::new(BTreeSet::<String>::new());

    // Clusters, one at a time, each under its lease.
    for (service, svc) in &env.services {
        let started = Instant::now();
        let cluster = ClusterName::new(service, &env.name);
        let label = format!("gc {service} in {}", env.name);
        let fail = |e: CloudError| Error::Failed(format!("{label}: {e}"));
        let r = rollout
            .leased(&cluster, &label, || async {
                let elb_name = svc.elb_name.as_str();
                let snap = observe(&cloud, &cluster, elb_name).await.map_err(fail)?;
                let history: Vec<u16> = match &snap.elb {
                    Some(_) => elb::tags(&cloud, elb_name)
                        .await
                        .map_err(fail)?
                        .iter()
                        .filter_map(|(k, v)| parse_history(k, v))
                        .map(|r| r.number)
                        .collect(),
                    None => vec![],
                };
                let steps = plan_cluster(svc, &snap, &history, now());
                if let Ok(mut d) = deleted.lock() {
                    for s in &steps {
                        match s {
                            Step::DeleteGroup { group } => d.insert(group.clone()),
                            Step::DeleteLaunchTemplate { name } => d.insert(name.clone()),
                            _ => false,
                        };
                    }
                }
                let n = steps.len();
                let plan = gc_plan(service.as_str(), cluster.as_str(), steps);
                let done = plan.clone();
                let mut r = rollout.execute(service, plan, None, &label, started).await?;
                outcome(&mut r, n, args.dry_run);
                // A real run reports what it collected, as the dry run reports what it would.
                if r.code == 0 && n > 0 {
                    r.plan = Some(done);
                }
                Ok(r)
            })
            .await
            .unwrap_or_else(|e| ServiceResult::failed_result(service.as_str(), &e, started));
        results.push(r);
    }

    // AMIs and builders of the region: no cluster's lease needed.
    let started = Instant::now();
    let label = format!("gc images and builders of {}", env.name);
    let fail = |e: CloudError| Error::Failed(format!("{label}: {e}"));
    let region_work = async {
        let deleted = deleted.lock().map(|d| d.clone()).unwrap_or_default();
        let mut used = BTreeSet::new();
        for other in tree.environments.values().filter(|e| e.region == env.region && e.profile == env.profile) {
            for (_, gs) in groups::describe_env(&cloud, other.name.as_str()).await.map_err(fail)? {
                used.extend(
                    gs.iter()
                        .filter(|(n, _)| !deleted.contains(n))
                        .filter_map(|(_, g)| g.tags.get("drydock:ami").cloned()),
                );
            }
            for (_, lts) in groups::launch_templates(&cloud, other.name.as_str()).await.map_err(fail)? {
                used.extend(lts.into_iter().filter(|(n, _)| !deleted.contains(n)).filter_map(|(_, ami)| ami));
            }
        }
        let amis = images::ours(&cloud).await.map_err(fail)?;
        let mut steps =
            plan_images(&amis, &used, now(), env.gc.ami_retention.as_secs() as i64, env.gc.keep_amis as usize);
        let builders = instances::all_builders(&cloud).await.map_err(fail)?;
        steps.extend(plan_builders(&builders, now(), env.bake.timeout.as_secs() as i64));
        let n = steps.len();
        let service = crate::domain::ServiceName::parse("images").map_err(Error::Usage)?;
        let plan = gc_plan("(images and builders)", "", steps);
        let done = plan.clone();
        let mut r = rollout.execute(&service, plan, None, &label, started).await?;
        r.service = "(images and builders)".into();
        outcome(&mut r, n, args.dry_run);
        if r.code == 0 && n > 0 {
            r.plan = Some(done);
        }
        Ok::<_, Error>(r)
    };
    results
        .push(region_work.await.unwrap_or_else(|e| ServiceResult::failed_result("(images and builders)", &e, started)));
    report(out, "gc", env.name.as_str(), &results)
}
