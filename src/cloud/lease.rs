//! The cluster lease. Taking it is atomic because CreateLaunchTemplate fails when the name
//! exists: the lock is a launch template named `drydock-lock-<cluster>` (no instance ever
//! launches from it) whose tags name the holder and carry a heartbeat. A stale lock is
//! deleted by its *id* before the retry, so of two processes taking over the same stale
//! lock only one can create the new one.

use aws_sdk_ec2::types::{RequestLaunchTemplateData, ResourceType, TagSpecification};

use super::pace::Api;
use super::{aws_error, ec2_tag, Cloud, CloudResult};
use crate::domain::lease::{judge, LeaseVerdict, ObservedLease};

#[derive(Clone, Debug)]
pub struct LeaseHandle {
    pub id: String,
    pub name: String,
    pub cluster: String,
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

pub async fn observe(cloud: &Cloud, cluster: &str) -> CloudResult<Option<ObservedLease>> {
    match cloud
        .gate
        .ec2(Api::Ec2Read)
        .await
        .describe_launch_templates()
        .launch_template_names(lock_name(cluster))
        .send()
        .await
    {
        Ok(out) => Ok(out.launch_templates().first().map(|t| {
            let tag = |k: &str| {
                t.tags().iter().find(|x| x.key() == Some(k)).and_then(|x| x.value()).unwrap_or_default().to_owned()
            };
            ObservedLease {
                id: t.launch_template_id().unwrap_or_default().to_owned(),
                op: tag("drydock:op"),
                holder: tag("drydock:holder"),
                operation: tag("drydock:operation"),
                heartbeat: tag("drydock:heartbeat").parse().unwrap_or(0),
            }
        })),
        Err(e) => {
            let e = aws_error("DescribeLaunchTemplates", e);
            if e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

async fn create(
    cloud: &Cloud,
    cluster: &str,
    env: &str,
    holder: &str,
    operation: &str,
    op: &str,
    now: i64,
) -> CloudResult<Option<LeaseHandle>> {
    let name = lock_name(cluster);
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::LaunchTemplate)
        .tags(ec2_tag("drydock:lock", cluster))
        .tags(ec2_tag("drydock:env", env))
        .tags(ec2_tag("drydock:holder", &clip(holder)))
        .tags(ec2_tag("drydock:operation", operation))
        .tags(ec2_tag("drydock:op", op))
        .tags(ec2_tag("drydock:heartbeat", &now.to_string()))
        .build();
    match cloud
        .gate
        .ec2(Api::Ec2Write("CreateLaunchTemplate"))
        .await
        .create_launch_template()
        .launch_template_name(&name)
        .launch_template_data(RequestLaunchTemplateData::builder().build())
        .tag_specifications(tags)
        .send()
        .await
    {
        Ok(out) => Ok(Some(LeaseHandle {
            id: out.launch_template().and_then(|t| t.launch_template_id()).unwrap_or_default().to_owned(),
            name,
            cluster: cluster.to_owned(),
        })),
        Err(e) => {
            let e = aws_error("CreateLaunchTemplate", e);
            if e.is("InvalidLaunchTemplateName.AlreadyExistsException") {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Takes the lease of `cluster`, or says who holds it. A lock not renewed within `ttl_s`
/// belongs to a dead process and is taken over. `op` is this run's operation id: a lock
/// that carries it is ours (its CreateLaunchTemplate succeeded but the answer was lost).
#[allow(clippy::too_many_arguments)]
pub async fn acquire(
    cloud: &Cloud,
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
        let created = match create(cloud, cluster, env, holder, operation, op, now).await {
            Ok(c) => c,
            // No answer: the lock may or may not exist now; the observation below tells.
            Err(e) if e.transient => None,
            Err(e) => return Err(e),
        };
        if let Some(handle) = created {
            return Ok(Acquired::Taken { handle, took_over });
        }
        let seen = observe(cloud, cluster).await?;
        if let Some(l) = seen.as_ref().filter(|l| l.op == op) {
            let handle = LeaseHandle { id: l.id.clone(), name: lock_name(cluster), cluster: cluster.to_owned() };
            return Ok(Acquired::Taken { handle, took_over });
        }
        match judge(seen.as_ref(), now, ttl_s) {
            // Released between our create and describe: try again.
            LeaseVerdict::Free => continue,
            LeaseVerdict::Busy { holder, operation, age_s } => return Ok(Acquired::Busy { holder, operation, age_s }),
            LeaseVerdict::Stale { id, holder, age_s } => {
                // Delete exactly the stale lock (by id); if another process got there
                // first, our delete fails and its fresh lock makes our create fail.
                match cloud
                    .gate
                    .ec2(Api::Ec2Write("DeleteLaunchTemplate"))
                    .await
                    .delete_launch_template()
                    .launch_template_id(&id)
                    .send()
                    .await
                {
                    Ok(_) => took_over = Some(format!("{holder} (silent for {age_s} s)")),
                    Err(e) => {
                        let e = aws_error("DeleteLaunchTemplate", e);
                        if !e.is_not_found() && !e.is("InvalidLaunchTemplateId.Malformed") {
                            return Err(e);
                        }
                    }
                }
            }
        }
    }
    match observe(cloud, cluster).await? {
        Some(l) => {
            Ok(Acquired::Busy { holder: l.holder, operation: l.operation, age_s: now.saturating_sub(l.heartbeat) })
        }
        None => Err(super::CloudError::other(
            "CreateLaunchTemplate",
            format!("could not take the lease of {cluster}: the lock kept changing hands"),
        )),
    }
}

/// Renews the heartbeat, after checking that the lock is still ours: a lock deleted or
/// replaced by a take-over is `Lost`, and the holder must stop at its next safe point.
pub async fn renew(cloud: &Cloud, h: &LeaseHandle, now: i64) -> CloudResult<Held> {
    match observe(cloud, &h.cluster).await? {
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
    match cloud
        .gate
        .ec2(Api::Ec2Write("DeleteLaunchTemplate"))
        .await
        .delete_launch_template()
        .launch_template_id(&h.id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_error("DeleteLaunchTemplate", e);
            if e.is_not_found() {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}
