//! The release lifecycle after the first deploy, against the emulator (moto through the
//! fidelity shim): `promote` (same region, refused, cross-region), `rollback` (warm,
//! cold, collected), `status` and `history` JSON, `gc` (dry run against the real run),
//! and `iam-policy` against every request a whole workflow made.
//!
//! Each test starts its own emulator and its own emulated builder guest
//! (`tests/tools/fake_guest.py`, killed on drop), and works on a private copy of the
//! example tree.

use crate::common;
use crate::common::fixtures::now;

use common::aws::{image_tag, is_read_only, live_instances as instances, tag, Sampler};
use common::fixtures::{eventually, Emulated};

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::process::Command;
use std::time::{Instant, UNIX_EPOCH};

use aws_sdk_autoscaling::types::AutoScalingGroup;
use common::moto::Sdk;
use common::{Run, RUN_TIMEOUT as RUN};
use serde_json::Value;

const WWW: &str = "registry.example.com/dramafever/www";

/// A dr environment in us-west-2: the shape of prod, smaller; every example service.
pub(crate) const DR_TOML: &str = r#"# Disaster recovery: a smaller copy of prod in another region.
region = "us-west-2"

[network]
vpc = "default"
subnets = ["default"]
security_groups = ["default"]

[bake]
instance_type = "t3.small"
timeout = "20m"

[nginx]
listen = "80"
server_name = ["dr.example.com"]
resolver = ["169.254.169.253"]
resolver_valid = "10s"

[services.www]
route = "/"
instance_type = "m5.large"
min = 1
desired = 2
max = 4
listener = { port = 80, protocol = "HTTP" }
health_check = "HTTP:8080/health"
health_timeout = "15m"
keep_releases = 2
standby = "warm"

[services.imageresize]
route = "/img/"
instance_type = "c5.large"
min = 1
max = 2
health_check = "HTTP:8080/healthz"

[services.bookmarks]
route = "/api/bookmarks/"
instance_type = "t3.medium"
min = 1
max = 2
health_check = "TCP:8080"
standby = "cold"
"#;

// ---------------------------------------------------------------------------------------
// Processes and polling
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Observations through the SDK (the rest: common::aws)
// ---------------------------------------------------------------------------------------

fn suspended(g: &AutoScalingGroup) -> Vec<String> {
    let mut v: Vec<String> =
        g.suspended_processes().iter().filter_map(|p| p.process_name().map(str::to_owned)).collect();
    v.sort();
    v
}

