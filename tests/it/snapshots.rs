//! Snapshot tests of what each command prints on stdout, as text and as JSON, compared
//! with golden files in `tests/snapshots/` (`<name>.txt` for `--output text`,
//! `<name>.json` for `--output json`, `<name>.stderr.txt` for the progress and error
//! lines a person reads in a Jenkins log).
//!
//! Every run sets `DRYDOCK_FAKE_NOW` (src/clock.rs), so that every time drydock writes
//! (tags, history records, expiries, progress timestamps) is fixed: timestamps are never
//! normalized here, and one that moves between runs is a bug in drydock.
//!
//! What the emulator or the machine chooses is normalized, by [`Normalizer`], and nothing
//! else:
//! - resource ids `ami-…`, `i-…`, `subnet-…`, `sg-…`, `vpc-…`, `snap-…`, `lt-…` (8 to 17
//!   hex digits) become `ami-1`, `ami-2`, … numbered by first appearance, one numbering
//!   per workflow, so that the AMI `bake` printed is recognisably the one `status` shows;
//! - the recipe hash (64 hex digits) and its 12-digit prefix in AMI names
//!   (`drydock/<service>/<tag>/<hash12>`) become `<recipe-1>`, … (`<recipe-1-sha256>` for the
//!   whole hash), numbered by first appearance;
//! - `elapsed_s` values in JSON become 0;
//! - `unknown@<this host>` (the runs have no `$USER`) becomes `USER@HOST`;
//! - the test's temporary folders become `<TMP>`;
//! - text tables (`status`, `history`) are first checked to be aligned as drydock printed
//!   them, then normalized cell by cell and aligned again the way drydock aligns them, so
//!   that a shorter placeholder or another host name's length never moves a column.
//!
//! JSON is compared as parsed, normalized and pretty-printed with sorted keys, so that key
//! order never matters; text is compared byte for byte after normalization.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test --test snapshots` rewrites the golden files. Without it, a
//! mismatch fails the test with the golden file's path and the first differing lines;
//! every snapshot of a workflow is compared before the test fails, so one run lists them all.
//!
//! The workflow (check → render → bake → deploy → promote → rollback → a failed deploy →
//! status → history → routes → gc → iam-policy) runs twice in parallel, once per output
//! format, each against its own emulator and emulated builder guest, so that both formats
//! see the same state at every step.

use crate::common;

use common::fixtures::Guest;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::moto::Moto;
use common::{drydock_in, ExampleTree, RecordingListener, Run};
use serde_json::{Map, Value};

/// The fixed clock of every run: 2026-11-25T09:46:40Z.
const NOW: &str = "1795600000";
/// The clock of the gc steps, "much later": every warm standby has expired, and the AMIs
/// are past `[gc] ami_retention` (gc compares this clock with the emulator's own
/// CreationDate, which is the real time of the bake). 2100-01-01T00:00:00Z.
const LATER: &str = "4102444800";
const RUN: Duration = Duration::from_secs(60);
const JENKINS_42: &str = "https://jenkins.example.com/job/www/42/";
const JENKINS_43: &str = "https://jenkins.example.com/job/www/43/";

// ---------------------------------------------------------------------------------------
// The normalizer
// ---------------------------------------------------------------------------------------

/// Resource id prefixes; an id is one of these, `-`, and 8 to 17 hex digits, as a whole word.
const ID_KINDS: [&str; 7] = ["subnet", "snap", "ami", "vpc", "sg", "lt", "i"];

/// Replaces what the emulator and the machine choose (see the module comment); keeps one
/// numbering for every text it sees, so use one per workflow.
struct Normalizer {
    /// Literal replacements, applied first (temp paths, `unknown@host`).
    literals: Vec<(String, String)>,
    ids: HashMap<String, String>,
    counters: HashMap<&'static str, usize>,
    /// Recipe hash prefix (12 hex digits) → its number.
    recipes: HashMap<String, usize>,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn hex_run(b: &[u8], from: usize) -> usize {
    b[from..].iter().take_while(|c| is_hex(**c)).count()
}

/// True when position `i` of `b` ends a word (end of text or a non-word byte).
fn word_ends(b: &[u8], i: usize) -> bool {
    i >= b.len() || !is_word(b[i])
}

/// The host name as drydock reads it for `deployed_by` (src/commands/deploy.rs).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into())
}

