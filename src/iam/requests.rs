//! The requests drydock makes, as a recorder saw them, and how AWS authorizes each: the
//! model that `eval` checks the policy against.
//!
//! It follows the Service Authorization Reference for EC2, EC2 Auto Scaling and Elastic
//! Load Balancing: which resources each action is authorized against, with which
//! condition keys, and the dependent actions AWS checks (tag-on-create through
//! `ec2:CreateTags` with `ec2:CreateAction`, and through `elasticloadbalancing:AddTags`
//! with `elasticloadbalancing:CreateAction`; `ec2:RunInstances` when
//! CreateAutoScalingGroup names a launch template).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::eval::{authz, set, Authz, Context};

/// What a launch from a launch template asks for (checked when CreateAutoScalingGroup
/// names the template).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Launch {
    #[serde(default)]
    pub instance_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub volume_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub http_tokens: String,
    #[serde(default)]
    pub encrypted: bool,
}

/// A resource a request names (by id or name), with its tags before the request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Resource {
    /// `ec2` (by id), `launch-template` (by name), `auto-scaling-group`, `load-balancer`:
    /// a group and its launch template share a name.
    #[serde(default)]
    pub kind: String,
    #[serde(rename = "ref")]
    pub reference: String,
    /// The resolved id (a launch template named by its name); None if it does not exist.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub launch: Option<Launch>,
}

/// One AWS request: the query parameters as sent, and the resources it names.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Call {
    /// `ec2`, `autoscaling` or `elasticloadbalancing` (the SigV4 signing name).
    pub service: String,
    pub action: String,
    pub region: String,
    pub account: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub resources: Vec<Resource>,
}

impl Call {
    /// A call with parameters given as pairs (for tests that state requests by hand).
    pub fn new(service: &str, action: &str, params: &[(&str, &str)], resources: Vec<Resource>) -> Self {
        Call {
            service: service.to_owned(),
            action: action.to_owned(),
            region: "us-east-1".to_owned(),
            account: "123456789012".to_owned(),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            resources,
        }
    }

    fn param(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }

    /// `prefix.1`, `prefix.2`, … (EC2 lists) or `prefix.member.1`, … (query lists).
    fn list(&self, prefix: &str) -> Vec<&str> {
        (1..).map_while(|i| self.param(&format!("{prefix}.{i}"))).collect()
    }

    /// Tags as `prefix.N.Key` / `prefix.N.Value`.
    fn tags(&self, prefix: &str) -> BTreeMap<String, String> {
        (1..)
            .map_while(|i| {
                let k = self.param(&format!("{prefix}.{i}.Key"))?;
                Some((k.to_owned(), self.param(&format!("{prefix}.{i}.Value")).unwrap_or("").to_owned()))
            })
            .collect()
    }

    /// EC2 `TagSpecification.N`: resource type → tags.
    fn tag_specs(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for i in 1.. {
            let Some(t) = self.param(&format!("TagSpecification.{i}.ResourceType")) else { break };
            out.entry(t.to_owned()).or_default().extend(self.tags(&format!("TagSpecification.{i}.Tag")));
        }
        out
    }

    /// The recorded resource of this kind and reference (an unrecorded one has no tags).
    fn resource(&self, kind: &str, reference: &str) -> Resource {
        self.resources
            .iter()
            .find(|r| r.reference == reference && (r.kind.is_empty() || r.kind == kind))
            .cloned()
            .unwrap_or_else(|| Resource {
                kind: kind.to_owned(),
                reference: reference.to_owned(),
                id: Some(reference.to_owned()),
                ..Resource::default()
            })
    }

    fn ec2_arn(&self, kind: &str, id: &str) -> String {
        // AMIs and snapshots have no account in their ARN.
        let account = if matches!(kind, "image" | "snapshot") { "" } else { self.account.as_str() };
        format!("arn:aws:ec2:{}:{account}:{kind}/{id}", self.region)
    }

    fn asg_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:autoscaling:{}:{}:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/{name}",
            self.region, self.account
        )
    }

    fn elb_arn(&self, name: &str) -> String {
        format!("arn:aws:elasticloadbalancing:{}:{}:loadbalancer/{name}", self.region, self.account)
    }
}

