//! drydock in an emulator that behaves like AWS at its worst (the shim's world,
//! tests/moto/README.md): time passes (boot 90 s, two health-check rounds, image and
//! instance state changes, at 30× speed), requests are throttled at AWS's rates, reads
//! lag writes, and faults hit drydock's writes: throttling, 5xx, delays and responses that
//! are lost after the write happened. Every run ends in a converged state, checked the
//! same way each time; a failed run is followed by a re-run, as a Jenkins retry would.

use std::time::Duration;

use serde_json::json;

use crate::common::aws::{filter, live_instances, tag};
use crate::common::fixtures::Emulated;

/// AWS's clock at 30×, its rate limits, and reads 300 ms behind writes.
const WORLD: [&str; 7] = ["--time-scale", "30", "--boot", "90", "--throttle", "--consistency-ms", "300"];

/// The writes of a deploy and a rollback: the ones a fault may hit.
const WRITES: [&str; 14] = [
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "CreateLoadBalancer",
    "ConfigureHealthCheck",
    "CreateLaunchTemplate",
    "CreateAutoScalingGroup",
    "AttachLoadBalancers",
    "DetachLoadBalancers",
    "SuspendProcesses",
    "ResumeProcesses",
    "CreateOrUpdateTags",
    "AddTags",
    "DeleteLaunchTemplate",
    "UpdateAutoScalingGroup",
];

/// The end state every run must leave for `cluster` behind ELB `cluster`: one live group,
/// in the ELB with all its instances InService; no other group in the ELB; a standby with
/// instances suspended; no group left `deploying`; a launch template only for a group that exists; the lease released; no
/// builder running. Reads lag writes in this world, as on AWS: the state must be reached
/// within a few consistency windows, and every check must hold at once.
#[track_caller]
fn assert_converged(fx: &Emulated, cluster: &str, live_release: &str) {
    let mut last = String::new();
    let done = (0..100).any(|_| {
        match converged(fx, cluster, live_release) {
            Ok(()) => return true,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(50));
        false
    });
    assert!(done, "{cluster} did not converge to {live_release}: {last}");
}

fn converged(fx: &Emulated, cluster: &str, live_release: &str) -> Result<(), String> {
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    let groups: Vec<_> =
        fx.sdk.groups().into_iter().filter(|g| tag(g, "drydock:cluster").as_deref() == Some(cluster)).collect();
    let names: Vec<String> = groups.iter().filter_map(|g| g.auto_scaling_group_name().map(str::to_owned)).collect();
    let live: Vec<_> = groups.iter().filter(|g| tag(g, "drydock:state").as_deref() == Some("live")).collect();
    check(live.len() == 1, format!("{} live groups of {cluster}: {names:?}", live.len()))?;
    let live = live[0];
    check(live.auto_scaling_group_name() == Some(live_release), format!("{names:?}"))?;
    check(live.load_balancer_names() == [cluster.to_owned()], format!("{live_release} is not in the ELB"))?;
    let serving = fx.sdk.in_service(cluster);
    for i in live_instances(live) {
        check(serving.contains(&i), format!("{i} of {live_release} is not InService: {serving:?}"))?;
    }
    for g in &groups {
        let n = g.auto_scaling_group_name().unwrap_or_default();
        if n != live_release {
            check(g.load_balancer_names().is_empty(), format!("{n} is still in the ELB"))?;
            // Every other release is a standby (or a failed attempt that was taken out).
            let state = tag(g, "drydock:state");
            check(
                matches!(state.as_deref(), Some("standby") | Some("failed")),
                format!("{n} is {state:?}, not standby"),
            )?;
            // A warm standby keeps its instances, its processes suspended if a policy or
            // schedule may resize it.
            let resizes = tag(g, "drydock:scaling").is_none_or(|v| v != "none");
            if state.as_deref() == Some("standby") && g.desired_capacity().unwrap_or(0) > 0 && resizes {
                check(!g.suspended_processes().is_empty(), format!("standby {n} is not suspended"))?;
            }
        }
        check(tag(g, "drydock:state").as_deref() != Some("deploying"), format!("{n} is left deploying"))?;
    }
    // One AMI per recipe: a bake re-run never makes a second image of the same name.
    let images: Vec<String> = fx.sdk.our_images().iter().filter_map(|i| i.name().map(str::to_owned)).collect();
    let distinct: std::collections::BTreeSet<&String> = images.iter().collect();
    check(distinct.len() == images.len(), format!("duplicate AMIs: {images:?}"))?;
    for lt in fx.sdk.launch_template_names() {
        if lt.starts_with(&format!("{cluster}-v")) {
            check(names.contains(&lt), format!("launch template {lt} has no group: {names:?}"))?;
        }
    }
    check(!fx.sdk.lock_names().contains(&format!("drydock-lock-{cluster}")), "the lease is not released".into())?;
    let out = fx
        .sdk
        .block(fx.sdk.ec2.describe_instances().filters(filter("tag:drydock:role", "builder")).send())
        .map_err(|e| e.to_string())?;
    let running: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            i.state().and_then(|s| s.name()).is_some_and(|s| s.as_str() == "running" || s.as_str() == "pending")
        })
        .filter_map(|i| i.instance_id())
        .collect();
    check(running.is_empty(), format!("builders left running: {running:?}"))
}

