//! `drydock check`: validate the whole tree and render every artifact offline. The tree
//! is already loaded (and so validated) when this runs; here we render and test.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::cli::CheckArgs;
use crate::config::Tree;
use crate::domain::{ImageRef, ImageTag, Pin};
use crate::error::{Error, Result};
use crate::output::Reporter;
use crate::render::nginx_check::{find_nginx, test_routes};
use crate::render::{placeholder_dns, render_init, render_routes, RouteTarget};

/// The tag used to render init jobs offline.
const SAMPLE_TAG: &str = "0.0.0-check";

pub fn run(tree: &Tree, args: &CheckArgs, out: &Reporter) -> Result<()> {
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    let mut rendered = Vec::new();
    let tag = ImageTag::parse(SAMPLE_TAG).map_err(Error::Usage)?;
    let bash = which("bash");

    for (service, recipe) in &tree.recipes {
        let image = ImageRef { repo: recipe.image.clone(), pin: Pin::Tag(tag.clone()) };
        match render_init(tree, recipe, &image) {
            Ok(a) => {
                if let Some(bash) = &bash {
                    if let Err(m) = bash_n(bash, &a.bootstrap) {
                        problems.push(format!("{}: the rendered bootstrap does not parse: {m}", recipe.file.display()));
                    }
                }
                lines.push(format!(
                    "ok   {:<28} {} job from {}",
                    recipe.file.display().to_string(),
                    a.init.as_str(),
                    a.template
                ));
                rendered.push(json!({"artifact": "init", "service": service.as_str(), "init": a.init.as_str(), "template": a.template}));
            }
            Err(e) => problems.push(e.to_string()),
        }
    }

    let nginx = if args.no_nginx { None } else { find_nginx() };
    let mut nginx_tested = Vec::new();
    for (name, env) in &tree.environments {
        let targets: Vec<RouteTarget> = env
            .services
            .iter()
            .map(|(s, se)| RouteTarget {
                service: s.to_string(),
                elb_name: se.elb_name.to_string(),
                elb_dns: placeholder_dns(se.elb_name.as_str(), &env.region),
            })
            .collect();
        match render_routes(tree, env, &targets) {
            Ok(routes) => {
                let mut how = String::from("routes rendered");
                if let Some(nginx) = &nginx {
                    match test_routes(nginx, &routes) {
                        Ok(()) => {
                            how.push_str(", nginx -t passed");
                            nginx_tested.push(name.to_string());
                        }
                        Err(m) => problems.push(format!("{}: the rendered routes fail {m}", env.file.display())),
                    }
                }
                lines.push(format!(
                    "ok   {:<28} {} services, {how}",
                    env.file.display().to_string(),
                    env.services.len()
                ));
                rendered.push(json!({"artifact": "routes", "env": name.as_str()}));
            }
            Err(e) => problems.push(e.to_string()),
        }
    }

    if !problems.is_empty() {
        return Err(Error::Usage(problems.join("\n")));
    }
    let nginx_note = match (&nginx, args.no_nginx) {
        (_, true) => "nginx -t skipped (--no-nginx)".to_owned(),
        (None, false) => "nginx -t skipped: nginx is not installed".to_owned(),
        (Some(_), false) => format!("nginx -t passed for {} environment(s)", nginx_tested.len()),
    };
    let text = format!(
        "{}\nchecked {} recipe(s) and {} environment(s); {nginx_note}\n",
        lines.join("\n"),
        tree.recipes.len(),
        tree.environments.len()
    );
    out.result(
        &text,
        &json!({
            "command": "check",
            "ok": true,
            "recipes": tree.recipes.keys().map(|s| s.as_str()).collect::<Vec<_>>(),
            "environments": tree.environments.keys().map(|e| e.as_str()).collect::<Vec<_>>(),
            "rendered": rendered,
            "nginx_test": nginx_note,
        }),
    );
    Ok(())
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(bin)).find(|p| p.is_file())
}

/// `bash -n` on a script given on stdin.
fn bash_n(bash: &std::path::Path, script: &str) -> std::result::Result<(), String> {
    let mut child = Command::new(bash)
        .arg("-n")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}
