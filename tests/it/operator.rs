//! What an operator (and Jenkins) sees, through the real binary against the emulator (moto
//! through the fidelity shim, one per test):
//!
//! 1. every `drydock …` line of `.ci/Jenkinsfile` and `.ci/Jenkinsfile.rollback` runs, as
//!    the pipeline's shell runs it, and writes exactly one JSON document;
//! 2. off a terminal, progress is plain UTC-timestamped lines, never an escape code, and
//!    `-q` silences it;
//! 3. SIGINT/SIGTERM while a new release is awaited: exit 130 after the compensation;
//! 4. every error a user can cause is one line that names the object (and the fix);
//! 5. an AWS error keeps its code and request id in the message.
//!
//! The emulated builder guest (`tests/tools/fake_guest.py`) runs during bakes only.

use crate::common;

use common::aws::{instance_ids as instances, tag};
use common::fixtures::{eventually, Background, Emulated, Guest};

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Deref;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::{drydock_in, Run, RUN_TIMEOUT as RUN};
use serde_json::Value;

const ELB: &str = "www-staging";
const LOCK: &str = "drydock-lock-www-staging";
/// The pipeline's image tag: the commit, 12 characters (`GIT_COMMIT.take(12)`).
const TAG: &str = "3f9c2a1b7d4e";
const BUILD_URL: &str = "https://jenkins.example.com/job/www/42/";
/// The outcomes of SPEC.md's JSON output.
const OUTCOMES: [&str; 7] = ["deployed", "unchanged", "rolled_back", "failed", "planned", "baked", "reused"];

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

    /// Bakes www at each tag (in staging) with the emulated guest running; the AMI ids.
    fn bake(&self, tags: &[&str]) -> Vec<String> {
        let what: Vec<(&str, &str)> = tags.iter().map(|t| ("www", *t)).collect();
        self.0.bake(&what)
    }

    fn deploy_ok(&self, tag: &str) {
        let run = self.run(&["-q", "deploy", "www", "--env", "staging", "--image-tag", tag]);
        assert_eq!(run.code, Some(0), "deploy www {tag}: {run:?}");
    }

    fn must_group(&self, name: &str) -> aws_sdk_autoscaling::types::AutoScalingGroup {
        self.sdk.must_group(name)
    }

    fn assert_lease_released(&self) {
        assert!(!self.sdk.lock_names().contains(LOCK), "the lease {LOCK} is released");
    }

    /// `name` is attached to the ELB, tagged live, and every one of its instances InService.
    fn assert_serving(&self, name: &str) {
        let g = self.must_group(name);
        assert_eq!(g.load_balancer_names(), [ELB], "{name} is attached");
        assert_eq!(tag(&g, "drydock:state").as_deref(), Some("live"), "{name} is live");
        let ids = instances(&g);
        assert_eq!(ids.len(), 2, "{name} runs its 2 instances");
        let healthy = self.sdk.in_service(ELB);
        assert!(ids.iter().all(|i| healthy.contains(i)), "every instance of {name} is InService: {ids:?} {healthy:?}");
    }

    /// Waits until the run in `bg` polls the health of the group it waits for: at least
    /// two DescribeInstanceHealth after the last Create/Attach of this run.
    fn wait_until_polling(&self, bg: &mut Background) {
        eventually("drydock polls the awaited release's health", RUN, || {
            bg.assert_running("the health polls");
            let actions: Vec<String> = self.moto.requests().into_iter().map(|(_, a)| a).collect();
            let start = actions.iter().rposition(|a| a == "CreateAutoScalingGroup" || a == "AttachLoadBalancers")?;
            let polls = actions[start..].iter().filter(|a| *a == "DescribeInstanceHealth").count();
            (polls >= 2).then_some(())
        });
    }
}

/// The whole of stdout as one JSON document (serde_json refuses trailing data).
fn one_document(what: &str, stdout: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not exactly one JSON document ({e}): {stdout:?}"))
}

/// `2026-11-25T20:10:27Z <something>`: a progress line as Jenkins logs it.
fn is_progress_line(line: &[u8]) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ ";
    line.len() > SHAPE.len()
        && SHAPE.iter().zip(line).all(|(s, c)| if *s == b'd' { c.is_ascii_digit() } else { s == c })
        && !line[SHAPE.len()].is_ascii_whitespace()
}

