//! What the mutating commands (deploy, promote, rollback, gc, bake) share: the per-service
//! result and its report, who runs the operation, the global timing flags, the cluster
//! observation, and the `Session` that runs a plan under the cluster's lease.

use std::time::Instant;

use serde_json::{json, Value};

use crate::cli::Global;
use crate::cloud::reads::{self, ClusterReads};
use crate::cloud::watch::GroupWatch;
use crate::cloud::{elb, lease, Cloud, CloudError};
use crate::domain::cluster::ClusterSnapshot;
use crate::domain::{ClusterName, ReleaseName};
use crate::error::{Error, Result};
use crate::execute::lease::{operation_id, Holder};
use crate::execute::{Executor, Lease};
use crate::interrupt::Interrupt;
use crate::output::Reporter;
use crate::plan::{Outcome, Plan};

/// What one service's rollout came to.
#[derive(Debug, Clone)]
pub struct ServiceResult {
    pub service: String,
    pub outcome: &'static str,
    /// In JSON, `release` is its version and `asg` its group name.
    pub release: Option<ReleaseName>,
    pub ami: Option<String>,
    pub image: Option<String>,
    pub previous: Option<ReleaseName>,
    pub elapsed_s: f64,
    pub message: String,
    pub code: i32,
    pub plan: Option<Plan>,
    /// The CloudWatch alarm that decided the outcome (issue #17), as JSON `alarm`.
    pub alarm: Option<crate::domain::alarm::FiredAlarm>,
    /// When that alarm fired during a watch: canary (compensated) or bake (rolled back).
    pub alarm_phase: Option<crate::plan::WatchPhase>,
}

impl ServiceResult {
    /// The result a plan reports when it succeeds.
    pub fn of(plan: &Plan, image: Option<String>) -> Self {
        ServiceResult {
            service: plan.service.clone(),
            outcome: plan.outcome.as_str(),
            release: plan.release.clone(),
            ami: plan.ami.clone(),
            image,
            previous: plan.previous.clone(),
            elapsed_s: 0.0,
            message: plan.message.clone(),
            code: 0,
            plan: None,
            alarm: None,
            alarm_phase: None,
        }
    }

    pub fn json(&self) -> Value {
        let mut v = json!({
            "service": self.service,
            "outcome": self.outcome,
            "elapsed_s": (self.elapsed_s * 10.0).round() / 10.0,
            "message": self.message,
        });
        for (k, val) in [
            ("release", self.release.as_ref().map(ReleaseName::version)),
            ("asg", self.release.as_ref().map(ReleaseName::to_string)),
            ("ami", self.ami.clone()),
            ("image", self.image.clone()),
            ("previous", self.previous.as_ref().map(ReleaseName::to_string)),
        ] {
            if let Some(x) = val {
                v[k] = Value::String(x);
            }
        }
        if let Some(a) = &self.alarm {
            v["alarm"] = json!(a);
        }
        if let Some(p) = &self.plan {
            v["plan"] = Value::Array(p.steps.iter().map(|s| json!({"step": s.to_string(), "detail": s})).collect());
            if !p.finally.is_empty() {
                // What runs at the end on every path.
                v["finally"] =
                    Value::Array(p.finally.iter().map(|s| json!({"step": s.to_string(), "detail": s})).collect());
            }
            if !p.compensation.is_empty() {
                // What the run would do if the new release does not get healthy.
                v["compensation"] =
                    Value::Array(p.compensation.iter().map(|s| json!({"step": s.to_string(), "detail": s})).collect());
            }
        }
        v
    }

    pub fn failed_result(service: &str, e: &Error, started: Instant) -> Self {
        ServiceResult {
            service: service.to_owned(),
            outcome: "failed",
            release: None,
            ami: None,
            image: None,
            previous: None,
            elapsed_s: started.elapsed().as_secs_f64(),
            message: e.to_string(),
            code: e.exit_code(),
            plan: None,
            alarm: match e {
                Error::Alarm { alarm, .. } => Some(alarm.clone()),
                _ => None,
            },
            alarm_phase: match e {
                Error::Alarm { phase, .. } => *phase,
                _ => None,
            },
        }
    }
}

/// Severity for "the exit code is the worst one": an interrupt, then state that needs
/// attention, then failure, busy, bad input.
fn severity(code: i32) -> u8 {
    match code {
        130 => 5,
        4 => 4,
        1 => 3,
        3 => 2,
        2 => 1,
        _ => 0,
    }
}