impl Normalizer {
    /// `temp_dirs` become `<TMP>`.
    fn new(temp_dirs: &[&Path]) -> Self {
        let mut literals: Vec<(String, String)> =
            temp_dirs.iter().map(|p| (p.display().to_string(), "<TMP>".to_owned())).collect();
        // Longest first, so that a folder inside another is replaced whole.
        literals.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        literals.push((format!("unknown@{}", host_name()), "USER@HOST".to_owned()));
        Self { literals, ids: HashMap::new(), counters: HashMap::new(), recipes: HashMap::new() }
    }

    fn id(&mut self, kind: &'static str, raw: &str) -> String {
        if let Some(p) = self.ids.get(raw) {
            return p.clone();
        }
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        let p = format!("{kind}-{n}");
        self.ids.insert(raw.to_owned(), p.clone());
        p
    }

    fn recipe(&mut self, hash: &str) -> usize {
        let next = self.recipes.len() + 1;
        *self.recipes.entry(hash[..12].to_owned()).or_insert(next)
    }

    /// A resource id starting at `i` (at a word start): its kind and length.
    fn id_at(b: &[u8], i: usize) -> Option<(&'static str, usize)> {
        ID_KINDS.iter().find_map(|kind| {
            let k = kind.len();
            if !(b[i..].starts_with(kind.as_bytes()) && b.get(i + k) == Some(&b'-')) {
                return None;
            }
            let h = hex_run(b, i + k + 1);
            ((8..=17).contains(&h) && word_ends(b, i + k + 1 + h)).then_some((*kind, k + 1 + h))
        })
    }

    /// An AMI name `drydock/<service>/<tag>/<hash12>` starting at `i`: the offset of the
    /// hash in it.
    fn ami_name_at(b: &[u8], i: usize) -> Option<usize> {
        const HEAD: &[u8] = b"drydock/";
        if !b[i..].starts_with(HEAD) {
            return None;
        }
        let mut j = i + HEAD.len();
        for _ in 0..2 {
            let seg = b[j..].iter().take_while(|c| !c.is_ascii_whitespace() && !b"/\"'()".contains(c)).count();
            if seg == 0 || b.get(j + seg) != Some(&b'/') {
                return None;
            }
            j += seg + 1;
        }
        (hex_run(b, j) == 12 && word_ends(b, j + 12)).then_some(j)
    }

    fn text(&mut self, input: &str) -> String {
        let mut s = input.to_owned();
        for (from, to) in &self.literals {
            s = s.replace(from.as_str(), to);
        }
        let b = s.as_bytes();
        let mut out = String::with_capacity(s.len());
        let (mut i, mut copied) = (0, 0);
        while i < b.len() {
            if i > 0 && is_word(b[i - 1]) {
                i += 1;
                continue;
            }
            if let Some((kind, len)) = Self::id_at(b, i) {
                out.push_str(&s[copied..i]);
                let p = self.id(kind, &s[i..i + len]);
                out.push_str(&p);
                i += len;
                copied = i;
            } else if let Some(h) = Self::ami_name_at(b, i) {
                out.push_str(&s[copied..h]);
                let n = self.recipe(&s[h..h + 12]);
                out.push_str(&format!("<recipe-{n}>"));
                i = h + 12;
                copied = i;
            } else if hex_run(b, i) == 64 && word_ends(b, i + 64) {
                out.push_str(&s[copied..i]);
                let n = self.recipe(&s[i..i + 64]);
                out.push_str(&format!("<recipe-{n}-sha256>"));
                i += 64;
                copied = i;
            } else {
                i += 1;
            }
        }
        out.push_str(&s[copied..]);
        out
    }

