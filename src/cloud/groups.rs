//! Release groups (Auto Scaling groups): what a cluster's groups are (read by tag, then
//! matched to the release-name grammar) and the actions on one group (create, attach and
//! detach, suspend and resume, scale, tag, delete). Their launch templates are in
//! `launch_templates.rs`; their policies, schedules and metrics in `scaling.rs`.

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{
    Filter as AsgFilter, LaunchTemplateSpecification, LifecycleHookSpecification, LifecycleState, Tag as AsgTag,
};

use super::batch::GroupCommit;
use super::pace::Api;
use super::{aws_error, Cloud, CloudResult};
use crate::domain::cluster::{GroupState, ObservedGroup};
use crate::domain::{ClusterName, ReleaseName};
use crate::plan::GroupSpec;

fn parse_i64(v: Option<&String>) -> Option<i64> {
    v.and_then(|s| s.parse().ok())
}

/// Every release group of an environment, by cluster (one paginated call for all).
pub async fn describe_env(cloud: &Cloud, env: &str) -> CloudResult<BTreeMap<String, Vec<(String, ObservedGroupRaw)>>> {
    describe_tagged(cloud, "drydock:env", &[env]).await
}

/// The release groups of several clusters, by cluster: one paginated call per 5 clusters
/// instead of one per cluster. AWS takes at most 5 values per DescribeAutoScalingGroups
/// filter (a ValidationError past that; the shim's patch (q) enforces it).
pub async fn describe_clusters(
    cloud: &Cloud,
    clusters: &[&str],
) -> CloudResult<BTreeMap<String, Vec<(String, ObservedGroupRaw)>>> {
    let mut out = BTreeMap::new();
    for chunk in clusters.chunks(FILTER_VALUES) {
        out.extend(describe_tagged(cloud, "drydock:cluster", chunk).await?);
    }
    Ok(out)
}

/// The most values AWS takes in one DescribeAutoScalingGroups filter.
const FILTER_VALUES: usize = 5;

/// The release groups of one cluster.
pub async fn describe_cluster(cloud: &Cloud, cluster: &ClusterName, elb: &str) -> CloudResult<Vec<ObservedGroup>> {
    let by = describe_tagged(cloud, "drydock:cluster", &[cluster.as_str()]).await?;
    Ok(releases_of(&by, cluster, elb))
}

/// The release groups of `cluster` among groups described by cluster, sorted by number.
pub fn releases_of(
    by: &BTreeMap<String, Vec<(String, ObservedGroupRaw)>>,
    cluster: &ClusterName,
    elb: &str,
) -> Vec<ObservedGroup> {
    let mut out: Vec<ObservedGroup> =
        by.get(cluster.as_str()).into_iter().flatten().filter_map(|(_, g)| g.observe(cluster, elb)).collect();
    out.sort_by_key(|g| g.number());
    out
}

async fn describe_tagged(
    cloud: &Cloud,
    key: &str,
    values: &[&str],
) -> CloudResult<BTreeMap<String, Vec<(String, ObservedGroupRaw)>>> {
    let mut out: BTreeMap<String, Vec<(String, ObservedGroupRaw)>> = BTreeMap::new();
    let filter = AsgFilter::builder()
        .name(format!("tag:{key}"))
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build();
    // Pages of 100 groups (the most AWS returns) rather than the default 50.
    let mut pages = cloud.gate.asg_pages(Api::AsgRead, |c| {
        c.describe_auto_scaling_groups().filters(filter).max_records(100).into_paginator().send()
    });
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribeAutoScalingGroups", e))?;
        for g in page.auto_scaling_groups() {
            let tags: BTreeMap<String, String> = g
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
                .collect();
            let Some(cluster) = tags.get("drydock:cluster").cloned() else {
                continue;
            };
            let raw = ObservedGroupRaw {
                name: g.auto_scaling_group_name().unwrap_or_default().to_owned(),
                min: g.min_size().unwrap_or(0).max(0) as u32,
                desired: g.desired_capacity().unwrap_or(0).max(0) as u32,
                max: g.max_size().unwrap_or(0).max(0) as u32,
                instances: g
                    .instances()
                    .iter()
                    .filter(|i| {
                        !matches!(
                            i.lifecycle_state(),
                            Some(
                                LifecycleState::Terminating
                                    | LifecycleState::TerminatingWait
                                    | LifecycleState::TerminatingProceed
                                    | LifecycleState::Terminated
                            )
                        )
                    })
                    .filter_map(|i| i.instance_id().map(str::to_owned))
                    .collect(),
                load_balancers: g.load_balancer_names().to_vec(),
                suspended: !g.suspended_processes().is_empty(),
                launch_template: g.launch_template().and_then(|t| t.launch_template_name()).map(str::to_owned),
                tags,
            };
            out.entry(cluster).or_default().push((raw.name.clone(), raw));
        }
    }
    Ok(out)
}

