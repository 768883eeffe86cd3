//! Autoscaling as production runs it (issue 16): each release group owns its policies,
//! schedules and lifecycle hooks: the hooks come with CreateAutoScalingGroup, the policy
//! and schedules are in place before the group takes traffic, a standby has none active
//! (warm: every process suspended; cold: AlarmNotification and ScheduledActions), a
//! rollback brings them back, a change of only the scaling is a new release, and deleting
//! a group leaves nothing of it behind. `status` shows them.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::aws::tag;
use crate::common::fixtures::Emulated;

/// www in staging with a CPU target, a schedule and both hooks (appended to the private
/// copy of the example tree).
const SCALING: &str = r#"
[services.www.scaling]
cpu_target = 60
warmup = "3m"

[[services.www.schedule]]
name = "business-hours"
recurrence = "0 7 * * MON-FRI"
time_zone = "Europe/Berlin"
min = 2
desired = 3

[services.www.lifecycle]
launch_timeout = "5m"
drain = "2m"
"#;

fn with_scaling(fx: &Emulated) {
    let text = fx.tree.read("environments/staging.toml");
    fx.tree.write("environments/staging.toml", &format!("{text}{SCALING}"));
}

fn suspended(fx: &Emulated, group: &str) -> BTreeSet<String> {
    fx.sdk.must_group(group).suspended_processes().iter().filter_map(|p| p.process_name().map(str::to_owned)).collect()
}

/// (policy name, target value) of a group's policies.
fn policies(fx: &Emulated, group: &str) -> Vec<(String, f64)> {
    let out =
        fx.sdk.block(fx.sdk.asg.describe_policies().auto_scaling_group_name(group).send()).expect("describe policies");
    out.scaling_policies()
        .iter()
        .map(|p| {
            let target = p.target_tracking_configuration().and_then(|t| t.target_value()).unwrap_or(-1.0);
            (p.policy_name().unwrap_or_default().to_owned(), target)
        })
        .collect()
}

fn schedules(fx: &Emulated, group: &str) -> Vec<String> {
    let out = fx
        .sdk
        .block(fx.sdk.asg.describe_scheduled_actions().auto_scaling_group_name(group).send())
        .expect("describe scheduled actions");
    out.scheduled_update_group_actions()
        .iter()
        .map(|a| {
            format!(
                "{} {} {}",
                a.scheduled_action_name().unwrap_or(""),
                a.recurrence().unwrap_or(""),
                a.time_zone().unwrap_or("")
            )
        })
        .collect()
}

fn hooks(fx: &Emulated, group: &str) -> Vec<String> {
    let out = fx
        .sdk
        .block(fx.sdk.asg.describe_lifecycle_hooks().auto_scaling_group_name(group).send())
        .expect("describe lifecycle hooks");
    let mut v: Vec<String> = out
        .lifecycle_hooks()
        .iter()
        .map(|h| {
            format!(
                "{} {} {} {}",
                h.lifecycle_hook_name().unwrap_or(""),
                h.lifecycle_transition().unwrap_or(""),
                h.heartbeat_timeout().unwrap_or(0),
                h.default_result().unwrap_or("")
            )
        })
        .collect();
    v.sort();
    v
}

const ALARMS_AND_SCHEDULES: [&str; 2] = ["AlarmNotification", "ScheduledActions"];

