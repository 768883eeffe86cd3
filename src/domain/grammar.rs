//! Grammars for the small values that end up in shell scripts, init files, nginx files or
//! AWS calls. Each checker returns the value on success and, on failure, one sentence that
//! names the value and states the rule, so that config and flag errors read the same way.
//!
//! The grammars are deliberately narrower than what the target syntax could quote: a value
//! that never needs quoting can never be mis-quoted.

/// Characters of a "safe word": an argument of the container command or health check.
/// No whitespace, quotes, `$`, backtick, `;`, `&`, `|`, `<`, `>`, `(`, `)`, `{`, `}`,
/// `\`, `%` (systemd specifier), `#` or `*` (shell globbing and comments).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._:/=@+,-".contains(c)
}

pub const WORD_RULE: &str = "an argument is 1 to 256 characters of [A-Za-z0-9._:/=@+,-] (no spaces, quotes, $, backticks, ;, &, |, <, >, parentheses, braces, %, # or *; it is placed verbatim in shell and init files)";

pub fn word(s: &str) -> Result<&str, String> {
    if !s.is_empty() && s.len() <= 256 && s.chars().all(is_word_char) {
        Ok(s)
    } else {
        Err(format!("{s:?} is not allowed: {WORD_RULE}"))
    }
}

pub const ENV_NAME_RULE: &str = "an environment variable name is [A-Z_][A-Z0-9_]{0,127} (POSIX, upper case)";

/// Where secrets go instead of `env`: the end of every refusal of a secret.
pub const SECRETS_BELONG: &str =
    "secrets belong in SSM Parameter Store or Secrets Manager, referenced from [services.<name>.secrets]";

/// Parts of names that look like credentials (anywhere in the name): secrets never go
/// into user data, an AMI or a tag.
const SECRET_MARKERS: [&str; 11] = [
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "TOKEN",
    "CREDENTIAL",
    "PRIVATE_KEY",
    "PRIVATEKEY",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
];

/// Short markers that are credentials only as a whole `_`-separated word of the name
/// (`MYSQL_PWD`, `GITHUB_AUTH`, but not `AUTHOR_NAME`).
const SECRET_WORDS: [&str; 3] = ["PWD", "AUTH", "PASS"];

/// The marker that makes `name` look like a secret, if any.
pub fn secret_marker(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    SECRET_MARKERS
        .iter()
        .find(|m| upper.contains(*m))
        .or_else(|| SECRET_WORDS.iter().find(|w| upper.split('_').any(|part| part == **w)))
        .copied()
}

/// The grammar of an environment variable name alone (a secret's name is one).
pub fn env_var_name(s: &str) -> Result<&str, String> {
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && s.len() <= 128
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(s)
    } else {
        Err(format!("{s:?} is not allowed: {ENV_NAME_RULE}"))
    }
}

/// A name for a plain (non-secret) setting: the grammar, and no name that looks like a
/// credential.
pub fn env_name(s: &str) -> Result<&str, String> {
    env_var_name(s)?;
    if let Some(m) = secret_marker(s) {
        return Err(format!(
            "{s:?} looks like a secret (contains {m}): secrets must not be baked into an AMI or its user data; {SECRETS_BELONG} in the environment file (NAME = \"ssm:/path\")"
        ));
    }
    Ok(s)
}

