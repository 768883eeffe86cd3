//! Values placed verbatim in shell scripts and init files: the arguments of a container
//! command or health check, environment variable names and values (and the rule that
//! keeps secrets out of them), and the names of user templates.

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

pub const ENV_VALUE_RULE: &str = "an environment value is up to 1024 printable ASCII characters without quotes, $, backticks, backslashes, ;, &, |, <, >, parentheses or braces";

pub fn env_value(s: &str) -> Result<&str, String> {
    let ok = s.len() <= 1024 && s.chars().all(|c| (' '..='~').contains(&c) && !"'\"$`\\;&|<>(){}".contains(c));
    if !ok {
        return Err(format!("{s:?} is not allowed: {ENV_VALUE_RULE}"));
    }
    // A user name alone (`postgres://app@db/www`) is no secret; a password is.
    if super::urls::url_userinfos(s).iter().any(|u| u.contains(':')) {
        return Err(format!(
            "{:?} holds a password in a URL (user:password@): it would be baked into the AMI or its user data; {SECRETS_BELONG}",
            super::urls::strip_url_credentials(s)
        ));
    }
    Ok(s)
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
    fn template_names() {
        assert!(template_name("www").is_ok());
        assert!(template_name("../www").is_err());
    }
}