/// Runs `args` until it succeeds (at most `tries` times): the crash-only promise is that
/// a re-run converges. Every failure must name what happened (an AWS code or the state).
fn until_ok(fx: &Emulated, args: &[&str], tries: usize) -> serde_json::Value {
    let mut last = None;
    for _ in 0..tries {
        let run = fx.run_json(args);
        assert_ne!(run.code, Some(101), "no panic: {run:?}");
        if run.code == Some(0) {
            return run.json();
        }
        assert!(matches!(run.code, Some(1) | Some(3) | Some(4)), "{args:?}: {run:?}");
        last = Some(run);
    }
    panic!("{args:?} did not converge in {tries} runs; last: {last:?}");
}

#[test]
fn the_lifecycle_converges_on_aws_time_with_throttling_and_lagging_reads() {
    let fx = Emulated::in_world(&WORLD);
    let amis = fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
    assert_ne!(amis[0], amis[1]);
    let first = until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"], 1);
    assert_eq!(first["results"][0]["outcome"], "deployed", "{first}");
    assert_converged(&fx, "www-staging", "www-staging-v001");
    let second = until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.1"], 1);
    assert_eq!(second["results"][0]["outcome"], "deployed", "{second}");
    assert_converged(&fx, "www-staging", "www-staging-v002");
    let back = until_ok(&fx, &["rollback", "www", "--env", "staging"], 1);
    assert_eq!(back["results"][0]["outcome"], "rolled_back", "{back}");
    assert_converged(&fx, "www-staging", "www-staging-v001");
    let again = until_ok(&fx, &["rollback", "www", "--env", "staging"], 1);
    assert_eq!(again["results"][0]["outcome"], "unchanged", "a finished rollback is not undone: {again}");
    assert_converged(&fx, "www-staging", "www-staging-v001");
    let promoted = until_ok(&fx, &["promote", "www", "--from", "staging", "--to", "prod"], 1);
    assert_eq!(promoted["results"][0]["outcome"], "deployed", "{promoted}");
    assert_converged(&fx, "www-prod", "www-prod-v001");
    until_ok(&fx, &["gc", "--env", "staging"], 1);
    assert_converged(&fx, "www-staging", "www-staging-v001");
    let stats = fx.moto.control("GET", "/drydock-shim/stats?by=client", None);
    // One process stays inside AWS's rates: nothing it sent was throttled.
    assert_eq!(stats["clients"]["drydock"]["throttled"], 0, "{stats}");
}

