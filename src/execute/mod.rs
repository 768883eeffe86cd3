//! The one executor: runs any `Plan` (deploy, promote, rollback, gc, bake) step by step,
//! with progress, Ctrl-C, the lease's fence before every mutating step, the plan's
//! compensation when the new release never gets healthy, and its `finally` steps on
//! every path. It decides nothing: what to do is the plan's.

pub mod apply;
pub mod lease;
pub mod wait;
mod watch_alarms;

use std::time::Duration;

use crate::cloud::watch::GroupWatch;
use crate::cloud::Cloud;
use crate::domain::ReleaseName;
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::output::Reporter;
use crate::plan::{Plan, Step};

pub use lease::Lease;

pub struct Executor<'a> {
    pub cloud: &'a Cloud,
    /// The source side of a promotion to another account: where ShareImage runs.
    pub source: Option<&'a Cloud>,
    pub out: &'a Reporter,
    pub interrupt: &'a Interrupt,
    /// Shared by every service of the command: one DescribeAutoScalingGroups per poll.
    pub watch: &'a GroupWatch,
    pub poll: Duration,
    /// What the progress lines and errors start with, e.g. `deploy www to staging`.
    pub label: String,
    /// The cluster's lease, checked before every mutating step.
    pub lease: Option<&'a Lease>,
}

/// What the steps of a plan made that the plan could not know in advance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Produced {
    /// The builder a LaunchBuilder step launched.
    pub builder: Option<String>,
    /// The AMI a CreateImage or CopyImage step made.
    pub ami: Option<String>,
}

/// How far a plan got when it stopped.
enum Stop {
    /// Before the switch: the live release is as it was.
    Before(Error),
    /// The new release serves, but a later step failed.
    After(Error),
}

