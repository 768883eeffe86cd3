//! `drydock status [--env E] [<service>…]`: a read-only view of what runs, built from AWS
//! alone (tags on groups and ELBs), never from state on the machine that runs drydock.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::environment;
use crate::cli::{Global, StatusArgs};
use crate::cloud::{elb, groups, scaling, Cloud, CloudError};
use crate::config::{Environment, Tree};
use crate::domain::cluster::{GroupState, ObservedGroup};
use crate::domain::{ClusterName, ServiceName};
use crate::error::{Error, Result};
use crate::output::{table, timestamp, Reporter};
use crate::plan::deploy::{group_settings, settings_digest};

pub(super) fn failed(what: &str, e: CloudError) -> Error {
    Error::cloud(what, e)
}

/// The image tag of a reference (`repo:tag` → `tag`, `repo@sha256:…` → `sha256:…`).
pub(super) fn short_image(image: &str) -> String {
    if let Some((_, d)) = image.split_once('@') {
        return d.chars().take(19).collect();
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') && !repo.is_empty() => tag.to_owned(),
        _ => image.to_owned(),
    }
}

pub async fn status(tree: &Tree, global: &Global, args: &StatusArgs, out: &Reporter) -> Result<()> {
    let envs: Vec<&Environment> = match &args.env {
        Some(e) => vec![environment(tree, e)?],
        None => tree.environments.values().collect(),
    };
    let wanted: Vec<ServiceName> = args.services.clone();
    // A service that none of the environments shown has is a typo, not an empty answer.
    for s in &wanted {
        if !envs.iter().any(|e| e.services.contains_key(s)) {
            return match envs.as_slice() {
                [one] => super::env_service(one, s).map(|_| ()),
                _ => Err(Error::Usage(format!("service {s} is in none of the environments of {}", tree.dir.display()))),
            };
        }
    }
    let mut results = Vec::new();
    let mut rows = Vec::new();
    let mut clouds: BTreeMap<String, Cloud> = BTreeMap::new();
    for env in envs {
        let region = global.region.clone().unwrap_or_else(|| env.region.clone());
        // One set of clients per region and credentials.
        let key = format!("{region}/{}", env.profile.as_deref().unwrap_or(""));
        if !clouds.contains_key(&key) {
            clouds.insert(
                key.clone(),
                Cloud::connect_as(&region, global.endpoint_url.as_deref(), env.profile.as_deref()).await,
            );
        }
        let cloud = &clouds[&key];
        let what = format!("status of {}", env.name);
        let elbs = elb::describe_all(cloud).await.map_err(|e| failed(&what, e))?;
        let by_cluster = groups::describe_env(cloud, env.name.as_str()).await.map_err(|e| failed(&what, e))?;
        for (service, svc) in &env.services {
            if !wanted.is_empty() && !wanted.contains(service) {
                continue;
            }
            let cluster = ClusterName::new(service, &env.name);
            let elb_name = svc.elb_name.as_str();
            let elb = elbs.get(elb_name);
            let health = match elb {
                Some(_) => elb::instance_health(cloud, elb_name).await.map_err(|e| failed(&what, e))?,
                None => Default::default(),
            };
            let mut gs: Vec<ObservedGroup> = by_cluster
                .get(cluster.as_str())
                .into_iter()
                .flatten()
                .filter_map(|(_, g)| g.observe(&cluster, elb_name))
                .collect();
            gs.sort_by_key(|g| std::cmp::Reverse(g.number()));
            let snap = crate::domain::cluster::ClusterSnapshot {
                elb: elb.cloned(),
                groups: gs.clone(),
                health,
                ..Default::default()
            };
            let live = snap.live().cloned();
            // The live release's own scaling as AWS has it (issue 16): its policies and the
            // scheduled action that runs next.
            let (policies, schedules) = match &live {
                Some(l) => (
                    scaling::policies(cloud, &l.name).await.map_err(|e| failed(&what, e))?,
                    scaling::scheduled_actions(cloud, &l.name).await.map_err(|e| failed(&what, e))?,
                ),
                None => (vec![], vec![]),
            };
            let next = crate::domain::scaling::next_scheduled(&schedules, super::session::now());
            let in_service = live.as_ref().map(|l| snap.in_service(l)).unwrap_or(0);
            let standby: Vec<&ObservedGroup> =
                gs.iter().filter(|g| g.state == GroupState::Standby && !g.attached).collect();
            let live_json = live.as_ref().map(|l| {
                json!({
                    "release": l.name.version(), "asg": l.name, "ami": l.ami, "image": l.image,
                    "healthy": in_service, "desired": l.desired,
                    "deployed_at": l.deployed_at.map(timestamp), "deployed_by": l.deployed_by,
                    "settings": group_settings(l),
                    "settings_current": group_settings(l) == settings_digest(&svc.env, &svc.secrets, &svc.scaling),
                    "policies": policies,
                    "schedules": schedules.len(),
                    "next_scheduled": next.map(|a| json!({
                        "name": a.name, "at": a.next_at.map(timestamp), "recurrence": a.recurrence,
                        "time_zone": a.time_zone, "min": a.min, "max": a.max, "desired": a.desired,
                    })),
                })
            });
            let standby_json: Vec<Value> = standby
                .iter()
                .map(|g| {
                    json!({
                        "release": g.name.version(), "asg": g.name, "ami": g.ami, "image": g.image,
                        "mode": if g.desired > 0 { "warm" } else { "cold" }, "desired": g.desired,
                        "expires_at": g.expires_at.map(timestamp), "settings": group_settings(g),
                    })
                })
                .collect();
            results.push(json!({
                "env": env.name.as_str(),
                "service": service.as_str(),
                "elb": elb.map(|e| json!({"name": e.name, "dns": e.dns})),
                "live": live_json,
                "standby": standby_json,
            }));
            rows.push(vec![
                env.name.to_string(),
                service.to_string(),
                live.as_ref().map(|l| l.name.version()).unwrap_or_else(|| "-".into()),
                live.as_ref().and_then(|l| l.image.as_deref()).map(short_image).unwrap_or_else(|| "-".into()),
                live.as_ref().and_then(|l| l.ami.clone()).unwrap_or_else(|| "-".into()),
                live.as_ref().map(|l| format!("{in_service}/{}", l.desired)).unwrap_or_else(|| "-".into()),
                // The live release's settings digest; `*` when the environment file now says
                // other settings (the next deploy makes a new release).
                live.as_ref()
                    .map(|l| {
                        let d = group_settings(l);
                        if d == settings_digest(&svc.env, &svc.secrets, &svc.scaling) {
                            d
                        } else {
                            format!("{d}*")
                        }
                    })
                    .unwrap_or_else(|| "-".into()),
                scaling_cell(live.is_some(), &policies, next),
                if standby.is_empty() {
                    "-".into()
                } else {
                    standby
                        .iter()
                        .map(|g| {
                            let mode = if g.desired > 0 { "warm" } else { "cold" };
                            match g.expires_at {
                                Some(t) if g.desired > 0 => {
                                    format!("{} ({mode} until {})", g.name.version(), timestamp(t))
                                }
                                _ => format!("{} ({mode})", g.name.version()),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                elb.map(|e| e.dns.clone()).unwrap_or_else(|| "(no ELB yet)".into()),
            ]);
        }
    }
    let text = table(
        &["ENV", "SERVICE", "LIVE", "IMAGE", "AMI", "HEALTHY", "SETTINGS", "SCALING", "STANDBY", "ELB DNS"],
        &rows,
    );
    out.result(&text, &json!({"command": "status", "env": args.env.as_ref().map(|e| e.as_str()), "results": results}));
    Ok(())
}

/// The live release's policies and its next scheduled action, in one cell:
/// `cpu 60%; next business-hours 2026-11-30T06:00:00Z`; `-` for none.
fn scaling_cell(
    live: bool,
    policies: &[crate::domain::scaling::ObservedPolicy],
    next: Option<&crate::domain::scaling::ObservedSchedule>,
) -> String {
    if !live {
        return "-".into();
    }
    let mut parts: Vec<String> = policies.iter().map(|p| p.to_string()).collect();
    if let Some(a) = next {
        match a.next_at {
            Some(t) => parts.push(format!("next {} {}", a.name, timestamp(t))),
            None => parts.push(format!("next {} ({})", a.name, a.recurrence.as_deref().unwrap_or("?"))),
        }
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}
