//! `promote` between two accounts in the same region, against the emulator (moto through
//! the fidelity shim). moto keeps resources per account and derives the account of a
//! request from its access key: the default key `testing` is account 123456789012 (the
//! staging account, where www is baked and deployed), and the keys that `sts:AssumeRole`
//! returns for `arn:aws:iam::222222222222:role/drydock` are account 222222222222 (prod).
//!
//! drydock reaches prod through the environment's `profile = "prod"`: each run gets a
//! private shared credentials file (`[default]` = the staging keys, `[prod]` = the
//! assumed-role keys) and config file, and no credentials in its environment (the
//! environment's keys would win over any profile, see
//! `exported_keys_do_not_override_the_profile_of_the_target_environment`).
//!
//! Each test starts its own emulator and its own emulated builder guest
//! (`tests/tools/fake_guest.py`, killed on drop), and works on a private copy of the
//! example tree.
//!
//! Two divergences of moto 5.2.5 (not patched by the shim) block parts of this file:
//! - it does not show an AMI of another account to the account it is shared with
//!   (`MOTO_SHARED_AMI`), so the end-to-end promote is ignored;
//! - it ignores ModifySnapshotAttribute's `CreateVolumePermission.Add` structure, the form
//!   drydock sends (`MOTO_SNAPSHOT_PERMISSION`), so the snapshot's create-volume permission
//!   is asserted in ignored tests only.
//!
//! The rest checks what does not depend on them. The `moto:` ignored tests pass against a
//! shim with two more patches (proposed, not applied: shared-amis, which adds the other
//! accounts' AMIs that grant the caller launch permission, without their tags, to
//! DescribeImages; snapshot-create-volume-permission, which applies that structure), run
//! through `DRYDOCK_TEST_PYTHON` pointing at a wrapper that adds them.

use crate::common;

use common::aws::{filter as common_filter, instance_ids, is_read_only, tag};
use common::fixtures::Guest;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::{ImageAttributeName, SnapshotAttributeName};
use common::moto::{Moto, Sdk};
use common::{drydock_in, ExampleTree, Run, RUN_TIMEOUT as RUN};
use serde_json::Value;

const STAGING_ACCOUNT: &str = "123456789012";
const PROD_ACCOUNT: &str = "222222222222";
/// An account that neither set of keys belongs to.
const THIRD_ACCOUNT: &str = "333333333333";
const WWW: &str = "registry.example.com/dramafever/www";

/// Why the end-to-end case cannot pass on moto 5.2.5 (the shim has no patch for it).
const MOTO_SHARED_AMI: &str = "moto 5.2.5: AmiBackend.describe_images reads only the caller's account, so \
    DescribeImages(ImageIds=[ami]) with prod's keys answers InvalidAMIID.NotFound for the staging AMI that \
    was shared with prod (LaunchPermission UserId=222222222222 is recorded); drydock then stops with exit 1 \
    \"<ami> is not available in us-east-1\"";

/// Why the snapshot's create-volume permission stays empty on moto 5.2.5.
const MOTO_SNAPSHOT_PERMISSION: &str = "moto 5.2.5: ElasticBlockStore.modify_snapshot_attribute reads only \
    OperationType/UserIds/GroupNames and answers success to the CreateVolumePermission.Add.N.UserId structure \
    that drydock (the Rust SDK) sends, changing nothing";

// ---------------------------------------------------------------------------------------
// Processes, credentials, clients
// ---------------------------------------------------------------------------------------

/// Temporary keys of one account.
#[derive(Clone, Debug)]
struct Keys {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
}

