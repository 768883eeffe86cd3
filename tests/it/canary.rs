//! Progressive delivery (issue #17) against the emulator: the alarm gate before any
//! change, the canary and its hold, the bake time and its automatic rollback, and a
//! `kill -9` during the hold. CloudWatch alarms are moto's, reached through the shim's
//! rpc-v2-cbor patch (k); the tests set their state with SetAlarmState.

use std::time::Duration;

use serde_json::Value;

use crate::common::aws::{is_read_only, tag};
use crate::common::fixtures::{eventually, rerun_past_a_dead_lease, Background, Emulated};
use crate::common::{Run, RUN_TIMEOUT as RUN};

const ELB: &str = "www-staging";
const ALARM: &str = "www-staging-5xx";
const V1: &str = "www-staging-v001";
const V2: &str = "www-staging-v002";

/// The example tree with www's progressive delivery keys (`extra` lines) in staging, v1
/// baked and deployed (a first release has no canary: there is nothing beside it), and
/// the 5xx alarm created (state INSUFFICIENT_DATA, as a new alarm is).
fn fixture(extra: &str) -> (Emulated, String) {
    let fx = Emulated::new();
    let amis = fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
    let run = fx.run_json(&["deploy", "www", "--env", "staging", "--ami", &amis[0]]);
    assert_eq!(run.code, Some(0), "first deploy: {run:?}");
    fx.sdk.put_5xx_alarm(ALARM, ELB);
    fx.tree
        .replace("environments/staging.toml", "standby_ttl = \"1h\"\n", &format!("standby_ttl = \"1h\"\n{extra}\n"))
        .expect("edit staging.toml");
    let v2 = amis[1].clone();
    (fx, v2)
}

fn result(run: &Run) -> Value {
    run.only_result("deploy")
}

fn deploy_cmd(fx: &Emulated, ami: &str, more: &[&str]) -> std::process::Command {
    let mut cmd = fx.json_cmd(&["deploy", "www", "--env", "staging", "--ami", ami]);
    cmd.args(more);
    cmd
}

/// The group's tags that describe its role (`drydock:state`, `drydock:previous`, …).
fn role_tags(fx: &Emulated, group: &str) -> Vec<(String, String)> {
    let g = fx.sdk.must_group(group);
    let mut t: Vec<(String, String)> = g
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .filter(|(k, _)| k.starts_with("drydock:"))
        .collect();
    t.sort();
    t
}

#[test]
fn a_canary_holds_beside_the_live_release_then_scales_up_and_switches() {
    let (fx, v2) = fixture("canary = { instances = 1, hold = \"2s\" }\nalarms = [\"www-staging-5xx\"]");
    let run = crate::common::run(&mut deploy_cmd(&fx, &v2, &[]), RUN);
    assert_eq!(run.code, Some(0), "{run:?}");
    let r = result(&run);
    assert_eq!(r["outcome"], "deployed", "{run:?}");
    assert_eq!(r["asg"], V2);
    // The canary served beside the full live group: 1 of 3 instances.
    assert!(run.stderr.contains("canary www-staging-v002 holds (1 of 3 instances, 33% of the traffic)"), "{run:?}");
    assert!(run.stderr.contains("done, no alarm fired"), "{run:?}");
    let g = fx.sdk.must_group(V2);
    assert_eq!(g.desired_capacity(), Some(2), "scaled to the full capacity after the hold");
    assert_eq!(tag(&g, "drydock:state").as_deref(), Some("live"));
    assert_eq!(tag(&g, "drydock:hold-until").as_deref().unwrap_or(""), "", "the hold's mark is cleared");
    assert_eq!(tag(&fx.sdk.must_group(V1), "drydock:state").as_deref(), Some("standby"));
    assert_eq!(fx.sdk.group_in_service(&g, ELB), 2);
    // The gate and every poll of the hold asked CloudWatch.
    assert!(fx.moto.count("DescribeAlarms") >= 2, "{:?}", fx.moto.requests());
}