#[test]
fn a_release_owns_its_scaling_from_creation_and_a_standby_has_none_active() {
    let fx = Emulated::new();
    with_scaling(&fx);
    fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
    fx.moto.clear_requests();
    let first = fx.run_json(&["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"]);
    assert_eq!(first.only_result("deploy")["outcome"], "deployed", "{first:?}");

    // The hooks are part of CreateAutoScalingGroup itself: no instance launches before them.
    let log = fx.moto.request_log();
    let create = log.iter().position(|e| e["action"] == "CreateAutoScalingGroup").expect("CreateAutoScalingGroup");
    let params = &log[create]["params"];
    let spec = |i: usize, k: &str| params[format!("LifecycleHookSpecificationList.member.{i}.{k}")].clone();
    assert_eq!(spec(1, "LifecycleHookName"), "drydock-launch", "{params}");
    assert_eq!(spec(1, "LifecycleTransition"), "autoscaling:EC2_INSTANCE_LAUNCHING");
    assert_eq!(spec(1, "HeartbeatTimeout"), "300");
    assert_eq!(spec(1, "DefaultResult"), "CONTINUE");
    assert_eq!(spec(2, "LifecycleHookName"), "drydock-drain");
    assert_eq!(spec(2, "LifecycleTransition"), "autoscaling:EC2_INSTANCE_TERMINATING");
    assert_eq!(spec(2, "HeartbeatTimeout"), "120");
    // The policy, the schedule and the metrics: after the group exists, before its first
    // health poll (it takes no traffic drydock counts before that) and before it is live.
    let at = |action: &str| {
        log.iter()
            .position(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {:?}", log.iter().map(|e| &e["action"]).collect::<Vec<_>>()))
    };
    let first_poll = log
        .iter()
        .enumerate()
        .skip(create)
        .find(|(_, e)| e["action"] == "DescribeInstanceHealth")
        .map(|(i, _)| i)
        .expect("a health poll after the create");
    for action in ["EnableMetricsCollection", "PutScalingPolicy", "PutScheduledUpdateGroupAction"] {
        let i = at(action);
        assert!(create < i && i < first_poll, "{action} between CreateAutoScalingGroup and the first health poll");
    }
    let put = &log[at("PutScalingPolicy")]["params"];
    assert_eq!(put["PolicyType"], "TargetTrackingScaling");
    assert_eq!(
        put["TargetTrackingConfiguration.PredefinedMetricSpecification.PredefinedMetricType"],
        "ASGAverageCPUUtilization"
    );
    assert_eq!(put["TargetTrackingConfiguration.DisableScaleIn"], "false");
    assert_eq!(put["EstimatedInstanceWarmup"], "180");
    assert_eq!(log[at("EnableMetricsCollection")]["params"]["Granularity"], "1Minute");

    // What AWS (the emulator) then has on the group.
    assert_eq!(policies(&fx, "www-staging-v001"), [("drydock-cpu".to_owned(), 60.0)]);
    assert_eq!(schedules(&fx, "www-staging-v001"), ["business-hours 0 7 * * MON-FRI Europe/Berlin"]);
    assert_eq!(
        hooks(&fx, "www-staging-v001"),
        [
            "drydock-drain autoscaling:EC2_INSTANCE_TERMINATING 120 CONTINUE",
            "drydock-launch autoscaling:EC2_INSTANCE_LAUNCHING 300 CONTINUE"
        ]
    );
    assert!(!fx.sdk.must_group("www-staging-v001").enabled_metrics().is_empty(), "metrics enabled");
    assert!(suspended(&fx, "www-staging-v001").is_empty());

    // A second release: it has its own; the warm standby keeps its own, all suspended.
    let second = fx.run_json(&["deploy", "www", "--env", "staging", "--image-tag", "1.0.1"]);
    assert_eq!(second.only_result("deploy")["outcome"], "deployed", "{second:?}");
    assert_eq!(policies(&fx, "www-staging-v002"), [("drydock-cpu".to_owned(), 60.0)]);
    assert_eq!(schedules(&fx, "www-staging-v002").len(), 1);
    assert_eq!(hooks(&fx, "www-staging-v002").len(), 2);
    assert!(suspended(&fx, "www-staging-v002").is_empty(), "the live release scales");
    let standby = suspended(&fx, "www-staging-v001");
    for p in ALARMS_AND_SCHEDULES {
        assert!(standby.contains(p), "the standby has {p} suspended: {standby:?}");
    }
    assert_eq!(policies(&fx, "www-staging-v001").len(), 1, "the standby keeps its own policy for a rollback");

    // status shows the live release's policy and its next scheduled action.
    let st = fx.run_json(&["status", "--env", "staging", "www"]);
    let live = &st.json()["results"][0]["live"];
    assert_eq!(live["policies"][0]["name"], "drydock-cpu", "{live}");
    assert_eq!(live["policies"][0]["target"], 60.0, "{live}");
    assert_eq!(live["next_scheduled"]["name"], "business-hours", "{live}");
    assert!(live["next_scheduled"]["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{live}");
    let text = fx.run(&["status", "--env", "staging", "www"]);
    assert!(text.stdout.contains("SCALING"), "{text:?}");
    assert!(text.stdout.contains("cpu 60%; next business-hours 20"), "{text:?}");

    // Rollback: the old release scales again, the one it replaces is a standby.
    let back = fx.run_json(&["rollback", "www", "--env", "staging"]);
    assert_eq!(back.only_result("rollback")["outcome"], "rolled_back", "{back:?}");
    assert_eq!(tag(&fx.sdk.must_group("www-staging-v001"), "drydock:state").as_deref(), Some("live"));
    assert!(suspended(&fx, "www-staging-v001").is_empty(), "the live release's policy and schedule are active");
    let other = suspended(&fx, "www-staging-v002");
    for p in ALARMS_AND_SCHEDULES {
        assert!(other.contains(p), "the new standby has {p} suspended: {other:?}");
    }
}

#[test]
fn a_cold_standby_keeps_alarms_and_schedules_suspended_until_a_rollback() {
    let fx = Emulated::new();
    with_scaling(&fx);
    fx.tree
        .replace(
            "environments/staging.toml",
            "standby = \"warm\"\nstandby_ttl = \"1h\"\n\n# Runtime",
            "standby = \"cold\"\nstandby_ttl = \"1h\"\n\n# Runtime",
        )
        .expect("cold standby");
    fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
    for tag in ["1.0.0", "1.0.1"] {
        let r = fx.run_json(&["deploy", "www", "--env", "staging", "--image-tag", tag]);
        assert_eq!(r.only_result("deploy")["outcome"], "deployed", "{r:?}");
    }
    let cold = fx.sdk.must_group("www-staging-v001");
    assert_eq!(cold.desired_capacity(), Some(0), "scaled to 0");
    assert_eq!(
        suspended(&fx, "www-staging-v001"),
        ALARMS_AND_SCHEDULES.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
        "exactly what would raise it again: Launch and Terminate stay on"
    );
    let back = fx.run_json(&["rollback", "www", "--env", "staging"]);
    assert_eq!(back.only_result("rollback")["outcome"], "rolled_back", "{back:?}");
    assert!(suspended(&fx, "www-staging-v001").is_empty(), "resumed before it serves again");
    assert_eq!(fx.sdk.must_group("www-staging-v001").desired_capacity(), Some(2));
    assert_eq!(
        suspended(&fx, "www-staging-v002"),
        ALARMS_AND_SCHEDULES.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>()
    );
}

#[test]
fn the_new_group_starts_at_the_live_groups_capacity() {
    let fx = Emulated::new();
    with_scaling(&fx);
    fx.bake(&[("www", "1.0.0"), ("www", "1.0.1")]);
    let r = fx.run_json(&["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"]);
    assert_eq!(r.only_result("deploy")["outcome"], "deployed", "{r:?}");
    // The policy scaled the live group to 7 (as AWS would under load).
    fx.sdk
        .block(
            fx.sdk
                .asg
                .update_auto_scaling_group()
                .auto_scaling_group_name("www-staging-v001")
                .max_size(8)
                .desired_capacity(7)
                .send(),
        )
        .expect("scale the live group");
    let r = fx.run_json(&["deploy", "www", "--env", "staging", "--image-tag", "1.0.1"]);
    assert_eq!(r.only_result("deploy")["outcome"], "deployed", "{r:?}");
    let g = fx.sdk.must_group("www-staging-v002");
    assert_eq!(g.desired_capacity(), Some(7), "never less capacity than the live group runs now");
    assert_eq!(fx.sdk.group_in_service(&g, "www-staging"), 7);
}

#[test]
fn changing_only_a_policy_is_a_new_release_and_deleted_groups_leave_no_scaling_behind() {
    let fx = Emulated::new();
    with_scaling(&fx);
    fx.tree
        .replace(
            "environments/staging.toml",
            "keep_releases = 2\nstandby = \"warm\"",
            "keep_releases = 0\nstandby = \"warm\"",
        )
        .expect("keep no standby");
    let ami = fx.bake_one("www", "1.0.0");
    let deploy = ["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"];
    let first = fx.run_json(&deploy);
    assert_eq!(first.only_result("deploy")["outcome"], "deployed", "{first:?}");
    assert_eq!(fx.run_json(&deploy).only_result("deploy")["outcome"], "unchanged");

    fx.tree.replace("environments/staging.toml", "cpu_target = 60", "cpu_target = 70").expect("edit the policy");
    let dry = fx.run_json(&[&deploy[..], &["--dry-run"]].concat());
    let r = dry.only_result("deploy");
    assert_eq!(r["release"], "v002", "{dry:?}");
    let plan: Vec<String> =
        r["plan"].as_array().into_iter().flatten().filter_map(|s| s["step"].as_str().map(str::to_owned)).collect();
    assert!(
        plan.contains(
            &"put scaling policy drydock-cpu on www-staging-v002: keep average CPU at 70%, warmup 180s".to_owned()
        ),
        "the dry run shows the policy: {plan:#?}"
    );
    assert!(plan.iter().any(|s| s.starts_with("put schedule business-hours on www-staging-v002")), "{plan:#?}");
    assert!(plan.iter().any(|s| s.contains("with lifecycle hook(s) drydock-launch")), "{plan:#?}");

    let second = fx.run_json(&deploy);
    let r = second.only_result("deploy");
    assert_eq!(r["outcome"], "deployed", "{second:?}");
    assert_eq!(r["release"], "v002");
    assert_eq!(r["ami"], Value::from(ami), "the same AMI");
    assert_eq!(policies(&fx, "www-staging-v002"), [("drydock-cpu".to_owned(), 70.0)]);

    // keep_releases = 0: v001 was deleted, and with it its policy, schedule and hooks.
    assert!(fx.sdk.group("www-staging-v001").is_none());
    assert!(policies(&fx, "www-staging-v001").is_empty());
    assert!(schedules(&fx, "www-staging-v001").is_empty());
    assert!(hooks(&fx, "www-staging-v001").is_empty());
    let all = fx.sdk.block(fx.sdk.asg.describe_policies().send()).expect("all policies");
    assert_eq!(all.scaling_policies().len(), 1, "only the live release's policy is left");
    assert_eq!(fx.run_json(&deploy).only_result("deploy")["outcome"], "unchanged");
}
