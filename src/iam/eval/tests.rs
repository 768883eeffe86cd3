//! The evaluator's operators, and the policy against the bypasses of issue 12 (8): each
//! stated as the request an attacker holding drydock's role would send, next to the same
//! request on drydock's own resource, which must stay allowed.

use super::*;
use crate::iam::policy;
use crate::iam::requests::*;
use serde_json::json;

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn res(reference: &str, t: &[(&str, &str)]) -> Resource {
    Resource {
        kind: String::new(),
        reference: reference.into(),
        id: Some(reference.into()),
        tags: tags(t),
        launch: None,
    }
}

/// The decision of the policy on every authorization of the call: Allow only if all are.
fn decide(call: &Call) -> Decision {
    let p = policy();
    let all = authorizations(call).unwrap();
    assert!(!all.is_empty(), "{call:?} is authorized against something");
    let mut worst = Decision::Allow;
    for a in &all {
        match evaluate(&p, a).unwrap() {
            Decision::ExplicitDeny => return Decision::ExplicitDeny,
            Decision::ImplicitDeny => worst = Decision::ImplicitDeny,
            Decision::Allow => {}
        }
    }
    worst
}

const BUILDER: &[(&str, &str)] = &[("drydock:role", "builder"), ("drydock:recipe", "abc"), ("drydock:service", "www")];
const GROUP: &[(&str, &str)] =
    &[("drydock:cluster", "www-staging"), ("drydock:env", "staging"), ("drydock:state", "live")];
const ELB: &[(&str, &str)] = &[("drydock:cluster", "www-staging"), ("drydock:env", "staging")];

#[test]
fn wildcards() {
    assert!(like("*", ""));
    assert!(like("a*c", "abbbc"));
    assert!(like("*-*-v???", "www-staging-v012"));
    assert!(!like("*-*-v???", "www-staging-v12"));
    assert!(!like("*-*-v???", "payments"));
    assert!(like("arn:aws:ec2:*::image/*", "arn:aws:ec2:us-east-1::image/ami-1"));
    assert!(!like("arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:us-east-1:1:volume/vol-1"));
}

#[test]
fn operators() {
    let mut ctx = Context::new();
    set(&mut ctx, "aws:RequestTag/k", vec!["v".into()]);
    set(&mut ctx, "aws:TagKeys", vec!["a".into(), "b".into()]);
    let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(condition("StringEquals", "AWS:REQUESTTAG/K", &w(&["v"]), &ctx).unwrap(), "key names are case-insensitive");
    assert!(!condition("StringEquals", "aws:RequestTag/k", &w(&["V"]), &ctx).unwrap(), "values are not");
    assert!(!condition("StringEquals", "aws:RequestTag/missing", &w(&["v"]), &ctx).unwrap());
    assert!(condition("StringNotEquals", "aws:RequestTag/missing", &w(&["v"]), &ctx).unwrap());
    assert!(!condition("StringNotEquals", "aws:RequestTag/k", &w(&["v"]), &ctx).unwrap());
    assert!(condition("StringLike", "aws:RequestTag/k", &w(&["*"]), &ctx).unwrap());
    assert!(!condition("StringLike", "aws:RequestTag/missing", &w(&["*"]), &ctx).unwrap());
    assert!(condition("Null", "aws:RequestTag/missing", &w(&["true"]), &ctx).unwrap());
    assert!(condition("Null", "aws:RequestTag/k", &w(&["false"]), &ctx).unwrap());
    assert!(condition("ForAllValues:StringEquals", "aws:TagKeys", &w(&["a", "b", "c"]), &ctx).unwrap());
    assert!(!condition("ForAllValues:StringEquals", "aws:TagKeys", &w(&["a"]), &ctx).unwrap());
    assert!(
        condition("ForAllValues:StringLike", "aws:Missing", &w(&["a"]), &ctx).unwrap(),
        "no values: vacuously true"
    );
    set(&mut ctx, "ec2:Encrypted", vec!["false".into()]);
    assert!(condition("Bool", "ec2:Encrypted", &w(&["false"]), &ctx).unwrap());
    assert!(
        condition("NumericLessThan", "aws:RequestTag/k", &w(&["1"]), &ctx).is_err(),
        "unknown operators are refused"
    );
    assert!(condition("ForAnyValue:StringEquals", "aws:TagKeys", &w(&["a"]), &ctx).is_err());
}

