//! `drydock bake` against the emulator. moto cannot boot an AMI, so each test plays the
//! builder guest: it reads the builder's user data back from the emulator, checks it
//! (`bash -n`, the pinned reference, the init job), then stops the instance (the guest
//! powered off: success) or terminates it (failure).

use crate::common;

use common::aws::{filter, image_tag};
use common::fixtures::{Background, Emulated};

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::InstanceStateName;
use common::moto::{Moto, Sdk};
use common::{drydock_in, ExampleTree, Run};

const WWW: &str = "registry.example.com/dramafever/www";

fn bake(moto: &Moto, tree: &ExampleTree, service: &str, tag: &str) -> Command {
    let mut cmd = drydock_in(&moto.url(), tree.path());
    cmd.args(["bake", service, "--image-tag", tag, "--env", "staging"]);
    cmd
}

/// Builder instances as (id, state).
fn builders(sdk: &Sdk) -> Vec<(String, InstanceStateName)> {
    let out = sdk
        .block(sdk.ec2.describe_instances().filters(filter("tag:drydock:role", "builder")).send())
        .expect("describe instances");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_id().unwrap_or_default().to_owned(),
                i.state().and_then(|s| s.name()).cloned().unwrap_or(InstanceStateName::Terminated),
            )
        })
        .collect()
}

/// Waits (polling the emulator) until a builder is running with its root volume attached
/// (moto adds the volume just after the instance appears); returns its id.
fn running_builder(sdk: &Sdk, bg: &mut Background) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = sdk
            .block(
                sdk.ec2
                    .describe_instances()
                    .filters(filter("tag:drydock:role", "builder"))
                    .filters(filter("instance-state-name", "running"))
                    .send(),
            )
            .expect("describe instances");
        let ready = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.block_device_mappings().iter().any(|m| m.ebs().and_then(|e| e.volume_id()).is_some()));
        if let Some(i) = ready {
            return i.instance_id().unwrap_or_default().to_owned();
        }
        if let Some(status) = bg.child.try_wait().expect("wait") {
            panic!("drydock exited ({status}) before a builder ran");
        }
        assert!(Instant::now() < deadline, "no builder appeared within 30 s");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn user_data(sdk: &Sdk, id: &str) -> String {
    let out = sdk
        .block(
            sdk.ec2
                .describe_instance_attribute()
                .instance_id(id)
                .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
                .send(),
        )
        .expect("user data");
    let b64 = out.user_data().and_then(|v| v.value()).expect("user data value");
    String::from_utf8(aws_smithy_types::base64::decode(b64).expect("base64")).expect("utf-8")
}

fn bash_n(script: &str) -> Result<(), String> {
    let mut c = Command::new("bash").arg("-n").stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("bash");
    c.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write");
    let o = c.wait_with_output().expect("bash -n");
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// The guest's checks of what it was asked to run.
fn check_guest(sdk: &Sdk, id: &str, image: &str, job_path: &str) {
    let ud = user_data(sdk, id);
    bash_n(&ud).expect("the bootstrap parses");
    assert!(ud.contains(&format!("\ndocker pull {image}\n")), "pulls the pinned image");
    assert!(ud.contains(&format!("cat > {job_path} <<'DRYDOCK_EOF'")), "installs the job at {job_path}");
    assert!(ud.contains(&format!(" {image} ")) || ud.contains(&format!(" {image}\n")), "the job runs the pinned image");
    assert!(!ud.contains(&format!("{WWW}:latest")));
    // It powers off from a job that runs once cloud-init has finished (the seal).
    assert!(
        ud.contains("\nsystemctl start --no-block drydock-seal.service\n")
            || ud.contains("\nstart on stopped cloud-final\n"),
        "seals and powers off after cloud-init"
    );
    // IMDSv2 required (checked on the instance: RunInstances carries the options itself),
    // except for the example's upstart bases (Ubuntu 14.04), which say `imds = "v1-allowed"`.
    let tokens = if job_path.starts_with("/etc/init/") { "optional" } else { "required" };
    let out = sdk.block(sdk.ec2.describe_instances().instance_ids(id).send()).expect("describe");
    let inst = out.reservations()[0].instances()[0].clone();
    let md = inst.metadata_options().expect("metadata options");
    assert_eq!(md.http_tokens().map(|t| t.as_str()), Some(tokens), "IMDS mode of the base");
    // The root volume is encrypted (moto applies RunInstances' block device mapping; its
    // CreateImage snapshot does not carry encryption, so the volume is where to look).
    let vol_ids: Vec<String> = inst
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.volume_id()).map(str::to_owned))
        .collect();
    let vols = sdk.block(sdk.ec2.describe_volumes().set_volume_ids(Some(vol_ids)).send()).expect("volumes");
    assert!(!vols.volumes().is_empty(), "the builder has a volume");
    assert!(vols.volumes().iter().all(|v| v.encrypted() == Some(true)), "encrypted EBS: {:?}", vols.volumes());
    let tags: Vec<(String, String)> = inst
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
        .collect();
    assert!(tags.contains(&("drydock:role".into(), "builder".into())));
    assert!(tags.iter().any(|(k, v)| k == "drydock:recipe" && v.len() == 64));
}

