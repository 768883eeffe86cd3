//! Runtime settings and secrets per environment (`[services.<name>.env]` and `.secrets]`):
//! they travel in the release's launch-template user data (secrets as references only),
//! a change of them alone is a new release of the same AMI, the same settings again are
//! `unchanged`, and a rollback brings the previous settings back with its group. drydock
//! itself never reads a secret.

use crate::common::aws::tag;
use crate::common::fixtures::Emulated;

/// The user data of a release's launch template, decoded.
fn user_data(fx: &Emulated, template: &str) -> String {
    let out = fx
        .sdk
        .block(fx.sdk.ec2.describe_launch_template_versions().launch_template_name(template).send())
        .expect("describe launch template versions");
    let data = out
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data())
        .and_then(|d| d.user_data())
        .unwrap_or_default()
        .to_owned();
    String::from_utf8(aws_smithy_types::base64::decode(&data).expect("base64")).expect("utf-8")
}

fn settings_tag(fx: &Emulated, group: &str) -> String {
    tag(&fx.sdk.must_group(group), "drydock:settings").unwrap_or_default()
}

#[test]
fn settings_travel_in_user_data_and_a_change_of_them_is_a_release() {
    let fx = Emulated::new();
    fx.bake_one("www", "1.0.0");
    let deploy = ["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"];
    let first = fx.run_json(&deploy);
    assert_eq!(first.only_result("deploy")["outcome"], "deployed", "{first:?}");
    let ud = user_data(&fx, "www-staging-v001");
    assert!(ud.contains("\n      DB_HOST=www-db.staging.internal.example.com\n"), "{ud}");
    assert!(ud.contains("\n      FEATURE_NEW_PLAYER=on\n"), "{ud}");
    // The secret as its reference, for the instance to resolve.
    assert!(ud.contains("\n      DB_PASSWORD=ssm:/dramafever/staging/www/db-password\n"), "{ud}");
    let v1 = settings_tag(&fx, "www-staging-v001");
    assert_eq!(v1.len(), 12, "a settings digest on the group");

    // The same AMI and settings again: nothing to do.
    let again = fx.run_json(&deploy);
    assert_eq!(again.only_result("deploy")["outcome"], "unchanged", "{again:?}");

    // Only a setting changes: a new release of the same AMI, blue/green as usual.
    fx.tree
        .replace("environments/staging.toml", "www-db.staging.internal", "www-db2.staging.internal")
        .expect("edit the setting");
    let dry = fx.run_json(&[&deploy[..], &["--dry-run"]].concat());
    assert_eq!(dry.only_result("deploy")["outcome"], "planned", "{dry:?}");
    assert_eq!(dry.only_result("deploy")["release"], "v002", "{dry:?}");
    let msg = dry.only_result("deploy")["message"].as_str().unwrap_or_default().to_owned();
    assert!(msg.contains(&format!("only the settings change: {v1} → ")), "the dry run says what changes: {msg}");
    // By name, read back from v001's launch template; never a value.
    assert!(msg.ends_with(" (DB_HOST changed)"), "which setting: {msg}");
    assert!(!msg.contains("www-db2"), "no value: {msg}");
    let second = fx.run_json(&deploy);
    let r = second.only_result("deploy");
    assert_eq!(r["outcome"], "deployed", "{second:?}");
    assert_eq!(r["release"], "v002");
    assert_eq!(r["ami"], first.only_result("deploy")["ami"], "the same AMI");
    assert!(user_data(&fx, "www-staging-v002").contains("DB_HOST=www-db2.staging.internal.example.com"));
    assert_ne!(settings_tag(&fx, "www-staging-v002"), v1);

    // Rollback brings the previous settings back: the group that ran them.
    let back = fx.run_json(&["rollback", "www", "--env", "staging"]);
    assert_eq!(back.only_result("rollback")["outcome"], "rolled_back", "{back:?}");
    assert_eq!(tag(&fx.sdk.must_group("www-staging-v001"), "drydock:state").as_deref(), Some("live"));
    assert_eq!(settings_tag(&fx, "www-staging-v001"), v1);

    // status shows each release's settings digest.
    let st = fx.run_json(&["status", "--env", "staging", "www"]);
    let live = &st.json()["results"][0]["live"];
    assert_eq!(live["settings"], v1.as_str(), "{live}");
    assert_eq!(live["settings_current"], false, "the environment file now says other settings: {live}");

    // The instances' policy: exactly this service's secret, nothing broader.
    let pol = fx.run_json(&["iam-policy", "--instance", "www", "--env", "staging"]).json();
    let text = pol.to_string();
    assert!(text.contains("parameter/dramafever/staging/www/db-password"), "{text}");
    assert!(!text.contains("secretsmanager:GetSecretValue"), "no Secrets Manager secret in staging: {text}");
    assert!(!text.contains("\"Resource\":\"*\"") || text.contains("ecr:GetAuthorizationToken"), "{text}");

    // drydock never asked for a secret's value.
    let services: Vec<String> = fx.moto.requests().into_iter().map(|(s, _)| s).collect();
    assert!(!services.iter().any(|s| s == "ssm" || s == "secretsmanager"), "{services:?}");
}

#[test]
fn promote_carries_the_ami_and_the_target_applies_its_own_settings() {
    let fx = Emulated::new();
    fx.bake_one("www", "1.0.0");
    let d = fx.run_json(&["deploy", "www", "--env", "staging", "--image-tag", "1.0.0"]);
    assert_eq!(d.code, Some(0), "{d:?}");
    let p = fx.run_json(&["promote", "www", "--from", "staging", "--to", "prod"]);
    assert_eq!(p.code, Some(0), "{p:?}");
    let ud = user_data(&fx, "www-prod-v001");
    assert!(ud.contains("DB_HOST=www-db.prod.internal.example.com"), "{ud}");
    assert!(ud.contains("DB_PASSWORD=secretsmanager:dramafever/prod/www#db_password"), "{ud}");
    assert!(!ud.contains("staging"), "nothing of staging's settings: {ud}");
}