/// The timestamp of a progress line, as seconds since the epoch.
fn progress_time(line: &str) -> SystemTime {
    humantime::parse_rfc3339(&line[..20]).unwrap_or_else(|e| panic!("{line:?}: not an RFC 3339 UTC timestamp: {e}"))
}

// ---------------------------------------------------------------------------------------
// 1. The Jenkinsfiles' drydock commands
// ---------------------------------------------------------------------------------------

/// One drydock invocation of a pipeline, as the shell line that Jenkins runs.
#[derive(Debug, Clone)]
struct PipelineStep {
    file: &'static str,
    /// e.g. `drydock --output json bake ${SERVICE} --image-tag ${TAG} --env staging > bake.json`
    line: String,
    subcommand: String,
    /// Where the pipeline sends stdout (archived as an artifact).
    json: String,
}

/// The calls of the Groovy helper `drydock('ARGS', 'FILE.json')` / `drydock("ARGS", …)`,
/// as the shell line the helper runs: `drydock --output json ARGS > FILE`.
fn jenkinsfile_steps(text: &str) -> Vec<PipelineStep> {
    // The helper itself: its shell line is what the steps below assume.
    assert!(
        text.contains(r#"sh(returnStatus: true, script: "drydock --output json ${args} > ${json}")"#),
        ".ci/Jenkinsfile's drydock() helper no longer runs `drydock --output json ${{args}} > ${{json}}`"
    );
    let mut steps = Vec::new();
    for (at, _) in text.match_indices("drydock(") {
        let rest = &text[at + "drydock(".len()..];
        let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            continue; // `def drydock(String args, …)`
        };
        let rest = &rest[1..];
        let end = rest.find(q).unwrap_or_else(|| panic!("unterminated drydock({q}… in .ci/Jenkinsfile"));
        let args = &rest[..end];
        let rest = rest[end + 1..].trim_start();
        let rest = rest.strip_prefix(',').expect("drydock(ARGS, FILE)").trim_start();
        let q2 = rest.chars().next().expect("a file argument");
        assert!(q2 == '\'' || q2 == '"', "drydock(ARGS, FILE): FILE is a string literal: {rest:.40}");
        let rest = &rest[1..];
        let json = &rest[..rest.find(q2).expect("an unterminated file name")];
        let subcommand = args.split_whitespace().next().expect("a subcommand").to_owned();
        steps.push(PipelineStep {
            file: ".ci/Jenkinsfile",
            line: format!("drydock --output json {args} > {json}"),
            subcommand,
            json: json.to_owned(),
        });
    }
    steps
}

/// The `sh '…'` lines of the rollback job that run drydock.
fn rollback_job_steps(text: &str) -> Vec<PipelineStep> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("sh '")?.strip_suffix('\'').map(str::to_owned))
        .filter(|l| l.starts_with("drydock "))
        .map(|line| {
            let (cmd, json) = line.rsplit_once(" > ").expect("stdout goes to a file");
            let subcommand = cmd
                .strip_prefix("drydock --output json ")
                .and_then(|c| c.split_whitespace().next())
                .unwrap_or_else(|| panic!("not `drydock --output json …`: {line}"))
                .to_owned();
            PipelineStep { file: ".ci/Jenkinsfile.rollback", json: json.trim().to_owned(), line, subcommand }
        })
        .collect()
}

/// The step's line for this test: `--out` into `out_dir`, `--reload-cmd` harmless, and
/// `--dry-run` added where the command has it.
fn for_test(step: &PipelineStep, out_dir: &Path, dry_run: bool) -> String {
    let (cmd, redirect) = step.line.rsplit_once(" > ").expect("a redirect");
    // Words split on spaces outside "…" (the shell parses the line later).
    let mut words: Vec<String> = vec![String::new()];
    let mut quoted = false;
    for c in cmd.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                words.push(String::new());
                continue;
            }
            _ => {}
        }
        words.last_mut().expect("a word").push(c);
    }
    words.retain(|w| !w.is_empty());
    if let Some(i) = words.iter().position(|w| w == "--out") {
        words[i + 1] = out_dir.join("drydock-prod.conf").display().to_string();
    }
    if let Some(i) = words.iter().position(|w| w == "--reload-cmd") {
        words[i + 1] = "\"true\"".to_owned();
    }
    let supports = ["bake", "deploy", "promote", "rollback", "routes", "gc"].contains(&step.subcommand.as_str());
    if dry_run && supports && !words.iter().any(|w| w == "--dry-run") {
        words.push("--dry-run".to_owned());
    }
    format!("{} > {}", words.join(" "), redirect.trim())
}

