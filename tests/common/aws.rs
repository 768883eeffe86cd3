//! What the tests observe (and set up) in the emulator through the SDK: groups and their
//! tags and instances, ELB health, launch templates, images. Methods of [`Sdk`], so that
//! a test with two accounts asks each its own (`fx.prod.must_group(…)`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleState};
use aws_sdk_ec2::types::{Filter, Image};
use aws_sdk_elasticloadbalancing::types::Listener;

use super::fixtures::eventually;
use super::moto::{Moto, Sdk};
use super::RUN_TIMEOUT;

/// An EC2 filter of one value.
pub fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// An action that changes nothing (`Describe…`, `Get…`, `List…`).
pub fn is_read_only(action: &str) -> bool {
    action.starts_with("Describe") || action.starts_with("Get") || action.starts_with("List")
}

/// A tag of a group.
pub fn tag(g: &AutoScalingGroup, k: &str) -> Option<String> {
    g.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_owned)
}

/// A tag of an image.
pub fn image_tag(i: &Image, k: &str) -> Option<String> {
    i.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_owned)
}

/// The group's instances, in the group's order.
pub fn instance_ids(g: &AutoScalingGroup) -> Vec<String> {
    g.instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect()
}

/// The group's instances that are not on their way out.
pub fn live_instances(g: &AutoScalingGroup) -> BTreeSet<String> {
    g.instances()
        .iter()
        .filter(|i| {
            !matches!(
                i.lifecycle_state(),
                Some(
                    LifecycleState::Terminating
                        | LifecycleState::TerminatingWait
                        | LifecycleState::TerminatingProceed
                        | LifecycleState::Terminated
                )
            )
        })
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect()
}

impl Sdk {
    /// Every Auto Scaling group, all pages.
    pub fn groups(&self) -> Vec<AutoScalingGroup> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .block(self.asg.describe_auto_scaling_groups().set_next_token(token.clone()).send())
                .expect("describe groups");
            out.extend(page.auto_scaling_groups().iter().cloned());
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return out;
            }
        }
    }

    pub fn group(&self, name: &str) -> Option<AutoScalingGroup> {
        self.groups().into_iter().find(|g| g.auto_scaling_group_name() == Some(name))
    }

    pub fn must_group(&self, name: &str) -> AutoScalingGroup {
        self.group(name).unwrap_or_else(|| panic!("group {name} does not exist: {:?}", self.group_names()))
    }

    pub fn group_names(&self) -> Vec<String> {
        self.groups().iter().filter_map(|g| g.auto_scaling_group_name().map(str::to_owned)).collect()
    }

    /// ELB health: instance id → (state, description).
    pub fn health(&self, elb: &str) -> BTreeMap<String, (String, String)> {
        let out = self
            .block(self.elb.describe_instance_health().load_balancer_name(elb).send())
            .expect("describe instance health");
        out.instance_states()
            .iter()
            .map(|s| {
                (
                    s.instance_id().unwrap_or_default().to_owned(),
                    (s.state().unwrap_or_default().to_owned(), s.description().unwrap_or_default().to_owned()),
                )
            })
            .collect()
    }

    /// The instances InService in `elb` that serve: a classic ELB reports an instance it
    /// drains as InService with "Instance deregistration currently in progress.", which is
    /// not capacity (so the never-less-capacity samplers do not count it either).
    pub fn in_service(&self, elb: &str) -> BTreeSet<String> {
        self.health(elb)
            .into_iter()
            .filter(|(_, (s, d))| s == "InService" && d != "Instance deregistration currently in progress.")
            .map(|(i, _)| i)
            .collect()
    }

    /// How many of the group's instances are InService in `elb`.
    pub fn group_in_service(&self, g: &AutoScalingGroup, elb: &str) -> usize {
        let healthy = self.in_service(elb);
        instance_ids(g).iter().filter(|i| healthy.contains(*i)).count()
    }

    /// The instances registered with `elb`.
    pub fn registered(&self, elb: &str) -> Vec<String> {
        let out = self
            .block(self.elb.describe_load_balancers().load_balancer_names(elb).send())
            .expect("describe load balancers");
        out.load_balancer_descriptions()[0]
            .instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect()
    }

    pub fn elb_exists(&self, name: &str) -> bool {
        match self.block(self.elb.describe_load_balancers().load_balancer_names(name).send()) {
            Ok(out) => !out.load_balancer_descriptions().is_empty(),
            Err(e) => {
                let code = aws_sdk_elasticloadbalancing::error::ProvideErrorMetadata::code(&e).unwrap_or_default();
                assert_eq!(code, "LoadBalancerNotFound", "describe {name}: {e:?}");
                false
            }
        }
    }

    pub fn launch_template_names(&self) -> BTreeSet<String> {
        self.block(self.ec2.describe_launch_templates().send())
            .expect("describe launch templates")
            .launch_templates()
            .iter()
            .filter_map(|t| t.launch_template_name().map(str::to_owned))
            .collect()
    }

    /// The cluster leases held now: drydock's lock security groups (`drydock-lock-<cluster>`).
    pub fn lock_names(&self) -> BTreeSet<String> {
        self.block(self.ec2.describe_security_groups().send())
            .expect("describe security groups")
            .security_groups()
            .iter()
            .filter_map(|g| g.group_name().filter(|n| n.starts_with("drydock-lock-")).map(str::to_owned))
            .collect()
    }

    /// A cluster's lock: its security group id and tags, if it is held.
    pub fn lock(&self, cluster: &str) -> Option<(String, BTreeMap<String, String>)> {
        let name = format!("drydock-lock-{cluster}");
        let f = Filter::builder().name("group-name").values(&name).build();
        let out = self.block(self.ec2.describe_security_groups().filters(f).send()).expect("describe the lock");
        out.security_groups().first().map(|g| {
            let tags = g
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
                .collect();
            (g.group_id().unwrap_or_default().to_owned(), tags)
        })
    }

    /// Plants a lock on `cluster` as another drydock process would hold it (in the
    /// default VPC, the example environments' network).
    pub fn create_lock(&self, cluster: &str, env: &str, holder: &str, heartbeat: i64) {
        use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let vpcs = self
            .block(self.ec2.describe_vpcs().filters(Filter::builder().name("isDefault").values("true").build()).send())
            .expect("the default VPC");
        let vpc = vpcs.vpcs().first().and_then(|v| v.vpc_id()).expect("a default VPC").to_owned();
        self.block(
            self.ec2
                .create_security_group()
                .group_name(format!("drydock-lock-{cluster}"))
                .description("another holder")
                .vpc_id(vpc)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::SecurityGroup)
                        .tags(tag("drydock:lock", cluster))
                        .tags(tag("drydock:env", env))
                        .tags(tag("drydock:holder", holder))
                        .tags(tag("drydock:operation", "deploy"))
                        .tags(tag("drydock:heartbeat", &heartbeat.to_string()))
                        .build(),
                )
                .send(),
        )
        .expect("create the lock");
    }

    /// Deletes a cluster's lock, as a take-over by another process does.
    pub fn delete_lock(&self, cluster: &str) {
        let (id, _) = self.lock(cluster).expect("the lock exists");
        self.block(self.ec2.delete_security_group().group_id(id).send()).expect("delete the lock");
    }

    /// The images this account owns.
    pub fn our_images(&self) -> Vec<Image> {
        self.block(self.ec2.describe_images().owners("self").send()).expect("images").images().to_vec()
    }

    /// The subnets of the default VPC.
    pub fn default_subnets(&self) -> Vec<String> {
        let subnets: Vec<String> = self
            .block(self.ec2.describe_subnets().filters(filter("default-for-az", "true")).send())
            .expect("describe the default subnets")
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_owned))
            .collect();
        assert!(!subnets.is_empty(), "the emulator has default subnets");
        subnets
    }

    /// Classic ELBs in the default subnets, listening for HTTP on `port` and forwarding
    /// to 8080 (what drydock would create before a first deploy).
    pub fn create_elbs(&self, names: &[&str], port: u16) {
        let subnets = self.default_subnets();
        for elb in names {
            let listener = Listener::builder()
                .protocol("HTTP")
                .load_balancer_port(i32::from(port))
                .instance_protocol("HTTP")
                .instance_port(8080)
                .build()
                .expect("listener");
            self.block(
                self.elb
                    .create_load_balancer()
                    .load_balancer_name(*elb)
                    .listeners(listener)
                    .set_subnets(Some(subnets.clone()))
                    .send(),
            )
            .unwrap_or_else(|e| panic!("create ELB {elb}: {e:?}"));
        }
    }
}

