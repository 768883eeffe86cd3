//! What an init job asks of Docker: the version that introduced each `docker run` flag it
//! uses (from Docker's release notes), and whether its image is in ECR, where the builder
//! must log in first. `drydock check` compares the first with `[base] docker`; the
//! bootstrap checks it again on the builder against the Docker that is really there.

use crate::config::DockerVersion;
use crate::domain::ImageRepo;

/// One requirement: `flag` needs Docker `version` or newer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub flag: &'static str,
    pub version: DockerVersion,
}

const fn v(a: u32, b: u32) -> DockerVersion {
    DockerVersion(a, b, 0)
}

/// `docker run` flags newer than Docker 1.6 (what Ubuntu 14.04's docker.io is), and a few
/// older ones that a job might use, with the release that introduced them.
const FLAGS: &[(&str, DockerVersion)] = &[
    ("--health-start-period", v(17, 5)),
    ("--mount", v(17, 6)),
    ("--init", v(1, 13)),
    ("--cpus", v(1, 13)),
    ("--stop-timeout", v(1, 13)),
    ("--health-cmd", v(1, 12)),
    ("--health-interval", v(1, 12)),
    ("--health-timeout", v(1, 12)),
    ("--health-retries", v(1, 12)),
    ("--no-healthcheck", v(1, 12)),
    ("--sysctl", v(1, 12)),
    ("--pids-limit", v(1, 11)),
    ("--tmpfs", v(1, 10)),
    ("--shm-size", v(1, 10)),
    ("--oom-score-adj", v(1, 10)),
    ("--userns", v(1, 10)),
    ("--ip", v(1, 10)),
    ("--network", v(1, 9)),
    ("--stop-signal", v(1, 9)),
    ("--memory-reservation", v(1, 9)),
    ("--log-opt", v(1, 8)),
    ("--memory-swappiness", v(1, 8)),
    ("--group-add", v(1, 8)),
    ("--log-driver", v(1, 6)),
    ("--ulimit", v(1, 6)),
    ("--label", v(1, 6)),
    ("--cgroup-parent", v(1, 6)),
];

/// `--log-opt tag=…` came in 1.9 (1.8 had `syslog-tag`).
const LOG_TAG: (&str, DockerVersion) = ("--log-opt tag=", v(1, 9));
/// `docker login --password-stdin`, which the ECR login uses.
const ECR_LOGIN: (&str, DockerVersion) = ("an ECR login", v(17, 7));

/// What the job's `docker run`/`docker create` lines (and the image's registry) need, the
/// newest first.
pub fn needs(job: &str, image: &ImageRepo) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::new();
    let mut add = |flag: &'static str, version: DockerVersion| {
        if !out.iter().any(|n| n.flag == flag) {
            out.push(Need { flag, version });
        }
    };
    for line in job.lines().filter(|l| l.contains("docker run") || l.contains("docker create")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let name = w.split_once('=').map_or(*w, |(n, _)| n);
            if let Some((flag, version)) = FLAGS.iter().find(|(f, _)| *f == name) {
                add(flag, *version);
            }
            let value = if w.contains('=') { w.split_once('=').map(|(_, v)| v) } else { words.get(i + 1).copied() };
            if name == "--log-opt" && value.is_some_and(|v| v.starts_with("tag=")) {
                add(LOG_TAG.0, LOG_TAG.1);
            }
        }
    }
    if ecr(image).is_some() {
        add(ECR_LOGIN.0, ECR_LOGIN.1);
    }
    out.sort_by_key(|n| std::cmp::Reverse(n.version));
    out
}

/// An image in Amazon ECR: `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ecr {
    pub registry: String,
    pub region: String,
}

pub fn ecr(image: &ImageRepo) -> Option<Ecr> {
    let (host, _) = image.as_str().split_once('/')?;
    let rest = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let (account, rest) = rest.split_once(".dkr.ecr.")?;
    let ok_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let ok_region = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (ok_account && ok_region).then(|| Ecr { registry: host.to_owned(), region: rest.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> ImageRepo {
        ImageRepo::parse(s).unwrap()
    }

    #[test]
    fn flags_and_their_versions_newest_first() {
        let job = "exec /usr/bin/docker run --rm --name x --log-driver=syslog --log-opt tag=www --memory=1536m \
                   --env-file /run/drydock/www.env -p 8080:8000 --health-cmd 'curl -fsS http://127.0.0.1:8000/health' \
                   --health-interval 15s registry.example.com/www:1\n";
        let n = needs(job, &repo("registry.example.com/www"));
        let flags: Vec<_> = n.iter().map(|n| (n.flag, n.version.to_string())).collect();
        assert_eq!(
            flags,
            [
                ("--health-cmd", "1.12".to_owned()),
                ("--health-interval", "1.12".to_owned()),
                ("--log-opt tag=", "1.9".to_owned()),
                ("--log-opt", "1.8".to_owned()),
                ("--log-driver", "1.6".to_owned()),
            ]
        );
        // Only docker run/create lines count; old flags need nothing.
        assert_eq!(
            needs("pre-start exec /bin/echo --init\nexec /usr/bin/docker run --rm -p 1:2 x\n", &repo("r/x")),
            []
        );
        assert_eq!(needs("ExecStart=/usr/bin/docker run --init x\n", &repo("r/x"))[0].version, DockerVersion(1, 13, 0));
    }

    #[test]
    fn ecr_images_need_a_login() {
        let e = ecr(&repo("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app")).unwrap();
        assert_eq!(
            e,
            Ecr { registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(), region: "eu-west-1".into() }
        );
        assert_eq!(ecr(&repo("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app")).unwrap().region, "cn-north-1");
        for not in ["registry.example.com/www", "12345.dkr.ecr.us-east-1.amazonaws.com/app", "ecr.amazonaws.com/x/y"] {
            assert_eq!(ecr(&repo(not)), None, "{not}");
        }
        let n = needs("", &repo("123456789012.dkr.ecr.us-east-1.amazonaws.com/app"));
        assert_eq!(n, [Need { flag: "an ECR login", version: DockerVersion(17, 7, 0) }]);
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(DockerVersion::parse("1.6").unwrap(), DockerVersion(1, 6, 0));
        assert_eq!(DockerVersion::parse("20.10.24").unwrap().to_string(), "20.10.24");
        assert_eq!(DockerVersion::parse("17.07").unwrap().to_string(), "17.07");
        assert_eq!(DockerVersion::parse("1.6").unwrap().to_string(), "1.6");
        assert!(DockerVersion::parse("1.12").unwrap() > DockerVersion::parse("1.9").unwrap());
        for bad in ["1", "1.x", "v1.6", "1.6.2.1", "", "1..2"] {
            assert!(DockerVersion::parse(bad).is_err(), "{bad}");
        }
    }
}