/// Prints every result (one JSON document, or a line each) and turns the worst code into
/// the command's error.
pub fn report(out: &Reporter, command: &str, env: &str, results: &[ServiceResult]) -> Result<()> {
    let mut text = String::new();
    for r in results {
        text.push_str(&format!("{}: {} — {}\n", r.service, r.outcome, r.message));
        if let Some(p) = &r.plan {
            for (i, s) in p.steps.iter().enumerate() {
                text.push_str(&format!("  {}. {s}\n", i + 1));
                // `-v`: the user data itself, as the launch template will carry it.
                if let (true, crate::plan::Step::CreateLaunchTemplate(t)) = (out.verbose > 0, s) {
                    for line in t.user_data.text.lines() {
                        text.push_str(&format!("       | {line}\n"));
                    }
                }
            }
            if !p.compensation.is_empty() {
                text.push_str("  if the new release does not get healthy:\n");
                for s in &p.compensation {
                    text.push_str(&format!("     {s}\n"));
                }
            }
        }
    }
    out.result(
        &text,
        &json!({"command": command, "env": env, "results": results.iter().map(|r| r.json()).collect::<Vec<_>>()}),
    );
    let worst = results.iter().map(|r| r.code).max_by_key(|c| severity(*c)).unwrap_or(0);
    if worst == 0 {
        return Ok(());
    }
    // The reasons go to stderr too: with `--output json > file` (Jenkins), stderr is the
    // log a person reads.
    for r in results.iter().filter(|r| r.code != 0) {
        eprintln!("drydock {command}: {}: {}", r.service, r.message);
    }
    let failed: Vec<&str> = results.iter().filter(|r| r.code != 0).map(|r| r.service.as_str()).collect();
    Err(Error::Reported {
        code: worst,
        summary: format!("{} of {} service(s) did not succeed: {}", failed.len(), results.len(), failed.join(", ")),
    })
}

/// Who runs this operation: the Jenkins build if any, else user@host, plus the pid.
pub fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let mut h = format!("{user}@{host} pid {}", std::process::id());
    if let Ok(b) = std::env::var("BUILD_URL") {
        if !b.is_empty() {
            h.push_str(&format!(" build {}", crate::domain::grammar::strip_url_credentials(&b)));
        }
    }
    h
}

pub fn deployed_by() -> String {
    match std::env::var("BUILD_URL") {
        // A Jenkins BUILD_URL may carry `user:token@`: never into a tag.
        Ok(b) if !b.is_empty() => crate::domain::grammar::strip_url_credentials(&b),
        _ => {
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "unknown-host".into());
            format!("{user}@{host}")
        }
    }
}

/// The global flags every mutating command shares, through their grammars.
pub struct Timing {
    pub poll: std::time::Duration,
    pub lease_ttl: std::time::Duration,
}

impl Timing {
    pub fn parse(g: &Global) -> Result<Self> {
        let within = |flag: &str, v: &str, min: std::time::Duration, max: std::time::Duration| {
            // humantime's grammar: these two also take milliseconds (`50ms` for an emulator).
            let d = humantime::parse_duration(v)
                .map_err(|e| Error::Usage(format!("--{flag}: {v:?} is not a duration ({e}), e.g. 10s, 500ms, 2m")))?;
            if d < min || d > max {
                return Err(Error::Usage(format!(
                    "--{flag}: {v} is outside the allowed range {}..{}",
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                )));
            }
            Ok(d)
        };
        use std::time::Duration as D;
        Ok(Timing {
            poll: within("poll-interval", &g.poll_interval, D::from_millis(10), D::from_secs(300))?,
            lease_ttl: within("lease-ttl", &g.lease_ttl, D::from_secs(1), D::from_secs(3600))?,
        })
    }
}

pub fn now() -> i64 {
    crate::clock::unix()
}

/// Observes one cluster (after the lease is taken, so that the plan sees the truth): its
/// ELB, groups and launch templates in a batch with other services (`cloud/reads.rs`),
/// then the health of the instances its ELB knows.
pub async fn observe(cloud: &Cloud, cluster: &ClusterName, elb_name: &str) -> Result<ClusterSnapshot, CloudError> {
    let ClusterReads { elb, groups, launch_templates } = reads::read(cloud, cluster, elb_name).await?;
    let health = match &elb {
        Some(_) => elb::instance_health(cloud, elb_name).await?,
        None => Default::default(),
    };
    Ok(ClusterSnapshot { elb, groups, health, launch_templates })
}

