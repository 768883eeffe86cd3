//! Values that reach AWS calls only (never a shell or a file): instance types, names and
//! ids in filters, accounts, regions, profiles, KMS keys.

pub const INSTANCE_TYPE_RULE: &str =
    "an instance type is <family>.<size> in lowercase, e.g. t3.small, m5.large, c7gn.16xlarge";

pub fn instance_type(s: &str) -> Result<&str, String> {
    let ok = match s.split_once('.') {
        Some((family, size)) => {
            family.starts_with(|c: char| c.is_ascii_lowercase())
                && family.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !size.is_empty()
                && size.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && s.len() <= 32
        }
        None => false,
    };
    if ok {
        Ok(s)
    } else {
        Err(format!("{s:?} is not an instance type: {INSTANCE_TYPE_RULE}"))
    }
}

pub const AWS_NAME_RULE: &str =
    "a name or tag filter is 1 to 255 characters of [A-Za-z0-9 ._:/+=@-], with * and ? as wildcards";

/// A name used in an AWS filter (a VPC's or subnet's Name tag, a security group name, an
/// AMI name pattern, an instance profile name): never reaches a shell or a file.
pub fn aws_name(s: &str) -> Result<&str, String> {
    let ok =
        !s.is_empty() && s.len() <= 255 && s.chars().all(|c| c.is_ascii_alphanumeric() || " ._:/+=@-*?".contains(c));
    if ok {
        Ok(s)
    } else {
        Err(format!("{s:?} is not allowed: {AWS_NAME_RULE}"))
    }
}

/// `prefix-<hex>`, the shape of EC2 ids (ami-, subnet-, sg-, vpc-).
pub fn aws_id<'a>(s: &'a str, prefix: &str) -> Result<&'a str, String> {
    let ok = s.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).is_some_and(|hex| {
        (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    });
    if ok {
        Ok(s)
    } else {
        Err(format!("{s:?} is not a valid id: expected {prefix}- followed by 8 to 17 lowercase hex digits"))
    }
}

pub const ACCOUNT_RULE: &str = "an AWS account id is exactly 12 digits";

pub fn account_id(s: &str) -> Result<&str, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s)
    } else {
        Err(format!("{s:?} is not an AWS account id: {ACCOUNT_RULE}"))
    }
}

pub const REGION_RULE: &str =
    "a region is like us-east-1 or eu-central-2: lowercase words and a number joined by hyphens";

pub fn region(s: &str) -> Result<&str, String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(s)
    } else {
        Err(format!("{s:?} is not an AWS region: {REGION_RULE}"))
    }
}

pub const PROFILE_RULE: &str = "an AWS profile name is 1 to 64 characters of [A-Za-z0-9._-]";

pub fn profile(s: &str) -> Result<&str, String> {
    if !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        Ok(s)
    } else {
        Err(format!("{s:?} is not allowed: {PROFILE_RULE}"))
    }
}

pub const KMS_KEY_RULE: &str = "a KMS key is a key id (a UUID), alias/<name>, or an arn:aws:kms:<region>:<account>:key/<id> or …:alias/<name> ARN, of [A-Za-z0-9:/_-]";

pub fn kms_key(s: &str) -> Result<&str, String> {
    let chars_ok =
        !s.is_empty() && s.len() <= 256 && s.chars().all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c));
    let uuid = |k: &str| {
        k.len() == 36
            && k.split('-').map(str::len).eq([8, 4, 4, 4, 12])
            && k.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    };
    let shape_ok = uuid(s)
        || s.strip_prefix("alias/").is_some_and(|a| !a.is_empty())
        || (s.starts_with("arn:aws:kms:") && (s.contains(":key/") || s.contains(":alias/")));
    if chars_ok && shape_ok {
        Ok(s)
    } else {
        Err(format!("{s:?} is not a KMS key: {KMS_KEY_RULE}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_values() {
        assert!(instance_type("t3.small").is_ok());
        assert!(instance_type("u-6tb1.metal").is_ok());
        assert!(instance_type("t3").is_err());
        assert!(instance_type("T3.small").is_err());
        assert!(aws_id("subnet-0123abcd", "subnet").is_ok());
        assert!(aws_id("subnet-XYZ", "subnet").is_err());
        assert!(aws_id("sg-0123abcd", "subnet").is_err());
        assert!(account_id("123456789012").is_ok());
        assert!(account_id("12345").is_err());
        assert!(region("us-east-1").is_ok());
        assert!(region("us-gov-west-1").is_ok());
        assert!(region("useast1").is_err());
        assert!(aws_name("ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-*").is_ok());
        assert!(aws_name("a;b").is_err());
        for ok in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/drydock-amis",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:alias/drydock",
        ] {
            assert!(kms_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "alias/", "key;rm", "1234", "arn:aws:s3:::bucket"] {
            assert!(kms_key(bad).is_err(), "{bad}");
        }
    }
}
