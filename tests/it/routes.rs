//! `drydock routes` end to end, with real processes on loopback only: the emulator holds
//! the three classic ELBs of staging, dnsmasq answers their DNS names with loopback
//! addresses, one small HTTP server per service listens on its own address, and a real
//! nginx serves the file that `drydock routes --check` wrote. The test proves that every
//! route reaches its own service, that nginx re-resolves an ELB's name through the
//! resolver without a reload, that an unchanged render is not rewritten (and does not run
//! `--reload-cmd`), that `--check` keeps a file that nginx rejects from replacing the old
//! one, and that values that would break out of their nginx context are refused at load.
//!
//! Every process (emulator, dnsmasq, nginx) is killed on drop; waits poll for a condition
//! with a deadline, never a fixed sleep.

use crate::common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use common::fixtures::eventually;
use common::moto::Moto;
use common::{drydock_in, line_of, ExampleTree, Run, RUN_TIMEOUT};
use drydock::domain::grammar::{ROUTE_RULE, SERVER_NAME_RULE};

const ENV_FILE: &str = "environments/staging.toml";
const SERVER_NAME: &str = "staging.example.com";
/// The services of staging, their routes, ELBs and backend addresses.
const SERVICES: [(&str, &str, &str, Ipv4Addr); 3] = [
    ("www", "/", "www-staging", Ipv4Addr::new(127, 0, 0, 11)),
    ("imageresize", "/img/", "imageresize-staging", Ipv4Addr::new(127, 0, 0, 12)),
    ("bookmarks", "/api/bookmarks/", "bookmarks-staging", Ipv4Addr::new(127, 0, 0, 13)),
];
/// Where www's ELB name points after the DNS change (the "new ELB addresses").
const MOVED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 14);
const MOVED_NAME: &str = "www-moved";
/// How long a process may take to become ready.
const READY: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/// A port that was free on 127.0.0.1 a moment ago (for the processes that bind it).
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("addr").port()
}

/// A port free for both UDP and TCP on 127.0.0.1 a moment ago (dnsmasq binds both).
fn free_dns_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
        let port = udp.local_addr().expect("addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// A temp dir that processes dropping root privileges (dnsmasq's `nobody`, nginx's
/// workers) can read.
fn shared_tempdir(prefix: &str) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix(prefix).tempdir().expect("temp dir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod 755");
    d
}

fn mtime_and_inode(p: &Path) -> (SystemTime, u64) {
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
    (m.modified().expect("mtime"), m.ino())
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().expect("run kill").success();
    assert!(ok, "kill -{sig} {pid}");
}

/// The pids whose parent is `pid` (from /proc/*/stat).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            // "pid (comm) state ppid …": comm may hold spaces and parentheses.
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
            ppid.and_then(|p| p.parse::<u32>().ok()) == Some(pid)
        })
        .collect()
}

