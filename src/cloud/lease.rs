//! The cluster lease. Taking it is atomic because CreateSecurityGroup fails when the name
//! exists in the VPC: the lock is a security group named `drydock-lock-<cluster>` in the
//! environment's VPC (no rules, never attached to anything) whose tags name the holder and
//! carry a heartbeat. A stale lock is deleted by its *id* before the retry, so of two
//! processes taking over the same stale lock only one can create the new one.
//!
//! Why a security group: EC2 throttles each action on its own bucket (50, 5/s), and every
//! deploy already needs one CreateLaunchTemplate for its release; a lock that was a launch
//! template too doubled the calls of that one bucket before the last group of a large
//! `deploy --all` could exist (issue 13). A security group is the cheapest named,
//! atomically created, id-deletable EC2 resource that nothing uses by accident.

use aws_sdk_ec2::types::{ResourceType, TagSpecification};

use super::pace::Api;
use super::{aws_error, ec2_filter, ec2_tag, Cloud, CloudResult};
use crate::domain::lease::{judge, LeaseVerdict, ObservedLease};

#[derive(Clone, Debug)]
pub struct LeaseHandle {
    /// The lock's security group id.
    pub id: String,
    pub name: String,
    pub cluster: String,
    /// The environment's VPC, where the lock lives.
    pub vpc: String,
}

/// Whether we still hold the lease, as the cloud says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    Yes,
    /// The lock is gone or is another one (another process took it over).
    Lost,
}

#[derive(Debug)]
pub enum Acquired {
    Taken { handle: LeaseHandle, took_over: Option<String> },
    Busy { holder: String, operation: String, age_s: i64 },
}

pub fn lock_name(cluster: &str) -> String {
    format!("drydock-lock-{cluster}")
}

fn clip(s: &str) -> String {
    s.chars().take(255).collect()
}

pub async fn observe(cloud: &Cloud, vpc: &str, cluster: &str) -> CloudResult<Option<ObservedLease>> {
    let out = cloud
        .gate
        .ec2(Api::Ec2Read)
        .await
        .describe_security_groups()
        .filters(ec2_filter("group-name", &[&lock_name(cluster)]))
        .filters(ec2_filter("vpc-id", &[vpc]))
        .send()
        .await
        .map_err(|e| aws_error("DescribeSecurityGroups", e))?;
    Ok(out.security_groups().first().map(|g| {
        let tag = |k: &str| {
            g.tags().iter().find(|x| x.key() == Some(k)).and_then(|x| x.value()).unwrap_or_default().to_owned()
        };
        ObservedLease {
            id: g.group_id().unwrap_or_default().to_owned(),
            op: tag("drydock:op"),
            holder: tag("drydock:holder"),
            operation: tag("drydock:operation"),
            heartbeat: tag("drydock:heartbeat").parse().unwrap_or(0),
        }
    }))
}

