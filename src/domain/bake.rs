//! Bake, as data: the recipe hash that names an AMI by its content, and the plan that
//! turns what exists (an AMI of that name, builders of that recipe) into what to do.
//! Pure: the cloud layer observes, `commands::bake` executes.

use sha2::{Digest as _, Sha256};

/// Everything that goes into the image: if any of it changes, the AMI name changes.
pub struct RecipeInputs<'a> {
    pub format: u32,
    pub base_ami: &'a str,
    pub image: &'a str,
    pub job: &'a str,
    pub bootstrap: &'a str,
    pub volume_size_gib: u32,
    /// The KMS key of the AMI's snapshots ("" for the default key).
    pub kms_key: &'a str,
}

/// sha256 over the inputs, length-prefixed so that no two input sets collide by
/// shifting bytes between fields. Hex, 64 characters.
pub fn recipe_hash(i: &RecipeInputs<'_>) -> String {
    let mut h = Sha256::new();
    let format = i.format.to_string();
    let volume = i.volume_size_gib.to_string();
    for (name, value) in [
        ("format", format.as_str()),
        ("base-ami", i.base_ami),
        ("image", i.image),
        ("job", i.job),
        ("bootstrap", i.bootstrap),
        ("volume-gib", volume.as_str()),
        ("kms-key", i.kms_key),
    ] {
        h.update(name.as_bytes());
        h.update((value.len() as u64).to_be_bytes());
        h.update(value.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageState {
    Pending,
    Available,
    /// failed, invalid, error, deregistered…: not usable, to be replaced.
    Unusable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedImage {
    pub id: String,
    pub state: ImageState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedBuilder {
    pub id: String,
    pub state: InstanceState,
    /// Launch time, seconds since the epoch (for picking the newest when several exist).
    pub launched: i64,
}

/// What exists for one recipe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BakeSnapshot {
    pub image: Option<ObservedImage>,
    pub builders: Vec<ObservedBuilder>,
}

/// Where the builder comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Builder {
    Launch,
    /// A builder of this recipe left by an earlier run that was killed: waited for, not
    /// launched again (crash-only).
    Resume(String),
    /// Already stopped: its image can be created right away.
    Stopped(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BakePlan {
    /// The AMI exists and is available: nothing is launched.
    Reuse { ami: String, terminate: Vec<String> },
    /// The AMI is being created (an earlier run was killed after CreateImage).
    WaitForImage { ami: String, terminate: Vec<String> },
    Bake {
        /// A failed AMI of the same name, removed first so that the name is free.
        deregister: Option<String>,
        builder: Builder,
        /// Other live builders of this recipe (leftovers): terminated.
        terminate: Vec<String>,
    },
}

fn alive(b: &ObservedBuilder) -> bool {
    !matches!(b.state, InstanceState::ShuttingDown | InstanceState::Terminated)
}

pub fn plan(s: &BakeSnapshot) -> BakePlan {
    let live: Vec<&ObservedBuilder> = s.builders.iter().filter(|b| alive(b)).collect();
    let all_live = || live.iter().map(|b| b.id.clone()).collect::<Vec<_>>();
    match &s.image {
        Some(ObservedImage { id, state: ImageState::Available }) => {
            BakePlan::Reuse { ami: id.clone(), terminate: all_live() }
        }
        Some(ObservedImage { id, state: ImageState::Pending }) => {
            BakePlan::WaitForImage { ami: id.clone(), terminate: all_live() }
        }
        other => {
            let deregister = other.as_ref().map(|i| i.id.clone());
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
            let terminate = live.iter().filter(|b| Some(b.id.as_str()) != keep).map(|b| b.id.clone()).collect();
            BakePlan::Bake { deregister, builder, terminate }
        }
    }
}

impl BakePlan {
    /// The plan as the steps a run executes, one line each (for `-v` and dry runs).
    pub fn steps(&self) -> Vec<BakeStep> {
        let mut out = Vec::new();
        let terminate = |t: &[String], out: &mut Vec<BakeStep>| {
            for id in t {
                out.push(BakeStep::TerminateLeftover { instance: id.clone() });
            }
        };
        match self {
            BakePlan::Reuse { ami, terminate: t } => {
                out.push(BakeStep::Reuse { ami: ami.clone() });
                terminate(t, &mut out);
            }
            BakePlan::WaitForImage { ami, terminate: t } => {
                terminate(t, &mut out);
                out.push(BakeStep::WaitImage { ami: Some(ami.clone()) });
            }
            BakePlan::Bake { deregister, builder, terminate: t } => {
                terminate(t, &mut out);
                if let Some(a) = deregister {
                    out.push(BakeStep::DeregisterFailed { ami: a.clone() });
                }
                match builder {
                    Builder::Launch => {
                        out.push(BakeStep::Launch);
                        out.push(BakeStep::WaitStopped { instance: None });
                    }
                    Builder::Resume(id) => out.push(BakeStep::WaitStopped { instance: Some(id.clone()) }),
                    Builder::Stopped(_) => {}
                }
                out.push(BakeStep::CreateImage);
                out.push(BakeStep::WaitImage { ami: None });
                out.push(BakeStep::TerminateBuilder);
            }
        }
        out
    }
}

/// One step of a bake plan: a line of text (Display) and data (Serialize) for dry runs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum BakeStep {
    Reuse { ami: String },
    TerminateLeftover { instance: String },
    DeregisterFailed { ami: String },
    Launch,
    WaitStopped { instance: Option<String> },
    CreateImage,
    WaitImage { ami: Option<String> },
    TerminateBuilder,
}

impl std::fmt::Display for BakeStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BakeStep::Reuse { ami } => write!(f, "reuse {ami}"),
            BakeStep::TerminateLeftover { instance } => write!(f, "terminate leftover builder {instance}"),
            BakeStep::DeregisterFailed { ami } => write!(f, "deregister failed image {ami}"),
            BakeStep::Launch => f.write_str("launch builder"),
            BakeStep::WaitStopped { instance: None } => f.write_str("wait until the builder has stopped"),
            BakeStep::WaitStopped { instance: Some(i) } => write!(f, "wait until builder {i} has stopped"),
            BakeStep::CreateImage => f.write_str("create image from the builder; tag it and its snapshots"),
            BakeStep::WaitImage { ami: Some(a) } => write!(f, "wait until {a} is available"),
            BakeStep::WaitImage { ami: None } => f.write_str("wait until the image is available"),
            BakeStep::TerminateBuilder => f.write_str("terminate the builder"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(base: &'a str, job: &'a str) -> RecipeInputs<'a> {
        RecipeInputs {
            format: 1,
            base_ami: base,
            image: "r/x:1",
            job,
            bootstrap: "#!/bin/bash",
            volume_size_gib: 8,
            kms_key: "",
        }
    }

    #[test]
    fn hash_changes_with_every_input() {
        let a = recipe_hash(&inputs("ami-1", "job"));
        assert_eq!(a.len(), 64);
        assert_eq!(a, recipe_hash(&inputs("ami-1", "job")), "deterministic");
        assert_ne!(a, recipe_hash(&inputs("ami-2", "job")));
        assert_ne!(a, recipe_hash(&inputs("ami-1", "job2")));
        assert_ne!(a, recipe_hash(&RecipeInputs { volume_size_gib: 9, ..inputs("ami-1", "job") }));
        assert_ne!(a, recipe_hash(&RecipeInputs { kms_key: "alias/drydock", ..inputs("ami-1", "job") }));
        assert_ne!(a, recipe_hash(&RecipeInputs { format: 2, ..inputs("ami-1", "job") }));
        // Shifting bytes between fields gives another hash.
        assert_ne!(recipe_hash(&inputs("ami-1j", "ob")), a);
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
        let cases: Vec<(&str, BakeSnapshot, BakePlan)> = vec![
            (
                "nothing exists",
                BakeSnapshot::default(),
                BakePlan::Bake { deregister: None, builder: Builder::Launch, terminate: vec![] },
            ),
            (
                "available image is reused, leftovers terminated",
                BakeSnapshot {
                    image: img("ami-1", ImageState::Available),
                    builders: vec![b("i-1", Stopped, 1), b("i-2", Terminated, 2)],
                },
                BakePlan::Reuse { ami: "ami-1".into(), terminate: vec!["i-1".into()] },
            ),
            (
                "pending image is waited for",
                BakeSnapshot { image: img("ami-1", ImageState::Pending), builders: vec![] },
                BakePlan::WaitForImage { ami: "ami-1".into(), terminate: vec![] },
            ),
            (
                "failed image is replaced",
                BakeSnapshot { image: img("ami-1", ImageState::Unusable), builders: vec![] },
                BakePlan::Bake { deregister: Some("ami-1".into()), builder: Builder::Launch, terminate: vec![] },
            ),
            (
                "a running builder of a killed run is resumed, not relaunched",
                BakeSnapshot { image: None, builders: vec![b("i-1", Running, 5)] },
                BakePlan::Bake { deregister: None, builder: Builder::Resume("i-1".into()), terminate: vec![] },
            ),
            (
                "a stopped builder is imaged at once; others terminated",
                BakeSnapshot {
                    image: None,
                    builders: vec![b("i-1", Running, 9), b("i-2", Stopped, 1), b("i-3", ShuttingDown, 3)],
                },
                BakePlan::Bake {
                    deregister: None,
                    builder: Builder::Stopped("i-2".into()),
                    terminate: vec!["i-1".into()],
                },
            ),
            (
                "terminated builders are history, a new one is launched",
                BakeSnapshot { image: None, builders: vec![b("i-1", Terminated, 1)] },
                BakePlan::Bake { deregister: None, builder: Builder::Launch, terminate: vec![] },
            ),
            (
                "of two running builders the newest is kept",
                BakeSnapshot { image: None, builders: vec![b("i-old", Pending, 1), b("i-new", Running, 2)] },
                BakePlan::Bake {
                    deregister: None,
                    builder: Builder::Resume("i-new".into()),
                    terminate: vec!["i-old".into()],
                },
            ),
        ];
        for (name, snap, want) in cases {
            assert_eq!(plan(&snap), want, "{name}");
        }
    }

    #[test]
    fn steps_read_in_order() {
        let p = BakePlan::Bake { deregister: None, builder: Builder::Launch, terminate: vec![] };
        let s = p.steps();
        assert_eq!(s.first().map(|x| x.to_string()).as_deref(), Some("launch builder"));
        assert_eq!(s.last().map(|x| x.to_string()).as_deref(), Some("terminate the builder"));
    }
}
