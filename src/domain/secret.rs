//! A secret by reference (`[services.<name>.secrets]`): where the instance reads the value
//! when its service starts. drydock itself never reads a secret's value: only the
//! reference travels (in the launch template's user data), and the instance resolves it
//! with its own credentials.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecretRef {
    /// `ssm:/path/to/parameter` (a SecureString is decrypted).
    Ssm { name: String },
    /// `secretsmanager:<name-or-arn>[#json-key]`.
    SecretsManager { id: String, key: Option<String> },
}

const RULE: &str = "a secret is \"ssm:/path/to/parameter\" or \"secretsmanager:<name-or-arn>\" with an optional \"#json-key\"; names use letters, digits and _ . - / (parameters start with /), ARNs are arn:aws:ssm:<region>:<account>:parameter/… or arn:aws:secretsmanager:<region>:<account>:secret:…";

fn name_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 512 && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/+=@".contains(c))
}

/// `arn:aws:<service>:<region>:<12 digits>:<rest>`: region and account are checked.
fn arn_ok(s: &str, service: &str, resource_prefix: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, svc, region, account, rest] = parts[..] else { return false };
    arn == "arn"
        && matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
        && svc == service
        && crate::domain::grammar::region(region).is_ok()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && rest.strip_prefix(resource_prefix).is_some_and(name_ok)
}

impl SecretRef {
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || format!("{s:?} is not a secret reference: {RULE}");
        if let Some(name) = s.strip_prefix("ssm:") {
            let ok = (name.starts_with('/') && name_ok(name)) || arn_ok(name, "ssm", "parameter/");
            return if ok { Ok(SecretRef::Ssm { name: name.to_owned() }) } else { Err(err()) };
        }
        if let Some(rest) = s.strip_prefix("secretsmanager:") {
            let (id, key) = match rest.split_once('#') {
                Some((id, key)) => (id, Some(key)),
                None => (rest, None),
            };
            let id_ok = if id.starts_with("arn:") { arn_ok(id, "secretsmanager", "secret:") } else { name_ok(id) };
            let key_ok = key.is_none_or(|k| {
                !k.is_empty() && k.len() <= 128 && k.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            });
            return if id_ok && key_ok {
                Ok(SecretRef::SecretsManager { id: id.to_owned(), key: key.map(str::to_owned) })
            } else {
                Err(err())
            };
        }
        Err(err())
    }

    /// The IAM resource ARN the instance role needs, in `region` and `account` (an ARN
    /// reference names its own). A Secrets Manager name gets the `-??????` suffix AWS adds.
    pub fn resource_arn(&self, region: &str, account: &str) -> String {
        match self {
            SecretRef::Ssm { name } if name.starts_with("arn:") => name.clone(),
            SecretRef::Ssm { name } => format!("arn:aws:ssm:{region}:{account}:parameter{name}"),
            SecretRef::SecretsManager { id, .. } if id.starts_with("arn:") => id.clone(),
            SecretRef::SecretsManager { id, .. } => {
                format!("arn:aws:secretsmanager:{region}:{account}:secret:{id}-??????")
            }
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Ssm { name } => write!(f, "ssm:{name}"),
            SecretRef::SecretsManager { id, key: None } => write!(f, "secretsmanager:{id}"),
            SecretRef::SecretsManager { id, key: Some(k) } => write!(f, "secretsmanager:{id}#{k}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        for ok in [
            "ssm:/www/prod/db-password",
            "ssm:arn:aws:ssm:us-east-1:123456789012:parameter/www/prod/db",
            "secretsmanager:www/prod/db",
            "secretsmanager:www/prod/db#password",
            "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:www-db-AbCdEf#password",
        ] {
            let r = SecretRef::parse(ok).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.to_string(), ok, "round trip");
        }
        for bad in [
            "",
            "ssm:",
            "ssm:relative/path",
            "ssm:/a b",
            "ssm:/a;rm -rf /",
            "ssm:/$(id)",
            "ssm:arn:aws:ssm:nowhere:123456789012:parameter/x",
            "ssm:arn:aws:ssm:us-east-1:1234:parameter/x",
            "secretsmanager:",
            "secretsmanager:db#",
            "secretsmanager:db#a b",
            "secretsmanager:arn:aws:ssm:us-east-1:123456789012:parameter/x",
            "vault:secret/db",
            "plain-value",
        ] {
            assert!(SecretRef::parse(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn arns_for_the_instance_policy() {
        let r = SecretRef::parse("ssm:/www/prod/db").unwrap();
        assert_eq!(
            r.resource_arn("us-east-1", "123456789012"),
            "arn:aws:ssm:us-east-1:123456789012:parameter/www/prod/db"
        );
        let r = SecretRef::parse("secretsmanager:www/db#password").unwrap();
        assert_eq!(
            r.resource_arn("us-east-1", "123456789012"),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:www/db-??????"
        );
    }
}