    /// A text table as `src/output.rs` `table` prints it (columns as wide as their widest
    /// cell, two spaces apart, the last one unpadded). Checks that drydock's own output is
    /// aligned on the header's columns, normalizes it cell by cell, and aligns it again the
    /// same way, so that a replacement of another length (`USER@HOST` for
    /// `unknown@<host>`, `ami-1` for a 21-character id) keeps the table aligned and
    /// independent of the host name.
    fn table(&mut self, raw: &str) -> Result<String, String> {
        let lines: Vec<Vec<char>> = raw.lines().map(|l| l.chars().collect()).collect();
        let header = lines.first().ok_or("an empty table")?;
        let starts: Vec<usize> = (0..header.len())
            .filter(|&i| header[i] != ' ' && (i == 0 || (i >= 2 && header[i - 1] == ' ' && header[i - 2] == ' ')))
            .collect();
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            let mut cells = Vec::new();
            for (k, &s) in starts.iter().enumerate() {
                let end = starts.get(k + 1).copied().unwrap_or(line.len()).min(line.len());
                if s > 0 && s <= line.len() && !(line[s - 1] == ' ' && line[s - 2] == ' ') {
                    return Err(format!("line {}: column {} does not start at {s}: {raw}", n + 1, k + 1));
                }
                let cell: String = line.get(s.min(line.len())..end).map(|c| c.iter().collect()).unwrap_or_default();
                cells.push(self.text(cell.trim_end()));
            }
            rows.push(cells);
        }
        let mut widths = vec![0; starts.len()];
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in rows {
            let mut line = String::new();
            for (k, c) in r.iter().enumerate() {
                if k + 1 == r.len() {
                    line.push_str(c);
                } else {
                    line.push_str(&format!("{c:<w$}  ", w = widths[k]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        Ok(out)
    }

    /// One JSON document: parsed, keys sorted, `elapsed_s` zeroed, pretty-printed, then
    /// normalized as text.
    fn json(&mut self, stdout: &str) -> Result<String, String> {
        let v: Value = serde_json::from_str(stdout).map_err(|e| format!("stdout is not one JSON document ({e})"))?;
        let pretty = serde_json::to_string_pretty(&canonical(v)).map_err(|e| e.to_string())?;
        Ok(self.text(&pretty) + "\n")
    }
}

/// Keys sorted at every level (whatever serde_json's map preserves), `elapsed_s` → 0.
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut pairs: Vec<(String, Value)> = m.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = Map::new();
            for (k, v) in pairs {
                let v = if k == "elapsed_s" && v.is_number() { Value::from(0.0) } else { canonical(v) };
                out.insert(k, v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical).collect()),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------
// Golden files
// ---------------------------------------------------------------------------------------

fn golden_dir() -> PathBuf {
    common::example_root().join("tests/snapshots")
}

fn updating() -> bool {
    std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1")
}

/// The first difference between `golden` and `actual`, with a few lines of each.
fn first_difference(golden: &str, actual: &str) -> String {
    let g: Vec<&str> = golden.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let at = (0..g.len().max(a.len())).find(|i| g.get(*i) != a.get(*i));
    let Some(at) = at else {
        return "the texts differ only in their final newline".to_owned();
    };
    let mut out =
        format!("first difference at line {} (golden {} lines, actual {} lines):\n", at + 1, g.len(), a.len());
    for (i, l) in g.iter().enumerate().take(at).skip(at.saturating_sub(2)) {
        out.push_str(&format!("   {:>4} | {l}\n", i + 1));
    }
    // Up to 6 differing lines from there, golden (-) above actual (+).
    for i in (at..g.len().max(a.len())).filter(|i| g.get(*i) != a.get(*i)).take(6) {
        for (sign, side) in [("-", &g), ("+", &a)] {
            match side.get(i) {
                Some(l) => out.push_str(&format!("{sign}  {:>4} | {l}\n", i + 1)),
                None => out.push_str(&format!("{sign}  {:>4} | (no line)\n", i + 1)),
            }
        }
    }
    out
}

/// Compares `actual` (normalized) with `tests/snapshots/<file>`, or rewrites the golden
/// file under `UPDATE_SNAPSHOTS=1`. Returns the failure, if any.
fn compare(file: &str, actual: &str) -> Option<String> {
    let path = golden_dir().join(file);
    let golden = std::fs::read_to_string(&path).ok();
    if updating() {
        if golden.as_deref() != Some(actual) {
            std::fs::create_dir_all(golden_dir()).expect("create tests/snapshots");
            std::fs::write(&path, actual).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            eprintln!("updated {}", path.display());
        }
        return None;
    }
    match golden {
        None => Some(format!(
            "{}: no golden file; run `UPDATE_SNAPSHOTS=1 cargo test --test snapshots`, then read it\n",
            path.display()
        )),
        Some(g) if g == actual => None,
        Some(g) => Some(format!(
            "{} differs (UPDATE_SNAPSHOTS=1 rewrites it): {}",
            path.display(),
            first_difference(&g, actual)
        )),
    }
}

/// The snapshots of one test: one normalizer, and every mismatch, reported at the end.
struct Snapshots {
    norm: Normalizer,
    failures: Vec<String>,
}

impl Snapshots {
    fn new(temp_dirs: &[&Path]) -> Self {
        Self { norm: Normalizer::new(temp_dirs), failures: Vec::new() }
    }

    fn text(&mut self, file: &str, raw: &str) {
        let actual = self.norm.text(raw);
        if let Some(f) = compare(file, &actual) {
            self.failures.push(f);
        }
    }

    fn table(&mut self, file: &str, raw: &str) {
        match self.norm.table(raw) {
            Ok(actual) => {
                if let Some(f) = compare(file, &actual) {
                    self.failures.push(f);
                }
            }
            Err(e) => self.failures.push(format!("{file}: {e}")),
        }
    }

    fn json(&mut self, file: &str, raw: &str) {
        match self.norm.json(raw) {
            Ok(actual) => {
                if let Some(f) = compare(file, &actual) {
                    self.failures.push(f);
                }
            }
            Err(e) => self.failures.push(format!("{file}: {e}:\n{raw}")),
        }
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} snapshot(s) do not match:\n\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------
// The workflow
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Text,
    Json,
}

impl Mode {
    fn flag(self) -> &'static str {
        match self {
            Mode::Text => "text",
            Mode::Json => "json",
        }
    }
}

struct Workflow {
    // Dropped in this order: the guest before the emulator.
    _guest: Guest,
    moto: Moto,
    tree: ExampleTree,
    out_dir: tempfile::TempDir,
    mode: Mode,
    snaps: Snapshots,
}

impl Workflow {
    fn new(mode: Mode) -> Self {
        let moto = Moto::start();
        let guest = Guest::start(&moto);
        let tree = ExampleTree::new();
        let out_dir = tempfile::Builder::new().prefix("drydock-routes-").tempdir().expect("temp dir");
        let snaps = Snapshots::new(&[tree.path(), out_dir.path()]);
        Workflow { _guest: guest, moto, tree, out_dir, mode, snaps }
    }

    /// `drydock -C TREE --output MODE ARGS` at the fixed clock, polling every 50 ms, with
    /// no `$USER` (so that `deployed_by` is `unknown@<host>`) and no `$BUILD_URL`.
    fn cmd(&self, mode: Mode, args: &[&str]) -> Command {
        let mut cmd = drydock_in(&self.moto.url(), self.tree.path());
        common::fake_now(&mut cmd, NOW).env_remove("USER").args(["--output", mode.flag()]).args(args);
        cmd
    }

    /// Runs one command in this workflow's format, with extra environment `env`, expects
    /// exit code `code`, and compares its stdout with `<name>.txt` or `<name>.json`.
    fn step(&mut self, name: &str, args: &[&str], env: &[(&str, &str)], code: i32) -> Run {
        self.step_shaped(name, args, env, code, false)
    }

    /// As `step`, for a command whose text output is a table (`status`, `history`).
    fn step_table(&mut self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.step_shaped(name, args, env, 0, true)
    }

    fn step_shaped(&mut self, name: &str, args: &[&str], env: &[(&str, &str)], code: i32, table: bool) -> Run {
        let mut cmd = self.cmd(self.mode, args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let run = common::run(&mut cmd, RUN);
        assert_eq!(run.code, Some(code), "{name}: drydock {}: {run:?}", args.join(" "));
        match self.mode {
            Mode::Text if table => self.snaps.table(&format!("{name}.txt"), &run.stdout),
            Mode::Text => self.snaps.text(&format!("{name}.txt"), &run.stdout),
            Mode::Json => self.snaps.json(&format!("{name}.json"), &run.stdout),
        }
        run
    }

    /// Compares the run's stderr with `<name>.stderr.txt` (text workflow only: the
    /// progress lines are the same in both formats).
    fn stderr(&mut self, name: &str, run: &Run) {
        if self.mode == Mode::Text {
            self.snaps.text(&format!("{name}.stderr.txt"), &run.stderr);
        }
    }

    /// A setup command (not a snapshot), in JSON mode whatever the workflow's format.
    fn setup(&self, args: &[&str]) -> Value {
        let run = common::run(&mut self.cmd(Mode::Json, args), RUN);
        assert_eq!(run.code, Some(0), "setup: drydock {}: {run:?}", args.join(" "));
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("setup {args:?}: not JSON ({e}): {run:?}"))
    }

    fn bake(&self, service: &str, tag: &str) -> String {
        let d = self.setup(&["bake", service, "--image-tag", tag, "--env", "staging"]);
        let ami = d["results"][0]["ami"].as_str().unwrap_or_default().to_owned();
        assert!(ami.starts_with("ami-"), "bake {service} {tag}: {d}");
        ami
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// Sleeps until the wall clock's second changes: AMIs baked after this have a later
/// CreationDate (second resolution in the emulator) than any baked before.
fn next_second() {
    let s = unix_now();
    while unix_now() == s {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn workflow(mode: Mode) {
    assert!(drydock::nginx_test::find_nginx().is_some(), "nginx is required for `check`: run `make setup`");
    let mut w = Workflow::new(mode);

    // Offline.
    w.step("check", &["check"], &[], 0);
    w.step("render_init", &["render", "init", "www", "--image-tag", "1.4.2"], &[], 0);

    // An old www AMI that nothing will use: gc collects it at the end.
    w.bake("www", "1.4.1");
    next_second();

    // Bake: the plan, a bake, the same recipe reused.
    w.step("bake_dry_run", &["bake", "www", "--image-tag", "1.4.2", "--env", "staging", "--dry-run"], &[], 0);
    let args = ["bake", "www", "--image-tag", "1.4.2", "--env", "staging", "--build-url", JENKINS_42];
    let run = w.step("bake_baked", &args, &[], 0);
    w.stderr("bake_baked", &run);
    w.step("bake_reused", &["bake", "www", "--image-tag", "1.4.2", "--env", "staging"], &[], 0);
    w.bake("imageresize", "1.4.2");
    w.bake("bookmarks", "1.4.2");
    w.bake("www", "1.4.3");

    // Deploy: the first release of every service, then a second www release blue/green.
    let first = ["deploy", "--all", "--env", "staging", "--image-tag", "1.4.2"];
    w.step("deploy_first_dry_run", &[&first[..], &["--dry-run"]].concat(), &[], 0);
    w.step("deploy_first", &first, &[("BUILD_URL", JENKINS_42)], 0);
    let second = ["deploy", "www", "--env", "staging", "--image-tag", "1.4.3"];
    w.step("deploy_second_dry_run", &[&second[..], &["--dry-run"]].concat(), &[], 0);
    let run = w.step("deploy_second", &second, &[], 0);
    w.stderr("deploy_second", &run);
    w.step("deploy_unchanged", &second, &[], 0);

    // Promote www 1.4.3 to prod.
    let promote = ["promote", "www", "--from", "staging", "--to", "prod"];
    w.step("promote_dry_run", &[&promote[..], &["--dry-run"]].concat(), &[], 0);
    w.step("promote", &promote, &[("BUILD_URL", JENKINS_43)], 0);

    // Roll staging's www back to v001 (the warm standby).
    let rollback = ["rollback", "www", "--env", "staging"];
    w.step("rollback_dry_run", &[&rollback[..], &["--dry-run"]].concat(), &[], 0);
    let run = w.step("rollback", &rollback, &[], 0);
    w.stderr("rollback", &run);

    // A release whose instances never get healthy: compensated, exit 1.
    let bad = w.bake("www", "1.4.4");
    w.moto.unhealthy(&[&bad]);
    let args = ["deploy", "www", "--env", "staging", "--image-tag", "1.4.4", "--health-timeout", "1s"];
    let run = w.step("deploy_unhealthy", &args, &[], 1);
    w.stderr("deploy_unhealthy", &run);

    // Read-only views.
    w.step_table("status", &["status"], &[]);
    w.step_table("history", &["history", "www", "--env", "staging"], &[]);

    // Routes: on stdout, then to a file (written, then unchanged).
    let run = w.step("routes_stdout", &["routes", "--env", "staging"], &[], 0);
    let file = w.out_dir.path().join("drydock-staging.conf");
    let file_arg = file.display().to_string();
    w.step("routes_out", &["routes", "--env", "staging", "--out", &file_arg], &[], 0);
    let written = std::fs::read_to_string(&file).expect("the routes file was written");
    let shown = match mode {
        Mode::Text => run.stdout.clone(),
        Mode::Json => serde_json::from_str::<Value>(&run.stdout).expect("routes JSON")["config"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    assert_eq!(written, shown, "--out writes what routes without --out shows");
    w.step("routes_out_unchanged", &["routes", "--env", "staging", "--out", &file_arg], &[], 0);

    // gc, much later: the warm standby has expired, the failed release and the unused
    // old AMI go.
    let later = [("DRYDOCK_FAKE_NOW", LATER)];
    w.step("gc_dry_run", &["gc", "--env", "staging", "--dry-run"], &later, 0);
    let run = w.step("gc", &["gc", "--env", "staging"], &later, 0);
    w.stderr("gc", &run);
    w.step_table("status_after_gc", &["status", "--env", "staging"], &later);
    w.step_table("history_after_gc", &["history", "www", "--env", "staging"], &later);

    w.step("iam_policy", &["iam-policy"], &[], 0);

    let Workflow { snaps, .. } = w;
    snaps.finish();
}

#[test]
fn workflow_text() {
    workflow(Mode::Text);
}

#[test]
fn workflow_json() {
    workflow(Mode::Json);
}

/// Two problems in one environment file: both reported at once, exit 2, no AWS request.
#[test]
fn config_error() {
    let tree = ExampleTree::new();
    let toml = "environments/staging.toml";
    tree.replace(
        toml,
        "standby_ttl = \"1h\"\n",
        "standby_ttl = \"1h\"\nelb_name = \"www-staging-frontend-load-balancer-01\"\n",
    )
    .expect("edit the ELB name");
    tree.replace(toml, "instance_type = \"t3.micro\"", "instance_type = \"t3\"").expect("edit the instance type");
    let listener = RecordingListener::start();
    let mut snaps = Snapshots::new(&[tree.path()]);
    for mode in [Mode::Text, Mode::Json] {
        let mut cmd = common::drydock_recorded(&listener);
        common::fake_now(&mut cmd, NOW).env_remove("USER").arg("-C").arg(tree.path()).args([
            "--output",
            mode.flag(),
            "deploy",
            "www",
            "--env",
            "staging",
            "--image-tag",
            "1.4.2",
        ]);
        let run = common::run(&mut cmd, RUN);
        run.expect_code(2);
        match mode {
            Mode::Text => {
                run.expect_stdout(""); // text mode prints errors on stderr only
                snaps.text("config_error.stderr.txt", &run.stderr);
            }
            Mode::Json => snaps.json("config_error.json", &run.stdout),
        }
    }
    assert_eq!(listener.settle(), 0, "a config error makes no AWS request");
    snaps.finish();
}

// ---------------------------------------------------------------------------------------
// Bugs the snapshots show (src/ is not ours to fix here)
// ---------------------------------------------------------------------------------------

#[test]
fn json_dry_run_plans_carry_their_compensation() {
    let w = Workflow::new(Mode::Json);
    w.bake("www", "1.4.2");
    let args = ["deploy", "www", "--env", "staging", "--image-tag", "1.4.2", "--dry-run"];
    let text = common::run(&mut w.cmd(Mode::Text, &args), RUN);
    let json = common::run(&mut w.cmd(Mode::Json, &args), RUN);
    assert_eq!((text.code, json.code), (Some(0), Some(0)), "{text:?} {json:?}");
    let compensation: Vec<&str> = text
        .stdout
        .lines()
        .skip_while(|l| !l.contains("if the new release does not get healthy:"))
        .skip(1)
        .map(str::trim)
        .collect();
    assert!(compensation.len() >= 3, "the text plan has a compensation: {}", text.stdout);
    let missing: Vec<&str> = compensation.iter().copied().filter(|c| !json.stdout.contains(c)).collect();
    assert!(missing.is_empty(), "compensation steps missing from the JSON plan: {missing:?}\n{}", json.stdout);
}

#[test]
fn bake_dry_run_json_has_the_shape_of_every_dry_run() {
    let w = Workflow::new(Mode::Json);
    let args = ["bake", "www", "--image-tag", "1.4.2", "--env", "staging", "--dry-run"];
    let run = common::run(&mut w.cmd(Mode::Json, &args), RUN);
    assert_eq!(run.code, Some(0), "{run:?}");
    let d: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let r = &d["results"][0];
    assert_eq!(r["outcome"], "planned", "{d}");
    assert!(r.get("ami").is_none(), "no AMI yet: the field is omitted, not null: {r}");
    let plan = r["plan"].as_array().expect("a plan");
    assert!(!plan.is_empty(), "{r}");
    for s in plan {
        assert!(s["step"].is_string() && s["detail"].is_object(), "each step as text and as data: {s}");
    }
}

// ---------------------------------------------------------------------------------------
// The normalizer itself
// ---------------------------------------------------------------------------------------

#[test]
fn the_normalizer_replaces_what_the_emulator_chooses_and_nothing_else() {
    let tmp = Path::new("/tmp/drydock-tree-abc123");
    let mut n = Normalizer::new(&[tmp]);
    let host = host_name();
    let input = format!(
        "baked ami-1ec70e47846885844 (drydock/www/1.4.2/dfd27bcd2dfa) from ami-1e749f67 in subnet-3a278e86afa59d74f\n\
         again ami-1ec70e47846885844; sg-5436603750654db1c vpc-0123abcd snap-a1de948b138a6aa91 lt-0123456789abcdef0\n\
         i-8554d869a645636b0: OutOfService; by=unknown@{host} at 2026-11-25T09:46:40Z expires-at=1795603600\n\
         www-staging-v001 ami-name-not-an-id drydock/www/1.4.3/6b153292fff4 {tmp}/staging.conf\n\
         recipe dfd27bcd2dfadd7443027bff3114eefc39728f176e3276642ed473573a6c53cc\n",
        tmp = tmp.display()
    );
    assert_eq!(
        n.text(&input),
        "baked ami-1 (drydock/www/1.4.2/<recipe-1>) from ami-2 in subnet-1\n\
         again ami-1; sg-1 vpc-1 snap-1 lt-1\n\
         i-1: OutOfService; by=USER@HOST at 2026-11-25T09:46:40Z expires-at=1795603600\n\
         www-staging-v001 ami-name-not-an-id drydock/www/1.4.3/<recipe-2> <TMP>/staging.conf\n\
         recipe <recipe-1-sha256>\n"
    );
    let json =
        n.json(r#"{"z":1,"elapsed_s":3.7,"a":{"y":"ami-1e749f67","b":[{"elapsed_s":0.1,"ami":"ami-9999aaaa"}]}}"#);
    assert_eq!(
        json.as_deref(),
        Ok("{\n  \"a\": {\n    \"b\": [\n      {\n        \"ami\": \"ami-3\",\n        \"elapsed_s\": 0.0\n      }\n    ],\n    \"y\": \"ami-2\"\n  },\n  \"elapsed_s\": 0.0,\n  \"z\": 1\n}\n")
    );
    assert!(n.json("{} {}").is_err(), "two documents are refused");
}

#[test]
fn tables_are_checked_aligned_and_aligned_again_after_normalization() {
    let mut n = Normalizer::new(&[]);
    // The BY column is as wide as `unknown@<host>`, whatever the host name's length.
    let by = format!("unknown@{}", host_name());
    let w = by.len().max("https://ci/job/1/".len());
    let raw = format!(
        "{:<21}  {:<w$}  OUTCOME\n{:<21}  {by:<w$}  live\n{:<21}  {:<w$}  standby, then cold\n",
        "AMI", "BY", "ami-1ec70e47846885844", "ami-1e749f67", "https://ci/job/1/"
    );
    assert_eq!(
        n.table(&raw).as_deref(),
        Ok("AMI    BY                 OUTCOME\n\
            ami-1  USER@HOST          live\n\
            ami-2  https://ci/job/1/  standby, then cold\n")
    );
    let misaligned = "AMI    BY  OUTCOME\nami-1ec70e47846885844 x  live\n";
    assert!(n.table(misaligned).is_err(), "a misaligned table is reported");
}