#[test]
fn deny_wins_and_unknown_elements_are_refused() {
    let p = json!({"Statement": [
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ec2:TerminateInstances", "Resource": "*"}
    ]});
    let req = |a: &str| Authz { action: a.into(), resource: "arn:x".into(), context: Context::new() };
    assert_eq!(evaluate(&p, &req("ec2:RunInstances")).unwrap(), Decision::Allow);
    assert_eq!(evaluate(&p, &req("EC2:terminateinstances")).unwrap(), Decision::ExplicitDeny);
    assert_eq!(evaluate(&p, &req("s3:GetObject")).unwrap(), Decision::ImplicitDeny);
    let p = json!({"Statement": [{"Effect": "Allow", "NotAction": "ec2:*", "Resource": "*"}]});
    assert!(evaluate(&p, &req("s3:GetObject")).is_err());
}

#[test]
fn an_unknown_request_is_not_judged() {
    assert!(authorizations(&Call::new("ec2", "DeleteVpc", &[], vec![])).is_err());
}

// ---- bypass 1: tag a foreign instance drydock:role=builder, then terminate it ----

#[test]
fn tagging_an_existing_instance_as_a_builder_is_denied() {
    let call = Call::new(
        "ec2",
        "CreateTags",
        &[("ResourceId.1", "i-0f0e0d0c0b0a09080"), ("Tag.1.Key", "drydock:role"), ("Tag.1.Value", "builder")],
        vec![res("i-0f0e0d0c0b0a09080", &[("Name", "payments-db")])],
    );
    assert_ne!(decide(&call), Decision::Allow);
    // Not even drydock's own builders can be re-tagged after launch.
    let own = Call { resources: vec![res("i-0f0e0d0c0b0a09080", BUILDER)], ..call };
    assert_ne!(decide(&own), Decision::Allow);
}

#[test]
fn terminating_a_foreign_instance_is_denied_and_a_builder_is_allowed() {
    let call = |t: &[(&str, &str)]| {
        Call::new(
            "ec2",
            "TerminateInstances",
            &[("InstanceId.1", "i-0123456789abcdef0")],
            vec![res("i-0123456789abcdef0", t)],
        )
    };
    assert_eq!(decide(&call(&[("Name", "payments-db")])), Decision::ImplicitDeny);
    assert_eq!(decide(&call(&[])), Decision::ImplicitDeny);
    // A release instance (launched by a group) is the group's to terminate, not drydock's.
    assert_eq!(decide(&call(&[("drydock:cluster", "www-staging")])), Decision::ImplicitDeny);
    assert_eq!(decide(&call(BUILDER)), Decision::Allow);
}

#[test]
fn launching_is_for_tagged_builders_with_encrypted_volumes() {
    let base = [
        ("ImageId", "ami-0123456789abcdef0"),
        ("SubnetId", "subnet-01234567"),
        ("SecurityGroupId.1", "sg-01234567"),
        ("MetadataOptions.HttpTokens", "required"),
        ("BlockDeviceMapping.1.DeviceName", "/dev/sda1"),
        ("BlockDeviceMapping.1.Ebs.Encrypted", "true"),
        ("TagSpecification.1.ResourceType", "instance"),
        ("TagSpecification.1.Tag.1.Key", "drydock:role"),
        ("TagSpecification.1.Tag.1.Value", "builder"),
        ("TagSpecification.2.ResourceType", "volume"),
        ("TagSpecification.2.Tag.1.Key", "drydock:role"),
        ("TagSpecification.2.Tag.1.Value", "builder"),
    ];
    let with = |change: &[(&str, &str)]| {
        let mut p: Vec<(&str, &str)> = base.to_vec();
        for (k, v) in change {
            p.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                p.push((k, v));
            }
        }
        Call::new("ec2", "RunInstances", &p, vec![])
    };
    assert_eq!(decide(&with(&[])), Decision::Allow);
    assert_eq!(decide(&with(&[("TagSpecification.1.Tag.1.Value", "web")])), Decision::ImplicitDeny);
    // IMDS is the recipe's choice (`[base] imds = "v1-allowed"` for old bases), not the policy's.
    assert_eq!(decide(&with(&[("MetadataOptions.HttpTokens", "optional")])), Decision::Allow);
    assert_eq!(decide(&with(&[("BlockDeviceMapping.1.Ebs.Encrypted", "false")])), Decision::ExplicitDeny);
}

