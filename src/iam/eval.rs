//! A small evaluator of the IAM policy that `drydock iam-policy` prints, and a model of
//! how AWS authorizes each request drydock makes, so that tests can check the policy's
//! conditions (not only its action list) against real requests: every request of a
//! recorded workflow is allowed, and the known bypasses (tagging a foreign instance as a
//! builder, terminating it, adopting a foreign group, deleting a foreign launch template)
//! are denied.
//!
//! The evaluator knows exactly the parts of the policy language the policy uses: `Allow`
//! and `Deny` statements with `Action` and `Resource` patterns, and the condition
//! operators `StringEquals`, `StringNotEquals`, `StringLike`, `Bool`, `Null` and
//! `ForAllValues:StringEquals` / `ForAllValues:StringLike`. Anything else is an error, so
//! that a policy change that needs more of the language is noticed, not misjudged.
//!
//! The authorization model (`authorizations`) follows the Service Authorization Reference
//! for EC2, EC2 Auto Scaling and Elastic Load Balancing: which resources each action is
//! authorized against, with which condition keys, and the dependent actions AWS checks
//! (tag-on-create through `ec2:CreateTags` with `ec2:CreateAction`, and through
//! `elasticloadbalancing:AddTags` with `elasticloadbalancing:CreateAction`;
//! `ec2:RunInstances` when CreateAutoScalingGroup names a launch template).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// Condition keys of one authorization, by lowercased name (IAM key names are
/// case-insensitive); each key has one or more values.
pub type Context = BTreeMap<String, Vec<String>>;

/// One authorization AWS makes for a request: an action on one resource, in a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authz {
    pub action: String,
    pub resource: String,
    pub context: Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement allows it.
    ImplicitDeny,
    /// A `Deny` statement matches.
    ExplicitDeny,
}

/// `*` and `?` wildcards, as in `StringLike`, `Action` and `Resource`.
pub fn like(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// A string or an array of strings.
fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned).ok_or_else(|| format!("{what}: {x} is not a string")))
            .collect(),
        other => Err(format!("{what}: {other} is neither a string nor an array")),
    }
}

/// One operator of a `Condition` block on one key.
fn condition(op: &str, key: &str, want: &[String], ctx: &Context) -> Result<bool, String> {
    let have = ctx.get(&key.to_ascii_lowercase()).filter(|v| !v.is_empty());
    let (quantifier, base) = match op.split_once(':') {
        Some(("ForAllValues", base)) => (Some(()), base),
        Some(_) => return Err(format!("condition operator {op} is not supported by this evaluator")),
        None => (None, op),
    };
    let matches = |v: &str| -> Result<bool, String> {
        Ok(match base {
            "StringEquals" => want.iter().any(|w| w == v),
            "StringLike" => want.iter().any(|w| like(w, v)),
            "Bool" => want.iter().any(|w| w.eq_ignore_ascii_case(v)),
            _ => return Err(format!("condition operator {op} is not supported by this evaluator")),
        })
    };
    match (quantifier, base) {
        // Every value of the request is one of the policy's; no value at all passes.
        (Some(()), _) => {
            let mut all = true;
            for v in have.into_iter().flatten() {
                all &= matches(v)?;
            }
            Ok(all)
        }
        (None, "Null") => {
            let want_absent = want.iter().any(|w| w.eq_ignore_ascii_case("true"));
            Ok(have.is_none() == want_absent)
        }
        // A negated operator holds when the key is absent.
        (None, "StringNotEquals") => Ok(have.is_none_or(|h| h.iter().all(|v| !want.contains(v)))),
        (None, _) => match have {
            None => {
                matches("")?; // rejects an unknown operator even when the key is absent
                Ok(false)
            }
            Some(h) => {
                let mut any = false;
                for v in h {
                    any |= matches(v)?;
                }
                Ok(any)
            }
        },
    }
}

/// Whether one statement applies to `req` (its action, resource and every condition).
fn statement_matches(s: &Value, req: &Authz) -> Result<bool, String> {
    let obj = s.as_object().ok_or("a statement is not an object")?;
    for k in obj.keys() {
        if !matches!(k.as_str(), "Sid" | "Effect" | "Action" | "Resource" | "Condition") {
            return Err(format!("statement element {k} is not supported by this evaluator"));
        }
    }
    let actions = strings(obj.get("Action").ok_or("a statement without Action")?, "Action")?;
    if !actions.iter().any(|a| like(&a.to_ascii_lowercase(), &req.action.to_ascii_lowercase())) {
        return Ok(false);
    }
    let resources = strings(obj.get("Resource").ok_or("a statement without Resource")?, "Resource")?;
    if !resources.iter().any(|r| like(r, &req.resource)) {
        return Ok(false);
    }
    if let Some(cond) = obj.get("Condition") {
        let cond = cond.as_object().ok_or("Condition is not an object")?;
        for (op, block) in cond {
            let block = block.as_object().ok_or_else(|| format!("Condition {op} is not an object"))?;
            for (key, want) in block {
                if !condition(op, key, &strings(want, key)?, &req.context)? {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// The decision of `policy` on one authorization: an explicit deny wins, then an allow.
pub fn evaluate(policy: &Value, req: &Authz) -> Result<Decision, String> {
    let stmts = policy["Statement"].as_array().ok_or("the policy has no Statement array")?;
    let mut allowed = false;
    for s in stmts {
        if statement_matches(s, req)? {
            match s["Effect"].as_str() {
                Some("Deny") => return Ok(Decision::ExplicitDeny),
                Some("Allow") => allowed = true,
                other => return Err(format!("Effect {other:?}")),
            }
        }
    }
    Ok(if allowed { Decision::Allow } else { Decision::ImplicitDeny })
}

// ---------------------------------------------------------------------------------------
// The requests: what a recorder saw, and how AWS authorizes each.
// ---------------------------------------------------------------------------------------

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

fn set(ctx: &mut Context, key: &str, values: Vec<String>) {
    ctx.insert(key.to_ascii_lowercase(), values);
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

fn authz(action: String, resource: String, context: Context) -> Authz {
    Authz { action, resource, context }
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

/// Every authorization of `call` that `policy` does not allow, with its decision.
pub fn denied(policy: &Value, call: &Call) -> Result<Vec<(Authz, Decision)>, String> {
    let mut out = Vec::new();
    for a in authorizations(call)? {
        let d = evaluate(policy, &a)?;
        if d != Decision::Allow {
            out.push((a, d));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
