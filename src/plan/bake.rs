//! The bake planner: what exists for a recipe (an AMI of its content-addressed name,
//! builders tagged with its hash) becomes a plan. An available AMI is reused; a pending
//! one is waited for; a builder left by a killed run is adopted, not launched again; the
//! builder is terminated on every path (`finally`).

use super::{Ami, BuilderSpec, Instance, Outcome, Plan, PlanError, Step};
use crate::domain::bake::{BakeSnapshot, ImageState, InstanceState, ObservedBuilder, ObservedImage};

/// Everything about the bake that does not depend on what exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BakeRequest {
    pub service: String,
    pub ami_name: String,
    pub image: String,
    /// The builder to launch if none can be adopted; None when the observation showed that
    /// none will be (the AMI exists), so that a reuse costs no network lookups.
    pub builder: Option<BuilderSpec>,
    /// Tags of the new image and its snapshots.
    pub image_tags: Vec<(String, String)>,
    pub description: String,
    pub timeout_s: u64,
    /// Where the timeout is set (`bake.timeout 20m (environments/staging.toml)`).
    pub timeout_setting: String,
    /// How long CreateImage may take.
    pub image_timeout_s: u64,
}

/// Where the builder comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Builder {
    Launch,
    /// A builder of this recipe left by an earlier run that was killed: waited for, not
    /// launched again (crash-only).
    Resume(String),
    /// Already stopped: its image can be created right away.
    Stopped(String),
}

fn alive(b: &ObservedBuilder) -> bool {
    !matches!(b.state, InstanceState::ShuttingDown | InstanceState::Terminated)
}

/// Whether a bake of this observation may launch a builder (and so needs its subnet).
pub fn may_launch(s: &BakeSnapshot) -> bool {
    !matches!(&s.image, Some(ObservedImage { state: ImageState::Available | ImageState::Pending, .. }))
}

