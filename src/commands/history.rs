//! `drydock history <service> --env E`: the releases of a cluster, newest first, from the
//! history records on its ELB (which survive gc) and the groups that still exist.

use std::collections::BTreeMap;

use serde_json::json;

use super::environment;
use super::status::{failed, short_image};
use crate::cli::{Global, HistoryArgs};
use crate::cloud::{elb, groups, Cloud};
use crate::config::Tree;
use crate::domain::cluster::{GroupState, ObservedGroup};
use crate::domain::ClusterName;
use crate::error::Result;
use crate::output::{table, timestamp, Reporter};
use crate::plan::history::parse_history;

pub async fn run(tree: &Tree, global: &Global, args: &HistoryArgs, out: &Reporter) -> Result<()> {
    let env = environment(tree, &args.env)?;
    let service = args.service.clone();
    super::env_service(env, &service)?;
    let svc = &env.services[&service];
    let region = global.region.clone().unwrap_or_else(|| env.region.clone());
    let cloud = Cloud::connect_as(&region, global.endpoint_url.as_deref(), env.profile.as_deref()).await;
    let what = format!("history of {service} in {}", env.name);
    let cluster = ClusterName::new(&service, &env.name);
    let elb_name = svc.elb_name.as_str();
    let tags = match elb::describe_one(&cloud, elb_name).await.map_err(|e| failed(&what, e))? {
        Some(_) => elb::tags(&cloud, elb_name).await.map_err(|e| failed(&what, e))?,
        None => vec![],
    };
    let groups = groups::describe_cluster(&cloud, &cluster, elb_name).await.map_err(|e| failed(&what, e))?;
    let mut records: BTreeMap<u16, crate::plan::history::HistoryRecord> =
        tags.iter().filter_map(|(k, v)| parse_history(k, v)).map(|r| (r.number, r)).collect();
    let by_number: BTreeMap<u16, &ObservedGroup> = groups.iter().map(|g| (g.number(), g)).collect();
    let snap = crate::domain::cluster::ClusterSnapshot { groups: groups.clone(), ..Default::default() };
    let live = snap.live().map(|g| g.number());
    // Groups without a record (made before history was kept) still appear.
    for g in &groups {
        records.entry(g.number()).or_insert_with(|| crate::plan::history::HistoryRecord {
            number: g.number(),
            ami: g.ami.clone().unwrap_or_default(),
            at: g.deployed_at.unwrap_or(0),
            failed: g.state == GroupState::Failed,
            image: g.image.clone(),
            by: g.deployed_by.clone(),
        });
    }
    let mut results = Vec::new();
    let mut rows = Vec::new();
    for (n, r) in records.iter().rev() {
        let g = by_number.get(n);
        let outcome = match g {
            Some(g) if Some(g.number()) == live => "live",
            Some(g) => match g.state {
                GroupState::Failed => "failed",
                GroupState::Deploying => "deploying",
                GroupState::Canary => "canary",
                GroupState::Live | GroupState::Standby | GroupState::Unknown => "standby",
            },
            None if r.failed => "failed",
            None => "collected",
        };
        let release = cluster.release(*n);
        results.push(json!({
            "release": release.version(), "asg": release.to_string(), "image": r.image, "ami": r.ami,
            "deployed_at": (r.at > 0).then(|| timestamp(r.at)), "deployed_by": r.by, "outcome": outcome,
        }));
        rows.push(vec![
            release.version(),
            r.image.as_deref().map(short_image).unwrap_or_else(|| "-".into()),
            r.ami.clone(),
            if r.at > 0 { timestamp(r.at) } else { "-".into() },
            r.by.clone().unwrap_or_else(|| "-".into()),
            outcome.to_owned(),
        ]);
    }
    let text = table(&["RELEASE", "IMAGE", "AMI", "DEPLOYED", "BY", "OUTCOME"], &rows);
    out.result(
        &text,
        &json!({"command": "history", "env": env.name.as_str(), "service": service.as_str(), "results": results}),
    );
    Ok(())
}