#[test]
fn deploy_and_rollback_converge_under_every_fault() {
    for (i, kind) in ["throttle", "503", "delay", "drop"].into_iter().enumerate() {
        let fx = Emulated::in_world(&["--time-scale", "30", "--boot", "90"]);
        fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
        until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"], 1);
        let rule = json!({"kind": kind, "actions": WRITES, "clients": ["drydock"], "rate": 0.3, "delay_ms": 1500});
        fx.moto.control("POST", "/drydock-shim/faults", Some(&json!({"rules": [rule], "seed": 7 + i})));
        until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.1"], 4);
        assert_converged(&fx, "www-staging", "www-staging-v002");
        until_ok(&fx, &["rollback", "www", "--env", "staging"], 4);
        assert_converged(&fx, "www-staging", "www-staging-v001");
        // Run once more: a retried rollback job changes nothing.
        let again = until_ok(&fx, &["rollback", "www", "--env", "staging"], 4);
        assert_eq!(again["results"][0]["outcome"], "unchanged", "{kind}: {again}");
        assert_converged(&fx, "www-staging", "www-staging-v001");
        let injected = fx.moto.control("GET", "/drydock-shim/faults", None);
        assert!(injected["injected"].as_u64().unwrap_or(0) > 0, "{kind}: the fault hit something: {injected}");
    }
}

/// Each (held action, armed after) of a second deploy and of a rollback: the request is
/// blocked before AWS sees it, drydock is killed with `kill -9`, and a re-run converges.
const KILL_POINTS: [(&str, Option<&str>); 9] = [
    ("CreateSecurityGroup", None),
    ("CreateLaunchTemplate", None),
    ("CreateAutoScalingGroup", None),
    ("DescribeInstanceHealth", Some("CreateAutoScalingGroup")),
    ("CreateOrUpdateTags", None),
    ("AddTags", None),
    ("DetachLoadBalancers", None),
    ("SuspendProcesses", None),
    ("DeleteSecurityGroup", None),
];

const ROLLBACK_KILL_POINTS: [(&str, Option<&str>); 5] = [
    ("ResumeProcesses", None),
    ("AttachLoadBalancers", None),
    ("CreateOrUpdateTags", None),
    ("DetachLoadBalancers", None),
    ("SuspendProcesses", None),
];

/// Starts `args`, waits until it is blocked on the held request, kills it with `kill -9`,
/// releases the hold (the held request is never processed) and re-runs `args` with a
/// short lease TTL until it succeeds: a dead holder's lease is taken over.
fn kill_at(fx: &Emulated, args: &[&str], action: &str, after: Option<&str>) {
    match after {
        Some(a) => fx.moto.hold_after(action, a),
        None => fx.moto.hold(action),
    }
    let mut bg = crate::common::fixtures::Background::spawn(&mut fx.json_cmd(args));
    crate::common::fixtures::eventually(&format!("{args:?} reaches {action}"), Duration::from_secs(60), || {
        bg.assert_running(action);
        (fx.moto.held() >= 1).then_some(())
    });
    bg.kill9();
    let _ = bg.finish(Duration::from_secs(10));
    fx.moto.release_hold();
    let run = crate::common::fixtures::rerun_past_a_dead_lease(|| fx.json_cmd(args), Duration::from_secs(120));
    assert_eq!(run.code, Some(0), "{args:?} after kill -9 at {action}: {run:?}");
}