/// A group as described, before it is matched to its cluster's ELB and name grammar.
#[derive(Clone, Debug)]
pub struct ObservedGroupRaw {
    pub name: String,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    pub instances: Vec<String>,
    pub load_balancers: Vec<String>,
    pub suspended: bool,
    pub launch_template: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl ObservedGroupRaw {
    /// The group as a release of `cluster` behind `elb`; None if its name is not `<cluster>-vNNN`.
    pub fn observe(&self, cluster: &ClusterName, elb: &str) -> Option<ObservedGroup> {
        let release = cluster.parse_release(&self.name)?;
        Some(ObservedGroup {
            name: release,
            ami: self.tags.get("drydock:ami").cloned(),
            image: self.tags.get("drydock:image").cloned(),
            state: GroupState::parse(self.tags.get("drydock:state").map(String::as_str)),
            min: self.min,
            desired: self.desired,
            max: self.max,
            instances: self.instances.clone(),
            attached: self.load_balancers.iter().any(|l| l == elb),
            suspended: self.suspended,
            resizes: self.tags.get("drydock:scaling").map(|v| v != "none"),
            expires_at: parse_i64(self.tags.get("drydock:expires-at")),
            deployed_at: parse_i64(self.tags.get("drydock:deployed-at")),
            deployed_by: self.tags.get("drydock:deployed-by").cloned(),
            previous: self.tags.get("drydock:previous").and_then(|p| cluster.parse_release(p)),
            rolled_back_from: self.tags.get("drydock:rolled-back-from").filter(|v| !v.is_empty()).cloned(),
            settings: self.tags.get("drydock:settings").filter(|v| !v.is_empty()).cloned(),
            launch_template: self.launch_template.clone(),
            hold_until: parse_i64(self.tags.get("drydock:hold-until")),
            bake_until: parse_i64(self.tags.get("drydock:bake-until")),
        })
    }
}

/// The `drydock:ami` tag of the group `name` (None if it does not exist).
pub async fn group_ami(cloud: &Cloud, name: &ReleaseName) -> CloudResult<Option<String>> {
    let out = cloud
        .gate
        .asg(Api::AsgRead)
        .await
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name.to_string())
        .send()
        .await
        .map_err(|e| aws_error("DescribeAutoScalingGroups", e))?;
    Ok(out.auto_scaling_groups().first().and_then(|g| {
        g.tags().iter().find(|t| t.key() == Some("drydock:ami")).and_then(|t| t.value()).map(str::to_owned)
    }))
}

fn asg_tag(group: &ReleaseName, k: &str, v: &str) -> AsgTag {
    // Identity tags propagate to instances (for cost reports and `status`); state does not.
    let propagate = matches!(
        k,
        "Name"
            | "drydock:service"
            | "drydock:env"
            | "drydock:cluster"
            | "drydock:release"
            | "drydock:ami"
            | "drydock:image"
    );
    AsgTag::builder()
        .resource_id(group.to_string())
        .resource_type("auto-scaling-group")
        .key(k)
        .value(v)
        .propagate_at_launch(propagate)
        .build()
}

/// CreateAutoScalingGroup: launch template version 1 (never $Latest), HealthCheckType ELB,
/// attached to the service's ELB from the start.
pub async fn create_group(cloud: &Cloud, g: &GroupSpec) -> CloudResult<()> {
    let mut req = cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .create_auto_scaling_group()
        .auto_scaling_group_name(g.name.to_string())
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name(g.launch_template.to_string())
                .version("1")
                .build(),
        )
        .min_size(g.min as i32)
        .max_size(g.max as i32)
        .desired_capacity(g.desired as i32)
        .vpc_zone_identifier(g.subnets.join(","))
        .load_balancer_names(&g.elb)
        .health_check_type("ELB")
        .health_check_grace_period(g.grace_period_s as i32)
        .termination_policies("OldestInstance");
    for (k, v) in &g.tags {
        req = req.tags(asg_tag(&g.name, k, v));
    }
    // Lifecycle hooks in the same call: attached afterwards, the first instances would
    // launch (and could terminate) without them.
    for h in &g.hooks {
        req = req.lifecycle_hook_specification_list(
            LifecycleHookSpecification::builder()
                .lifecycle_hook_name(&h.name)
                .lifecycle_transition(&h.transition)
                .heartbeat_timeout(i32::try_from(h.heartbeat_s).unwrap_or(i32::MAX))
                .default_result(&h.default_result)
                .build(),
        );
    }
    req.send().await.map_err(|e| aws_error("CreateAutoScalingGroup", e))?;
    Ok(())
}

