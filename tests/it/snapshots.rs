//! Snapshot tests of what each command prints on stdout, as text and as JSON, through
//! `insta`: one `.snap` file per snapshot in `tests/it/snapshots/`, named after the
//! golden files they replaced (`<name>.txt` for `--output text`, `<name>.json` for
//! `--output json`, `<name>.stderr.txt` for the progress and error lines a person reads
//! in a Jenkins log). The JSON snapshots are the contract of `--output json`.
//!
//! Every run sets `DRYDOCK_FAKE_NOW` (src/clock.rs, read only by a build with the feature
//! `test-hooks`), so that every time drydock writes (tags, history records, expiries,
//! progress timestamps) is fixed: timestamps are never redacted here, and one that moves
//! between runs is a bug in drydock.
//!
//! What the emulator or the machine chooses is replaced, and nothing else, by insta's
//! filters (regular expressions over the snapshot) and redactions (over the JSON value):
//! - resource ids `ami-…`, `i-…`, `subnet-…`, `sg-…`, `vpc-…`, `snap-…`, `lt-…` (8 to 17
//!   hex digits) become `ami-1`, `ami-2`, … numbered by first appearance, one numbering
//!   per workflow, so that the AMI `bake` printed is recognisably the one `status` shows
//!   (insta's filters have no state: [`Placeholders`] finds the new ids of each output
//!   before its assertion and adds one filter per id);
//! - the recipe hash (64 hex digits) and its 12-digit prefix in AMI names
//!   (`drydock/<service>/<tag>/<hash12>`) become `<recipe-1>`, … (`<recipe-1-sha256>` for
//!   the whole hash), numbered by first appearance;
//! - `elapsed_s` values in JSON become 0 (a redaction);
//! - the next run of a scheduled action (`next_scheduled.at` in JSON, `next business-hours
//!   <time>` in text), which the emulator computes from its own wall clock, becomes
//!   `<NEXT-RUN>`;
//! - `unknown@<this host>` (the runs have no `$USER`) becomes `USER@HOST`;
//! - the test's temporary folders become `<TMP>`;
//! - text tables (`status`, `history`) are first checked to be aligned as drydock printed
//!   them, then filtered cell by cell and aligned again the way drydock aligns them, so
//!   that a shorter placeholder or another host name's length never moves a column.
//!
//! JSON is snapshotted as a value with sorted keys (insta's `sort_maps`), so that key
//! order never matters. insta compares text up to trailing whitespace, so each text
//! output is also checked to end in exactly one newline, as drydock prints it.
//!
//! A mismatch fails the test with insta's diff and leaves a `.snap.new` beside the
//! snapshot; every snapshot of a workflow is compared before the test fails, so one run
//! lists them all. To accept new output: `INSTA_UPDATE=always cargo test --features
//! test-hooks --test it snapshots::` rewrites the `.snap` files (read the diff before
//! committing), or `cargo insta review` (cargo-insta, not needed otherwise) walks through
//! the `.snap.new` files. CI never writes snapshots (insta's default when `CI` is set).
//!
//! The workflow (check → render → bake → deploy → promote → rollback → a failed deploy →
//! status → history → routes → gc → iam-policy) runs twice in parallel, once per output
//! format, each against its own emulator and emulated builder guest, so that both formats
//! see the same state at every step.

use crate::common;

use common::fixtures::Emulated;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{drydock_in, ExampleTree, RecordingListener, Run};
use insta::internals::Content;
use regex::Regex;
use serde_json::Value;

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
// What the emulator and the machine choose, as insta filters
// ---------------------------------------------------------------------------------------

/// What may stand for something the emulator chose, as a whole word (word characters,
/// `_` and `-` on neither side): a resource id (a prefix, `-`, 8 to 17 hex digits), an
/// AMI name `drydock/<service>/<tag>/<recipe hash, 12 hex digits>`, or a recipe hash.
const CHOSEN: &str = concat!(
    r"(?P<id>(?:subnet|snap|ami|vpc|sg|lt|i)-[0-9a-f]{8,17})",
    r#"|(?P<name>drydock/[^/\s"'()]+/[^/\s"'()]+/(?P<hash12>[0-9a-f]{12}))"#,
    r"|(?P<hash>[0-9a-f]{64})",
);

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The host name as drydock reads it for `deployed_by` (src/commands/deploy.rs).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// The filters of one workflow: fixed ones (temporary folders, `unknown@<host>`), and one
/// per emulator id and recipe seen so far, named by first appearance (see the module
/// comment). `learn` each output before its assertion; `settings` gives insta the
/// filters in the order they apply.
struct Placeholders {
    chosen: Regex,
    /// Regex → replacement, applied in this order: the fixed ones first.
    filters: Vec<(Regex, String)>,
    /// How many of `filters` are the fixed ones.
    fixed: usize,
    ids: HashMap<String, String>,
    counters: HashMap<String, usize>,
    /// Recipe hash prefix (12 hex digits) → its number.
    recipes: HashMap<String, usize>,
}

