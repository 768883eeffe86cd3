//! URLs: the credentials in one, stripped before it is written anywhere, and the two URLs
//! drydock takes (the Jenkins build URL recorded as a tag, the endpoint of an emulator).

/// The `user:password` parts of every `scheme://user:password@host` in `s` (a password,
/// or a userinfo that is nothing but a token, e.g. `https://ghp_…@github.com`).
pub(super) fn url_userinfos(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let tail = &rest[i + 3..];
        let end = tail.find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace()).unwrap_or(tail.len());
        if let Some(at) = tail[..end].rfind('@') {
            out.push(&tail[..at]);
        }
        rest = &tail[end..];
    }
    out
}

/// `s` with the userinfo (`user:password@`) of every URL in it removed: what may be
/// written to a tag, a lock or a log. `https://bob:hunter2@ci.example.com/job/1/` becomes
/// `https://ci.example.com/job/1/`; text that holds no URL is returned as it is.
pub fn strip_url_credentials(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace()).unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => out.push_str(&authority[at + 1..]),
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

pub const BUILD_URL_RULE: &str =
    "a build URL is an http(s) URL of at most 256 printable characters without spaces or quotes";

/// `--build-url` / `BUILD_URL`: recorded as an AMI tag value (AWS allows 256 characters).
/// Check it, then write `strip_url_credentials` of it: a Jenkins URL may carry `user:token@`.
pub fn build_url(s: &str) -> Result<&str, String> {
    let ok = (s.starts_with("http://") || s.starts_with("https://"))
        && s.len() <= 256
        && s.chars().all(|c| ('!'..='~').contains(&c) && !"'\"`\\<>".contains(c));
    if ok {
        Ok(s)
    } else {
        Err(format!("{:?} is not a valid build URL: {BUILD_URL_RULE}", strip_url_credentials(s)))
    }
}

pub const ENDPOINT_RULE: &str = "an endpoint is an http:// or https:// URL with a host and an optional port from 1 to 65535, without user or password, e.g. http://127.0.0.1:5000";

/// `--endpoint-url` / `AWS_ENDPOINT_URL`: parsed as a URL (scheme, host, port) before any
/// AWS call, so that a junk value is a one-line usage error and not a failed request.
pub fn endpoint_url(s: &str) -> Result<&str, String> {
    let shown = strip_url_credentials(s);
    let err = |why: &str| format!("{shown:?} is not a valid endpoint ({why}): {ENDPOINT_RULE}");
    if s.is_empty() || s.len() > 2048 || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(err("printable ASCII without spaces only"));
    }
    let u = url::Url::parse(s).map_err(|e| err(&e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(err("the scheme is not http or https"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(err("no host"));
    }
    if u.port() == Some(0) {
        return Err(err("port 0"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(err("credentials come from the AWS credential chain, not the URL"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_stripped() {
        for (raw, clean) in [
            ("https://bob:hunter2@ci.example.com/job/www/42/", "https://ci.example.com/job/www/42/"),
            ("https://token@ci.example.com", "https://ci.example.com"),
            ("https://a:b@c@ci.example.com:8443/x?y=z@w", "https://ci.example.com:8443/x?y=z@w"),
            ("jenkins@ci pid 7 build https://u:p@ci/job/1/", "jenkins@ci pid 7 build https://ci/job/1/"),
            ("https://ci.example.com/job/www/42/", "https://ci.example.com/job/www/42/"),
            ("x https://u:p@a/ y http://v:q@b", "x https://a/ y http://b"),
            ("no url at all", "no url at all"),
            ("://@", "://"),
            ("ünï://ü:ö@ä/ß", "ünï://ä/ß"),
        ] {
            assert_eq!(strip_url_credentials(raw), clean, "{raw}");
        }
    }

    #[test]
    fn build_and_endpoint_urls() {
        assert!(build_url("https://jenkins.example.com/job/www/42/").is_ok());
        assert!(build_url("https://x/ y").is_err());
        assert!(build_url("file:///etc/passwd").is_err());
        assert!(!build_url("file://bob:hunter2@x/").unwrap_err().contains("hunter2"));
        for ok in
            ["http://127.0.0.1:5000", "https://ec2.us-east-1.amazonaws.com", "http://[::1]:4566/", "http://localhost"]
        {
            assert!(endpoint_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://",
            "http://[::1",
            "http://localhost:99999",
            "http://localhost:0",
            "localhost:4566",
            "ftp://x",
            "http://a b",
            "",
            "http://bob:hunter2@localhost:4566",
            "http://ünïcode.example",
        ] {
            let e = endpoint_url(bad).expect_err(bad);
            assert!(e.contains("is not a valid endpoint") && !e.contains('\n') && !e.contains("hunter2"), "{e}");
        }
    }
}
