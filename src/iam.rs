//! The least-privilege IAM policy that `drydock iam-policy` prints: exactly the API
//! actions drydock calls (a unit test checks this list against the calls in src/cloud/),
//! each mutating one scoped to drydock's own resources:
//!
//! - what drydock creates is tagged at creation, and may only be created so tagged
//!   (`aws:RequestTag/…`); EC2 tags may only be written by the creating call
//!   (`ec2:CreateAction`), ELB tags likewise (`elasticloadbalancing:CreateAction`), except
//!   the lease heartbeat on a lock (`aws:TagKeys`) and the release history on one of
//!   drydock's ELBs;
//! - what drydock changes or deletes must carry its tags already (`aws:ResourceTag/…`,
//!   `autoscaling:ResourceTag/…`), so that it cannot adopt a resource that is not its own
//!   by tagging it first;
//! - release groups also by name (`autoScalingGroupName/*-*-vNNN`); EC2 launch template
//!   ARNs carry the template's id, not its name, so they are scoped by tag only.
//!
//! `eval` evaluates these conditions against recorded requests (`requests`: how AWS
//! authorizes each) in tests.

pub mod eval;
pub mod requests;

use serde_json::{json, Value};

/// Read-only actions.
pub const READ: [&str; 15] = [
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribePolicies",
    "autoscaling:DescribeScheduledActions",
    // Progressive delivery's alarm gates (issue #17): read the state of named alarms only.
    "cloudwatch:DescribeAlarms",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:GetConsoleOutput",
    "elasticloadbalancing:DescribeInstanceHealth",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
];

/// Builders: launched by drydock; terminated only when tagged as builders.
pub const BUILDER_LAUNCH: [&str; 1] = ["ec2:RunInstances"];
pub const BUILDER_TERMINATE: [&str; 1] = ["ec2:TerminateInstances"];

/// AMIs, their snapshots and tags.
pub const IMAGES: [&str; 7] = [
    "ec2:CopyImage",
    "ec2:CreateImage",
    "ec2:CreateTags",
    "ec2:DeleteSnapshot",
    "ec2:DeregisterImage",
    "ec2:ModifyImageAttribute",
    "ec2:ModifySnapshotAttribute",
];

/// One launch template per release.
pub const LAUNCH_TEMPLATES: [&str; 2] = ["ec2:CreateLaunchTemplate", "ec2:DeleteLaunchTemplate"];

/// The cluster leases: a security group per lock (`cloud/lease.rs`), no rules, never attached.
pub const LEASE_LOCKS: [&str; 2] = ["ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup"];

pub const GROUPS: [&str; 12] = [
    "autoscaling:AttachLoadBalancers",
    "autoscaling:CreateAutoScalingGroup",
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DeleteAutoScalingGroup",
    "autoscaling:DetachLoadBalancers",
    "autoscaling:ResumeProcesses",
    "autoscaling:SuspendProcesses",
    "autoscaling:UpdateAutoScalingGroup",
    "autoscaling:DescribeAutoScalingGroups",
    // Scaling (issue 16): each release group's own policy, schedules and metrics; its
    // lifecycle hooks come with CreateAutoScalingGroup.
    "autoscaling:EnableMetricsCollection",
    "autoscaling:PutScalingPolicy",
    "autoscaling:PutScheduledUpdateGroupAction",
];

pub const LOAD_BALANCERS: [&str; 5] = [
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:ConfigureHealthCheck",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:RemoveTags",
];

/// KMS, which drydock never calls itself: EC2 does on its behalf when `[bake] kms_key_id`
/// encrypts the builder's volume (and so the AMI's snapshots) with a customer-managed key,
/// and when CopyImage re-encrypts. The permissions the EBS encryption guide lists for a
/// principal that uses a customer-managed key.
pub const KMS: [&str; 6] = [
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
];

/// Every action drydock calls, sorted and unique.
pub fn actions() -> Vec<&'static str> {
    let mut v: Vec<&str> = READ
        .iter()
        .chain(&BUILDER_LAUNCH)
        .chain(&BUILDER_TERMINATE)
        .chain(&IMAGES)
        .chain(&LAUNCH_TEMPLATES)
        .chain(&LEASE_LOCKS)
        .chain(&GROUPS)
        .chain(&LOAD_BALANCERS)
        .copied()
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// EC2 resources of one type, in every region of the account (AMIs and snapshots have no
/// account in their ARN).
fn ec2(kind: &str) -> String {
    match kind {
        "image" | "snapshot" => format!("arn:aws:ec2:*::{kind}/*"),
        _ => format!("arn:aws:ec2:*:*:{kind}/*"),
    }
}

