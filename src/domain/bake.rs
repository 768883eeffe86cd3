//! Bake, as data: the recipe hash that names an AMI by its content, and what the cloud
//! layer observes of images and builders. The planner is `plan::bake`.

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

/// An AMI that drydock baked (or copied), as gc sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedAmi {
    pub id: String,
    pub name: String,
    pub service: String,
    /// Seconds since the epoch.
    pub created: i64,
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
}
