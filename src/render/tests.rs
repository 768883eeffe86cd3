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
        assert!(a.job.contains("\nstart on started docker\nstop on stopping docker\n"), "an upstart job");
        assert!(!a.job.lines().any(|l| l.starts_with("start on") && l.contains("runlevel")), "{}", a.job);
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
    // Quoted heredocs: nothing in the files is expanded by the shell (the baked settings,
    // the settings helper, the job, the seal script and the seal job).
    assert_eq!(b.matches("<<'DRYDOCK_EOF'").count(), 5);
    assert!(!b.contains("<<DRYDOCK_EOF"));
    // The job is embedded verbatim, and the env file holds the recipe's env literally
    // (no HTML escaping of '=' or '/').
    assert!(b.contains(a.job.trim_end()));
    assert!(b.contains("\nDJANGO_SETTINGS_MODULE=www.settings.production\nLOG_FORMAT=json\nDRYDOCK_EOF\n"));
    assert!(!b.contains("&#x3D;") && !b.contains("&amp;") && !b.contains("&quot;"));
    // The bootstrap returns; the seal powers off once cloud-init has finished.
    assert_eq!(b.trim_end().lines().last(), Some("echo \"drydock-bake: OK, sealing once cloud-init has finished\""));
    let (body, seal) = b.split_once("cat > /run/drydock-seal <<'DRYDOCK_EOF'\n").expect("a seal script");
    assert!(!body.contains("shutdown") && !body.contains("cloud-init clean"), "{body}");
    assert!(seal.contains("\nshutdown -h now\n"), "{seal}");
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

fn with_recipe(t: &mut Tree, service: &str, f: impl FnOnce(&mut crate::config::Recipe)) {
    f(t.recipes.get_mut(&ServiceName::parse(service).unwrap()).unwrap());
}

