//! Table tests of the loader on the example tree and on small trees written here.

use std::path::{Path, PathBuf};

use super::*;
use crate::domain::{EnvName, ServiceName};

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A throwaway tree: `files` as (relative path, content).
fn tree_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

const RECIPE: &str = r#"image = "registry.example.com/team/api"
container_port = 8000

[base]
ami_id = "ami-0123456789abcdef0"
"#;

const ENV: &str = r#"region = "us-east-1"

[services.api]
route = "/api/"
instance_type = "t3.small"
min = 1
max = 3
health_check = "HTTP:8000/health"
"#;

fn load_err(dir: &Path) -> Vec<ConfigError> {
    match load(dir) {
        Ok(_) => panic!("expected errors"),
        Err(ConfigErrors(v)) => v,
    }
}

#[test]
fn example_tree_loads_with_its_values_and_defaults() {
    let t = load(&example_dir()).expect("example tree is valid");
    let names: Vec<&str> = t.recipes.keys().map(|s| s.as_str()).collect();
    assert_eq!(names, ["bookmarks", "imageresize", "www"]);
    let www = &t.recipes[&ServiceName::parse("www").unwrap()];
    assert_eq!(www.init, InitSystem::Upstart);
    assert_eq!(www.template.as_deref(), Some("www"));
    assert_eq!((www.container_port, www.host_port), (8000, 8080));
    assert!(matches!(&www.base, BaseAmi::Search { owner, .. } if owner == "099720109477"));
    let bookmarks = &t.recipes[&ServiceName::parse("bookmarks").unwrap()];
    assert_eq!(bookmarks.init, InitSystem::Systemd);

    let prod = &t.environments[&EnvName::parse("prod").unwrap()];
    let staging = &t.environments[&EnvName::parse("staging").unwrap()];
    let pw = &prod.services[&ServiceName::parse("www").unwrap()];
    let sw = &staging.services[&ServiceName::parse("www").unwrap()];
    assert!(pw.capacity.desired > sw.capacity.desired, "prod is bigger than staging");
    assert_eq!(pw.elb_name.as_str(), "www-prod");
    assert_eq!(pw.listener.instance_port, 8080, "defaults to the recipe's host_port");
    assert_eq!(pw.route.as_deref(), Some("/"));
    let si = &staging.services[&ServiceName::parse("imageresize").unwrap()];
    assert_eq!(si.capacity, Capacity { min: 1, desired: 1, max: 2 }, "desired defaults to min");
    assert_eq!(si.standby, Standby::Cold);
    assert_eq!(si.keep_releases, 2);
    assert_eq!(si.health_timeout.as_secs(), 600);
    assert_eq!(staging.network.vpc, VpcRef::Default);
    assert_eq!(staging.network.security_groups, vec![SecurityGroupRef::Name("default".into())]);
    assert_eq!(staging.bake.timeout.as_secs(), 1200);
    assert_eq!(prod.nginx.template.as_deref(), Some("frontdoor"));
    assert!(t.templates.upstart.contains_key("www"));
}

#[test]
fn minimal_tree_gets_documented_defaults() {
    let d = tree_with(&[("amis/api.toml", RECIPE), ("environments/dev.toml", ENV)]);
    let t = load(d.path()).expect("valid");
    let r = &t.recipes[&ServiceName::parse("api").unwrap()];
    assert_eq!(r.host_port, 8000, "host_port defaults to container_port");
    assert_eq!(r.init, InitSystem::Upstart, "upstart is the default init");
    let e = &t.environments[&EnvName::parse("dev").unwrap()];
    assert_eq!(e.network.subnets, vec![SubnetRef::Default]);
    assert_eq!(e.bake.instance_type, "t3.small");
    assert_eq!(e.nginx.listen, "80");
    assert_eq!(e.nginx.resolvers, vec!["169.254.169.253".to_owned()]);
    let s = &e.services[&ServiceName::parse("api").unwrap()];
    assert_eq!(s.standby, Standby::Warm);
    assert_eq!(s.listener.port, 80);
    assert_eq!(s.grace_period.as_secs(), 300);
    assert!(s.fail_early, "failing early is on by default");
}

