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

/// A release's settings read back from its launch template's user data (what
/// `render::runtime_user_data` wrote): to say *which* settings a new release changes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuntimeSettings {
    pub env: BTreeMap<String, String>,
    /// NAME → reference (never a value).
    pub secrets: BTreeMap<String, String>,
}

/// Parses drydock's runtime user data (`runtime-user-data.yaml.hbs`): the `NAME=value`
/// lines of /etc/drydock/runtime.env and /etc/drydock/secrets.ref. None for text that is
/// not drydock's `#cloud-config`.
pub fn parse_runtime_user_data(text: &str) -> Option<RuntimeSettings> {
    if !text.starts_with("#cloud-config") {
        return None;
    }
    let mut out = RuntimeSettings::default();
    let mut file: Option<&str> = None;
    let mut in_content = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(path) = t.strip_prefix("- path: ") {
            file = Some(path.trim());
            in_content = false;
        } else if t.starts_with("content:") {
            in_content = true;
        } else if in_content && line.starts_with("      ") && !t.starts_with('#') && !t.is_empty() {
            let Some((k, v)) = t.split_once('=') else { continue };
            let (k, v) = (k.to_owned(), v.to_owned());
            match file {
                Some("/etc/drydock/runtime.env") => out.env.insert(k, v),
                Some("/etc/drydock/secrets.ref") => out.secrets.insert(k, v),
                _ => None,
            };
        } else if !line.starts_with("      ") {
            in_content = false;
        }
    }
    Some(out)
}

/// Which settings differ between a release that runs `old` and one with `env` and
/// `secrets`, by name only (values may be sensitive to some eyes, and the digest already
/// says that they differ): e.g. "DB_HOST changed, FEATURE_X added, secret DB_PASSWORD
/// changed". drydock's own DRYDOCK_* variables (release, image) are not settings.
pub fn settings_change(
    old: &RuntimeSettings,
    env: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, SecretRef>,
) -> String {
    fn diff<'a>(
        prefix: &str,
        old: impl Iterator<Item = (&'a String, String)>,
        new: impl Iterator<Item = (&'a String, String)>,
        out: &mut Vec<String>,
    ) {
        let old: BTreeMap<&String, String> = old.collect();
        let new: BTreeMap<&String, String> = new.collect();
        for (k, v) in &new {
            match old.get(k) {
                None => out.push(format!("{prefix}{k} added")),
                Some(o) if o != v => out.push(format!("{prefix}{k} changed")),
                Some(_) => {}
            }
        }
        for k in old.keys().filter(|k| !new.contains_key(*k)) {
            out.push(format!("{prefix}{k} removed"));
        }
    }
    let ours = |k: &String| !k.starts_with("DRYDOCK_");
    let mut out = Vec::new();
    diff(
        "",
        old.env.iter().filter(|(k, _)| ours(k)).map(|(k, v)| (k, v.clone())),
        env.iter().filter(|(k, _)| ours(k)).map(|(k, v)| (k, v.clone())),
        &mut out,
    );
    diff(
        "secret ",
        old.secrets.iter().map(|(k, v)| (k, v.clone())),
        secrets.iter().map(|(k, r)| (k, r.to_string())),
        &mut out,
    );
    out.join(", ")
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

    #[test]
    fn the_settings_a_release_runs_with_read_back_from_its_user_data() {
        let env = vec![
            ("DRYDOCK_RELEASE".to_owned(), "v002".to_owned()),
            ("DB_HOST".to_owned(), "db1.internal".to_owned()),
            ("FLAGS".to_owned(), "a=b,c".to_owned()),
        ];
        let secrets = BTreeMap::from([("DB_PASSWORD".to_owned(), SecretRef::parse("ssm:/www/db").unwrap())]);
        let www = crate::domain::ServiceName::parse("www").unwrap();
        let release = crate::domain::ClusterName::new(&www, &crate::domain::EnvName::parse("prod").unwrap()).release(2);
        let text = crate::render::runtime_user_data(&release, &env, &secrets).unwrap();
        let got = parse_runtime_user_data(&text).expect("drydock's");
        assert_eq!(got.env.get("DB_HOST").map(String::as_str), Some("db1.internal"));
        assert_eq!(got.env.get("FLAGS").map(String::as_str), Some("a=b,c"), "split at the first =");
        assert_eq!(got.env.get("DRYDOCK_RELEASE").map(String::as_str), Some("v002"));
        assert_eq!(got.secrets.get("DB_PASSWORD").map(String::as_str), Some("ssm:/www/db"));
        assert_eq!(got.env.len() + got.secrets.len(), 4, "no comment line is a setting: {got:?}");
        assert_eq!(parse_runtime_user_data("#!/bin/sh\necho hi\n"), None);

        // What a new release changes, by name; drydock's own variables are not settings.
        let new_env = BTreeMap::from([
            ("DB_HOST".to_owned(), "db2.internal".to_owned()),
            ("FEATURE_X".to_owned(), "on".to_owned()),
        ]);
        let new_secrets = BTreeMap::from([("API_KEY".to_owned(), SecretRef::parse("ssm:/www/api").unwrap())]);
        assert_eq!(
            settings_change(&got, &new_env, &new_secrets),
            "DB_HOST changed, FEATURE_X added, FLAGS removed, secret API_KEY added, secret DB_PASSWORD removed"
        );
        let same_env: BTreeMap<String, String> =
            got.env.iter().filter(|(k, _)| !k.starts_with("DRYDOCK_")).map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(settings_change(&got, &same_env, &secrets), "");
    }
}