/// CloudWatch throttles and fails too: the gate's DescribeAlarms is answered with two
/// ThrottlingExceptions and two 503s (in CBOR, as the SDK speaks to CloudWatch) before it
/// gets through. The SDK's retries (6 attempts) and the pacer's backoff absorb them; the
/// canary deploy goes on as without them.
#[test]
fn the_alarm_gate_rides_out_cloudwatch_throttles_and_server_errors() {
    let (fx, v2) = fixture("canary = { instances = 1, hold = \"2s\" }\nalarms = [\"www-staging-5xx\"]");
    let rules = serde_json::json!({"seed": 1, "rules": [
        {"services": ["monitoring"], "clients": ["drydock"], "kind": "throttle", "count": 2},
        {"services": ["monitoring"], "clients": ["drydock"], "kind": "503", "count": 2},
    ]});
    fx.moto.control("POST", "/drydock-shim/faults", Some(&rules));
    fx.moto.clear_requests();
    let run = crate::common::run(&mut deploy_cmd(&fx, &v2, &[]), RUN);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(result(&run)["outcome"], "deployed", "{run:?}");
    assert!(run.stderr.contains("done, no alarm fired"), "{run:?}");
    let faults = fx.moto.control("GET", "/drydock-shim/faults", None);
    assert_eq!(faults["injected"], 4, "every fault hit drydock's DescribeAlarms: {faults}");
    // Four failed attempts, then the gate's answer and the hold's polls.
    assert!(fx.moto.count("DescribeAlarms") >= 6, "{:?}", fx.moto.requests());
    assert_eq!(tag(&fx.sdk.must_group(V2), "drydock:state").as_deref(), Some("live"));
}

