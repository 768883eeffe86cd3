//! Seeded fuzzing of the config tree and the flags (issue 12): no input may panic.
//!
//! - In process, a few thousand cases: the example tree with its TOML values mutated
//!   (durations, counts, names, URLs, unicode, huge numbers, wrong types, keys removed or
//!   added), sometimes its raw text or a template; loaded with `config::load`, then every
//!   template rendered and fuzzed command lines parsed and checked (`commands::preflight`)
//!   against it, and the grammars fed random words. A panic fails the test and prints the
//!   seed and case to replay.
//! - Through the real binary, about a hundred cases against the recording listener of
//!   tests/common: never exit 101 (a panic), and a refusal (exit 2) made no connection.
//!
//! A small xorshift generator instead of a fuzzing crate: the cases must be the same on
//! every run (seed `DRYDOCK_FUZZ_SEED`, count `DRYDOCK_FUZZ_CASES`), and nothing new has
//! to be built on two shared cores.

use crate::common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{drydock_recorded, run, ExampleTree, RecordingListener};
use drydock::cli::Cli;
use drydock::config::{self, Tree};
use drydock::domain::duration::bounds;
use drydock::domain::{grammar, Digest, ImageRef, ImageRepo, ImageTag, Pin};

/// xorshift64*: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

fn seed() -> u64 {
    std::env::var("DRYDOCK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x1d_2026)
}

fn cases(default: usize) -> usize {
    std::env::var("DRYDOCK_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Values that have broken parsers before, or sit on a boundary.
const INTERESTING: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "1",
    "65535",
    "65536",
    "4294967296",
    "9223372036854775807",
    "18446744073709551616",
    "106751991167301d",
    "18446744073709551615s",
    "99999999999999999999d",
    "1d1d1d1d1d1d",
    "0s",
    "1s",
    "7200s",
    "7201s",
    "4h",
    "4h1s",
    "30d",
    "31d",
    "1.5h",
    "-5s",
    "10 m",
    "1h30m",
    "ü",
    "日本語",
    "🦀",
    "\u{202e}rtl",
    "\u{0}",
    "\n",
    "\r\n",
    "a\u{301}",
    "İ",
    "ß",
    "$(id)",
    "`id`",
    "'",
    "\"",
    "\\",
    "{{",
    "}}",
    "{{#if x}}",
    "{{/if}}",
    "{{> p}}",
    "DRYDOCK_EOF",
    "../..",
    "/",
    "//",
    "/img/",
    "/ü/",
    "http://",
    "http://[::1",
    "http://localhost:99999",
    "https://bob:hunter2@ci.example.com/job/1/",
    "postgres://admin:pw@db/www",
    "ssm:/a/b",
    "latest",
    "sha256:",
    "ami-",
    "ami-0123456789abcdef0",
    "subnet-xyz",
    "sg-",
    "vpc-1",
    "us-east-1",
    "default",
    "alias/",
    "arn:aws:kms:",
    "HTTP:8080/health",
    "HTTP:99999/x",
    "TCP:0",
    "[::]:80",
    "*",
    "*.",
    "_",
    "www",
    "staging",
    "v000",
    "v999",
    "v1000",
];

const KEYS: &[&str] = &[
    "timeout",
    "min",
    "max",
    "desired",
    "health_timeout",
    "grace_period",
    "standby_ttl",
    "keep_releases",
    "keep_amis",
    "ami_retention",
    "volume_size",
    "kms_key_id",
    "elb_name",
    "route",
    "listen",
    "resolver_valid",
    "instance_port",
    "retries",
    "interval",
    "template",
    "DB_CREDENTIALS",
    "DATABASE_URL",
    "ünïcode",
];

fn random_string(r: &mut Rng) -> String {
    if r.chance(50) {
        let s = r.pick(INTERESTING).to_string();
        return match r.below(4) {
            0 => s.repeat(1 + r.below(300)),
            1 => format!("{s}{}", r.pick(INTERESTING)),
            _ => s,
        };
    }
    let alphabets: [&[char]; 4] = [
        &['a', 'z', '0', '9', '-', '_', '.', '/', ':', '@', 'A', 'Z'],
        &['ü', 'é', '日', '🦀', '\u{200b}', '\u{feff}', 'İ', 'ß', '\u{301}'],
        &['\u{0}', '\u{7}', '\t', '\n', '\r', '\u{7f}', '\u{85}', '\u{2028}'],
        &['$', '`', '\'', '"', '\\', ';', '&', '|', '<', '>', '{', '}', '(', ')', '*', '?', '#', '%'],
    ];
    let max = if r.chance(5) { 5000 } else { 40 };
    let len = r.below(max);
    (0..len)
        .map(|_| {
            let a = alphabets[r.below(alphabets.len())];
            a[r.below(a.len())]
        })
        .collect()
}

fn random_int(r: &mut Rng) -> i64 {
    let random = (r.next() >> 1) as i64;
    *r.pick(&[
        0,
        -1,
        1,
        2,
        20,
        21,
        100,
        101,
        500,
        501,
        1000,
        16384,
        16385,
        65535,
        65536,
        i32::MAX as i64,
        i32::MAX as i64 + 1,
        u32::MAX as i64,
        u32::MAX as i64 + 1,
        i64::MAX,
        i64::MIN,
        random,
    ])
}

fn random_value(r: &mut Rng, depth: u32) -> toml::Value {
    match r.below(if depth > 1 { 5 } else { 7 }) {
        0 | 1 => toml::Value::String(random_string(r)),
        2 => toml::Value::Integer(random_int(r)),
        3 => toml::Value::Float(*r.pick(&[1.5, -0.0, f64::NAN, f64::INFINITY, 1e300])),
        4 => toml::Value::Boolean(r.chance(50)),
        5 => toml::Value::Array((0..r.below(4)).map(|_| random_value(r, depth + 1)).collect()),
        _ => {
            let mut t = toml::Table::new();
            for _ in 0..r.below(3) {
                t.insert(r.pick(KEYS).to_string(), random_value(r, depth + 1));
            }
            toml::Value::Table(t)
        }
    }
}

/// Paths (keys and array indexes) to every value of a table, tables included.
fn paths(v: &toml::Value, here: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(here.clone());
    match v {
        toml::Value::Table(t) => {
            for (k, child) in t {
                here.push(k.clone());
                paths(child, here, out);
                here.pop();
            }
        }
        toml::Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                here.push(format!("#{i}"));
                paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut toml::Value, path: &[String]) -> Option<&'a mut toml::Value> {
    let mut cur = v;
    for p in path {
        cur = match (cur, p.strip_prefix('#')) {
            (toml::Value::Array(a), Some(i)) => a.get_mut(i.parse::<usize>().ok()?)?,
            (toml::Value::Table(t), None) => t.get_mut(p)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// One mutation of a TOML document: a value replaced (often by a value of the same
/// kind), a key removed, a key added, or a table duplicated under another name.
fn mutate_toml(r: &mut Rng, doc: &mut toml::Value) -> String {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let path = r.pick(&all).clone();
    let what = r.below(10);
    let Some(target) = at(doc, &path) else { return String::new() };
    let desc = path.join(".");
    match what {
        0..=5 => {
            let new = match (&*target, r.chance(60)) {
                (toml::Value::String(s), true) if r.chance(50) && s.chars().any(|c| c.is_ascii_digit()) => {
                    // A duration-looking string: keep its unit, change its number.
                    let unit: String = s.chars().filter(|c| c.is_ascii_alphabetic()).take(1).collect();
                    toml::Value::String(format!("{}{unit}", random_int(r).unsigned_abs()))
                }
                (toml::Value::String(_), true) => toml::Value::String(random_string(r)),
                (toml::Value::Integer(_), true) => toml::Value::Integer(random_int(r)),
                _ => random_value(r, 0),
            };
            *target = new;
            format!("replace {desc}")
        }
        6 | 7 => {
            if let toml::Value::Table(t) = target {
                let k = if r.chance(70) { r.pick(KEYS).to_string() } else { random_string(r) };
                t.insert(k.clone(), random_value(r, 0));
                format!("add {desc}.{k:?}")
            } else {
                *target = random_value(r, 0);
                format!("retype {desc}")
            }
        }
        8 => {
            if path.is_empty() {
                return String::new();
            }
            let (last, parent) = path.split_last().expect("non-empty");
            if let Some(toml::Value::Table(t)) = at(doc, parent) {
                t.remove(last);
            }
            format!("remove {desc}")
        }
        _ => {
            // A copy of a service (or any table) under another name.
            if let (Some((_, parent)), toml::Value::Table(_)) = (path.split_last(), &*target) {
                let copy = target.clone();
                if let Some(toml::Value::Table(t)) = at(doc, parent) {
                    let name = if r.chance(50) { random_string(r) } else { "api".to_owned() };
                    t.insert(name.clone(), copy);
                    return format!("copy {desc} as {name:?}");
                }
            }
            String::new()
        }
    }
}

const TOML_FILES: &[&str] = &[
    "amis/www.toml",
    "amis/bookmarks.toml",
    "amis/imageresize.toml",
    "environments/staging.toml",
    "environments/prod.toml",
];
const TEMPLATES: &[&str] = &["upstart/www.conf.hbs", "nginx/frontdoor.conf.hbs"];

/// Mutates the tree in `dir` (from `originals`); returns what was done.
fn mutate_tree(r: &mut Rng, dir: &Path, originals: &[(&str, String)]) -> Vec<String> {
    let mut done = Vec::new();
    for _ in 0..1 + r.below(2) {
        let (file, text) = r.pick(originals);
        let path = dir.join(file);
        let current = std::fs::read_to_string(&path).unwrap_or_else(|_| text.clone());
        let new = if file.ends_with(".hbs") || r.chance(10) {
            // Raw text: insert, cut or repeat.
            let mut s: Vec<char> = current.chars().collect();
            let i = r.below(s.len() + 1);
            match r.below(3) {
                0 => s.splice(i..i, random_string(r).chars()).for_each(drop),
                1 => s.truncate(i),
                _ => {
                    let tail: Vec<char> = s[i..].to_vec();
                    s.extend(tail);
                }
            }
            done.push(format!("{file}: raw edit at {i}"));
            s.into_iter().collect()
        } else {
            let mut doc = toml::Value::Table(current.parse::<toml::Table>().unwrap_or_default());
            for _ in 0..1 + r.below(3) {
                done.push(format!("{file}: {}", mutate_toml(r, &mut doc)));
            }
            toml::to_string(&doc).unwrap_or_default()
        };
        std::fs::write(&path, new).expect("write the mutated file");
    }
    done
}

fn restore(dir: &Path, originals: &[(&str, String)]) {
    for (file, text) in originals {
        std::fs::write(dir.join(file), text).expect("restore");
    }
}

fn originals(tree: &ExampleTree) -> Vec<(&'static str, String)> {
    TOML_FILES.iter().chain(TEMPLATES).map(|f| (*f, tree.read(f))).collect()
}

/// A command line: a known command with its flags, some values fuzzed.
fn random_args(r: &mut Rng, offline_only: bool) -> Vec<String> {
    let s = |r: &mut Rng, sane: &str| if r.chance(70) { sane.to_owned() } else { random_string(r) };
    let svc = |r: &mut Rng| {
        let sane = r.chance(70);
        r.pick(if sane {
            &["www", "bookmarks", "imageresize"][..]
        } else {
            &["api", "www-api", "Www", "", "ww\u{301}"][..]
        })
        .to_string()
    };
    let env = |r: &mut Rng| {
        let sane = r.chance(70);
        r.pick(if sane { &["staging", "prod"][..] } else { &["qa", "pre-prod", "", "ünï"][..] }).to_string()
    };
    let mut a: Vec<String> = Vec::new();
    if r.chance(20) {
        a.extend(["--output".into(), "json".into()]);
    }
    if r.chance(15) {
        a.extend(["--region".into(), s(r, "us-east-1")]);
    }
    if !offline_only && r.chance(15) {
        a.extend(["--endpoint-url".into(), r.pick(INTERESTING).to_string()]);
    }
    let command = if offline_only { r.below(3) } else { r.below(11) };
    match command {
        0 => a.extend(["check".into(), "--no-nginx".into()]),
        1 => {
            a.extend(["render".into(), "init".into(), svc(r)]);
            if r.chance(80) {
                a.extend(["--image-tag".into(), s(r, "1.0.0")]);
            } else {
                a.extend(["--image-digest".into(), s(r, &format!("sha256:{}", "a".repeat(64)))]);
            }
        }
        2 => a.extend(["completions".into(), s(r, "bash")]),
        3 | 4 => {
            a.extend(["deploy".into(), svc(r), "--env".into(), env(r)]);
            if r.chance(80) {
                a.extend(["--image-tag".into(), s(r, "1.0.0")]);
            } else {
                a.extend(["--ami".into(), s(r, "ami-0123456789abcdef0")]);
            }
            if r.chance(50) {
                a.extend(["--health-timeout".into(), r.pick(INTERESTING).to_string()]);
            }
            if r.chance(30) {
                a.extend(["--parallel".into(), random_int(r).to_string()]);
            }
            if r.chance(50) {
                a.push("--dry-run".into());
            }
        }
        5 => {
            a.extend(["bake".into(), svc(r), "--env".into(), env(r), "--image-tag".into(), s(r, "1.0.0")]);
            if r.chance(40) {
                a.extend(["--build-url".into(), s(r, "https://ci.example.com/job/1/")]);
            }
            if r.chance(50) {
                a.push("--dry-run".into());
            }
        }
        6 => a.extend(["promote".into(), svc(r), "--from".into(), env(r), "--to".into(), env(r), "--dry-run".into()]),
        7 => {
            a.extend(["rollback".into(), svc(r), "--env".into(), env(r)]);
            if r.chance(50) {
                a.extend(["--to".into(), s(r, "v001")]);
            }
            a.push("--dry-run".into());
        }
        8 => a.extend(["routes".into(), "--env".into(), env(r), "--dry-run".into()]),
        9 => a.extend(["gc".into(), "--env".into(), env(r), "--dry-run".into()]),
        _ => a.extend(["status".into(), "--env".into(), env(r)]),
    }
    a
}

/// How far the cases got: trees loaded, command lines that passed preflight.
#[derive(Default, Debug)]
struct Reached {
    loaded: usize,
    preflight_ok: usize,
}

/// Everything offline that a loaded tree and a command line reach, before any AWS call.
fn exercise(r: &mut Rng, dir: &Path, reached: &mut Reached) {
    let tree: Tree = match config::load(dir) {
        Ok(t) => t,
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty());
            assert_eq!(drydock::error::Error::from(e).exit_code(), 2);
            return;
        }
    };
    reached.loaded += 1;
    // What was accepted is within the bounds the later arithmetic relies on.
    for env in tree.environments.values() {
        let within = |d: drydock::domain::Duration,
                      (min, max): (drydock::domain::Duration, drydock::domain::Duration)| {
            assert!(min <= d && d <= max, "{d} outside {min}..{max} in {}", env.file.display());
        };
        within(env.bake.timeout, bounds::BAKE_TIMEOUT);
        within(env.nginx.resolver_valid, bounds::RESOLVER_VALID);
        within(env.gc.ami_retention, bounds::AMI_RETENTION);
        for s in env.services.values() {
            within(s.health_timeout, bounds::HEALTH_TIMEOUT);
            within(s.grace_period, bounds::GRACE_PERIOD);
            within(s.standby_ttl, bounds::STANDBY_TTL);
            assert!(
                s.capacity.max <= 500 && s.capacity.min <= s.capacity.desired && s.capacity.desired <= s.capacity.max
            );
            assert!(Instant::now().checked_add(s.health_timeout.std()).is_some());
        }
    }
    // One recipe a case (rendering is the dearest step): over the cases, all of them.
    let recipes: Vec<_> = tree.recipes.values().collect();
    if let Some(recipe) = recipes.get(r.below(recipes.len().max(1))) {
        let pin = if r.chance(50) {
            ImageTag::parse(&random_string(r)).map(Pin::Tag)
        } else {
            Digest::parse(&random_string(r)).map(Pin::Digest)
        }
        .unwrap_or_else(|_| Pin::Tag(ImageTag::parse("1.0.0").expect("a tag")));
        let _ = drydock::render::render_init(&tree, recipe, &ImageRef { repo: recipe.image.clone(), pin });
    }
    for _ in 0..2 {
        let mut argv = vec!["drydock".to_owned()];
        argv.extend(random_args(r, false));
        if let Ok(cli) = Cli::try_parse_from(&argv) {
            match drydock::commands::preflight(&tree, &cli.command) {
                Ok(()) => reached.preflight_ok += 1,
                Err(e) => assert!(!e.to_string().is_empty(), "{argv:?}"),
            }
        }
    }
}

/// The grammars on random words: each answers Ok or Err, never panics.
fn grammars(r: &mut Rng) {
    let s = random_string(r);
    let _ = grammar::word(&s);
    let _ = grammar::env_name(&s);
    let _ = grammar::env_value(&s);
    let _ = grammar::route(&s);
    let _ = grammar::listen(&s);
    let _ = grammar::resolver(&s);
    let _ = grammar::server_name(&s);
    let _ = grammar::instance_type(&s);
    let _ = grammar::kms_key(&s);
    let _ = grammar::region(&s);
    let _ = grammar::build_url(&s);
    let _ = grammar::endpoint_url(&s);
    let _ = grammar::aws_id(&s, "ami");
    let stripped = grammar::strip_url_credentials(&s);
    assert!(stripped.len() <= s.len());
    let _ = ImageRepo::parse(&s);
    let _ = ImageTag::parse(&s);
    let _ = Digest::parse(&s);
    let _ = drydock::domain::names::parse_version(&s);
    let _ = drydock::domain::ServiceName::parse(&s);
    let _ = drydock::domain::EnvName::parse(&s);
    let _ = drydock::domain::ElbName::parse(&s);
    for (min, max) in [bounds::HEALTH_TIMEOUT, bounds::BAKE_TIMEOUT, bounds::STANDBY_TTL] {
        if let Ok(d) = drydock::domain::Duration::parse_within(&s, min, max) {
            assert!(min <= d && d <= max);
            let _ = d.to_string();
        }
    }
    let _ = drydock::output::timestamp(random_int(r));
}

#[test]
fn fuzzed_config_and_flags_never_panic_in_process() {
    let seed = seed();
    let n = cases(3000);
    let tree = ExampleTree::new();
    let originals = originals(&tree);
    let started = Instant::now();
    let mut reached = Reached::default();
    for case in 0..n {
        let mut r = Rng::new(seed ^ (case as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let done = mutate_tree(&mut r, tree.path(), &originals);
        let result = catch_unwind(AssertUnwindSafe(|| {
            exercise(&mut r, tree.path(), &mut reached);
            grammars(&mut r);
        }));
        if result.is_err() {
            panic!(
                "case {case} of seed {seed} panicked (replay: DRYDOCK_FUZZ_SEED={seed}); mutations: {done:#?}\nthe tree is kept in {}",
                tree.path().display()
            );
        }
        restore(tree.path(), &originals);
    }
    eprintln!("{n} in-process cases of seed {seed} in {:?}: {reached:?}", started.elapsed());
    assert!(reached.loaded > n / 10, "most mutations should not make the tree invalid: {reached:?}");
    assert!(reached.preflight_ok > 0, "some command lines pass: {reached:?}");
}

#[test]
fn fuzzed_config_and_flags_through_the_binary_never_exit_101_nor_connect_before_refusing() {
    let seed = seed() ^ 0xb1_4a27;
    let n = cases(3000) / 30;
    let results: Vec<Result<i32, String>> = std::thread::scope(|s| {
        let workers = 2;
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                s.spawn(move || {
                    (0..n)
                        .filter(|c| c % workers == w)
                        .map(|case| {
                            let mut r = Rng::new(seed ^ (case as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                            let tree = ExampleTree::new();
                            // Half the cases on the intact tree, so that flags alone reach AWS too.
                            let done = if r.chance(50) {
                                mutate_tree(&mut r, tree.path(), &originals(&tree))
                            } else {
                                Vec::new()
                            };
                            // An argument or variable cannot hold a NUL byte (execve's limit).
                            let args: Vec<String> =
                                random_args(&mut r, false).into_iter().map(|a| a.replace('\0', "")).collect();
                            let listener = RecordingListener::start();
                            let mut cmd = drydock_recorded(&listener);
                            if r.chance(30) {
                                cmd.env("BUILD_URL", random_string(&mut r).replace('\0', ""));
                            }
                            cmd.arg("-C").arg(tree.path()).args(&args);
                            let out = run(&mut cmd, Duration::from_secs(30));
                            let connections = listener.settle();
                            let why = if out.timed_out {
                                Some("did not finish in 30 s".to_owned())
                            } else if out.code == Some(101) || out.stderr.contains("panicked") {
                                Some(format!("panicked (exit {:?})", out.code))
                            } else if out.code == Some(2) && connections > 0 {
                                Some(format!("refused (exit 2) after {connections} connection(s) to AWS"))
                            } else {
                                None
                            };
                            match why {
                                None => Ok(out.code.unwrap_or(-1)),
                                Some(w) => Err(format!(
                                    "case {case} of seed {seed}: {w}\n  drydock {args:?}\n  mutations: {done:?}\n  stderr: {}",
                                    out.stderr.trim_end()
                                )),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a fuzz worker panicked")).collect()
    });
    let mut codes = std::collections::BTreeMap::new();
    for c in results.iter().flatten() {
        *codes.entry(*c).or_insert(0) += 1;
    }
    eprintln!("{n} binary cases of seed {seed}: exit codes {codes:?}");
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{} of {n} binary cases failed:\n{}", failures.len(), failures.join("\n\n"));
}