/// A child process with its stderr in a log file; killed on drop.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Self {
        let f = File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(f.try_clone().expect("dup log")))
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({cmd:?}): {e}"));
        Proc { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log if the process has ended.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("{} ended ({status}):\n{}", self.name, self.log());
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        // SIGTERM first: nginx's fast shutdown takes its workers down and reaps them before
        // the master exits; a KILL of the master alone would orphan them (with the
        // listening socket).
        let pid = self.child.id();
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Still running: KILL its children while it is alive (their pids are then still
        // its own, never reused), then the process itself.
        for c in children_of(pid) {
            let _ = Command::new("kill").arg("-KILL").arg(c.to_string()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Backends: one HTTP server per service, on its own loopback address
// ---------------------------------------------------------------------------------------

/// Answers every request `200` with `service=<name> path=<target> host=<Host>`.
struct Backend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(name: &'static str, listener: TcpListener) -> Self {
        let addr = listener.local_addr().expect("backend addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("backend-{name}"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(s) = stream {
                        std::thread::spawn(move || serve(name, s));
                    }
                }
            })
            .expect("spawn a backend thread");
        Backend { addr, stop, thread: Some(thread) }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop up so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(name: &str, mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.lines().next().and_then(|l| l.split(' ').nth(1)).unwrap_or("?").to_owned();
    let host = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let body = format!("service={name} path={path} host={host}");
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Binds one port on every address in `ips` (the same number on each), retrying with
/// another port if one of them is taken.
fn bind_same_port(ips: &[Ipv4Addr]) -> (u16, Vec<TcpListener>) {
    for _ in 0..50 {
        let first = TcpListener::bind((ips[0], 0)).unwrap_or_else(|e| panic!("bind {}:0: {e}", ips[0]));
        let port = first.local_addr().expect("addr").port();
        let rest: Result<Vec<_>, _> = ips[1..].iter().map(|ip| TcpListener::bind((*ip, port))).collect();
        if let Ok(mut rest) = rest {
            rest.insert(0, first);
            return (port, rest);
        }
    }
    panic!("no port free on all of {ips:?}");
}

/// What nginx answered.
#[derive(Debug, PartialEq)]
struct Resp {
    status: u16,
    location: Option<String>,
    body: String,
}

/// One HTTP/1.1 GET with `Connection: close`, or the I/O error.
fn http_get(port: u16, path: &str, host: &str) -> Result<Resp, String> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(2))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: drydock-tests\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| format!("read: {e}"))?;
    let resp = String::from_utf8_lossy(&resp);
    let (head, body) = resp.split_once("\r\n\r\n").ok_or_else(|| format!("no header end in {resp:?}"))?;
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("no status in {head:?}"))?;
    let location = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.trim().to_owned());
    Ok(Resp { status, location, body: body.to_owned() })
}

// ---------------------------------------------------------------------------------------
// dnsmasq: the ELB names' DNS, from a hosts file
// ---------------------------------------------------------------------------------------

struct Dns {
    proc: Proc,
    port: u16,
    hosts: PathBuf,
}

impl Dns {
    /// dnsmasq on 127.0.0.1:`port` (UDP and TCP), answering `entries` from a hosts file.
    fn start(dir: &Path, port: u16, entries: &[(&str, Ipv4Addr)]) -> Self {
        let hosts = dir.join("elb.hosts");
        write_hosts(&hosts, entries);
        let mut cmd = Command::new("/usr/sbin/dnsmasq");
        cmd.args([
            "--no-daemon",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            // Answer only from the hosts file under amazonaws.com: an AAAA query for an ELB
            // name is then NODATA, as in a VPC, instead of REFUSED (no upstream server).
            "--local=/amazonaws.com/",
            &format!("--addn-hosts={}", hosts.display()),
            &format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
            "--log-queries",
            "--log-facility=-",
        ]);
        let mut dns = Dns { proc: Proc::spawn("dnsmasq", &mut cmd, dir.join("dnsmasq.log")), port, hosts };
        let (name, ip) = entries[0];
        eventually(&format!("dnsmasq answers {name} on port {port}"), READY, || {
            dns.proc.assert_running();
            (dns.query(name) == Some(ip)).then_some(())
        });
        dns
    }

    /// Rewrites the hosts file (atomically) and makes dnsmasq re-read it (SIGHUP).
    fn set(&self, entries: &[(&str, Ipv4Addr)]) {
        write_hosts(&self.hosts, entries);
        signal(self.proc.pid(), "HUP");
    }

    /// The first A record for `name`, or None (no answer, NODATA, error, timeout).
    fn query(&self, name: &str) -> Option<Ipv4Addr> {
        dns_a(self.port, name)
    }
}

fn write_hosts(path: &Path, entries: &[(&str, Ipv4Addr)]) {
    let text: String = entries.iter().map(|(name, ip)| format!("{ip} {name}\n")).collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write the hosts file");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).expect("chmod hosts");
    std::fs::rename(&tmp, path).expect("rename the hosts file");
}