#[test]
fn an_image_is_made_of_a_builder_only() {
    let call = |t: &[(&str, &str)]| {
        Call::new(
            "ec2",
            "CreateImage",
            &[
                ("InstanceId", "i-0123456789abcdef0"),
                ("Name", "drydock/www/1.0.0/abc"),
                ("TagSpecification.1.ResourceType", "image"),
                ("TagSpecification.1.Tag.1.Key", "drydock:service"),
                ("TagSpecification.1.Tag.1.Value", "www"),
                ("TagSpecification.2.ResourceType", "snapshot"),
                ("TagSpecification.2.Tag.1.Key", "drydock:service"),
                ("TagSpecification.2.Tag.1.Value", "www"),
            ],
            vec![res("i-0123456789abcdef0", t)],
        )
    };
    assert_eq!(decide(&call(BUILDER)), Decision::Allow);
    assert_eq!(decide(&call(&[("Name", "payments-db")])), Decision::ImplicitDeny);
}

#[test]
fn foreign_images_and_snapshots_cannot_be_tagged_deregistered_or_deleted() {
    let foreign_ami = res("ami-0123456789abcdef0", &[("Name", "golden")]);
    let own_ami = res("ami-0123456789abcdef0", &[("drydock:service", "www")]);
    let dereg = |r: Resource| Call::new("ec2", "DeregisterImage", &[("ImageId", "ami-0123456789abcdef0")], vec![r]);
    assert_eq!(decide(&dereg(foreign_ami.clone())), Decision::ImplicitDeny);
    assert_eq!(decide(&dereg(own_ami)), Decision::Allow);
    let adopt = Call::new(
        "ec2",
        "CreateTags",
        &[("ResourceId.1", "ami-0123456789abcdef0"), ("Tag.1.Key", "drydock:service"), ("Tag.1.Value", "www")],
        vec![foreign_ami],
    );
    assert_eq!(decide(&adopt), Decision::ImplicitDeny);
    let del = |t: &[(&str, &str)]| {
        Call::new(
            "ec2",
            "DeleteSnapshot",
            &[("SnapshotId", "snap-0123456789abcdef0")],
            vec![res("snap-0123456789abcdef0", t)],
        )
    };
    assert_eq!(decide(&del(&[])), Decision::ImplicitDeny);
    assert_eq!(decide(&del(&[("drydock:service", "www")])), Decision::Allow);
}

// ---- bypass 2: adopt a foreign group by tagging it, then update or delete it ----

#[test]
fn a_foreign_group_cannot_be_adopted_updated_or_deleted() {
    for name in ["payments-prod", "legacy-prod-v001"] {
        let adopt = Call::new(
            "autoscaling",
            "CreateOrUpdateTags",
            &[
                ("Tags.member.1.ResourceId", name),
                ("Tags.member.1.ResourceType", "auto-scaling-group"),
                ("Tags.member.1.Key", "drydock:cluster"),
                ("Tags.member.1.Value", "www-staging"),
            ],
            vec![res(name, &[("team", "payments")])],
        );
        assert_eq!(decide(&adopt), Decision::ImplicitDeny, "{name}");
        for action in [
            "UpdateAutoScalingGroup",
            "DeleteAutoScalingGroup",
            "DetachLoadBalancers",
            "SuspendProcesses",
            // Scaling (issue 16): no policy, schedule or metrics on a foreign group.
            "PutScalingPolicy",
            "PutScheduledUpdateGroupAction",
            "EnableMetricsCollection",
        ] {
            let call = Call::new(
                "autoscaling",
                action,
                &[("AutoScalingGroupName", name)],
                vec![res(name, &[("team", "payments")])],
            );
            assert_eq!(decide(&call), Decision::ImplicitDeny, "{action} {name}");
        }
    }
    // A group named like no release is not drydock's even when it carries the tag.
    let call = Call::new(
        "autoscaling",
        "DeleteAutoScalingGroup",
        &[("AutoScalingGroupName", "payments-prod")],
        vec![res("payments-prod", GROUP)],
    );
    assert_eq!(decide(&call), Decision::ImplicitDeny);
}

