//! Release groups (Auto Scaling groups) and their launch templates.

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{
    Filter as AsgFilter, LaunchTemplateSpecification, LifecycleHookSpecification, LifecycleState, MetricType,
    PredefinedMetricSpecification, Tag as AsgTag, TargetTrackingConfiguration,
};
use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData,
    ResourceType, TagSpecification, VolumeType,
};

use super::pace::Api;
use super::{aws_error, ec2_filter, ec2_tag, Cloud, CloudResult};
use crate::domain::cluster::{GroupState, ObservedGroup, TemplateOf};
use crate::domain::scaling::{ObservedPolicy, ObservedSchedule};
use crate::domain::{ClusterName, ReleaseName};
use crate::plan::{GroupSpec, LaunchTemplateSpec};

fn parse_i64(v: Option<&String>) -> Option<i64> {
    v.and_then(|s| s.parse().ok())
}

/// Every release group of an environment, by cluster (one paginated call for all).
pub async fn describe_env(cloud: &Cloud, env: &str) -> CloudResult<BTreeMap<String, Vec<(String, ObservedGroupRaw)>>> {
    describe_tagged(cloud, "drydock:env", env).await
}

/// The release groups of one cluster.
pub async fn describe_cluster(cloud: &Cloud, cluster: &ClusterName, elb: &str) -> CloudResult<Vec<ObservedGroup>> {
    let by = describe_tagged(cloud, "drydock:cluster", cluster.as_str()).await?;
    let mut out: Vec<ObservedGroup> =
        by.get(cluster.as_str()).into_iter().flatten().filter_map(|(_, g)| g.observe(cluster, elb)).collect();
    out.sort_by_key(|g| g.number());
    Ok(out)
}

async fn describe_tagged(
    cloud: &Cloud,
    key: &str,
    value: &str,
) -> CloudResult<BTreeMap<String, Vec<(String, ObservedGroupRaw)>>> {
    let mut out: BTreeMap<String, Vec<(String, ObservedGroupRaw)>> = BTreeMap::new();
    let filter = AsgFilter::builder().name(format!("tag:{key}")).values(value).build();
    let mut pages = cloud
        .gate
        .asg_pages(Api::AsgRead, |c| c.describe_auto_scaling_groups().filters(filter).into_paginator().send());
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

/// Release launch templates of one cluster: number → what it is for (AMI and settings).
pub async fn cluster_launch_templates(cloud: &Cloud, cluster: &ClusterName) -> CloudResult<BTreeMap<u16, TemplateOf>> {
    let by = launch_templates_tagged(cloud, "drydock:cluster", cluster.as_str()).await?;
    Ok(by
        .get(cluster.as_str())
        .into_iter()
        .flatten()
        .filter_map(|(name, t)| cluster.parse_release(name).map(|r| (r.number, t.clone())))
        .collect())
}

/// Release launch templates of an environment as (name, what it is for), by cluster.
pub async fn launch_templates(cloud: &Cloud, env: &str) -> CloudResult<BTreeMap<String, Vec<(String, TemplateOf)>>> {
    launch_templates_tagged(cloud, "drydock:env", env).await
}

async fn launch_templates_tagged(
    cloud: &Cloud,
    key: &str,
    value: &str,
) -> CloudResult<BTreeMap<String, Vec<(String, TemplateOf)>>> {
    let mut out: BTreeMap<String, Vec<(String, TemplateOf)>> = BTreeMap::new();
    let filter = ec2_filter(&format!("tag:{key}"), &[value]);
    let mut pages =
        cloud.gate.ec2_pages(Api::Ec2Read, |c| c.describe_launch_templates().filters(filter).into_paginator().send());
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribeLaunchTemplates", e))?;
        for t in page.launch_templates() {
            let tag = |k: &str| t.tags().iter().find(|x| x.key() == Some(k)).and_then(|x| x.value()).map(str::to_owned);
            if let (Some(cluster), Some(name)) = (tag("drydock:cluster"), t.launch_template_name()) {
                let of = TemplateOf { ami: tag("drydock:ami"), settings: tag("drydock:settings") };
                out.entry(cluster).or_default().push((name.to_owned(), of));
            }
        }
    }
    Ok(out)
}

/// The user data of a launch template's latest version (None: no such template, or no
/// user data).
pub async fn launch_template_user_data(cloud: &Cloud, name: &str) -> CloudResult<Option<String>> {
    let out = match cloud
        .gate
        .ec2(Api::Ec2Read)
        .await
        .describe_launch_template_versions()
        .launch_template_name(name)
        .versions("$Latest")
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) => {
            let e = aws_error("DescribeLaunchTemplateVersions", e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    Ok(out
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data())
        .and_then(|d| d.user_data())
        .and_then(|raw| aws_smithy_types::base64::decode(raw).ok())
        .and_then(|b| String::from_utf8(b).ok()))
}