#[test]
fn kill_9_at_every_write_of_a_deploy_and_a_rollback_then_a_rerun_converges() {
    // With a CPU policy, so that the old release's suspend and a rollback's resume are
    // writes to be killed at.
    for (action, after) in KILL_POINTS {
        let fx = Emulated::new();
        fx.tree.with_cpu_policy();
        fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
        until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"], 1);
        kill_at(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.1"], action, after);
        assert_converged(&fx, "www-staging", "www-staging-v002");
        let groups = fx.sdk.group_names();
        assert_eq!(groups.len(), 2, "killed at {action}: one group per AMI, no duplicate: {groups:?}");
    }
    let fx = Emulated::new();
    fx.tree.with_cpu_policy();
    fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
    until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"], 1);
    until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.1"], 1);
    for (action, after) in ROLLBACK_KILL_POINTS {
        kill_at(&fx, &["rollback", "www", "--env", "staging", "--to", "v001"], action, after);
        assert_converged(&fx, "www-staging", "www-staging-v001");
        // Back to v002 for the next kill point, by naming it.
        until_ok(&fx, &["rollback", "www", "--env", "staging", "--to", "v002"], 1);
        assert_converged(&fx, "www-staging", "www-staging-v002");
    }
}

/// The lease is fenced: a run whose lease was taken over while it waited (its heartbeat
/// was not seen in time, as on a throttled or partitioned host) stops before its next
/// write, exit 3, instead of racing the new holder; the live release is untouched.
#[test]
fn a_run_that_lost_its_lease_while_waiting_stops_before_its_next_write() {
    let fx = Emulated::new();
    fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
    until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"], 1);
    fx.moto.hold_after("DescribeInstanceHealth", "CreateAutoScalingGroup");
    let mut bg = crate::common::fixtures::Background::spawn(&mut fx.json_cmd(&[
        "deploy",
        "www",
        "--env",
        "staging",
        "--image-tag",
        "1.0.1",
    ]));
    crate::common::fixtures::eventually("the deploy waits for health", Duration::from_secs(60), || {
        bg.assert_running("its health poll to be held");
        (fx.moto.held() >= 1).then_some(())
    });
    // Another operation takes the cluster over: the lock is replaced by one of its own.
    let lock = "drydock-lock-www-staging";
    fx.sdk.delete_lock("www-staging");
    fx.sdk.create_lock("www-staging", "staging", "another holder", crate::common::fixtures::now());
    fx.moto.release_hold();
    let run = bg.finish(Duration::from_secs(60));
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(run.stderr.contains("lost the cluster's lease"), "{}", run.stderr);
    // It stopped before the switch: v001 is still the live release, in the ELB.
    let v1 = fx.sdk.must_group("www-staging-v001");
    assert_eq!(tag(&v1, "drydock:state").as_deref(), Some("live"));
    assert_eq!(v1.load_balancer_names(), ["www-staging".to_owned()]);
    assert_ne!(tag(&fx.sdk.must_group("www-staging-v002"), "drydock:state").as_deref(), Some("live"));
    // And it did not delete the new holder's lock on its way out.
    assert!(fx.sdk.lock_names().contains(lock), "the other holder's lock stays");
}

/// The writes of a bake and a promote.
const BAKE_AND_PROMOTE_WRITES: [&str; 13] = [
    "RunInstances",
    "CreateImage",
    "CreateTags",
    "TerminateInstances",
    "CreateLaunchTemplate",
    "CreateAutoScalingGroup",
    "CreateOrUpdateTags",
    "AddTags",
    "CreateLoadBalancer",
    "ConfigureHealthCheck",
    "ModifyLoadBalancerAttributes",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
];

#[test]
fn bake_and_promote_converge_under_every_fault() {
    for (i, kind) in ["throttle", "503", "delay", "drop"].into_iter().enumerate() {
        let fx = Emulated::in_world(&["--time-scale", "30", "--boot", "90"]);
        fx.bake(&[("www", "1.0.0")]);
        until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"], 1);
        let rule = json!({"kind": kind, "actions": BAKE_AND_PROMOTE_WRITES, "clients": ["drydock"], "rate": 0.3, "delay_ms": 1500});
        fx.moto.control("POST", "/drydock-shim/faults", Some(&json!({"rules": [rule], "seed": 11 + i})));
        {
            let _guest = crate::common::fixtures::Guest::start(&fx.moto);
            let baked = until_ok(&fx, &["bake", "www", "--image-tag", "1.0.1", "--env", "staging"], 4);
            assert!(matches!(baked["results"][0]["outcome"].as_str(), Some("baked" | "reused")), "{kind}: {baked}");
        }
        let promoted = until_ok(&fx, &["promote", "www", "--from", "staging", "--to", "prod"], 4);
        assert_eq!(promoted["results"][0]["release"], "v001", "{kind}: {promoted}");
        fx.moto.control("DELETE", "/drydock-shim/faults", None);
        assert_converged(&fx, "www-prod", "www-prod-v001");
        assert_converged(&fx, "www-staging", "www-staging-v001");
    }
}

/// The writes of a promote (same account and region): the target's lease, release and
/// switch. Each is held, drydock is killed with `kill -9`, and a re-run converges.
const PROMOTE_KILL_POINTS: [(&str, Option<&str>); 6] = [
    ("CreateSecurityGroup", None),
    ("CreateLaunchTemplate", None),
    ("CreateAutoScalingGroup", None),
    ("DescribeInstanceHealth", Some("CreateAutoScalingGroup")),
    ("CreateOrUpdateTags", None),
    ("AddTags", None),
];

#[test]
fn kill_9_at_every_write_of_a_promote_then_a_rerun_converges() {
    for (action, after) in PROMOTE_KILL_POINTS {
        let fx = Emulated::new();
        let amis = fx.bake(&[("www", "1.0.0")]);
        until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"], 1);
        kill_at(&fx, &["promote", "www", "--from", "staging", "--to", "prod"], action, after);
        assert_converged(&fx, "www-prod", "www-prod-v001");
        assert_converged(&fx, "www-staging", "www-staging-v001");
        let prod = fx.sdk.must_group("www-prod-v001");
        assert_eq!(tag(&prod, "drydock:ami").as_deref(), Some(amis[0].as_str()), "killed at {action}");
        let prod_groups: Vec<String> =
            fx.sdk.group_names().into_iter().filter(|g| g.starts_with("www-prod-")).collect();
        assert_eq!(prod_groups, ["www-prod-v001"], "killed at {action}: one release, no duplicate");
    }
}

/// The writes of a bake, in order: the builder, its image (tagged in CreateImage itself),
/// the wait for it, and the builder's end (run always; after a crash by the re-run, which
/// terminates an earlier run's builder, or by gc).
const BAKE_KILL_POINTS: [(&str, Option<&str>); 4] = [
    ("RunInstances", None),
    ("CreateImage", None),
    ("DescribeImages", Some("CreateImage")),
    ("TerminateInstances", None),
];

#[test]
fn kill_9_at_every_write_of_a_bake_then_a_rerun_converges() {
    for (action, after) in BAKE_KILL_POINTS {
        let fx = Emulated::new();
        let _guest = crate::common::fixtures::Guest::start(&fx.moto);
        kill_at(&fx, &["bake", "www", "--image-tag", "1.0.1", "--env", "staging"], action, after);
        // One image for the recipe, available and fully tagged; no builder running.
        let images: Vec<_> = fx
            .sdk
            .our_images()
            .into_iter()
            .filter(|i| i.name().is_some_and(|n| n.starts_with("drydock/www/1.0.1/")))
            .collect();
        assert_eq!(images.len(), 1, "killed at {action}: one image, no duplicate: {images:?}");
        let image = &images[0];
        assert_eq!(image.state().map(|s| s.as_str()), Some("available"), "killed at {action}");
        assert!(
            crate::common::aws::image_tag(image, "drydock:image").is_some_and(|i| i.ends_with(":1.0.1")),
            "killed at {action}: the image is tagged: {image:?}"
        );
        let out = fx
            .sdk
            .block(fx.sdk.ec2.describe_instances().filters(filter("tag:drydock:role", "builder")).send())
            .expect("describe builders");
        let left: Vec<_> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| {
                !i.state().and_then(|s| s.name()).is_some_and(|s| matches!(s.as_str(), "terminated" | "shutting-down"))
            })
            .filter_map(|i| i.instance_id())
            .collect();
        assert!(left.is_empty(), "killed at {action}: builders left: {left:?}");
        // And baking again reuses it: nothing launched.
        let again = until_ok(&fx, &["bake", "www", "--image-tag", "1.0.1", "--env", "staging"], 1);
        assert_eq!(again["results"][0]["outcome"], "reused", "killed at {action}: {again}");
    }
}

