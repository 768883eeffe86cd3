//! Builder instances: launch, observe, stop-wait, terminate.

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceStateName, InstanceType, ResourceType,
    ShutdownBehavior, TagSpecification, VolumeType,
};

use super::{aws_error, ec2_filter, ec2_tag, Cloud, CloudError, CloudResult};
use crate::domain::bake::{InstanceState, ObservedBuilder};

pub fn state(s: Option<&InstanceStateName>) -> InstanceState {
    match s {
        Some(InstanceStateName::Pending) => InstanceState::Pending,
        Some(InstanceStateName::Running) => InstanceState::Running,
        Some(InstanceStateName::Stopping) => InstanceState::Stopping,
        Some(InstanceStateName::Stopped) => InstanceState::Stopped,
        Some(InstanceStateName::ShuttingDown) => InstanceState::ShuttingDown,
        _ => InstanceState::Terminated,
    }
}

/// Builders of one recipe (tagged `drydock:role=builder`, `drydock:recipe=<hash>`).
pub async fn builders(cloud: &Cloud, recipe: &str) -> CloudResult<Vec<ObservedBuilder>> {
    describe_builders(cloud, ec2_filter("tag:drydock:recipe", &[recipe])).await
}

/// Builders tagged `drydock:role=builder` that also match `filter`.
async fn describe_builders(cloud: &Cloud, filter: aws_sdk_ec2::types::Filter) -> CloudResult<Vec<ObservedBuilder>> {
    cloud.pacer.take(super::pace::Api::Ec2Read).await;
    let out = cloud
        .ec2
        .describe_instances()
        .filters(ec2_filter("tag:drydock:role", &["builder"]))
        .filters(filter)
        .send()
        .await
        .map_err(|e| aws_error("DescribeInstances", e))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| ObservedBuilder {
            id: i.instance_id().unwrap_or_default().to_owned(),
            state: state(i.state().and_then(|s| s.name())),
            launched: i.launch_time().map(|t| t.secs()).unwrap_or(0),
        })
        .collect())
}

pub struct BuilderSpec<'a> {
    pub base_ami: &'a str,
    pub root_device: &'a str,
    pub instance_type: &'a str,
    pub subnet_id: &'a str,
    pub security_group_ids: &'a [String],
    pub instance_profile: Option<&'a str>,
    pub volume_size_gib: u32,
    pub kms_key_id: Option<&'a str>,
    pub user_data: &'a str,
    pub tags: &'a [(String, String)],
    /// Makes a retried RunInstances of this run idempotent.
    pub client_token: &'a str,
    /// IMDSv1 allowed besides IMDSv2 (`[base] imds = "v1-allowed"`).
    pub imds_v1_allowed: bool,
}

/// RunInstances for a builder: IMDSv2 required, encrypted gp3 root volume, powers off
/// into `stopped` (the success signal), tagged at launch so that a crash right after the
/// call still leaves a builder that the next run finds.
pub async fn launch(cloud: &Cloud, s: &BuilderSpec<'_>) -> CloudResult<String> {
    cloud.pacer.take(super::pace::Api::Ec2Write).await;
    let mut tags = TagSpecification::builder().resource_type(ResourceType::Instance);
    let mut vol_tags = TagSpecification::builder().resource_type(ResourceType::Volume);
    for (k, v) in s.tags {
        tags = tags.tags(ec2_tag(k, v));
        vol_tags = vol_tags.tags(ec2_tag(k, v));
    }
    let mut req = cloud
        .ec2
        .run_instances()
        .image_id(s.base_ami)
        .instance_type(InstanceType::from(s.instance_type))
        .min_count(1)
        .max_count(1)
        .subnet_id(s.subnet_id)
        .set_security_group_ids(Some(s.security_group_ids.to_vec()))
        .user_data(aws_smithy_types::base64::encode(s.user_data))
        .instance_initiated_shutdown_behavior(ShutdownBehavior::Stop)
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(if s.imds_v1_allowed { HttpTokensState::Optional } else { HttpTokensState::Required })
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .http_put_response_hop_limit(2)
                .build(),
        )
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name(s.root_device)
                .ebs(
                    EbsBlockDevice::builder()
                        .encrypted(true)
                        .volume_size(s.volume_size_gib as i32)
                        .set_kms_key_id(s.kms_key_id.map(str::to_owned))
                        .volume_type(VolumeType::Gp3)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .tag_specifications(tags.build())
        .tag_specifications(vol_tags.build())
        .client_token(s.client_token);
    if let Some(p) = s.instance_profile {
        req = req.iam_instance_profile(IamInstanceProfileSpecification::builder().name(p).build());
    }
    let out = req.send().await.map_err(|e| aws_error("RunInstances", e))?;
    out.instances()
        .first()
        .and_then(|i| i.instance_id())
        .map(str::to_owned)
        .ok_or_else(|| CloudError::other("RunInstances", "no instance in the answer"))
}

/// The state of one instance; None while EC2 does not know it yet (eventual consistency
/// right after RunInstances) or any more.
pub async fn instance_state(cloud: &Cloud, id: &str) -> CloudResult<Option<InstanceState>> {
    cloud.pacer.take(super::pace::Api::Ec2Read).await;
    match cloud.ec2.describe_instances().instance_ids(id).send().await {
        Ok(out) => Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next()
            .map(|i| state(i.state().and_then(|s| s.name())))),
        Err(e) => {
            let e = aws_error("DescribeInstances", e);
            if e.is("InvalidInstanceID.NotFound") {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

pub async fn terminate(cloud: &Cloud, ids: &[String]) -> CloudResult<()> {
    cloud.pacer.take(super::pace::Api::Ec2Write).await;
    if ids.is_empty() {
        return Ok(());
    }
    match cloud.ec2.terminate_instances().set_instance_ids(Some(ids.to_vec())).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_error("TerminateInstances", e);
            // Already gone is what we wanted.
            if e.is("InvalidInstanceID.NotFound") {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// The last `lines` lines of the console output, for a timeout message.
pub async fn console_tail(cloud: &Cloud, id: &str, lines: usize) -> Option<String> {
    cloud.pacer.take(super::pace::Api::Ec2Read).await;
    let out = cloud.ec2.get_console_output().instance_id(id).latest(true).send().await.ok()?;
    let raw = out.output()?;
    let bytes = aws_smithy_types::base64::decode(raw).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    (!tail.trim().is_empty()).then_some(tail)
}

/// Every builder of the region that is not terminated, for gc.
pub async fn all_builders(cloud: &Cloud) -> CloudResult<Vec<ObservedBuilder>> {
    describe_builders(cloud, ec2_filter("instance-state-name", &["pending", "running", "stopping", "stopped"])).await
}

/// The whole console output of an instance as EC2 keeps it (the newest, where the
/// instance type supports it); None when there is none yet. For the bake's failure watch.
pub async fn console_output(cloud: &Cloud, id: &str) -> CloudResult<Option<String>> {
    cloud.pacer.take(super::pace::Api::Ec2Read).await;
    let out = cloud
        .ec2
        .get_console_output()
        .instance_id(id)
        .latest(true)
        .send()
        .await
        .map_err(|e| aws_error("GetConsoleOutput", e))?;
    Ok(out
        .output()
        .and_then(|raw| aws_smithy_types::base64::decode(raw).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}
