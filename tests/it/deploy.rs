//! `drydock deploy` against the emulator (moto through the fidelity shim): blue/green
//! releases behind the service's classic ELB, the health gate and its compensation,
//! crash-only reruns after `kill -9` at three points, the cluster lease, capacity, and
//! "never less capacity" sampled from outside while a deploy runs.
//!
//! Each test starts its own emulator and bakes the AMIs it needs first, with the
//! emulated builder guest (`tests/tools/fake_guest.py`) running for the bakes only.

use crate::common;
use crate::common::fixtures::now;

use common::aws::{instance_ids as instances, is_read_only, tag, Sampler};
use common::fixtures::{eventually, Background, Emulated};

use std::collections::BTreeMap;
use std::ops::Deref;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_autoscaling::types::AutoScalingGroup;
use common::moto::Moto;
use common::{Run, RUN_TIMEOUT as RUN};
use serde_json::Value;

const WWW: &str = "registry.example.com/dramafever/www";
const ELB: &str = "www-staging";
const LOCK: &str = "drydock-lock-www-staging";
const UNHEALTHY: &str = "Instance has failed at least the UnhealthyThreshold number of health checks consecutively";

// ---------------------------------------------------------------------------------------
// The fixture: one emulator, one copy of the example tree, its SDK clients
// ---------------------------------------------------------------------------------------

struct Fx(Emulated);

impl Deref for Fx {
    type Target = Emulated;
    fn deref(&self) -> &Emulated {
        &self.0
    }
}

impl Fx {
    fn new() -> Self {
        Fx(Emulated::new())
    }