/// A promote to another region: killed before the copy, while it waits for the copy, and
/// at the release's first write; the re-run makes no second copy and converges.
#[test]
fn kill_9_during_a_cross_region_promote_makes_one_copy_and_converges() {
    for (action, after) in
        [("CopyImage", None), ("DescribeImages", Some("CopyImage")), ("CreateLaunchTemplate", Some("CopyImage"))]
    {
        let fx = Emulated::new();
        fx.tree.write("environments/dr.toml", crate::lifecycle::DR_TOML);
        fx.bake(&[("www", "1.0.0")]);
        until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"], 1);
        kill_at(&fx, &["promote", "www", "--from", "staging", "--to", "dr"], action, after);
        let west = fx.moto.sdk_in("us-west-2");
        let copies: Vec<String> = west.our_images().iter().filter_map(|i| i.image_id().map(str::to_owned)).collect();
        assert_eq!(copies.len(), 1, "killed at {action} after {after:?}: one copy: {copies:?}");
        let g = west.must_group("www-dr-v001");
        assert_eq!(tag(&g, "drydock:state").as_deref(), Some("live"), "killed at {action} after {after:?}");
        assert_eq!(tag(&g, "drydock:ami").as_deref(), Some(copies[0].as_str()), "dr runs the copy");
        assert_eq!(west.group_names(), ["www-dr-v001"], "killed at {action} after {after:?}: one release");
        assert_eq!(west.in_service("www-dr").len(), 2, "killed at {action} after {after:?}");
    }
}

