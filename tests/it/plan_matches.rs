//! The dry run is the plan the real run executes: for bake, deploy, promote, rollback and
//! gc, the steps that `--dry-run --output json` lists are turned into the AWS writes each
//! step makes, and compared with the writes the real run sent (the emulator's recorder),
//! in order. The lease's own writes (its lock template and heartbeat) are not steps.

use serde_json::Value;

use crate::common::aws::is_read_only;
use crate::common::fixtures::Emulated;

/// The writes one step makes, in order (`+` after an action: one or more, e.g. one per
/// snapshot; `?`: zero or more).
fn writes_of(step: &str) -> &'static [&'static str] {
    match step {
        "create_elb" => &["CreateLoadBalancer", "ConfigureHealthCheck", "ModifyLoadBalancerAttributes"],
        "set_health_check" => &["ConfigureHealthCheck"],
        "create_launch_template" => &["CreateLaunchTemplate"],
        "delete_launch_template" => &["DeleteLaunchTemplate"],
        "create_group" => &["CreateAutoScalingGroup"],
        "attach" => &["AttachLoadBalancers"],
        "detach" => &["DetachLoadBalancers"],
        "suspend" => &["SuspendProcesses"],
        "resume" => &["ResumeProcesses"],
        "scale_to" => &["UpdateAutoScalingGroup"],
        "tag" => &["CreateOrUpdateTags"],
        "delete_group" => &["DeleteAutoScalingGroup"],
        "record" => &["AddTags"],
        "unrecord" => &["RemoveTags"],
        "deregister_image" => &["DeregisterImage", "DeleteSnapshot?"],
        "terminate_builder" => &["TerminateInstances"],
        "launch_builder" => &["RunInstances"],
        // The AMI and its snapshots are tagged by CreateImage/CopyImage themselves: the IAM
        // policy allows EC2 tags only at creation.
        "create_image" => &["CreateImage"],
        "share_image" => &["ModifyImageAttribute", "ModifySnapshotAttribute+"],
        "copy_image" => &["CopyImage"],
        // Scaling (issue 16).
        "enable_metrics" => &["EnableMetricsCollection"],
        "put_cpu_policy" => &["PutScalingPolicy"],
        "put_schedule" => &["PutScheduledUpdateGroupAction"],
        "suspend_scaling" => &["SuspendProcesses"],
        "resume_for_scale_in" => &["ResumeProcesses"],
        "wait_in_service" | "wait_builder_stopped" | "wait_image_available" => &[],
        other => panic!("a step this test does not know: {other}"),
    }
}

/// The step kinds of a dry run's JSON: steps, then `finally`, per result.
fn planned(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for r in doc["results"].as_array().expect("results") {
        for key in ["plan", "finally"] {
            for s in r[key].as_array().cloned().unwrap_or_default() {
                out.push(s["detail"]["step"].as_str().expect("a step kind").to_owned());
            }
        }
    }
    out
}

/// Does `actual` match the writes of `steps`, in order?
fn matches(steps: &[String], actual: &[String]) -> Result<(), String> {
    let pattern: Vec<&str> = steps.iter().flat_map(|s| writes_of(s).iter().copied()).collect();
    let mut i = 0;
    for p in &pattern {
        let (name, many, optional) = match p.strip_suffix('+') {
            Some(n) => (n, true, false),
            None => match p.strip_suffix('?') {
                Some(n) => (n, true, true),
                None => (*p, false, false),
            },
        };
        let start = i;
        while i < actual.len() && actual[i] == name && (many || i == start) {
            i += 1;
        }
        if i == start && !optional {
            return Err(format!("expected {name} at write {i}; plan {steps:?} → {pattern:?}; sent {actual:?}"));
        }
    }
    if i != actual.len() {
        return Err(format!("writes after the plan's last step: {:?}; plan {steps:?}; sent {actual:?}", &actual[i..]));
    }
    Ok(())
}

/// The lease's lock (a security group created by name, deleted and renewed by id) is no step.
fn step_writes(fx: &Emulated) -> Vec<String> {
    fx.moto
        .requests_named()
        .into_iter()
        .filter(|(a, _)| !is_read_only(a))
        .filter(|(_, n)| !n.as_deref().is_some_and(|n| n.starts_with("drydock-lock-") || n.starts_with("sg-")))
        .map(|(a, _)| a)
        .collect()
}

/// Runs `args` with `--dry-run`, then for real; checks that the real run wrote exactly
/// what the dry run planned. Returns the number of planned steps.
#[track_caller]
fn dry_then_real(fx: &Emulated, args: &[&str]) -> usize {
    fx.moto.clear_requests();
    let mut dry_args = args.to_vec();
    dry_args.push("--dry-run");
    let dry = fx.run_json(&dry_args);
    assert_eq!(dry.code, Some(0), "{dry:?}");
    assert!(step_writes(fx).is_empty(), "the dry run wrote: {:?}", fx.moto.requests_named());
    let steps = planned(&dry.json());

    fx.moto.clear_requests();
    let real = fx.run_json(args);
    assert_eq!(real.code, Some(0), "{real:?}");
    if let Err(e) = matches(&steps, &step_writes(fx)) {
        panic!("{args:?}: the real run did not do what the dry run planned: {e}");
    }
    steps.len()
}

#[test]
fn every_dry_run_is_the_plan_the_real_run_executes() {
    let fx = Emulated::with_guest();
    // A policy: the deploys suspend the old release and the rollback resumes one.
    fx.tree.with_cpu_policy();
    let bake = |tag: &str| ["bake", "www", "--image-tag", tag, "--env", "staging"].map(str::to_owned);
    let b1 = bake("1.0.0");
    assert!(dry_then_real(&fx, &b1.iter().map(String::as_str).collect::<Vec<_>>()) >= 5, "a fresh bake");
    // A reuse plans nothing and writes nothing.
    assert_eq!(dry_then_real(&fx, &b1.iter().map(String::as_str).collect::<Vec<_>>()), 0);
    assert!(dry_then_real(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"]) >= 5);
    fx.bake_one("www", "1.0.1");
    assert!(dry_then_real(&fx, &["deploy", "www", "--env", "staging", "--image-tag", "1.0.1"]) >= 6);
    assert!(dry_then_real(&fx, &["promote", "www", "--from", "staging", "--to", "prod"]) >= 5);
    assert!(dry_then_real(&fx, &["rollback", "www", "--env", "staging"]) >= 5);
    // A finished rollback run again plans and does nothing.
    assert_eq!(dry_then_real(&fx, &["rollback", "www", "--env", "staging"]), 0);
    // gc with no standby kept: the standby group and its template go.
    fx.tree.replace("environments/staging.toml", "keep_releases = 2", "keep_releases = 0").expect("edit");
    assert!(dry_then_real(&fx, &["gc", "--env", "staging"]) >= 2);
}

#[test]
fn the_matcher_refuses_what_the_plan_did_not_say() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(
        matches(&s(&["attach", "wait_in_service", "tag"]), &s(&["AttachLoadBalancers", "CreateOrUpdateTags"])).is_ok()
    );
    assert!(matches(&s(&["attach"]), &s(&["AttachLoadBalancers", "CreateOrUpdateTags"])).is_err(), "an extra write");
    assert!(matches(&s(&["attach", "tag"]), &s(&["CreateOrUpdateTags", "AttachLoadBalancers"])).is_err(), "order");
    assert!(matches(&s(&["share_image"]), &s(&["ModifyImageAttribute"])).is_err(), "one snapshot at least");
    assert!(matches(&s(&["deregister_image"]), &s(&["DeregisterImage"])).is_ok(), "no snapshot");
}
