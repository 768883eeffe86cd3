//! `drydock gc --env E [--dry-run]`: expire warm standbys, delete standby groups beyond
//! `keep_releases` and failed ones, deregister AMIs that no group or launch template of
//! any configured environment of the region uses (older than `[gc] ami_retention`,
//! beyond the newest `[gc] keep_amis` of their service), terminate builders older than
//! twice the bake timeout, forget old history records. Never touches a live group; each
//! cluster is collected under its lease. `--dry-run` prints the plan and changes nothing.

use std::collections::BTreeSet;
use std::time::Instant;

use super::session::{now, observe, report, ServiceResult, Session, Timing};
use super::{environment, preflight};
use crate::cli::{Command, GcArgs, Global};
use crate::cloud::{elb, groups, images, instances, launch_templates, CloudError};
use crate::config::Tree;
use crate::domain::ClusterName;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Reporter;
use crate::plan::gc::{plan_builders, plan_cluster, plan_images};
use crate::plan::history::parse_history;
use crate::plan::{Outcome, Plan, Step};

/// The region-wide part of gc has no service: its results are named this.
const REGION: &str = "(images and builders)";

fn gc_plan(service: &str, cluster: Option<&ClusterName>, steps: Vec<Step>) -> Plan {
    let n = steps.len();
    Plan {
        service: service.to_owned(),
        cluster: cluster.map(|c| c.to_string()),
        outcome: if n == 0 { Outcome::Unchanged } else { Outcome::Collected },
        release: None,
        previous: None,
        ami: None,
        steps,
        compensation: vec![],
        finally: vec![],
        message: if n == 0 { "nothing to collect".into() } else { format!("{n} step(s) of collection") },
    }
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
    let env = environment(tree, &args.env)?;
    let timing = Timing::parse(global)?;
    let (cloud, net) = super::connect_env(global, env, &format!("gc {}", env.name)).await?;
    let session =
        Session::new(&cloud, out, &interrupt, env.name.as_str(), Some(&net.vpc_id), "gc", args.dry_run, timing);
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
        let fail = |e: CloudError| Error::cloud(&label, e);
        let r = session
            .leased(&cluster, &label, async |lease| {
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
                            Step::DeleteGroup { group } => d.insert(group.to_string()),
                            Step::DeleteLaunchTemplate { name } => d.insert(name.clone()),
                            _ => false,
                        };
                    }
                }
                let plan = gc_plan(service.as_str(), Some(&cluster), steps);
                Ok(session.execute(plan, None, &label, lease, started).await)
            })
            .await
            .unwrap_or_else(|e| ServiceResult::failed_result(service.as_str(), &e, started));
        results.push(r);
    }

    // AMIs and builders of the region: no cluster's lease needed.
    let started = Instant::now();
    let label = format!("gc images and builders of {}", env.name);
    let fail = |e: CloudError| Error::cloud(&label, e);
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
            for (_, lts) in launch_templates::of_env(&cloud, other.name.as_str()).await.map_err(fail)? {
                used.extend(lts.into_iter().filter(|(n, _)| !deleted.contains(n)).filter_map(|(_, t)| t.ami));
            }
        }
        let amis = images::ours(&cloud).await.map_err(fail)?;
        let mut steps =
            plan_images(&amis, &used, now(), env.gc.ami_retention.as_secs() as i64, env.gc.keep_amis as usize);
        let builders = instances::all_builders(&cloud).await.map_err(fail)?;
        steps.extend(plan_builders(&builders, now(), env.bake.timeout.as_secs() as i64));
        let plan = gc_plan(REGION, None, steps);
        Ok::<_, Error>(session.execute(plan, None, &label, None, started).await)
    };
    results.push(region_work.await.unwrap_or_else(|e| ServiceResult::failed_result(REGION, &e, started)));
    report(out, "gc", env.name.as_str(), &results)
}