/// One launch template per release: IMDSv2 required, encrypted gp3 root, the runtime
/// user data, tags propagated to instances and volumes.
pub async fn create_launch_template(
    cloud: &Cloud,
    t: &LaunchTemplateSpec,
    user_data: &str,
    client_token: &str,
) -> CloudResult<()> {
    let mut inst_tags = LaunchTemplateTagSpecificationRequest::builder().resource_type(ResourceType::Instance);
    let mut vol_tags = LaunchTemplateTagSpecificationRequest::builder().resource_type(ResourceType::Volume);
    let mut lt_tags = TagSpecification::builder().resource_type(ResourceType::LaunchTemplate);
    for (k, v) in &t.tags {
        inst_tags = inst_tags.tags(ec2_tag(k, v));
        vol_tags = vol_tags.tags(ec2_tag(k, v));
        lt_tags = lt_tags.tags(ec2_tag(k, v));
    }
    let mut data = RequestLaunchTemplateData::builder()
        .image_id(&t.ami)
        .instance_type(aws_sdk_ec2::types::InstanceType::from(t.instance_type.as_str()))
        .set_security_group_ids(Some(t.security_groups.clone()))
        .user_data(aws_smithy_types::base64::encode(user_data))
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(if t.imds_v1_allowed {
                    LaunchTemplateHttpTokensState::Optional
                } else {
                    LaunchTemplateHttpTokensState::Required
                })
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_put_response_hop_limit(2)
                .build(),
        )
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(&t.root_device)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .encrypted(true)
                        .volume_size(t.volume_size_gib as i32)
                        .volume_type(VolumeType::Gp3)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .tag_specifications(inst_tags.build())
        .tag_specifications(vol_tags.build());
    if let Some(p) = &t.instance_profile {
        data =
            data.iam_instance_profile(LaunchTemplateIamInstanceProfileSpecificationRequest::builder().name(p).build());
    }
    match cloud
        .gate
        .ec2(Api::Ec2Write)
        .await
        .create_launch_template()
        .launch_template_name(t.name.to_string())
        .launch_template_data(data.build())
        .tag_specifications(lt_tags.build())
        .client_token(client_token)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(aws_error("CreateLaunchTemplate", e)),
    }
}

