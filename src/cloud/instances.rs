//! Builder instances: launch, observe, stop-wait, terminate.

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceStateName, InstanceType, ResourceType,
    ShutdownBehavior, TagSpecification, VolumeType,
};

use super::pace::Api;
use super::{aws_error, ec2_filter, ec2_tag, Cloud, CloudError, CloudResult};
use crate::domain::bake::{InstanceState, ObservedBuilder};
use crate::plan::BuilderSpec;

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
    let out = cloud
        .gate
        .ec2(Api::Ec2Read)
        .await
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

/// RunInstances for a builder: IMDSv2 required, encrypted gp3 root volume, powers off
/// into `stopped` (the success signal), tagged at launch so that a crash right after the
/// call still leaves a builder that the next run finds.
/// `client_token` makes retries of this one call idempotent (the SDK retries with the same
/// token); a later run finds a builder by its tags instead.
pub async fn launch(cloud: &Cloud, s: &BuilderSpec, client_token: &str) -> CloudResult<String> {
    let mut tags = TagSpecification::builder().resource_type(ResourceType::Instance);
    let mut vol_tags = TagSpecification::builder().resource_type(ResourceType::Volume);
    for (k, v) in &s.tags {
        tags = tags.tags(ec2_tag(k, v));
        vol_tags = vol_tags.tags(ec2_tag(k, v));
    }
    let mut req = cloud
        .gate
        .ec2(Api::Ec2Write("RunInstances"))
        .await
        .run_instances()
        .image_id(&s.base_ami)
        .instance_type(InstanceType::from(s.instance_type.as_str()))
        .min_count(1)
        .max_count(1)
        .subnet_id(&s.subnet)
        .set_security_group_ids(Some(s.security_groups.clone()))
        .user_data(aws_smithy_types::base64::encode(&s.user_data.text))
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
                .device_name(&s.root_device)
                .ebs(
                    EbsBlockDevice::builder()
                        .encrypted(true)
                        .volume_size(i32::try_from(s.volume_size_gib).unwrap_or(i32::MAX))
                        .set_kms_key_id(s.kms_key_id.clone())
                        .volume_type(VolumeType::Gp3)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .tag_specifications(tags.build())
        .tag_specifications(vol_tags.build())
        .client_token(client_token);
    if let Some(p) = &s.instance_profile {
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
    match cloud.gate.ec2(Api::Ec2Read).await.describe_instances().instance_ids(id).send().await {
        Ok(out) => Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next()
            .map(|i| state(i.state().and_then(|s| s.name())))),
        Err(e) => {
            let e = aws_error("DescribeInstances", e);
            if e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

pub async fn terminate(cloud: &Cloud, ids: &[String]) -> CloudResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    match cloud
        .gate
        .ec2(Api::Ec2Write("TerminateInstances"))
        .await
        .terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_error("TerminateInstances", e);
            // Already gone is what we wanted.
            if e.is_not_found() {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// The last `lines` lines of the console output, for a timeout message.
pub async fn console_tail(cloud: &Cloud, id: &str, lines: usize) -> Option<String> {
    let out = cloud.gate.ec2(Api::Ec2Read).await.get_console_output().instance_id(id).latest(true).send().await.ok()?;
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
    let out = cloud
        .gate
        .ec2(Api::Ec2Read)
        .await
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