pub async fn attach(cloud: &Cloud, group: &ReleaseName, elb: &str) -> CloudResult<()> {
    cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .attach_load_balancers()
        .auto_scaling_group_name(group.to_string())
        .load_balancer_names(elb)
        .send()
        .await
        .map_err(|e| aws_error("AttachLoadBalancers", e))?;
    Ok(())
}

pub async fn detach(cloud: &Cloud, group: &ReleaseName, elb: &str) -> CloudResult<()> {
    cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .detach_load_balancers()
        .auto_scaling_group_name(group.to_string())
        .load_balancer_names(elb)
        .send()
        .await
        .map_err(|e| aws_error("DetachLoadBalancers", e))?;
    Ok(())
}

pub async fn suspend(cloud: &Cloud, group: &ReleaseName, processes: &[&str]) -> CloudResult<()> {
    cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .suspend_processes()
        .auto_scaling_group_name(group.to_string())
        .set_scaling_processes(Some(processes.iter().map(|p| p.to_string()).collect()))
        .send()
        .await
        .map_err(|e| aws_error("SuspendProcesses", e))?;
    Ok(())
}

pub async fn resume(cloud: &Cloud, group: &ReleaseName) -> CloudResult<()> {
    cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .resume_processes()
        .auto_scaling_group_name(group.to_string())
        .send()
        .await
        .map_err(|e| aws_error("ResumeProcesses", e))?;
    Ok(())
}

/// ResumeProcesses of only `processes` (gc: a warm standby going cold keeps
/// AlarmNotification and ScheduledActions suspended).
pub async fn resume_some(cloud: &Cloud, group: &ReleaseName, processes: &[&str]) -> CloudResult<()> {
    cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .resume_processes()
        .auto_scaling_group_name(group.to_string())
        .set_scaling_processes(Some(processes.iter().map(|p| p.to_string()).collect()))
        .send()
        .await
        .map_err(|e| aws_error("ResumeProcesses", e))?;
    Ok(())
}

pub async fn scale(cloud: &Cloud, group: &ReleaseName, min: u32, desired: u32, max: u32) -> CloudResult<()> {
    cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .update_auto_scaling_group()
        .auto_scaling_group_name(group.to_string())
        .min_size(min as i32)
        .desired_capacity(desired as i32)
        .max_size(max as i32)
        .send()
        .await
        .map_err(|e| aws_error("UpdateAutoScalingGroup", e))?;
    Ok(())
}

/// The tags of one or more groups (one step's).
pub type GroupTags = Vec<(ReleaseName, Vec<(String, String)>)>;

/// Tag writes of the command's services waiting to be sent (`batch.rs`), by priority.
#[derive(Default)]
pub struct Tags {
    now: GroupCommit<GroupTags, ()>,
    bookkeeping: GroupCommit<GroupTags, ()>,
}

/// Tags `groups`, batched with the tag writes of other services that wait meanwhile: one
/// CreateOrUpdateTags carries many switches (at 100 services the switches' tags alone
/// were a third of the Auto Scaling budget at the end of a rollout). A switch's tags are
/// bookkeeping (`execute`): they wait while the budget serves switches, and the more
/// wait, the more one call carries. Bookkeeping and other tags queue apart, so that a
/// batch is sent at the priority of all it carries.
pub async fn tag_many(cloud: &Cloud, groups: &[(ReleaseName, Vec<(String, String)>)]) -> CloudResult<()> {
    let send = async |client, batch| send_tags(cloud, client, batch).await;
    // The token first, then the batch: the tags that queue while it waits ride along.
    if !crate::cloud::pace::is_bookkeeping() {
        let paid = async || cloud.gate.asg(Api::AsgWrite).await;
        return cloud.tags.now.submit_after(groups.to_vec(), paid, send).await;
    }
    // Bookkeeping tags wait for a spare token (one a full bucket would lose) while less
    // than a call's worth is queued: the switches' tags of the first services to turn
    // healthy went one call each, and at 100 services each call is 0.1 s at the end.
    let queue = &cloud.tags.bookkeeping;
    let enough = || {
        let (total, largest) = queue.fold_queued((0, 0), |(t, m), g| (t + tag_count(g), m.max(tag_count(g))));
        total + largest > TAGS_PER_CALL
    };
    let paid = async || cloud.gate.asg_spare(Api::AsgWrite, enough).await;
    queue.submit_after(groups.to_vec(), paid, send).await
}

