//! Resolves an environment's network by name (default VPC, Name tags, group names) to
//! ids: ids differ between accounts and emulator runs, names do not.

use super::pace::Api;
use super::{aws_error, ec2_filter, Cloud, CloudError, CloudResult};
use crate::domain::network::{Network, SecurityGroupRef, SubnetRef, VpcRef};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedNetwork {
    pub vpc_id: String,
    /// The account that owns the VPC: the caller's account, for the `account_id` check.
    pub owner_id: Option<String>,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

pub async fn resolve(cloud: &Cloud, net: &Network) -> CloudResult<ResolvedNetwork> {
    // The common case, the default VPC with its default subnets: the subnets carry the
    // VPC's id and owner, so DescribeVpcs is not needed (one request less per command).
    if net.vpc == VpcRef::Default && net.subnets.iter().all(|s| *s == SubnetRef::Default) {
        let out = cloud
            .gate
            .ec2(Api::Ec2Read)
            .await
            .describe_subnets()
            .filters(ec2_filter("default-for-az", &["true"]))
            .send()
            .await
            .map_err(|e| aws_error("DescribeSubnets", e))?;
        let mut found: Vec<(String, String, String, Option<String>)> = out
            .subnets()
            .iter()
            .map(|s| {
                (
                    s.availability_zone().unwrap_or_default().to_owned(),
                    s.subnet_id().unwrap_or_default().to_owned(),
                    s.vpc_id().unwrap_or_default().to_owned(),
                    s.owner_id().map(str::to_owned),
                )
            })
            .collect();
        found.sort();
        let Some((_, _, vpc_id, owner_id)) = found.first().cloned() else {
            return Err(CloudError::missing(
                "DescribeSubnets",
                format!("network.subnets: there is no default VPC with default subnets in {}", cloud.region),
            ));
        };
        let subnet_ids = found.into_iter().map(|(_, id, _, _)| id).collect();
        let security_group_ids = security_groups(cloud, &vpc_id, net).await?;
        return Ok(ResolvedNetwork { vpc_id, owner_id, subnet_ids, security_group_ids });
    }
    let mut req = cloud.gate.ec2(Api::Ec2Read).await.describe_vpcs();
    req = match &net.vpc {
        VpcRef::Default => req.filters(ec2_filter("isDefault", &["true"])),
        VpcRef::Id(id) => req.vpc_ids(id),
        VpcRef::Name(n) => req.filters(ec2_filter("tag:Name", &[n])),
    };
    let out = req.send().await.map_err(|e| aws_error("DescribeVpcs", e))?;
    let vpcs = out.vpcs();
    let what = match &net.vpc {
        VpcRef::Default => "the default VPC".to_owned(),
        VpcRef::Id(id) => format!("VPC {id}"),
        VpcRef::Name(n) => format!("a VPC named {n:?}"),
    };
    let vpc = match vpcs {
        [one] => one,
        [] => {
            return Err(CloudError::missing(
                "DescribeVpcs",
                format!("network.vpc: there is no {what} in {}", cloud.region),
            ))
        }
        _ => {
            return Err(CloudError::missing(
                "DescribeVpcs",
                format!("network.vpc: {what} matches {} VPCs; name one by id", vpcs.len()),
            ))
        }
    };
    let vpc_id = vpc.vpc_id().unwrap_or_default().to_owned();
    let owner_id = vpc.owner_id().map(str::to_owned);

    let subnet_ids = subnets(cloud, &vpc_id, &net.subnets).await?;
    let security_group_ids = security_groups(cloud, &vpc_id, net).await?;
    Ok(ResolvedNetwork { vpc_id, owner_id, subnet_ids, security_group_ids })
}

/// Subnet refs in order; `default` expands to the VPC's default-for-AZ subnets.
pub async fn subnets(cloud: &Cloud, vpc_id: &str, refs: &[SubnetRef]) -> CloudResult<Vec<String>> {
    let mut ids = Vec::new();
    for r in refs {
        let mut req = cloud.gate.ec2(Api::Ec2Read).await.describe_subnets().filters(ec2_filter("vpc-id", &[vpc_id]));
        let what = match r {
            SubnetRef::Id(id) => {
                req = req.subnet_ids(id);
                format!("subnet {id}")
            }
            SubnetRef::Default => {
                req = req.filters(ec2_filter("default-for-az", &["true"]));
                "a default subnet".to_owned()
            }
            SubnetRef::Name(n) => {
                req = req.filters(ec2_filter("tag:Name", &[n]));
                format!("a subnet named {n:?}")
            }
        };
        let out = req.send().await.map_err(|e| aws_error("DescribeSubnets", e))?;
        let mut found: Vec<(String, String)> = out
            .subnets()
            .iter()
            .map(|s| {
                (s.availability_zone().unwrap_or_default().to_owned(), s.subnet_id().unwrap_or_default().to_owned())
            })
            .collect();
        if found.is_empty() {
            return Err(CloudError::missing(
                "DescribeSubnets",
                format!("network.subnets: there is no {what} in {vpc_id}"),
            ));
        }
        // Stable order (by zone), so that plans do not change between runs.
        found.sort();
        for (_, id) in found {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// Security group refs to ids; names are looked up in `vpc_id`.
async fn security_groups(cloud: &Cloud, vpc_id: &str, net: &Network) -> CloudResult<Vec<String>> {
    let mut security_group_ids = Vec::new();
    let names: Vec<&str> = net
        .security_groups
        .iter()
        .filter_map(|g| match g {
            SecurityGroupRef::Name(n) => Some(n.as_str()),
            SecurityGroupRef::Id(_) => None,
        })
        .collect();
    for g in &net.security_groups {
        if let SecurityGroupRef::Id(id) = g {
            security_group_ids.push(id.clone());
        }
    }
    if !names.is_empty() {
        let out = cloud
            .gate
            .ec2(Api::Ec2Read)
            .await
            .describe_security_groups()
            .filters(ec2_filter("vpc-id", &[vpc_id]))
            .filters(ec2_filter("group-name", &names))
            .send()
            .await
            .map_err(|e| aws_error("DescribeSecurityGroups", e))?;
        for n in &names {
            match out.security_groups().iter().find(|g| g.group_name() == Some(*n)) {
                Some(g) => security_group_ids.push(g.group_id().unwrap_or_default().to_owned()),
                None => {
                    return Err(CloudError::missing(
                        "DescribeSecurityGroups",
                        format!("network.security_groups: there is no security group named {n:?} in {vpc_id}"),
                    ))
                }
            }
        }
    }
    Ok(security_group_ids)
}