/// `sh -c LINE` in the workspace (the config tree, as in Jenkins), with the pipeline's
/// environment and `drydock` on PATH; what the JSON file got.
fn run_pipeline_line(fx: &Fx, bin_dir: &Path, env: &[(&str, &str)], line: &str, json: &str) -> (Run, String) {
    let base = fx.cmd(&[]);
    let mut sh = Command::new("sh");
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin_dir.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    sh.env("PATH", std::env::join_paths(paths).expect("PATH"))
        .env("NO_COLOR", "1")
        .env("BUILD_URL", BUILD_URL)
        .envs(env.iter().copied())
        .current_dir(fx.tree.path())
        .args(["-c", line]);
    let file = fx.tree.file(json);
    let _ = std::fs::remove_file(&file);
    let run = common::run(&mut sh, RUN);
    let written = std::fs::read_to_string(&file).unwrap_or_default();
    (run, written)
}

#[test]
fn the_jenkinsfiles_drydock_commands_parse_and_print_one_json_document() {
    let root = common::example_root();
    let pipeline = std::fs::read_to_string(root.join(".ci/Jenkinsfile")).expect("read .ci/Jenkinsfile");
    let rollback =
        std::fs::read_to_string(root.join(".ci/Jenkinsfile.rollback")).expect("read .ci/Jenkinsfile.rollback");
    for (file, text) in [(".ci/Jenkinsfile", &pipeline), (".ci/Jenkinsfile.rollback", &rollback)] {
        assert!(text.contains("disableConcurrentBuilds()"), "{file}: never two builds at once");
        assert!(text.contains("archiveArtifacts artifacts: '*.json'"), "{file}: archives every JSON document");
    }
    let build = jenkinsfile_steps(&pipeline);
    let job = rollback_job_steps(&rollback);
    let seen: BTreeSet<&str> = build.iter().chain(&job).map(|s| s.subcommand.as_str()).collect();
    let expected: BTreeSet<&str> =
        ["check", "bake", "deploy", "promote", "routes", "rollback", "status"].into_iter().collect();
    assert_eq!(seen, expected, "the drydock commands of the pipelines: {build:#?} {job:#?}");
    for s in build.iter().chain(&job) {
        assert!(s.json.ends_with(".json") && !s.json.contains('/'), "{}: {} is archived by '*.json'", s.file, s.json);
    }

    let fx = Fx::new();
    let bin = tempfile::tempdir().expect("a bin dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_drydock"), bin.path().join("drydock")).expect("link drydock");
    let out_dir = tempfile::tempdir().expect("an out dir");
    let vars = [("SERVICE", "www"), ("TAG", TAG), ("ENV", "staging"), ("TO", "")];

    // What the pipeline expects: an earlier build live in staging, then this build's bake
    // and staging deploy for real (the pipeline's own lines), and the front door's ELBs in
    // prod (the other services' pipelines made them).
    fx.bake(&["0.9.0"]);
    fx.deploy_ok("0.9.0");
    {
        let _guest = Guest::start(&fx.moto);
        for sub in ["bake", "deploy"] {
            let step = build.iter().find(|s| s.subcommand == sub).expect("the step");
            let line = for_test(step, out_dir.path(), false);
            let (run, json) = run_pipeline_line(&fx, bin.path(), &vars, &line, &step.json);
            assert_eq!(run.code, Some(0), "{line}: {run:?}\n{}: {json}", step.json);
        }
    }
    create_prod_elbs(&fx);

    for step in build.iter().chain(&job) {
        let line = for_test(step, out_dir.path(), true);
        let (run, json) = run_pipeline_line(&fx, bin.path(), &vars, &line, &step.json);
        assert!(!run.timed_out, "{line}: timed out: {run:?}");
        assert_ne!(run.code, Some(2), "{}: `{line}` is refused as bad input: {}", step.file, run.stderr);
        assert!(!run.stderr.contains("Usage:"), "{line}: a usage error: {}", run.stderr);
        assert_eq!(run.code, Some(0), "{}: `{line}`: {run:?}\n{}: {json}", step.file, step.json);
        let doc = one_document(&line, &json);
        assert_eq!(doc["command"], step.subcommand.as_str(), "{line}: {doc}");
        assert!(doc.get("error").is_none(), "{line}: {doc}");
        if ["bake", "deploy", "promote", "rollback"].contains(&step.subcommand.as_str()) {
            let results = doc["results"].as_array().filter(|r| !r.is_empty());
            for r in results.unwrap_or_else(|| panic!("{line}: results: {doc}")) {
                assert_eq!(r["service"], "www", "{line}: {r}");
                let outcome = r["outcome"].as_str().unwrap_or_default();
                assert!(OUTCOMES.contains(&outcome), "{line}: outcome {outcome:?} is one of the contract's: {r}");
            }
        }
    }
    assert!(!out_dir.path().join("drydock-prod.conf").exists(), "routes --dry-run wrote no file");
}

