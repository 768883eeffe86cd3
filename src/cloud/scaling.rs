//! A release group's own scaling (issue 16): its target-tracking CPU policy, its
//! scheduled actions and its group metrics, put right after the group is created (all
//! upserts), and read back for `status`.

use aws_sdk_autoscaling::types::{MetricType, PredefinedMetricSpecification, TargetTrackingConfiguration};

use super::pace::Api;
use super::{aws_error, Cloud, CloudResult};
use crate::domain::scaling::{ObservedPolicy, ObservedSchedule};
use crate::domain::ReleaseName;

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