    /// `drydock --output json -C TREE deploy ARGS --env staging`, polling every 50 ms.
    fn deploy_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.json_cmd(&["deploy"]);
        cmd.args(args).args(["--env", "staging"]);
        cmd
    }

    fn deploy(&self, args: &[&str]) -> Run {
        common::run(&mut self.deploy_cmd(args), RUN)
    }

    /// Deploys www at `tag` and asserts it worked.
    fn deploy_ok(&self, tag: &str) -> Value {
        let run = self.deploy(&["www", "--image-tag", tag]);
        assert_eq!(run.code, Some(0), "deploy www {tag}: {run:?}");
        let r = only_result(&run);
        assert_eq!(r["outcome"], "deployed", "{run:?}");
        r
    }

    // -- observations through the SDK ---------------------------------------------------

    fn must_group(&self, name: &str) -> AutoScalingGroup {
        self.sdk.must_group(name)
    }

    /// How many of the group's instances are InService in the ELB.
    fn in_service(&self, g: &AutoScalingGroup) -> usize {
        self.sdk.group_in_service(g, ELB)
    }

    /// The lock's heartbeat tag, if the lock exists.
    fn lock_heartbeat(&self) -> Option<i64> {
        self.sdk
            .lock("www-staging")
            .map(|(_, tags)| tags.get("drydock:heartbeat").and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Waits until the lock (if any) was last renewed more than `ttl_s` seconds ago, as
    /// drydock judges it with whole seconds.
    fn wait_lease_stale(&self, ttl_s: i64) {
        eventually("the killed run's lease gets stale", RUN, || match self.lock_heartbeat() {
            None => Some(()),
            Some(hb) if now() - hb > ttl_s => Some(()),
            Some(_) => None,
        })
    }

    fn create_lock(&self, holder: &str, heartbeat: i64) {
        self.sdk.create_lock("www-staging", "staging", holder, heartbeat);
    }

    /// The state every converged deploy of `ami` as release `release` over `previous`
    /// must leave: one group for the AMI, live, attached, every instance InService; the
    /// previous release a detached standby; no release launch template without its group;
    /// the lock released.
    fn assert_converged(&self, ami: &str, release: &str, previous: &str) {
        let for_ami: Vec<String> = self
            .sdk
            .groups()
            .iter()
            .filter(|g| tag(g, "drydock:ami").as_deref() == Some(ami))
            .filter_map(|g| g.auto_scaling_group_name().map(str::to_owned))
            .collect();
        assert_eq!(for_ami, vec![release.to_owned()], "exactly one group for {ami}");
        let g = self.must_group(release);
        assert_eq!(tag(&g, "drydock:state").as_deref(), Some("live"));
        assert_eq!(g.load_balancer_names(), [ELB]);
        let n = g.desired_capacity().unwrap_or(0) as usize;
        assert!(n >= 2, "{release} runs at least the config's 2");
        assert_eq!(instances(&g).len(), n);
        assert_eq!(self.in_service(&g), n, "every instance of {release} InService");

        let p = self.must_group(previous);
        assert_eq!(tag(&p, "drydock:state").as_deref(), Some("standby"));
        assert!(p.load_balancer_names().is_empty(), "{previous} detached");
        let registered = self.sdk.registered(ELB);
        assert!(instances(&p).iter().all(|i| !registered.contains(i)), "{previous}'s instances are out of the ELB");

        let groups = self.sdk.group_names();
        assert!(!self.sdk.lock_names().contains(LOCK), "the lock is released");
        for lt in self.sdk.launch_template_names() {
            if lt.starts_with("www-staging-v") {
                assert!(groups.contains(&lt), "launch template {lt} has no group");
            }
        }
    }
}

fn only_result(run: &Run) -> Value {
    assert_eq!(run.json()["env"], "staging");
    run.only_result("deploy")
}

/// drydock's DescribeInstanceHealth requests since its CreateAutoScalingGroup, if any.
fn health_polls_after_create(moto: &Moto) -> Option<usize> {
    let actions: Vec<String> = moto.requests().into_iter().map(|(_, a)| a).collect();
    let created = actions.iter().position(|a| a == "CreateAutoScalingGroup")?;
    Some(actions[created..].iter().filter(|a| *a == "DescribeInstanceHealth").count())
}

// ---------------------------------------------------------------------------------------
// 1-4: the happy paths, an unchanged rerun, dry runs
// ---------------------------------------------------------------------------------------

#[test]
fn a_first_deploy_creates_the_elb_and_a_tagged_hardened_release() {
    let fx = Fx::new();
    let ami = fx.bake_one("www", "1.0.0");
    let before = now();
    let run = fx.deploy(&["www", "--image-tag", "1.0.0"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let r = only_result(&run);
    assert_eq!(r["service"], "www");
    assert_eq!(r["outcome"], "deployed");
    assert_eq!(r["release"], "v001");
    assert_eq!(r["asg"], "www-staging-v001");
    assert_eq!(r["ami"].as_str(), Some(ami.as_str()));
    assert_eq!(r["image"], format!("{WWW}:1.0.0"));
    assert!(r.get("previous").is_none(), "{r}");

    // The ELB, with the health check from the config.
    let lbs =
        fx.sdk.block(fx.sdk.elb.describe_load_balancers().load_balancer_names(ELB).send()).expect("the ELB exists");
    let lb = &lbs.load_balancer_descriptions()[0];
    assert_eq!(lb.health_check().map(|h| h.target()), Some("HTTP:8080/health"));
    let listener = lb.listener_descriptions()[0].listener().expect("listener");
    assert_eq!(listener.load_balancer_port(), 80);
    assert_eq!(listener.instance_port(), 8080);

    // The group.
    let g = fx.must_group("www-staging-v001");
    assert_eq!(g.health_check_type(), Some("ELB"));
    assert_eq!(g.load_balancer_names(), [ELB]);
    assert_eq!(g.desired_capacity(), Some(2), "staging's desired");
    assert_eq!(g.min_size(), Some(1));
    assert_eq!(g.max_size(), Some(4));
    let lt = g.launch_template().expect("a launch template");
    assert_eq!(lt.launch_template_name(), Some("www-staging-v001"));
    assert_eq!(lt.version(), Some("1"), "a pinned version, never $Latest");
    for (k, v) in [
        ("Name", "www-staging-v001"),
        ("drydock:service", "www"),
        ("drydock:env", "staging"),
        ("drydock:release", "v001"),
        ("drydock:ami", ami.as_str()),
        ("drydock:image", &format!("{WWW}:1.0.0")),
        ("drydock:state", "live"),
    ] {
        assert_eq!(tag(&g, k).as_deref(), Some(v), "tag {k}");
    }
    let at: i64 =
        tag(&g, "drydock:deployed-at").and_then(|v| v.parse().ok()).expect("drydock:deployed-at is epoch seconds");
    assert!((before - 5..=now() + 5).contains(&at), "{at}");
    assert!(tag(&g, "drydock:deployed-by").is_some_and(|v| !v.is_empty()));
    assert_eq!(tag(&g, "drydock:previous"), None);

    // Its launch template: the AMI's IMDS mode and an encrypted root (moto does not apply
    // MetadataOptions to instances, so the template's data is what to check). www's base,
    // Ubuntu 14.04, predates IMDSv2: its AMI is tagged drydock:imds=v1-allowed.
    let versions = fx
        .sdk
        .block(fx.sdk.ec2.describe_launch_template_versions().launch_template_name("www-staging-v001").send())
        .expect("launch template versions");
    let data = versions.launch_template_versions()[0].launch_template_data().expect("data");
    assert_eq!(data.image_id(), Some(ami.as_str()));
    assert_eq!(
        data.metadata_options().and_then(|m| m.http_tokens()).map(|t| t.as_str()),
        Some("optional"),
        "IMDSv1 allowed, as the AMI's base needs"
    );
    let bdm = data.block_device_mappings();
    assert!(!bdm.is_empty(), "a root volume mapping");
    assert!(bdm.iter().all(|m| m.ebs().and_then(|e| e.encrypted()) == Some(true)), "encrypted EBS: {bdm:?}");

    // Every instance InService in the ELB; the lock released.
    assert_eq!(instances(&g).len(), 2);
    assert_eq!(fx.in_service(&g), 2);
    assert!(!fx.sdk.lock_names().contains(LOCK));
}

#[test]
fn a_second_deploy_switches_and_leaves_the_old_release_as_warm_standby() {
    let fx = Fx::new();
    let amis = fx.bake(&[("www", "1.0.0"), ("www", "1.1.0")]);
    fx.deploy_ok("1.0.0");
    let before = now();
    let r = fx.deploy_ok("1.1.0");
    assert_eq!(r["release"], "v002");
    assert_eq!(r["asg"], "www-staging-v002");
    assert_eq!(r["previous"], "www-staging-v001");
    assert_eq!(r["ami"].as_str(), Some(amis[1].as_str()));

    let new = fx.must_group("www-staging-v002");
    assert_eq!(new.load_balancer_names(), [ELB]);
    assert_eq!(tag(&new, "drydock:state").as_deref(), Some("live"));
    assert_eq!(tag(&new, "drydock:previous").as_deref(), Some("www-staging-v001"));
    assert_eq!(instances(&new).len(), 2);
    assert_eq!(fx.in_service(&new), 2, "every v002 instance InService");

    let old = fx.must_group("www-staging-v001");
    assert!(old.load_balancer_names().is_empty(), "v001 detached");
    let registered = fx.sdk.registered(ELB);
    assert_eq!(instances(&old).len(), 2, "warm: its instances are kept");
    for i in instances(&old) {
        assert!(!registered.contains(&i), "{i} deregistered from the ELB");
    }
    assert_eq!(tag(&old, "drydock:state").as_deref(), Some("standby"));
    let expires: i64 = tag(&old, "drydock:expires-at").and_then(|v| v.parse().ok()).expect("drydock:expires-at");
    assert!(expires > before, "expires in the future: {expires}");
    // No policy or schedule may resize v001 (this environment declares none): its
    // processes keep running, so it stays at its size and replaces a failed instance.
    // (With a policy, its processes are suspended: tests/it/scaling.rs.)
    assert_eq!(tag(&old, "drydock:scaling").as_deref(), Some("none"));
    assert_eq!(tag(&new, "drydock:scaling").as_deref(), Some("none"));
    assert!(old.suspended_processes().is_empty(), "{:?}", old.suspended_processes());
    assert_eq!(registered.len(), 2, "only v002 is registered: {registered:?}");
}

#[test]
fn the_same_tag_again_is_unchanged_and_mutates_nothing_but_the_lease() {
    let fx = Fx::new();
    fx.bake_one("www", "1.0.0");
    fx.deploy_ok("1.0.0");
    fx.moto.clear_requests();
    let run = fx.deploy(&["www", "--image-tag", "1.0.0"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let r = only_result(&run);
    assert_eq!(r["outcome"], "unchanged");
    assert_eq!(r["release"], "v001");
    assert_eq!(r["asg"], "www-staging-v001");
    let mutating: Vec<String> = fx.moto.requests().into_iter().map(|(_, a)| a).filter(|a| !is_read_only(a)).collect();
    assert_eq!(mutating, ["CreateSecurityGroup", "DeleteSecurityGroup"], "only the lease is taken and released");
    assert_eq!(fx.sdk.group_names(), ["www-staging-v001"]);
}

#[test]
fn dry_run_plans_with_read_only_requests_on_a_fresh_and_a_live_cluster() {
    let fx = Fx::new();
    fx.bake(&[("www", "1.0.0"), ("www", "1.1.0")]);

    let check = |tag: &str, expect_steps: &[&str]| {
        fx.moto.clear_requests();
        let run = fx.deploy(&["www", "--image-tag", tag, "--dry-run"]);
        assert_eq!(run.code, Some(0), "{run:?}");
        let r = only_result(&run);
        assert_eq!(r["outcome"], "planned", "{r}");
        let plan = r["plan"].as_array().expect("a plan");
        let kinds: Vec<&str> = plan.iter().map(|s| s["detail"]["step"].as_str().unwrap_or("")).collect();
        for s in plan {
            assert!(s["step"].as_str().is_some_and(|t| !t.is_empty()), "{s}");
        }
        for k in expect_steps {
            assert!(kinds.contains(k), "plan has {k}: {kinds:?}");
        }
        let reqs = fx.moto.requests();
        assert!(!reqs.is_empty(), "it observed the cluster");
        let writes: Vec<_> = reqs.iter().filter(|(_, a)| !is_read_only(a)).collect();
        assert!(writes.is_empty(), "dry run mutated: {writes:?}");
        r
    };

    let r = check("1.0.0", &["create_elb", "create_launch_template", "create_group", "wait_in_service"]);
    assert_eq!(r["release"], "v001");
    assert!(fx.sdk.group_names().is_empty());
    assert!(fx.sdk.launch_template_names().is_empty());

    fx.deploy_ok("1.0.0");
    let r = check("1.1.0", &["create_launch_template", "create_group", "wait_in_service", "detach", "tag"]);
    let kinds: Vec<&str> =
        r["plan"].as_array().into_iter().flatten().filter_map(|s| s["detail"]["step"].as_str()).collect();
    assert!(!kinds.contains(&"suspend"), "no policy or schedule may resize v001: not suspended: {kinds:?}");
    assert_eq!(r["release"], "v002");
    assert_eq!(r["previous"], "www-staging-v001");
    assert_eq!(fx.sdk.group_names(), ["www-staging-v001"]);
    let live = fx.must_group("www-staging-v001");
    assert_eq!(live.load_balancer_names(), [ELB]);
    assert!(live.suspended_processes().is_empty());
}

// ---------------------------------------------------------------------------------------
// 5: the health gate
// ---------------------------------------------------------------------------------------

#[test]
fn an_unhealthy_release_is_taken_out_and_the_old_one_keeps_serving() {
    let fx = Fx::new();
    let amis = fx.bake(&[("www", "1.0.0"), ("www", "1.1.0")]);
    fx.deploy_ok("1.0.0");
    fx.moto.unhealthy(&[&amis[1]]);
    let run = fx.deploy(&["www", "--image-tag", "1.1.0", "--health-timeout", "2s"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let r = only_result(&run);
    assert_eq!(r["outcome"], "failed");
    let msg = r["message"].as_str().unwrap_or_default();
    assert!(msg.contains(ELB), "the message names the ELB: {msg}");
    assert!(msg.contains(UNHEALTHY), "the ELB's reason: {msg}");

    let new = fx.must_group("www-staging-v002");
    assert!(new.load_balancer_names().is_empty(), "v002 detached");
    assert_eq!(new.desired_capacity(), Some(0));
    assert_eq!(tag(&new, "drydock:state").as_deref(), Some("failed"));
    let old = fx.must_group("www-staging-v001");
    assert_eq!(old.load_balancer_names(), [ELB]);
    assert_eq!(tag(&old, "drydock:state").as_deref(), Some("live"));
    assert!(old.suspended_processes().is_empty());
    assert_eq!(fx.in_service(&old), 2, "v001 serves as before");
    assert!(!fx.sdk.lock_names().contains(LOCK));
}

/// Issue 13, fail early with certainty: with a grace period of 1 s, a release whose
/// instances all fail their health checks (OutOfService, ReasonCode Instance) fails once
/// they are older than 1 s + 3 × 10 s, far below a 10-minute health timeout; it is compensated as after a timeout, and the old release keeps serving.
#[test]
fn a_certainly_broken_release_fails_early_not_at_the_health_timeout() {
    let fx = Fx::new();
    fx.tree
        .replace(
            "environments/staging.toml",
            r#"health_timeout = "10m""#,
            "health_timeout = \"10m\"\ngrace_period = \"1s\"",
        )
        .expect("the www section");
    let amis = fx.bake(&[("www", "1.0.0"), ("www", "1.1.0")]);
    fx.deploy_ok("1.0.0");
    fx.moto.unhealthy(&[&amis[1]]);
    let dry = fx.deploy(&["www", "--image-tag", "1.1.0", "--health-timeout", "10m", "--dry-run"]);
    assert!(
        dry.stdout.replace(char::is_whitespace, "").contains("\"fail_after_s\":31"),
        "the dry run shows the threshold: {}",
        dry.stdout
    );
    let began = Instant::now();
    let run = fx.deploy(&["www", "--image-tag", "1.1.0", "--health-timeout", "10m"]);
    let took = began.elapsed();
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(took >= Duration::from_secs(31), "not before the rule holds: {took:?}");
    assert!(took < Duration::from_secs(90), "far below the 600 s timeout: {took:?}");
    let r = only_result(&run);
    assert_eq!(r["outcome"], "failed");
    let msg = r["message"].as_str().unwrap_or_default();
    assert!(msg.contains("failed early after"), "says it failed early: {msg}");
    assert!(msg.contains("is older than 31s"), "and why: {msg}");
    assert!(msg.contains(UNHEALTHY), "the ELB's reason: {msg}");

    let new = fx.must_group("www-staging-v002");
    assert!(new.load_balancer_names().is_empty(), "v002 detached");
    assert_eq!(new.desired_capacity(), Some(0));
    assert_eq!(tag(&new, "drydock:state").as_deref(), Some("failed"));
    let old = fx.must_group("www-staging-v001");
    assert_eq!(old.load_balancer_names(), [ELB]);
    assert_eq!(tag(&old, "drydock:state").as_deref(), Some("live"));
    assert_eq!(fx.in_service(&old), 2, "v001 serves as before");
}

/// `fail_early = false`: the same release waits for the whole health timeout.
#[test]
fn fail_early_off_waits_for_the_health_timeout() {
    let fx = Fx::new();
    fx.tree
        .replace(
            "environments/staging.toml",
            r#"health_timeout = "10m""#,
            "health_timeout = \"10m\"\ngrace_period = \"0s\"\nfail_early = false",
        )
        .expect("the www section");
    let amis = fx.bake(&[("www", "1.0.0"), ("www", "1.1.0")]);
    fx.deploy_ok("1.0.0");
    fx.moto.unhealthy(&[&amis[1]]);
    let dry = fx.deploy(&["www", "--image-tag", "1.1.0", "--dry-run"]);
    assert!(dry.stdout.replace(char::is_whitespace, "").contains("\"fail_after_s\":null"), "{}", dry.stdout);
    let run = fx.deploy(&["www", "--image-tag", "1.1.0", "--health-timeout", "3s"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let msg = only_result(&run)["message"].as_str().unwrap_or_default().to_owned();
    assert!(msg.contains("not InService after 3s") && !msg.contains("early"), "{msg}");
}

/// The brief asks for the ELB's reasons on stderr: with `--output json` they are only in
/// the JSON result on stdout (stderr has progress lines and a summary).
#[test]
fn an_unhealthy_release_names_the_elb_and_the_reasons_on_stderr() {
    let fx = Fx::new();
    let amis = fx.bake(&[("www", "1.0.0"), ("www", "1.1.0")]);
    fx.deploy_ok("1.0.0");
    fx.moto.unhealthy(&[&amis[1]]);
    let run = fx.deploy(&["www", "--image-tag", "1.1.0", "--health-timeout", "2s"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains(ELB), "{}", run.stderr);
    assert!(run.stderr.contains(UNHEALTHY), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------
// 6: kill -9 at three points; the same command converges
// ---------------------------------------------------------------------------------------

enum KillPoint {
    /// CreateAutoScalingGroup held: the launch template exists, the group does not.
    AfterLaunchTemplate,
    /// The first health poll after CreateAutoScalingGroup held: the group exists.
    AfterGroup,
    /// The new release unhealthy: the run waits, polling.
    WhileWaiting,
}

fn killed_then_rerun_converges(point: KillPoint) {
    let fx = Fx::new();
    let amis = fx.bake(&[("www", "1.0.0"), ("www", "1.1.0")]);
    fx.deploy_ok("1.0.0");
    let args = ["www", "--image-tag", "1.1.0", "--health-timeout", "10m"];
    fx.moto.clear_requests();
    match point {
        KillPoint::AfterLaunchTemplate => fx.moto.hold("CreateAutoScalingGroup"),
        KillPoint::AfterGroup => fx.moto.hold_after("DescribeInstanceHealth", "CreateAutoScalingGroup"),
        KillPoint::WhileWaiting => fx.moto.unhealthy(&[&amis[1]]),
    }
    let mut bg = Background::spawn(&mut fx.deploy_cmd(&args));
    match point {
        KillPoint::AfterLaunchTemplate | KillPoint::AfterGroup => {
            eventually("drydock's request is held", RUN, || {
                bg.assert_running("its request to be held");
                (fx.moto.held() >= 1).then_some(())
            });
        }
        KillPoint::WhileWaiting => {
            eventually("drydock polls the new release's health", RUN, || {
                bg.assert_running("the health polls");
                (health_polls_after_create(&fx.moto)? >= 2).then_some(())
            });
        }
    }
    bg.kill9();
    let killed = bg.finish(Duration::from_secs(30));
    assert_eq!(killed.code, None, "killed by a signal: {killed:?}");
    match point {
        KillPoint::AfterLaunchTemplate => {
            assert_eq!(fx.moto.release_hold(), 1);
            assert!(fx.sdk.launch_template_names().contains("www-staging-v002"));
            assert!(fx.sdk.group("www-staging-v002").is_none(), "the held call left no group");
        }
        KillPoint::AfterGroup => {
            assert_eq!(fx.moto.release_hold(), 1);
            let g = fx.must_group("www-staging-v002");
            assert_eq!(tag(&g, "drydock:state").as_deref(), Some("deploying"));
        }
        KillPoint::WhileWaiting => {
            let g = fx.must_group("www-staging-v002");
            assert_eq!(fx.in_service(&g), 0);
            fx.moto.clear_unhealthy();
        }
    }
    assert!(fx.lock_heartbeat().is_some(), "the killed run still holds the lease");

    // The same command, once the killed run's lease is stale.
    fx.wait_lease_stale(1);
    let mut cmd = fx.deploy_cmd(&args);
    let run = common::run(cmd.env("DRYDOCK_LEASE_TTL", "1s"), RUN);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stderr.contains("took over the lease"), "{}", run.stderr);
    let r = only_result(&run);
    assert_eq!(r["outcome"], "deployed", "{r}");
    assert_eq!(r["asg"], "www-staging-v002");
    assert_eq!(r["previous"], "www-staging-v001");
    fx.assert_converged(&amis[1], "www-staging-v002", "www-staging-v001");
}

#[test]
fn killed_after_the_launch_template_the_rerun_converges() {
    killed_then_rerun_converges(KillPoint::AfterLaunchTemplate);
}

#[test]
fn killed_after_the_group_the_rerun_converges() {
    killed_then_rerun_converges(KillPoint::AfterGroup);
}

#[test]
fn killed_while_waiting_the_rerun_converges() {
    killed_then_rerun_converges(KillPoint::WhileWaiting);
}

// ---------------------------------------------------------------------------------------
// 7-8: one operation per cluster
// ---------------------------------------------------------------------------------------

#[test]
fn a_concurrent_deploy_of_the_same_cluster_exits_3_naming_the_holder() {
    let fx = Fx::new();
    fx.bake_one("www", "1.0.0");
    fx.moto.hold("CreateAutoScalingGroup");
    let mut first = Background::spawn(&mut fx.deploy_cmd(&["www", "--image-tag", "1.0.0"]));
    eventually("the first deploy holds the lease", RUN, || {
        first.assert_running("its CreateAutoScalingGroup to be held");
        (fx.moto.held() >= 1).then_some(())
    });

    let started = Instant::now();
    let second = fx.deploy(&["www", "--image-tag", "1.0.0"]);
    let took = started.elapsed();
    assert_eq!(second.code, Some(3), "{second:?}");
    assert!(took < Duration::from_secs(10), "fails at once: {took:?}");
    let r = only_result(&second);
    assert_eq!(r["outcome"], "failed");
    let msg = r["message"].as_str().unwrap_or_default();
    assert!(msg.contains("busy"), "{msg}");
    assert!(msg.contains(" pid "), "names the holder: {msg}");
    assert!(msg.contains("deploy by "), "and its operation: {msg}");
    assert!(fx.sdk.group("www-staging-v001").is_none(), "the second created nothing");

    fx.moto.release_hold();
    let first = first.finish(RUN);
    assert!(!first.timed_out, "{first:?}");
    assert!(!fx.sdk.lock_names().contains(LOCK), "the lease is released once the first deploy ended");
}

#[test]
fn a_stale_lease_is_taken_over_and_a_fresh_one_is_respected() {
    let fx = Fx::new();
    fx.bake(&[("www", "1.0.0"), ("www", "1.1.0")]);

    fx.create_lock("ghost", now() - 600);
    let run = fx.deploy(&["www", "--image-tag", "1.0.0"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stderr.contains("took over the lease of ghost"), "{}", run.stderr);
    assert_eq!(only_result(&run)["outcome"], "deployed");
    assert!(!fx.sdk.lock_names().contains(LOCK));

    fx.create_lock("ghost", now());
    fx.moto.clear_requests();
    let run = fx.deploy(&["www", "--image-tag", "1.1.0"]);
    assert_eq!(run.code, Some(3), "{run:?}");
    let msg = only_result(&run)["message"].as_str().unwrap_or_default().to_owned();
    assert!(msg.contains("deploy by ghost"), "names the holder: {msg}");
    assert_eq!(fx.sdk.group_names(), ["www-staging-v001"], "nothing deployed");
    assert_eq!(fx.lock_heartbeat().map(|hb| now() - hb < 60), Some(true), "ghost's lock is left alone");
    let writes: Vec<_> = fx.moto.requests().into_iter().filter(|(_, a)| !is_read_only(a)).collect();
    assert_eq!(
        writes,
        [("ec2".to_owned(), "CreateSecurityGroup".to_owned())],
        "only the failed attempt to take the lease"
    );
}

/// The brief asks for the holder on stderr: with `--output json` (and in text mode, where
/// results go to stdout) the busy message is only in the result; stderr has the summary.
#[test]
fn a_busy_cluster_names_the_holder_on_stderr() {
    let fx = Fx::new();
    fx.bake_one("www", "1.0.0");
    fx.create_lock("ghost", now());
    let run = fx.deploy(&["www", "--image-tag", "1.0.0"]);
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(run.stderr.contains("ghost"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------
// 9-10: capacity
// ---------------------------------------------------------------------------------------

#[test]
fn a_new_release_gets_the_live_capacity_when_it_exceeds_the_config() {
    let fx = Fx::new();
    fx.bake(&[("www", "1.0.0"), ("www", "1.1.0")]);
    fx.deploy_ok("1.0.0");
    fx.sdk
        .block(
            fx.sdk
                .asg
                .update_auto_scaling_group()
                .auto_scaling_group_name("www-staging-v001")
                .max_size(5)
                .desired_capacity(5)
                .send(),
        )
        .expect("scale v001 to 5");
    eventually("v001 runs 5 InService", RUN, || {
        let g = fx.must_group("www-staging-v001");
        (fx.in_service(&g) == 5).then_some(())
    });

    let r = fx.deploy_ok("1.1.0");
    assert_eq!(r["asg"], "www-staging-v002");
    let g = fx.must_group("www-staging-v002");
    assert_eq!(g.desired_capacity(), Some(5), "the live capacity, not the config's 2");
    assert!(g.max_size().unwrap_or(0) >= 5);
    assert_eq!(instances(&g).len(), 5);
    assert_eq!(fx.in_service(&g), 5);
}

#[test]
fn the_elb_never_has_fewer_healthy_instances_during_a_deploy() {
    let fx = Fx::new();
    let amis = fx.bake(&[("www", "1.0.0"), ("www", "1.1.0")]);
    fx.deploy_ok("1.0.0");
    let before = fx.sdk.in_service(ELB).len();
    assert_eq!(before, 2);

    // The new release is OutOfService at first, so that the samples cover its
    // registration, the wait and the switch; it gets healthy once the sampler has seen
    // enough of the wait.
    fx.moto.unhealthy(&[&amis[1]]);
    fx.moto.clear_requests();
    let sampler = Sampler::start(&fx.moto, ELB);
    let started = Instant::now();
    let mut bg = Background::spawn(&mut fx.deploy_cmd(&["www", "--image-tag", "1.1.0"]));
    eventually("the deploy waits for v002 while sampled", RUN, || {
        bg.assert_running("the wait");
        let waiting = health_polls_after_create(&fx.moto).is_some_and(|n| n >= 2);
        (waiting && sampler.count_after(started) >= 5).then_some(())
    });
    fx.moto.clear_unhealthy();
    let run = bg.finish(RUN);
    // A few samples after the switch too.
    let ended = Instant::now();
    eventually("samples after the deploy", RUN, || (sampler.count_after(ended) >= 2).then_some(()));
    let samples = sampler.finish();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(only_result(&run)["asg"], "www-staging-v002");
    let during: Vec<usize> = samples.iter().filter(|(t, _)| *t >= started).map(|(_, n)| *n).collect();
    assert!(during.len() >= 5, "sampled enough: {during:?}");
    let min = during.iter().copied().min().unwrap_or(0);
    assert!(min >= before, "the ELB had {min} InService instances at one point, {before} before: {during:?}");
}

// ---------------------------------------------------------------------------------------
// 11: --all
// ---------------------------------------------------------------------------------------

#[test]
fn deploy_all_reports_every_service_and_fails_for_the_unhealthy_one() {
    let fx = Fx::new();
    let amis = fx.bake(&[("www", "2.0.0"), ("imageresize", "2.0.0"), ("bookmarks", "2.0.0")]);
    fx.moto.unhealthy(&[&amis[1]]);
    let run = fx.deploy(&["--all", "--image-tag", "2.0.0", "--health-timeout", "2s"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let d = run.json();
    let outcomes: BTreeMap<String, String> = d["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (r["service"].as_str().unwrap_or_default().to_owned(), r["outcome"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    let expected: BTreeMap<String, String> =
        [("bookmarks", "deployed"), ("imageresize", "failed"), ("www", "deployed")]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
    assert_eq!(outcomes, expected, "{d}");

    let failed = fx.must_group("imageresize-staging-v001");
    assert!(failed.load_balancer_names().is_empty());
    assert_eq!(failed.desired_capacity(), Some(0));
    assert_eq!(tag(&failed, "drydock:state").as_deref(), Some("failed"));
    for name in ["www-staging-v001", "bookmarks-staging-v001"] {
        let g = fx.must_group(name);
        assert_eq!(tag(&g, "drydock:state").as_deref(), Some("live"), "{name}");
        assert_eq!(g.load_balancer_names().len(), 1, "{name}");
    }
}
