//! AMIs: resolving the base, finding a baked AMI by its content-addressed name, creating,
//! tagging, waiting, deregistering.

use aws_sdk_ec2::types::{Image, ImageState as SdkImageState, ResourceType, TagSpecification};

use super::pace::Api;
use super::{aws_error, ec2_filter, ec2_tag, Cloud, CloudError, CloudResult};
use crate::domain::bake::{ImageState, ObservedImage};
use crate::domain::network::BaseAmi;

#[derive(Clone, Debug)]
pub struct BaseImage {
    pub id: String,
    pub name: String,
    pub root_device: String,
}

fn state(i: &Image) -> ImageState {
    match i.state() {
        Some(SdkImageState::Available) => ImageState::Available,
        Some(SdkImageState::Pending) => ImageState::Pending,
        _ => ImageState::Unusable,
    }
}

/// Images this account owns that match every filter (one DescribeImages).
async fn own_images(cloud: &Cloud, filters: Vec<aws_sdk_ec2::types::Filter>) -> CloudResult<Vec<Image>> {
    let out = cloud
        .gate
        .ec2(Api::Ec2Read)
        .await
        .describe_images()
        .owners("self")
        .set_filters(Some(filters))
        .send()
        .await
        .map_err(|e| aws_error("DescribeImages", e))?;
    Ok(out.images().to_vec())
}

/// The base AMI: by id, or the newest available image of `owner` whose name matches.
/// `Ok(Err(what))` when there is none (a config problem, not a cloud failure).
pub async fn resolve_base(cloud: &Cloud, base: &BaseAmi) -> CloudResult<Result<BaseImage, String>> {
    let req = cloud.gate.ec2(Api::Ec2Read).await.describe_images();
    let (req, what) = match base {
        BaseAmi::Id(id) => (req.image_ids(id), format!("base AMI {id}")),
        BaseAmi::Search { owner, name } => (
            req.owners(owner).filters(ec2_filter("name", &[name])).filters(ec2_filter("state", &["available"])),
            format!("an available image of owner {owner} named {name:?}"),
        ),
    };
    let out = match req.send().await {
        Ok(o) => o,
        Err(e) => {
            let e = aws_error("DescribeImages", e);
            if e.is_not_found() || e.is("InvalidAMIID.Malformed") {
                return Ok(Err(format!("base: there is no {what} in {}", cloud.region)));
            }
            return Err(e);
        }
    };
    // ISO 8601 creation dates sort as strings.
    let newest = out
        .images()
        .iter()
        .filter(|i| state(i) == ImageState::Available)
        .max_by(|a, b| a.creation_date().cmp(&b.creation_date()));
    Ok(match newest {
        Some(i) => Ok(BaseImage {
            id: i.image_id().unwrap_or_default().to_owned(),
            name: i.name().unwrap_or_default().to_owned(),
            root_device: i.root_device_name().unwrap_or("/dev/sda1").to_owned(),
        }),
        None => Err(format!("base: there is no {what} in {}", cloud.region)),
    })
}

/// Our own AMI of this name, if any (names are unique per account and region).
pub async fn find_by_name(cloud: &Cloud, name: &str) -> CloudResult<Option<ObservedImage>> {
    let images = own_images(cloud, vec![ec2_filter("name", &[name])]).await?;
    Ok(images.first().map(|i| ObservedImage { id: i.image_id().unwrap_or_default().to_owned(), state: state(i) }))
}

/// The state of one image and its snapshot ids.
pub async fn describe(cloud: &Cloud, id: &str) -> CloudResult<Option<(ImageState, Vec<String>)>> {
    let out = cloud.gate.ec2(Api::Ec2Read).await.describe_images().image_ids(id).send().await;
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            let e = aws_error("DescribeImages", e);
            if e.is_not_found() {
                return Ok(None);
            }
            return Err(e);
        }
    };
    Ok(out.images().first().map(|i| {
        let snaps = i
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_owned))
            .collect();
        (state(i), snaps)
    }))
}

/// The AMI and its snapshots tagged alike, at creation (CreateImage, CopyImage): the IAM
/// policy lets drydock tag images and snapshots only as it creates them
/// (`ec2:CreateAction`), so that it cannot adopt one that is not its own.
fn image_and_snapshot_tags(tags: &[(String, String)]) -> [TagSpecification; 2] {
    [ResourceType::Image, ResourceType::Snapshot].map(|t| {
        let mut spec = TagSpecification::builder().resource_type(t);
        for (k, v) in tags {
            spec = spec.tags(ec2_tag(k, v));
        }
        spec.build()
    })
}

