//! The offline commands through the real binary: `check` (with a real `nginx -t`),
//! `render init`, completions, and the JSON error document.

use crate::common;

use common::{drydock, run, ExampleTree, RUN_TIMEOUT};
use serde_json::Value;

/// Offline commands need no endpoint; point them at a closed port to be sure.
fn offline() -> std::process::Command {
    drydock("http://127.0.0.1:9")
}

fn nginx_installed() -> bool {
    drydock::render::nginx_check::find_nginx().is_some()
}

#[test]
fn check_passes_on_the_example_tree_with_nginx_t() {
    assert!(nginx_installed(), "nginx is required for this test: run `make setup`");
    let tree = ExampleTree::new();
    let r = run(offline().arg("-C").arg(tree.path()).arg("check"), RUN_TIMEOUT);
    r.expect_code(0);
    assert!(r.stdout.contains("nginx -t passed for 2 environment(s)"), "{}", r.stdout);
    for f in [
        "amis/www.toml",
        "amis/imageresize.toml",
        "amis/bookmarks.toml",
        "environments/staging.toml",
        "environments/prod.toml",
    ] {
        assert!(r.stdout.contains(f), "{f} is reported");
    }
}

#[test]
fn check_fails_when_nginx_rejects_the_rendered_routes() {
    assert!(nginx_installed(), "nginx is required for this test: run `make setup`");
    let tree = ExampleTree::new();
    // Valid handlebars, invalid nginx: a directive nginx does not know.
    tree.replace("nginx/frontdoor.conf.hbs", "client_max_body_size 20m;", "client_max_body_sise 20m;").expect("edit");
    let r = run(offline().arg("-C").arg(tree.path()).arg("check"), RUN_TIMEOUT);
    r.expect_code(2);
    assert!(r.stderr.contains("environments/prod.toml: the rendered routes fail nginx -t"), "{}", r.stderr);
    assert!(r.stderr.contains("client_max_body_sise"), "nginx's own message is kept: {}", r.stderr);
    // --no-nginx skips the test, so the same tree passes.
    let r = run(offline().arg("-C").arg(tree.path()).args(["check", "--no-nginx"]), RUN_TIMEOUT);
    r.expect_code(0);
}

#[test]
fn check_reports_a_template_that_does_not_render() {
    let tree = ExampleTree::new();
    tree.replace("upstart/www.conf.hbs", "{{run_flags}}", "{{run_flag}}").expect("edit");
    let r = run(offline().arg("-C").arg(tree.path()).args(["check", "--no-nginx"]), RUN_TIMEOUT);
    r.expect_code(2);
    assert!(r.stderr.contains("upstart/www.conf.hbs") && r.stderr.contains("run_flag"), "{}", r.stderr);
}

#[test]
fn render_init_json_carries_job_and_bootstrap() {
    let tree = ExampleTree::new();
    let r = run(
        offline().arg("-C").arg(tree.path()).args([
            "--output",
            "json",
            "render",
            "init",
            "bookmarks",
            "--image-tag",
            "5.0.0",
        ]),
        RUN_TIMEOUT,
    );
    r.expect_code(0);
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(v["command"], "render");
    assert_eq!(v["init"], "systemd");
    assert_eq!(v["image"], "registry.example.com/dramafever/bookmarks:5.0.0");
    assert_eq!(v["job_path"], "/etc/systemd/system/drydock-bookmarks.service");
    assert!(v["job"].as_str().is_some_and(|j| j.contains("ExecStart=/usr/bin/docker run")));
    assert!(v["bootstrap"].as_str().is_some_and(|b| b.starts_with("#!/bin/bash")));
}

#[test]
fn errors_in_json_mode_are_one_document_with_the_problems() {
    let tree = ExampleTree::new();
    tree.replace("environments/staging.toml", "min = 1\ndesired = 2", "min = 3\ndesired = 2").expect("edit");
    let r = run(offline().arg("-C").arg(tree.path()).args(["--output", "json", "check"]), RUN_TIMEOUT);
    r.expect_code(2);
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(v["command"], "check");
    assert_eq!(v["error"]["exit_code"], 2);
    let p = &v["error"]["problems"][0];
    assert_eq!(p["file"], "environments/staging.toml");
    assert_eq!(p["key"], "services.www.desired");
    assert!(p["line"].as_u64().is_some());
}

#[test]
fn completions_generate_for_three_shells_and_the_man_page_renders() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef drydock"), ("fish", "complete -c drydock")] {
        let r = run(offline().args(["completions", shell]), RUN_TIMEOUT);
        assert_eq!(r.code, Some(0), "{shell}: {r:?}");
        assert!(r.stdout.contains(marker), "{shell}");
        for cmd in ["bake", "deploy", "promote", "rollback", "routes", "gc"] {
            assert!(r.stdout.contains(cmd), "{shell} completes {cmd}");
        }
    }
    let r = run(offline().arg("man"), RUN_TIMEOUT);
    r.expect_code(0);
    assert!(r.stdout.contains(".TH drydock"), "roff");
}

#[test]
fn help_lists_every_command_of_the_contract() {
    let r = run(offline().arg("--help"), RUN_TIMEOUT);
    r.expect_code(0);
    for cmd in [
        "check",
        "render",
        "bake",
        "deploy",
        "promote",
        "rollback",
        "status",
        "history",
        "routes",
        "gc",
        "iam-policy",
        "completions",
    ] {
        assert!(r.stdout.contains(&format!("  {cmd}")), "{cmd} in --help");
    }
    let r = run(offline().args(["deploy", "--help"]), RUN_TIMEOUT);
    for flag in ["--env", "--image-tag", "--ami", "--all", "--parallel", "--health-timeout", "--dry-run"] {
        assert!(r.stdout.contains(flag), "deploy {flag}");
    }
}