#[test]
fn an_alarm_during_the_hold_takes_the_canary_out_and_leaves_the_live_release_unchanged() {
    let (fx, v2) = fixture("canary = { instances = 1, hold = \"5m\" }\nalarms = [\"www-staging-5xx\"]");
    let live_tags = role_tags(&fx, V1);
    let live_instances: Vec<String> = crate::common::aws::instance_ids(&fx.sdk.must_group(V1));
    let mut bg = Background::spawn(&mut deploy_cmd(&fx, &v2, &[]));
    eventually("the canary holds", RUN, || {
        bg.assert_running("the canary's hold");
        let g = fx.sdk.group(V2)?;
        tag(&g, "drydock:hold-until").filter(|v| !v.is_empty())?;
        (tag(&g, "drydock:state").as_deref() == Some("canary") && fx.sdk.group_in_service(&g, ELB) == 1).then_some(())
    });
    fx.sdk.set_alarm(ALARM, "ALARM", "Threshold Crossed: 1 datapoint [42.0] was greater than the threshold (10.0).");
    let run = bg.finish(RUN);
    assert_eq!(run.code, Some(1), "{run:?}");
    let r = result(&run);
    assert_eq!(r["outcome"], "failed", "{run:?}");
    assert_eq!(r["alarm"]["name"], ALARM, "{run:?}");
    assert!(r["alarm"]["reason"].as_str().unwrap_or("").starts_with("Threshold Crossed"), "{run:?}");
    assert!(r["alarm"]["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{run:?}");
    let msg = r["message"].as_str().unwrap_or("");
    assert!(msg.contains("alarm www-staging-5xx is in ALARM since") && msg.contains("during the canary hold"), "{msg}");
    // Compensated: out of the ELB, scaled to 0, failed.
    let g = fx.sdk.must_group(V2);
    assert_eq!(g.desired_capacity(), Some(0));
    assert_eq!(tag(&g, "drydock:state").as_deref(), Some("failed"));
    assert!(g.load_balancer_names().is_empty(), "{:?}", g.load_balancer_names());
    // The live release never changed: its tags, its instances, all of them in the ELB.
    assert_eq!(role_tags(&fx, V1), live_tags);
    let v1 = fx.sdk.must_group(V1);
    assert_eq!(crate::common::aws::instance_ids(&v1), live_instances);
    assert_eq!(fx.sdk.group_in_service(&v1, ELB), 2);
}

#[test]
fn an_alarm_during_the_bake_time_rolls_back_to_the_warm_standby() {
    let (fx, v2) = fixture("alarms = [\"www-staging-5xx\"]\nbake_time = \"5m\"");
    let mut bg = Background::spawn(&mut deploy_cmd(&fx, &v2, &[]));
    eventually("the new release bakes", RUN, || {
        bg.assert_running("the bake time");
        let g = fx.sdk.group(V2)?;
        tag(&g, "drydock:bake-until").filter(|v| !v.is_empty())?;
        (tag(&g, "drydock:state").as_deref() == Some("live")).then_some(())
    });
    fx.sdk.set_alarm(ALARM, "ALARM", "Threshold Crossed: 5xx");
    let run = bg.finish(RUN);
    assert_eq!(run.code, Some(1), "{run:?}");
    let r = result(&run);
    assert_eq!(r["outcome"], "rolled_back", "{run:?}");
    assert_eq!(r["alarm"]["name"], ALARM, "{run:?}");
    assert_eq!(r["asg"], V1, "{run:?}");
    assert!(r["message"].as_str().unwrap_or("").contains("during the bake time of www-staging-v002"), "{run:?}");
    let v1 = fx.sdk.must_group(V1);
    assert_eq!(tag(&v1, "drydock:state").as_deref(), Some("live"));
    assert_eq!(tag(&v1, "drydock:rolled-back-from").as_deref(), Some(V2), "history says why");
    assert_eq!(fx.sdk.group_in_service(&v1, ELB), 2);
    assert_eq!(tag(&fx.sdk.must_group(V2), "drydock:state").as_deref(), Some("standby"));
}

#[test]
fn an_alarm_already_firing_stops_the_deploy_before_any_change_unless_ignored() {
    let (fx, v2) = fixture("alarms = [\"www-staging-5xx\"]");
    fx.sdk.set_alarm(ALARM, "ALARM", "Threshold Crossed: already");
    fx.moto.clear_requests();
    let run = crate::common::run(&mut deploy_cmd(&fx, &v2, &[]), RUN);
    assert_eq!(run.code, Some(1), "{run:?}");
    let r = result(&run);
    assert_eq!(r["outcome"], "failed");
    assert_eq!(r["alarm"]["name"], ALARM);
    assert_eq!(r["alarm"]["reason"], "Threshold Crossed: already");
    assert!(r["message"].as_str().unwrap_or("").contains("stopped before any change"), "{run:?}");
    let writes: Vec<_> = fx.moto.requests().into_iter().filter(|(_, a)| !is_read_only(a)).collect();
    assert!(writes.is_empty(), "nothing was touched, not even the lease: {writes:?}");
    assert!(fx.sdk.group(V2).is_none());

    // The dry run reports the same stop.
    let dry = crate::common::run(&mut deploy_cmd(&fx, &v2, &["--dry-run"]), RUN);
    assert_eq!(dry.code, Some(1), "{dry:?}");
    assert_eq!(result(&dry)["alarm"]["name"], ALARM);

    let run = crate::common::run(&mut deploy_cmd(&fx, &v2, &["--ignore-alarms", ALARM]), RUN);
    assert_eq!(run.code, Some(0), "{run:?}");
    let r = result(&run);
    assert_eq!(r["outcome"], "deployed");
    assert!(r["message"].as_str().unwrap_or("").contains("ignoring www-staging-5xx in ALARM"), "{run:?}");
}

#[test]
fn a_missing_alarm_is_refused_before_any_change() {
    let (fx, v2) = fixture("alarms = [\"www-staging-5xx\", \"no-such-alarm\"]");
    fx.moto.clear_requests();
    let run = crate::common::run(&mut deploy_cmd(&fx, &v2, &[]), RUN);
    assert_eq!(run.code, Some(2), "{run:?}");
    let msg = result(&run)["message"].as_str().unwrap_or("").to_owned();
    assert!(
        msg.contains("environments/staging.toml: services.www.alarms: no CloudWatch alarm named \"no-such-alarm\""),
        "{msg}"
    );
    let writes: Vec<_> = fx.moto.requests().into_iter().filter(|(_, a)| !is_read_only(a)).collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn kill_9_during_the_hold_then_a_rerun_resumes_the_hold_and_converges() {
    let (fx, v2) = fixture("canary = { instances = 1, hold = \"6s\" }\nalarms = [\"www-staging-5xx\"]");
    let mut cmd = deploy_cmd(&fx, &v2, &[]);
    let mut bg = Background::spawn(cmd.env("DRYDOCK_LEASE_TTL", "1s"));
    let until = eventually("the canary holds", RUN, || {
        bg.assert_running("the canary's hold");
        let g = fx.sdk.group(V2)?;
        tag(&g, "drydock:hold-until").filter(|v| !v.is_empty())
    });
    bg.kill9();
    let _ = bg.finish(Duration::from_secs(10));
    assert_eq!(tag(&fx.sdk.must_group(V2), "drydock:state").as_deref(), Some("canary"));
    let run = rerun_past_a_dead_lease(|| deploy_cmd(&fx, &v2, &[]), RUN);
    assert_eq!(run.code, Some(0), "rerun after kill -9 during the hold: {run:?}");
    let r = result(&run);
    assert_eq!(r["outcome"], "deployed", "{run:?}");
    assert_eq!(r["asg"], V2, "the same release, not a second one");
    assert!(run.stderr.contains(&format!("until {until} (resumed")), "{run:?}");
    let names: Vec<String> = fx.sdk.group_names().into_iter().filter(|n| n.starts_with("www-staging-")).collect();
    assert_eq!(names, vec![V1.to_owned(), V2.to_owned()]);
    let g = fx.sdk.must_group(V2);
    assert_eq!(tag(&g, "drydock:state").as_deref(), Some("live"));
    assert_eq!(g.desired_capacity(), Some(2));
}

#[test]
fn ctrl_c_during_the_hold_takes_the_canary_out_and_exits_130() {
    let (fx, v2) = fixture("canary = { instances = 1, hold = \"5m\" }\nalarms = [\"www-staging-5xx\"]");
    let live_tags = role_tags(&fx, V1);
    let mut bg = Background::spawn(&mut deploy_cmd(&fx, &v2, &[]));
    eventually("the canary holds", RUN, || {
        bg.assert_running("the canary's hold");
        tag(&fx.sdk.group(V2)?, "drydock:hold-until").filter(|v| !v.is_empty())
    });
    bg.signal("INT");
    let run = bg.finish(RUN);
    assert_eq!(run.code, Some(130), "{run:?}");
    let g = fx.sdk.must_group(V2);
    assert_eq!(tag(&g, "drydock:state").as_deref(), Some("failed"), "compensated");
    assert_eq!(g.desired_capacity(), Some(0));
    assert!(g.load_balancer_names().is_empty());
    assert_eq!(role_tags(&fx, V1), live_tags, "the live release never changed");
    assert_eq!(fx.sdk.group_in_service(&fx.sdk.must_group(V1), ELB), 2);
}

#[test]
fn ctrl_c_during_the_bake_time_leaves_the_new_release_live_and_the_standby_warm() {
    let (fx, v2) = fixture("alarms = [\"www-staging-5xx\"]\nbake_time = \"5m\"");
    let mut bg = Background::spawn(&mut deploy_cmd(&fx, &v2, &[]));
    eventually("the new release bakes", RUN, || {
        bg.assert_running("the bake time");
        tag(&fx.sdk.group(V2)?, "drydock:bake-until").filter(|v| !v.is_empty())
    });
    bg.signal("INT");
    let run = bg.finish(RUN);
    assert_eq!(run.code, Some(130), "{run:?}");
    assert!(result(&run)["message"].as_str().unwrap_or("").contains("stopped watching the bake time"), "{run:?}");
    let v2g = fx.sdk.must_group(V2);
    assert_eq!(tag(&v2g, "drydock:state").as_deref(), Some("live"));
    assert_eq!(fx.sdk.group_in_service(&v2g, ELB), 2);
    let v1 = fx.sdk.must_group(V1);
    assert_eq!(tag(&v1, "drydock:state").as_deref(), Some("standby"));
    assert_eq!(v1.desired_capacity(), Some(2), "the standby stays warm");
}

#[test]
fn the_example_trees_prod_www_promotes_through_a_canary_and_a_bake_time_as_a_dry_run_shows() {
    let fx = Emulated::new();
    // The repository's prod.toml, progressive delivery included (ExampleTree::new drops it).
    let prod =
        std::fs::read_to_string(crate::common::example_root().join("environments/prod.toml")).expect("prod.toml");
    assert!(prod.contains("canary = { instances = 1, hold = \"5m\" }"), "the example tree shows a canary");
    fx.tree.write("environments/prod.toml", &prod);
    let amis = fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
    let promote = ["promote", "www", "--from", "staging", "--to", "prod"];
    assert_eq!(fx.run_json(&["deploy", "www", "--env", "staging", "--ami", &amis[0]]).code, Some(0));
    // The alarm does not exist yet: refused before any change (exit 2).
    let run = fx.run_json(&promote);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stdout.contains("services.www.alarms: no CloudWatch alarm named \\\"www-prod-5xx\\\""), "{run:?}");
    fx.sdk.put_5xx_alarm("www-prod-5xx", "www-prod");
    let run = fx.run_json(&promote);
    assert_eq!(run.code, Some(0), "the first release has no canary: {run:?}");
    assert_eq!(fx.run_json(&["deploy", "www", "--env", "staging", "--ami", &amis[1]]).code, Some(0));
    let mut args = promote.to_vec();
    args.push("--dry-run");
    let dry = fx.run_json(&args);
    assert_eq!(dry.code, Some(0), "{dry:?}");
    let r = dry.only_result("promote");
    assert_eq!(r["outcome"], "planned");
    assert!(r["message"].as_str().unwrap_or("").contains("alarm gate: 1 alarm OK"), "{r}");
    let steps: Vec<&Value> = r["plan"].as_array().expect("plan").iter().map(|s| &s["detail"]).collect();
    let watches: Vec<&&Value> = steps.iter().filter(|s| s["step"] == "watch_alarms").collect();
    assert_eq!(watches.len(), 2, "{steps:?}");
    assert_eq!(watches[0]["phase"], "canary");
    assert_eq!(watches[0]["duration_s"], 300);
    assert_eq!(watches[0]["share"], serde_json::json!([1, 4]));
    assert_eq!(watches[1]["phase"], "bake");
    assert_eq!(watches[1]["duration_s"], 600);
    let create = steps.iter().find(|s| s["step"] == "create_group").expect("create_group");
    assert_eq!(create["desired"], 1, "the canary's size");
}

#[test]
fn kill_9_during_the_bake_time_then_a_rerun_watches_the_rest_of_it() {
    let (fx, v2) = fixture("alarms = [\"www-staging-5xx\"]\nbake_time = \"6s\"");
    let mut cmd = deploy_cmd(&fx, &v2, &[]);
    let mut bg = Background::spawn(cmd.env("DRYDOCK_LEASE_TTL", "1s"));
    let until = eventually("the new release bakes", RUN, || {
        bg.assert_running("the bake time");
        tag(&fx.sdk.group(V2)?, "drydock:bake-until").filter(|v| !v.is_empty())
    });
    bg.kill9();
    let _ = bg.finish(Duration::from_secs(10));
    let run = rerun_past_a_dead_lease(|| deploy_cmd(&fx, &v2, &[]), RUN);
    assert_eq!(run.code, Some(0), "rerun after kill -9 during the bake time: {run:?}");
    let r = result(&run);
    assert_eq!(r["outcome"], "unchanged", "{run:?}");
    let msg = r["message"].as_str().unwrap_or("");
    assert!(msg.contains(&format!("its bake time goes on until {until}")), "{msg}");
    assert!(run.stderr.contains(&format!("bake www-staging-v002 until {until} (resumed")), "{run:?}");
    let g = fx.sdk.must_group(V2);
    assert_eq!(tag(&g, "drydock:state").as_deref(), Some("live"));
    assert_eq!(tag(&g, "drydock:bake-until").as_deref().unwrap_or(""), "", "the mark is cleared");
    // Done: a third run has nothing to watch.
    let again = crate::common::run(&mut deploy_cmd(&fx, &v2, &[]), RUN);
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(!again.stderr.contains("bakes"), "{again:?}");
}

#[test]
fn an_alarm_firing_when_a_killed_bake_time_is_resumed_rolls_back_instead_of_stopping_at_the_gate() {
    let (fx, v2) = fixture("alarms = [\"www-staging-5xx\"]\nbake_time = \"5m\"");
    let mut cmd = deploy_cmd(&fx, &v2, &[]);
    let mut bg = Background::spawn(cmd.env("DRYDOCK_LEASE_TTL", "1s"));
    eventually("the new release bakes", RUN, || {
        bg.assert_running("the bake time");
        tag(&fx.sdk.group(V2)?, "drydock:bake-until").filter(|v| !v.is_empty())
    });
    bg.kill9();
    let _ = bg.finish(Duration::from_secs(10));
    fx.sdk.set_alarm(ALARM, "ALARM", "Threshold Crossed: while nobody watched");
    let run = rerun_past_a_dead_lease(|| deploy_cmd(&fx, &v2, &[]), RUN);
    assert_eq!(run.code, Some(1), "{run:?}");
    let r = result(&run);
    assert_eq!(r["outcome"], "rolled_back", "{run:?}");
    assert_eq!(r["alarm"]["reason"], "Threshold Crossed: while nobody watched");
    assert_eq!(tag(&fx.sdk.must_group(V1), "drydock:state").as_deref(), Some("live"));
}
