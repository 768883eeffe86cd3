//! `drydock bake <service> (--image-tag T | --image-digest D) --env E [--build-url U]`
//!
//! Everything is validated and rendered before the first AWS call. Then: observe (base
//! AMI, an AMI of the content-addressed name, builders of this recipe) → plan (pure,
//! `domain::bake::plan`) → execute. The builder is terminated on every path: success,
//! failure, timeout, SIGINT/SIGTERM.

use std::time::Instant;

use serde_json::json;

use super::session::{ServiceResult, Session, Timing};
use super::{environment, parse_pin, recipe};
use crate::cli::{BakeArgs, Global};
use crate::cloud::{images, instances, network, Cloud, CloudError};
use crate::config::Tree;
use crate::domain::bake::{recipe_hash, BakeSnapshot, RecipeInputs};
use crate::domain::{grammar, AmiName, ImageRef};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Reporter;
use crate::plan::bake::{may_launch, plan_bake, BakeRequest};
use crate::plan::{BuilderSpec, UserData};
use crate::render::{render_init, BAKE_FORMAT};

/// How long CreateImage may take to give an available AMI.
const IMAGE_TIMEOUT_S: u64 = 60 * 60;

/// A network lookup: a missing VPC/subnet/group is the config's fault (exit 2).
fn network_error(service: &str, file: &std::path::Path, e: CloudError) -> Error {
    if e.missing {
        Error::Usage(format!("bake {service}: {}: {}", file.display(), e.message))
    } else {
        Error::cloud(format!("bake {service}: resolving the network"), e)
    }
}