fn stop(sdk: &Sdk, id: &str) {
    sdk.block(sdk.ec2.stop_instances().instance_ids(id).send()).expect("stop");
}

fn terminate(sdk: &Sdk, id: &str) {
    sdk.block(sdk.ec2.terminate_instances().instance_ids(id).send()).expect("terminate");
}

fn no_live_builder(sdk: &Sdk) {
    let live: Vec<_> = builders(sdk)
        .into_iter()
        .filter(|(_, s)| !matches!(s, InstanceStateName::Terminated | InstanceStateName::ShuttingDown))
        .collect();
    assert!(live.is_empty(), "builders left running: {live:?}");
}

/// Bakes `service` at `tag`, playing a guest that succeeds; returns the run.
fn bake_ok(moto: &Moto, sdk: &Sdk, tree: &ExampleTree, service: &str, tag: &str, extra_env: &[(&str, &str)]) -> Run {
    let mut cmd = bake(moto, tree, service, tag);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut bg = Background::spawn(&mut cmd);
    let id = running_builder(sdk, &mut bg);
    stop(sdk, &id);
    bg.finish(Duration::from_secs(60))
}

#[test]
fn a_bake_gives_a_tagged_private_ami_and_terminates_its_builder() {
    let Emulated { moto, sdk, tree, .. } = Emulated::new();
    let mut bg = Background::spawn(
        bake(&moto, &tree, "www", "1.4.2").env("BUILD_URL", "https://jenkins.example.com/job/www/42/"),
    );
    let id = running_builder(&sdk, &mut bg);
    check_guest(&sdk, &id, &format!("{WWW}:1.4.2"), "/etc/init/drydock-www.conf");
    stop(&sdk, &id);
    let run = bg.finish(Duration::from_secs(60));
    assert_eq!(run.code, Some(0), "{run:?}");

    let images = sdk.our_images();
    assert_eq!(images.len(), 1, "one AMI");
    let ami = &images[0];
    assert_eq!(run.stdout.trim(), ami.image_id().unwrap_or_default(), "stdout is the AMI id");
    assert_eq!(ami.state().map(|s| s.as_str()), Some("available"));
    assert_eq!(ami.public(), Some(false), "private");
    let name = ami.name().unwrap_or_default();
    assert!(name.starts_with("drydock/www/1.4.2/") && name.len() == "drydock/www/1.4.2/".len() + 12, "{name}");
    assert_eq!(image_tag(ami, "Name").as_deref(), Some(name));
    assert_eq!(image_tag(ami, "drydock:service").as_deref(), Some("www"));
    assert_eq!(image_tag(ami, "drydock:image").as_deref(), Some(format!("{WWW}:1.4.2").as_str()));
    assert_eq!(image_tag(ami, "drydock:build").as_deref(), Some("https://jenkins.example.com/job/www/42/"));
    assert!(image_tag(ami, "drydock:recipe").as_deref().is_some_and(|r| r.len() == 64 && name.ends_with(&r[..12])));
    assert!(image_tag(ami, "drydock:base-ami").as_deref().is_some_and(|b| b.starts_with("ami-")));
    assert!(image_tag(ami, "drydock:baked-at").as_deref().is_some_and(|t| t.ends_with('Z')));
    // Its base (Ubuntu 14.04) predates IMDSv2: launch templates of this AMI allow IMDSv1.
    assert_eq!(image_tag(ami, "drydock:imds").as_deref(), Some("v1-allowed"));
    no_live_builder(&sdk);
    assert!(builders(&sdk).iter().any(|(b, _)| b == &id), "the builder is terminated, not vanished");
}

