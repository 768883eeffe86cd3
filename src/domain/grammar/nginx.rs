//! Values placed in nginx files: routes, ports, server names, listen addresses, resolvers.

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn ports() {
        assert_eq!(port(8080), Ok(8080));
        assert!(port(0).is_err());
        assert!(port(70000).is_err());
    }
}