/// The `drydock:ami` tag of the launch template `name` (None if it does not exist): how a
/// run recognises a release template that it (or a racer for the same AMI) created.
pub async fn launch_template_ami(cloud: &Cloud, name: &ReleaseName) -> CloudResult<Option<String>> {
    let named = cloud.gate.ec2(Api::Ec2Read).await.describe_launch_templates().launch_template_names(name.to_string());
    match named.send().await {
        Ok(out) => Ok(out.launch_templates().first().and_then(|t| {
            t.tags().iter().find(|x| x.key() == Some("drydock:ami")).and_then(|x| x.value()).map(str::to_owned)
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

pub async fn delete_launch_template(cloud: &Cloud, name: &str) -> CloudResult<()> {
    match cloud.gate.ec2(Api::Ec2Write).await.delete_launch_template().launch_template_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_error("DeleteLaunchTemplate", e);
            // Gone already is what we wanted (a rerun after a crash).
            if e.is_not_found() {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
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

/// Tags several groups in one CreateOrUpdateTags call.
pub async fn tag_many(cloud: &Cloud, groups: &[(ReleaseName, Vec<(String, String)>)]) -> CloudResult<()> {
    let mut req = cloud.gate.asg(Api::AsgWrite).await.create_or_update_tags();
    for (g, tags) in groups {
        for (k, v) in tags {
            req = req.tags(asg_tag(g, k, v));
        }
    }
    req.send().await.map_err(|e| aws_error("CreateOrUpdateTags", e))?;
    Ok(())
}

pub async fn tag(cloud: &Cloud, group: &ReleaseName, tags: &[(String, String)]) -> CloudResult<()> {
    let mut req = cloud.gate.asg(Api::AsgWrite).await.create_or_update_tags();
    for (k, v) in tags {
        req = req.tags(asg_tag(group, k, v));
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

// ---- scaling (issue 16)

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

/// PutScalingPolicy: target tracking on ASGAverageCPUUtilization (an upsert by name).
pub async fn put_cpu_policy(
    cloud: &Cloud,
    group: &ReleaseName,
    policy: &str,
    percent: u32,
    warmup_s: Option<u64>,
    scale_in: bool,
) -> CloudResult<()> {
    let tt = TargetTrackingConfiguration::builder()
        .predefined_metric_specification(
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::AsgAverageCpuUtilization)
                .build(),
        )
        .target_value(f64::from(percent))
        .disable_scale_in(!scale_in)
        .build();
    cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .put_scaling_policy()
        .auto_scaling_group_name(group.to_string())
        .policy_name(policy)
        .policy_type("TargetTrackingScaling")
        .target_tracking_configuration(tt)
        .set_estimated_instance_warmup(warmup_s.map(|w| i32::try_from(w).unwrap_or(i32::MAX)))
        .send()
        .await
        .map_err(|e| aws_error("PutScalingPolicy", e))?;
    Ok(())
}

/// PutScheduledUpdateGroupAction with a recurrence (an upsert by name).
#[allow(clippy::too_many_arguments)]
pub async fn put_schedule(
    cloud: &Cloud,
    group: &ReleaseName,
    name: &str,
    recurrence: &str,
    time_zone: Option<&str>,
    min: Option<u32>,
    max: Option<u32>,
    desired: Option<u32>,
) -> CloudResult<()> {
    let size = |v: Option<u32>| v.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .put_scheduled_update_group_action()
        .auto_scaling_group_name(group.to_string())
        .scheduled_action_name(name)
        .recurrence(recurrence)
        .set_time_zone(time_zone.map(str::to_owned))
        .set_min_size(size(min))
        .set_max_size(size(max))
        .set_desired_capacity(size(desired))
        .send()
        .await
        .map_err(|e| aws_error("PutScheduledUpdateGroupAction", e))?;
    Ok(())
}

/// EnableMetricsCollection of every group metric at 1-minute granularity.
pub async fn enable_metrics(cloud: &Cloud, group: &ReleaseName) -> CloudResult<()> {
    cloud
        .gate
        .asg(Api::AsgWrite)
        .await
        .enable_metrics_collection()
        .auto_scaling_group_name(group.to_string())
        .granularity("1Minute")
        .send()
        .await
        .map_err(|e| aws_error("EnableMetricsCollection", e))?;
    Ok(())
}

/// The scaling policies of one group (DescribePolicies), for `status`.
pub async fn policies(cloud: &Cloud, group: &ReleaseName) -> CloudResult<Vec<ObservedPolicy>> {
    let mut out = Vec::new();
    let g = group.to_string();
    let mut pages = cloud
        .gate
        .asg_pages(Api::AsgRead, |c| c.describe_policies().auto_scaling_group_name(g).into_paginator().send());
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribePolicies", e))?;
        for p in page.scaling_policies() {
            let tt = p.target_tracking_configuration();
            out.push(ObservedPolicy {
                name: p.policy_name().unwrap_or_default().to_owned(),
                kind: p.policy_type().unwrap_or_default().to_owned(),
                metric: tt
                    .and_then(|t| t.predefined_metric_specification())
                    .and_then(|m| m.predefined_metric_type())
                    .map(|m| m.as_str().to_owned()),
                target: tt.and_then(|t| t.target_value()),
                scale_in: tt.map(|t| !t.disable_scale_in().unwrap_or(false)),
                warmup_s: p.estimated_instance_warmup().map(i64::from),
            });
        }
    }
    Ok(out)
}

/// The scheduled actions of one group (DescribeScheduledActions), for `status`. AWS gives
/// a recurring action's next run as its StartTime.
pub async fn scheduled_actions(cloud: &Cloud, group: &ReleaseName) -> CloudResult<Vec<ObservedSchedule>> {
    let mut out = Vec::new();
    let g = group.to_string();
    let mut pages = cloud
        .gate
        .asg_pages(Api::AsgRead, |c| c.describe_scheduled_actions().auto_scaling_group_name(g).into_paginator().send());
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribeScheduledActions", e))?;
        for a in page.scheduled_update_group_actions() {
            out.push(ObservedSchedule {
                name: a.scheduled_action_name().unwrap_or_default().to_owned(),
                recurrence: a.recurrence().map(str::to_owned),
                time_zone: a.time_zone().map(str::to_owned),
                next_at: a.start_time().or(a.time()).map(|t| t.secs()),
                min: a.min_size(),
                max: a.max_size(),
                desired: a.desired_capacity(),
            });
        }
    }
    Ok(out)
}
// ---- end scaling