#[test]
fn the_same_recipe_is_reused_without_launching() {
    let Emulated { moto, sdk, tree, .. } = Emulated::new();
    let first = bake_ok(&moto, &sdk, &tree, "imageresize", "2.0.0", &[]);
    assert_eq!(first.code, Some(0), "{first:?}");
    moto.clear_requests();

    let mut cmd = bake(&moto, &tree, "imageresize", "2.0.0");
    let second = common::run(cmd.args(["--output", "json"]), Duration::from_secs(60));
    assert_eq!(second.code, Some(0), "{second:?}");
    let doc: serde_json::Value = serde_json::from_str(&second.stdout).expect("one JSON document");
    let r = &doc["results"][0];
    assert_eq!(r["outcome"], "reused");
    assert_eq!(r["ami"].as_str(), Some(first.stdout.trim()));
    assert_eq!(moto.count("RunInstances"), 0);
    let reqs = moto.requests();
    assert!(reqs.len() <= 3, "reuse takes at most 3 requests: {reqs:?}");
}

#[test]
fn a_changed_template_or_base_gives_a_new_ami() {
    let Emulated { moto, sdk, tree, .. } = Emulated::new();
    let a = bake_ok(&moto, &sdk, &tree, "www", "3.1.0", &[]);
    assert_eq!(a.code, Some(0), "{a:?}");

    tree.replace("upstart/www.conf.hbs", "--memory=1536m", "--memory=2g").expect("edit template");
    let b = bake_ok(&moto, &sdk, &tree, "www", "3.1.0", &[]);
    assert_eq!(b.code, Some(0), "{b:?}");
    assert_ne!(a.stdout.trim(), b.stdout.trim(), "a new template gives a new AMI");

    // Pin the base to the emulator's Ubuntu 16.04 image instead of the newest 14.04.
    tree.replace(
        "amis/www.toml",
        "owner = \"099720109477\"\nname = \"ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-*\"",
        "ami_id = \"ami-785db401\"",
    )
    .expect("edit base");
    let c = bake_ok(&moto, &sdk, &tree, "www", "3.1.0", &[]);
    assert_eq!(c.code, Some(0), "{c:?}");
    let ids = [a.stdout.trim(), b.stdout.trim(), c.stdout.trim()];
    assert_ne!(ids[1], ids[2], "a new base gives a new AMI");
    let images = sdk.our_images();
    assert_eq!(images.len(), 3);
    let hashes: std::collections::BTreeSet<_> = images.iter().filter_map(|i| image_tag(i, "drydock:recipe")).collect();
    assert_eq!(hashes.len(), 3, "three recipe hashes");
    let c_img = images.iter().find(|i| i.image_id() == Some(ids[2])).expect("c");
    assert_eq!(image_tag(c_img, "drydock:base-ami").as_deref(), Some("ami-785db401"));
}

#[test]
fn a_guest_that_terminates_fails_the_bake_and_leaves_nothing() {
    let Emulated { moto, sdk, tree, .. } = Emulated::new();
    let mut bg = Background::spawn(&mut bake(&moto, &tree, "bookmarks", "0.9.0"));
    let id = running_builder(&sdk, &mut bg);
    check_guest(
        &sdk,
        &id,
        "registry.example.com/dramafever/bookmarks:0.9.0",
        "/etc/systemd/system/drydock-bookmarks.service",
    );
    terminate(&sdk, &id);
    let run = bg.finish(Duration::from_secs(60));
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("terminated before it powered off"), "{}", run.stderr);
    run.expect_stdout("");
    assert!(sdk.our_images().is_empty(), "no AMI left");
    no_live_builder(&sdk);
}

#[test]
fn a_builder_that_never_powers_off_times_out_and_is_terminated() {
    let Emulated { moto, sdk, tree, .. } = Emulated::new();
    tree.replace("environments/staging.toml", "timeout = \"20m\"", "timeout = \"2s\"").expect("short timeout");
    let run = common::run(&mut bake(&moto, &tree, "www", "1.0.1"), Duration::from_secs(60));
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("did not power off within bake.timeout 2s"), "{}", run.stderr);
    assert!(run.stderr.contains("environments/staging.toml"), "{}", run.stderr);
    assert!(sdk.our_images().is_empty());
    assert_eq!(builders(&sdk).len(), 1, "one builder was launched");
    no_live_builder(&sdk);
}