#[test]
fn fail_early_can_be_turned_off_per_service() {
    let env = ENV.replace("max = 3", "max = 3\nfail_early = false");
    let d = tree_with(&[("amis/api.toml", RECIPE), ("environments/dev.toml", &env)]);
    let t = load(d.path()).expect("valid");
    let e = &t.environments[&EnvName::parse("dev").unwrap()];
    assert!(!e.services[&ServiceName::parse("api").unwrap()].fail_early);
    let bad = ENV.replace("max = 3", "max = 3\nfail_early = \"yes\"");
    let d = tree_with(&[("amis/api.toml", RECIPE), ("environments/dev.toml", &bad)]);
    assert!(!load_err(d.path()).is_empty(), "a boolean only");
}

#[test]
fn errors_name_file_line_key_and_rule() {
    let env = ENV.replace("max = 3", "max = 3\nelb_name = \"an-elb-name-that-is-far-too-long-for-aws\"");
    let d = tree_with(&[("amis/api.toml", RECIPE), ("environments/dev.toml", &env)]);
    let errs = load_err(d.path());
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert_eq!(e.file, PathBuf::from("environments/dev.toml"));
    assert_eq!(e.line, Some(8));
    assert_eq!(e.key, "services.api.elb_name");
    assert!(e.message.contains("40 characters") && e.message.contains("1 to 32"), "{}", e.message);
    assert!(e.to_string().starts_with("environments/dev.toml:8: services.api.elb_name: "));
}

#[test]
fn unknown_keys_are_refused_with_what_is_allowed() {
    let recipe = RECIPE.replace("container_port", "imagee = \"x\"\ncontainer_port");
    let d = tree_with(&[("amis/api.toml", &recipe), ("environments/dev.toml", ENV)]);
    let errs = load_err(d.path());
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, Some(2));
    assert!(errs[0].message.contains("unknown field `imagee`"), "{}", errs[0].message);
    assert!(errs[0].message.contains("`container_port`"), "lists the allowed keys: {}", errs[0].message);

    let env = ENV.replace("min = 1", "min = 1\ncolour = \"blue\"");
    let d = tree_with(&[("amis/api.toml", RECIPE), ("environments/dev.toml", &env)]);
    let errs = load_err(d.path());
    assert_eq!(errs[0].line, Some(7));
    assert_eq!(errs[0].key, "services.api.colour");
}

#[test]
fn every_problem_is_reported_at_once() {
    let recipe = RECIPE.replace("8000", "70000");
    let env = ENV.replace("min = 1", "min = 5").replace("\"/api/\"", "\"/api\"");
    let d = tree_with(&[("amis/api.toml", &recipe), ("environments/dev.toml", &env), ("environments/Bad.toml", ENV)]);
    let errs = load_err(d.path());
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"container_port"), "{keys:?}");
    assert!(keys.contains(&"services.api.route"), "{keys:?}");
    assert!(keys.contains(&"services.api.desired"), "{keys:?}");
    assert!(errs.iter().any(|e| e.file == Path::new("environments/Bad.toml") && e.message.contains("bad file name")));
}

#[test]
fn service_without_recipe_needs_an_instance_port() {
    let d = tree_with(&[("environments/dev.toml", ENV)]);
    let errs = load_err(d.path());
    assert_eq!(errs[0].key, "services.api.listener");
    assert!(errs[0].message.contains("instance_port"));
    let env = ENV.replace("max = 3", "max = 3\nlistener = { port = 80, instance_port = 9000 }");
    let d = tree_with(&[("environments/dev.toml", &env)]);
    let t = load(d.path()).expect("an explicit instance port is enough");
    let s = &t.environments[&EnvName::parse("dev").unwrap()].services[&ServiceName::parse("api").unwrap()];
    assert_eq!(s.listener.instance_port, 9000);
}