#[allow(clippy::too_many_arguments)]
async fn create(
    cloud: &Cloud,
    vpc: &str,
    cluster: &str,
    env: &str,
    holder: &str,
    operation: &str,
    op: &str,
    now: i64,
) -> CloudResult<Option<LeaseHandle>> {
    let name = lock_name(cluster);
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::SecurityGroup)
        .tags(ec2_tag("drydock:lock", cluster))
        .tags(ec2_tag("drydock:env", env))
        .tags(ec2_tag("drydock:holder", &clip(holder)))
        .tags(ec2_tag("drydock:operation", operation))
        .tags(ec2_tag("drydock:op", op))
        .tags(ec2_tag("drydock:heartbeat", &now.to_string()))
        .build();
    match cloud
        .gate
        .ec2(Api::Ec2Write("CreateSecurityGroup"))
        .await
        .create_security_group()
        .group_name(&name)
        // AWS's grammar for descriptions: ASCII letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*
        .description(format!("drydock lease of {cluster}: no rules, never attached"))
        .vpc_id(vpc)
        .tag_specifications(tags)
        .send()
        .await
    {
        Ok(out) => Ok(Some(LeaseHandle {
            id: out.group_id().unwrap_or_default().to_owned(),
            name,
            cluster: cluster.to_owned(),
            vpc: vpc.to_owned(),
        })),
        Err(e) => {
            let e = aws_error("CreateSecurityGroup", e);
            if e.is("InvalidGroup.Duplicate") {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Deletes a lock by id: true if this call deleted it, false if it was already gone.
async fn delete(cloud: &Cloud, id: &str) -> CloudResult<bool> {
    match cloud.gate.ec2(Api::Ec2Write("DeleteSecurityGroup")).await.delete_security_group().group_id(id).send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = aws_error("DeleteSecurityGroup", e);
            if e.is_not_found() || e.is("InvalidGroupId.Malformed") {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// Takes the lease of `cluster`, or says who holds it. A lock not renewed within `ttl_s`
/// belongs to a dead process and is taken over. `op` is this run's operation id: a lock
/// that carries it is ours (its CreateSecurityGroup succeeded but the answer was lost).
#[allow(clippy::too_many_arguments)]
pub async fn acquire(
    cloud: &Cloud,
    vpc: &str,
    cluster: &str,
    env: &str,
    holder: &str,
    operation: &str,
    op: &str,
    now: i64,
    ttl_s: i64,
) -> CloudResult<Acquired> {
    let mut took_over = None;
    for _ in 0..3 {
        let created = match create(cloud, vpc, cluster, env, holder, operation, op, now).await {
            Ok(c) => c,
            // No answer: the lock may or may not exist now; the observation below tells.
            Err(e) if e.transient => None,
            Err(e) => return Err(e),
        };
        if let Some(handle) = created {
            return Ok(Acquired::Taken { handle, took_over });
        }
        let seen = observe(cloud, vpc, cluster).await?;
        if let Some(l) = seen.as_ref().filter(|l| l.op == op) {
            let handle = LeaseHandle {
                id: l.id.clone(),
                name: lock_name(cluster),
                cluster: cluster.to_owned(),
                vpc: vpc.to_owned(),
            };
            return Ok(Acquired::Taken { handle, took_over });
        }
        match judge(seen.as_ref(), now, ttl_s) {
            // Released between our create and describe: try again.
            LeaseVerdict::Free => continue,
            LeaseVerdict::Busy { holder, operation, age_s } => return Ok(Acquired::Busy { holder, operation, age_s }),
            LeaseVerdict::Stale { id, holder, age_s } => {
                // Delete exactly the stale lock (by id); if another process got there
                // first, our delete finds nothing and its fresh lock makes our create fail.
                if delete(cloud, &id).await? {
                    took_over = Some(format!("{holder} (silent for {age_s} s)"));
                }
            }
        }
    }
    match observe(cloud, vpc, cluster).await? {
        Some(l) => {
            Ok(Acquired::Busy { holder: l.holder, operation: l.operation, age_s: now.saturating_sub(l.heartbeat) })
        }
        None => Err(super::CloudError::other(
            "CreateSecurityGroup",
            format!("could not take the lease of {cluster}: the lock kept changing hands"),
        )),
    }
}

/// Renews the heartbeat, after checking that the lock is still ours: a lock deleted or
/// replaced by a take-over is `Lost`, and the holder must stop at its next safe point.
pub async fn renew(cloud: &Cloud, h: &LeaseHandle, now: i64) -> CloudResult<Held> {
    match observe(cloud, &h.vpc, &h.cluster).await? {
        Some(l) if l.id == h.id => {}
        _ => return Ok(Held::Lost),
    }
    cloud
        .gate
        .ec2(Api::Ec2Write("CreateTags"))
        .await
        .create_tags()
        .resources(&h.id)
        .tags(ec2_tag("drydock:heartbeat", &now.to_string()))
        .send()
        .await
        .map_err(|e| aws_error("CreateTags", e))?;
    Ok(Held::Yes)
}

pub async fn release(cloud: &Cloud, h: &LeaseHandle) -> CloudResult<()> {
    delete(cloud, &h.id).await.map(|_| ())
}
