//! `drydock bake <service> (--image-tag T | --image-digest D) --env E [--build-url U]`
//!
//! Everything is validated and rendered before the first AWS call. Then: observe (base
//! AMI, an AMI of the content-addressed name, builders of this recipe) → plan (pure,
//! `domain::bake::plan`) → execute. The builder is terminated on every path: success,
//! failure, timeout, SIGINT/SIGTERM.

use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant, SystemTime};

use serde_json::json;

use super::{environment, parse_env, parse_pin, parse_service, recipe};
use crate::cli::{BakeArgs, Global};
use crate::cloud::{images, instances, network, Cloud, CloudError};
use crate::config::Tree;
use crate::domain::bake::{
    plan, recipe_hash, BakePlan, BakeSnapshot, Builder, ImageState, InstanceState, RecipeInputs,
};
use crate::domain::{words, AmiName, ImageRef};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::Reporter;
use crate::render::{render_init, BAKE_FORMAT};

/// How long CreateImage may take to give an available AMI.
const IMAGE_TIMEOUT: StdDuration = StdDuration::from_secs(60 * 60);

/// The poll interval: 10 s against AWS; `DRYDOCK_POLL_MS` shortens it for emulators.
pub fn poll_interval() -> StdDuration {
    std::env::var("DRYDOCK_POLL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(StdDuration::from_millis)
        .unwrap_or(StdDuration::from_secs(10))
}

fn failed(service: &str, e: CloudError) -> Error {
    Error::Failed(format!("bake {service}: {e}"))
}

/// A network lookup: a missing VPC/subnet/group is the config's fault (exit 2).
fn network_error(service: &str, file: &std::path::Path, e: CloudError) -> Error {
    if e.missing {
        Error::Usage(format!("bake {service}: {}: {}", file.display(), e.message))
    } else {
        failed(service, e)
    }
}

pub async fn run(tree: &Tree, global: &Global, args: &BakeArgs, out: &Reporter, interrupt: Interrupt) -> Result<()> {
    let started = Instant::now();
    // --- validate and render: no AWS call before this block has passed ---
    let service = parse_service(&args.service)?;
    let pin = parse_pin(&args.pin)?;
    let env = environment(tree, &parse_env(&args.env)?)?;
    let recipe = recipe(tree, &service)?;
    let build_url = match &args.build_url {
        Some(u) if !u.is_empty() => {
            let u = words::build_url(u).map_err(|m| Error::Usage(format!("--build-url: {m}")))?;
            // Recorded on the AMI and its snapshots: without `user:token@`.
            Some(words::strip_url_credentials(u))
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
    let cloud = Cloud::connect_as(&region, global.endpoint_url.as_deref(), env.profile.as_deref()).await;
    if let Some(account) = &env.account_id {
        let net = network::resolve(&cloud, &env.network).await.map_err(|e| network_error(s, &env.file, e))?;
        super::check_account(&env.file, account, net.owner_id.as_deref())?;
    }
    out.progress(&format!("bake {s}: resolving the base AMI"));
    let base = images::resolve_base(&cloud, &recipe.base)
        .await
        .map_err(|e| failed(s, e))?
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
        image: images::find_by_name(&cloud, ami_name.as_str()).await.map_err(|e| failed(s, e))?,
        builders: instances::builders(&cloud, &hash).await.map_err(|e| failed(s, e))?,
    };

    // --- plan ---
    let plan = plan(&snapshot);
    for step in plan.steps() {
        out.detail(&format!("bake {s}: plan: {step}"));
    }
    if args.dry_run {
        let steps = plan.steps();
        let ami = match &plan {
            crate::domain::bake::BakePlan::Reuse { ami, .. }
            | crate::domain::bake::BakePlan::WaitForImage { ami, .. } => Some(ami.clone()),
            crate::domain::bake::BakePlan::Bake { .. } => None,
        };
        let message = format!("{ami_name} (base {})", base.id);
        let text = format!(
            "{s}: planned — {message}\n{}",
            steps.iter().enumerate().map(|(i, l)| format!("  {}. {l}\n", i + 1)).collect::<String>()
        );
        let mut result = json!({
            "service": s, "outcome": "planned", "image": image.to_string(), "elapsed_s": 0.0, "message": message,
            "plan": steps.iter().map(|l| json!({"step": l.to_string(), "detail": l})).collect::<Vec<_>>(),
        });
        // Fields that do not apply are omitted: an AMI only when one would be reused.
        if let Some(a) = ami {
            result["ami"] = json!(a);
        }
        out.result(&text, &json!({"command": "bake", "env": env.name.as_str(), "results": [result]}));
        return Ok(());
    }

    // --- execute ---
    let ctx = Exec {
        cloud: &cloud,
        out,
        service: s,
        env,
        base_ami: &base.id,
        base_name: &base.name,
        root_device: &base.root_device,
        hash: &hash,
        ami_name: &ami_name,
        image: &image,
        bootstrap: &art.bootstrap,
        build_url: build_url.as_deref(),
        builder: Arc::new(Mutex::new(None)),
        interrupt,
    };
    let result = ctx.execute(&plan).await;
    // Cleanup on every path: whatever builder this run launched or adopted goes.
    let leftover = ctx.builder.lock().ok().and_then(|mut b| b.take());
    if let Some(id) = leftover {
        out.progress(&format!("bake {s}: terminating builder {id}"));
        if let Err(e) = instances::terminate(&cloud, std::slice::from_ref(&id)).await {
            return Err(Error::NeedsAttention(format!(
                "bake {s}: {}; and the builder {id} could not be terminated: {e}. Terminate it by hand, or run `drydock gc --env {}`",
                result.err().map(|e| e.to_string()).unwrap_or_else(|| "the AMI was baked".into()),
                env.name
            )));
        }
    }
    let (ami, outcome) = result?;
    let elapsed = started.elapsed().as_secs_f64();
    out.result(
        &format!("{ami}\n"),
        &json!({
            "command": "bake",
            "env": env.name.as_str(),
            "results": [{
                "service": s,
                "outcome": outcome,
                "ami": ami,
                "image": image.to_string(),
                "elapsed_s": (elapsed * 10.0).round() / 10.0,
                "message": format!("{outcome} {ami} ({})", ami_name),
            }],
        }),
    );
    Ok(())
}

struct Exec<'a> {
    cloud: &'a Cloud,
    out: &'a Reporter,
    service: &'a str,
    env: &'a crate::config::Environment,
    base_ami: &'a str,
    base_name: &'a str,
    root_device: &'a str,
    hash: &'a str,
    ami_name: &'a AmiName,
    image: &'a ImageRef,
    bootstrap: &'a str,
    build_url: Option<&'a str>,
    /// The builder this run is responsible for; terminated by `run` on every path.
    builder: Arc<Mutex<Option<String>>>,
    interrupt: Interrupt,
}

impl Exec<'_> {
    fn fail(&self, e: CloudError) -> Error {
        failed(self.service, e)
    }
    fn adopt(&self, id: &str) {
        if let Ok(mut b) = self.builder.lock() {
            *b = Some(id.to_owned());
        }
    }

    fn check(&self) -> Result<()> {
        self.interrupt.check(&format!("bake {}", self.service))
    }

    async fn execute(&self, plan: &BakePlan) -> Result<(String, &'static str)> {
        let s = self.service;
        self.check()?;
        match plan {
            BakePlan::Reuse { ami, terminate } => {
                self.terminate_leftovers(terminate).await?;
                self.out.progress(&format!(
                    "bake {s}: reusing {ami} ({}): the same recipe was baked before",
                    self.ami_name
                ));
                Ok((ami.clone(), "reused"))
            }
            BakePlan::WaitForImage { ami, terminate } => {
                self.terminate_leftovers(terminate).await?;
                self.wait_image(ami).await?;
                Ok((ami.clone(), "reused"))
            }
            BakePlan::Bake { deregister, builder, terminate } => {
                self.terminate_leftovers(terminate).await?;
                if let Some(a) = deregister {
                    self.out.progress(&format!("bake {s}: deregistering the failed image {a} of the same name"));
                    images::deregister(self.cloud, a).await.map_err(|e| self.fail(e))?;
                }
                self.check()?;
                let id = match builder {
                    Builder::Launch => {
                        let id = self.launch().await?;
                        self.wait_stopped(&id).await?;
                        id
                    }
                    Builder::Resume(id) => {
                        self.adopt(id);
                        self.out
                            .progress(&format!("bake {s}: resuming: builder {id} of an earlier run is still working"));
                        self.wait_stopped(id).await?;
                        id.clone()
                    }
                    Builder::Stopped(id) => {
                        self.adopt(id);
                        id.clone()
                    }
                };
                self.check()?;
                let ami = self.create_image(&id).await?;
                self.wait_image(&ami).await?;
                Ok((ami, "baked"))
            }
        }
    }

    async fn terminate_leftovers(&self, ids: &[String]) -> Result<()> {
        if !ids.is_empty() {
            self.out.progress(&format!("bake {}: terminating leftover builders {}", self.service, ids.join(", ")));
            instances::terminate(self.cloud, ids).await.map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    fn builder_tags(&self) -> Vec<(String, String)> {
        vec![
            ("Name".into(), format!("drydock-builder {} {}", self.service, self.image.pin)),
            ("drydock:role".into(), "builder".into()),
            ("drydock:recipe".into(), self.hash.to_owned()),
            ("drydock:service".into(), self.service.to_owned()),
            ("drydock:image".into(), self.image.to_string()),
        ]
    }

    async fn launch(&self) -> Result<String> {
        let s = self.service;
        let file = &self.env.file;
        let net = network::resolve(self.cloud, &self.env.network).await.map_err(|e| network_error(s, file, e))?;
        let subnet = match &self.env.bake.subnet {
            Some(r) => network::subnets(self.cloud, &net.vpc_id, std::slice::from_ref(r))
                .await
                .map_err(|e| network_error(s, file, e))?
                .into_iter()
                .next(),
            None => net.subnet_ids.first().cloned(),
        };
        let subnet =
            subnet.ok_or_else(|| Error::Usage(format!("{}: no subnet for the builder", self.env.file.display())))?;
        // The real clock, not the injectable one: the token must differ between runs.
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        // Idempotent within this run (the SDK may retry RunInstances); a later run finds
        // this builder by its tags instead.
        let token = format!("drydock-{}-{now}", &self.hash[..32]);
        let tags = self.builder_tags();
        let id = instances::launch(
            self.cloud,
            &instances::BuilderSpec {
                base_ami: self.base_ami,
                root_device: self.root_device,
                instance_type: &self.env.bake.instance_type,
                subnet_id: &subnet,
                security_group_ids: &net.security_group_ids,
                instance_profile: self.env.bake.instance_profile.as_deref(),
                volume_size_gib: self.env.bake.volume_size_gib,
                kms_key_id: self.env.bake.kms_key_id.as_deref(),
                user_data: self.bootstrap,
                tags: &tags,
                client_token: &token,
            },
        )
        .await
        .map_err(|e| self.fail(e))?;
        self.adopt(&id);
        self.out.progress(&format!(
            "bake {s}: launched builder {id} from {} ({}) in {subnet}; waiting until it powers off (timeout {})",
            self.base_ami, self.base_name, self.env.bake.timeout
        ));
        Ok(id)
    }

    async fn wait_stopped(&self, id: &str) -> Result<()> {
        let s = self.service;
        let timeout = self.env.bake.timeout.std();
        let deadline = crate::clock::deadline(timeout);
        let poll = poll_interval();
        loop {
            let state = instances::instance_state(self.cloud, id).await.map_err(|e| self.fail(e))?;
            match state {
                Some(InstanceState::Stopped) => {
                    self.out.progress(&format!("bake {s}: builder {id} has powered off"));
                    return Ok(());
                }
                Some(InstanceState::ShuttingDown | InstanceState::Terminated) => {
                    let console = instances::console_tail(self.cloud, id, 20)
                        .await
                        .map(|t| format!("; console output ends:\n{t}"))
                        .unwrap_or_default();
                    return Err(Error::Failed(format!(
                        "bake {s}: builder {id} was terminated before it powered off, so the bootstrap did not finish; no AMI was created{console}"
                    )));
                }
                // None: not visible yet right after RunInstances (eventual consistency).
                _ => {}
            }
            if Instant::now() >= deadline {
                let console = instances::console_tail(self.cloud, id, 20)
                    .await
                    .map(|t| format!("; console output ends:\n{t}"))
                    .unwrap_or_default();
                return Err(Error::Failed(format!(
                    "bake {s}: builder {id} did not power off within bake.timeout {} ({}); no AMI was created{console}",
                    self.env.bake.timeout,
                    self.env.file.display()
                )));
            }
            let nap = poll.min(deadline.saturating_duration_since(Instant::now())).max(StdDuration::from_millis(10));
            self.interrupt.sleep(nap, &format!("bake {s}: waiting for builder {id}")).await?;
        }
    }

    async fn create_image(&self, builder: &str) -> Result<String> {
        let s = self.service;
        let baked_at = humantime::format_rfc3339_seconds(crate::clock::now()).to_string();
        let mut tags: Vec<(String, String)> = vec![
            ("Name".into(), self.ami_name.to_string()),
            ("drydock:service".into(), s.to_owned()),
            ("drydock:image".into(), self.image.to_string()),
            ("drydock:recipe".into(), self.hash.to_owned()),
            ("drydock:base-ami".into(), self.base_ami.to_owned()),
            ("drydock:baked-at".into(), baked_at),
        ];
        if let Some(u) = self.build_url {
            tags.push(("drydock:build".into(), u.to_owned()));
        }
        let description = format!("drydock: {s} running {}", self.image);
        let ami = match images::create(self.cloud, builder, self.ami_name.as_str(), &description, &tags).await {
            Ok(a) => a,
            // A racing bake of the same recipe got there first: use its image.
            Err(e) if e.is("InvalidAMIName.Duplicate") => {
                match images::find_by_name(self.cloud, self.ami_name.as_str()).await.map_err(|e| self.fail(e))? {
                    Some(i) => i.id,
                    None => return Err(self.fail(e)),
                }
            }
            Err(e) => return Err(self.fail(e)),
        };
        // Its snapshots were tagged by CreateImage itself.
        self.out.progress(&format!("bake {s}: creating image {ami} ({})", self.ami_name));
        Ok(ami)
    }

    async fn wait_image(&self, ami: &str) -> Result<()> {
        let deadline = crate::clock::deadline(IMAGE_TIMEOUT);
        let poll = poll_interval();
        loop {
            match images::describe(self.cloud, ami).await.map_err(|e| self.fail(e))? {
                Some((ImageState::Available, _)) => {
                    self.out.progress(&format!("bake {}: image {ami} is available", self.service));
                    return Ok(());
                }
                Some((ImageState::Unusable, _)) | None => {
                    return Err(Error::Failed(format!(
                        "bake {}: image {ami} failed or disappeared while being created; run the same bake again to replace it",
                        self.service
                    )))
                }
                Some((ImageState::Pending, _)) => {}
            }
            if Instant::now() >= deadline {
                return Err(Error::Failed(format!(
                    "bake {}: image {ami} was not available after {} minutes",
                    self.service,
                    IMAGE_TIMEOUT.as_secs() / 60
                )));
            }
            self.interrupt.sleep(poll, &format!("bake {}: waiting for image {ami}", self.service)).await?;
        }
    }
}