/// A minimal DNS client: one A query over UDP to 127.0.0.1:`port`.
fn dns_a(port: u16, name: &str) -> Option<Ipv4Addr> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(300))).ok()?;
    let id: u16 = (std::process::id() as u16) ^ 0x5a5a;
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]); // root; QTYPE A; QCLASS IN
    sock.send_to(&q, ("127.0.0.1", port)).ok()?;
    let mut r = [0u8; 512];
    let n = sock.recv(&mut r).ok()?;
    let r = &r[..n];
    if n < 12 || r[0..2] != id.to_be_bytes() || r[3] & 0x0f != 0 {
        return None;
    }
    let answers = u16::from_be_bytes([r[6], r[7]]);
    let mut i = q.len(); // the question is echoed unchanged
    let skip_name = |mut i: usize| -> Option<usize> {
        loop {
            let len = *r.get(i)?;
            if len & 0xc0 == 0xc0 {
                return Some(i + 2);
            }
            if len == 0 {
                return Some(i + 1);
            }
            i += 1 + len as usize;
        }
    };
    for _ in 0..answers {
        i = skip_name(i)?;
        let rtype = u16::from_be_bytes([*r.get(i)?, *r.get(i + 1)?]);
        let rdlen = u16::from_be_bytes([*r.get(i + 8)?, *r.get(i + 9)?]) as usize;
        let data = r.get(i + 10..i + 10 + rdlen)?;
        if rtype == 1 && rdlen == 4 {
            return Some(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        i += 10 + rdlen;
    }
    None
}

// ---------------------------------------------------------------------------------------
// nginx: a minimal main config that includes the routes file
// ---------------------------------------------------------------------------------------

fn nginx_bin() -> PathBuf {
    drydock::render::nginx_check::find_nginx().expect("nginx is required for this test: run `make setup`")
}

struct Nginx {
    proc: Proc,
    dir: PathBuf,
    port: u16,
}

impl Nginx {
    fn main_conf(dir: &Path) -> PathBuf {
        dir.join("nginx.conf")
    }

    fn start(dir: &Path, routes: &Path, port: u16) -> Self {
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log stderr;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {};\n}}\n",
            routes.display()
        );
        std::fs::write(Self::main_conf(dir), conf).expect("write nginx.conf");
        let mut cmd = Command::new(nginx_bin());
        cmd.arg("-p").arg(dir).arg("-c").arg(Self::main_conf(dir)).args(["-e", "stderr", "-g", "daemon off;"]);
        let mut nginx =
            Nginx { proc: Proc::spawn("nginx", &mut cmd, dir.join("nginx.log")), dir: dir.to_owned(), port };
        eventually(&format!("nginx answers /nginx-health on port {port}"), READY, || {
            nginx.proc.assert_running();
            http_get(port, "/nginx-health", SERVER_NAME).ok().filter(|r| r.status == 200).map(|_| ())
        });
        nginx
    }

    /// Asserts that `path` reaches `service`, with path and Host passed through.
    fn routed(&self, path: &str, service: &str) {
        let Resp { status, body, .. } = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        assert_eq!(body, format!("service={service} path={path} host={SERVER_NAME}"), "GET {path}");
    }

    /// Asserts that `path` is nginx's 301 to `to` (a route without its trailing slash).
    fn redirected(&self, path: &str, to: &str) {
        let r = self.get(path);
        assert_eq!(r.status, 301, "GET {path}: {r:?}");
        let location = r.location.unwrap_or_default();
        assert!(location.ends_with(to), "GET {path}: Location {location:?}, expected one ending in {to:?}");
    }

    fn get(&self, path: &str) -> Resp {
        http_get(self.port, path, SERVER_NAME)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\nnginx log:\n{}", self.proc.log()))
    }

    fn workers(&self) -> Vec<u32> {
        let mut w = children_of(self.proc.pid());
        w.sort_unstable();
        w
    }

    fn reload_cmd(&self) -> String {
        format!(
            "{} -p {} -c {} -s reload",
            nginx_bin().display(),
            self.dir.display(),
            Self::main_conf(&self.dir).display()
        )
    }
}

// ---------------------------------------------------------------------------------------
// The emulator's ELBs and drydock runs
// ---------------------------------------------------------------------------------------