/// What every mutating command shares: the clients, the output, Ctrl-C, the batched
/// group watch, and how it runs a plan (printed in a dry run, executed otherwise, under
/// the cluster's lease).
pub struct Session<'a> {
    pub cloud: &'a Cloud,
    /// promote to another account: the source side, where ShareImage runs.
    pub source: Option<&'a Cloud>,
    pub out: &'a Reporter,
    pub interrupt: &'a Interrupt,
    pub env: &'a str,
    /// The environment's VPC, where the cluster leases live (`cloud/lease.rs`); bake,
    /// which takes no lease, resolves no network when it reuses an AMI.
    pub vpc: Option<String>,
    pub dry_run: bool,
    pub operation: &'static str,
    pub timing: Timing,
    pub holder: Holder,
    /// One DescribeAutoScalingGroups per poll for every service waiting.
    pub watch: GroupWatch,
    /// `--ignore-alarms` (deploy, promote): firing alarms that neither stop the operation
    /// before it begins nor fail a canary or a bake time.
    pub ignore_alarms: std::collections::BTreeSet<crate::domain::alarm::AlarmName>,
}

impl<'a> Session<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cloud: &'a Cloud,
        out: &'a Reporter,
        interrupt: &'a Interrupt,
        env: &'a str,
        vpc: Option<&str>,
        operation: &'static str,
        dry_run: bool,
        timing: Timing,
    ) -> Self {
        let holder = Holder { op: operation_id(), who: holder(), operation };
        Session {
            cloud,
            source: None,
            out,
            interrupt,
            env,
            vpc: vpc.map(str::to_owned),
            dry_run,
            operation,
            timing,
            holder,
            watch: GroupWatch::new(cloud.clone()),
            ignore_alarms: Default::default(),
        }
    }

    /// Takes the lease of `cluster` (only noted in a dry run), runs `work` with it, and
    /// releases it on every path.
    pub async fn leased<T, F>(&self, cluster: &ClusterName, label: &str, work: F) -> Result<T>
    where
        F: AsyncFnOnce(Option<&Lease>) -> Result<T>,
    {
        let Some(vpc) = self.vpc.as_deref() else {
            return Err(Error::Failed(format!("{label}: no VPC to hold the lease of {cluster} in")));
        };
        if self.dry_run {
            let seen = lease::observe(self.cloud, vpc, cluster.as_str())
                .await
                .map_err(|e| Error::cloud(format!("{label}: reading the lease of {cluster}"), e))?;
            if let Some(l) = seen {
                self.out
                    .progress(&format!("{label}: note: the cluster's lease is held by {} ({})", l.holder, l.operation));
            }
            return work(None).await;
        }
        let lease = Lease::take(
            self.cloud,
            vpc,
            cluster.as_str(),
            self.env,
            &self.holder,
            self.timing.lease_ttl,
            self.out,
            label,
        )
        .await?;
        let r = work(Some(&lease)).await;
        lease.release(self.out, label).await;
        r
    }

    /// Prints (dry run) or executes a plan, and reports it as a result.
    pub async fn execute(
        &self,
        plan: Plan,
        image: Option<String>,
        label: &str,
        lease: Option<&Lease>,
        started: Instant,
    ) -> ServiceResult {
        let mut result = ServiceResult::of(&plan, image);
        if self.dry_run {
            // Nothing to do is `unchanged`, in a dry run too.
            if !(plan.outcome == Outcome::Unchanged && plan.is_noop()) {
                result.outcome = "planned";
            }
            result.plan = Some(plan);
        } else {
            let exec = Executor {
                cloud: self.cloud,
                source: self.source,
                out: self.out,
                interrupt: self.interrupt,
                watch: &self.watch,
                poll: self.timing.poll,
                label: label.to_owned(),
                lease,
            };
            match exec.run(&plan).await {
                Ok(produced) => {
                    if let Some(a) = produced.ami {
                        result.ami = Some(a);
                    }
                    if plan.outcome == Outcome::Collected {
                        // A real run reports what it collected, as the dry run reports what it would.
                        result.plan = Some(plan);
                    }
                }
                Err(e) => {
                    // The result still names the release this run made (and took out
                    // again), so that a Jenkins step can report it without parsing the message.
                    result.outcome = "failed";
                    result.code = e.exit_code();
                    result.message = e.to_string();
                    if let Error::Alarm { alarm, phase, .. } = &e {
                        result.alarm = Some(alarm.clone());
                        result.alarm_phase = *phase;
                    }
                }
            }
        }
        result.elapsed_s = started.elapsed().as_secs_f64();
        result
    }
}
