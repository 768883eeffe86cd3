//! Frigga-compatible names (the scheme Asgard and Spinnaker use): the hyphen is the
//! separator between service, env and release, so neither service nor env may hold one.

use std::fmt;

/// `[a-z][a-z0-9]{0,19}`: a microservice, e.g. `www`, `imageresize`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceName(String);

/// `[a-z][a-z0-9]{0,9}`: an environment, e.g. `staging`, `prod`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvName(String);

fn lower_alnum(s: &str, max: usize) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= max
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

impl ServiceName {
    pub const RULE: &'static str = "a service name is [a-z][a-z0-9]{0,19}: a lowercase letter, then up to 19 lowercase letters or digits (no hyphens: the hyphen separates service, env and release in AWS names)";

    pub fn parse(s: &str) -> Result<Self, String> {
        if lower_alnum(s, 20) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("{s:?} is not a valid service name: {}", Self::RULE))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl EnvName {
    pub const RULE: &'static str = "an environment name is [a-z][a-z0-9]{0,9}: a lowercase letter, then up to 9 lowercase letters or digits (no hyphens)";

    pub fn parse(s: &str) -> Result<Self, String> {
        if lower_alnum(s, 10) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("{s:?} is not a valid environment name: {}", Self::RULE))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `<service>-<env>`: the cluster, i.e. every release of one service in one environment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterName(String);

impl ClusterName {
    pub fn new(service: &ServiceName, env: &EnvName) -> Self {
        Self(format!("{}-{}", service.0, env.0))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The release group `<cluster>-vNNN`.
    pub fn release(&self, number: u16) -> ReleaseName {
        ReleaseName { cluster: self.clone(), number }
    }
    /// Parses `<cluster>-vNNN` back into a release of this cluster; other names give None.
    pub fn parse_release(&self, name: &str) -> Option<ReleaseName> {
        let digits = name.strip_prefix(self.0.as_str())?.strip_prefix("-v")?;
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number = digits.parse().ok()?;
        Some(self.release(number))
    }
}

/// A release group name, `<service>-<env>-vNNN` with exactly three digits (v000..v999).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReleaseName {
    pub cluster: ClusterName,
    pub number: u16,
}

impl ReleaseName {
    pub const MAX: u16 = 999;
    /// `vNNN`, as users write it in `rollback --to`.
    pub fn version(&self) -> String {
        format!("v{:03}", self.number)
    }
}

/// As its group name, as plans always showed it.
impl serde::Serialize for ReleaseName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for ReleaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-v{:03}", self.cluster.0, self.number)
    }
}

/// Parses `vNNN` (the `--to` flag of rollback).
pub fn parse_version(s: &str) -> Result<u16, String> {
    let digits = s.strip_prefix('v').unwrap_or("");
    if digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().map_err(|_| format!("{s:?} is not a release version"))
    } else {
        Err(format!("{s:?} is not a release version: expected v followed by exactly three digits, e.g. v007"))
    }
}

/// A classic ELB name: 1–32 of `[A-Za-z0-9-]`, not starting or ending with a hyphen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ElbName(String);

impl ElbName {
    pub const RULE: &'static str =
        "a classic ELB name is 1 to 32 letters, digits or hyphens, and does not begin or end with a hyphen";

    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("{s:?} ({} characters) is not a valid ELB name: {}", s.chars().count(), Self::RULE))
        }
    }
    /// The default `<service>-<env>`; at most 20 + 1 + 10 = 31 characters, always valid.
    pub fn for_cluster(cluster: &ClusterName) -> Self {
        Self(cluster.0.clone())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The content-addressed AMI name `drydock/<service>/<tag or sha256-…>/<recipe-hash-12>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmiName(String);

impl AmiName {
    /// EC2 allows 3–128 characters of `[A-Za-z0-9()[] ./'@_-]`.
    pub const MAX: usize = 128;

    pub fn new(service: &ServiceName, pin_label: &str, recipe_hash: &str) -> Result<Self, String> {
        let hash12 = recipe_hash.get(..12).unwrap_or(recipe_hash);
        let name = format!("drydock/{}/{}/{}", service.0, pin_label, hash12);
        let allowed = |c: char| c.is_ascii_alphanumeric() || "()[] ./'@_-".contains(c);
        if name.len() > Self::MAX {
            return Err(format!(
                "the AMI name {name:?} would be {} characters; EC2 allows {}: use a shorter image tag",
                name.len(),
                Self::MAX
            ));
        }
        if !name.chars().all(allowed) {
            return Err(format!("the AMI name {name:?} holds characters EC2 does not allow in AMI names"));
        }
        Ok(Self(name))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for ElbName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for AmiName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        for ok in ["www", "a", "imageresize", "a1234567890123456789"] {
            assert!(ServiceName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Www", "www-api", "1www", "a12345678901234567890", "ww_w", "wéb"] {
            assert!(ServiceName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_names() {
        assert!(EnvName::parse("staging").is_ok());
        assert!(EnvName::parse("prod2").is_ok());
        assert!(EnvName::parse("production1").is_err()); // 11 chars
        assert!(EnvName::parse("pre-prod").is_err());
    }

    #[test]
    fn release_names_round_trip() {
        let c = ClusterName::new(&ServiceName::parse("www").unwrap(), &EnvName::parse("prod").unwrap());
        let r = c.release(7);
        assert_eq!(r.to_string(), "www-prod-v007");
        assert_eq!(r.version(), "v007");
        assert_eq!(c.parse_release("www-prod-v007"), Some(r));
        assert_eq!(c.parse_release("www-prod-v7"), None);
        assert_eq!(c.parse_release("www-prod-v0070"), None);
        assert_eq!(c.parse_release("www-prodx-v007"), None);
        assert_eq!(c.parse_release("www-staging-v007"), None);
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("v012"), Ok(12));
        assert!(parse_version("12").is_err());
        assert!(parse_version("v12").is_err());
        assert!(parse_version("v1234").is_err());
    }

    #[test]
    fn elb_names() {
        assert!(ElbName::parse("www-prod").is_ok());
        assert!(ElbName::parse(&"a".repeat(32)).is_ok());
        let err = ElbName::parse(&"a".repeat(40)).unwrap_err();
        assert!(err.contains("40 characters"), "{err}");
        assert!(ElbName::parse("-www").is_err());
        assert!(ElbName::parse("www_prod").is_err());
    }

    #[test]
    fn ami_names() {
        let s = ServiceName::parse("www").unwrap();
        let n = AmiName::new(&s, "1.4.2", "0123456789abcdef").unwrap();
        assert_eq!(n.as_str(), "drydock/www/1.4.2/0123456789ab");
        assert!(AmiName::new(&s, &"x".repeat(120), "0123456789abcdef").is_err());
        assert!(AmiName::new(&s, "sha256:abc", "0123456789abcdef").is_err());
    }
}