#[test]
fn own_groups_stay_manageable() {
    let g = "www-staging-v002";
    for action in [
        "UpdateAutoScalingGroup",
        "DeleteAutoScalingGroup",
        "AttachLoadBalancers",
        "ResumeProcesses",
        "PutScalingPolicy",
        "PutScheduledUpdateGroupAction",
        "EnableMetricsCollection",
    ] {
        let call = Call::new("autoscaling", action, &[("AutoScalingGroupName", g)], vec![res(g, GROUP)]);
        assert_eq!(decide(&call), Decision::Allow, "{action}");
    }
    let retag = Call::new(
        "autoscaling",
        "CreateOrUpdateTags",
        &[
            ("Tags.member.1.ResourceId", g),
            ("Tags.member.1.Key", "drydock:state"),
            ("Tags.member.1.Value", "standby"),
            ("Tags.member.2.ResourceId", "www-staging-v001"),
            ("Tags.member.2.Key", "drydock:state"),
            ("Tags.member.2.Value", "live"),
        ],
        vec![res(g, GROUP), res("www-staging-v001", GROUP)],
    );
    assert_eq!(decide(&retag), Decision::Allow);
    // …unless one of the groups in the same call is foreign.
    let mixed = Call { resources: vec![res(g, GROUP), res("www-staging-v001", &[])], ..retag };
    assert_eq!(decide(&mixed), Decision::ImplicitDeny);
}

// ---- bypass 3: delete any launch template ----

#[test]
fn a_foreign_launch_template_cannot_be_deleted() {
    let del = |t: &[(&str, &str)]| {
        Call::new(
            "ec2",
            "DeleteLaunchTemplate",
            &[("LaunchTemplateId", "lt-0123456789abcdef0")],
            vec![res("lt-0123456789abcdef0", t)],
        )
    };
    assert_eq!(decide(&del(&[("Name", "payments")])), Decision::ImplicitDeny);
    assert_eq!(decide(&del(&[("drydock:lock", "www-staging"), ("drydock:env", "staging")])), Decision::Allow);
    assert_eq!(decide(&del(&[("drydock:cluster", "www-staging"), ("drydock:env", "staging")])), Decision::Allow);
}

#[test]
fn only_the_heartbeat_of_a_lock_may_be_tagged_after_creation() {
    let beat = |key: &str, t: &[(&str, &str)]| {
        Call::new(
            "ec2",
            "CreateTags",
            &[("ResourceId.1", "sg-0123456789abcdef0"), ("Tag.1.Key", key), ("Tag.1.Value", "1700000000")],
            vec![res("sg-0123456789abcdef0", t)],
        )
    };
    let lock: &[(&str, &str)] = &[("drydock:lock", "www-staging"), ("drydock:env", "staging")];
    assert_eq!(decide(&beat("drydock:heartbeat", lock)), Decision::Allow);
    assert_eq!(decide(&beat("drydock:holder", lock)), Decision::ImplicitDeny);
    assert_eq!(decide(&beat("drydock:heartbeat", &[("Name", "payments")])), Decision::ImplicitDeny);
    assert_eq!(decide(&beat("drydock:lock", &[])), Decision::ImplicitDeny);
}

// ---- lease locks: security groups ----