impl Executor<'_> {
    pub async fn run(&self, plan: &Plan) -> Result<Produced, Error> {
        let mut produced = Produced::default();
        let r = match self.steps(plan, &mut produced).await {
            Ok(()) => Ok(()),
            Err(Stop::Before(e)) => Err(e),
            // Another operation holds the cluster now: it sees the new release serving
            // beside the old one and converges; this run must not touch anything more.
            Err(Stop::After(Error::Raced(m))) => Err(Error::Raced(format!(
                "{m}; {} serves in the ELB beside the previous release, and the operation that holds the lease now converges the cluster",
                plan.release_name()
            ))),
            Err(Stop::After(e)) => Err(Error::NeedsAttention(format!(
                "{}: {} is live and serving, but a later step failed: {e}. Run the same command again to finish",
                self.label,
                plan.release_name()
            ))),
        };
        let r = self.finally(plan, &produced, r).await;
        match &r {
            Ok(()) => self.out.finish(&self.label, &plan.message),
            Err(e) => self.out.finish(&self.label, &format!("failed: {}", e.to_string().lines().next().unwrap_or(""))),
        }
        r.map(|()| produced)
    }

    /// The fence: a run that lost its lease stops here, before it changes anything more.
    fn fence(&self, step: &Step) -> Result<(), Error> {
        match self.lease {
            Some(l) if !l.still_held() => Err(Error::Raced(format!(
                "{}: lost the cluster's lease (another operation took it over after a silence longer than its TTL); stopped before \"{step}\"",
                self.label
            ))),
            _ => Ok(()),
        }
    }

    async fn steps(&self, plan: &Plan, produced: &mut Produced) -> Result<(), Stop> {
        let mut switched = false;
        let stop = |switched: bool, e: Error| if switched { Stop::After(e) } else { Stop::Before(e) };
        // After a wait, time has passed: the first write after it checks with AWS that the
        // lease is still ours (one read), rather than trusting the last heartbeat.
        let mut waited = false;
        // Launch templates this run created for a group it has not created yet: a run
        // that fails (or is interrupted) before the group exists takes them back, so a
        // failed command leaves nothing new behind.
        let mut made: Vec<ReleaseName> = Vec::new();
        // With a canary, the first WaitInService is the canary's: only the last one
        // before the switch makes the new release serve in full.
        let last_wait = plan.steps.iter().rposition(|s| matches!(s, Step::WaitInService { .. }));
        for (i, step) in plan.steps.iter().enumerate() {
            if let Err(e) = self.interrupt.check(&self.label) {
                return Err(stop(switched, self.undo(&made, e).await));
            }
            if !step.is_wait() {
                if let (true, Some(l)) = (waited, self.lease) {
                    l.verify().await;
                    waited = false;
                }
                self.fence(step).map_err(|e| stop(switched, e))?;
            } else {
                waited = true;
            }
            self.out.step(&self.label, &step.to_string());
            match step {
                Step::WaitInService { group, elb, count, timeout_s, fail_after_s } => {
                    if let Err(e) = self.wait_in_service(group, elb, *count, *timeout_s, *fail_after_s).await {
                        // The new release never served: take it out, the old one keeps serving.
                        return Err(Stop::Before(self.compensate(plan, e).await));
                    }
                    switched = switched || Some(i) == last_wait;
                }
                Step::WatchAlarms { group, phase, alarms, duration_s, until, mark, share } => {
                    let w = watch_alarms::Watch {
                        group,
                        phase: *phase,
                        alarms,
                        duration_s: *duration_s,
                        until: *until,
                        mark,
                        share: *share,
                    };
                    let r = self.watch_alarms(w).await;
                    waited = true;
                    if let Err(e) = r {
                        return Err(match phase {
                            // The canary failed (an alarm, Ctrl-C): take it out; the live
                            // release was never changed.
                            crate::plan::WatchPhase::Canary => Stop::Before(self.compensate(plan, e).await),
                            // After the switch: the command decides (an alarm rolls back;
                            // Ctrl-C leaves the new release live).
                            crate::plan::WatchPhase::Bake => Stop::Before(e),
                        });
                    }
                }
                // Off every critical path: after the switch (the old release's detach),
                // what no other service's switch should wait for (tags, suspend, history);
                // before it, what the new group's boot outlasts (metrics, policies,
                // schedules: in place long before an instance can serve), so that other
                // services' CreateAutoScalingGroup, which starts their boot, goes first.
                other
                    if (switched && !matches!(other, Step::Detach { .. } | Step::Attach { .. }))
                        || matches!(
                            other,
                            Step::EnableMetrics { .. } | Step::PutCpuPolicy { .. } | Step::PutSchedule { .. }
                        ) =>
                {
                    // The switch is behind (its detach done): this service's work is no
                    // longer critical, and once no service's is, bookkeeping may use the
                    // whole budget (`pace::Critical`).
                    if let (true, Some(l)) = (switched, self.lease) {
                        l.switched();
                    }
                    crate::cloud::pace::bookkeeping(self.apply(other, produced)).await.map_err(|e| stop(switched, e))?
                }
                other => match self.apply(other, produced).await {
                    Ok(()) => match other {
                        Step::CreateLaunchTemplate(t) => made.push(t.name.clone()),
                        Step::CreateGroup(_) => made.clear(),
                        _ => {}
                    },
                    // Another operation holds the cluster: what this run made is its now.
                    Err(e @ Error::Raced(_)) => return Err(stop(switched, e)),
                    // A group whose creation got no clear answer may exist, and it needs
                    // its template; the next run adopts both.
                    Err(e) if matches!(other, Step::CreateGroup(_)) && !e.refused() => return Err(stop(switched, e)),
                    Err(e) => return Err(stop(switched, self.undo(&made, e).await)),
                },
            }
        }
        Ok(())
    }

    /// Deletes the launch templates in `made` after `cause` stopped the run. One that
    /// cannot be deleted is harmless (the next deploy of the same release reuses it, a
    /// deploy of another deletes it): the progress says so, and `cause` stays the error.
    async fn undo(&self, made: &[ReleaseName], cause: Error) -> Error {
        for name in made {
            let step = Step::DeleteLaunchTemplate { name: name.to_string() };
            self.out.step(&self.label, &step.to_string());
            if let Err(e) = self.apply(&step, &mut Produced::default()).await {
                self.out.step(
                    &self.label,
                    &format!("launch template {name} stays ({e}); the next deploy reuses or deletes it"),
                );
            }
        }
        cause
    }

    async fn compensate(&self, plan: &Plan, cause: Error) -> Error {
        if plan.compensation.is_empty() {
            return cause;
        }
        self.out.step(&self.label, &format!("taking {} out; the previous release keeps serving", plan.release_name()));
        for step in &plan.compensation {
            self.out.step(&self.label, &step.to_string());
            if let Err(e) = self.apply(step, &mut Produced::default()).await {
                return Error::NeedsAttention(format!(
                    "{cause}; and compensation failed at \"{step}\": {e}. The previous release still serves; the new one may still be in the ELB: run `drydock status`"
                ));
            }
        }
        cause
    }

    /// The plan's `finally` steps, on every path; a failure there needs a human.
    async fn finally(&self, plan: &Plan, produced: &Produced, r: Result<(), Error>) -> Result<(), Error> {
        for step in &plan.finally {
            // A step about the builder this run launched is moot if none was launched.
            if matches!(step, Step::TerminateBuilder { instance: crate::plan::Instance::Launched })
                && produced.builder.is_none()
            {
                continue;
            }
            match (step, &produced.builder) {
                (Step::TerminateBuilder { instance: crate::plan::Instance::Launched }, Some(id)) => {
                    self.out.step(&self.label, &format!("terminating builder {id}"))
                }
                _ => self.out.step(&self.label, &step.to_string()),
            }
            if let Err(e) = self.apply(step, &mut produced.clone()).await {
                let before = match &r {
                    Ok(()) => "the work was done".to_owned(),
                    Err(cause) => cause.to_string(),
                };
                return Err(Error::NeedsAttention(format!(
                    "{before}; and \"{step}\" failed: {e}. Do it by hand, or run `drydock gc`"
                )));
            }
        }
        r
    }
}