/// The classic ELBs of the three prod services, in the default subnets.
fn create_prod_elbs(fx: &Fx) {
    fx.sdk.create_elbs(&["www-prod", "imageresize-prod", "bookmarks-prod"], 80);
}

// ---------------------------------------------------------------------------------------
// 2. Progress off a terminal
// ---------------------------------------------------------------------------------------

/// Checks stderr byte-wise: no escape code, no carriage return, every line a progress line
/// with a UTC timestamp of this run. Returns how many lines there were.
fn assert_plain_progress(what: &str, stderr: &[u8], started: SystemTime) -> usize {
    assert!(!stderr.contains(&0x1b), "{what}: an escape code on stderr: {:?}", String::from_utf8_lossy(stderr));
    assert!(!stderr.contains(&b'\r'), "{what}: a carriage return on stderr (live-updated lines)");
    let text = std::str::from_utf8(stderr).expect("stderr is UTF-8");
    assert!(text.is_empty() || text.ends_with('\n'), "{what}: stderr ends with a complete line: {text:?}");
    let mut n = 0;
    for line in text.lines() {
        assert!(is_progress_line(line.as_bytes()), "{what}: not a timestamped progress line: {line:?}");
        let at = progress_time(line);
        let from = started - Duration::from_secs(2);
        let to = SystemTime::now() + Duration::from_secs(2);
        assert!(at >= from && at <= to, "{what}: the timestamp is UTC now: {line:?}");
        n += 1;
    }
    n
}

/// The bytes a run printed on stdout and stderr.
fn run_bytes(cmd: &mut Command) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let out = cmd.stdin(Stdio::null()).output().expect("run drydock");
    (out.status.code(), out.stdout, out.stderr)
}

