//! Release launch templates (EC2): one per release, named after it, created before its
//! group; read back to recognise a release's own template after a lost answer, to find
//! templates left without a group, and to say which settings a new release changes.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData,
    ResourceType, TagSpecification, VolumeType,
};

use super::pace::Api;
use super::{aws_error, ec2_filter, ec2_tag, Cloud, CloudResult};
use crate::domain::cluster::TemplateOf;
use crate::domain::{ClusterName, ReleaseName};
use crate::plan::LaunchTemplateSpec;

/// Release launch templates of one cluster: number → what it is for (AMI and settings).
pub async fn of_cluster(cloud: &Cloud, cluster: &ClusterName) -> CloudResult<BTreeMap<u16, TemplateOf>> {
    let by = tagged(cloud, "drydock:cluster", &[cluster.as_str()]).await?;
    Ok(releases_of(&by, cluster))
}

/// At most this many clusters in one DescribeLaunchTemplates tag filter: EC2 takes up to
/// 200 filter values a call.
const FILTER_VALUES: usize = 50;

/// The release launch templates of several clusters, by cluster: one paginated call per
/// 50 clusters (a tag filter takes many values) instead of one per cluster.
pub async fn of_clusters(cloud: &Cloud, clusters: &[&str]) -> CloudResult<BTreeMap<String, Vec<(String, TemplateOf)>>> {
    let mut out = BTreeMap::new();
    for chunk in clusters.chunks(FILTER_VALUES) {
        out.extend(tagged(cloud, "drydock:cluster", chunk).await?);
    }
    Ok(out)
}

/// `cluster`'s release launch templates among templates read by cluster, by number.
pub fn releases_of(
    by: &BTreeMap<String, Vec<(String, TemplateOf)>>,
    cluster: &ClusterName,
) -> BTreeMap<u16, TemplateOf> {
    by.get(cluster.as_str())
        .into_iter()
        .flatten()
        .filter_map(|(name, t)| cluster.parse_release(name).map(|r| (r.number, t.clone())))
        .collect()
}

/// Release launch templates of an environment as (name, what it is for), by cluster.
pub async fn of_env(cloud: &Cloud, env: &str) -> CloudResult<BTreeMap<String, Vec<(String, TemplateOf)>>> {
    tagged(cloud, "drydock:env", &[env]).await
}

async fn tagged(cloud: &Cloud, key: &str, values: &[&str]) -> CloudResult<BTreeMap<String, Vec<(String, TemplateOf)>>> {
    let mut out: BTreeMap<String, Vec<(String, TemplateOf)>> = BTreeMap::new();
    let filter = ec2_filter(&format!("tag:{key}"), values);
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
pub async fn user_data(cloud: &Cloud, name: &str) -> CloudResult<Option<String>> {
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
pub async fn create(cloud: &Cloud, t: &LaunchTemplateSpec, user_data: &str, client_token: &str) -> CloudResult<()> {
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
        .ec2(Api::Ec2Write("CreateLaunchTemplate"))
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
pub async fn ami(cloud: &Cloud, name: &ReleaseName) -> CloudResult<Option<String>> {
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

pub async fn delete(cloud: &Cloud, name: &str) -> CloudResult<()> {
    match cloud
        .gate
        .ec2(Api::Ec2Write("DeleteLaunchTemplate"))
        .await
        .delete_launch_template()
        .launch_template_name(name)
        .send()
        .await
    {
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
