//! Classic ELBs: one per service and environment, created if absent, never deleted.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancing::types::{
    ConnectionDraining, CrossZoneLoadBalancing, HealthCheck, Listener, LoadBalancerAttributes, LoadBalancerDescription,
    Tag,
};

use super::pace::Api;
use super::{aws_error, Cloud, CloudError, CloudResult};
use crate::domain::cluster::{InstanceHealth, ObservedElb};

fn build_err(op: &'static str, e: impl std::fmt::Display) -> CloudError {
    CloudError::other(op, format!("cannot build the request: {e}"))
}

/// Every classic ELB of the region, by name (one paginated call for all services).
pub async fn describe_all(cloud: &Cloud) -> CloudResult<BTreeMap<String, ObservedElb>> {
    let mut out = BTreeMap::new();
    let mut pages = cloud.gate.elb_pages(Api::ElbRead, |c| c.describe_load_balancers().into_paginator().send());
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribeLoadBalancers", e))?;
        for d in page.load_balancer_descriptions() {
            let e = observed(d);
            out.insert(e.name.clone(), e);
        }
    }
    Ok(out)
}

fn observed(d: &LoadBalancerDescription) -> ObservedElb {
    ObservedElb {
        name: d.load_balancer_name().unwrap_or_default().to_owned(),
        dns: d.dns_name().unwrap_or_default().to_ascii_lowercase(),
        health_target: d.health_check().map(|h| h.target().to_owned()).unwrap_or_default(),
    }
}