/// The EC2 resource type of an id (`i-…` → `instance`).
fn ec2_kind(id: &str) -> &'static str {
    match id.split_once('-').map(|(p, _)| p) {
        Some("i") => "instance",
        Some("ami") => "image",
        Some("snap") => "snapshot",
        Some("lt") => "launch-template",
        Some("vol") => "volume",
        Some("sg") => "security-group",
        Some("subnet") => "subnet",
        _ => "unknown",
    }
}

fn request_tags(ctx: &mut Context, tags: &BTreeMap<String, String>) {
    for (k, v) in tags {
        set(ctx, &format!("aws:RequestTag/{k}"), vec![v.clone()]);
    }
    if !tags.is_empty() {
        set(ctx, "aws:TagKeys", tags.keys().cloned().collect());
    }
}

/// `aws:ResourceTag/…` and the service's own alias (`ec2:ResourceTag/…`, …).
fn resource_tags(ctx: &mut Context, service: &str, tags: &BTreeMap<String, String>) {
    for (k, v) in tags {
        set(ctx, &format!("aws:ResourceTag/{k}"), vec![v.clone()]);
        set(ctx, &format!("{service}:ResourceTag/{k}"), vec![v.clone()]);
    }
}

/// The authorizations AWS makes for one request: the action on each resource it touches,
/// and the dependent actions. An action this model does not know is an error.
pub fn authorizations(call: &Call) -> Result<Vec<Authz>, String> {
    // The SigV4 signing name → the IAM service prefix (CloudWatch signs as `monitoring`).
    let svc = match call.service.as_str() {
        "monitoring" => "cloudwatch",
        s => s,
    };
    let action = format!("{svc}:{}", call.action);
    let mut out = Vec::new();
    // New resources have no id yet: "new" stands for it.
    let on_existing_ec2 = |out: &mut Vec<Authz>, id: &str, more: &Context| {
        let r = call.resource("ec2", id);
        let id = r.id.clone().unwrap_or_else(|| id.to_owned());
        let mut ctx = more.clone();
        resource_tags(&mut ctx, "ec2", &r.tags);
        out.push(authz(action.clone(), call.ec2_arn(ec2_kind(&id), &id), ctx));
    };
    let tag_on_create = |out: &mut Vec<Authz>, specs: &BTreeMap<String, BTreeMap<String, String>>, by: &str| {
        for (kind, tags) in specs.iter().filter(|(_, t)| !t.is_empty()) {
            let mut ctx = Context::new();
            set(&mut ctx, "ec2:CreateAction", vec![by.to_owned()]);
            request_tags(&mut ctx, tags);
            out.push(authz("ec2:CreateTags".into(), call.ec2_arn(kind, "new"), ctx));
        }
    };
    match (svc, call.action.as_str()) {
        (_, a) if a.starts_with("Describe") => out.push(authz(action.clone(), "*".into(), Context::new())),
        ("ec2", "GetConsoleOutput") => out.push(authz(action.clone(), "*".into(), Context::new())),
        ("ec2", "RunInstances") => {
            let specs = call.tag_specs();
            let mut inst = Context::new();
            request_tags(&mut inst, specs.get("instance").unwrap_or(&BTreeMap::new()));
            set(
                &mut inst,
                "ec2:MetadataHttpTokens",
                vec![call.param("MetadataOptions.HttpTokens").unwrap_or("optional").into()],
            );
            out.push(authz(action.clone(), call.ec2_arn("instance", "new"), inst));
            let mut vol = Context::new();
            request_tags(&mut vol, specs.get("volume").unwrap_or(&BTreeMap::new()));
            let encrypted = (1..)
                .map_while(|i| call.param(&format!("BlockDeviceMapping.{i}.DeviceName")).map(|_| i))
                .all(|i| call.param(&format!("BlockDeviceMapping.{i}.Ebs.Encrypted")) == Some("true"));
            set(&mut vol, "ec2:Encrypted", vec![encrypted.to_string()]);
            out.push(authz(action.clone(), call.ec2_arn("volume", "new"), vol));
            if let Some(image) = call.param("ImageId") {
                out.push(authz(action.clone(), call.ec2_arn("image", image), Context::new()));
            }
            if let Some(subnet) = call.param("SubnetId") {
                out.push(authz(action.clone(), call.ec2_arn("subnet", subnet), Context::new()));
            }
            for sg in call.list("SecurityGroupId") {
                out.push(authz(action.clone(), call.ec2_arn("security-group", sg), Context::new()));
            }
            out.push(authz(action.clone(), call.ec2_arn("network-interface", "new"), Context::new()));
            tag_on_create(&mut out, &specs, "RunInstances");
        }
        ("ec2", "CreateTags") => {
            let mut ctx = Context::new();
            request_tags(&mut ctx, &call.tags("Tag"));
            for id in call.list("ResourceId") {
                on_existing_ec2(&mut out, id, &ctx);
            }
        }
        ("ec2", "TerminateInstances") => {
            for id in call.list("InstanceId") {
                on_existing_ec2(&mut out, id, &Context::new());
            }
        }
        ("ec2", "CreateImage" | "CopyImage") => {
            if let Some(instance) = call.param("InstanceId") {
                on_existing_ec2(&mut out, instance, &Context::new());
            }
            let specs = call.tag_specs();
            for kind in ["image", "snapshot"] {
                let mut ctx = Context::new();
                request_tags(&mut ctx, specs.get(kind).unwrap_or(&BTreeMap::new()));
                out.push(authz(action.clone(), call.ec2_arn(kind, "new"), ctx));
            }
            tag_on_create(&mut out, &specs, &call.action);
        }
        ("ec2", "DeregisterImage" | "ModifyImageAttribute") => {
            on_existing_ec2(&mut out, call.param("ImageId").unwrap_or_default(), &Context::new());
        }
        ("ec2", "DeleteSnapshot" | "ModifySnapshotAttribute") => {
            on_existing_ec2(&mut out, call.param("SnapshotId").unwrap_or_default(), &Context::new());
        }
        ("ec2", "CreateLaunchTemplate") => {
            let specs = call.tag_specs();
            let mut ctx = Context::new();
            request_tags(&mut ctx, specs.get("launch-template").unwrap_or(&BTreeMap::new()));
            out.push(authz(action.clone(), call.ec2_arn("launch-template", "new"), ctx));
            tag_on_create(&mut out, &specs, "CreateLaunchTemplate");
        }
        // A lease lock: a security group created in the environment's VPC.
        ("ec2", "CreateSecurityGroup") => {
            let specs = call.tag_specs();
            let mut ctx = Context::new();
            request_tags(&mut ctx, specs.get("security-group").unwrap_or(&BTreeMap::new()));
            out.push(authz(action.clone(), call.ec2_arn("security-group", "new"), ctx));
            let vpc = call.param("VpcId").unwrap_or("vpc-unknown");
            out.push(authz(action.clone(), call.ec2_arn("vpc", vpc), Context::new()));
            tag_on_create(&mut out, &specs, "CreateSecurityGroup");
        }
        ("ec2", "DeleteSecurityGroup") => {
            on_existing_ec2(&mut out, call.param("GroupId").unwrap_or_default(), &Context::new());
        }
        ("ec2", "DeleteLaunchTemplate") => {
            let reference = call.param("LaunchTemplateId").or(call.param("LaunchTemplateName")).unwrap_or_default();
            let kind = if call.param("LaunchTemplateId").is_some() { "ec2" } else { "launch-template" };
            let r = call.resource(kind, reference);
            let mut ctx = Context::new();
            resource_tags(&mut ctx, "ec2", &r.tags);
            let id = r.id.unwrap_or_else(|| "lt-unknown".into());
            out.push(authz(action.clone(), call.ec2_arn("launch-template", &id), ctx));
        }
        ("autoscaling", "CreateAutoScalingGroup") => {
            let name = call.param("AutoScalingGroupName").unwrap_or_default();
            let mut ctx = Context::new();
            request_tags(&mut ctx, &call.tags("Tags.member"));
            out.push(authz(action.clone(), call.asg_arn(name), ctx));
            // With a launch template, the caller must be allowed to launch from it.
            if let Some(lt) = call.param("LaunchTemplate.LaunchTemplateName") {
                let r = call.resource("launch-template", lt);
                let run = "ec2:RunInstances".to_owned();
                let mut ctx = Context::new();
                resource_tags(&mut ctx, "ec2", &r.tags);
                let id = r.id.clone().unwrap_or_else(|| "lt-unknown".into());
                out.push(authz(run.clone(), call.ec2_arn("launch-template", &id), ctx));
                let launch = r.launch.unwrap_or_default();
                let mut inst = Context::new();
                request_tags(&mut inst, &launch.instance_tags);
                set(&mut inst, "ec2:MetadataHttpTokens", vec![launch.http_tokens.clone()]);
                out.push(authz(run.clone(), call.ec2_arn("instance", "new"), inst));
                let mut vol = Context::new();
                request_tags(&mut vol, &launch.volume_tags);
                set(&mut vol, "ec2:Encrypted", vec![launch.encrypted.to_string()]);
                out.push(authz(run.clone(), call.ec2_arn("volume", "new"), vol));
                for subnet in call.param("VPCZoneIdentifier").unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
                    out.push(authz(run.clone(), call.ec2_arn("subnet", subnet), Context::new()));
                }
                out.push(authz(run, call.ec2_arn("network-interface", "new"), Context::new()));
                let specs = BTreeMap::from([
                    ("instance".to_owned(), launch.instance_tags),
                    ("volume".to_owned(), launch.volume_tags),
                ]);
                tag_on_create(&mut out, &specs, "RunInstances");
            }
        }
        ("autoscaling", "CreateOrUpdateTags") => {
            // Tags of several groups in one call: each group is authorized with its own.
            let mut by_group: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for i in 1.. {
                let Some(group) = call.param(&format!("Tags.member.{i}.ResourceId")) else { break };
                let k = call.param(&format!("Tags.member.{i}.Key")).unwrap_or_default();
                let v = call.param(&format!("Tags.member.{i}.Value")).unwrap_or_default();
                by_group.entry(group.to_owned()).or_default().insert(k.to_owned(), v.to_owned());
            }
            for (group, tags) in by_group {
                let mut ctx = Context::new();
                request_tags(&mut ctx, &tags);
                resource_tags(&mut ctx, "autoscaling", &call.resource("auto-scaling-group", &group).tags);
                out.push(authz(action.clone(), call.asg_arn(&group), ctx));
            }
        }
        (
            "autoscaling",
            "UpdateAutoScalingGroup"
            | "DeleteAutoScalingGroup"
            | "AttachLoadBalancers"
            | "DetachLoadBalancers"
            | "SuspendProcesses"
            | "ResumeProcesses"
            | "PutScalingPolicy"
            | "PutScheduledUpdateGroupAction"
            | "EnableMetricsCollection",
        ) => {
            let name = call.param("AutoScalingGroupName").unwrap_or_default();
            let mut ctx = Context::new();
            resource_tags(&mut ctx, "autoscaling", &call.resource("auto-scaling-group", name).tags);
            out.push(authz(action.clone(), call.asg_arn(name), ctx));
        }
        ("elasticloadbalancing", "CreateLoadBalancer") => {
            let name = call.param("LoadBalancerName").unwrap_or_default();
            let tags = call.tags("Tags.member");
            let mut ctx = Context::new();
            request_tags(&mut ctx, &tags);
            out.push(authz(action.clone(), call.elb_arn(name), ctx.clone()));
            if !tags.is_empty() {
                set(&mut ctx, "elasticloadbalancing:CreateAction", vec!["CreateLoadBalancer".into()]);
                out.push(authz("elasticloadbalancing:AddTags".into(), call.elb_arn(name), ctx));
            }
        }
        ("elasticloadbalancing", "AddTags" | "RemoveTags") => {
            let tags = call.tags("Tags.member");
            for name in call.list("LoadBalancerNames.member") {
                let mut ctx = Context::new();
                if call.action == "AddTags" {
                    request_tags(&mut ctx, &tags);
                } else {
                    set(&mut ctx, "aws:TagKeys", tags.keys().cloned().collect());
                }
                resource_tags(&mut ctx, "elasticloadbalancing", &call.resource("load-balancer", name).tags);
                out.push(authz(action.clone(), call.elb_arn(name), ctx));
            }
        }
        ("elasticloadbalancing", "ConfigureHealthCheck" | "ModifyLoadBalancerAttributes") => {
            let name = call.param("LoadBalancerName").unwrap_or_default();
            let mut ctx = Context::new();
            resource_tags(&mut ctx, "elasticloadbalancing", &call.resource("load-balancer", name).tags);
            out.push(authz(action.clone(), call.elb_arn(name), ctx));
        }
        _ => return Err(format!("{action}: this model does not know how AWS authorizes it; add it")),
    }
    Ok(out)
}