/// CreateImage from a stopped builder; the AMI and its snapshots tagged at creation.
pub async fn create(
    cloud: &Cloud,
    instance: &str,
    name: &str,
    description: &str,
    tags: &[(String, String)],
) -> CloudResult<String> {
    let out = cloud
        .gate
        .ec2(Api::Ec2Write("CreateImage"))
        .await
        .create_image()
        .instance_id(instance)
        .name(name)
        .description(description)
        .set_tag_specifications(Some(image_and_snapshot_tags(tags).to_vec()))
        .send()
        .await
        .map_err(|e| aws_error("CreateImage", e))?;
    out.image_id().map(str::to_owned).ok_or_else(|| CloudError::other("CreateImage", "no image id in the answer"))
}

/// CreateTags on existing resources. Not for images and snapshots: the IAM policy denies
/// tagging them after creation (tag them in CreateImage/CopyImage).
pub async fn tag(cloud: &Cloud, resources: &[String], tags: &[(String, String)]) -> CloudResult<()> {
    if resources.is_empty() {
        return Ok(());
    }
    let mut req = cloud.gate.ec2(Api::Ec2Write("CreateTags")).await.create_tags();
    for r in resources {
        req = req.resources(r);
    }
    for (k, v) in tags {
        req = req.tags(ec2_tag(k, v));
    }
    req.send().await.map_err(|e| aws_error("CreateTags", e))?;
    Ok(())
}

/// Deregisters an image and deletes its snapshots.
pub async fn deregister(cloud: &Cloud, id: &str) -> CloudResult<()> {
    let snaps = describe(cloud, id).await?.map(|(_, s)| s).unwrap_or_default();
    cloud
        .gate
        .ec2(Api::Ec2Write("DeregisterImage"))
        .await
        .deregister_image()
        .image_id(id)
        .send()
        .await
        .map_err(|e| aws_error("DeregisterImage", e))?;
    for s in snaps {
        cloud
            .gate
            .ec2(Api::Ec2Write("DeleteSnapshot"))
            .await
            .delete_snapshot()
            .snapshot_id(&s)
            .send()
            .await
            .map_err(|e| aws_error("DeleteSnapshot", e))?;
    }
    Ok(())
}

/// An AMI to deploy: its id, root device, and the image it runs (`drydock:image`).
#[derive(Clone, Debug)]
pub struct DeployableImage {
    pub id: String,
    pub root_device: String,
    pub image: Option<String>,
    pub service: Option<String>,
    /// Tagged `drydock:imds=v1-allowed` at bake: its base's cloud-init predates IMDSv2, so
    /// its launch templates must allow IMDSv1.
    pub imds_v1_allowed: bool,
}

fn deployable(i: &Image) -> DeployableImage {
    let tag = |k: &str| i.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_owned);
    DeployableImage {
        id: i.image_id().unwrap_or_default().to_owned(),
        root_device: i.root_device_name().unwrap_or("/dev/sda1").to_owned(),
        image: tag("drydock:image"),
        service: tag("drydock:service"),
        imds_v1_allowed: tag("drydock:imds").as_deref() == Some("v1-allowed"),
    }
}