/// A fault that never stops: the run fails (exit 1), its message names the request and
/// AWS's error code, the live release serves as before, and once AWS answers again a
/// re-run converges with one group for the release. A refused request (throttling)
/// certainly did nothing, so the run takes back the launch template it made; after a 5xx
/// the group may exist, and its template stays for the re-run to adopt or delete. Answers
/// lost every time are no failure: the group was created, and drydock adopts it.
#[test]
fn a_persistent_fault_fails_naming_the_request_and_the_error_and_harms_nothing() {
    for (kind, names) in
        [("throttle", "Throttling"), ("503", "ServiceUnavailable"), ("500", "InternalFailure"), ("drop", "")]
    {
        let fx = Emulated::new();
        fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
        until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"], 1);
        let rule = json!({"kind": kind, "actions": ["CreateAutoScalingGroup"], "clients": ["drydock"], "rate": 1.0});
        fx.moto.control("POST", "/drydock-shim/faults", Some(&json!({"rules": [rule], "seed": 3})));
        let run = fx.run_json(&["deploy", "www", "--env", "staging", "--image-tag", "1.0.1"]);
        if kind == "drop" {
            assert_eq!(run.code, Some(0), "{kind}: {run:?}");
            assert!(
                run.stderr.contains("www-staging-v002 exists although its creation got no answer"),
                "{}",
                run.stderr
            );
            assert_converged(&fx, "www-staging", "www-staging-v002");
            assert_eq!(fx.sdk.group_names().len(), 2, "{kind}: no duplicate group: {:?}", fx.sdk.group_names());
            continue;
        }
        assert_eq!(run.code, Some(1), "{kind}: {run:?}");
        let message = run.only_result("deploy")["message"].as_str().unwrap_or_default().to_owned();
        assert!(
            message.contains("CreateAutoScalingGroup") && message.contains(names),
            "{kind}: the message names the request and {names}: {message}"
        );
        assert!(run.stderr.contains(names), "{kind}: stderr says it too: {}", run.stderr);
        // The live release serves as before, alone in the ELB.
        let v1 = fx.sdk.must_group("www-staging-v001");
        assert_eq!(tag(&v1, "drydock:state").as_deref(), Some("live"), "{kind}");
        assert_eq!(fx.sdk.in_service("www-staging"), live_instances(&v1), "{kind}");
        assert_eq!(fx.sdk.group_names(), ["www-staging-v001"], "{kind}");
        let template_left = fx.sdk.launch_template_names().contains("www-staging-v002");
        assert_eq!(template_left, kind != "throttle", "{kind}: the template stays only if the group may exist");
        fx.moto.control("DELETE", "/drydock-shim/faults", None);
        until_ok(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.1"], 1);
        assert_converged(&fx, "www-staging", "www-staging-v002");
        assert_eq!(fx.sdk.group_names().len(), 2, "{kind}: no duplicate group: {:?}", fx.sdk.group_names());
    }
}
