//! Docker image references, after the grammar of distribution/reference
//! (`[domain[:port]/]path[:tag][@digest]`). drydock keeps the repository (in
//! `amis/<service>.toml`) apart from the pin (the `--image-tag` or `--image-digest` flag),
//! so each is parsed on its own and a repository may carry neither tag nor digest.

use std::fmt;

/// A repository such as `registry.example.com:5000/dramafever/www`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRepo(String);

/// A tag such as `1.4.2` or `build-2093`: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, never `latest`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageTag(String);

/// A content digest, `sha256:<64 hex>` or `sha512:<128 hex>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Digest(String);

/// How an image is pinned: by tag, or by digest (immutable even if the tag moves).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pin {
    Tag(ImageTag),
    Digest(Digest),
}

/// The exact image an init job runs: repository plus pin.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    pub repo: ImageRepo,
    pub pin: Pin,
}

const REPO_RULE: &str = "a Docker repository is [host[:port]/]path, where host is dot-separated letters, digits and inner hyphens, and path is slash-separated lowercase components of [a-z0-9] joined by '.', '_', '__' or hyphens; without a tag or digest (the pin comes from --image-tag or --image-digest); at most 255 characters";

fn is_domain_component(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_domain(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && host.split('.').all(is_domain_component)
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator run: ".", "_", "__" or "-"+, followed by an alphanumeric
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl ImageRepo {
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = |why: &str| Err(format!("{s:?} is not a valid Docker repository ({why}): {REPO_RULE}"));
        if s.is_empty() || s.len() > 255 {
            return err("length");
        }
        let mut parts: Vec<&str> = s.split('/').collect();
        // The first component is a registry host when it looks like one (as docker decides).
        let first = parts[0];
        if parts.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost") {
            if !is_domain(first) {
                return err("registry host");
            }
            parts.remove(0);
        }
        if s.contains('@') {
            return err("a digest belongs in --image-digest");
        }
        if let Some(last) = parts.last() {
            if last.contains(':') {
                return err("a tag belongs in --image-tag");
            }
        }
        if !parts.iter().all(|p| is_path_component(p)) {
            return err("path");
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ImageTag {
    pub const RULE: &'static str = "an image tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, and not 'latest' (a floating tag cannot be rolled back to: tag each build, e.g. with the Git SHA or the Jenkins build number)";

    pub fn parse(s: &str) -> Result<Self, String> {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut chars = s.chars();
        let ok = chars.next().is_some_and(word) && s.len() <= 128 && chars.all(|c| word(c) || c == '.' || c == '-');
        if !ok {
            return Err(format!("{s:?} is not a valid image tag: {}", Self::RULE));
        }
        if s == "latest" {
            return Err(format!("image tag \"latest\" is refused: {}", Self::RULE));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Digest {
    pub const RULE: &'static str = "a digest is sha256:<64 lowercase hex digits> or sha512:<128 lowercase hex digits>";

    pub fn parse(s: &str) -> Result<Self, String> {
        let hex =
            |h: &str, n: usize| h.len() == n && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let ok = match s.split_once(':') {
            Some(("sha256", h)) => hex(h, 64),
            Some(("sha512", h)) => hex(h, 128),
            _ => false,
        };
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("{s:?} is not a valid image digest: {}", Self::RULE))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Pin {
    /// The pin as it appears in an AMI name, where ':' is not allowed: the tag itself, or
    /// `sha256-<first 16 hex digits>` (the recipe hash covers the full digest).
    pub fn label(&self) -> String {
        match self {
            Pin::Tag(t) => t.0.clone(),
            Pin::Digest(d) => {
                let (alg, hex) = d.0.split_once(':').unwrap_or(("sha256", &d.0));
                format!("{alg}-{}", &hex[..16.min(hex.len())])
            }
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pin {
            Pin::Tag(t) => write!(f, "{}:{}", self.repo.0, t.0),
            Pin::Digest(d) => write!(f, "{}@{}", self.repo.0, d.0),
        }
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pin::Tag(t) => f.write_str(&t.0),
            Pin::Digest(d) => f.write_str(&d.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        for ok in [
            "www",
            "dramafever/www",
            "registry.example.com/dramafever/www",
            "registry.example.com:5000/dramafever/image-resize",
            "localhost/a/b",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/www",
            "a__b/c.d/e--f",
        ] {
            assert!(ImageRepo::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Dramafever/www",
            "dramafever/www:1.0",
            "dramafever/www@sha256:00",
            "registry.example.com:/www",
            "-reg.example.com/www",
            "a/_b",
            "a/b_",
            "a/b___c",
            "a//b",
            "a/b;rm -rf",
            "a/$(id)",
            "a/b c",
            "../etc/passwd",
            "registry.example.com:99999999/www",
        ] {
            assert!(ImageRepo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags() {
        for ok in ["1.4.2", "v1", "build_2093", "abc-DEF.1", &"a".repeat(128)] {
            assert!(ImageTag::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "latest", ".1", "-1", "1;id", "$(id)", "`id`", "a b", "a\nb", "'a'", &"a".repeat(129)] {
            assert!(ImageTag::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ImageTag::parse("latest").unwrap_err().contains("rolled back"));
    }

    #[test]
    fn digests_and_refs() {
        let hex = "a".repeat(64);
        let d = Digest::parse(&format!("sha256:{hex}")).unwrap();
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse(&format!("md5:{hex}")).is_err());
        let repo = ImageRepo::parse("r.example.com/www").unwrap();
        let by_digest = ImageRef { repo: repo.clone(), pin: Pin::Digest(d) };
        assert_eq!(by_digest.to_string(), format!("r.example.com/www@sha256:{hex}"));
        assert_eq!(by_digest.pin.label(), "sha256-aaaaaaaaaaaaaaaa");
        let by_tag = ImageRef { repo, pin: Pin::Tag(ImageTag::parse("1.2").unwrap()) };
        assert_eq!(by_tag.to_string(), "r.example.com/www:1.2");
    }
}