/// One ELB, or None if it does not exist.
pub async fn describe_one(cloud: &Cloud, name: &str) -> CloudResult<Option<ObservedElb>> {
    match cloud.gate.elb(Api::ElbRead).await.describe_load_balancers().load_balancer_names(name).send().await {
        Ok(page) => Ok(page.load_balancer_descriptions().first().map(observed)),
        Err(e) => {
            let e = aws_error("DescribeLoadBalancers", e);
            if e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Several ELBs by name, those that exist: one call per 20 names. AWS answers
/// LoadBalancerNotFound for the whole call when one name does not exist (a first
/// deploy), so such a call is made again name by name.
pub async fn describe_many(cloud: &Cloud, names: &[&str]) -> CloudResult<BTreeMap<String, ObservedElb>> {
    let mut out = BTreeMap::new();
    for chunk in names.chunks(20) {
        let names: Vec<String> = chunk.iter().map(|n| n.to_string()).collect();
        let r = cloud
            .gate
            .elb(Api::ElbRead)
            .await
            .describe_load_balancers()
            .set_load_balancer_names(Some(names))
            .send()
            .await;
        match r {
            Ok(page) => {
                for d in page.load_balancer_descriptions() {
                    let d = observed(d);
                    // Keyed by the name asked for: ELB names are not case-sensitive.
                    if let Some(n) = chunk.iter().find(|n| n.eq_ignore_ascii_case(&d.name)) {
                        out.insert(n.to_string(), d);
                    }
                }
            }
            Err(e) => {
                let e = aws_error("DescribeLoadBalancers", e);
                if !e.is_not_found() {
                    return Err(e);
                }
                for n in chunk {
                    if let Some(d) = describe_one(cloud, n).await? {
                        out.insert(n.to_string(), d);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Health checks: every 10 s, 5 s timeout, 2 to become healthy, 3 to become unhealthy
/// (the constants of `domain::health`, which the fail-early rule reads too).
fn health_check(target: &str) -> CloudResult<HealthCheck> {
    use crate::domain::health::{HEALTHY_THRESHOLD, INTERVAL_S, UNHEALTHY_THRESHOLD};
    let n = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
    HealthCheck::builder()
        .target(target)
        .interval(n(INTERVAL_S))
        .timeout(5)
        .healthy_threshold(n(HEALTHY_THRESHOLD))
        .unhealthy_threshold(n(UNHEALTHY_THRESHOLD))
        .build()
        .map_err(|e| build_err("ConfigureHealthCheck", e))
}

#[allow(clippy::too_many_arguments)]
pub async fn create(
    cloud: &Cloud,
    name: &str,
    port: u16,
    protocol: &str,
    instance_port: u16,
    target: &str,
    subnets: &[String],
    security_groups: &[String],
    tags: &[(String, String)],
) -> CloudResult<()> {
    let listener = Listener::builder()
        .protocol(protocol)
        .load_balancer_port(port as i32)
        .instance_protocol(protocol)
        .instance_port(instance_port as i32)
        .build()
        .map_err(|e| build_err("CreateLoadBalancer", e))?;
    let mut req = cloud
        .gate
        .elb(Api::ElbWrite)
        .await
        .create_load_balancer()
        .load_balancer_name(name)
        .listeners(listener)
        .set_subnets(Some(subnets.to_vec()))
        .set_security_groups(Some(security_groups.to_vec()));
    for (k, v) in tags {
        req = req.tags(Tag::builder().key(k).value(v).build().map_err(|e| build_err("CreateLoadBalancer", e))?);
    }
    req.send().await.map_err(|e| aws_error("CreateLoadBalancer", e))?;
    set_health_check(cloud, name, target).await?;
    // Cross-zone balancing and 30 s of connection draining, so that detaching the old
    // release lets in-flight requests finish.
    cloud
        .gate
        .elb(Api::ElbWrite)
        .await
        .modify_load_balancer_attributes()
        .load_balancer_name(name)
        .load_balancer_attributes(
            LoadBalancerAttributes::builder()
                .cross_zone_load_balancing(CrossZoneLoadBalancing::builder().enabled(true).build())
                .connection_draining(ConnectionDraining::builder().enabled(true).timeout(30).build())
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_error("ModifyLoadBalancerAttributes", e))?;
    Ok(())
}

pub async fn set_health_check(cloud: &Cloud, name: &str, target: &str) -> CloudResult<()> {
    cloud
        .gate
        .elb(Api::ElbWrite)
        .await
        .configure_health_check()
        .load_balancer_name(name)
        .health_check(health_check(target)?)
        .send()
        .await
        .map_err(|e| aws_error("ConfigureHealthCheck", e))?;
    Ok(())
}

/// ELB health of every instance registered with `name`.
pub async fn instance_health(cloud: &Cloud, name: &str) -> CloudResult<BTreeMap<String, InstanceHealth>> {
    let out = cloud
        .gate
        .elb(Api::ElbRead)
        .await
        .describe_instance_health()
        .load_balancer_name(name)
        .send()
        .await
        .map_err(|e| aws_error("DescribeInstanceHealth", e))?;
    Ok(out
        .instance_states()
        .iter()
        .map(|s| {
            let state = s.state().unwrap_or("Unknown").to_owned();
            (
                s.instance_id().unwrap_or_default().to_owned(),
                InstanceHealth::from_elb(
                    state,
                    s.reason_code().unwrap_or_default().to_owned(),
                    s.description().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect())
}

pub async fn add_tags(cloud: &Cloud, name: &str, tags: &[(String, String)]) -> CloudResult<()> {
    let mut req = cloud.gate.elb(Api::ElbWrite).await.add_tags().load_balancer_names(name);
    for (k, v) in tags {
        req = req.tags(Tag::builder().key(k).value(v).build().map_err(|e| build_err("AddTags", e))?);
    }
    req.send().await.map_err(|e| aws_error("AddTags", e))?;
    Ok(())
}

pub async fn remove_tags(cloud: &Cloud, name: &str, keys: &[String]) -> CloudResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut req = cloud.gate.elb(Api::ElbWrite).await.remove_tags().load_balancer_names(name);
    for k in keys {
        req = req.tags(aws_sdk_elasticloadbalancing::types::TagKeyOnly::builder().key(k).build());
    }
    req.send().await.map_err(|e| aws_error("RemoveTags", e))?;
    Ok(())
}

/// The tags of one ELB (the history lives there).
pub async fn tags(cloud: &Cloud, name: &str) -> CloudResult<Vec<(String, String)>> {
    let out = cloud
        .gate
        .elb(Api::ElbRead)
        .await
        .describe_tags()
        .load_balancer_names(name)
        .send()
        .await
        .map_err(|e| aws_error("DescribeTags", e))?;
    Ok(out
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
        .collect())
}