pub async fn run(tree: &Tree, global: &Global, args: &BakeArgs, out: &Reporter, interrupt: Interrupt) -> Result<()> {
    let started = Instant::now();
    // --- validate and render: no AWS call before this block has passed ---
    let service = args.service.clone();
    let pin = parse_pin(&args.pin)?;
    let env = environment(tree, &args.env)?;
    let recipe = recipe(tree, &service)?;
    let build_url = match &args.build_url {
        Some(u) if !u.is_empty() => {
            let u = grammar::build_url(u).map_err(|m| Error::Usage(format!("--build-url: {m}")))?;
            // Recorded on the AMI and its snapshots: without `user:token@`.
            Some(grammar::strip_url_credentials(u))
        }
        _ => None,
    };
    // The AMI name's length depends on the tag only: check it now, with a dummy hash.
    AmiName::new(&service, &pin.label(), "000000000000").map_err(|m| Error::Usage(format!("bake {service}: {m}")))?;
    let image = ImageRef { repo: recipe.image.clone(), pin: pin.clone() };
    let art = render_init(tree, recipe, &image).map_err(|e| Error::Usage(e.to_string()))?;
    let region = global.region.clone().unwrap_or_else(|| env.region.clone());
    let s = service.as_str();

    // --- observe ---
    let timing = Timing::parse(global)?;
    let label = format!("bake {s}");
    let fail = |what: &str, e: CloudError| Error::cloud(format!("{label}: {what}"), e);
    let cloud = Cloud::connect_as(&region, global.endpoint_url.as_deref(), env.profile.as_deref()).await;
    if let Some(account) = &env.account_id {
        let net = network::resolve(&cloud, &env.network).await.map_err(|e| network_error(s, &env.file, e))?;
        super::check_account(&env.file, account, net.owner_id.as_deref())?;
    }
    out.progress(&format!("bake {s}: resolving the base AMI"));
    let base = images::resolve_base(&cloud, &recipe.base)
        .await
        .map_err(|e| fail("resolving the base AMI", e))?
        .map_err(|m| Error::Usage(format!("{}: {m}", recipe.file.display())))?;
    let hash = recipe_hash(&RecipeInputs {
        format: BAKE_FORMAT,
        base_ami: &base.id,
        image: &image.to_string(),
        job: &art.job,
        bootstrap: &art.bootstrap,
        volume_size_gib: env.bake.volume_size_gib,
        kms_key: env.bake.kms_key_id.as_deref().unwrap_or(""),
    });
    let ami_name = AmiName::new(&service, &pin.label(), &hash).map_err(Error::Usage)?;
    let snapshot = BakeSnapshot {
        image: images::find_by_name(&cloud, ami_name.as_str()).await.map_err(|e| fail("looking for the AMI", e))?,
        builders: instances::builders(&cloud, &hash).await.map_err(|e| fail("looking for builders", e))?,
    };

    // The builder's network, only when a builder may be launched: a reuse needs none.
    let network = if may_launch(&snapshot) {
        let net = network::resolve(&cloud, &env.network).await.map_err(|e| network_error(s, &env.file, e))?;
        let subnet = match &env.bake.subnet {
            Some(r) => network::subnets(&cloud, &net.vpc_id, std::slice::from_ref(r))
                .await
                .map_err(|e| network_error(s, &env.file, e))?
                .into_iter()
                .next(),
            None => net.subnet_ids.first().cloned(),
        };
        let subnet =
            subnet.ok_or_else(|| Error::Usage(format!("{}: no subnet for the builder", env.file.display())))?;
        Some((subnet, net.security_group_ids))
    } else {
        None
    };

    // --- plan ---
    let baked_at = humantime::format_rfc3339_seconds(crate::clock::now()).to_string();
    let mut image_tags: Vec<(String, String)> = vec![
        ("Name".into(), ami_name.to_string()),
        ("drydock:service".into(), s.to_owned()),
        ("drydock:image".into(), image.to_string()),
        ("drydock:recipe".into(), hash.clone()),
        ("drydock:base-ami".into(), base.id.clone()),
        ("drydock:baked-at".into(), baked_at),
    ];
    if let Some(u) = &build_url {
        image_tags.push(("drydock:build".into(), u.clone()));
    }
    // `[base] imds = "v1-allowed"`: tagged on the AMI, so that its launch templates allow it too.
    if recipe.imds == crate::config::Imds::V1Allowed {
        image_tags.push(("drydock:imds".into(), "v1-allowed".into()));
    }
    let request = BakeRequest {
        service: s.to_owned(),
        ami_name: ami_name.to_string(),
        image: image.to_string(),
        builder: network.map(|(subnet, security_groups)| BuilderSpec {
            base_ami: base.id.clone(),
            base_name: base.name.clone(),
            root_device: base.root_device.clone(),
            instance_type: env.bake.instance_type.clone(),
            subnet,
            security_groups,
            instance_profile: env.bake.instance_profile.clone(),
            volume_size_gib: env.bake.volume_size_gib,
            kms_key_id: env.bake.kms_key_id.clone(),
            imds_v1_allowed: recipe.imds == crate::config::Imds::V1Allowed,
            user_data: UserData::new(art.bootstrap.clone()),
            tags: vec![
                ("Name".into(), format!("drydock-builder {s} {}", image.pin)),
                ("drydock:role".into(), "builder".into()),
                ("drydock:recipe".into(), hash.clone()),
                ("drydock:service".into(), s.to_owned()),
                ("drydock:image".into(), image.to_string()),
            ],
        }),
        image_tags,
        description: format!("drydock: {s} running {image}"),
        timeout_s: env.bake.timeout.as_secs(),
        timeout_setting: format!("bake.timeout {} ({})", env.bake.timeout, env.file.display()),
        image_timeout_s: IMAGE_TIMEOUT_S,
    };
    let plan = plan_bake(&request, &snapshot).map_err(|e| Error::Failed(format!("{label}: {e}")))?;
    for step in plan.steps.iter().chain(&plan.finally) {
        out.detail(&format!("{label}: plan: {step}"));
    }
    if out.verbose > 0 && args.dry_run {
        out.detail(&format!("{label}: the bootstrap (user data):\n{}", art.bootstrap));
    }

    // --- execute (or print) ---
    let session = Session::new(&cloud, out, &interrupt, env.name.as_str(), None, "bake", args.dry_run, timing);
    let mut result = session.execute(plan, Some(image.to_string()), &label, None, started).await;
    if !args.dry_run && result.code == 0 {
        result.message = format!("{} {} ({ami_name})", result.outcome, result.ami.as_deref().unwrap_or("?"));
    }
    report_bake(out, env.name.as_str(), &result)
}

/// The AMI id alone on stdout (a Jenkins step captures it), or the one JSON document.
fn report_bake(out: &Reporter, env: &str, r: &ServiceResult) -> Result<()> {
    if r.code != 0 {
        let e = Error::Reported { code: r.code, summary: r.message.clone() };
        // Nothing on stdout in text mode: a Jenkins step that captures the AMI id gets none.
        out.result("", &json!({"command": "bake", "env": env, "results": [r.json()]}));
        return Err(e);
    }
    let text = match &r.plan {
        Some(p) => format!(
            "{}: {} — {}\n{}",
            r.service,
            r.outcome,
            r.message,
            p.steps
                .iter()
                .chain(&p.finally)
                .enumerate()
                .map(|(i, l)| format!("  {}. {l}\n", i + 1))
                .collect::<String>()
        ),
        None => format!("{}\n", r.ami.as_deref().unwrap_or("")),
    };
    out.result(&text, &json!({"command": "bake", "env": env, "results": [r.json()]}));
    Ok(())
}
