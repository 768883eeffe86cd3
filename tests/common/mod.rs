//! Shared parts of the integration tests: a copy of the example config tree in a temp
//! dir, a listener that records every TCP connection (to prove that a run made no AWS
//! request), the `drydock` command with dummy credentials and no ambient AWS settings,
//! and what a run printed. Beside it: `moto` (the emulator and its SDK clients), `aws`
//! (what the tests observe through the SDK), `fixtures` (the emulator fixture, background
//! runs, the builder guest, polling).
//!
//! The one integration-test crate (tests/it) includes it as `mod common`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The folders of the example tree at the crate root (those that exist are copied).
pub const TREE_DIRS: [&str; 5] = ["amis", "environments", "upstart", "systemd", "nginx"];

/// The example tree of the crate root.
pub fn example_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A private copy of the example config tree, deleted on drop.
pub struct ExampleTree {
    dir: tempfile::TempDir,
}

/// Where a `replace` happened: the new text and the position of the replacement in it.
#[derive(Debug, Clone)]
pub struct Edit {
    pub text: String,
    /// 1-based line of `offset`.
    pub line: usize,
}

impl ExampleTree {
    /// Copies amis/, environments/, upstart/, systemd/ and nginx/ (those that exist),
    /// without prod's progressive delivery (`canary`, `alarms`, `bake_time` of
    /// services.www): with them, every promotion to prod would need the CloudWatch alarm
    /// in the emulator and a second one would hold its canary 5 minutes and bake 10. The
    /// tests of progressive delivery (tests/it/canary.rs) use `as_is`.
    pub fn new() -> Self {
        let tree = Self::as_is();
        let prod = tree.read("environments/prod.toml");
        let kept: Vec<&str> = prod
            .lines()
            .filter(|l| !(l.starts_with("canary = ") || l.starts_with("alarms = ") || l.starts_with("bake_time = ")))
            .collect();
        tree.write("environments/prod.toml", &(kept.join("\n") + "\n"));
        tree
    }

