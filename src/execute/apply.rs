//! One step of a plan, against the cloud: an action, or a wait through the one waiter.

use std::time::Duration;

use super::wait::{deadline, Poll, Waiter};
use super::{Executor, Produced};
use crate::cloud::{elb, groups, images, instances, launch_templates, scaling, CloudError};
use crate::domain::bake::{ImageState, InstanceState};
use crate::domain::health::FailingSince;
use crate::domain::scaling::COLD_STANDBY_PROCESSES;
use crate::domain::ReleaseName;
use crate::error::{Error, FailedEarly, InstanceReason};
use crate::plan::{Ami, Instance, Step, STANDBY_PROCESSES};

impl Executor<'_> {
    fn failed(&self, e: CloudError) -> Error {
        Error::cloud(self.label.clone(), e)
    }

    pub(super) fn waiter(&self) -> Waiter<'_> {
        Waiter { interval: self.poll, interrupt: self.interrupt, out: self.out, label: &self.label }
    }

    fn instance(&self, i: &Instance, produced: &Produced) -> Result<String, Error> {
        match i {
            Instance::Id(id) => Ok(id.clone()),
            Instance::Launched => produced
                .builder
                .clone()
                .ok_or_else(|| Error::Failed(format!("{}: no builder was launched by this run", self.label))),
        }
    }

    fn ami(&self, a: &Ami, produced: &Produced) -> Result<String, Error> {
        match a {
            Ami::Id(id) => Ok(id.clone()),
            Ami::Created => produced
                .ami
                .clone()
                .ok_or_else(|| Error::Failed(format!("{}: no image was created by this run", self.label))),
        }
    }

    pub(super) async fn apply(&self, step: &Step, produced: &mut Produced) -> Result<(), Error> {
        let c = self.cloud;
        let r = match step {
            Step::CreateElb { elb, port, protocol, instance_port, health_check, subnets, security_groups, tags } => {
                elb::create(c, elb, *port, protocol, *instance_port, health_check, subnets, security_groups, tags).await
            }
            Step::SetHealthCheck { elb, target } => elb::set_health_check(c, elb, target).await,
            Step::CreateLaunchTemplate(t) => {
                // A retried call of this release is idempotent (same token, same template).
                let token = format!("drydock-{}-{}", t.name, t.ami);
                match launch_templates::create(c, t, &t.user_data.text, &token).await {
                    // Ours, whose answer was lost, or one a racing run created: the
                    // template of a release is named after it and carries its AMI, so
                    // one for the same AMI is the same template.
                    Err(e) if e.is("InvalidLaunchTemplateName.AlreadyExistsException") => {
                        match launch_templates::ami(c, &t.name).await.map_err(|e| self.failed(e))? {
                            Some(ami) if ami == t.ami => Ok(()),
                            _ => Err(CloudError::other(
                                "CreateLaunchTemplate",
                                format!(
                                    "{} exists already for another AMI: another operation is creating this release",
                                    t.name
                                ),
                            )),
                        }
                    }
                    r => r,
                }
            }
            Step::DeleteLaunchTemplate { name } => launch_templates::delete(c, name).await,
            Step::CreateGroup(g) => match self.create_group(g).await {
                // A group of this name for the same launch template and AMI is ours (the
                // answer to our create was lost) or a racer's for the same release: both
                // are the release this plan wants. Anything else is a race we lost.
                Err(e) if e.is("AlreadyExists") => match groups::group_ami(c, &g.name).await {
                    Ok(Some(ami)) if g.runs(&ami) => Ok(()),
                    _ => {
                        return Err(Error::Raced(format!(
                            "{}: group {} was created by another operation at the same time",
                            self.label, g.name
                        )))
                    }
                },
                // No clear answer (a 5xx, or the answer was lost): the group may exist, in
                // the ELB beside the live release. Look before failing, as reads may lag.
                Err(e) if !e.refused => self.created_after_all(g, e).await,
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
            Step::DeregisterImage { ami, .. } => images::deregister(c, ami).await,
            Step::TerminateBuilder { instance } => {
                let id = self.instance(instance, produced)?;
                instances::terminate(c, std::slice::from_ref(&id)).await
            }
            Step::LaunchBuilder(spec) => {
                // Per call: the SDK's retries of this call reuse it; another run never does (a
                // terminated builder of an earlier run must not come back for the token).
                let token = format!("drydock-{}-{}", &spec.user_data.sha256[..16], super::lease::operation_id());
                let id = instances::launch(c, spec, &token).await.map_err(|e| self.failed(e))?;
                self.out.progress(&format!("{}: launched builder {id}", self.label));
                produced.builder = Some(id);
                Ok(())
            }
            Step::WaitBuilderStopped { instance, timeout_s, timeout_setting } => {
                let id = self.instance(instance, produced)?;
                return self.wait_builder_stopped(&id, *timeout_s, timeout_setting).await;
            }
            Step::CreateImage { instance, name, description, tags } => {
                let id = self.instance(instance, produced)?;
                let ami = match images::create(c, &id, name, description, tags).await {
                    Ok(a) => a,
                    // No client token for CreateImage: the content-addressed name is the
                    // dedupe key. Ours with a lost answer, or a racing bake's: the same.
                    Err(e) if e.is("InvalidAMIName.Duplicate") || e.transient => {
                        match images::find_by_name(c, name).await.map_err(|e| self.failed(e))? {
                            Some(i) => i.id,
                            None => return Err(self.failed(e)),
                        }
                    }
                    Err(e) => return Err(self.failed(e)),
                };
                self.out.progress(&format!("{}: creating image {ami} ({name})", self.label));
                // Its snapshots were tagged by CreateImage itself: the IAM policy allows EC2
                // tags only at creation.
                produced.ami = Some(ami);
                Ok(())
            }
            Step::WaitImageAvailable { ami, timeout_s } => {
                let id = self.ami(ami, produced)?;
                return self.wait_image(&id, *timeout_s).await;
            }
            Step::ShareImage { ami, account } => images::share(self.source.unwrap_or(c), ami, account).await,
            Step::CopyImage { ami, from_region, name, tags } => match images::find_copy(c, ami).await {
                // A copy made by an earlier run (whose answer may have been lost).
                Ok(Some(found)) => {
                    produced.ami = Some(found.id);
                    Ok(())
                }
                Ok(None) => match images::copy(c, from_region, ami, name, tags).await {
                    Ok(id) => {
                        produced.ami = Some(id);
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
            Step::PutCpuPolicy { group, policy, cpu_percent, warmup_s, scale_in } => {
                scaling::put_cpu_policy(c, group, policy, *cpu_percent, *warmup_s, *scale_in).await
            }
            Step::PutSchedule { group, name, recurrence, time_zone, min, max, desired } => {
                scaling::put_schedule(c, group, name, recurrence, time_zone.as_deref(), *min, *max, *desired).await
            }
            Step::EnableMetrics { group } => scaling::enable_metrics(c, group).await,
            Step::SuspendScaling { group } => groups::suspend(c, group, &COLD_STANDBY_PROCESSES).await,
            Step::ResumeForScaleIn { group } => {
                let keep: Vec<&str> =
                    STANDBY_PROCESSES.iter().copied().filter(|p| !COLD_STANDBY_PROCESSES.contains(p)).collect();
                groups::resume_some(c, group, &keep).await
            }
            // Run by the executor's loop (execute/watch_alarms.rs), as WaitInService is.
            Step::WatchAlarms { .. } => Ok(()),
        };
        r.map_err(|e| self.failed(e))
    }

    /// After CreateAutoScalingGroup failed without a clear answer: a group of this name
    /// for this release is ours (its answers were lost), adopted; a group for another AMI
    /// is a race lost; none after a few reads (reads lag writes) means the create did not
    /// happen, and `cause` is the error.
    async fn created_after_all(&self, g: &crate::plan::GroupSpec, cause: CloudError) -> Result<(), CloudError> {
        for _ in 0..3 {
            match groups::group_ami(self.cloud, &g.name).await {
                Ok(Some(ami)) if g.runs(&ami) => {
                    self.out.progress(&format!(
                        "{}: {} exists although its creation got no answer ({}): adopted",
                        self.label, g.name, cause.message
                    ));
                    return Ok(());
                }
                Ok(Some(_)) => {
                    return Err(CloudError::other(
                        "CreateAutoScalingGroup",
                        format!("group {} was created by another operation at the same time", g.name),
                    ))
                }
                Ok(None) | Err(_) => tokio::time::sleep(self.poll.min(Duration::from_secs(2))).await,
            }
        }
        Err(cause)
    }

    /// CreateAutoScalingGroup, patient with a launch template that Auto Scaling cannot see
    /// yet: right after CreateLaunchTemplate, AWS may answer ValidationError "…launch
    /// template … does not exist" (eventual consistency). Retried for up to a minute.
    async fn create_group(&self, g: &crate::plan::GroupSpec) -> Result<(), CloudError> {
        let until = deadline(Duration::from_secs(60));
        let mut nap = Duration::from_millis(200);
        loop {
            match groups::create_group(self.cloud, g).await {
                Err(e)
                    if e.is("ValidationError")
                        && e.message.contains("launch template")
                        && e.message.contains("does not exist")
                        && std::time::Instant::now() + nap < until =>
                {
                    self.out.progress(&format!(
                        "{}: {} is not visible to Auto Scaling yet; retrying in {} ms",
                        self.label,
                        g.launch_template,
                        nap.as_millis()
                    ));
                    if self.interrupt.sleep(nap, &self.label).await.is_err() {
                        return Err(e);
                    }
                    nap = (nap * 2).min(Duration::from_secs(5));
                }
                r => return r,
            }
        }
    }

    /// Until every instance of `group` (and `count` of them) is InService in `elb`.
    pub(super) async fn wait_in_service(
        &self,
        group: &ReleaseName,
        elb_name: &str,
        count: u32,
        timeout_s: u64,
        fail_after_s: Option<u64>,
    ) -> Result<(), Error> {
        let r = self.wait_loop(group, elb_name, count, timeout_s, fail_after_s).await;
        self.watch.forget(group).await;
        r
    }

    /// Until every instance is InService (`Ok`), the timeout, or (with `fail_after_s`)
    /// until the release is certainly broken: the rule of `domain::health`.
    async fn wait_loop(
        &self,
        group: &ReleaseName,
        elb_name: &str,
        count: u32,
        timeout_s: u64,
        fail_after_s: Option<u64>,
    ) -> Result<(), Error> {
        let began = std::time::Instant::now();
        let until = deadline(Duration::from_secs(timeout_s));
        let mut failing = FailingSince::default();
        let mut last_count = None;
        let mut seen = false;
        let mut last_seen = (Vec::new(), Default::default());
        // The last ELB health read of a registered group, and how often the interval to
        // the next one is computed again.
        let mut last_read: Option<std::time::Instant> = None;
        let tick = self.poll.min(Duration::from_secs(1));
        let what = format!("waiting for {group}");
        let ready = self
            .waiter()
            .until(until, &what, async || {
                let Some((_, ids, booting)) = self.watch.instances(group, self.poll / 2).await? else {
                    // Not listed yet right after CreateAutoScalingGroup is eventual
                    // consistency; gone after it was seen is not.
                    if seen {
                        return Err(CloudError::other(
                            "DescribeAutoScalingGroups",
                            format!("group {group} disappeared while waiting for it"),
                        ));
                    }
                    return Ok(Poll::Pending);
                };
                seen = true;
                // Adaptive polling. While every instance boots, none is registered with the
                // ELB, and none can be InService sooner than HealthyThreshold rounds after
                // it boots: no health read, and the next poll after that many intervals
                // (with the default 10 s, exactly the ELB's 2 × 10 s).
                if !ids.is_empty() && booting == ids.len() {
                    if let Some(a) = fail_after_s {
                        failing.observe(began.elapsed(), &ids, &Default::default(), Duration::from_secs(a));
                    }
                    last_seen = (ids, Default::default());
                    let rounds = crate::domain::health::HEALTHY_THRESHOLD as u32;
                    return Ok(Poll::PendingFor(self.poll.saturating_mul(rounds)));
                }
                // The next health read is due a poll interval after the last one, that
                // interval computed now (`poll_interval`): as other services get healthy
                // and stop reading, the next ones read more often at once, not after a
                // read scheduled when the budget was shared by all.
                let interval = async || {
                    let (rank, waiting) = self.watch.rank(group).await;
                    crate::domain::health::poll_interval(
                        self.poll,
                        rank,
                        waiting,
                        self.cloud.gate.rate(crate::cloud::pace::Api::ElbRead),
                    )
                };
                if let Some(t) = last_read {
                    let due = t + interval().await;
                    let now = std::time::Instant::now();
                    if now < due {
                        return Ok(Poll::PendingFor((due - now).min(tick)));
                    }
                }
                let health = elb::instance_health(self.cloud, elb_name).await?;
                let in_service = ids.iter().filter(|i| health.get(*i).is_some_and(|h| h.in_service)).count();
                if ids.len() as u64 >= u64::from(count) && in_service as u64 >= u64::from(count) {
                    return Ok(Poll::Ready(None));
                }
                if let Some(a) = fail_after_s {
                    if failing.observe(began.elapsed(), &ids, &health, Duration::from_secs(a)) {
                        last_seen = (ids, health);
                        let after_s = began.elapsed().as_secs();
                        return Ok(Poll::Ready(Some(Box::new(FailedEarly {
                            after_s,
                            fail_after_s: a,
                            replaced: failing.replaced(),
                        }))));
                    }
                }
                if last_count != Some(in_service) {
                    self.out.step(&self.label, &format!("{in_service}/{count} instances of {group} InService"));
                    last_count = Some(in_service);
                }
                // Registered, so possibly close to ready: read again within the ELB
                // budget, the groups created first most often (`poll_interval`).
                let registered = ids.iter().any(|i| health.contains_key(i));
                last_seen = (ids, health);
                if !registered {
                    last_read = None;
                    return Ok(Poll::Pending);
                }
                // The next check comes at the tick; the read, when `interval` says it is due.
                last_read = Some(std::time::Instant::now());
                Ok(Poll::PendingFor(tick))
            })
            .await?;
        let early = match ready {
            Some(None) => {
                let all = if count == 1 { "the instance of".to_owned() } else { format!("all {count} instances of") };
                let verb = if count == 1 { "is" } else { "are" };
                self.out.step(&self.label, &format!("{all} {group} {verb} InService"));
                return Ok(());
            }
            Some(early) => early,
            None => None,
        };
        let (ids, health) = last_seen;
        let reasons: Vec<InstanceReason> = ids
            .iter()
            .filter(|i| !health.get(*i).is_some_and(|h| h.in_service))
            .map(|i| match health.get(i) {
                Some(h) => {
                    InstanceReason { instance: i.clone(), state: h.state.clone(), description: h.description.clone() }
                }
                None => {
                    InstanceReason { instance: i.clone(), state: "not registered".into(), description: String::new() }
                }
            })
            .collect();
        let in_service = ids.iter().filter(|i| health.get(*i).is_some_and(|h| h.in_service)).count();
        Err(Error::Unhealthy {
            doing: self.label.clone(),
            elb: elb_name.to_owned(),
            group: group.to_string(),
            expected: count,
            in_service: u32::try_from(in_service).unwrap_or(u32::MAX).min(count),
            timeout_s,
            reasons,
            never_launched: count.saturating_sub(u32::try_from(ids.len()).unwrap_or(u32::MAX)),
            early,
        })
    }

    async fn wait_builder_stopped(&self, id: &str, timeout_s: u64, setting: &str) -> Result<(), Error> {
        let what = format!("waiting for builder {id}");
        let seen = self
            .waiter()
            .until(deadline(Duration::from_secs(timeout_s)), &what, async || {
                Ok(match instances::instance_state(self.cloud, id).await? {
                    Some(s @ (InstanceState::Stopped | InstanceState::ShuttingDown | InstanceState::Terminated)) => {
                        Poll::Ready(Ok(s))
                    }
                    // The bootstrap failed (its ERR trap printed the marker on the console):
                    // the builder will never power off, so fail now rather than at the
                    // timeout. A failed read of the console is not the authority: the
                    // state is.
                    Some(InstanceState::Running) => {
                        let console = instances::console_output(self.cloud, id).await.ok().flatten();
                        match console.and_then(|c| crate::domain::console::bootstrap_failure(&c, 20)) {
                            Some(f) => Poll::Ready(Err(f)),
                            None => Poll::Pending,
                        }
                    }
                    // None: not visible yet right after RunInstances (eventual consistency).
                    _ => Poll::Pending,
                })
            })
            .await?;
        let console = || async {
            instances::console_tail(self.cloud, id, 20)
                .await
                .map(|t| format!("; console output ends:\n{t}"))
                .unwrap_or_default()
        };
        match seen {
            Some(Ok(InstanceState::Stopped)) => {
                self.out.progress(&format!("{}: builder {id} has powered off", self.label));
                Ok(())
            }
            Some(Err(f)) => Err(Error::Failed(format!(
                "{}: the bootstrap failed on builder {id} ({}); no AMI was created; console output ends:\n{}",
                self.label,
                f.line,
                f.context.join("\n")
            ))),
            Some(Ok(_)) => Err(Error::Failed(format!(
                "{}: builder {id} was terminated before it powered off, so the bootstrap did not finish; no AMI was created{}",
                self.label,
                console().await
            ))),
            None => Err(Error::Failed(format!(
                "{}: builder {id} did not power off within {setting}; no AMI was created{}",
                self.label,
                console().await
            ))),
        }
    }

    async fn wait_image(&self, ami: &str, timeout_s: u64) -> Result<(), Error> {
        let what = format!("waiting for image {ami}");
        let seen = self
            .waiter()
            .until(deadline(Duration::from_secs(timeout_s)), &what, async || {
                Ok(match images::describe(self.cloud, ami).await? {
                    Some((ImageState::Pending, _)) => Poll::Pending,
                    Some((s, _)) => Poll::Ready(Some(s)),
                    // Not found right after CreateImage or CopyImage is eventual
                    // consistency, not a failure: a failed image shows as `failed`.
                    None => Poll::Pending,
                })
            })
            .await?;
        match seen {
            Some(Some(ImageState::Available)) => {
                self.out.progress(&format!("{}: image {ami} is available", self.label));
                Ok(())
            }
            Some(_) => Err(Error::Failed(format!(
                "{}: image {ami} failed or disappeared while being created; run the same command again to replace it",
                self.label
            ))),
            None => Err(Error::Failed(format!("{}: image {ami} was not available after {timeout_s}s", self.label))),
        }
    }
}