fn elb_tags(sdk: &Sdk, name: &str) -> BTreeMap<String, String> {
    let out = sdk.block(sdk.elb.describe_tags().load_balancer_names(name).send()).expect("describe tags");
    out.tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------

/// The emulator, with the emulated builder guest for the whole test; `--output json`.
struct Fx(Emulated);

impl Deref for Fx {
    type Target = Emulated;
    fn deref(&self) -> &Emulated {
        &self.0
    }
}

impl Fx {
    fn new() -> Self {
        Fx(Emulated::with_guest())
    }

    /// `drydock -C TREE --output json ARGS`, polling every 50 ms.
    fn cmd(&self, args: &[&str]) -> Command {
        self.json_cmd(args)
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_json(args)
    }

    /// Bakes `service` at each tag (in staging); returns the AMI ids.
    fn bake(&self, service: &str, tags: &[&str]) -> Vec<String> {
        tags.iter()
            .map(|t| {
                let run = self.run(&["bake", service, "--image-tag", t, "--env", "staging"]);
                assert_eq!(run.code, Some(0), "bake {service} {t}: {run:?}");
                let r = run.only_result("bake");
                let ami = r["ami"].as_str().unwrap_or_default().to_owned();
                assert!(ami.starts_with("ami-"), "bake {service} {t}: {run:?}");
                ami
            })
            .collect()
    }

    /// Deploys `service` at `tag` to staging and asserts it was deployed.
    fn deploy_ok(&self, service: &str, tag: &str) -> Value {
        self.deploy_ok_by(service, tag, None)
    }

    fn deploy_ok_by(&self, service: &str, tag: &str, build_url: Option<&str>) -> Value {
        let mut cmd = self.cmd(&["deploy", service, "--image-tag", tag, "--env", "staging"]);
        if let Some(b) = build_url {
            cmd.env("BUILD_URL", b);
        }
        let run = common::run(&mut cmd, RUN);
        assert_eq!(run.code, Some(0), "deploy {service} {tag}: {run:?}");
        let r = run.only_result("deploy");
        assert_eq!(r["outcome"], "deployed", "{run:?}");
        r
    }
}

/// Asserts the group is the serving release: tagged live, attached to `elb` only, at
/// `desired` with every instance InService.
fn assert_live(sdk: &Sdk, name: &str, elb: &str, desired: i32) -> AutoScalingGroup {
    let g = sdk.must_group(name);
    assert_eq!(tag(&g, "drydock:state").as_deref(), Some("live"), "{name} is tagged live");
    assert_eq!(g.load_balancer_names(), [elb], "{name} is attached to {elb}");
    assert_eq!(g.desired_capacity(), Some(desired), "{name} desired");
    assert_eq!(instances(&g).len(), desired as usize, "{name} runs its desired count");
    let healthy = sdk.in_service(elb);
    let serving = instances(&g).iter().filter(|i| healthy.contains(*i)).count();
    assert_eq!(serving, desired as usize, "every instance of {name} is InService");
    g
}

// ---------------------------------------------------------------------------------------
// The ELB sampler: "never less capacity", watched from outside
// ---------------------------------------------------------------------------------------

/// Runs `args` while sampling `elb`, and holds the run at its most delicate moment: the
/// shim holds its DetachLoadBalancers (the old release leaving the ELB, after the new
/// one is attached) until the sampler has taken 5 samples there, then lets it go on.
/// Asserts that the InService count never fell below the count before the run, and that
/// at the hold both releases served (`peak` InService). Returns the run.
fn run_sampled(fx: &Fx, elb: &str, args: &[&str], peak: usize) -> Run {
    let start = fx.sdk.in_service(elb).len();
    assert!(start > 0, "{elb} serves before the run");
    let sampler = Sampler::start(&fx.moto, elb);
    fx.moto.hold("DetachLoadBalancers");
    let began = Instant::now();
    let mut cmd = fx.cmd(args);
    let run = std::thread::spawn(move || common::run(&mut cmd, RUN));
    eventually("the run reaches DetachLoadBalancers", RUN, || {
        assert!(!run.is_finished(), "the run ended before it detached anything");
        (fx.moto.held() > 0).then_some(())
    });
    let held_at = Instant::now();
    eventually("5 samples at the hold", RUN, || (sampler.count_after(held_at) >= 5).then_some(()));
    fx.moto.release_hold();
    let run = run.join().expect("the run thread");
    let ended = Instant::now();
    let samples = sampler.finish();
    let during: Vec<usize> = samples.iter().filter(|(t, _)| *t >= began && *t <= ended).map(|(_, n)| *n).collect();
    assert!(during.len() >= 5, "sampled {} times during the run: {run:?}", during.len());
    let low = samples.iter().map(|(_, n)| *n).min().unwrap_or(0);
    assert!(low >= start, "the ELB {elb} fell to {low} InService (from {start}): {samples:?}");
    let at_hold: Vec<usize> = samples.iter().filter(|(t, _)| *t > held_at).map(|(_, n)| *n).take(5).collect();
    assert!(at_hold.iter().all(|n| *n == peak), "both releases serve at the switch ({peak}): {at_hold:?}");
    assert_eq!(fx.sdk.in_service(elb).len(), start, "after the run the ELB serves as many as before");
    run
}

// ---------------------------------------------------------------------------------------
// Promote
// ---------------------------------------------------------------------------------------

#[test]
fn promote_in_the_same_region_carries_the_identical_ami() {
    let fx = Fx::new();
    let ami = fx.bake("www", &["1.0.0"]).remove(0);
    fx.deploy_ok("www", "1.0.0");
    let staging_live = fx.sdk.must_group("www-staging-v001");
    assert_eq!(tag(&staging_live, "drydock:ami").as_deref(), Some(ami.as_str()));

    let run = fx.run(&["promote", "www", "--from", "staging", "--to", "prod"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let d = run.json();
    assert_eq!(d["command"], "promote");
    assert_eq!(d["env"], "prod");
    let r = run.only_result("promote");
    assert_eq!(r["service"], "www");
    assert_eq!(r["outcome"], "deployed", "{r}");
    assert_eq!(r["release"], "v001");
    assert_eq!(r["asg"], "www-prod-v001");
    assert_eq!(r["ami"].as_str(), Some(ami.as_str()), "the same AMI id");
    assert_eq!(r["image"], format!("{WWW}:1.0.0"));

    let g = assert_live(&fx.sdk, "www-prod-v001", "www-prod", 4);
    assert_eq!(tag(&g, "drydock:ami").as_deref(), Some(ami.as_str()), "prod runs the staging AMI itself");
    assert_eq!(tag(&g, "drydock:env").as_deref(), Some("prod"));
    assert_eq!(tag(&g, "drydock:image"), Some(format!("{WWW}:1.0.0")));
    let from = tag(&g, "drydock:promoted-from").expect("drydock:promoted-from");
    assert!(from.contains("staging") && from.contains(&ami), "promoted-from names the source: {from}");
    assert_eq!((g.min_size(), g.max_size()), (Some(3), Some(12)), "prod's capacity");
    assert_eq!(fx.sdk.our_images().len(), 1, "nothing was baked or copied");
    assert_eq!(fx.moto.count("CopyImage"), 0);
    // Staging is untouched.
    let s = assert_live(&fx.sdk, "www-staging-v001", "www-staging", 2);
    assert_eq!(instances(&s), instances(&staging_live));
}

#[test]
fn promote_refuses_a_source_that_is_not_fully_healthy() {
    let fx = Fx::new();
    let ami = fx.bake("www", &["1.0.0"]).remove(0);
    fx.deploy_ok("www", "1.0.0");
    fx.moto.unhealthy(&[&ami]);
    eventually("staging's instances report OutOfService", RUN, || {
        let h = fx.sdk.health("www-staging");
        (h.len() == 2 && h.values().all(|(s, _)| s == "OutOfService")).then_some(())
    });
    fx.moto.clear_requests();

    let run = fx.run(&["promote", "www", "--from", "staging", "--to", "prod"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let r = run.only_result("promote");
    assert_eq!(r["outcome"], "failed");
    let msg = r["message"].as_str().unwrap_or_default();
    assert!(msg.contains("refused"), "says refused: {msg}");
    assert!(msg.contains("0/2 InService"), "names the InService count: {msg}");
    assert!(msg.contains("www-staging-v001"), "names the source group: {msg}");

    let reqs = fx.moto.requests();
    for a in ["CreateAutoScalingGroup", "CreateLoadBalancer", "CreateLaunchTemplate", "CopyImage"] {
        assert!(!reqs.iter().any(|(_, x)| x == a), "{a} was sent: {reqs:?}");
    }
    assert!(reqs.iter().all(|(_, a)| is_read_only(a)), "only reads: {reqs:?}");
    assert!(!fx.sdk.group_names().iter().any(|n| n.starts_with("www-prod")), "prod has no group");
    assert!(!fx.sdk.elb_exists("www-prod"), "prod has no ELB");
}

#[test]
fn cross_region_promote_copies_the_ami_with_its_tags_once() {
    let fx = Fx::new();
    fx.tree.write("environments/dr.toml", DR_TOML);
    let ami = fx.bake("www", &["1.0.0"]).remove(0);
    fx.deploy_ok("www", "1.0.0");
    let source = fx.sdk.our_images().into_iter().find(|i| i.image_id() == Some(ami.as_str())).expect("source");

    let run = fx.run(&["promote", "www", "--from", "staging", "--to", "dr"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let r = run.only_result("promote");
    assert_eq!(r["outcome"], "deployed", "{r}");
    assert_eq!(r["asg"], "www-dr-v001");
    assert_eq!(fx.moto.count("CopyImage"), 1);

    let west = fx.moto.sdk_in("us-west-2");
    let copies = west.our_images();
    assert_eq!(copies.len(), 1, "one image in us-west-2: {copies:?}");
    let copy = &copies[0];
    let copy_id = copy.image_id().unwrap_or_default().to_owned();
    assert!(copy_id.starts_with("ami-") && copy_id != ami, "a new id in us-west-2: {copy_id}");
    assert_eq!(r["ami"].as_str(), Some(copy_id.as_str()));
    assert_eq!(image_tag(copy, "drydock:copied-from"), Some(ami.clone()));
    for k in ["drydock:service", "drydock:image", "drydock:recipe"] {
        assert!(image_tag(&source, k).is_some(), "the source has {k}");
        assert_eq!(image_tag(copy, k), image_tag(&source, k), "{k} copied");
    }
    let g = assert_live(&west, "www-dr-v001", "www-dr", 2);
    assert_eq!(tag(&g, "drydock:ami"), Some(copy_id.clone()), "dr runs the copy");
    assert!(tag(&g, "drydock:promoted-from").is_some());
    assert!(fx.sdk.group("www-dr-v001").is_none(), "nothing of dr in us-east-1");

    fx.moto.clear_requests();
    let again = fx.run(&["promote", "www", "--from", "staging", "--to", "dr"]);
    assert_eq!(again.code, Some(0), "{again:?}");
    let r = again.only_result("promote");
    assert_eq!(r["outcome"], "unchanged", "{r}");
    assert_eq!(fx.moto.count("CopyImage"), 0, "no second copy");
    assert_eq!(fx.moto.count("CreateAutoScalingGroup"), 0);
    assert_eq!(west.our_images().len(), 1);
}

// ---------------------------------------------------------------------------------------
// Rollback
// ---------------------------------------------------------------------------------------

#[test]
fn rollback_to_a_warm_standby_reattaches_it_without_launching() {
    let fx = Fx::new();
    let amis = fx.bake("www", &["1.0.0", "1.1.0"]);
    fx.deploy_ok("www", "1.0.0");
    fx.deploy_ok("www", "1.1.0");
    let v001_before = fx.sdk.must_group("www-staging-v001");
    assert_eq!(tag(&v001_before, "drydock:state").as_deref(), Some("standby"));
    assert!(suspended(&v001_before).is_empty(), "nothing may resize it: not suspended");
    let lts_before = fx.sdk.launch_template_names();
    fx.moto.clear_requests();

    let run = run_sampled(&fx, "www-staging", &["rollback", "www", "--env", "staging"], 4);
    assert_eq!(run.code, Some(0), "{run:?}");
    let r = run.only_result("rollback");
    assert_eq!(r["outcome"], "rolled_back", "{r}");
    assert_eq!(r["release"], "v001");
    assert_eq!(r["asg"], "www-staging-v001");
    assert_eq!(r["ami"].as_str(), Some(amis[0].as_str()));
    assert_eq!(r["previous"], "www-staging-v002");

    let v001 = assert_live(&fx.sdk, "www-staging-v001", "www-staging", 2);
    assert_eq!(instances(&v001), instances(&v001_before), "the very instances that waited");
    assert!(suspended(&v001).is_empty(), "processes resumed: {:?}", suspended(&v001));
    let v002 = fx.sdk.must_group("www-staging-v002");
    assert!(v002.load_balancer_names().is_empty(), "v002 detached");
    assert_eq!(tag(&v002, "drydock:state").as_deref(), Some("standby"));
    assert_eq!(instances(&v002).len(), 2, "v002 is warm");
    assert!(suspended(&v002).is_empty(), "nothing may resize v002: not suspended");
    assert!(tag(&v002, "drydock:expires-at").is_some_and(|t| t.parse::<i64>().is_ok_and(|t| t > now())));
    let registered = fx.sdk.health("www-staging");
    assert_eq!(registered.keys().cloned().collect::<BTreeSet<_>>(), instances(&v001), "only v001 is registered");

    let reqs = fx.moto.requests();
    for a in ["RunInstances", "CreateAutoScalingGroup"] {
        assert!(!reqs.iter().any(|(_, x)| x == a), "{a} was sent: {reqs:?}");
    }
    assert_eq!(fx.moto.count("CreateLaunchTemplate"), 0, "no launch template: {reqs:?}");
    assert_eq!(fx.sdk.launch_template_names(), lts_before, "no release launch template made, the lock released");
    assert_eq!(fx.sdk.group_names().len(), 2);
}

#[test]
fn a_rolled_back_warm_standby_sheds_its_expiry() {
    let fx = Fx::new();
    fx.bake("www", &["1.0.0", "1.1.0"]);
    fx.deploy_ok("www", "1.0.0");
    fx.deploy_ok("www", "1.1.0");
    assert!(tag(&fx.sdk.must_group("www-staging-v001"), "drydock:expires-at").is_some(), "a warm standby expires");
    let run = fx.run(&["rollback", "www", "--env", "staging"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let v001 = assert_live(&fx.sdk, "www-staging-v001", "www-staging", 2);
    // The tag marks standby groups (SPEC "Tags"); gc clears it (to "") when a standby goes cold.
    let expiry = tag(&v001, "drydock:expires-at");
    assert!(expiry.as_deref().is_none_or(str::is_empty), "the live release still expires at {expiry:?}");
}

#[test]
fn rollback_to_a_cold_standby_scales_it_up_first() {
    let fx = Fx::new();
    let amis = fx.bake("imageresize", &["2.0.0", "2.1.0"]);
    fx.deploy_ok("imageresize", "2.0.0");
    fx.deploy_ok("imageresize", "2.1.0");
    let v001_before = fx.sdk.must_group("imageresize-staging-v001");
    assert_eq!(v001_before.desired_capacity(), Some(0), "cold: scaled to 0");
    assert!(v001_before.load_balancer_names().is_empty());
    let live_desired = fx.sdk.must_group("imageresize-staging-v002").desired_capacity().expect("desired");
    fx.moto.clear_requests();

    let run = run_sampled(&fx, "imageresize-staging", &["rollback", "imageresize", "--env", "staging"], 2);
    assert_eq!(run.code, Some(0), "{run:?}");
    let r = run.only_result("rollback");
    assert_eq!(r["outcome"], "rolled_back", "{r}");
    assert_eq!(r["asg"], "imageresize-staging-v001");
    assert_eq!(r["ami"].as_str(), Some(amis[0].as_str()));

    assert_live(&fx.sdk, "imageresize-staging-v001", "imageresize-staging", live_desired);
    let v002 = fx.sdk.must_group("imageresize-staging-v002");
    assert!(v002.load_balancer_names().is_empty(), "v002 detached");
    assert_eq!(v002.desired_capacity(), Some(0), "v002 is now the cold standby");
    assert_eq!(tag(&v002, "drydock:state").as_deref(), Some("standby"));
    assert_eq!(fx.moto.count("CreateAutoScalingGroup"), 0, "no new group");
}

#[test]
fn rollback_to_a_collected_release_redeploys_its_ami_as_a_new_release() {
    let fx = Fx::new();
    fx.tree
        .replace(
            "environments/staging.toml",
            "keep_releases = 2\nstandby = \"warm\"",
            "keep_releases = 0\nstandby = \"warm\"",
        )
        .expect("keep no standby");
    let amis = fx.bake("www", &["1.0.0", "1.1.0"]);
    fx.deploy_ok("www", "1.0.0");
    fx.deploy_ok("www", "1.1.0");
    assert_eq!(fx.sdk.group_names(), ["www-staging-v002"], "v001 was collected at the switch");

    let run = fx.run(&["rollback", "www", "--env", "staging", "--to", "v001"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let r = run.only_result("rollback");
    assert_eq!(r["outcome"], "rolled_back", "{r}");
    assert_eq!(r["release"], "v003", "a new release");
    assert_eq!(r["ami"].as_str(), Some(amis[0].as_str()));
    let g = assert_live(&fx.sdk, "www-staging-v003", "www-staging", 2);
    assert_eq!(tag(&g, "drydock:ami"), Some(amis[0].clone()), "v003 runs v001's AMI");
    assert_eq!(tag(&g, "drydock:image"), Some(format!("{WWW}:1.0.0")));

    let hist = fx.run(&["history", "www", "--env", "staging"]);
    assert_eq!(hist.code, Some(0), "{hist:?}");
    let h = hist.json();
    let outcome = |v: &str| -> Value {
        h["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["release"] == v)
            .map(|r| r["outcome"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(outcome("v001"), "collected", "{h}");
    assert_eq!(outcome("v003"), "live", "{h}");
    assert_eq!(outcome("v002"), "collected", "keep_releases = 0: {h}");
}

// ---------------------------------------------------------------------------------------
// Status and history
// ---------------------------------------------------------------------------------------

fn rfc3339(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let t = humantime::parse_rfc3339(s).unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"));
    t.duration_since(UNIX_EPOCH).expect("after the epoch").as_secs() as i64
}

#[test]
fn status_and_history_json_field_by_field() {
    let fx = Fx::new();
    let amis = fx.bake("www", &["T1", "T2"]);
    let before = now();
    fx.deploy_ok_by("www", "T1", Some("https://jenkins.example.com/job/www/1/"));
    fx.deploy_ok_by("www", "T2", Some("https://jenkins.example.com/job/www/2/"));
    let after = now();

    let run = fx.run(&["status", "--env", "staging"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let d = run.json();
    assert_eq!(d["command"], "status");
    assert_eq!(d["env"], "staging");
    let results = d["results"].as_array().expect("results");
    let services: BTreeSet<&str> = results.iter().filter_map(|r| r["service"].as_str()).collect();
    assert_eq!(services, BTreeSet::from(["www", "imageresize", "bookmarks"]), "{d}");
    for r in results {
        assert_eq!(r["env"], "staging", "{r}");
        if r["service"] != "www" {
            assert!(r["live"].is_null(), "nothing deployed: live is null: {r}");
            assert_eq!(r["standby"].as_array().map(Vec::len), Some(0), "{r}");
        }
    }
    let www = results.iter().find(|r| r["service"] == "www").expect("www");
    let live = &www["live"];
    assert_eq!(live["release"], "v002", "{www}");
    assert_eq!(live["asg"], "www-staging-v002");
    assert_eq!(live["ami"].as_str(), Some(amis[1].as_str()));
    assert_eq!(live["image"], format!("{WWW}:T2"));
    assert_eq!(live["healthy"], 2);
    assert_eq!(live["desired"], 2);
    assert_eq!(live["deployed_by"], "https://jenkins.example.com/job/www/2/");
    assert!((before..=after).contains(&rfc3339(&live["deployed_at"])), "{live}");
    let standby = www["standby"].as_array().expect("standby");
    assert_eq!(standby.len(), 1, "{www}");
    let s = &standby[0];
    assert_eq!(s["release"], "v001");
    assert_eq!(s["asg"], "www-staging-v001");
    assert_eq!(s["mode"], "warm");
    assert_eq!(s["ami"].as_str(), Some(amis[0].as_str()));
    assert_eq!(s["image"], format!("{WWW}:T1"));
    let expires = rfc3339(&s["expires_at"]);
    assert!((before + 3600..=after + 3600).contains(&expires), "expires an hour (standby_ttl) after the switch: {s}");
    assert_eq!(www["elb"]["name"], "www-staging");
    assert!(www["elb"]["dns"].as_str().is_some_and(|d| !d.is_empty()), "{www}");

    let hist = fx.run(&["history", "www", "--env", "staging"]);
    assert_eq!(hist.code, Some(0), "{hist:?}");
    let h = hist.json();
    assert_eq!(h["command"], "history");
    assert_eq!(h["env"], "staging");
    let rs = h["results"].as_array().expect("results");
    assert_eq!(rs.len(), 2, "{h}");
    let expect = [("v002", "T2", 1, "live", "2"), ("v001", "T1", 0, "standby", "1")];
    let mut last_at = i64::MAX;
    for (r, (release, t, i, outcome, build)) in rs.iter().zip(expect) {
        assert_eq!(r["release"], release, "newest first: {h}");
        assert_eq!(r["asg"], format!("www-staging-{release}"));
        assert_eq!(r["image"], format!("{WWW}:{t}"));
        assert_eq!(r["ami"].as_str(), Some(amis[i].as_str()));
        assert_eq!(r["outcome"], outcome);
        assert_eq!(r["deployed_by"], format!("https://jenkins.example.com/job/www/{build}/"));
        let at = rfc3339(&r["deployed_at"]);
        assert!((before..=after).contains(&at) && at <= last_at, "{r}");
        last_at = at;
    }
}

// ---------------------------------------------------------------------------------------
// gc
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct GroupSnap {
    min: i32,
    desired: i32,
    max: i32,
    load_balancers: Vec<String>,
    suspended: Vec<String>,
    tags: BTreeMap<String, String>,
    instances: BTreeSet<String>,
}

/// What gc may change: groups, our AMIs with their snapshots, launch templates, the
/// ELB's tags (history).
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    groups: BTreeMap<String, GroupSnap>,
    amis: BTreeMap<String, BTreeSet<String>>,
    snapshots: BTreeSet<String>,
    launch_templates: BTreeSet<String>,
    elb_tags: BTreeMap<String, String>,
}

fn snapshot_state(sdk: &Sdk) -> State {
    let groups = sdk
        .groups()
        .iter()
        .map(|g| {
            (
                g.auto_scaling_group_name().unwrap_or_default().to_owned(),
                GroupSnap {
                    min: g.min_size().unwrap_or(-1),
                    desired: g.desired_capacity().unwrap_or(-1),
                    max: g.max_size().unwrap_or(-1),
                    load_balancers: g.load_balancer_names().to_vec(),
                    suspended: suspended(g),
                    tags: g
                        .tags()
                        .iter()
                        .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
                        .collect(),
                    instances: instances(g),
                },
            )
        })
        .collect();
    let amis: BTreeMap<String, BTreeSet<String>> = sdk
        .our_images()
        .iter()
        .map(|i| {
            let snaps = i
                .block_device_mappings()
                .iter()
                .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_owned))
                .collect();
            (i.image_id().unwrap_or_default().to_owned(), snaps)
        })
        .collect();
    let wanted: BTreeSet<String> = amis.values().flatten().cloned().collect();
    let snapshots = sdk
        .block(sdk.ec2.describe_snapshots().owner_ids("self").send())
        .expect("describe snapshots")
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_owned))
        .filter(|s| wanted.contains(s))
        .collect();
    State {
        groups,
        amis,
        snapshots,
        launch_templates: sdk.launch_template_names(),
        elb_tags: elb_tags(sdk, "www-staging"),
    }
}

/// `state` with the plan's steps applied, as the emulator should show them.
fn apply_steps(state: &State, steps: &[Value]) -> State {
    let mut s = state.clone();
    for step in steps {
        let d = &step["detail"];
        let str_of = |k: &str| d[k].as_str().unwrap_or_else(|| panic!("{k} in {d}")).to_owned();
        let num = |k: &str| d[k].as_i64().unwrap_or_else(|| panic!("{k} in {d}")) as i32;
        match d["step"].as_str().unwrap_or_default() {
            "delete_group" => {
                assert!(s.groups.remove(&str_of("group")).is_some(), "the plan deletes a group that exists: {d}");
            }
            "delete_launch_template" => {
                assert!(s.launch_templates.remove(&str_of("name")), "the plan deletes a template that exists: {d}");
            }
            "scale_to" => {
                let g = s.groups.get_mut(&str_of("group")).expect("scaled group exists");
                (g.min, g.desired, g.max) = (num("min"), num("desired"), num("max"));
                assert_eq!(g.desired, 0, "gc only scales in: {d}");
                g.instances.clear();
            }
            "resume" => s.groups.get_mut(&str_of("group")).expect("resumed group exists").suspended.clear(),
            "suspend" => panic!("gc does not suspend: {d}"),
            // A warm standby going cold keeps its alarms and schedules suspended (issue 16).
            "resume_for_scale_in" => s
                .groups
                .get_mut(&str_of("group"))
                .expect("resumed group exists")
                .suspended
                .retain(|p| p == "AlarmNotification" || p == "ScheduledActions"),
            "suspend_scaling" => {
                let g = s.groups.get_mut(&str_of("group")).expect("suspended group exists");
                g.suspended.extend(["AlarmNotification".to_owned(), "ScheduledActions".to_owned()]);
            }
            "tag" => {
                let g = s.groups.get_mut(&str_of("group")).expect("tagged group exists");
                for kv in d["tags"].as_array().expect("tags") {
                    let k = kv[0].as_str().expect("key").to_owned();
                    g.tags.insert(k, kv[1].as_str().expect("value").to_owned());
                }
            }
            "deregister_image" => {
                let snaps = s.amis.remove(&str_of("ami")).expect("the plan deregisters an AMI that exists");
                for sn in snaps {
                    s.snapshots.remove(&sn);
                }
            }
            "unrecord" => {
                for k in d["keys"].as_array().expect("keys") {
                    s.elb_tags.remove(k.as_str().expect("key"));
                }
            }
            other => panic!("unexpected gc step {other}: {d}"),
        }
    }
    s
}

const GC_SETTINGS: &str = "[gc]\nami_retention = \"0s\"\nkeep_amis = 1\n\n[nginx]";

/// What a `gc --env staging --dry-run` planned and what the real `gc` then did.
struct GcRound {
    old: State,
    steps: Vec<Value>,
    kinds: Vec<String>,
    new: State,
    real: Run,
}

/// Snapshots the state, runs `gc --dry-run` (asserting it changes nothing and sends only
/// reads), collects its plan, runs the real `gc` and snapshots again.
fn gc_round(fx: &Fx) -> GcRound {
    let old = snapshot_state(&fx.sdk);
    assert!(old.snapshots.len() >= old.amis.len(), "the AMIs' snapshots are visible: {old:?}");
    fx.moto.clear_requests();
    let dry = fx.run(&["gc", "--env", "staging", "--dry-run"]);
    assert_eq!(dry.code, Some(0), "{dry:?}");
    assert_eq!(snapshot_state(&fx.sdk), old, "a dry run changes nothing");
    let reqs = fx.moto.requests();
    assert!(!reqs.is_empty());
    let writes: Vec<_> = reqs.iter().filter(|(_, a)| !is_read_only(a)).collect();
    assert!(writes.is_empty(), "the dry run mutated: {writes:?}");

    let d = dry.json();
    assert_eq!(d["command"], "gc");
    assert_eq!(d["env"], "staging");
    let mut steps: Vec<Value> = Vec::new();
    for r in d["results"].as_array().expect("results") {
        // As for deploy: a dry run with nothing to do says `unchanged`.
        let planned = r["plan"].as_array().is_some_and(|p| !p.is_empty());
        assert_eq!(r["outcome"], if planned { "planned" } else { "unchanged" }, "{r}");
        steps.extend(r["plan"].as_array().cloned().unwrap_or_default());
    }
    let kinds = steps.iter().map(|s| s["step"].as_str().unwrap_or_default().to_owned()).collect();
    let real = fx.run(&["gc", "--env", "staging"]);
    assert_eq!(real.code, Some(0), "{real:?}");
    let new = snapshot_state(&fx.sdk);
    GcRound { old, steps, kinds, new, real }
}

#[test]
fn gc_dry_run_changes_nothing_and_gc_does_exactly_its_plan() {
    let fx = Fx::new();
    let staging = "environments/staging.toml";
    fx.tree.replace(staging, "[nginx]", GC_SETTINGS).expect("gc settings");
    fx.tree
        .replace(
            staging,
            "keep_releases = 2\nstandby = \"warm\"\nstandby_ttl = \"1h\"",
            "keep_releases = 1\nstandby = \"warm\"\nstandby_ttl = \"1s\"",
        )
        .expect("www: keep one standby for a second");
    // Four AMIs; the last is never deployed. v001 is deleted at the third switch (keep 1),
    // so T1's AMI and T4's are unused: with keep_amis = 1 at least one is deregistered.
    let amis = fx.bake("www", &["T1", "T2", "T3", "T4"]);
    for t in ["T1", "T2", "T3"] {
        fx.deploy_ok("www", t);
    }
    assert_eq!(
        fx.sdk.group_names().into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from(["www-staging-v002".to_owned(), "www-staging-v003".to_owned()])
    );
    // The warm standby's TTL runs out (drydock compares whole seconds).
    let expires: i64 = tag(&fx.sdk.must_group("www-staging-v002"), "drydock:expires-at")
        .and_then(|v| v.parse().ok())
        .expect("v002 expires");
    eventually("v002's standby TTL is past", RUN, || (now() > expires).then_some(()));

    let GcRound { old, steps, kinds, new, real } = gc_round(&fx);
    assert_eq!(old.amis.len(), 4);
    let names_v002 = |s: &&Value| s["detail"]["group"] == "www-staging-v002";
    assert!(
        steps.iter().filter(names_v002).any(|s| s["detail"]["step"] == "scale_to" && s["detail"]["desired"] == 0),
        "the expired warm standby goes cold: {kinds:?}"
    );
    let deregistered: Vec<&str> = steps
        .iter()
        .filter(|s| s["detail"]["step"] == "deregister_image")
        .filter_map(|s| s["detail"]["ami"].as_str())
        .collect();
    assert!(!deregistered.is_empty(), "an unused AMI is deregistered: {kinds:?}");
    for a in &deregistered {
        assert!([amis[0].as_str(), amis[3].as_str()].contains(a), "only unused AMIs ({}, {}): {a}", amis[0], amis[3]);
    }
    assert!(
        !steps.iter().any(|s| s.to_string().contains("www-staging-v003")),
        "the plan never names the live group: {steps:?}"
    );

    let d = real.json();
    for r in d["results"].as_array().expect("results") {
        assert_ne!(r["outcome"], "failed", "{r}");
    }
    assert_eq!(new, apply_steps(&old, &steps), "gc did exactly its plan: {kinds:?}");
    assert_eq!(new.groups["www-staging-v003"], old.groups["www-staging-v003"], "the live group untouched");
    let v002 = &new.groups["www-staging-v002"];
    assert_eq!((v002.desired, v002.instances.len()), (0, 0), "the expired standby is cold");
}

/// The seconds-since-epoch CreationDate of an AMI.
fn created(sdk: &Sdk, ami: &str) -> i64 {
    let out = sdk.block(sdk.ec2.describe_images().image_ids(ami).send()).expect("describe image");
    let d = out.images()[0].creation_date().expect("creation date").to_owned();
    aws_smithy_types::DateTime::from_str(&d, aws_smithy_types::date_time::Format::DateTime).expect("a date").secs()
}

#[test]
fn gc_dry_run_lists_the_ami_that_a_deleted_group_frees() {
    let fx = Fx::new();
    let staging = "environments/staging.toml";
    fx.tree.replace(staging, "[nginx]", GC_SETTINGS).expect("gc settings");
    // T1 is baked a clock second before the others, so that keep_amis = 1 never keeps it.
    let t1 = fx.bake("www", &["T1"]).remove(0);
    let t1_created = created(&fx.sdk, &t1);
    eventually("the clock passes T1's creation second", RUN, || (now() > t1_created).then_some(()));
    fx.bake("www", &["T2", "T3"]);
    for t in ["T1", "T2", "T3"] {
        fx.deploy_ok("www", t);
    }
    // keep_releases 2 → 1 after the fact: gc now deletes v001, the only user of T1's AMI.
    fx.tree
        .replace(staging, "keep_releases = 2\nstandby = \"warm\"", "keep_releases = 1\nstandby = \"warm\"")
        .expect("keep 1");

    let GcRound { old, steps, kinds, new, .. } = gc_round(&fx);
    assert!(kinds.iter().any(|k| k == "delete group www-staging-v001"), "v001 is beyond keep_releases: {kinds:?}");
    let gone: Vec<&String> = old.amis.keys().filter(|a| !new.amis.contains_key(*a)).collect();
    assert_eq!(
        new,
        apply_steps(&old, &steps),
        "the real gc did exactly the dry run's plan {kinds:?}; AMIs gone: {gone:?} (T1 is {t1})"
    );
}

/// gc's outcomes are the contract's, plus `collected`, which the README documents as a
/// refinement of the contract (gc neither deploys nor leaves things unchanged).
#[test]
fn gc_outcomes_are_the_contracts_outcomes() {
    let fx = Fx::new();
    fx.tree
        .replace("environments/staging.toml", "standby_ttl = \"1h\"", "standby_ttl = \"1s\"")
        .expect("a short standby TTL");
    fx.bake("www", &["T1", "T2"]);
    fx.deploy_ok("www", "T1");
    fx.deploy_ok("www", "T2");
    let expires: i64 = tag(&fx.sdk.must_group("www-staging-v001"), "drydock:expires-at")
        .and_then(|v| v.parse().ok())
        .expect("v001 expires");
    eventually("v001's standby TTL is past", RUN, || (now() > expires).then_some(()));
    let run = fx.run(&["gc", "--env", "staging"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(fx.sdk.must_group("www-staging-v001").desired_capacity(), Some(0), "gc did collect");
    let spec = ["deployed", "unchanged", "rolled_back", "failed", "planned", "baked", "reused", "collected"];
    let d = run.json();
    let outcomes: Vec<&str> =
        d["results"].as_array().expect("results").iter().filter_map(|r| r["outcome"].as_str()).collect();
    for o in &outcomes {
        assert!(spec.contains(o), "{o}");
    }
    assert!(outcomes.contains(&"collected"), "{outcomes:?}");
    let readme = std::fs::read_to_string(common::example_root().join("README.md")).expect("README");
    assert!(readme.contains("`collected`"), "the README documents the extra outcome");
}

// ---------------------------------------------------------------------------------------
// iam-policy
// ---------------------------------------------------------------------------------------

#[test]
fn the_iam_policy_grants_every_request_of_a_whole_workflow() {
    let fx = Fx::new();
    fx.tree.write("environments/dr.toml", DR_TOML);
    let staging = "environments/staging.toml";
    fx.tree.replace(staging, "[nginx]", "[gc]\nami_retention = \"0s\"\nkeep_amis = 1\n\n[nginx]").expect("gc settings");
    // A policy: the warm standby is suspended, and the rollback resumes it.
    fx.tree.with_cpu_policy();
    fx.moto.clear_requests();

    let ok = |args: &[&str]| {
        let run = fx.run(args);
        assert_eq!(run.code, Some(0), "{args:?}: {run:?}");
    };
    let amis = fx.bake("www", &["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]);
    fx.deploy_ok("www", "1.0.0");
    fx.deploy_ok("www", "1.1.0");
    ok(&["rollback", "www", "--env", "staging"]);
    ok(&["promote", "www", "--from", "staging", "--to", "prod"]);
    ok(&["promote", "www", "--from", "staging", "--to", "dr"]);
    ok(&["status"]);
    ok(&["history", "www", "--env", "staging"]);
    // A deploy that fails its health gate (and is compensated).
    fx.moto.unhealthy(&[&amis[2]]);
    // A short lease TTL: the heartbeat (CreateTags on the lock) is renewed while it waits.
    let mut cmd = fx.cmd(&["deploy", "www", "--image-tag", "1.2.0", "--env", "staging", "--health-timeout", "3s"]);
    let failing = common::run(cmd.env("DRYDOCK_LEASE_TTL", "2s"), RUN);
    assert_eq!(failing.code, Some(1), "{failing:?}");
    ok(&["gc", "--env", "staging"]);

    let recorded: BTreeSet<String> = fx.moto.requests().into_iter().map(|(s, a)| format!("{s}:{a}")).collect();
    for a in [
        "ec2:RunInstances",
        "ec2:CreateImage",
        "ec2:CopyImage",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:ResumeProcesses",
        "autoscaling:DeleteAutoScalingGroup",
        "elasticloadbalancing:CreateLoadBalancer",
        "ec2:DeregisterImage",
    ] {
        assert!(recorded.contains(a), "the workflow exercised {a}: {recorded:?}");
    }

    let run = common::run(common::drydock(&fx.moto.url()).arg("iam-policy"), RUN);
    assert_eq!(run.code, Some(0), "{run:?}");
    let policy: Value = serde_json::from_str(&run.stdout).expect("the policy is JSON");
    assert_eq!(policy["Version"], "2012-10-17");
    let mut granted = BTreeSet::new();
    for s in policy["Statement"].as_array().expect("statements") {
        // Deny statements (encrypted volumes) grant nothing.
        if s["Effect"] == "Deny" {
            continue;
        }
        assert_eq!(s["Effect"], "Allow", "{s}");
        match &s["Action"] {
            Value::String(a) => {
                granted.insert(a.clone());
            }
            Value::Array(v) => granted.extend(v.iter().filter_map(|a| a.as_str().map(str::to_owned))),
            other => panic!("Action is {other}"),
        }
    }
    let prefix = |service: &str| match service {
        "ec2" => "ec2",
        "autoscaling" => "autoscaling",
        "elasticloadbalancing" => "elasticloadbalancing",
        other => panic!("drydock called an unexpected service {other}"),
    };
    let missing: Vec<&String> = recorded
        .iter()
        .filter(|sa| {
            let (s, a) = sa.split_once(':').expect("service:action");
            !granted.contains(&format!("{}:{a}", prefix(s)))
        })
        .collect();
    assert!(missing.is_empty(), "requests the policy does not grant: {missing:?}\ngranted: {granted:?}");

    // Not only the actions: every request, with the tags of what it touched, passes the
    // policy's conditions (issue 12 (8)).
    let log = fx.moto.request_log();
    assert!(log.len() > 50, "the recorder keeps each request: {}", log.len());
    let mut denied = Vec::new();
    let mut checked = BTreeSet::new();
    for entry in &log {
        let call: drydock::iam::requests::Call =
            serde_json::from_value(entry.clone()).unwrap_or_else(|e| panic!("{e}: {entry}"));
        assert!(
            call.resources.iter().all(|r| !r.reference.is_empty()),
            "the recorder looked up every resource: {entry}"
        );
        for (a, d) in drydock::iam::eval::denied(&policy, &call).unwrap_or_else(|e| panic!("{e}")) {
            denied.push(format!("{d:?}: {} on {} in {:?} (request {})", a.action, a.resource, a.context, call.action));
        }
        checked.insert(format!("{}:{}", call.service, call.action));
    }
    assert!(
        denied.is_empty(),
        "the policy's conditions deny {} request(s) of the workflow:\n{}",
        denied.len(),
        denied.join("\n")
    );
    for a in [
        "ec2:CreateTags",
        "ec2:TerminateInstances",
        "ec2:DeleteLaunchTemplate",
        "ec2:CreateSecurityGroup",
        "ec2:DeleteSecurityGroup",
        "autoscaling:CreateOrUpdateTags",
        "ec2:DeleteSnapshot",
    ] {
        assert!(checked.contains(a), "{a} was checked against the conditions: {checked:?}");
    }
}

// ---------------------------------------------------------------------------------------
// secrets (issue 12 (7))
// ---------------------------------------------------------------------------------------

/// A Jenkins BUILD_URL with `user:token@` reaches no AWS request (lock holder, group,
/// AMI, snapshot, ELB history) and no output: the URL is written without its credentials.
#[test]
fn no_request_carries_the_credentials_of_a_build_url() {
    let fx = Fx::new();
    let url = "https://bob:hunter2@ci.example.com/job/www/42/";
    let clean = "https://ci.example.com/job/www/42/";
    let mut bake = fx.cmd(&["bake", "www", "--image-tag", "1.0.0", "--env", "staging"]);
    let baked = common::run(bake.env("BUILD_URL", url), RUN);
    assert_eq!(baked.code, Some(0), "{baked:?}");
    let mut deploy = fx.cmd(&["deploy", "www", "--image-tag", "1.0.0", "--env", "staging"]);
    let deployed = common::run(deploy.env("BUILD_URL", url), RUN);
    assert_eq!(deployed.code, Some(0), "{deployed:?}");
    for run in [&baked, &deployed] {
        assert!(!run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"), "{run:?}");
    }

    let log = fx.moto.request_log();
    let leaks: Vec<String> = log
        .iter()
        .filter(|e| e["params"].to_string().contains("hunter2"))
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(leaks.is_empty(), "requests that carry the password: {leaks:?}");
    // The URL itself is still recorded, where it was before.
    let with_url: BTreeSet<&str> =
        log.iter().filter(|e| e["params"].to_string().contains(clean)).filter_map(|e| e["action"].as_str()).collect();
    // The lease lock (CreateSecurityGroup) names the holder; the release's launch template
    // does not carry the URL.
    for action in ["CreateImage", "CreateSecurityGroup", "CreateAutoScalingGroup", "AddTags"] {
        assert!(with_url.contains(action), "{action} records {clean}: {with_url:?}");
    }
    let image = fx.sdk.block(fx.sdk.ec2.describe_images().owners("self").send()).expect("describe images");
    let build: Vec<&str> = image
        .images()
        .iter()
        .flat_map(|i| i.tags())
        .filter(|t| t.key() == Some("drydock:build"))
        .filter_map(|t| t.value())
        .collect();
    assert_eq!(build, [clean], "the AMI's drydock:build");
}