/// `sts:AssumeRole` into `arn:aws:iam::<account>:role/drydock` with the default keys
/// (boto3 of the venv; `aws-sdk-sts` is not a dependency), checked with
/// `sts:GetCallerIdentity` under the new keys.
fn assume_role(moto: &Moto, account: &str) -> Keys {
    const SCRIPT: &str = r#"
import json, sys
import boto3
url, account = sys.argv[1], sys.argv[2]
base = dict(endpoint_url=url, region_name="us-east-1")
sts = boto3.client("sts", aws_access_key_id="testing", aws_secret_access_key="testing", **base)
c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/drydock", RoleSessionName="drydock-tests")["Credentials"]
keys = dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
who = boto3.client("sts", **keys, **base).get_caller_identity()["Account"]
print(json.dumps({"key": c["AccessKeyId"], "secret": c["SecretAccessKey"], "token": c["SessionToken"], "account": who}))
"#;
    let mut cmd = Command::new(common::moto::python_path());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().to_ascii_uppercase().starts_with("AWS_") {
            cmd.env_remove(&k);
        }
    }
    let nowhere = std::env::temp_dir().join("drydock-tests-no-such-aws-file");
    cmd.args(["-c", SCRIPT, &moto.url(), account])
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere);
    let run = common::run(&mut cmd, RUN);
    assert_eq!(run.code, Some(0), "AssumeRole into {account}: {run:?}");
    let v: Value =
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("AssumeRole output ({e}): {run:?}"));
    assert_eq!(v["account"], account, "the assumed-role keys belong to {account}: {v}");
    let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}")).to_owned();
    Keys { access_key_id: s("key"), secret_access_key: s("secret"), session_token: s("token") }
}

/// SDK clients of the emulator with these keys (marked as the tests' own requests).
fn sdk_as(moto: &Moto, keys: &Keys) -> Sdk {
    moto.sdk_as(Credentials::new(
        &keys.access_key_id,
        &keys.secret_access_key,
        Some(keys.session_token.clone()),
        None,
        "tests",
    ))
}

// ---------------------------------------------------------------------------------------
// Observations through the SDK (of one account; the rest: common::aws)
// ---------------------------------------------------------------------------------------

/// The image `ami` as its owner sees it.
fn image(sdk: &Sdk, ami: &str) -> aws_sdk_ec2::types::Image {
    let out = sdk.block(sdk.ec2.describe_images().image_ids(ami).send()).expect("describe the image");
    out.images().first().cloned().unwrap_or_else(|| panic!("{ami} is not described by its owner"))
}

fn snapshots(i: &aws_sdk_ec2::types::Image) -> Vec<String> {
    i.block_device_mappings().iter().filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_owned)).collect()
}

/// The accounts with launch permission on `ami` (DescribeImageAttribute, by its owner).
fn launch_permissions(sdk: &Sdk, ami: &str) -> BTreeSet<String> {
    let out = sdk
        .block(sdk.ec2.describe_image_attribute().image_id(ami).attribute(ImageAttributeName::LaunchPermission).send())
        .expect("describe the image's launchPermission");
    out.launch_permissions().iter().filter_map(|p| p.user_id().map(str::to_owned)).collect()
}

/// The accounts with create-volume permission on a snapshot (by its owner).
fn create_volume_permissions(sdk: &Sdk, snapshot: &str) -> BTreeSet<String> {
    let out = sdk
        .block(
            sdk.ec2
                .describe_snapshot_attribute()
                .snapshot_id(snapshot)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .send(),
        )
        .expect("describe the snapshot's createVolumePermission");
    out.create_volume_permissions().iter().filter_map(|p| p.user_id().map(str::to_owned)).collect()
}

