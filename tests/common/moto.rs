//! The emulator for integration tests: one moto server (through the fidelity shim,
//! tests/moto/drydock_moto.py) per test, on a free loopback port, so that tests run in
//! parallel without resetting each other. Killed on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_sdk_ec2::config::Credentials;
use serde_json::Value;

pub struct Moto {
    child: Child,
    pub port: u16,
}

/// The venv's python, for helper scripts (e.g. tests/tools/fake_guest.py).
pub fn python_path() -> PathBuf {
    python()
}

/// The venv's python (`make setup` creates it), or `DRYDOCK_TEST_PYTHON`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("DRYDOCK_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = super::example_root().join(".venv/bin/python");
    assert!(p.exists(), "{} is missing: run `make setup` (or `bash tests/moto/venv.sh`) first", p.display());
    p
}

impl Moto {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// `--stock` etc.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_script("tests/moto/drydock_moto.py", extra)
    }

    /// Another script that serves the shim, e.g. tests/guest/moto_console.py (the shim
    /// whose GetConsoleOutput answers from files: `--console-dir DIR`).
    pub fn start_script(script: &str, extra: &[&str]) -> Self {
        let script = super::example_root().join(script);
        let mut child = Command::new(python())
            .arg(script)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the moto shim");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("the moto shim did not print READY within 60 s");
            }
        };
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the shim: {line:?}"));
        Moto { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A raw HTTP/1.1 request to the shim's control API; returns the JSON body.
    pub fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the shim");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        assert!(head.starts_with("HTTP/1.1 2") || head.starts_with("HTTP/1.0 2"), "{method} {path}: {head}");
        // Tolerate chunked encoding: take the first JSON value in the body.
        let start = body.find(['[', '{']).unwrap_or(0);
        let mut de = serde_json::Deserializer::from_str(&body[start..]).into_iter::<Value>();
        de.next().and_then(|v| v.ok()).unwrap_or(Value::Null)
    }

    /// drydock's recorded AWS requests (not the test's own SDK calls) as (service,
    /// action), oldest first.
    pub fn requests(&self) -> Vec<(String, String)> {
        let v = self.control("GET", "/drydock-shim/requests", None);
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter(|r| r["client"] == "drydock")
                    .map(|r| {
                        (r["service"].as_str().unwrap_or("").to_owned(), r["action"].as_str().unwrap_or("").to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// drydock's recorded AWS requests in full, oldest first: service, action, region,
    /// account, the query parameters as sent, and each resource the request named with
    /// its tags just before the request (see the shim's recorder).
    pub fn request_log(&self) -> Vec<Value> {
        let v = self.control("GET", "/drydock-shim/requests", None);
        v.as_array().map(|a| a.iter().filter(|r| r["client"] == "drydock").cloned().collect()).unwrap_or_default()
    }

    /// drydock's requests as (action, the resource it names): see the recorder's `name`.
    pub fn requests_named(&self) -> Vec<(String, Option<String>)> {
        let v = self.control("GET", "/drydock-shim/requests", None);
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter(|r| r["client"] == "drydock")
                    .map(|r| (r["action"].as_str().unwrap_or("").to_owned(), r["name"].as_str().map(str::to_owned)))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn count(&self, action: &str) -> usize {
        self.requests().iter().filter(|(_, a)| a == action).count()
    }

    pub fn clear_requests(&self) {
        self.control("DELETE", "/drydock-shim/requests", None);
    }

    /// Instances launched from these AMIs report OutOfService (the AWS reason text).
    pub fn unhealthy(&self, amis: &[&str]) {
        self.control("POST", "/drydock-shim/unhealthy", Some(&serde_json::json!({ "amis": amis })));
    }

    pub fn clear_unhealthy(&self) {
        self.control("DELETE", "/drydock-shim/unhealthy", None);
    }

    /// From now on, every AWS request with this Action blocks in the shim until
    /// `release_hold` (then answers 503, unprocessed).
    pub fn hold(&self, action: &str) {
        self.control("POST", "/drydock-shim/hold", Some(&serde_json::json!({ "action": action })));
    }

    /// As `hold`, armed only once a request with the Action `after` has arrived.
    pub fn hold_after(&self, action: &str, after: &str) {
        self.control("POST", "/drydock-shim/hold", Some(&serde_json::json!({ "action": action, "after": after })));
    }

    /// How many requests are blocked by the hold now.
    pub fn held(&self) -> u64 {
        self.control("GET", "/drydock-shim/hold", None)["held"].as_u64().unwrap_or(0)
    }

    /// Clears the hold; returns how many held requests were answered 503.
    pub fn release_hold(&self) -> u64 {
        self.control("DELETE", "/drydock-shim/hold", None)["released"].as_u64().unwrap_or(0)
    }

    /// SDK clients of this emulator (region us-east-1, dummy credentials).
    pub fn sdk(&self) -> Sdk {
        self.sdk_with("us-east-1", Credentials::new("testing", "testing", None, None, "tests"))
    }

    /// SDK clients of this emulator in another region.
    pub fn sdk_in(&self, region: &'static str) -> Sdk {
        self.sdk_with(region, Credentials::new("testing", "testing", None, None, "tests"))
    }

    /// SDK clients of this emulator in us-east-1 with these credentials (moto derives the
    /// account from the access key).
    pub fn sdk_as(&self, credentials: Credentials) -> Sdk {
        self.sdk_with("us-east-1", credentials)
    }

    fn sdk_with(&self, region: &'static str, credentials: Credentials) -> Sdk {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let conf = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region))
                .endpoint_url(self.url())
                // Marks the tests' own requests, so that the recorder tells them apart.
                .app_name(aws_config::AppName::new("drydock-tests").expect("app name"))
                .credentials_provider(credentials)
                .load(),
        );
        Sdk {
            ec2: aws_sdk_ec2::Client::new(&conf),
            asg: aws_sdk_autoscaling::Client::new(&conf),
            elb: aws_sdk_elasticloadbalancing::Client::new(&conf),
            cw: aws_sdk_cloudwatch::Client::new(&conf),
            rt,
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Blocking SDK access for tests (what they observe through it: tests/common/aws.rs).
pub struct Sdk {
    pub ec2: aws_sdk_ec2::Client,
    pub asg: aws_sdk_autoscaling::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    /// CloudWatch (alarms for progressive delivery; rpc-v2-cbor through the shim's patch k).
    pub cw: aws_sdk_cloudwatch::Client,
    pub rt: tokio::runtime::Runtime,
}

impl Sdk {
    pub fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}