#[test]
fn elb_names_are_unique_per_region() {
    let a = ENV.replace("max = 3", "max = 3\nelb_name = \"shared\"");
    let d = tree_with(&[("amis/api.toml", RECIPE), ("environments/one.toml", &a), ("environments/two.toml", &a)]);
    let errs = load_err(d.path());
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].file, PathBuf::from("environments/two.toml"));
    assert!(errs[0].message.contains("unique per account and region"));
}

#[test]
fn templates_must_exist_for_their_init_system() {
    let recipe = format!("template = \"custom\"\n{RECIPE}");
    let d =
        tree_with(&[("amis/api.toml", &recipe), ("environments/dev.toml", ENV), ("systemd/custom.service.hbs", "x")]);
    let errs = load_err(d.path());
    assert_eq!(errs[0].key, "template");
    assert!(errs[0].message.contains("upstart/custom.conf.hbs does not exist"), "{}", errs[0].message);
}

#[test]
fn a_directory_that_is_not_a_tree_is_refused() {
    let d = tempfile::tempdir().expect("tempdir");
    let errs = load_err(d.path());
    assert!(errs[0].message.contains("neither amis/ nor environments/"));
}

#[test]
fn base_imds_and_docker() {
    let t = load(&example_dir()).expect("example tree");
    let www = &t.recipes[&ServiceName::parse("www").unwrap()];
    assert_eq!((www.imds, www.docker), (Imds::V1Allowed, Some(DockerVersion(1, 12, 0))));
    let bookmarks = &t.recipes[&ServiceName::parse("bookmarks").unwrap()];
    assert_eq!((bookmarks.imds, bookmarks.docker), (Imds::V2, None), "v2 by default, Docker unknown");

    let recipe = RECIPE.replace("[base]\n", "[base]\nimds = \"v1\"\ndocker = \"latest\"\n");
    let d = tree_with(&[("amis/api.toml", &recipe), ("environments/dev.toml", ENV)]);
    let errs = load_err(d.path());
    let keys: Vec<(&str, Option<usize>)> = errs.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(keys, [("base.imds", Some(5)), ("base.docker", Some(6))], "{errs:?}");
    assert!(errs[0].message.contains("\"v1-allowed\""), "{}", errs[0].message);
    assert!(errs[1].message.contains("is not a Docker version"), "{}", errs[1].message);
}

#[test]
fn scaling_loads_with_its_defaults_and_nothing_declared_is_nothing() {
    use crate::domain::scaling::HookResult;
    let tree = load(&example_dir()).expect("the example tree loads");
    let prod = tree.environment(&EnvName::parse("prod").unwrap()).unwrap();
    let www = &prod.services[&ServiceName::parse("www").unwrap()].scaling;
    let cpu = www.cpu.as_ref().expect("a CPU target");
    assert_eq!((cpu.percent, cpu.warmup.map(|w| w.as_secs()), cpu.scale_in), (60, Some(180), true));
    assert_eq!(www.schedules.len(), 1);
    let s = &www.schedules[0];
    assert_eq!((s.name.as_str(), s.recurrence.as_str()), ("business-hours", "0 7 * * MON-FRI"));
    assert_eq!((s.time_zone.as_deref(), s.min, s.max, s.desired), (Some("America/New_York"), Some(4), None, Some(6)));
    assert_eq!((www.lifecycle.launch, www.lifecycle.drain.map(|d| d.as_secs())), (None, Some(120)));
    let staging = tree.environment(&EnvName::parse("staging").unwrap()).unwrap();
    assert!(staging.services.values().all(|s| s.scaling.is_empty()), "staging declares no scaling");

    let env = format!("{ENV}\n[services.api.lifecycle]\nlaunch_timeout = \"1m\"\n");
    let dir = tree_with(&[("amis/api.toml", RECIPE), ("environments/dev.toml", &env)]);
    let tree = load(dir.path()).expect("loads");
    let api = &tree.environment(&EnvName::parse("dev").unwrap()).unwrap().services[&ServiceName::parse("api").unwrap()];
    assert_eq!(api.scaling.lifecycle.launch.map(|(t, r)| (t.as_secs(), r)), Some((60, HookResult::Continue)));
}