/// Release groups: `<service>-<env>-vNNN`.
const RELEASE_GROUPS: &str = "arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*-*-v???";
const LOAD_BALANCER: &str = "arn:aws:elasticloadbalancing:*:*:loadbalancer/*";
const KMS_KEYS: &str = "arn:aws:kms:*:*:key/*";

pub fn policy() -> Value {
    let mut read: Vec<&str> = READ.to_vec();
    read.sort_unstable();
    let own_groups: Vec<&str> = GROUPS
        .iter()
        .copied()
        .filter(|a| !a.contains(":Describe") && *a != "autoscaling:CreateAutoScalingGroup")
        .collect();
    let present = "*";
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DrydockRead", "Effect": "Allow", "Action": read, "Resource": "*"},
            // ---- instances: builders, and the releases' instances (checked when
            // CreateAutoScalingGroup names a launch template) ----
            {
                "Sid": "DrydockLaunchBuilders", "Effect": "Allow", "Action": BUILDER_LAUNCH,
                "Resource": [ec2("instance"), ec2("volume")],
                "Condition": {"StringEquals": {"aws:RequestTag/drydock:role": "builder"}}
            },
            {
                "Sid": "DrydockLaunchReleaseInstances", "Effect": "Allow", "Action": BUILDER_LAUNCH,
                "Resource": [ec2("instance"), ec2("volume")],
                "Condition": {"StringLike": {"aws:RequestTag/drydock:cluster": present}}
            },
            {
                "Sid": "DrydockLaunchFromOwnTemplates", "Effect": "Allow", "Action": BUILDER_LAUNCH,
                "Resource": ec2("launch-template"),
                "Condition": {"StringLike": {"aws:ResourceTag/drydock:cluster": present}}
            },
            {
                "Sid": "DrydockLaunchInto", "Effect": "Allow", "Action": BUILDER_LAUNCH,
                "Resource": [ec2("image"), ec2("subnet"), ec2("security-group"), ec2("network-interface")]
            },
            // No Deny on IMDSv1: a base may need it (`[base] imds = "v1-allowed"`), for its
            // builder and, through the AMI's tag, its launch templates.
            {
                "Sid": "DrydockRequireEncryptedVolumes", "Effect": "Deny", "Action": BUILDER_LAUNCH,
                "Resource": ec2("volume"),
                "Condition": {"Bool": {"ec2:Encrypted": "false"}}
            },
            {
                "Sid": "DrydockTerminateBuildersOnly", "Effect": "Allow", "Action": BUILDER_TERMINATE,
                "Resource": ec2("instance"),
                "Condition": {"StringEquals": {"aws:ResourceTag/drydock:role": "builder"}}
            },
            // ---- EC2 tags: only as a resource is created, and the lease's heartbeat ----
            {
                "Sid": "DrydockTagOnCreateOnly", "Effect": "Allow", "Action": ["ec2:CreateTags"],
                "Resource": [ec2("instance"), ec2("volume"), ec2("image"), ec2("snapshot"), ec2("launch-template"), ec2("security-group")],
                "Condition": {"StringEquals": {"ec2:CreateAction": ["RunInstances", "CreateImage", "CopyImage", "CreateLaunchTemplate", "CreateSecurityGroup"]}}
            },
            {
                "Sid": "DrydockLeaseHeartbeat", "Effect": "Allow", "Action": ["ec2:CreateTags"],
                "Resource": ec2("security-group"),
                "Condition": {
                    "StringLike": {"aws:ResourceTag/drydock:lock": present},
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["drydock:heartbeat"]}
                }
            },
            // ---- AMIs and snapshots ----
            {
                "Sid": "DrydockImagesOfBuilders", "Effect": "Allow", "Action": ["ec2:CreateImage"],
                "Resource": ec2("instance"),
                "Condition": {"StringEquals": {"aws:ResourceTag/drydock:role": "builder"}}
            },
            {
                "Sid": "DrydockNewImages", "Effect": "Allow", "Action": ["ec2:CreateImage", "ec2:CopyImage"],
                "Resource": [ec2("image"), ec2("snapshot")],
                "Condition": {"StringLike": {"aws:RequestTag/drydock:service": present}}
            },
            {
                "Sid": "DrydockOwnImages", "Effect": "Allow",
                "Action": ["ec2:DeleteSnapshot", "ec2:DeregisterImage", "ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"],
                "Resource": [ec2("image"), ec2("snapshot")],
                "Condition": {"StringLike": {"aws:ResourceTag/drydock:service": present}}
            },
            // ---- launch templates: releases, tagged drydock:env ----
            {
                "Sid": "DrydockCreateLaunchTemplates", "Effect": "Allow", "Action": ["ec2:CreateLaunchTemplate"],
                "Resource": ec2("launch-template"),
                "Condition": {"StringLike": {"aws:RequestTag/drydock:env": present}}
            },
            {
                "Sid": "DrydockDeleteOwnLaunchTemplates", "Effect": "Allow", "Action": ["ec2:DeleteLaunchTemplate"],
                "Resource": ec2("launch-template"),
                "Condition": {"StringLike": {"aws:ResourceTag/drydock:env": present}}
            },
            // ---- lease locks: security groups tagged drydock:lock, in any VPC ----
            {
                "Sid": "DrydockLeaseLockVpcs", "Effect": "Allow", "Action": ["ec2:CreateSecurityGroup"],
                "Resource": ec2("vpc")
            },
            {
                "Sid": "DrydockCreateLeaseLocks", "Effect": "Allow", "Action": ["ec2:CreateSecurityGroup"],
                "Resource": ec2("security-group"),
                "Condition": {"StringLike": {"aws:RequestTag/drydock:lock": present}}
            },
            {
                "Sid": "DrydockDeleteOwnLeaseLocks", "Effect": "Allow", "Action": ["ec2:DeleteSecurityGroup"],
                "Resource": ec2("security-group"),
                "Condition": {"StringLike": {"aws:ResourceTag/drydock:lock": present}}
            },
            // ---- release groups ----
            {
                "Sid": "DrydockCreateReleaseGroups", "Effect": "Allow", "Action": ["autoscaling:CreateAutoScalingGroup"],
                "Resource": RELEASE_GROUPS,
                "Condition": {"StringLike": {"aws:RequestTag/drydock:cluster": present}}
            },
            {
                "Sid": "DrydockOwnGroupsOnly", "Effect": "Allow", "Action": own_groups, "Resource": RELEASE_GROUPS,
                "Condition": {
                    "StringLike": {"autoscaling:ResourceTag/drydock:cluster": present},
                    "ForAllValues:StringLike": {"aws:TagKeys": ["drydock:*", "Name"]}
                }
            },
            // ---- load balancers ----
            {
                "Sid": "DrydockCreateLoadBalancers", "Effect": "Allow", "Action": ["elasticloadbalancing:CreateLoadBalancer"],
                "Resource": LOAD_BALANCER,
                "Condition": {"StringLike": {"aws:RequestTag/drydock:cluster": present}}
            },
            {
                "Sid": "DrydockTagNewLoadBalancers", "Effect": "Allow", "Action": ["elasticloadbalancing:AddTags"],
                "Resource": LOAD_BALANCER,
                "Condition": {"StringEquals": {"elasticloadbalancing:CreateAction": "CreateLoadBalancer"}}
            },
            {
                "Sid": "DrydockOwnLoadBalancers", "Effect": "Allow",
                "Action": ["elasticloadbalancing:ConfigureHealthCheck", "elasticloadbalancing:ModifyLoadBalancerAttributes"],
                "Resource": LOAD_BALANCER,
                "Condition": {"StringLike": {"aws:ResourceTag/drydock:cluster": present}}
            },
            {
                "Sid": "DrydockReleaseHistory", "Effect": "Allow",
                "Action": ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                "Resource": LOAD_BALANCER,
                "Condition": {
                    "StringLike": {"aws:ResourceTag/drydock:cluster": present},
                    "ForAllValues:StringLike": {"aws:TagKeys": ["drydock:release:v*"]}
                }
            },
            // ---- KMS, used by EC2 for drydock: [bake] kms_key_id, encrypted copies ----
            {
                "Sid": "DrydockKmsGrantsForEbs", "Effect": "Allow", "Action": ["kms:CreateGrant"], "Resource": KMS_KEYS,
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
            },
            {
                "Sid": "DrydockKmsForEbs", "Effect": "Allow",
                "Action": KMS.iter().filter(|a| **a != "kms:CreateGrant").collect::<Vec<_>>(),
                "Resource": KMS_KEYS,
                "Condition": {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}
            },
            {
                "Sid": "DrydockPassInstanceProfiles", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*",
                "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
            },
            {
                "Sid": "DrydockServiceLinkedRolesOnFirstUse", "Effect": "Allow", "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": ["autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com"]}}
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `cloud.ec2.describe_images()` → `ec2:DescribeImages`, from the source of src/cloud/.
    fn calls_in_source() -> BTreeSet<String> {
        gated_calls().into_iter().map(|(call, _)| call).collect()
    }

    /// Every gated call in src/cloud/: (`ec2:DescribeImages`, the pacing family as written,
    /// e.g. `Api::Ec2Read`).
    fn gated_calls() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cloud");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text: String = std::fs::read_to_string(entry.unwrap().path())
                .unwrap()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            // Every call goes through the gate: `gate.ec2(Api::X).await.<call>(` or, for a
            // paginated call, `gate.ec2_pages(Api::X, |c| c.<call>(`.
            for (client, service) in
                [("ec2", "ec2"), ("asg", "autoscaling"), ("elb", "elasticloadbalancing"), ("cloudwatch", "cloudwatch")]
            {
                for (marker, before_call) in
                    [(format!("gate.{client}("), ").await."), (format!("gate.{client}_pages("), "|c|c.")]
                {
                    for (i, _) in text.match_indices(&marker) {
                        let rest = &text[i + marker.len()..];
                        let Some(j) = rest.find(before_call) else { continue };
                        let api = rest[..j].trim_end_matches(',').to_owned();
                        let rest = &rest[j + before_call.len()..];
                        let method: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                        if method.is_empty() || !rest[method.len()..].starts_with('(') {
                            continue;
                        }
                        let action: String = method
                            .split('_')
                            .map(|w| {
                                let mut c = w.chars();
                                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
                            })
                            .collect();
                        out.push((format!("{service}:{action}"), api));
                    }
                }
            }
        }
        out
    }

    /// EC2 paces each mutating action on its own bucket (`cloud/pace.rs`): the name a call
    /// site gives its token must be the action it sends, or AIMD would slow another bucket.
    #[test]
    fn every_ec2_write_takes_the_token_of_its_own_action() {
        let calls = gated_calls();
        let writes: Vec<_> = calls.iter().filter(|(_, api)| api.starts_with("Api::Ec2Write(")).collect();
        assert!(writes.len() >= 10, "the scan finds the EC2 writes: {calls:?}");
        for (call, api) in writes {
            let action = call.trim_start_matches("ec2:");
            assert_eq!(api, &format!("Api::Ec2Write(\"{action}\")"), "{call}");
        }
    }

    #[test]
    fn the_policy_lists_exactly_the_calls_drydock_makes() {
        let calls = calls_in_source();
        let policy: BTreeSet<String> = actions().iter().map(|s| s.to_string()).collect();
        assert!(calls.len() > 30, "the scan finds the calls: {calls:?}");
        let missing: Vec<_> = calls.difference(&policy).collect();
        let extra: Vec<_> = policy.difference(&calls).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "not in the policy: {missing:?}; in the policy but never called: {extra:?}"
        );
    }

    #[test]
    fn the_policy_is_valid_json_with_scoped_statements() {
        let p = policy();
        let stmts = p["Statement"].as_array().unwrap();
        let term = stmts.iter().find(|s| s["Sid"] == "DrydockTerminateBuildersOnly").unwrap();
        assert_eq!(term["Condition"]["StringEquals"]["aws:ResourceTag/drydock:role"], "builder");
        let all: BTreeSet<&str> =
            stmts.iter().flat_map(|s| s["Action"].as_array().unwrap()).filter_map(|a| a.as_str()).collect();
        for a in actions().into_iter().chain(KMS) {
            assert!(all.contains(a), "{a} is granted");
        }
        // Only reads (and iam's own, scoped by condition) are granted on every resource
        // without a condition.
        for s in stmts {
            if s["Resource"] == "*" && s["Condition"].is_null() {
                for a in s["Action"].as_array().unwrap() {
                    assert!(READ.contains(&a.as_str().unwrap()), "{a} is granted on * without a condition");
                }
            }
        }
    }
}