pub fn plan_bake(req: &BakeRequest, s: &BakeSnapshot) -> Result<Plan, PlanError> {
    let live: Vec<&ObservedBuilder> = s.builders.iter().filter(|b| alive(b)).collect();
    let terminate = |ids: &mut dyn Iterator<Item = &String>| -> Vec<Step> {
        ids.map(|id| Step::TerminateBuilder { instance: Instance::Id(id.clone()) }).collect()
    };
    let plan = |outcome, ami: Option<String>, steps, finally, message| Plan {
        service: req.service.clone(),
        cluster: None,
        outcome,
        release: None,
        previous: None,
        ami,
        steps,
        compensation: vec![],
        finally,
        message,
    };
    match &s.image {
        Some(ObservedImage { id, state: ImageState::Available }) => {
            let steps = terminate(&mut live.iter().map(|b| &b.id));
            let message = format!("reused {id} ({}): the same recipe was baked before", req.ami_name);
            Ok(plan(Outcome::Reused, Some(id.clone()), steps, vec![], message))
        }
        Some(ObservedImage { id, state: ImageState::Pending }) => {
            let mut steps = terminate(&mut live.iter().map(|b| &b.id));
            steps.push(Step::WaitImageAvailable { ami: Ami::Id(id.clone()), timeout_s: req.image_timeout_s });
            let message = format!("reused {id} ({}): an earlier run created it", req.ami_name);
            Ok(plan(Outcome::Reused, Some(id.clone()), steps, vec![], message))
        }
        other => {
            // Prefer a stopped builder (its image can be taken now), else the newest one.
            let pick = live
                .iter()
                .filter(|b| b.state == InstanceState::Stopped)
                .max_by_key(|b| b.launched)
                .or_else(|| live.iter().max_by_key(|b| b.launched));
            let builder = match pick {
                None => Builder::Launch,
                Some(b) if b.state == InstanceState::Stopped => Builder::Stopped(b.id.clone()),
                Some(b) => Builder::Resume(b.id.clone()),
            };
            let keep = pick.map(|b| b.id.as_str());
            let mut steps = terminate(&mut live.iter().filter(|b| Some(b.id.as_str()) != keep).map(|b| &b.id));
            // A failed AMI of the same name is removed first so that the name is free.
            if let Some(i) = other {
                steps.push(Step::DeregisterImage { ami: i.id.clone(), name: req.ami_name.clone() });
            }
            let instance = match builder {
                Builder::Launch => {
                    let spec = req.builder.clone().ok_or_else(|| PlanError::Unknown("the builder's network".into()))?;
                    steps.push(Step::LaunchBuilder(spec));
                    steps.push(Step::WaitBuilderStopped {
                        instance: Instance::Launched,
                        timeout_s: req.timeout_s,
                        timeout_setting: req.timeout_setting.clone(),
                    });
                    Instance::Launched
                }
                Builder::Resume(id) => {
                    let i = Instance::Id(id);
                    steps.push(Step::WaitBuilderStopped {
                        instance: i.clone(),
                        timeout_s: req.timeout_s,
                        timeout_setting: req.timeout_setting.clone(),
                    });
                    i
                }
                Builder::Stopped(id) => Instance::Id(id),
            };
            steps.push(Step::CreateImage {
                instance: instance.clone(),
                name: req.ami_name.clone(),
                description: req.description.clone(),
                tags: req.image_tags.clone(),
            });
            steps.push(Step::WaitImageAvailable { ami: Ami::Created, timeout_s: req.image_timeout_s });
            let message = format!("{} of {}", req.ami_name, req.image);
            Ok(plan(Outcome::Baked, None, steps, vec![Step::TerminateBuilder { instance }], message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::UserData;

    fn req() -> BakeRequest {
        BakeRequest {
            service: "www".into(),
            ami_name: "drydock/www/1/abc".into(),
            image: "r/www:1".into(),
            builder: Some(BuilderSpec {
                base_ami: "ami-base".into(),
                base_name: "base".into(),
                root_device: "/dev/sda1".into(),
                instance_type: "t3.small".into(),
                subnet: "subnet-1".into(),
                security_groups: vec![],
                instance_profile: None,
                volume_size_gib: 8,
                kms_key_id: None,
                imds_v1_allowed: false,
                user_data: UserData::new("#!/bin/bash".into()),
                tags: vec![],
            }),
            image_tags: vec![],
            description: "d".into(),
            timeout_s: 1200,
            timeout_setting: "bake.timeout 20m".into(),
            image_timeout_s: 3600,
        }
    }

    /// The plan as one line per step, `finally` after a `|`.
    fn lines(p: &Plan) -> String {
        let mut v: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        v.extend(p.finally.iter().map(|s| format!("| {s}")));
        v.join("\n")
    }

    fn b(id: &str, state: InstanceState, launched: i64) -> ObservedBuilder {
        ObservedBuilder { id: id.into(), state, launched }
    }
    fn img(id: &str, state: ImageState) -> Option<ObservedImage> {
        Some(ObservedImage { id: id.into(), state })
    }

    #[test]
    fn plans() {
        use InstanceState::*;
        let sha = &UserData::new("#!/bin/bash".into()).sha256[..12];
        let launch = format!(
            "launch a t3.small builder from ami-base (base) in subnet-1 with the bootstrap (user data sha256 {sha})"
        );
        let create = |who: &str| format!("create image drydock/www/1/abc from {who}; tag it and its snapshots");
        let bake_new = [
            launch.clone(),
            "wait until the builder has powered off (timeout 1200s)".into(),
            create("the builder"),
            "wait until the new image is available (timeout 3600s)".into(),
            "| terminate the builder".into(),
        ]
        .join("\n");
        let cases: Vec<(&str, BakeSnapshot, Outcome, String)> = vec![
            ("nothing exists", BakeSnapshot::default(), Outcome::Baked, bake_new.clone()),
            (
                "available image is reused, leftovers terminated",
                BakeSnapshot {
                    image: img("ami-1", ImageState::Available),
                    builders: vec![b("i-1", Stopped, 1), b("i-2", Terminated, 2)],
                },
                Outcome::Reused,
                "terminate builder i-1".into(),
            ),
            (
                "pending image is waited for",
                BakeSnapshot { image: img("ami-1", ImageState::Pending), builders: vec![] },
                Outcome::Reused,
                "wait until ami-1 is available (timeout 3600s)".into(),
            ),
            (
                "failed image is replaced",
                BakeSnapshot { image: img("ami-1", ImageState::Unusable), builders: vec![] },
                Outcome::Baked,
                format!("deregister ami-1 (drydock/www/1/abc) and delete its snapshots\n{bake_new}"),
            ),
            (
                "a running builder of a killed run is resumed, not relaunched",
                BakeSnapshot { image: None, builders: vec![b("i-1", Running, 5)] },
                Outcome::Baked,
                [
                    "wait until builder i-1 has powered off (timeout 1200s)".to_owned(),
                    create("builder i-1"),
                    "wait until the new image is available (timeout 3600s)".into(),
                    "| terminate builder i-1".into(),
                ]
                .join("\n"),
            ),
            (
                "a stopped builder is imaged at once; others terminated",
                BakeSnapshot {
                    image: None,
                    builders: vec![b("i-1", Running, 9), b("i-2", Stopped, 1), b("i-3", ShuttingDown, 3)],
                },
                Outcome::Baked,
                [
                    "terminate builder i-1".to_owned(),
                    create("builder i-2"),
                    "wait until the new image is available (timeout 3600s)".into(),
                    "| terminate builder i-2".into(),
                ]
                .join("\n"),
            ),
            (
                "terminated builders are history, a new one is launched",
                BakeSnapshot { image: None, builders: vec![b("i-1", Terminated, 1)] },
                Outcome::Baked,
                bake_new.clone(),
            ),
            (
                "of two running builders the newest is kept",
                BakeSnapshot { image: None, builders: vec![b("i-old", Pending, 1), b("i-new", Running, 2)] },
                Outcome::Baked,
                [
                    "terminate builder i-old".to_owned(),
                    "wait until builder i-new has powered off (timeout 1200s)".into(),
                    create("builder i-new"),
                    "wait until the new image is available (timeout 3600s)".into(),
                    "| terminate builder i-new".into(),
                ]
                .join("\n"),
            ),
        ];
        for (name, snap, outcome, want) in cases {
            let p = plan_bake(&req(), &snap).unwrap();
            assert_eq!(p.outcome, outcome, "{name}");
            assert_eq!(lines(&p), want, "{name}");
        }
    }
}