impl Placeholders {
    /// `temp_dirs` become `<TMP>`.
    fn new(temp_dirs: &[&Path]) -> Self {
        let mut literals: Vec<(String, &str)> = temp_dirs.iter().map(|p| (p.display().to_string(), "<TMP>")).collect();
        // Longest first, so that a folder inside another is replaced whole.
        literals.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        literals.push((format!("unknown@{}", host_name()), "USER@HOST"));
        let mut filters: Vec<(Regex, String)> = literals
            .into_iter()
            .map(|(from, to)| (Regex::new(&regex::escape(&from)).expect("a literal"), to.to_owned()))
            .collect();
        // The next run of a recurring scheduled action: the emulator computes it from its
        // own wall clock (AWS's StartTime), not from drydock's fixed one.
        filters.push((
            Regex::new(r"next business-hours \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").expect("a filter"),
            "next business-hours <NEXT-RUN>".to_owned(),
        ));
        Self {
            chosen: Regex::new(CHOSEN).expect("the CHOSEN regex"),
            fixed: filters.len(),
            filters,
            ids: HashMap::new(),
            counters: HashMap::new(),
            recipes: HashMap::new(),
        }
    }

    fn add(&mut self, pattern: String, replacement: String) {
        if !self.filters.iter().any(|(re, _)| re.as_str() == pattern) {
            self.filters.push((Regex::new(&pattern).expect("a filter"), replacement));
        }
    }

    /// Numbers the ids and recipes of `text` that have none yet, in order of appearance,
    /// each with its filter.
    fn learn(&mut self, text: &str) {
        let text = self.fixed(text);
        let chosen = self.chosen.clone();
        for m in chosen.captures_iter(&text) {
            let whole = m.get(0).expect("the match");
            let before = text[..whole.start()].chars().next_back();
            let after = text[whole.end()..].chars().next();
            if before.is_some_and(is_word) || after.is_some_and(is_word) {
                continue;
            }
            if let Some(id) = m.name("id").map(|g| g.as_str()) {
                if !self.ids.contains_key(id) {
                    let kind = &id[..id.find('-').expect("a prefix")];
                    let n = self.counters.entry(kind.to_owned()).or_insert(0);
                    *n += 1;
                    let placeholder = format!("{kind}-{n}");
                    self.ids.insert(id.to_owned(), placeholder.clone());
                    self.add(format!(r"\b{id}\b"), placeholder);
                }
            } else if let Some(h) = m.name("hash12").map(|g| g.as_str()) {
                let n = self.recipe(h);
                let head = &m["name"][..m["name"].len() - h.len()];
                self.add(format!(r"{}{h}\b", regex::escape(head)), format!("{head}<recipe-{n}>"));
            } else if let Some(h) = m.name("hash").map(|g| g.as_str()) {
                let n = self.recipe(h);
                self.add(format!(r"\b{h}\b"), format!("<recipe-{n}-sha256>"));
            }
        }
    }

    /// The number of a recipe (by its first 12 hex digits), new ones last.
    fn recipe(&mut self, hash: &str) -> usize {
        let next = self.recipes.len() + 1;
        *self.recipes.entry(hash[..12].to_owned()).or_insert(next)
    }

    /// `text` with the fixed filters applied (what `learn` scans).
    fn fixed(&self, text: &str) -> String {
        self.filters[..self.fixed]
            .iter()
            .fold(text.to_owned(), |t, (re, to)| re.replace_all(&t, regex::NoExpand(to)).into_owned())
    }

    /// `text` with every filter applied, as insta applies them (for table cells).
    fn apply(&self, text: &str) -> String {
        self.filters.iter().fold(text.to_owned(), |t, (re, to)| re.replace_all(&t, regex::NoExpand(to)).into_owned())
    }

    /// insta's settings for a snapshot of this workflow: the `.snap` files in
    /// `tests/it/snapshots/` named `<name>.snap`, maps sorted, `elapsed_s` redacted, and
    /// the filters.
    fn settings(&self) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.set_snapshot_path("snapshots");
        s.set_prepend_module_to_snapshot(false);
        s.set_omit_expression(true);
        s.set_sort_maps(true);
        s.add_dynamic_redaction(
            ".**.elapsed_s",
            |v: Content, _| if v.as_f64().is_some() { Content::F64(0.0) } else { v },
        );
        s.add_redaction(".**.next_scheduled.at", "<NEXT-RUN>");
        for (re, to) in &self.filters {
            s.add_filter(re.as_str(), to.replace('$', "$$"));
        }
        s
    }
}

