//! The emulator fixture most tests start from, and the processes the integration tests
//! run beside drydock: a drydock run in the background (to act on the emulator meanwhile,
//! or to signal it), the emulated builder guest, and polling for a condition with a
//! deadline.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::moto::{Moto, Sdk};
use super::{drydock_in, ExampleTree, Run, RUN_TIMEOUT};

/// One emulator (its own moto server), its SDK clients, a private copy of the example
/// tree, and optionally the emulated builder guest for the whole test.
pub struct Emulated {
    // Dropped in this order: the guest before the emulator.
    guest: Option<Guest>,
    pub moto: Moto,
    pub sdk: Sdk,
    pub tree: ExampleTree,
}

impl Emulated {
    /// The guest runs during bakes only (see `bake`).
    pub fn new() -> Self {
        let moto = Moto::start();
        let sdk = moto.sdk();
        Emulated { guest: None, moto, sdk, tree: ExampleTree::new() }
    }

    /// An emulator started with the shim's world flags (e.g. `--time-scale 30`).
    pub fn in_world(flags: &[&str]) -> Self {
        let moto = Moto::start_with(flags);
        let sdk = moto.sdk();
        Emulated { guest: None, moto, sdk, tree: ExampleTree::new() }
    }

    /// The guest runs for the whole test.
    pub fn with_guest() -> Self {
        let mut e = Self::new();
        e.guest = Some(Guest::start(&e.moto));
        e
    }

    /// `drydock -C TREE ARGS` against this emulator (see `drydock_in`).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = drydock_in(&self.moto.url(), self.tree.path());
        cmd.args(args);
        cmd
    }

    /// `drydock -C TREE --output json ARGS` against this emulator.
    pub fn json_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = drydock_in(&self.moto.url(), self.tree.path());
        cmd.args(["--output", "json"]).args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        super::run(&mut self.cmd(args), RUN_TIMEOUT)
    }

    pub fn run_json(&self, args: &[&str]) -> Run {
        super::run(&mut self.json_cmd(args), RUN_TIMEOUT)
    }

    /// Bakes each (service, tag) in staging (`-q`, text output: the AMI id on stdout),
    /// with the emulated guest running (started for these bakes unless the fixture has
    /// one); the AMI ids.
    pub fn bake(&self, what: &[(&str, &str)]) -> Vec<String> {
        let _guest = self.guest.is_none().then(|| Guest::start(&self.moto));
        what.iter()
            .map(|(service, tag)| {
                let run = self.run(&["-q", "bake", service, "--image-tag", tag, "--env", "staging"]);
                assert_eq!(run.code, Some(0), "bake {service} {tag}: {run:?}");
                let ami = run.stdout.trim().to_owned();
                assert!(ami.starts_with("ami-"), "bake {service} {tag}: {run:?}");
                ami
            })
            .collect()
    }

    pub fn bake_one(&self, service: &str, tag: &str) -> String {
        self.bake(&[(service, tag)]).remove(0)
    }
}

impl Default for Emulated {
    fn default() -> Self {
        Self::new()
    }
}

/// A drydock run in the background, so that the test can act on it and the emulator.
pub struct Background {
    pub child: Child,
    out: Option<std::thread::JoinHandle<Vec<u8>>>,
    err: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Background {
    pub fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn drydock");
        let mut o = child.stdout.take().expect("stdout");
        let mut e = child.stderr.take().expect("stderr");
        let out = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = o.read_to_end(&mut v);
            v
        });
        let err = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = e.read_to_end(&mut v);
            v
        });
        Self { child, out: Some(out), err: Some(err) }
    }

    /// Panics (with what it printed) if the run has ended already.
    pub fn assert_running(&mut self, waiting_for: &str) {
        if let Some(status) = self.child.try_wait().expect("wait") {
            let (out, err) = (self.printed(true), self.printed(false));
            panic!("drydock ended ({status}) while the test waited for {waiting_for}:\n{out}\n--- stderr ---\n{err}");
        }
    }

    pub fn printed(&mut self, stdout: bool) -> String {
        let reader = if stdout { self.out.take() } else { self.err.take() };
        let bytes = reader.map(|r| r.join().expect("reader")).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// `kill -INT` / `kill -TERM`: what Ctrl-C and a Jenkins abort send.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status();
        assert!(ok.expect("run kill").success(), "kill -{sig} {}", self.child.id());
    }

    /// `kill -9`: no cleanup at all, as a crashed host or an OOM kill.
    pub fn kill9(&self) {
        self.signal("KILL");
    }

    pub fn finish(mut self, timeout: Duration) -> Run {
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() >= deadline {
                timed_out = true;
                let _ = self.child.kill();
                break self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Run { code: status.code(), stdout: self.printed(true), stderr: self.printed(false), timed_out }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The emulated builder guest: powers off every builder whose bootstrap checks out.
pub struct Guest(Child);

impl Guest {
    pub fn start(moto: &Moto) -> Self {
        let child = Command::new(super::moto::python_path())
            .arg(super::example_root().join("tests/tools/fake_guest.py"))
            .args(["--endpoint", &moto.url()])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tests/tools/fake_guest.py");
        Guest(child)
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `make()` after a `kill -9`, with a 1 s lease TTL, until the dead run's lease is
/// taken over: the first run that is not busy (exit 3) is returned; panics after 40 busy
/// runs.
pub fn rerun_past_a_dead_lease(mut make: impl FnMut() -> Command, timeout: Duration) -> super::Run {
    let mut last = None;
    for _ in 0..40 {
        let mut cmd = make();
        let run = super::run(cmd.env("DRYDOCK_LEASE_TTL", "1s"), timeout);
        if run.code != Some(3) {
            return run;
        }
        // The dead run's lease: fresh for up to its TTL, then taken over.
        last = Some(run);
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("the dead run's lease was never taken over: {last:?}");
}

/// The wall clock in unix seconds, as drydock writes its heartbeats and expiries.
pub fn now() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    i64::try_from(secs).expect("seconds fit in i64")
}

/// Polls `f` every 10 ms until it gives a value; panics after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