fn tag_count(g: &GroupTags) -> usize {
    g.iter().map(|(_, t)| t.len()).sum()
}

/// At most this many tags in one CreateOrUpdateTags (a conservative bound: AWS documents
/// none for the call, and a group holds at most 50).
const TAGS_PER_CALL: usize = 50;

/// Each step's tags, sent with others' in as few calls as fit. When a shared call fails,
/// each step's tags are sent again alone (tags are idempotent), so that one service's
/// error (its group gone, say) stays its own.
async fn send_tags(cloud: &Cloud, paid: &aws_sdk_autoscaling::Client, batch: Vec<GroupTags>) -> Vec<CloudResult<()>> {
    let counts: Vec<usize> = batch.iter().map(tag_count).collect();
    let mut out = Vec::with_capacity(batch.len());
    let mut rest = batch.as_slice();
    let mut paid = Some(paid);
    for n in calls(&counts, TAGS_PER_CALL) {
        let (chunk, after) = rest.split_at(n);
        rest = after;
        let merged: GroupTags = chunk.iter().flatten().cloned().collect();
        // The first call has its token already; the others take theirs.
        let req = match paid.take() {
            Some(c) => c.create_or_update_tags(),
            None => cloud.gate.asg(Api::AsgWrite).await.create_or_update_tags(),
        };
        match send_tags_request(req, &merged).await {
            Ok(()) => out.extend(chunk.iter().map(|_| Ok(()))),
            Err(e) if chunk.len() == 1 => out.push(Err(e)),
            Err(_) => {
                for one in chunk {
                    let req = cloud.gate.asg(Api::AsgWrite).await.create_or_update_tags();
                    out.push(send_tags_request(req, one).await);
                }
            }
        }
    }
    out
}

/// How many requests each call carries, in order: as many as fit in `max` tags, and
/// always at least one (a request over `max` goes alone).
fn calls(counts: &[usize], max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut n, mut tags) = (0, 0);
    for &c in counts {
        if n > 0 && tags + c > max {
            out.push(n);
            (n, tags) = (0, 0);
        }
        n += 1;
        tags += c;
    }
    if n > 0 {
        out.push(n);
    }
    out
}

/// One CreateOrUpdateTags of `groups`' tags, its token taken (`Gate::asg`).
async fn send_tags_request(
    mut req: aws_sdk_autoscaling::operation::create_or_update_tags::builders::CreateOrUpdateTagsFluentBuilder,
    groups: &[(ReleaseName, Vec<(String, String)>)],
) -> CloudResult<()> {
    for (g, tags) in groups {
        for (k, v) in tags {
            req = req.tags(asg_tag(g, k, v));
        }
    }
    req.send().await.map_err(|e| aws_error("CreateOrUpdateTags", e))?;
    Ok(())
}

pub async fn delete_group(cloud: &Cloud, group: &ReleaseName) -> CloudResult<()> {
    match cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .delete_auto_scaling_group()
        .auto_scaling_group_name(group.to_string())
        .force_delete(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_error("DeleteAutoScalingGroup", e);
            if e.is_not_found() {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::calls;

    #[test]
    fn tag_requests_share_calls_up_to_the_tag_bound() {
        assert_eq!(calls(&[], 50), Vec::<usize>::new());
        assert_eq!(calls(&[8], 50), vec![1]);
        // Six switches of 8 tags fit in one call of 50, the seventh starts the next.
        assert_eq!(calls(&[8; 7], 50), vec![6, 1]);
        assert_eq!(calls(&[25, 25, 1], 50), vec![2, 1]);
        // A request over the bound is sent alone, never split or dropped.
        assert_eq!(calls(&[3, 60, 3], 50), vec![1, 1, 1]);
        assert_eq!(calls(&[8; 13], 50).iter().sum::<usize>(), 13);
    }
}