/// Instance id → (AMI, owner account) of the running instances of this account.
fn running_instances(sdk: &Sdk) -> BTreeMap<String, (String, String)> {
    let out = sdk
        .block(sdk.ec2.describe_instances().filters(common_filter("instance-state-name", "running")).send())
        .expect("describe instances");
    out.reservations()
        .iter()
        .flat_map(|r| {
            let owner = r.owner_id().unwrap_or_default().to_owned();
            r.instances().iter().map(move |i| {
                (
                    i.instance_id().unwrap_or_default().to_owned(),
                    (i.image_id().unwrap_or_default().to_owned(), owner.clone()),
                )
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------

struct Fx {
    // Dropped in this order: the guest before the emulator.
    _guest: Guest,
    moto: Moto,
    /// Account 123456789012 (staging; the default keys).
    staging: Sdk,
    /// Account 222222222222 (prod; the assumed-role keys).
    prod: Sdk,
    prod_keys: Keys,
    tree: ExampleTree,
    /// The shared credentials and config files of the drydock runs.
    aws: tempfile::TempDir,
}

impl Fx {
    /// Staging in account 123456789012 with the default credentials; prod in account
    /// 222222222222 (or `prod_account_id`, when a test wants a mismatch) through
    /// `profile = "prod"`.
    fn new(prod_account_id: &str) -> Self {
        let moto = Moto::start();
        let staging = moto.sdk();
        let prod_keys = assume_role(&moto, PROD_ACCOUNT);
        let prod = sdk_as(&moto, &prod_keys);
        let guest = Guest::start(&moto);
        let tree = ExampleTree::new();
        tree.replace(
            "environments/staging.toml",
            "# account_id = \"123456789012\"",
            &format!("account_id = \"{STAGING_ACCOUNT}\""),
        )
        .expect("staging's account_id");
        tree.replace(
            "environments/prod.toml",
            "region = \"us-east-1\"\n",
            &format!("region = \"us-east-1\"\naccount_id = \"{prod_account_id}\"\nprofile = \"prod\"\n"),
        )
        .expect("prod's account_id and profile");

        let aws = tempfile::Builder::new().prefix("drydock-aws-").tempdir().expect("a temp dir for the AWS files");
        let Keys { access_key_id, secret_access_key, session_token } = &prod_keys;
        std::fs::write(
            aws.path().join("credentials"),
            format!(
                "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n\n\
                 [prod]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret_access_key}\n\
                 aws_session_token = {session_token}\n"
            ),
        )
        .expect("write the credentials file");
        std::fs::write(
            aws.path().join("config"),
            "[default]\nregion = us-east-1\n\n[profile prod]\nregion = us-east-1\n",
        )
        .expect("write the config file");
        Fx { _guest: guest, moto, staging, prod, prod_keys, tree, aws }
    }

    fn credentials_file(&self) -> PathBuf {
        self.aws.path().join("credentials")
    }

    /// `drydock -C TREE --output json ARGS`, polling every 50 ms, with the credentials
    /// of the shared files only (no keys in the environment).
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = drydock_in(&self.moto.url(), self.tree.path());
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_SHARED_CREDENTIALS_FILE", self.credentials_file())
            .env("AWS_CONFIG_FILE", self.aws.path().join("config"))
            .args(["--output", "json"])
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        common::run(&mut self.cmd(args), RUN)
    }

    /// Bakes www 1.0.0 in staging and deploys it there; returns the AMI id.
    fn staging_live(&self) -> String {
        let run = self.run(&["bake", "www", "--image-tag", "1.0.0", "--env", "staging"]);
        assert_eq!(run.code, Some(0), "bake www 1.0.0: {run:?}");
        let ami = run.only_result("bake")["ami"].as_str().unwrap_or_default().to_owned();
        assert!(ami.starts_with("ami-"), "bake www 1.0.0: {run:?}");
        let run = self.run(&["deploy", "www", "--image-tag", "1.0.0", "--env", "staging"]);
        assert_eq!(run.code, Some(0), "deploy www 1.0.0 to staging: {run:?}");
        assert_eq!(run.only_result("deploy")["outcome"], "deployed", "{run:?}");
        let g = self.staging.must_group("www-staging-v001");
        assert_eq!(tag(&g, "drydock:ami").as_deref(), Some(ami.as_str()), "staging runs the baked AMI");
        assert_eq!(image(&self.staging, &ami).owner_id(), Some(STAGING_ACCOUNT), "staging owns the AMI");
        ami
    }

    /// Nothing of prod exists in the staging account.
    fn assert_no_prod_in_staging(&self) {
        assert!(!self.staging.elb_exists("www-prod"), "no www-prod ELB in account {STAGING_ACCOUNT}");
        let names = self.staging.group_names();
        assert!(!names.iter().any(|n| n.contains("-prod")), "no prod group in account {STAGING_ACCOUNT}: {names:?}");
        let templates = self.staging.launch_template_names();
        assert!(
            !templates.iter().any(|n| n.contains("-prod")),
            "no prod launch template in account {STAGING_ACCOUNT}: {templates:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// The setup itself: the two sets of keys reach two accounts, each with its own default
/// VPC, so that drydock's `account_id` check (the VPC's owner) sees the right account.
#[test]
fn the_two_profiles_reach_two_accounts() {
    let fx = Fx::new(PROD_ACCOUNT);
    let owner = |sdk: &Sdk| {
        let out = sdk.block(sdk.ec2.describe_vpcs().filters(common_filter("isDefault", "true")).send()).expect("vpcs");
        let v = out.vpcs().first().cloned().expect("a default VPC");
        (v.vpc_id().unwrap_or_default().to_owned(), v.owner_id().unwrap_or_default().to_owned())
    };
    let (staging_vpc, staging_owner) = owner(&fx.staging);
    let (prod_vpc, prod_owner) = owner(&fx.prod);
    assert_eq!(staging_owner, STAGING_ACCOUNT);
    assert_eq!(prod_owner, PROD_ACCOUNT);
    assert_ne!(staging_vpc, prod_vpc, "each account has its own default VPC");
    assert!(fx.prod_keys.access_key_id != "testing", "prod's keys are not the default keys");
}

/// The whole cross-account promote: staging's account shares the AMI, prod's account
/// deploys that very AMI id, and nothing of prod is created in staging's account.
#[test]
fn cross_account_promote_deploys_the_shared_ami_in_the_target_account() {
    let fx = Fx::new(PROD_ACCOUNT);
    let ami = fx.staging_live();
    let source = image(&fx.staging, &ami);
    let snaps = snapshots(&source);
    assert!(!snaps.is_empty(), "the baked AMI has snapshots: {source:?}");
    fx.moto.clear_requests();

    let run = fx.run(&["promote", "www", "--from", "staging", "--to", "prod"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let d = run.json();
    assert_eq!(d["env"], "prod", "{d}");
    let r = run.only_result("promote");
    assert_eq!(r["outcome"], "deployed", "{r}");
    assert_eq!(r["asg"], "www-prod-v001", "{r}");
    assert_eq!(r["ami"].as_str(), Some(ami.as_str()), "the same AMI id: {r}");
    assert_eq!(r["image"], format!("{WWW}:1.0.0"), "{r}");
    assert!(run.stderr.contains(&format!("share {ami} and its snapshots with account {PROD_ACCOUNT}")), "{run:?}");

    // Shared by its owner, staging's account: launch permission and create-volume
    // permission for prod's account, nothing more; no copy.
    assert_eq!(image(&fx.staging, &ami).owner_id(), Some(STAGING_ACCOUNT));
    assert_eq!(launch_permissions(&fx.staging, &ami), BTreeSet::from([PROD_ACCOUNT.to_owned()]));
    for s in &snaps {
        assert_eq!(create_volume_permissions(&fx.staging, s), BTreeSet::from([PROD_ACCOUNT.to_owned()]), "{s}");
    }
    assert_eq!(fx.moto.count("CopyImage"), 0, "no copy in the same region");

    // Deployed in prod's account: the live group runs the staging AMI itself, every
    // instance InService in prod's ELB.
    let g = fx.prod.must_group("www-prod-v001");
    assert_eq!(tag(&g, "drydock:state").as_deref(), Some("live"));
    assert_eq!(tag(&g, "drydock:ami").as_deref(), Some(ami.as_str()), "prod runs the staging AMI itself");
    // www's base predates IMDSv2: prod's launch template allows IMDSv1 too, although prod's
    // account does not see the shared AMI's drydock:imds tag (drydock asks the source).
    let lt = fx
        .prod
        .block(fx.prod.ec2.describe_launch_template_versions().launch_template_name("www-prod-v001").send())
        .expect("launch template");
    let tokens = lt.launch_template_versions()[0].launch_template_data().and_then(|d| d.metadata_options());
    assert_eq!(tokens.and_then(|m| m.http_tokens()).map(|t| t.as_str()), Some("optional"));
    assert_eq!(tag(&g, "drydock:image"), Some(format!("{WWW}:1.0.0")));
    let from = tag(&g, "drydock:promoted-from").expect("drydock:promoted-from");
    assert!(from.contains("staging") && from.contains(&ami), "promoted-from names the source: {from}");
    assert_eq!(g.load_balancer_names(), ["www-prod"]);
    assert_eq!((g.min_size(), g.desired_capacity(), g.max_size()), (Some(3), Some(4), Some(12)), "prod's capacity");
    let members: BTreeSet<String> = instance_ids(&g).into_iter().collect();
    assert_eq!(members.len(), 4, "{g:?}");
    let running = running_instances(&fx.prod);
    for i in &members {
        let (image_id, owner) = running.get(i).unwrap_or_else(|| panic!("{i} runs in account {PROD_ACCOUNT}"));
        assert_eq!(image_id, &ami, "{i} was launched from the staging AMI");
        assert_eq!(owner, PROD_ACCOUNT, "{i} belongs to prod's account");
    }
    let h = fx.prod.health("www-prod");
    assert!(
        members.iter().all(|i| h.get(i).is_some_and(|(s, _)| s == "InService")),
        "all InService in www-prod: {h:?}"
    );

    // Nothing of prod in staging's account; staging untouched.
    fx.assert_no_prod_in_staging();
    let s = fx.staging.must_group("www-staging-v001");
    assert_eq!(tag(&s, "drydock:state").as_deref(), Some("live"));
    assert!(!fx.prod.group_names().iter().any(|n| n.contains("staging")), "no staging group in prod's account");
    // prod's account owns no image: it launched the shared one.
    let own = fx.prod.block(fx.prod.ec2.describe_images().owners("self").send()).expect("prod's own images");
    assert!(own.images().is_empty(), "prod's account made no image: {:?}", own.images());
}

/// What moto does support of the above: before prod's account touches anything, staging's
/// account grants prod's account launch permission on the AMI and create-volume
/// permission on its snapshots, and nothing of prod is created in staging's account.
#[test]
fn cross_account_promote_shares_the_ami_and_its_snapshots_first() {
    let fx = Fx::new(PROD_ACCOUNT);
    let ami = fx.staging_live();
    let snaps = snapshots(&image(&fx.staging, &ami));
    assert!(!snaps.is_empty(), "the baked AMI has snapshots");
    assert!(launch_permissions(&fx.staging, &ami).is_empty(), "not shared before the promote");
    fx.moto.clear_requests();

    let run = fx.run(&["promote", "www", "--from", "staging", "--to", "prod"]);
    let r = run.only_result("promote");
    // On AWS (and with the proposed shim patch) this is exit 0, deployed: see the ignored
    // test above. moto 5.2.5 hides the shared AMI from prod's account, which drydock
    // reports as such; anything else is a failure of this test.
    let msg = r["message"].as_str().unwrap_or_default();
    let moto_divergence = run.code == Some(1)
        && r["outcome"] == "failed"
        && msg.contains(&format!("{ami} is not available in us-east-1"));
    assert!(run.code == Some(0) && r["outcome"] == "deployed" || moto_divergence, "{MOTO_SHARED_AMI}: {run:?}");
    assert!(run.stderr.contains(&format!("share {ami} and its snapshots with account {PROD_ACCOUNT}")), "{run:?}");

    assert_eq!(launch_permissions(&fx.staging, &ami), BTreeSet::from([PROD_ACCOUNT.to_owned()]));
    // The grants are drydock's first writes once it holds the target cluster's lease (the
    // lock's CreateSecurityGroup), one per image and snapshot, before anything is made in
    // the target (their effect on the snapshots:
    // `promote_grants_create_volume_permission_on_the_snapshots`).
    let all: Vec<String> = fx.moto.requests().into_iter().map(|(_, a)| a).filter(|a| !is_read_only(a)).collect();
    assert_eq!(all.first().map(String::as_str), Some("CreateSecurityGroup"), "the lease first: {all:?}");
    let writes = all[1..].to_vec();
    let grants = 1 + snaps.len();
    assert!(writes.len() >= grants, "{writes:?}");
    assert_eq!(writes[0], "ModifyImageAttribute", "{writes:?}");
    assert!(writes[1..grants].iter().all(|a| a == "ModifySnapshotAttribute"), "{writes:?}");
    assert_eq!(fx.moto.count("ModifyImageAttribute"), 1, "{writes:?}");
    assert_eq!(fx.moto.count("CopyImage"), 0, "no copy in the same region");
    assert_eq!(image(&fx.staging, &ami).owner_id(), Some(STAGING_ACCOUNT), "the AMI stays staging's");

    fx.assert_no_prod_in_staging();
    if moto_divergence {
        assert!(fx.prod.group_names().is_empty(), "no group in prod's account after the failure");
    }
}

/// The create-volume permission that the share grants on the AMI's snapshots, as their
/// owner sees it.
#[test]
fn promote_grants_create_volume_permission_on_the_snapshots() {
    let fx = Fx::new(PROD_ACCOUNT);
    let ami = fx.staging_live();
    let snaps = snapshots(&image(&fx.staging, &ami));
    assert!(!snaps.is_empty(), "the baked AMI has snapshots");
    for s in &snaps {
        assert!(create_volume_permissions(&fx.staging, s).is_empty(), "{s} is not shared before the promote");
    }
    let run = fx.run(&["promote", "www", "--from", "staging", "--to", "prod"]);
    assert!(run.stderr.contains(&format!("share {ami} and its snapshots with account {PROD_ACCOUNT}")), "{run:?}");
    for s in &snaps {
        assert_eq!(
            create_volume_permissions(&fx.staging, s),
            BTreeSet::from([PROD_ACCOUNT.to_owned()]),
            "{MOTO_SNAPSHOT_PERMISSION}: {s}"
        );
    }
}

/// prod's `account_id` names an account that prod's profile does not reach: exit 2, the
/// message names the key and both accounts, and nothing is written anywhere (not even
/// the share).
#[test]
fn promote_refuses_a_target_profile_of_another_account() {
    let fx = Fx::new(THIRD_ACCOUNT);
    let ami = fx.staging_live();
    let snaps = snapshots(&image(&fx.staging, &ami));
    fx.moto.clear_requests();

    let run = fx.run(&["promote", "www", "--from", "staging", "--to", "prod"]);
    assert_eq!(run.code, Some(2), "{run:?}");
    let d = run.json();
    assert_eq!(d["command"], "promote", "{d}");
    assert_eq!(d["error"]["exit_code"], 2, "{d}");
    let msg = d["error"]["message"].as_str().unwrap_or_default();
    for want in ["prod.toml", "account_id", THIRD_ACCOUNT, PROD_ACCOUNT] {
        assert!(msg.contains(want), "the message names {want}: {msg}");
    }
    assert!(run.stderr.contains(msg), "the message is on stderr too: {run:?}");

    let reqs = fx.moto.requests();
    assert!(!reqs.is_empty(), "the check needs a request");
    assert!(reqs.iter().all(|(_, a)| is_read_only(a)), "only reads: {reqs:?}");
    assert!(launch_permissions(&fx.staging, &ami).is_empty(), "the AMI was not shared");
    for s in &snaps {
        assert!(create_volume_permissions(&fx.staging, s).is_empty(), "{s} was not shared");
    }
    assert!(fx.prod.group_names().is_empty(), "no group in prod's account");
    assert!(!fx.prod.elb_exists("www-prod"), "no ELB in prod's account");
    assert!(fx.prod.launch_template_names().is_empty(), "no launch template in prod's account");
    fx.assert_no_prod_in_staging();
}

/// The environment's `profile` is "the AWS profile whose credentials reach this
/// environment". With staging's keys exported (as a CI job has them), promote to prod
/// must still use prod's profile. It does not: the SDK's default chain puts the
/// environment's keys before the profile that `profile_name` selects.
#[test]
fn exported_keys_do_not_override_the_profile_of_the_target_environment() {
    let fx = Fx::new(PROD_ACCOUNT);
    let ami = fx.staging_live();
    fx.moto.clear_requests();

    let mut cmd = fx.cmd(&["promote", "www", "--from", "staging", "--to", "prod"]);
    cmd.env("AWS_ACCESS_KEY_ID", "testing").env("AWS_SECRET_ACCESS_KEY", "testing");
    let run = common::run(&mut cmd, RUN);
    assert!(
        !run.stderr.contains(&format!("belong to account {STAGING_ACCOUNT}")),
        "prod's profile is used, not the exported keys: {run:?}"
    );
    assert_ne!(run.code, Some(2), "{run:?}");
    // The account check passed: the share with prod's account happened.
    assert_eq!(launch_permissions(&fx.staging, &ami), BTreeSet::from([PROD_ACCOUNT.to_owned()]), "{run:?}");
    fx.assert_no_prod_in_staging();
}