/// "Never less capacity", watched from outside: the InService count of one ELB, sampled
/// every ~20 ms with clients of its own until `finish` (or drop).
pub struct Sampler {
    stop: Arc<AtomicBool>,
    pub samples: Arc<Mutex<Vec<(Instant, usize)>>>,
    handle: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `elb`; returns once the first sample is in.
    pub fn start(moto: &Moto, elb: &str) -> Self {
        let sdk = moto.sdk();
        let period = Duration::from_millis(20);
        let elb = elb.to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (flag, out) = (Arc::clone(&stop), Arc::clone(&samples));
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let t = Instant::now();
                let n = sdk.in_service(&elb).len();
                out.lock().expect("samples").push((t, n));
                std::thread::sleep(period.saturating_sub(t.elapsed()));
            }
        });
        let s = Sampler { stop, samples, handle: Some(handle) };
        eventually("the sampler's first sample", RUN_TIMEOUT, || {
            (!s.samples.lock().expect("samples").is_empty()).then_some(())
        });
        s
    }

    /// How many samples were taken after `t`.
    pub fn count_after(&self, t: Instant) -> usize {
        self.samples.lock().expect("samples").iter().filter(|(at, _)| *at > t).count()
    }

    /// Stops sampling; every sample, oldest first.
    pub fn finish(mut self) -> Vec<(Instant, usize)> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("the sampler thread");
        }
        let v = self.samples.lock().expect("samples").clone();
        v
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// CloudWatch alarms (progressive delivery, tests/it/canary.rs).
impl Sdk {
    /// An alarm on the classic ELB's backend 5xx count, as the example tree's prod uses.
    pub fn put_5xx_alarm(&self, name: &str, elb: &str) {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
        self.block(
            self.cw
                .put_metric_alarm()
                .alarm_name(name)
                .namespace("AWS/ELB")
                .metric_name("HTTPCode_Backend_5XX")
                .dimensions(Dimension::builder().name("LoadBalancerName").value(elb).build())
                .statistic(Statistic::Sum)
                .period(60)
                .evaluation_periods(1)
                .threshold(10.0)
                .comparison_operator(ComparisonOperator::GreaterThanThreshold)
                .send(),
        )
        .expect("put metric alarm");
    }

    /// Sets an alarm's state, as CloudWatch would when its metric crosses the threshold.
    pub fn set_alarm(&self, name: &str, state: &str, reason: &str) {
        use aws_sdk_cloudwatch::types::StateValue;
        self.block(
            self.cw.set_alarm_state().alarm_name(name).state_value(StateValue::from(state)).state_reason(reason).send(),
        )
        .expect("set alarm state");
    }
}