/// Creates the three classic ELBs of staging in the default VPC's subnets; returns
/// (elb name, DNS name) as the emulator reports them.
fn create_elbs(moto: &Moto, port: u16) -> Vec<(String, String)> {
    let sdk = moto.sdk();
    let names: Vec<&str> = SERVICES.iter().map(|(_, _, elb, _)| *elb).collect();
    sdk.create_elbs(&names, port);
    let described = sdk.block(sdk.elb.describe_load_balancers().send()).expect("describe the ELBs");
    SERVICES
        .iter()
        .map(|(_, _, elb, _)| {
            let d = described
                .load_balancer_descriptions()
                .iter()
                .find(|d| d.load_balancer_name() == Some(elb))
                .unwrap_or_else(|| panic!("ELB {elb} is described"));
            let dns = d.dns_name().expect("a DNS name").to_ascii_lowercase();
            assert!(dns.starts_with(elb) && dns.ends_with(".elb.amazonaws.com"), "{elb}: {dns}");
            (elb.to_string(), dns)
        })
        .collect()
}

fn routes(moto: &Moto, tree: &ExampleTree, args: &[&str]) -> Run {
    common::run(drydock_in(&moto.url(), tree.path()).args(args), RUN_TIMEOUT)
}

/// Files in `dir` whose names end in `.tmp` (a temporary file the atomic write left).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