#[test]
fn a_lock_is_created_only_tagged_as_a_lock_and_only_locks_are_deleted() {
    let create = |tags: &[(&str, &str)]| {
        let mut params: Vec<(String, String)> = vec![
            ("GroupName".into(), "drydock-lock-www-staging".into()),
            ("VpcId".into(), "vpc-0123".into()),
            ("TagSpecification.1.ResourceType".into(), "security-group".into()),
        ];
        for (i, (k, v)) in tags.iter().enumerate() {
            params.push((format!("TagSpecification.1.Tag.{}.Key", i + 1), (*k).into()));
            params.push((format!("TagSpecification.1.Tag.{}.Value", i + 1), (*v).into()));
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Call::new("ec2", "CreateSecurityGroup", &params, vec![])
    };
    assert_eq!(decide(&create(&[("drydock:lock", "www-staging"), ("drydock:env", "staging")])), Decision::Allow);
    assert_eq!(decide(&create(&[("Name", "web")])), Decision::ImplicitDeny, "not a lock");
    let delete = |t: &[(&str, &str)]| {
        Call::new(
            "ec2",
            "DeleteSecurityGroup",
            &[("GroupId", "sg-0123456789abcdef0")],
            vec![res("sg-0123456789abcdef0", t)],
        )
    };
    assert_eq!(decide(&delete(&[("drydock:lock", "www-staging")])), Decision::Allow);
    assert_eq!(decide(&delete(&[("Name", "web")])), Decision::ImplicitDeny, "a foreign security group");
    assert_eq!(decide(&delete(&[])), Decision::ImplicitDeny);
}

// ---- load balancers ----

#[test]
fn a_foreign_load_balancer_cannot_be_adopted_or_changed() {
    let foreign = res("payments", &[("team", "payments")]);
    let hc = |r: Resource| {
        Call::new("elasticloadbalancing", "ConfigureHealthCheck", &[("LoadBalancerName", "payments")], vec![r])
    };
    assert_eq!(decide(&hc(foreign.clone())), Decision::ImplicitDeny);
    assert_eq!(decide(&hc(res("payments", ELB))), Decision::Allow);
    let add = |key: &str, r: Resource| {
        Call::new(
            "elasticloadbalancing",
            "AddTags",
            &[("LoadBalancerNames.member.1", "payments"), ("Tags.member.1.Key", key), ("Tags.member.1.Value", "x")],
            vec![r],
        )
    };
    assert_eq!(decide(&add("drydock:cluster", foreign.clone())), Decision::ImplicitDeny);
    assert_eq!(decide(&add("drydock:release:v001", foreign)), Decision::ImplicitDeny);
    assert_eq!(decide(&add("drydock:release:v001", res("payments", ELB))), Decision::Allow);
    assert_eq!(decide(&add("drydock:cluster", res("payments", ELB))), Decision::ImplicitDeny);
}

#[test]
fn kms_is_granted_for_ebs_only() {
    let p = policy();
    let mut ctx = Context::new();
    set(&mut ctx, "kms:ViaService", vec!["ec2.us-east-1.amazonaws.com".into()]);
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let req = |a: &str, c: &Context| Authz { action: a.into(), resource: key.into(), context: c.clone() };
    assert_eq!(evaluate(&p, &req("kms:GenerateDataKeyWithoutPlaintext", &ctx)).unwrap(), Decision::Allow);
    assert_eq!(evaluate(&p, &req("kms:Decrypt", &Context::new())).unwrap(), Decision::ImplicitDeny);
    let mut grant = Context::new();
    set(&mut grant, "kms:GrantIsForAWSResource", vec!["true".into()]);
    assert_eq!(evaluate(&p, &req("kms:CreateGrant", &grant)).unwrap(), Decision::Allow);
    assert_eq!(evaluate(&p, &req("kms:CreateGrant", &Context::new())).unwrap(), Decision::ImplicitDeny);
}

/// The policy as issue 12 found it (`iam-policy` before the fix): the evaluator finds each
/// bypass the issue reports, so the tests above would have failed on it.
#[test]
fn the_policy_of_issue_12_allowed_every_bypass() {
    let old: Value = serde_json::from_str(include_str!("issue12_policy.json")).unwrap();
    let allowed =
        |call: &Call| authorizations(call).unwrap().iter().all(|a| evaluate(&old, a).unwrap() == Decision::Allow);
    let foreign = &[("Name", "payments-db")];
    assert!(allowed(&Call::new(
        "ec2",
        "CreateTags",
        &[("ResourceId.1", "i-0123456789abcdef0"), ("Tag.1.Key", "drydock:role"), ("Tag.1.Value", "builder")],
        vec![res("i-0123456789abcdef0", foreign)],
    )));
    assert!(allowed(&Call::new(
        "autoscaling",
        "CreateOrUpdateTags",
        &[
            ("Tags.member.1.ResourceId", "payments-prod"),
            ("Tags.member.1.Key", "drydock:cluster"),
            ("Tags.member.1.Value", "x")
        ],
        vec![res("payments-prod", foreign)],
    )));
    assert!(allowed(&Call::new(
        "ec2",
        "DeleteLaunchTemplate",
        &[("LaunchTemplateId", "lt-0123456789abcdef0")],
        vec![res("lt-0123456789abcdef0", foreign)],
    )));
    assert!(allowed(&Call::new(
        "ec2",
        "DeleteSnapshot",
        &[("SnapshotId", "snap-0123456789abcdef0")],
        vec![res("snap-0123456789abcdef0", foreign)],
    )));
    let stmts = old["Statement"].as_array().unwrap();
    assert!(!stmts.iter().any(|s| s.to_string().contains("kms:")), "and it had no kms: actions");
}

#[test]
fn cloudwatch_describe_alarms_is_allowed_and_nothing_else_of_cloudwatch() {
    let read = Call::new("monitoring", "DescribeAlarms", &[("AlarmNames.member.1", "www-prod-5xx")], vec![]);
    assert_eq!(decide(&read), Decision::Allow, "the alarm gate's read");
    let p = policy();
    for action in
        ["cloudwatch:SetAlarmState", "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:GetMetricData"]
    {
        let a = authz(action.into(), "*".into(), Context::new());
        assert_eq!(evaluate(&p, &a), Ok(Decision::ImplicitDeny), "{action}: drydock only reads alarms");
    }
}
