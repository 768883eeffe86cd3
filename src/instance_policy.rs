//! `drydock iam-policy --instance <service> --env E`: the policy of the *instances'* role
//! for one service in one environment: read exactly its secrets (SSM parameters and
//! Secrets Manager secrets it references, decrypting with KMS only through those
//! services), and pull its image from ECR when the image lives there. Nothing else.

use serde_json::{json, Value};

use crate::config::{Recipe, ServiceEnv};
use crate::domain::secret::SecretRef;

/// The account a name-only reference lives in: the environment's `account_id`, else any
/// (`*`), which the policy says in a comment-free way AWS accepts.
pub fn policy(svc: &ServiceEnv, recipe: Option<&Recipe>, region: &str, account: Option<&str>) -> Value {
    let account = account.unwrap_or("*");
    let mut statements = Vec::new();
    let ssm: Vec<String> = svc
        .secrets
        .values()
        .filter(|r| matches!(r, SecretRef::Ssm { .. }))
        .map(|r| r.resource_arn(region, account))
        .collect();
    let sm: Vec<String> = svc
        .secrets
        .values()
        .filter(|r| matches!(r, SecretRef::SecretsManager { .. }))
        .map(|r| r.resource_arn(region, account))
        .collect();
    if !ssm.is_empty() {
        statements.push(json!({
            "Sid": "ReadItsParameters", "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:GetParameters"], "Resource": ssm,
        }));
    }
    if !sm.is_empty() {
        statements.push(json!({
            "Sid": "ReadItsSecrets", "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"], "Resource": sm,
        }));
    }
    if !svc.secrets.is_empty() {
        // SecureStrings and secrets encrypted with a customer key: decrypt only when the
        // call comes through SSM or Secrets Manager in this region.
        statements.push(json!({
            "Sid": "DecryptThroughThoseServicesOnly", "Effect": "Allow",
            "Action": ["kms:Decrypt"], "Resource": format!("arn:aws:kms:{region}:{account}:key/*"),
            "Condition": {"StringEquals": {"kms:ViaService": [
                format!("ssm.{region}.amazonaws.com"), format!("secretsmanager.{region}.amazonaws.com"),
            ]}},
        }));
    }
    if let Some(ecr) = recipe.and_then(|r| crate::render::docker::ecr(&r.image)) {
        let (registry_account, repo) = match (ecr.registry.split('.').next(), r_path(recipe)) {
            (Some(a), Some(p)) => (a.to_owned(), p),
            _ => (account.to_owned(), "*".to_owned()),
        };
        statements.push(json!({
            "Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*",
        }));
        statements.push(json!({
            "Sid": "PullItsImage", "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": format!("arn:aws:ecr:{}:{registry_account}:repository/{repo}", ecr.region),
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The repository path of the recipe's image (what follows the registry host).
fn r_path(recipe: Option<&Recipe>) -> Option<String> {
    recipe.and_then(|r| r.image.as_str().split_once('/').map(|(_, p)| p.to_owned()))
}
