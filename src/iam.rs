//! The least-privilege IAM policy that `drydock iam-policy` prints: exactly the API
//! actions drydock calls (a unit test checks this list against the calls in src/cloud/),
//! scoped by tag where AWS supports it.

use serde_json::{json, Value};

/// Read-only actions.
pub const READ: [&str; 11] = [
    "autoscaling:DescribeAutoScalingGroups",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplates",
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

/// One launch template per release, and the cluster locks.
pub const LAUNCH_TEMPLATES: [&str; 2] = ["ec2:CreateLaunchTemplate", "ec2:DeleteLaunchTemplate"];

pub const GROUPS: [&str; 9] = [
    "autoscaling:AttachLoadBalancers",
    "autoscaling:CreateAutoScalingGroup",
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DeleteAutoScalingGroup",
    "autoscaling:DetachLoadBalancers",
    "autoscaling:ResumeProcesses",
    "autoscaling:SuspendProcesses",
    "autoscaling:UpdateAutoScalingGroup",
    "autoscaling:DescribeAutoScalingGroups",
];

pub const LOAD_BALANCERS: [&str; 5] = [
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:ConfigureHealthCheck",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:RemoveTags",
];

/// Every action drydock calls, sorted and unique.
pub fn actions() -> Vec<&'static str> {
    let mut v: Vec<&str> = READ
        .iter()
        .chain(&BUILDER_LAUNCH)
        .chain(&BUILDER_TERMINATE)
        .chain(&IMAGES)
        .chain(&LAUNCH_TEMPLATES)
        .chain(&GROUPS)
        .chain(&LOAD_BALANCERS)
        .copied()
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub fn policy() -> Value {
    let mut read: Vec<&str> = READ.to_vec();
    read.sort_unstable();
    let groups: Vec<&str> = GROUPS.iter().copied().filter(|a| !a.contains(":Describe")).collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DrydockRead", "Effect": "Allow", "Action": read, "Resource": "*"},
            {"Sid": "DrydockLaunch", "Effect": "Allow", "Action": BUILDER_LAUNCH, "Resource": "*"},
            {
                "Sid": "DrydockTerminateBuildersOnly", "Effect": "Allow", "Action": BUILDER_TERMINATE, "Resource": "*",
                "Condition": {"StringEquals": {"ec2:ResourceTag/drydock:role": "builder"}}
            },
            {"Sid": "DrydockImages", "Effect": "Allow", "Action": IMAGES, "Resource": "*"},
            {"Sid": "DrydockLaunchTemplates", "Effect": "Allow", "Action": LAUNCH_TEMPLATES, "Resource": "*"},
            {
                "Sid": "DrydockCreateGroups", "Effect": "Allow",
                "Action": ["autoscaling:CreateAutoScalingGroup", "autoscaling:CreateOrUpdateTags"], "Resource": "*",
                "Condition": {"StringLike": {"aws:RequestTag/drydock:cluster": "*"}}
            },
            {
                "Sid": "DrydockOwnGroupsOnly", "Effect": "Allow", "Action": groups, "Resource": "*",
                "Condition": {"StringLike": {"aws:ResourceTag/drydock:cluster": "*"}}
            },
            {
                "Sid": "DrydockLoadBalancers", "Effect": "Allow", "Action": LOAD_BALANCERS,
                "Resource": "arn:aws:elasticloadbalancing:*:*:loadbalancer/*"
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
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cloud");
        let mut out = BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text: String = std::fs::read_to_string(entry.unwrap().path())
                .unwrap()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            // Every call goes through the gate: `gate.ec2(Api::X).await.<call>(` or, for a
            // paginated call, `gate.ec2_pages(Api::X, |c| c.<call>(`.
            for (client, service) in [("ec2", "ec2"), ("asg", "autoscaling"), ("elb", "elasticloadbalancing")] {
                for (marker, before_call) in
                    [(format!("gate.{client}("), ").await."), (format!("gate.{client}_pages("), "|c|c.")]
                {
                    for (i, _) in text.match_indices(&marker) {
                        let rest = &text[i + marker.len()..];
                        let Some(j) = rest.find(before_call) else { continue };
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
                        out.insert(format!("{service}:{action}"));
                    }
                }
            }
        }
        out
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
        assert_eq!(term["Condition"]["StringEquals"]["ec2:ResourceTag/drydock:role"], "builder");
        let all: BTreeSet<&str> =
            stmts.iter().flat_map(|s| s["Action"].as_array().unwrap()).filter_map(|a| a.as_str()).collect();
        for a in actions() {
            assert!(all.contains(a), "{a} is granted");
        }
    }
}