#[test]
fn off_a_terminal_progress_is_plain_timestamped_lines_and_q_silences_it() {
    let fx = Fx::new();
    let amis = fx.bake(&["1.0.0", "1.1.0", "1.2.0"]);

    // NO_COLOR unset, and a terminal type that invites colour: stderr is a pipe.
    let started = SystemTime::now();
    let mut cmd = fx.cmd(&["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"]);
    cmd.env_remove("NO_COLOR").env("TERM", "xterm-256color");
    let (code, stdout, stderr) = run_bytes(&mut cmd);
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&stderr));
    let n = assert_plain_progress("NO_COLOR unset", &stderr, started);
    assert!(n >= 4, "the deploy's steps are reported: {}", String::from_utf8_lossy(&stderr));
    let stderr = String::from_utf8_lossy(&stderr);
    assert!(stderr.contains("www-staging-v001"), "{stderr}");
    // stdout: the result only, in text.
    assert!(!stdout.contains(&0x1b), "an escape code on stdout");
    let stdout = String::from_utf8(stdout).expect("UTF-8");
    assert_eq!(stdout.lines().count(), 1, "one result line: {stdout:?}");
    assert!(stdout.starts_with("www: deployed") && stdout.contains("www-staging-v001"), "{stdout:?}");
    assert!(!is_progress_line(stdout.as_bytes()), "{stdout:?}");

    // NO_COLOR=1 (as the pipelines set it), JSON and -v: the same plain lines.
    let started = SystemTime::now();
    let mut cmd = fx.cmd(&["--output", "json", "-v", "deploy", "www", "--env", "staging", "--image-tag", "1.1.0"]);
    cmd.env("NO_COLOR", "1").env("TERM", "xterm-256color");
    let (code, stdout, stderr) = run_bytes(&mut cmd);
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&stderr));
    let n = assert_plain_progress("NO_COLOR=1", &stderr, started);
    assert!(n >= 4, "{}", String::from_utf8_lossy(&stderr));
    let doc = one_document("deploy --output json", std::str::from_utf8(&stdout).expect("UTF-8"));
    assert_eq!(doc["results"][0]["asg"], "www-staging-v002", "{doc}");
    assert_eq!(doc["results"][0]["ami"].as_str(), Some(amis[1].as_str()), "{doc}");

    // -q: no progress at all, the result still on stdout.
    for (mode, tag, asg) in [("text", "1.2.0", "www-staging-v003"), ("json", "1.0.0", "www-staging-v001")] {
        let mut cmd = fx.cmd(&["-q", "--output", mode, "deploy", "www", "--env", "staging", "--image-tag", tag]);
        cmd.env_remove("NO_COLOR");
        let (code, stdout, stderr) = run_bytes(&mut cmd);
        assert_eq!(code, Some(0), "-q {mode}: {}", String::from_utf8_lossy(&stderr));
        assert!(stderr.is_empty(), "-q {mode}: stderr is silent: {:?}", String::from_utf8_lossy(&stderr));
        let stdout = String::from_utf8(stdout).expect("UTF-8");
        assert!(stdout.contains(asg), "-q {mode}: the result on stdout: {stdout:?}");
        if mode == "json" {
            one_document("-q --output json deploy", &stdout);
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. Interrupts
// ---------------------------------------------------------------------------------------

#[test]
fn sigint_while_a_deploy_waits_compensates_and_exits_130() {
    let fx = Fx::new();
    let amis = fx.bake(&["1.0.0", "1.1.0"]);
    fx.deploy_ok("1.0.0");
    fx.moto.unhealthy(&[&amis[1]]);
    fx.moto.clear_requests();
    let mut bg = Background::spawn(&mut fx.cmd(&[
        "--output",
        "json",
        "deploy",
        "www",
        "--env",
        "staging",
        "--image-tag",
        "1.1.0",
        "--health-timeout",
        "10m",
    ]));
    fx.wait_until_polling(&mut bg);
    let signalled = Instant::now();
    bg.signal("INT");
    let run = bg.finish(RUN);
    assert_eq!(run.code, Some(130), "{run:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10), "stops promptly, not at the 10m timeout");
    let doc = one_document("interrupted deploy", &run.stdout);
    let msg = doc["results"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("SIGINT"), "the result says what stopped it: {doc}");
    assert!(run.stderr.contains("www-staging-v002"), "{}", run.stderr);

    // The compensation ran: the new release is out, at 0, tagged failed.
    let new = fx.must_group("www-staging-v002");
    assert!(new.load_balancer_names().is_empty(), "v002 detached");
    assert_eq!(new.desired_capacity(), Some(0), "v002 scaled to 0");
    assert_eq!(tag(&new, "drydock:state").as_deref(), Some("failed"));
    // The old release serves as before; the lease is released.
    fx.assert_serving("www-staging-v001");
    assert!(fx.must_group("www-staging-v001").suspended_processes().is_empty());
    fx.assert_lease_released();
}

/// v001 (warm standby, its AMI now failing health checks) and v002 live; a rollback that
/// waits for v001 gets SIGTERM (a Jenkins abort).
fn rollback_interrupted_by_sigterm(fx: &Fx) -> Run {
    let amis = fx.bake(&["1.0.0", "1.1.0"]);
    fx.deploy_ok("1.0.0");
    fx.deploy_ok("1.1.0");
    fx.moto.unhealthy(&[&amis[0]]);
    fx.moto.clear_requests();
    let mut bg = Background::spawn(&mut fx.cmd(&["--output", "json", "rollback", "www", "--env", "staging"]));
    fx.wait_until_polling(&mut bg);
    bg.signal("TERM");
    bg.finish(RUN)
}

#[test]
fn sigterm_while_a_rollback_waits_exits_130_and_the_live_release_keeps_serving() {
    let fx = Fx::new();
    let run = rollback_interrupted_by_sigterm(&fx);
    assert_eq!(run.code, Some(130), "{run:?}");
    let doc = one_document("interrupted rollback", &run.stdout);
    assert!(doc["results"][0]["message"].as_str().is_some_and(|m| m.contains("SIGTERM")), "{doc}");
    fx.assert_serving("www-staging-v002");
    let v001 = fx.must_group("www-staging-v001");
    assert!(v001.load_balancer_names().is_empty(), "v001 is out of the ELB again");
    fx.assert_lease_released();
}

/// An interrupted rollback must leave the standby it was putting back as a standby: the
/// operator's next rollback (once the cause is fixed) needs it.
#[test]
fn an_interrupted_rollback_keeps_its_standby_for_the_next_rollback() {
    let fx = Fx::new();
    let run = rollback_interrupted_by_sigterm(&fx);
    assert_eq!(run.code, Some(130), "{run:?}");
    let v001 = fx.must_group("www-staging-v001");
    assert_ne!(tag(&v001, "drydock:state").as_deref(), Some("failed"), "the interrupted target is not 'failed'");
    assert_eq!(v001.desired_capacity(), Some(2), "the warm standby keeps its instances");

    fx.moto.clear_unhealthy();
    let again = fx.run(&["--output", "json", "rollback", "www", "--env", "staging"]);
    assert_eq!(again.code, Some(0), "the next rollback succeeds: {again:?}");
    let doc = one_document("rollback", &again.stdout);
    assert_eq!(doc["results"][0]["outcome"], "rolled_back", "{doc}");
    assert_eq!(doc["results"][0]["asg"], "www-staging-v001", "{doc}");
}

// ---------------------------------------------------------------------------------------
// 4. Errors a user can cause
// ---------------------------------------------------------------------------------------

struct Case {
    args: &'static [&'static str],
    code: i32,
    /// What the error line must name: the object, and the fix where there is one.
    names: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        args: &["deploy", "nosuch", "--env", "staging", "--image-tag", "1.0.0"],
        code: 2,
        names: &["nosuch", "environments/staging.toml", "www"],
    },
    Case {
        args: &["deploy", "www", "--env", "qa", "--image-tag", "1.0.0"],
        code: 2,
        names: &["qa", "environments/qa.toml", "staging"],
    },
    Case {
        args: &["bake", "nosuch", "--env", "staging", "--image-tag", "1.0.0"],
        code: 2,
        names: &["nosuch", "amis/nosuch.toml", "www"],
    },
    Case {
        args: &["deploy", "www", "--env", "staging", "--image-tag", "9.9.9"],
        code: 2,
        names: &["www:9.9.9", "drydock bake www --image-tag 9.9.9 --env staging"],
    },
    Case {
        args: &["deploy", "www", "--env", "staging", "--ami", "ami-0123456789abcdef0"],
        code: 2,
        names: &["--ami", "ami-0123456789abcdef0"],
    },
    Case { args: &["deploy", "www", "--env", "staging", "--image-tag", "latest"], code: 2, names: &["latest"] },
    Case {
        args: &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0", "--health-timeout", "soon"],
        code: 2,
        names: &["--health-timeout", "soon", "10m"],
    },
    Case {
        args: &["rollback", "imageresize", "--env", "staging"],
        code: 1,
        names: &["imageresize-staging", "no earlier release"],
    },
    Case { args: &["rollback", "www", "--env", "staging"], code: 1, names: &["www-staging", "no earlier release"] },
    Case {
        args: &["rollback", "www", "--env", "staging", "--to", "v007"],
        code: 1,
        names: &["www-staging", "v007", "drydock history"],
    },
    Case {
        args: &["promote", "imageresize", "--from", "staging", "--to", "prod"],
        code: 1,
        names: &["imageresize-staging", "no live release", "prod"],
    },
];

/// Runs a case in text and in JSON mode: the exit code; on stderr nothing but progress
/// lines and one-line errors (`drydock <command>: …`), one of which names everything;
/// in JSON mode one document whose message has no line break.
fn check_case(fx: &Fx, case: &Case) -> Result<(), String> {
    let what = case.args.join(" ");
    let command = case.args[0];
    let text = fx.run(case.args);
    if text.code != Some(case.code) {
        return Err(format!("{what}: exit {:?}, expected {}: {text:?}", text.code, case.code));
    }
    let prefix = format!("drydock {command}: ");
    let mut named = false;
    for line in text.stderr.lines() {
        if is_progress_line(line.as_bytes()) {
            continue;
        }
        if !line.starts_with(&prefix) {
            return Err(format!(
                "{what}: a stderr line that is neither progress nor `{prefix}…`: {line:?}\n{}",
                text.stderr
            ));
        }
        named |= case.names.iter().all(|n| line.contains(n));
    }
    if !named {
        return Err(format!("{what}: no error line names all of {:?}:\n{}", case.names, text.stderr));
    }

    let mut args = vec!["--output", "json"];
    args.extend_from_slice(case.args);
    let json = fx.run(&args);
    if json.code != Some(case.code) {
        return Err(format!("{what} (json): exit {:?}, expected {}: {json:?}", json.code, case.code));
    }
    let doc: Value = serde_json::from_str(&json.stdout)
        .map_err(|e| format!("{what} (json): stdout is not one JSON document ({e}): {json:?}"))?;
    let message = doc["error"]["message"]
        .as_str()
        .or_else(|| doc["results"][0]["message"].as_str())
        .ok_or_else(|| format!("{what} (json): no error message: {doc}"))?;
    if message.contains('\n') || message.contains('\r') {
        return Err(format!("{what} (json): the message spans lines: {message:?}"));
    }
    if let Some(missing) = case.names.iter().find(|n| !message.contains(*n)) {
        return Err(format!("{what} (json): the message does not name {missing:?}: {message}"));
    }
    Ok(())
}

#[test]
fn every_error_a_user_can_cause_is_one_line_naming_the_object_and_the_fix() {
    let fx = Fx::new();
    fx.bake(&["1.0.0"]);
    fx.deploy_ok("1.0.0");
    let failures: Vec<String> = CASES.iter().filter_map(|c| check_case(&fx, c).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), CASES.len(), failures.join("\n\n"));
    fx.assert_lease_released();
}

