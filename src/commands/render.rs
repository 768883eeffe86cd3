//! `drydock render init <service> (--image-tag T | --image-digest D)`: offline.

use serde_json::json;

use super::{parse_pin, recipe};
use crate::cli::RenderInitArgs;
use crate::config::Tree;
use crate::domain::ImageRef;
use crate::error::{Error, Result};
use crate::output::Reporter;
use crate::render::render_init;

pub fn init(tree: &Tree, args: &RenderInitArgs, out: &Reporter) -> Result<()> {
    let service = args.service.clone();
    let pin = parse_pin(&args.pin)?;
    let recipe = recipe(tree, &service)?;
    let image = ImageRef { repo: recipe.image.clone(), pin };
    let a = render_init(tree, recipe, &image).map_err(|e| Error::Usage(e.to_string()))?;
    let text = format!(
        "# ---- {} ({}, from {}) ----\n{}\n# ---- bootstrap (builder user data) ----\n{}",
        a.job_path,
        a.init.as_str(),
        a.template,
        a.job.trim_end(),
        a.bootstrap
    );
    out.result(
        &text,
        &json!({
            "command": "render",
            "service": service.as_str(),
            "image": image.to_string(),
            "init": a.init.as_str(),
            "template": a.template,
            "job_path": a.job_path,
            "job": a.job,
            "bootstrap": a.bootstrap,
        }),
    );
    Ok(())
}