/// The `user:password` parts of every `scheme://user:password@host` in `s` (a password,
/// or a userinfo that is nothing but a token, e.g. `https://ghp_…@github.com`).
fn url_userinfos(s: &str) -> Vec<&str> {
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

pub const ENV_VALUE_RULE: &str = "an environment value is up to 1024 printable ASCII characters without quotes, $, backticks, backslashes, ;, &, |, <, >, parentheses or braces";

pub fn env_value(s: &str) -> Result<&str, String> {
    let ok = s.len() <= 1024 && s.chars().all(|c| (' '..='~').contains(&c) && !"'\"$`\\;&|<>(){}".contains(c));
    if !ok {
        return Err(format!("{s:?} is not allowed: {ENV_VALUE_RULE}"));
    }
    // A user name alone (`postgres://app@db/www`) is no secret; a password is.
    if url_userinfos(s).iter().any(|u| u.contains(':')) {
        return Err(format!(
            "{:?} holds a password in a URL (user:password@): it would be baked into the AMI or its user data; {SECRETS_BELONG}",
            strip_url_credentials(s)
        ));
    }
    Ok(s)
}

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

pub const ROUTE_RULE: &str = "a route is a URL path prefix that begins and ends with '/', made of segments of [A-Za-z0-9._~-] (e.g. /, /img/, /api/bookmarks/), without '.' or '..' segments";

pub fn route(s: &str) -> Result<&str, String> {
    let err = || Err(format!("{s:?} is not a valid route: {ROUTE_RULE}"));
    if !s.starts_with('/') || !s.ends_with('/') || s.len() > 256 {
        return err();
    }
    if s == "/" {
        return Ok(s);
    }
    for seg in s[1..s.len() - 1].split('/') {
        let ok = !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg.chars().all(|c| c.is_ascii_alphanumeric() || "._~-".contains(c));
        if !ok {
            return err();
        }
    }
    Ok(s)
}

pub const PORT_RULE: &str = "a port is a whole number from 1 to 65535";

pub fn port(n: i64) -> Result<u16, String> {
    u16::try_from(n).ok().filter(|p| *p != 0).ok_or_else(|| format!("{n} is not a valid port: {PORT_RULE}"))
}

pub const HOST_RULE: &str = "a host name is dot-separated labels of [a-z0-9-] (1 to 63 characters, no leading or trailing hyphen), at most 253 characters";

pub fn host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

pub const SERVER_NAME_RULE: &str = "a server name is a host name (dot-separated labels of [a-z0-9-]), optionally starting with '*.', or '_' for any host";

pub fn server_name(s: &str) -> Result<&str, String> {
    let ok = s == "_" || host_name(s.strip_prefix("*.").unwrap_or(s));
    if ok {
        Ok(s)
    } else {
        Err(format!("{s:?} is not a valid nginx server name: {SERVER_NAME_RULE}"))
    }
}

pub const LISTEN_RULE: &str =
    "listen is a port (80), an IPv4 address and port (127.0.0.1:8080) or a bracketed IPv6 address and port ([::]:80)";

pub fn listen(s: &str) -> Result<&str, String> {
    let port_ok = |p: &str| p.parse::<i64>().ok().is_some_and(|n| port(n).is_ok());
    let ok = if let Some((addr, p)) = s.rsplit_once(':') {
        let addr_ok = if let Some(inner) = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            addr.parse::<std::net::Ipv4Addr>().is_ok()
        };
        addr_ok && port_ok(p)
    } else {
        port_ok(s)
    };
    if ok {
        Ok(s)
    } else {
        Err(format!("{s:?} is not a valid nginx listen address: {LISTEN_RULE}"))
    }
}

pub const RESOLVER_RULE: &str = "a resolver is an IPv4 address or a bracketed IPv6 address, with an optional :port (e.g. 169.254.169.253, the VPC's DNS, or 127.0.0.1:5353)";