/// A typo in a service name of `status` is an error, as it is for every other command.
#[test]
fn status_of_an_unknown_service_is_an_error_naming_it() {
    let fx = Fx::new();
    let case = Case {
        args: &["status", "--env", "staging", "nosuch"],
        code: 2,
        names: &["nosuch", "environments/staging.toml"],
    };
    check_case(&fx, &case).unwrap_or_else(|e| panic!("{e}"));
}

/// README: "A failure is still one document … for a bad tree or flag": the Jenkins helper
/// archives stdout, which must say what went wrong.
#[test]
fn a_bad_flag_value_in_json_mode_is_one_json_document() {
    let fx = Fx::new();
    let run =
        fx.run(&["--output", "json", "deploy", "www", "--env", "staging", "--image-tag", "1.0.0", "--parallel", "0"]);
    assert_eq!(run.code, Some(2), "{run:?}");
    let doc = one_document("--parallel 0", &run.stdout);
    assert_eq!(doc["error"]["exit_code"], 2, "{doc}");
    assert!(doc["error"]["message"].as_str().is_some_and(|m| m.contains("--parallel")), "{doc}");
}

// ---------------------------------------------------------------------------------------
// 5. AWS errors keep their code and request id
// ---------------------------------------------------------------------------------------

/// An AWS error as the service sends it: one Action answered with this status, body and
/// `x-amzn-RequestId` header.
#[derive(Clone)]
struct Fault {
    action: &'static str,
    status: &'static str,
    body: String,
    request_id: &'static str,
}

