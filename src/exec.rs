//! Runs a Plan against the cloud: one step after the other, with progress; waits paced
//! by the poll interval; the plan's compensation when the new release never gets
//! healthy. The executor decides nothing: what to do is the plan's.

use std::time::{Duration, Instant};

use crate::cloud::watch::GroupWatch;
use crate::cloud::{elb, groups, Cloud, CloudError};
use crate::domain::plan::{Plan, Step, STANDBY_PROCESSES};
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::output::Reporter;
use crate::render::runtime_user_data;

pub struct Executor<'a> {
    pub cloud: &'a Cloud,
    pub out: &'a Reporter,
    pub interrupt: &'a Interrupt,
    /// Shared by every service of the command: one DescribeAutoScalingGroups per poll.
    pub watch: &'a GroupWatch,
    pub poll: Duration,
    /// What the progress lines and errors start with, e.g. `deploy www to staging`.
    pub label: String,
}

/// How far a plan got when it stopped.
enum Stop {
    /// Before the switch: the live release is as it was.
    Before(Error),
    /// The new release serves, but a later step failed.
    After(Error),
}

impl Executor<'_> {
    fn failed(&self, e: CloudError) -> Error {
        Error::Failed(format!("{}: {e}", self.label))
    }

    pub async fn run(&self, plan: &Plan) -> Result<(), Error> {
        let r = self.run_steps(plan).await;
        match &r {
            Ok(()) => self.out.finish(&self.label, &plan.message),
            Err(e) => self.out.finish(&self.label, &format!("failed: {}", e.to_string().lines().next().unwrap_or(""))),
        }
        r
    }

    async fn run_steps(&self, plan: &Plan) -> Result<(), Error> {
        match self.steps(plan).await {
            Ok(()) => Ok(()),
            Err(Stop::Before(e)) => Err(e),
            Err(Stop::After(e)) => Err(Error::NeedsAttention(format!(
                "{}: {} is live and serving, but a later step failed: {e}. Run the same command again to finish",
                self.label,
                plan.release.as_deref().unwrap_or("the new release")
            ))),
        }
    }

    async fn steps(&self, plan: &Plan) -> Result<(), Stop> {
        let mut switched = false;
        for step in &plan.steps {
            if let Err(e) = self.interrupt.check(&self.label) {
                return Err(if switched { Stop::After(e) } else { Stop::Before(e) });
            }
            self.out.step(&self.label, &step.to_string());
            let r = match step {
                Step::WaitInService { group, elb, count, timeout_s } => {
                    match self.wait_in_service(group, elb, *count, *timeout_s).await {
                        Ok(()) => {
                            switched = true;
                            Ok(())
                        }
                        Err(e) => {
                            // The new release never served: take it out, the old one keeps serving.
                            let e = self.compensate(plan, e).await;
                            return Err(Stop::Before(e));
                        }
                    }
                }
                other => self.apply(other).await,
            };
            if let Err(e) = r {
                return Err(if switched { Stop::After(e) } else { Stop::Before(e) });
            }
        }
        Ok(())
    }

    async fn compensate(&self, plan: &Plan, cause: Error) -> Error {
        self.out.step(
            &self.label,
            &format!(
                "taking {} out; the previous release keeps serving",
                plan.release.as_deref().unwrap_or("the new release")
            ),
        );
        for step in &plan.compensation {
            self.out.step(&self.label, &step.to_string());
            if let Err(e) = self.apply(step).await {
                return Error::NeedsAttention(format!(
                    "{cause}; and compensation failed at \"{step}\": {e}. The previous release still serves; the new one may still be in the ELB: run `drydock status`"
                ));
            }
        }
        cause
    }

    async fn apply(&self, step: &Step) -> Result<(), Error> {
        let c = self.cloud;
        let r = match step {
            Step::CreateElb { elb, port, protocol, instance_port, health_check, subnets, security_groups, tags } => {
                elb::create(c, elb, *port, protocol, *instance_port, health_check, subnets, security_groups, tags).await
            }
            Step::SetHealthCheck { elb, target } => elb::set_health_check(c, elb, target).await,
            Step::CreateLaunchTemplate(t) => {
                let user_data = runtime_user_data(&t.name, &t.runtime_env)
                    .map_err(|e| Error::Failed(format!("{}: {e}", self.label)))?;
                // A retried call of this release is idempotent.
                let token = format!("drydock-{}-{}", t.name, t.ami);
                match groups::create_launch_template(c, t, &user_data, &token).await {
                    Err(e) if e.is("InvalidLaunchTemplateName.AlreadyExistsException") => Err(CloudError::other(
                        "CreateLaunchTemplate",
                        format!("{} exists already: another operation is creating this release", t.name),
                    )),
                    r => r,
                }
            }
            Step::DeleteLaunchTemplate { name } => groups::delete_launch_template(c, name).await,
            Step::CreateGroup(g) => match groups::create_group(c, g).await {
                // Two racing creators cannot both create one release.
                Err(e) if e.is("AlreadyExists") => {
                    return Err(Error::Busy(format!(
                        "{}: group {} was created by another operation at the same time",
                        self.label, g.name
                    )))
                }
                r => r,
            },
            Step::WaitInService { .. } => Ok(()),
            Step::Attach { group, elb } => groups::attach(c, group, elb).await,
            Step::Detach { group, elb } => groups::detach(c, group, elb).await,
            Step::Suspend { group } => groups::suspend(c, group, &STANDBY_PROCESSES).await,
            Step::Resume { group } => groups::resume(c, group).await,
            Step::ScaleTo { group, min, desired, max } => groups::scale(c, group, *min, *desired, *max).await,
            Step::Tag { group, tags, more } => {
                let mut all = vec![(group.clone(), tags.clone())];
                all.extend(more.iter().cloned());
                groups::tag_many(c, &all).await
            }
            Step::DeleteGroup { group } => groups::delete_group(c, group).await,
            Step::Record { elb, key, value } => elb::add_tags(c, elb, &[(key.clone(), value.clone())]).await,
            Step::Unrecord { elb, keys } => elb::remove_tags(c, elb, keys).await,
            Step::DeregisterImage { ami, .. } => crate::cloud::images::deregister(c, ami).await,
            Step::TerminateBuilder { instance } => {
                crate::cloud::instances::terminate(c, std::slice::from_ref(instance)).await
            }
        };
        r.map_err(|e| self.failed(e))
    }

    /// Until every instance of `group` (and `count` of them) is InService in `elb`.
    async fn wait_in_service(&self, group: &str, elb_name: &str, count: u32, timeout_s: u64) -> Result<(), Error> {
        let r = self.wait_loop(group, elb_name, count, timeout_s).await;
        self.watch.forget(group).await;
        r
    }

    async fn wait_loop(&self, group: &str, elb_name: &str, count: u32, timeout_s: u64) -> Result<(), Error> {
        let deadline = crate::clock::deadline(Duration::from_secs(timeout_s));
        let mut last = None;
        loop {
            let (ids, health) = match self.watch.instances(group, self.poll / 2).await.map_err(|e| self.failed(e))? {
                Some((_, ids)) => (ids, elb::instance_health(self.cloud, elb_name).await.map_err(|e| self.failed(e))?),
                None => {
                    return Err(Error::Failed(format!(
                        "{}: group {group} disappeared while waiting for it",
                        self.label
                    )))
                }
            };
            let in_service = ids.iter().filter(|i| health.get(*i).is_some_and(|h| h.in_service)).count();
            if ids.len() as u32 >= count && in_service as u32 >= count {
                let all = if count == 1 { "the instance of".to_owned() } else { format!("all {count} instances of") };
                let verb = if count == 1 { "is" } else { "are" };
                self.out.step(&self.label, &format!("{all} {group} {verb} InService"));
                return Ok(());
            }
            if last != Some(in_service) {
                self.out.step(&self.label, &format!("{in_service}/{count} instances of {group} InService"));
                last = Some(in_service);
            }
            if Instant::now() >= deadline {
                let out_of: Vec<String> = ids
                    .iter()
                    .filter(|i| !health.get(*i).is_some_and(|h| h.in_service))
                    .map(|i| match health.get(i) {
                        Some(h) if !h.description.is_empty() => {
                            format!("{i}: {}: {}", h.state, h.description)
                        }
                        Some(h) => format!("{i}: {}", h.state),
                        None => format!("{i}: not registered with the ELB"),
                    })
                    .collect();
                let missing = count.saturating_sub(ids.len() as u32);
                let mut msg = format!(
                    "{}: ELB {elb_name}: {} of {count} instances of {group} not InService after {timeout_s}s",
                    self.label,
                    count as usize - in_service.min(count as usize)
                );
                if !out_of.is_empty() {
                    msg.push_str(&format!(": {}", out_of.join("; ")));
                }
                if missing > 0 {
                    msg.push_str(&format!("; {missing} instance(s) never launched"));
                }
                return Err(Error::Failed(msg));
            }
            let nap = self.poll.min(deadline.saturating_duration_since(Instant::now())).max(Duration::from_millis(10));
            self.interrupt.sleep(nap, &format!("{}: waiting for {group}", self.label)).await?;
        }
    }
}