#[test]
fn routes_serve_every_service_follow_dns_changes_and_rewrite_only_on_change() {
    nginx_bin();
    assert!(Path::new("/usr/sbin/dnsmasq").is_file(), "dnsmasq is required for this test: run `make setup`");
    let moto = Moto::start();
    let tree = ExampleTree::new();
    let work = shared_tempdir("drydock-routes-");
    let out_dir = work.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir out");
    let out = out_dir.join("routes.conf");
    let out_s = out.to_str().expect("utf-8 path").to_owned();

    // Backends: www, imageresize, bookmarks and www's next address, one port for all.
    let ips: Vec<Ipv4Addr> = SERVICES.iter().map(|s| s.3).chain([MOVED]).collect();
    let (backend_port, listeners) = bind_same_port(&ips);
    let names = ["www", "imageresize", "bookmarks", MOVED_NAME];
    let _backends: Vec<Backend> = names.iter().zip(listeners).map(|(n, l)| Backend::start(n, l)).collect();

    // The tree: nginx on loopback, our dnsmasq as resolver, each route to the backend port.
    let nginx_port = free_tcp_port();
    let dns_port = free_dns_port();
    let listener = format!("listener = {{ port = {backend_port}, protocol = \"HTTP\" }}");
    tree.replace(ENV_FILE, "listen = \"80\"", &format!("listen = \"127.0.0.1:{nginx_port}\"")).expect("edit");
    tree.replace(ENV_FILE, "resolver = [\"169.254.169.253\"]", &format!("resolver = [\"127.0.0.1:{dns_port}\"]"))
        .expect("edit");
    tree.replace(ENV_FILE, "resolver_valid = \"10s\"", "resolver_valid = \"1s\"").expect("edit");
    tree.replace(ENV_FILE, "listener = { port = 80, protocol = \"HTTP\" }", &listener).expect("edit");
    tree.replace(ENV_FILE, "route = \"/img/\"", &format!("route = \"/img/\"\n{listener}")).expect("edit");
    tree.replace(ENV_FILE, "route = \"/api/bookmarks/\"", &format!("route = \"/api/bookmarks/\"\n{listener}"))
        .expect("edit");

    // Before any ELB exists: exit 1, nothing written.
    let r = routes(&moto, &tree, &["routes", "--env", "staging", "--out", &out_s, "--check"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("no ELB yet") && r.stderr.contains("www-staging"), "{}", r.stderr);
    assert!(!out.exists(), "nothing is written when an ELB is missing");

    // The ELBs, directly through the SDK; their DNS names.
    let elbs = create_elbs(&moto, backend_port);
    let dns_of = |elb: &str| elbs.iter().find(|(n, _)| n == elb).map(|(_, d)| d.clone()).expect("known ELB");
    let www_dns = dns_of("www-staging");
    let entries = |www: Ipv4Addr| -> Vec<(String, Ipv4Addr)> {
        SERVICES.iter().map(|(s, _, elb, ip)| (dns_of(elb), if *s == "www" { www } else { *ip })).collect()
    };

    // dnsmasq answers each ELB name with its own backend's address.
    let first = entries(SERVICES[0].3);
    let first_refs: Vec<(&str, Ipv4Addr)> = first.iter().map(|(n, ip)| (n.as_str(), *ip)).collect();
    let mut dns = Dns::start(work.path(), dns_port, &first_refs);
    for (name, ip) in &first_refs {
        assert_eq!(dns.query(name), Some(*ip), "dnsmasq answers {name}");
    }

    // Render with --check; run nginx on the result.
    let r = routes(&moto, &tree, &["--output", "json", "routes", "--env", "staging", "--out", &out_s, "--check"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let v = r.json();
    assert_eq!(v["outcome"], "written", "{v}");
    assert_eq!(v["changed"], true, "{v}");
    assert_eq!(v["checked"], true, "{v}");
    assert_eq!(v["reloaded"], false, "{v}");
    for (service, route, elb, _) in SERVICES {
        let res = v["results"].as_array().expect("results").iter().find(|x| x["service"] == service);
        let res = res.unwrap_or_else(|| panic!("{service} in {v}"));
        assert_eq!(res["route"], route);
        assert_eq!(res["elb"], elb);
        assert_eq!(res["dns"], dns_of(elb));
    }
    let text = std::fs::read_to_string(&out).expect("the routes file is written");
    assert!(text.contains(&format!("listen 127.0.0.1:{nginx_port};")), "{text}");
    assert!(text.contains(&format!("resolver 127.0.0.1:{dns_port} valid=1s;")), "{text}");
    assert!(text.contains(&format!("proxy_pass http://$drydock_www:{backend_port};")), "{text}");
    assert!(text.contains(&format!("set $drydock_www \"{www_dns}\";")), "{text}");
    assert!(leftovers(&out_dir).is_empty(), "no temporary file left: {:?}", leftovers(&out_dir));

    let nginx_dir = work.path().join("nginx");
    std::fs::create_dir(&nginx_dir).expect("mkdir nginx");
    std::fs::set_permissions(&nginx_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut nginx = Nginx::start(&nginx_dir, &out, nginx_port);

    // Every route reaches its own service; path and Host pass through; the longest
    // prefix wins; /nginx-health is nginx's own.
    nginx.routed("/", "www");
    nginx.routed("/some/page?x=1", "www");
    nginx.routed("/img/a.jpg", "imageresize");
    nginx.routed("/img/", "imageresize");
    // A route without its trailing slash: nginx's own 301 to the route (a prefix location
    // ending in '/' with proxy_pass does that), not www.
    nginx.redirected("/img", "/img/");
    nginx.routed("/imgx/a.jpg", "www");
    nginx.routed("/api/bookmarks/42", "bookmarks");
    nginx.routed("/api/bookmarks/42?sort=new", "bookmarks");
    nginx.redirected("/api/bookmarks", "/api/bookmarks/");
    nginx.routed("/api/bookmarksx", "www");
    nginx.routed("/api/other", "www");
    let health = nginx.get("/nginx-health");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"), "nginx answers /nginx-health itself");

    // www's ELB moves to another address: nginx follows within resolver_valid (1s),
    // without a reload (same master, same workers).
    let workers = nginx.workers();
    assert!(!workers.is_empty(), "nginx runs workers");
    let moved = entries(MOVED);
    let moved_refs: Vec<(&str, Ipv4Addr)> = moved.iter().map(|(n, ip)| (n.as_str(), *ip)).collect();
    dns.set(&moved_refs);
    eventually("dnsmasq answers www's new address after SIGHUP", READY, || {
        dns.proc.assert_running();
        (dns.query(&www_dns) == Some(MOVED)).then_some(())
    });
    let switched_at = Instant::now();
    let mut seen_old = 0;
    eventually("nginx sends / to www's new address without a reload", Duration::from_secs(10), || {
        let Resp { status, body, .. } = nginx.get("/");
        assert_eq!(status, 200, "during the DNS change: {body}");
        if body == format!("service={MOVED_NAME} path=/ host={SERVER_NAME}") {
            return Some(());
        }
        assert_eq!(body, format!("service=www path=/ host={SERVER_NAME}"), "only the old or the new www answers");
        seen_old += 1;
        None
    });
    let took = switched_at.elapsed();
    // nginx keeps time in whole seconds, so `valid=1s` means up to 2 s; 4 s leaves room
    // for a loaded machine (with the default 10s it would take up to 11 s).
    assert!(took < Duration::from_secs(4), "re-resolved within resolver_valid plus a margin: {took:?}");
    nginx.proc.assert_running();
    assert_eq!(nginx.workers(), workers, "nginx was not reloaded");
    nginx.routed("/img/a.jpg", "imageresize");
    nginx.routed("/api/bookmarks/42", "bookmarks");
    eprintln!("nginx followed the DNS change after {took:?} ({seen_old} answers from the old address)");

    // An unchanged render is not rewritten, and --reload-cmd does not run.
    let before = mtime_and_inode(&out);
    let r = routes(&moto, &tree, &["routes", "--env", "staging", "--out", &out_s]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("unchanged"), "{}", r.stdout);
    let marker = work.path().join("reloaded");
    let reload = format!("touch {}", marker.display());
    let r = routes(
        &moto,
        &tree,
        &["--output", "json", "routes", "--env", "staging", "--out", &out_s, "--check", "--reload-cmd", &reload],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let v = r.json();
    assert_eq!((&v["outcome"], &v["changed"], &v["reloaded"]), (&"unchanged".into(), &false.into(), &false.into()));
    assert!(!marker.exists(), "--reload-cmd does not run when the file is unchanged");
    assert_eq!(mtime_and_inode(&out), before, "the unchanged file is not rewritten");

    // A change (another server name) is written, and --reload-cmd runs: here it touches
    // the marker, prints a line (which must not reach stdout) and reloads our nginx.
    tree.replace(
        ENV_FILE,
        "server_name = [\"staging.example.com\"]",
        "server_name = [\"staging.example.com\", \"www.staging.example.com\"]",
    )
    .expect("edit");
    let reload = format!("touch {} && echo reloading nginx && {}", marker.display(), nginx.reload_cmd());
    let r = routes(
        &moto,
        &tree,
        &["--output", "json", "routes", "--env", "staging", "--out", &out_s, "--check", "--reload-cmd", &reload],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let v = r.json();
    assert_eq!((&v["outcome"], &v["changed"], &v["reloaded"]), (&"written".into(), &true.into(), &true.into()));
    assert!(marker.exists(), "--reload-cmd runs when the file changed");
    assert!(r.stderr.contains("reloading nginx"), "the command's output goes to stderr: {}", r.stderr);
    let changed = std::fs::read_to_string(&out).expect("read");
    assert!(changed.contains("server_name staging.example.com www.staging.example.com;"), "{changed}");
    assert_ne!(mtime_and_inode(&out).1, before.1, "a changed file is replaced (renamed over)");
    assert!(leftovers(&out_dir).is_empty(), "no temporary file left: {:?}", leftovers(&out_dir));
    // The reload took: new workers, and the routes still answer.
    eventually("nginx reloaded (new workers)", READY, || {
        nginx.proc.assert_running();
        let now = nginx.workers();
        (!now.is_empty() && now.iter().all(|w| !workers.contains(w))).then_some(())
    });
    nginx.routed("/img/a.jpg", "imageresize");
    assert_eq!(nginx.get("/").body, format!("service={MOVED_NAME} path=/ host={SERVER_NAME}"));

    // --check with a template that nginx rejects: exit 1, the old file stays as it was,
    // --reload-cmd does not run.
    tree.copy_file("nginx/frontdoor.conf.hbs", "nginx/broken.conf.hbs").expect("copy");
    tree.replace("nginx/broken.conf.hbs", "client_max_body_size 20m;", "client_max_body_sise 20m;").expect("edit");
    tree.replace(ENV_FILE, "resolver_valid = \"1s\"", "resolver_valid = \"1s\"\ntemplate = \"broken\"").expect("edit");
    std::fs::remove_file(&marker).expect("rm marker");
    let kept = std::fs::read(&out).expect("read");
    let kept_meta = mtime_and_inode(&out);
    let r = routes(&moto, &tree, &["routes", "--env", "staging", "--out", &out_s, "--check", "--reload-cmd", &reload]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("nginx -t") && r.stderr.contains("client_max_body_sise"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
    assert_eq!(std::fs::read(&out).expect("read"), kept, "the old file's content is kept");
    assert_eq!(mtime_and_inode(&out), kept_meta, "the old file is not touched");
    assert!(!marker.exists(), "--reload-cmd does not run when the check fails");
    assert!(leftovers(&out_dir).is_empty(), "no temporary file left: {:?}", leftovers(&out_dir));
    // The same in JSON: one document with the error.
    let r = routes(&moto, &tree, &["--output", "json", "routes", "--env", "staging", "--out", &out_s, "--check"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    let v = r.json();
    assert_eq!(v["error"]["exit_code"], 1, "{v}");
    assert_eq!(std::fs::read(&out).expect("read"), kept);
    // nginx still serves the old routes.
    nginx.routed("/api/bookmarks/42", "bookmarks");
}

/// One case of a value that would break out of its nginx context.
struct Breakout {
    old: &'static str,
    new: &'static str,
    /// The line of the key in the edited file: needles for `line_of`.
    at: &'static [&'static str],
    key: &'static str,
    rule: &'static str,
}

#[test]
fn values_that_break_out_of_their_nginx_context_are_refused_before_any_aws_request() {
    let moto = Moto::start();
    let cases = [
        Breakout {
            old: "route = \"/img/\"",
            new: "route = \"/a;}/\"",
            at: &["[services.imageresize]", "route ="],
            key: "services.imageresize.route",
            rule: ROUTE_RULE,
        },
        Breakout {
            old: "server_name = [\"staging.example.com\"]",
            new: "server_name = [\"x; include /etc/passwd\"]",
            at: &["[nginx]", "server_name ="],
            key: "nginx.server_name",
            rule: SERVER_NAME_RULE,
        },
        Breakout {
            old: "route = \"/api/bookmarks/\"",
            new: "route = \"/a{b/\"",
            at: &["[services.bookmarks]", "route ="],
            key: "services.bookmarks.route",
            rule: ROUTE_RULE,
        },
    ];
    for c in &cases {
        let tree = ExampleTree::new();
        let edit = tree.replace(ENV_FILE, c.old, c.new).expect("edit");
        let line = line_of(&edit.text, c.at).expect("the edited key's line");
        let out = tree.path().join("routes.conf");
        let out_s = out.to_str().expect("utf-8 path");
        moto.clear_requests();

        let r = routes(&moto, &tree, &["routes", "--env", "staging", "--out", out_s, "--check"]);
        assert_eq!(r.code, Some(2), "{}: {r:?}", c.new);
        let prefix = format!("{ENV_FILE}:{line}: {}: ", c.key);
        assert!(r.stderr.contains(&prefix), "{}: expected {prefix:?} in\n{}", c.new, r.stderr);
        assert!(r.stderr.contains(c.rule), "{}: the rule is stated:\n{}", c.new, r.stderr);
        assert!(!out.exists(), "{}: nothing is written", c.new);

        let r = routes(&moto, &tree, &["--output", "json", "routes", "--env", "staging", "--out", out_s]);
        assert_eq!(r.code, Some(2), "{}: {r:?}", c.new);
        let v = r.json();
        let p = &v["error"]["problems"][0];
        assert_eq!((&p["file"], &p["line"], &p["key"]), (&ENV_FILE.into(), &line.into(), &c.key.into()), "{v}");
        assert!(p["message"].as_str().is_some_and(|m| m.contains(c.rule)), "{v}");

        let made = moto.requests();
        assert!(made.is_empty(), "{}: no AWS request, but drydock made {made:?}", c.new);
    }

    // The control: the recorder does see drydock's requests. With the tree as it ships,
    // routes reads the ELBs (read-only), finds none and writes nothing.
    let tree = ExampleTree::new();
    let out = tree.path().join("routes.conf");
    moto.clear_requests();
    let r = routes(&moto, &tree, &["routes", "--env", "staging", "--out", out.to_str().expect("utf-8 path")]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(!out.exists());
    let made = moto.requests();
    assert!(made.iter().any(|(_, a)| a == "DescribeLoadBalancers"), "the recorder sees drydock: {made:?}");
    assert!(made.iter().all(|(_, a)| a.starts_with("Describe") || a.starts_with("Get")), "read-only: {made:?}");
}