    /// The example tree exactly as the repository has it.
    pub fn as_is() -> Self {
        let dir = tempfile::Builder::new().prefix("drydock-tree-").tempdir().expect("create a temp dir");
        let root = example_root();
        for sub in TREE_DIRS {
            let from = root.join(sub);
            if from.is_dir() {
                copy_dir(&from, &dir.path().join(sub));
            }
        }
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` (e.g. `amis/www.toml`) inside the tree.
    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.file(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir for {rel}: {e}"));
        }
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {rel}: {e}"));
    }

    /// Gives www in staging a CPU policy: its releases are tagged `drydock:scaling=cpu`,
    /// so a warm standby of one is suspended (and resumed by a rollback). Without a policy
    /// or schedule a warm standby keeps its processes.
    pub fn with_cpu_policy(&self) {
        let rel = "environments/staging.toml";
        let text = self.read(rel);
        self.write(rel, &format!("{text}\n[services.www.scaling]\ncpu_target = 60\n"));
    }

    /// Replaces the one occurrence of `old` in `rel` by `new`. Fails (instead of silently
    /// doing nothing) when `old` is missing or occurs more than once, so that a case whose
    /// snippet no longer matches the example tree is reported, not skipped.
    pub fn replace(&self, rel: &str, old: &str, new: &str) -> Result<Edit, String> {
        let text = self.read(rel);
        let mut hits = text.match_indices(old).map(|(i, _)| i);
        let offset = match (hits.next(), hits.next()) {
            (Some(i), None) => i,
            (None, _) => return Err(format!("{rel} does not contain the snippet {old:?}")),
            (Some(_), Some(_)) => {
                return Err(format!("{rel} contains the snippet {old:?} more than once: make it unique"))
            }
        };
        let mut out = String::with_capacity(text.len() + new.len());
        out.push_str(&text[..offset]);
        out.push_str(new);
        out.push_str(&text[offset + old.len()..]);
        self.write(rel, &out);
        let line = line_at(&out, offset);
        Ok(Edit { text: out, line })
    }

    /// Copies a file of the tree to a new name (e.g. `amis/www.toml` to `amis/www-api.toml`).
    pub fn copy_file(&self, from: &str, to: &str) -> Result<(), String> {
        if !self.file(from).is_file() {
            return Err(format!("{from} does not exist in the example tree"));
        }
        let text = self.read(from);
        self.write(to, &text);
        Ok(())
    }

    /// Removes a file or a whole folder.
    pub fn remove(&self, rel: &str) -> Result<(), String> {
        let p = self.file(rel);
        let r = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        r.map_err(|e| format!("remove {rel}: {e}"))
    }
}

impl Default for ExampleTree {
    fn default() -> Self {
        Self::new()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("read dir {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("dir entry");
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// The 1-based line where the last of `needles` starts, each searched after the previous
/// one (`&["[services.www]", "route ="]` is the route of service www); None if one is
/// missing.
pub fn line_of(text: &str, needles: &[&str]) -> Option<usize> {
    let mut from = 0;
    let mut at = None;
    for n in needles {
        let i = from + text[from..].find(n)?;
        at = Some(i);
        from = i + n.len();
    }
    at.map(|i| line_at(text, i))
}

/// A TCP listener on 127.0.0.1 that accepts and counts every connection, in a background
/// thread. Pointing `AWS_ENDPOINT_URL` (and the proxy variables) at it turns "made no AWS
/// request" into "zero connections here".
pub struct RecordingListener {
    addr: SocketAddr,
    /// Peer addresses, in accept order.
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    /// Local addresses of our own fence connections (see `settle`), not counted.
    fences: Mutex<Vec<SocketAddr>>,
}

impl RecordingListener {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let peers = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&peers);
        std::thread::Builder::new()
            .name(format!("recording-listener-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    if let Ok(peer) = stream.peer_addr() {
                        seen.lock().expect("peers lock").push(peer);
                    }
                    // Read what the client sends first (a request line or a TLS hello)
                    // without blocking the accept loop for long. Answer HTTP with a 400,
                    // which the SDK does not retry (a hang-up is retried with backoff,
                    // which only makes a failing case slow), then hang up.
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
                    let mut buf = [0u8; 512];
                    if let Ok(n) = stream.read(&mut buf) {
                        if n > 0 && buf[0].is_ascii_uppercase() {
                            let _ = stream.write_all(
                                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            );
                        }
                    }
                }
            })
            .expect("spawn the listener thread");
        Self { addr, peers, fences: Mutex::new(Vec::new()) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far, fences excluded. Connections still queued in the
    /// kernel are not counted yet: use `settle` after a process has exited.
    pub fn connections(&self) -> usize {
        let fences = self.fences.lock().expect("fences lock");
        self.peers.lock().expect("peers lock").iter().filter(|p| !fences.contains(p)).count()
    }

    /// Opens one fence connection and waits until the listener has accepted it. Accepts
    /// are in connection order, so every connection made before this call (e.g. by a
    /// process that has exited) is counted by then. Returns `connections()`.
    pub fn settle(&self) -> usize {
        let fence = TcpStream::connect(self.addr).expect("connect a fence to the listener");
        let local = fence.local_addr().expect("fence local addr");
        self.fences.lock().expect("fences lock").push(local);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.peers.lock().expect("peers lock").contains(&local) {
            assert!(Instant::now() < deadline, "the recording listener did not accept a fence connection within 10s");
            std::thread::sleep(Duration::from_millis(2));
        }
        self.connections()
    }
}

/// The drydock binary with dummy credentials, region us-east-1, IMDS off, requests sent to
/// `endpoint_url`, and no inherited `AWS_*` variable (profiles, real keys, config files).
pub fn drydock(endpoint_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drydock"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().to_ascii_uppercase().starts_with("AWS_") {
            cmd.env_remove(&k);
        }
    }
    let nowhere = std::env::temp_dir().join("drydock-tests-no-such-aws-file");
    cmd.env_remove("BUILD_URL")
        .env("AWS_ENDPOINT_URL", endpoint_url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// The command of every test that talks to an emulator: `drydock(endpoint_url)` on the
/// config tree `tree`, polling every 50 ms (the emulator answers at once; AWS is polled
/// every 10 s). The one place that sets the poll interval.
pub fn drydock_in(endpoint_url: &str, tree: &Path) -> Command {
    let mut cmd = drydock(endpoint_url);
    cmd.env("DRYDOCK_POLL_INTERVAL", "50ms").arg("-C").arg(tree);
    cmd
}

/// `drydock(listener)` plus every HTTP proxy variable pointed at the listener too, so that
/// a request that ignored the endpoint (e.g. to a real AWS host) is counted as well.
pub fn drydock_recorded(listener: &RecordingListener) -> Command {
    let url = listener.url();
    let mut cmd = drydock(&url);
    for k in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        cmd.env(k, &url).env(k.to_ascii_lowercase(), &url);
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    cmd
}

/// Fixes drydock's clock at `unix_secs` for this run (`DRYDOCK_FAKE_NOW`, src/clock.rs).
/// Only a build with the cargo feature `test-hooks` reads it, so a test that needs it
/// fails here, saying so, when the feature is off (instead of comparing real times).
pub fn fake_now<'a>(cmd: &'a mut Command, unix_secs: &str) -> &'a mut Command {
    if !cfg!(feature = "test-hooks") {
        panic!(
            "this test fixes drydock's clock with DRYDOCK_FAKE_NOW, which only a build with the cargo \
             feature test-hooks reads: run `make test` or `cargo test --features test-hooks`"
        );
    }
    cmd.env("DRYDOCK_FAKE_NOW", unix_secs)
}

/// What a finished run printed, and how it ended.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code; None if killed by a signal (or by the timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Run {
    /// Asserts the exit code; on failure the message shows the whole run. Returns the run,
    /// so that a test states the whole outcome inline:
    /// `run.expect_code(2).expect_stdout("")`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "exit code: {self:?}");
        self
    }

    /// Asserts the exact stdout.
    #[track_caller]
    pub fn expect_stdout(&self, exact: &str) -> &Self {
        assert_eq!(self.stdout, exact, "stdout: {self:?}");
        self
    }

    /// Stdout as exactly one JSON document (serde_json refuses trailing data).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not exactly one JSON document ({e}): {self:?}"))
    }

    /// The one result of a `--output json` run of `command`.
    #[track_caller]
    pub fn only_result(&self, command: &str) -> Value {
        let d = self.json();
        assert_eq!(d["command"], command, "{d}");
        let results = d["results"].as_array().unwrap_or_else(|| panic!("no results: {d}"));
        assert_eq!(results.len(), 1, "{d}");
        results[0].clone()
    }
}

/// Runs `cmd` to completion, killing it after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Run {
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("wait for drydock") {
            Some(s) => break s,
            None if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait for killed drydock");
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let stdout = out_t.join().expect("stdout reader");
    let stderr = err_t.join().expect("stderr reader");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        timed_out,
    }
}

/// A generous bound for one offline run of the binary.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
pub mod aws;
pub mod fixtures;
pub mod moto;