pub fn resolver(s: &str) -> Result<&str, String> {
    let ok = s.parse::<std::net::Ipv4Addr>().is_ok()
        || s.parse::<std::net::SocketAddr>().is_ok()
        || s.strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
    if ok {
        Ok(s)
    } else {
        Err(format!("{s:?} is not a valid resolver: {RESOLVER_RULE}"))
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

pub const TEMPLATE_NAME_RULE: &str =
    "a template name is [a-z0-9][a-z0-9_-]{0,63}: a file name without folder or extension";

pub fn template_name(s: &str) -> Result<&str, String> {
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(s)
    } else {
        Err(format!("{s:?} is not a valid template name: {TEMPLATE_NAME_RULE}"))
    }
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
    fn words() {
        for ok in ["gunicorn", "--workers=4", "www.wsgi:app", "http://127.0.0.1:8000/health", "a,b"] {
            assert!(word(ok).is_ok(), "{ok}");
        }
        for bad in
            ["", "a b", "$(id)", "`id`", "a;b", "'a'", "\"a\"", "a|b", "a&b", "a>b", "%h", "{x}", "a\nb", "*", "#c"]
        {
            assert!(word(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn env() {
        assert!(env_name("DJANGO_SETTINGS_MODULE").is_ok());
        assert!(env_name("_X1").is_ok());
        assert!(env_name("lower").is_err());
        assert!(env_name("1X").is_err());
        assert!(env_name("A-B").is_err());
        assert!(env_name("DB_PASSWORD").unwrap_err().contains("secret"));
        for secret in [
            "DB_CREDENTIALS",
            "AWS_CREDENTIAL_FILE",
            "MYSQL_PWD",
            "GITHUB_AUTH",
            "AUTH",
            "BASIC_AUTH_USER",
            "STRIPE_APIKEY",
            "SSH_PRIVATEKEY",
            "GPG_PASSPHRASE",
            "SMTP_PASS",
            "OAUTH_CLIENT_SECRET",
        ] {
            let e = env_name(secret).expect_err(secret);
            assert!(e.contains("looks like a secret") && e.contains(SECRETS_BELONG), "{e}");
        }
        for fine in ["AUTHOR_NAME", "OAUTH_CALLBACK_URL", "PASSENGER_APP_ENV", "KEY_PREFIX", "LOG_FORMAT"] {
            assert!(env_name(fine).is_ok(), "{fine}");
        }
        let e = env_value("postgres://admin:pw@db/www").unwrap_err();
        assert!(e.contains("password in a URL") && e.contains(SECRETS_BELONG), "{e}");
        assert!(!e.contains("admin:pw"), "the refusal does not repeat the secret: {e}");
        assert!(env_value("redis://:hunter2@cache:6379/0").is_err());
        assert!(env_value("a https://x:y@h/ b").is_err());
        assert!(env_value("postgres://u@db.internal:5432/app?sslmode=require").is_ok());
        assert!(env_value("").is_ok());
        for bad in ["$(id)", "`id`", "a;b", "it's", "a\nb", "a\tb", "{x}", "\\n"] {
            assert!(env_value(bad).is_err(), "{bad:?}");
        }
    }

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
    fn routes() {
        for ok in ["/", "/img/", "/api/bookmarks/", "/a.b~c-d_e/"] {
            assert!(route(ok).is_ok(), "{ok}");
        }
        for bad in ["", "img/", "/img", "//", "/a//b/", "/../", "/./", "/a b/", "/a;b/", "/a}/", "/$x/", "/a{b/"] {
            assert!(route(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nginx_values() {
        assert!(server_name("www.example.com").is_ok());
        assert!(server_name("*.example.com").is_ok());
        assert!(server_name("_").is_ok());
        for bad in ["a;b", "example.com}", "a b", "Example.com", "-a.com", "a..com"] {
            assert!(server_name(bad).is_err(), "{bad}");
        }
        for ok in ["80", "127.0.0.1:8080", "[::]:80"] {
            assert!(listen(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "65536", "localhost:80", "80;", "1.2.3.4:", "[::]"] {
            assert!(listen(bad).is_err(), "{bad}");
        }
        for ok in ["169.254.169.253", "127.0.0.1:5353", "[::1]", "[::1]:53"] {
            assert!(resolver(ok).is_ok(), "{ok}");
        }
        for bad in ["dns.example.com", "1.2.3.4;", ""] {
            assert!(resolver(bad).is_err(), "{bad}");
        }
    }

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
        assert_eq!(port(8080), Ok(8080));
        assert!(port(0).is_err());
        assert!(port(70000).is_err());
        assert!(template_name("www").is_ok());
        assert!(template_name("../www").is_err());
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