/// A text table as `src/output.rs` `table` prints it (columns as wide as their widest
/// cell, two spaces apart, the last one unpadded). Checks that drydock's own output is
/// aligned on the header's columns, maps each cell, and aligns the table again the same
/// way, so that a replacement of another length (`USER@HOST` for `unknown@<host>`,
/// `ami-1` for a 21-character id) keeps the table aligned and independent of the host
/// name.
fn realign(raw: &str, mut cell: impl FnMut(&str) -> String) -> Result<String, String> {
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
            let text: String = line.get(s.min(line.len())..end).map(|c| c.iter().collect()).unwrap_or_default();
            cells.push(cell(text.trim_end()));
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

/// The whole of stdout as one JSON document.
fn one_document(stdout: &str) -> Result<Value, String> {
    serde_json::from_str(stdout).map_err(|e| format!("stdout is not one JSON document ({e})"))
}

// ---------------------------------------------------------------------------------------
// The snapshots of one test
// ---------------------------------------------------------------------------------------

/// The snapshots of one test: one numbering, and every mismatch, reported at the end.
struct Snapshots {
    names: Placeholders,
    failures: Vec<String>,
}

impl Snapshots {
    fn new(temp_dirs: &[&Path]) -> Self {
        Self { names: Placeholders::new(temp_dirs), failures: Vec::new() }
    }

    /// Runs one insta assertion with this workflow's settings; a mismatch (insta has
    /// printed its diff) is kept for `finish`.
    fn assert(&mut self, name: &str, check: impl FnOnce()) {
        let settings = self.names.settings();
        if catch_unwind(AssertUnwindSafe(|| settings.bind(check))).is_err() {
            self.failures.push(format!("{name}: does not match tests/it/snapshots/{name}.snap (diff above)"));
        }
    }

    /// Text compared as drydock printed it, ending in exactly one newline.
    fn ends_in_one_newline(&mut self, name: &str, raw: &str) -> bool {
        let ok = raw.ends_with('\n') && raw.trim_end().len() + 1 == raw.len();
        if !ok {
            self.failures.push(format!("{name}: does not end in exactly one newline: {raw:?}"));
        }
        ok
    }

    fn text(&mut self, name: &str, raw: &str) {
        if self.ends_in_one_newline(name, raw) {
            self.names.learn(raw);
            self.assert(name, || insta::assert_snapshot!(name, raw));
        }
    }

    fn table(&mut self, name: &str, raw: &str) {
        if !self.ends_in_one_newline(name, raw) {
            return;
        }
        self.names.learn(raw);
        match realign(raw, |cell| self.names.apply(cell)) {
            Ok(table) => self.assert(name, || insta::assert_snapshot!(name, table)),
            Err(e) => self.failures.push(format!("{name}: {e}")),
        }
    }

    fn json(&mut self, name: &str, raw: &str) {
        match one_document(raw) {
            Ok(value) => {
                // Learn in the order of the snapshot: keys sorted (serde_json's map is a
                // BTreeMap), pretty-printed as insta prints it.
                self.names.learn(&serde_json::to_string_pretty(&value).expect("a JSON value"));
                self.assert(name, || insta::assert_json_snapshot!(name, value));
            }
            Err(e) => self.failures.push(format!("{name}: {e}:\n{raw}")),
        }
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} snapshot(s) do not match:\n\n{}\n\nINSTA_UPDATE=always cargo test --features test-hooks --test it \
             snapshots:: rewrites them (or `cargo insta review`); read the diff before committing.",
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
    /// The emulator, its builder guest, the example tree.
    env: Emulated,
    out_dir: tempfile::TempDir,
    mode: Mode,
    snaps: Snapshots,
}

impl Workflow {
    fn new(mode: Mode) -> Self {
        let env = Emulated::with_guest();
        let out_dir = tempfile::Builder::new().prefix("drydock-routes-").tempdir().expect("temp dir");
        let snaps = Snapshots::new(&[env.tree.path(), out_dir.path()]);
        Workflow { env, out_dir, mode, snaps }
    }

    /// `drydock -C TREE --output MODE ARGS` at the fixed clock, polling every 50 ms, with
    /// no `$USER` (so that `deployed_by` is `unknown@<host>`) and no `$BUILD_URL`.
    fn cmd(&self, mode: Mode, args: &[&str]) -> Command {
        let mut cmd = drydock_in(&self.env.moto.url(), self.env.tree.path());
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
    assert!(drydock::render::nginx_check::find_nginx().is_some(), "nginx is required for `check`: run `make setup`");
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
    w.env.moto.unhealthy(&[&bad]);
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
// The filters and redactions themselves
// ---------------------------------------------------------------------------------------

#[test]
fn the_filters_replace_what_the_emulator_chooses_and_nothing_else() {
    let tmp = Path::new("/tmp/drydock-tree-abc123");
    let mut n = Placeholders::new(&[tmp]);
    let host = host_name();
    let input = format!(
        "baked ami-1ec70e47846885844 (drydock/www/1.4.2/dfd27bcd2dfa) from ami-1e749f67 in subnet-3a278e86afa59d74f\n\
         again ami-1ec70e47846885844; sg-5436603750654db1c vpc-0123abcd snap-a1de948b138a6aa91 lt-0123456789abcdef0\n\
         i-8554d869a645636b0: OutOfService; by=unknown@{host} at 2026-11-25T09:46:40Z expires-at=1795603600\n\
         www-staging-v001 ami-name-not-an-id drydock/www/1.4.3/6b153292fff4 {tmp}/staging.conf\n\
         recipe dfd27bcd2dfadd7443027bff3114eefc39728f176e3276642ed473573a6c53cc\n",
        tmp = tmp.display()
    );
    n.learn(&input);
    let expected = "baked ami-1 (drydock/www/1.4.2/<recipe-1>) from ami-2 in subnet-1\n\
         again ami-1; sg-1 vpc-1 snap-1 lt-1\n\
         i-1: OutOfService; by=USER@HOST at 2026-11-25T09:46:40Z expires-at=1795603600\n\
         www-staging-v001 ami-name-not-an-id drydock/www/1.4.3/<recipe-2> <TMP>/staging.conf\n\
         recipe <recipe-1-sha256>\n";
    assert_eq!(n.apply(&input), expected, "the filters as the tables apply them");
    // insta applies the same filters, in the same order.
    n.settings().bind(|| {
        insta::assert_snapshot!(input, @r"
        baked ami-1 (drydock/www/1.4.2/<recipe-1>) from ami-2 in subnet-1
        again ami-1; sg-1 vpc-1 snap-1 lt-1
        i-1: OutOfService; by=USER@HOST at 2026-11-25T09:46:40Z expires-at=1795603600
        www-staging-v001 ami-name-not-an-id drydock/www/1.4.3/<recipe-2> <TMP>/staging.conf
        recipe <recipe-1-sha256>
        ");
    });

    // JSON: keys sorted, `elapsed_s` redacted at any depth, ids numbered on from the text.
    let raw = r#"{"z":1,"elapsed_s":3.7,"a":{"y":"ami-1e749f67","b":[{"elapsed_s":0.1,"ami":"ami-9999aaaa"}]}}"#;
    let value = one_document(raw).expect("one document");
    n.learn(&serde_json::to_string_pretty(&value).expect("JSON"));
    n.settings().bind(|| {
        insta::assert_json_snapshot!(value, @r#"
        {
          "a": {
            "b": [
              {
                "ami": "ami-3",
                "elapsed_s": 0.0
              }
            ],
            "y": "ami-2"
          },
          "elapsed_s": 0.0,
          "z": 1
        }
        "#);
    });
    assert!(one_document("{} {}").is_err(), "two documents are refused");
}

#[test]
fn tables_are_checked_aligned_and_aligned_again_after_filtering() {
    let mut n = Placeholders::new(&[]);
    // The BY column is as wide as `unknown@<host>`, whatever the host name's length.
    let by = format!("unknown@{}", host_name());
    let w = by.len().max("https://ci/job/1/".len());
    let raw = format!(
        "{:<21}  {:<w$}  OUTCOME\n{:<21}  {by:<w$}  live\n{:<21}  {:<w$}  standby, then cold\n",
        "AMI", "BY", "ami-1ec70e47846885844", "ami-1e749f67", "https://ci/job/1/"
    );
    n.learn(&raw);
    assert_eq!(
        realign(&raw, |cell| n.apply(cell)).as_deref(),
        Ok("AMI    BY                 OUTCOME\n\
            ami-1  USER@HOST          live\n\
            ami-2  https://ci/job/1/  standby, then cold\n")
    );
    let misaligned = "AMI    BY  OUTCOME\nami-1ec70e47846885844 x  live\n";
    assert!(realign(misaligned, |cell| n.apply(cell)).is_err(), "a misaligned table is reported");
}
