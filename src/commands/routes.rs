//! `drydock routes --env E [--out FILE] [--check] [--reload-cmd CMD] [--dry-run]`: the
//! NGINX front door, one `location` per service route, `proxy_pass` to each service's ELB
//! through a resolver and a variable. Written atomically; identical output is not
//! rewritten (and reported `unchanged`); `--check` runs `nginx -t` on the result first;
//! `--reload-cmd` runs only when the file changed and passed the check.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::{environment, preflight};
use crate::cli::{Command, Global, RoutesArgs};
use crate::cloud::{elb, Cloud};
use crate::config::Tree;
use crate::domain::grammar;
use crate::error::{Error, Result};
use crate::output::Reporter;
use crate::render::nginx_check::{find_nginx, test_routes};
use crate::render::{render_routes, RouteTarget};

/// Writes `text` to `path` atomically (a temporary file in the same folder, fsync,
/// rename). Returns false, touching nothing, when the file already holds exactly `text`.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<bool> {
    if std::fs::read(path).map(|old| old == text.as_bytes()).unwrap_or(false) {
        return Ok(false);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "routes".into());
    let tmp = dir.join(format!(".{name}.drydock-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable once the folder is synced.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(true)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub async fn run(tree: &Tree, global: &Global, args: &RoutesArgs, out: &Reporter, cmd: &Command) -> Result<()> {
    preflight(tree, cmd)?;
    let env = environment(tree, &args.env)?;
    let nginx = if args.check {
        Some(
            find_nginx()
                .ok_or_else(|| Error::Usage("--check: nginx is not installed (nor $DRYDOCK_NGINX set)".into()))?,
        )
    } else {
        None
    };
    let region = global.region.clone().unwrap_or_else(|| env.region.clone());
    let cloud = Cloud::connect_as(&region, global.endpoint_url.as_deref(), env.profile.as_deref()).await;
    let label = format!("routes of {}", env.name);
    let elbs = elb::describe_all(&cloud).await.map_err(|e| Error::Failed(format!("{label}: {e}")))?;

    let mut targets = Vec::new();
    let mut missing = Vec::new();
    for (service, svc) in &env.services {
        if svc.route.is_none() {
            continue;
        }
        match elbs.get(svc.elb_name.as_str()) {
            Some(e) => {
                // A DNS name from AWS still goes through the host grammar before it
                // reaches nginx.
                if !grammar::host_name(&e.dns) {
                    return Err(Error::Failed(format!(
                        "{label}: ELB {} has DNS name {:?}, which is not a host name",
                        e.name, e.dns
                    )));
                }
                targets.push(RouteTarget {
                    service: service.to_string(),
                    elb_name: e.name.clone(),
                    elb_dns: e.dns.clone(),
                });
            }
            None => missing.push(format!("{service} (ELB {})", svc.elb_name)),
        }
    }
    if !missing.is_empty() {
        return Err(Error::Failed(format!(
            "{label}: no ELB yet for {}: deploy those services to {} first; nothing was written",
            missing.join(", "),
            env.name
        )));
    }
    let text = render_routes(tree, env, &targets).map_err(|e| Error::Usage(e.to_string()))?;

    if let Some(n) = &nginx {
        test_routes(n, &text)
            .map_err(|m| Error::Failed(format!("{label}: the rendered routes fail {m}; nothing was written")))?;
        out.progress(&format!("{label}: nginx -t passed"));
    }
    let routes: Vec<_> = env
        .services
        .iter()
        .filter_map(|(s, svc)| {
            let t = targets.iter().find(|t| t.service == s.as_str())?;
            Some(json!({"service": s.as_str(), "route": svc.route, "elb": t.elb_name, "dns": t.elb_dns}))
        })
        .collect();

    let Some(path) = &args.out else {
        out.result(&text, &json!({"command": "routes", "env": env.name.as_str(), "outcome": if args.dry_run { "planned" } else { "rendered" }, "results": routes, "config": text}));
        return Ok(());
    };
    let same = std::fs::read(path).map(|old| old == text.as_bytes()).unwrap_or(false);
    let (outcome, changed) = if args.dry_run {
        ("planned", !same)
    } else {
        let changed = write_atomically(path, &text)
            .map_err(|e| Error::Failed(format!("{label}: cannot write {}: {e}", path.display())))?;
        (if changed { "written" } else { "unchanged" }, changed)
    };
    let mut reloaded = false;
    if let (Some(cmdline), true, false) = (&args.reload_cmd, changed, args.dry_run) {
        out.progress(&format!("{label}: {} changed; running {cmdline:?}", path.display()));
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmdline)
            // Its output is progress, not our result: stdout stays one document.
            .stdout(std::process::Stdio::from(std::io::stderr()))
            .status()
            .map_err(|e| Error::Failed(format!("{label}: cannot run --reload-cmd: {e}")))?;
        if !status.success() {
            return Err(Error::NeedsAttention(format!(
                "{label}: {} was written, but --reload-cmd {cmdline:?} failed ({status}); nginx may still serve the old routes",
                path.display()
            )));
        }
        reloaded = true;
    }
    let verb = match outcome {
        "planned" if changed => "would change",
        "planned" => "would stay unchanged",
        "written" => "written",
        _ => "unchanged",
    };
    out.result(
        &format!("{}: {verb} ({} routes){}\n", path.display(), routes.len(), if reloaded { "; reloaded" } else { "" }),
        &json!({
            "command": "routes", "env": env.name.as_str(), "outcome": outcome, "file": path, "changed": changed,
            "checked": nginx.is_some(), "reloaded": reloaded, "results": routes,
        }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_identical_files_untouched() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("routes.conf");
        assert!(write_atomically(&p, "a\n").unwrap(), "a new file is written");
        let m1 = std::fs::metadata(&p).unwrap().modified().unwrap();
        assert!(!write_atomically(&p, "a\n").unwrap(), "identical: not rewritten");
        assert_eq!(std::fs::metadata(&p).unwrap().modified().unwrap(), m1);
        assert!(write_atomically(&p, "b\n").unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b\n");
        let leftovers: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file left");
    }
}