#[test]
fn sigterm_while_waiting_terminates_the_builder_and_exits_130() {
    let Emulated { moto, sdk, tree, .. } = Emulated::new();
    let mut bg = Background::spawn(&mut bake(&moto, &tree, "www", "1.0.2"));
    let id = running_builder(&sdk, &mut bg);
    bg.signal("TERM");
    let run = bg.finish(Duration::from_secs(60));
    assert_eq!(run.code, Some(130), "{run:?}");
    assert!(run.stderr.contains("interrupted by SIGTERM"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("terminating builder {id}")), "{}", run.stderr);
    no_live_builder(&sdk);
    assert!(sdk.our_images().is_empty());
}

#[test]
fn a_rerun_after_a_kill_resumes_the_same_builder() {
    let Emulated { moto, sdk, tree, .. } = Emulated::new();
    let mut bg = Background::spawn(&mut bake(&moto, &tree, "www", "1.0.3"));
    let id = running_builder(&sdk, &mut bg);
    bg.signal("KILL");
    let killed = bg.finish(Duration::from_secs(30));
    assert_eq!(killed.code, None, "killed by a signal");
    moto.clear_requests();
    // The guest finishes meanwhile; the rerun must adopt its builder, not launch another.
    stop(&sdk, &id);
    let run = common::run(&mut bake(&moto, &tree, "www", "1.0.3"), Duration::from_secs(60));
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(moto.count("RunInstances"), 0, "no second builder");
    assert_eq!(sdk.our_images().len(), 1);
    no_live_builder(&sdk);
}

#[test]
fn bad_input_is_refused_without_any_request() {
    let Emulated { moto, tree, .. } = Emulated::new();
    let cases: [(&[&str], &str); 5] = [
        (&["bake", "www", "--image-tag", "latest", "--env", "staging"], "--image-tag"),
        (&["bake", "www", "--image-tag", "1;reboot", "--env", "staging"], "not a valid image tag"),
        (&["bake", "nosuch", "--image-tag", "1.0", "--env", "staging"], "has no amis/nosuch.toml"),
        (&["bake", "www", "--image-tag", "1.0", "--env", "nosuch"], "no environments/nosuch.toml"),
        (
            &["bake", "www", "--image-tag", "1.0", "--env", "staging", "--build-url", "file:///etc/passwd"],
            "--build-url",
        ),
    ];
    for (args, needle) in cases {
        let run = common::run(drydock_in(&moto.url(), tree.path()).args(args), Duration::from_secs(30));
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    assert_eq!(moto.requests(), vec![], "no AWS request at all");
}

/// A bootstrap that fails prints `drydock-bake: FAILED …` on the console: the bake reads the
/// console (GetConsoleOutput) at each poll while the builder runs and fails at once, long
/// before bake.timeout, with the lines that led to it. The emulator answers each console
/// from a file here (tests/guest/moto_console.py), as it does for the real guest.
#[test]
fn a_failure_on_the_console_fails_the_bake_within_a_poll() {
    let consoles = tempfile::tempdir().expect("tempdir");
    let dir = consoles.path().display().to_string();
    let moto = Moto::start_script("tests/guest/moto_console.py", &["--console-dir", &dir]);
    let sdk = moto.sdk();
    let tree = ExampleTree::new();
    let started = Instant::now();
    let mut bg = Background::spawn(&mut bake(&moto, &tree, "www", "1.0.9"));
    let id = running_builder(&sdk, &mut bg);
    // Running, with a console that shows no failure yet: the bake keeps waiting.
    std::fs::write(consoles.path().join(format!("{id}.log")), "drydock-bake: start www\n").expect("console");
    std::thread::sleep(Duration::from_millis(300));
    assert!(bg.child.try_wait().expect("wait").is_none(), "the bake waits while the bootstrap runs");
    std::fs::write(
        consoles.path().join(format!("{id}.log")),
        "\u{1b}[0;32m  OK  \u{1b}[0m] Started docker.service\r\n\
         docker pull registry.example.com/dramafever/www:1.0.9\n\
         Error response from daemon: manifest unknown\n\
         drydock-bake: FAILED at line 37 (exit 1)\n\
         cloud-init[133]: drydock-bake: FAILED at line 37 (exit 1)\n",
    )
    .expect("console");
    let run = bg.finish(Duration::from_secs(60));
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("the bootstrap failed on builder {id} (drydock-bake: FAILED at line 37 (exit 1))")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("\nError response from daemon: manifest unknown\n"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(30), "failed at once, not at bake.timeout (20m)");
    assert!(sdk.our_images().is_empty(), "no AMI");
    no_live_builder(&sdk);
}
