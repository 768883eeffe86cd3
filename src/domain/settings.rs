//! A release's runtime settings, as one digest: the same AMI with other settings is
//! another release.

use std::collections::BTreeMap;

use super::scaling::Scaling;
use super::secret::SecretRef;

/// The digest (12 hex) of a service's runtime settings in an environment: its env and its
/// secret *references* (never a value). Kept as the group's `drydock:settings` tag, so that
/// a change of settings alone is a new release, and `unchanged` means the same AMI and the
/// same settings. A group without the tag ran with no settings.
///
/// The scaling declaration (`domain::scaling`) is part of the same identity: its canonical
/// lines are hashed after the settings, so that a change of only policies, schedules or
/// hooks is a new release too. Nothing declared adds nothing: the digest of a service
/// without scaling is the one it had before scaling existed.
pub fn settings_digest(
    env: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, SecretRef>,
    scaling: &Scaling,
) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    for (k, v) in env {
        h.update(format!("env {k}={v}\n").as_bytes());
    }
    for (k, r) in secrets {
        h.update(format!("secret {k}={r}\n").as_bytes());
    }
    for line in scaling.canonical() {
        h.update(format!("{line}\n").as_bytes());
    }
    h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_changes_with_every_setting_and_reference() {
        let none = settings_digest(&BTreeMap::new(), &BTreeMap::new(), &Scaling::default());
        assert_eq!(none.len(), 12);
        let env = BTreeMap::from([("DB_HOST".to_owned(), "db1".to_owned())]);
        let a = settings_digest(&env, &BTreeMap::new(), &Scaling::default());
        assert_ne!(a, none);
        let env2 = BTreeMap::from([("DB_HOST".to_owned(), "db2".to_owned())]);
        assert_ne!(settings_digest(&env2, &BTreeMap::new(), &Scaling::default()), a);
        let s = BTreeMap::from([("DB_PASSWORD".to_owned(), SecretRef::parse("ssm:/www/db").unwrap())]);
        assert_ne!(settings_digest(&env, &s, &Scaling::default()), a);
        // A setting and a secret of the same text are different settings.
        let e3 = BTreeMap::from([("DB_PASSWORD".to_owned(), "ssm:/www/db".to_owned())]);
        assert_ne!(
            settings_digest(&e3, &BTreeMap::new(), &Scaling::default()),
            settings_digest(&BTreeMap::new(), &s, &Scaling::default())
        );
    }

    #[test]
    fn scaling_is_part_of_the_digest_and_nothing_declared_changes_nothing() {
        use crate::domain::scaling::CpuTarget;
        let env = BTreeMap::from([("DB_HOST".to_owned(), "db1".to_owned())]);
        let plain = settings_digest(&env, &BTreeMap::new(), &Scaling::default());
        // The digest a release made before scaling existed: env lines only.
        use sha2::{Digest as _, Sha256};
        let old: String = Sha256::digest(b"env DB_HOST=db1\n").iter().take(6).map(|b| format!("{b:02x}")).collect();
        assert_eq!(plain, old);
        let cpu =
            |p| Scaling { cpu: Some(CpuTarget { percent: p, warmup: None, scale_in: true }), ..Default::default() };
        let a = settings_digest(&env, &BTreeMap::new(), &cpu(50));
        assert_ne!(a, plain);
        assert_ne!(settings_digest(&env, &BTreeMap::new(), &cpu(60)), a);
        assert_eq!(settings_digest(&env, &BTreeMap::new(), &cpu(50)), a);
    }
}