/// A loopback HTTP proxy in front of the emulator: every request is forwarded, except
/// those of the fault's Action, which get the fault. One request per connection.
struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<AtomicUsize>,
}

impl FaultProxy {
    fn start(upstream: u16, fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let faults = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&faults);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (fault, counter) = (fault.clone(), Arc::clone(&counter));
                std::thread::spawn(move || {
                    let _ = proxy_one(stream, upstream, &fault, &counter);
                });
            }
        });
        Self { addr, faults }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn faults(&self) -> usize {
        self.faults.load(Ordering::SeqCst)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The head's lines without any `Connection` header, plus `Connection: close`.
fn closing_head(head: &str) -> String {
    let mut out: String = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn proxy_one(mut client: TcpStream, upstream: u16, fault: &Fault, faults: &AtomicUsize) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .split("\r\n")
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + 4 + length {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = &buf[head_end + 4..];
    let action = String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action=").map(str::to_owned))
        .unwrap_or_default();
    if action == fault.action {
        faults.fetch_add(1, Ordering::SeqCst);
        let head = format!(
            "HTTP/1.1 {}\r\nContent-Type: text/xml\r\nx-amzn-RequestId: {}\r\nContent-Length: {}",
            fault.status,
            fault.request_id,
            fault.body.len()
        );
        client.write_all(closing_head(&head).as_bytes())?;
        client.write_all(fault.body.as_bytes())?;
        return client.flush();
    }
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(closing_head(&head).as_bytes())?;
    up.write_all(body)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    match find(&resp, b"\r\n\r\n") {
        Some(i) => {
            client.write_all(closing_head(&String::from_utf8_lossy(&resp[..i])).as_bytes())?;
            client.write_all(&resp[i + 4..])?;
        }
        None => client.write_all(&resp)?,
    }
    client.flush()
}

#[test]
fn aws_errors_keep_their_code_and_request_id() {
    let fx = Fx::new();
    fx.bake(&["1.0.0", "1.1.0"]);
    fx.deploy_ok("1.0.0");

    // Auto Scaling (query protocol): the account's group limit, on CreateAutoScalingGroup.
    let limit = FaultProxy::start(
        fx.moto.port,
        Fault {
            action: "CreateAutoScalingGroup",
            status: "400 Bad Request",
            body:
                "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error><Type>Sender</Type>\
                   <Code>LimitExceeded</Code><Message>You have requested more AutoScalingGroup than your current limit \
                   of 200 allows.</Message></Error><RequestId>5e0f3c1a-7d2b-4e8f-9a61-0c2d4b7e8f90</RequestId>\
                   </ErrorResponse>"
                    .to_owned(),
            request_id: "5e0f3c1a-7d2b-4e8f-9a61-0c2d4b7e8f90",
        },
    );
    let mut cmd = drydock_in(&limit.url(), fx.tree.path());
    cmd.args(["--output", "json", "deploy", "www", "--env", "staging", "--image-tag", "1.1.0"]);
    let run = common::run(&mut cmd, RUN);
    assert_eq!(run.code, Some(1), "the deploy failed, the live service is as it was: {run:?}");
    assert!(limit.faults() >= 1, "the proxy answered CreateAutoScalingGroup with the fault");
    let doc = one_document("deploy", &run.stdout);
    let msg = doc["results"][0]["message"].as_str().unwrap_or_default();
    for s in
        ["CreateAutoScalingGroup", "LimitExceeded", "limit of 200", "request id 5e0f3c1a-7d2b-4e8f-9a61-0c2d4b7e8f90"]
    {
        assert!(msg.contains(s), "the message carries {s:?}: {msg}");
    }
    assert!(!msg.contains('\n'), "{msg:?}");
    assert!(run.stderr.contains("LimitExceeded"), "{}", run.stderr);
    fx.assert_serving("www-staging-v001");
    fx.assert_lease_released();

    // EC2 (its own error shape): an IAM policy without ec2:RunInstances, on a bake.
    let denied = FaultProxy::start(
        fx.moto.port,
        Fault {
            action: "RunInstances",
            status: "403 Forbidden",
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code>\
                   <Message>You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/jenkins \
                   is not authorized to perform: ec2:RunInstances</Message></Error></Errors>\
                   <RequestID>0b7c2f4e-1a3d-4c5b-8e9f-a1b2c3d4e5f6</RequestID></Response>"
                .to_owned(),
            request_id: "0b7c2f4e-1a3d-4c5b-8e9f-a1b2c3d4e5f6",
        },
    );
    let mut cmd = drydock_in(&denied.url(), fx.tree.path());
    cmd.args(["bake", "www", "--env", "staging", "--image-tag", "2.0.0"]);
    let run = common::run(&mut cmd, RUN);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(denied.faults() >= 1, "the proxy answered RunInstances with the fault");
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("drydock bake: "))
        .unwrap_or_else(|| panic!("an error line on stderr: {}", run.stderr));
    for s in
        ["RunInstances", "UnauthorizedOperation", "ec2:RunInstances", "request id 0b7c2f4e-1a3d-4c5b-8e9f-a1b2c3d4e5f6"]
    {
        assert!(line.contains(s), "the error carries {s:?}: {line}");
    }
}