/// Bug: `post-stop exec … || true` never ran `|| true`, and `start on (started docker and
/// runlevel [2345])` never started the job again after `restart docker`.
#[test]
fn upstart_jobs_are_statically_checked() {
    for service in ["www", "imageresize"] {
        let (_, a) = tagged(&tree(), service, "1");
        assert_eq!(upstart_check::check(&a.job), vec![], "{}", a.job);
        assert!(a.job.contains("\npost-stop script\n  /usr/bin/docker rm -f"), "{}", a.job);
    }
    let mut t = tree();
    let old = "start on (started docker and runlevel [2345])\nstop on (stopping docker or runlevel [!2345])\n\
               exec /usr/bin/docker run {{run_flags}} {{image}}\n\
               post-stop exec /usr/bin/docker rm -f {{container}} >/dev/null 2>&1 || true\n";
    t.templates.upstart.get_mut("www").unwrap().text = old.into();
    let www = ServiceName::parse("www").unwrap();
    let image = ImageRef { repo: t.recipes[&www].image.clone(), pin: Pin::Tag(ImageTag::parse("1").unwrap()) };
    let e = render_init(&t, &t.recipes[&www], &image).unwrap_err();
    assert_eq!(e.source_name, "upstart/www.conf.hbs");
    assert!(e.message.starts_with("the job fails the upstart check:\n"), "{}", e.message);
    assert!(
        e.message.contains("\n  upstart/www.conf.hbs:1: `start on` needs `runlevel` together with `started docker`"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("\n  upstart/www.conf.hbs:4: `post-stop exec` with the shell operator `||`"),
        "{}",
        e.message
    );
}

/// The release's settings reach the container: the job merges the baked file and
/// /etc/drydock/runtime.env before each start (systemd orders it after cloud-init, which
/// writes the file; upstart waits for it) and passes the merge as the only env file.
#[test]
fn the_container_gets_the_baked_then_the_release_settings() {
    let t = tree();
    let (_, up) = tagged(&t, "imageresize", "1");
    assert!(up.job.contains("\npre-start script\n  /usr/bin/docker rm -f drydock-imageresize >/dev/null 2>&1 || true\n  /usr/local/lib/drydock/container-env imageresize 300\nend script\n"), "{}", up.job);
    assert!(up.job.contains("--env-file /run/drydock/imageresize.env -p 8080:9000"), "{}", up.job);
    let (_, sd) = tagged(&t, "bookmarks", "1");
    assert!(sd.job.contains("\nAfter=docker.service network-online.target cloud-init.service\n"), "{}", sd.job);
    assert!(sd.job.contains("\nExecStartPre=/usr/local/lib/drydock/container-env bookmarks\nExecStart=/usr/bin/docker run --rm --name drydock-bookmarks --env-file /run/drydock/bookmarks.env "), "{}", sd.job);
    for a in [&up, &sd] {
        assert_eq!(a.job.matches("--env-file").count(), 1, "one env file: docker would pass a name twice");
        assert!(a.bootstrap.contains("cat > /usr/local/lib/drydock/container-env <<'DRYDOCK_EOF'\n#!/bin/sh\n"));
    }

    // The helper itself, run on files of a temp dir: later wins, order kept, root only.
    let helper = sd.bootstrap.split("cat > /usr/local/lib/drydock/container-env <<'DRYDOCK_EOF'\n").nth(1).unwrap();
    let helper = helper.split("\nDRYDOCK_EOF\n").next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let script = helper.replace("/etc/drydock/", &format!("{d}/etc/")).replace("/run/drydock", &format!("{d}/run"));
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/api.env"), "A=baked\nB=baked\n").unwrap();
    let run = |wait: &str| Command::new("sh").args(["-c", &script, "container-env", "api", wait]).output().unwrap();
    let missing = run("1");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("runtime.env is missing"));
    std::fs::write(dir.path().join("etc/runtime.env"), "B=release\nDRYDOCK_ENV=prod\n").unwrap();
    assert!(run("0").status.success());
    let merged = std::fs::read_to_string(dir.path().join("run/api.env")).unwrap();
    assert_eq!(merged, "A=baked\nB=release\nDRYDOCK_ENV=prod\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("run/api.env")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Secrets: the helper reads each reference with the AWS CLI, asking IMDSv2 for the region
/// when the environment has none, and appends the values to the root-only file. What
/// fails stops the start at once and says why: the metadata service (bounded, not a hang
/// until the init system's timeout), a secret the AWS CLI cannot read.
#[test]
fn the_helper_reads_the_secrets_and_says_why_it_cannot() {
    use std::os::unix::fs::PermissionsExt;
    let (_, sd) = tagged(&tree(), "bookmarks", "1");
    let helper = sd.bootstrap.split("cat > /usr/local/lib/drydock/container-env <<'DRYDOCK_EOF'\n").nth(1).unwrap();
    let helper = helper.split("\nDRYDOCK_EOF\n").next().unwrap();
    assert!(helper.contains("imds=\"curl -fsS --connect-timeout 2 --max-time 5\"\n"), "{helper}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let script = helper.replace("/etc/drydock/", &format!("{d}/etc/")).replace("/run/drydock", &format!("{d}/run"));
    for sub in ["etc", "bin"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    std::fs::write(dir.path().join("etc/api.env"), "A=baked\n").unwrap();
    std::fs::write(dir.path().join("etc/runtime.env"), "B=release\n").unwrap();
    std::fs::write(dir.path().join("etc/secrets.ref"), "# NAME=reference\nDB=ssm:/p/db\nTOK=secretsmanager:s#tok\n")
        .unwrap();
    let tool = |name: &str, body: &str| {
        let p = dir.path().join("bin").join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let imds_ok = "case \"$*\" in\n  *api/token*) echo tok ;;\n  *'X-aws-ec2-metadata-token: tok'*placement/region) printf eu-west-1 ;;\n  *) exit 22 ;;\nesac\n";
    let aws_ok = "case \"$1\" in\n  ssm) echo \"db-$AWS_DEFAULT_REGION\" ;;\n  secretsmanager) echo '{\"tok\": \"t $x \\\"q\\\"\", \"other\": 1}' ;;\nesac\n";
    let path = format!("{d}/bin:{}", std::env::var("PATH").unwrap());
    let run = || {
        Command::new("sh")
            .args(["-c", &script, "container-env", "api"])
            .env("PATH", &path)
            .env_remove("AWS_DEFAULT_REGION")
            .output()
            .unwrap()
    };
    tool("curl", imds_ok);
    tool("aws", aws_ok);
    let ok = run();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let merged = std::fs::read_to_string(dir.path().join("run/api.env")).unwrap();
    assert_eq!(merged, "A=baked\nB=release\nDB=db-eu-west-1\nTOK=t $x \"q\"\n");

    // The metadata service does not answer: curl gives up within its bounds.
    tool("curl", "echo 'curl: (28) Connection timed out after 2001 milliseconds' >&2\nexit 28\n");
    let no_imds = run();
    let err = String::from_utf8_lossy(&no_imds.stderr);
    assert!(!no_imds.status.success());
    assert!(err.contains("curl: (28)"), "{err}");
    assert!(err.contains("drydock: api needs the instance's region for the secrets in "), "{err}");
    assert!(err.contains("the metadata service (IMDSv2, 169.254.169.254) did not give it"), "{err}");

    // A secret that cannot be read: the AWS CLI's reason, then which secret.
    tool("curl", imds_ok);
    tool(
        "aws",
        "echo 'An error occurred (ParameterNotFound) when calling the GetParameter operation: ' >&2\nexit 254\n",
    );
    let missing = run();
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(err.contains("(ParameterNotFound)"), "{err}");
    assert!(err.contains("drydock: api: secret DB (ssm:/p/db) could not be read (see above)"), "{err}");
}

/// The launch template's user data: cloud-config that cloud-init applies in its first
/// stage, with every value literal.
#[test]
fn runtime_user_data_is_cloud_config_write_files() {
    let env = vec![("DRYDOCK_ENV".to_owned(), "prod".to_owned()), ("URL".to_owned(), "http://x/a?b=c#d: e".to_owned())];
    let secrets = std::collections::BTreeMap::from([(
        "DB_PASSWORD".to_owned(),
        crate::domain::secret::SecretRef::parse("ssm:/www/prod/db").unwrap(),
    )]);
    let release = crate::plan::fixtures::release(7);
    let ud = runtime_user_data(&release, &env, &secrets).unwrap();
    assert!(ud.starts_with("#cloud-config\n"), "{ud}");
    assert!(ud.contains(
        "write_files:\n  - path: /etc/drydock/runtime.env\n    owner: root:root\n    permissions: '0644'\n    content: |\n      DRYDOCK_ENV=prod\n      URL=http://x/a?b=c#d: e\n"
    ), "{ud}");
    // The secret's reference, never a value, for the instance to read at each start.
    assert!(ud.ends_with(
        "  - path: /etc/drydock/secrets.ref\n    owner: root:root\n    permissions: '0644'\n    content: |\n      # NAME=reference, resolved with the instance's role at every start of the service\n      DB_PASSWORD=ssm:/www/prod/db\n"
    ), "{ud}");
    assert!(ud.contains("www-prod-v007"));
    assert_eq!(RUNTIME_ENV_FILE, "/etc/drydock/runtime.env");
}

/// cloud-init writes under /var/lib/cloud after the user data returns: the AMI is sealed
/// by a job that runs after cloud-final, not by the bootstrap itself.
#[test]
fn the_seal_runs_after_cloud_init_has_finished() {
    let t = tree();
    let (_, sd) = tagged(&t, "bookmarks", "1");
    let b = &sd.bootstrap;
    assert!(b.contains("cat > /run/systemd/system/drydock-seal.service <<'DRYDOCK_EOF'\n[Unit]\nDescription=drydock: seal the AMI and power off, once cloud-init has finished\nAfter=cloud-final.service\n"), "{b}");
    assert!(b.contains("\nsystemctl start --no-block drydock-seal.service\n"));
    assert!(b.contains(
        "  cloud-init clean --logs || { echo \"drydock-bake: FAILED at sealing (cloud-init clean)\"; exit 1; }\n"
    ));
    assert!(b.contains("\nsystemctl --no-block poweroff\n"));
    let (_, up) = tagged(&t, "www", "1");
    let b = &up.bootstrap;
    assert!(b.contains("cat > /etc/init/drydock-seal.conf <<'DRYDOCK_EOF'\ndescription \"drydock: seal the AMI and power off, once cloud-init has finished\"\nstart on stopped cloud-final\ntask\nconsole output\nexec /bin/sh /run/drydock-seal\n"), "{b}");
    assert!(b.contains("\ninitctl reload-configuration\n"));
    // cloud-init 0.7.5 has no `clean`: the seal removes what it would.
    assert!(b.contains("rm -rf /var/lib/cloud/instance /var/lib/cloud/instances"));
    assert!(b.contains("\nrm -f /etc/init/drydock-seal.conf\n"));
    assert!(b.contains("\nshutdown -h now\n"));
    let seal_job = b.split("cat > /etc/init/drydock-seal.conf <<'DRYDOCK_EOF'\n").nth(1).unwrap();
    assert_eq!(upstart_check::check(seal_job.split("\nDRYDOCK_EOF\n").next().unwrap()), vec![]);
}

/// Ubuntu 14.04's docker.io is 1.6: flags that need a newer Docker are refused, naming the
/// file and key; the bootstrap checks the real Docker on the builder too.
#[test]
fn docker_flags_are_checked_against_the_base_docker() {
    let mut t = tree();
    with_recipe(&mut t, "www", |r| r.docker = None);
    let www = ServiceName::parse("www").unwrap();
    let image = ImageRef { repo: t.recipes[&www].image.clone(), pin: Pin::Tag(ImageTag::parse("1").unwrap()) };
    let e = render_init(&t, &t.recipes[&www], &image).unwrap_err();
    assert_eq!(e.source_name, "amis/www.toml");
    assert!(
        e.message.starts_with("[healthcheck] needs Docker 1.12 or newer (--health-cmd), but the base's Docker is 1.6"),
        "{}",
        e.message
    );
    assert!(e.message.contains("Ubuntu 14.04's docker.io"), "{}", e.message);

    // Without the health check, the template's `--log-opt tag=` is next: the template is named.
    with_recipe(&mut t, "www", |r| r.healthcheck = None);
    let e = render_init(&t, &t.recipes[&www], &image).unwrap_err();
    assert_eq!(e.source_name, "upstart/www.conf.hbs");
    assert!(e.message.starts_with("`--log-opt tag=` needs Docker 1.9 or newer"), "{}", e.message);

    // Declared, it renders, and the builder checks the Docker it really has.
    let (_, a) = tagged(&tree(), "www", "1");
    assert!(
        a.bootstrap.contains("# The job's docker flags need Docker 1.12 or newer (--health-cmd).\n"),
        "{}",
        a.bootstrap
    );
    assert!(a
        .bootstrap
        .contains(r#"if [ "$(printf '%s\n' "1.12" "$docker_version" | sort -V | head -n 1)" != "1.12" ]; then"#));
    bash_n(&a.bootstrap).unwrap();
    // A job that needs nothing newer has no check.
    let (_, ir) = tagged(&tree(), "imageresize", "1");
    assert!(!ir.bootstrap.contains("docker_version"), "{}", ir.bootstrap);
}

/// Ubuntu 14.04's cloud-init (0.7.5) cannot read user data with IMDSv2 required.
#[test]
fn an_upstart_base_must_allow_imdsv1() {
    let mut t = tree();
    with_recipe(&mut t, "imageresize", |r| r.imds = crate::config::Imds::V2);
    let ir = ServiceName::parse("imageresize").unwrap();
    let image = ImageRef { repo: t.recipes[&ir].image.clone(), pin: Pin::Tag(ImageTag::parse("1").unwrap()) };
    let e = render_init(&t, &t.recipes[&ir], &image).unwrap_err();
    assert_eq!(e.source_name, "amis/imageresize.toml");
    assert!(e.message.starts_with("[base] imds: an upstart base"), "{}", e.message);
    assert!(e.message.contains("imds = \"v1-allowed\""), "{}", e.message);
}

/// An image in ECR: the builder logs in with its instance profile before the pull, and
/// logs out after it (no credentials in the AMI).
#[test]
fn ecr_images_log_in_on_the_builder() {
    let mut t = tree();
    let repo = crate::domain::ImageRepo::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/bookmarks").unwrap();
    with_recipe(&mut t, "bookmarks", |r| r.image = repo.clone());
    let (image, a) = tagged(&t, "bookmarks", "5");
    let b = &a.bootstrap;
    let login = "aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com\n";
    let pull = format!("\ndocker pull {image}\ndocker logout 123456789012.dkr.ecr.eu-west-1.amazonaws.com\n");
    assert!(b.contains(login) && b.contains(&pull), "{b}");
    assert!(b.find(login).unwrap() < b.find(&pull).unwrap());
    assert!(b.contains("drydock-bake: the base AMI has no AWS CLI"));
    assert!(b.contains("# The job's docker flags need Docker 17.07 or newer (an ECR login).\n"), "{b}");
    bash_n(b).unwrap();
    // Not for other registries.
    let (_, plain) = tagged(&tree(), "bookmarks", "5");
    assert!(!plain.bootstrap.contains("aws ecr") && !plain.bootstrap.contains("docker login"), "{}", plain.bootstrap);
    // An upstart base's Docker 1.6 cannot log in with --password-stdin (17.07).
    let mut t = tree();
    with_recipe(&mut t, "imageresize", |r| {
        r.image = crate::domain::ImageRepo::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/imageresize").unwrap()
    });
    let ir = ServiceName::parse("imageresize").unwrap();
    let image = ImageRef { repo: t.recipes[&ir].image.clone(), pin: Pin::Tag(ImageTag::parse("1").unwrap()) };
    let e = render_init(&t, &t.recipes[&ir], &image).unwrap_err();
    assert_eq!(e.source_name, "amis/imageresize.toml");
    assert!(e.message.starts_with("image needs Docker 17.07 or newer (an ECR login)"), "{}", e.message);
}
