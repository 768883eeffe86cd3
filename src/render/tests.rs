//! Rendering table tests on the example tree: pinned references, no escaping, strict
//! templates, route order.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::*;
use crate::config::{load, Tree};
use crate::domain::{Digest, EnvName, ImageRef, ImageTag, Pin, ServiceName};

fn tree() -> Tree {
    load(&PathBuf::from(env!("CARGO_MANIFEST_DIR"))).expect("example tree")
}

fn tagged(t: &Tree, service: &str, tag: &str) -> (ImageRef, InitArtifacts) {
    let r = t.recipe(&ServiceName::parse(service).unwrap()).unwrap();
    let image = ImageRef { repo: r.image.clone(), pin: Pin::Tag(ImageTag::parse(tag).unwrap()) };
    let a = render_init(t, r, &image).expect("renders");
    (image, a)
}

/// Every mention of the repository in `text` is followed by exactly the pin.
fn only_pinned(text: &str, image: &ImageRef) {
    let repo = image.repo.as_str();
    let full = image.to_string();
    let mentions = text.matches(repo).count();
    assert!(mentions > 0, "the image is not mentioned");
    assert_eq!(text.matches(full.as_str()).count(), mentions, "an unpinned or other reference of {repo} in:\n{text}");
}

fn bash_n(script: &str) -> Result<(), String> {
    let mut child = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn upstart_job_runs_exactly_the_pinned_image() {
    let t = tree();
    for service in ["www", "imageresize"] {
        let (image, a) = tagged(&t, service, "1.4.2");
        assert_eq!(a.job_path, format!("/etc/init/drydock-{service}.conf"));
        assert!(a.job.contains("start on (started docker"), "an upstart job");
        let exec = a.job.lines().find(|l| l.starts_with("exec /usr/bin/docker run")).expect("exec line");
        assert!(exec.contains(&format!(" {image}")), "{exec}");
        only_pinned(&a.job, &image);
        only_pinned(&a.bootstrap, &image);
    }
    let (_, www) = tagged(&t, "www", "1.4.2");
    assert_eq!(www.template, "upstart/www.conf.hbs");
    assert!(www.job.contains("--log-driver=syslog"), "the tree's template is used");
    let (_, ir) = tagged(&t, "imageresize", "1.4.2");
    assert!(ir.template.starts_with("built-in"));
}

#[test]
fn systemd_unit_runs_exactly_the_pinned_digest() {
    let t = tree();
    let r = t.recipe(&ServiceName::parse("bookmarks").unwrap()).unwrap();
    let d = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap();
    let image = ImageRef { repo: r.image.clone(), pin: Pin::Digest(d) };
    let a = render_init(&t, r, &image).unwrap();
    assert_eq!(a.job_path, "/etc/systemd/system/drydock-bookmarks.service");
    let exec = a.job.lines().find(|l| l.starts_with("ExecStart=")).expect("ExecStart");
    assert!(exec.contains(&format!("registry.example.com/dramafever/bookmarks@sha256:{}", "ab".repeat(32))), "{exec}");
    assert!(a.job.contains("WantedBy=multi-user.target"));
    only_pinned(&a.job, &image);
    assert!(a.bootstrap.contains("systemctl enable drydock-bookmarks.service"));
    bash_n(&a.bootstrap).expect("bootstrap parses");
}

#[test]
fn bootstrap_is_strict_quoted_and_powers_off() {
    let t = tree();
    let (image, a) = tagged(&t, "www", "2093");
    bash_n(&a.bootstrap).expect("bootstrap parses");
    let b = &a.bootstrap;
    assert!(b.starts_with("#!/bin/bash\n"));
    assert!(b.contains("\nset -euo pipefail\n"));
    assert!(b.contains(&format!("\ndocker pull {image}\n")));
    // Quoted heredocs: nothing in the files is expanded by the shell.
    assert_eq!(b.matches("<<'DRYDOCK_EOF'").count(), 2);
    assert!(!b.contains("<<DRYDOCK_EOF"));
    // The job is embedded verbatim, and the env file holds the recipe's env literally
    // (no HTML escaping of '=' or '/').
    assert!(b.contains(a.job.trim_end()));
    assert!(b.contains("\nDJANGO_SETTINGS_MODULE=www.settings.production\nLOG_FORMAT=json\nDRYDOCK_EOF\n"));
    assert!(!b.contains("&#x3D;") && !b.contains("&amp;") && !b.contains("&quot;"));
    assert_eq!(b.trim_end().lines().last(), Some("shutdown -h now"));
}

#[test]
fn every_example_recipe_renders_a_parsing_bootstrap() {
    let t = tree();
    for service in t.recipes.keys() {
        let (_, a) = tagged(&t, service.as_str(), "7.0.1");
        bash_n(&a.bootstrap).unwrap_or_else(|e| panic!("{service}: {e}"));
    }
}

#[test]
fn user_templates_are_strict_and_may_not_end_the_heredoc() {
    let mut t = tree();
    let www = ServiceName::parse("www").unwrap();
    let image = ImageRef { repo: t.recipes[&www].image.clone(), pin: Pin::Tag(ImageTag::parse("1").unwrap()) };
    let tmpl = t.templates.upstart.get_mut("www").unwrap();
    tmpl.text = "exec docker run {{imagee}}\n".into();
    let e = render_init(&t, &t.recipes[&www], &image).unwrap_err();
    assert_eq!(e.source_name, "upstart/www.conf.hbs");
    assert!(e.message.contains("imagee"), "{}", e.message);

    let tmpl = t.templates.upstart.get_mut("www").unwrap();
    tmpl.text = "exec docker run {{image}}\nDRYDOCK_EOF\nrm -rf /\n".into();
    let e = render_init(&t, &t.recipes[&www], &image).unwrap_err();
    assert!(e.message.contains("heredoc"), "{}", e.message);
}

fn targets(t: &Tree, env: &str) -> Vec<RouteTarget> {
    let e = &t.environments[&EnvName::parse(env).unwrap()];
    e.services
        .iter()
        .map(|(s, se)| RouteTarget {
            service: s.to_string(),
            elb_name: se.elb_name.to_string(),
            elb_dns: format!("{}-42.us-east-1.elb.amazonaws.com", se.elb_name),
        })
        .collect()
}

#[test]
fn routes_longest_prefix_first_root_last_through_variables() {
    let t = tree();
    let staging = &t.environments[&EnvName::parse("staging").unwrap()];
    let out = render_routes(&t, staging, &targets(&t, "staging")).unwrap();
    let locations: Vec<&str> = out.lines().filter_map(|l| l.trim().strip_prefix("location ")).collect();
    assert_eq!(locations, ["= /nginx-health {", "/api/bookmarks/ {", "/img/ {", "/ {"]);
    assert!(out.contains(
        "set $drydock_www \"www-staging-42.us-east-1.elb.amazonaws.com\";\n        proxy_pass http://$drydock_www:80;"
    ));
    assert!(out.contains("resolver 169.254.169.253 valid=10s;"));
    assert!(out.contains("server_name staging.example.com;"));
    for h in ["Host $host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id"] {
        assert!(out.contains(&format!("proxy_set_header {h}")), "{h}");
    }
    // No literal host in a proxy_pass: nginx would resolve it only once.
    let passes: Vec<&str> = out.lines().filter(|l| l.trim_start().starts_with("proxy_pass ")).collect();
    assert_eq!(passes.len(), 3);
    assert!(passes.iter().all(|l| l.contains("http://$drydock_")), "{passes:?}");
}

#[test]
fn routes_use_the_environments_template() {
    let t = tree();
    let prod = &t.environments[&EnvName::parse("prod").unwrap()];
    let out = render_routes(&t, prod, &targets(&t, "prod")).unwrap();
    assert!(out.contains("Strict-Transport-Security"), "nginx/frontdoor.conf.hbs is used");
    assert!(out.contains("server_name www.example.com example.com;"));
    let missing = render_routes(&t, prod, &[]).unwrap_err();
    assert!(missing.message.contains("no ELB known for service"));
}