/// `--ami`: any available AMI (also one baked by Packer). Ok(None): no such image.
pub async fn deployable_by_id(cloud: &Cloud, id: &str) -> CloudResult<Option<DeployableImage>> {
    match cloud.gate.ec2(Api::Ec2Read).await.describe_images().image_ids(id).send().await {
        Ok(out) => Ok(out.images().iter().find(|i| state(i) == ImageState::Available).map(deployable)),
        Err(e) => {
            let e = aws_error("DescribeImages", e);
            if e.is_not_found() || e.is("InvalidAMIID.Malformed") {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// `--image-tag`: the newest available AMI that drydock baked for this service and image.
pub async fn baked_for(cloud: &Cloud, service: &str, image: &str) -> CloudResult<Option<DeployableImage>> {
    let images = own_images(
        cloud,
        vec![
            ec2_filter("tag:drydock:service", &[service]),
            ec2_filter("tag:drydock:image", &[image]),
            ec2_filter("state", &["available"]),
        ],
    )
    .await?;
    Ok(images.iter().max_by(|a, b| a.creation_date().cmp(&b.creation_date())).map(deployable))
}

/// A copy of `source_ami` that drydock made in this region before (tag
/// `drydock:copied-from`), so that a rerun of a promote does not copy twice.
pub async fn find_copy(cloud: &Cloud, source_ami: &str) -> CloudResult<Option<ObservedImage>> {
    let images = own_images(cloud, vec![ec2_filter("tag:drydock:copied-from", &[source_ami])]).await?;
    Ok(images
        .iter()
        .find(|i| state(i) != ImageState::Unusable)
        .map(|i| ObservedImage { id: i.image_id().unwrap_or_default().to_owned(), state: state(i) }))
}

/// CopyImage into this client's region (encrypted), the copy and its snapshots tagged at
/// creation: the copy does not carry the source's tags (AWS does not copy them).
pub async fn copy(
    cloud: &Cloud,
    source_region: &str,
    source_ami: &str,
    name: &str,
    tags: &[(String, String)],
) -> CloudResult<String> {
    let mut all = tags.to_vec();
    all.push(("drydock:copied-from".into(), source_ami.to_owned()));
    all.push(("drydock:copied-from-region".into(), source_region.to_owned()));
    let out = cloud
        .gate
        .ec2(Api::Ec2Write("CopyImage"))
        .await
        .copy_image()
        .source_region(source_region)
        .source_image_id(source_ami)
        .name(name)
        .description(format!("drydock: copy of {source_ami} from {source_region}"))
        .encrypted(true)
        .client_token(format!("drydock-copy-{source_ami}"))
        .set_tag_specifications(Some(image_and_snapshot_tags(&all).to_vec()))
        .send()
        .await
        .map_err(|e| aws_error("CopyImage", e))?;
    out.image_id().map(str::to_owned).ok_or_else(|| CloudError::other("CopyImage", "no image id in the answer"))
}

/// The tags of one image.
pub async fn image_tags(cloud: &Cloud, id: &str) -> CloudResult<Vec<(String, String)>> {
    let out = cloud
        .gate
        .ec2(Api::Ec2Read)
        .await
        .describe_images()
        .image_ids(id)
        .send()
        .await
        .map_err(|e| aws_error("DescribeImages", e))?;
    Ok(out
        .images()
        .first()
        .map(|i| {
            i.tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
                .collect()
        })
        .unwrap_or_default())
}

/// Lets `account` launch `ami`: launch permission on the image, create-volume permission
/// on its snapshots (without which the other account cannot start an encrypted copy).
pub async fn share(cloud: &Cloud, ami: &str, account: &str) -> CloudResult<()> {
    use aws_sdk_ec2::types::{
        CreateVolumePermission, CreateVolumePermissionModifications, LaunchPermission, LaunchPermissionModifications,
    };
    cloud
        .gate
        .ec2(Api::Ec2Write("ModifyImageAttribute"))
        .await
        .modify_image_attribute()
        .image_id(ami)
        .launch_permission(
            LaunchPermissionModifications::builder().add(LaunchPermission::builder().user_id(account).build()).build(),
        )
        .send()
        .await
        .map_err(|e| aws_error("ModifyImageAttribute", e))?;
    let snaps = describe(cloud, ami).await?.map(|(_, s)| s).unwrap_or_default();
    for s in snaps {
        cloud
            .gate
            .ec2(Api::Ec2Write("ModifySnapshotAttribute"))
            .await
            .modify_snapshot_attribute()
            .snapshot_id(&s)
            .create_volume_permission(
                CreateVolumePermissionModifications::builder()
                    .add(CreateVolumePermission::builder().user_id(account).build())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("ModifySnapshotAttribute", e))?;
    }
    Ok(())
}

/// Every AMI drydock made in this region (tagged `drydock:service`), for gc.
pub async fn ours(cloud: &Cloud) -> CloudResult<Vec<crate::domain::bake::ObservedAmi>> {
    let images = own_images(cloud, vec![ec2_filter("tag-key", &["drydock:service"])]).await?;
    Ok(images
        .iter()
        .map(|i| {
            let tag = |k: &str| {
                i.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).unwrap_or_default().to_owned()
            };
            let created = i
                .creation_date()
                .and_then(|d| {
                    aws_smithy_types::DateTime::from_str(d, aws_smithy_types::date_time::Format::DateTime).ok()
                })
                .map(|d| d.secs())
                .unwrap_or(0);
            crate::domain::bake::ObservedAmi {
                id: i.image_id().unwrap_or_default().to_owned(),
                name: i.name().unwrap_or_default().to_owned(),
                service: tag("drydock:service"),
                created,
            }
        })
        .collect())
}
