//! One module per command: each turns parsed flags into validated requests, calls the
//! core, and reports. Shared flag parsing lives here.

pub mod check;
pub mod completions;
pub mod render;

use crate::cli::ImagePin;
use crate::config::{Recipe, Tree};
use crate::domain::{Digest, EnvName, ImageTag, Pin, ServiceName};
use crate::error::{Error, Result};

/// `--image-tag` / `--image-digest`, through their grammars.
pub fn parse_pin(pin: &ImagePin) -> Result<Pin> {
    match (&pin.image_tag, &pin.image_digest) {
        (Some(t), None) => ImageTag::parse(t)
            .map(Pin::Tag)
            .map_err(|m| Error::Usage(format!("--image-tag: {m}"))),
        (None, Some(d)) => Digest::parse(d)
            .map(Pin::Digest)
            .map_err(|m| Error::Usage(format!("--image-digest: {m}"))),
        _ => Err(Error::Usage(
            "give exactly one of --image-tag and --image-digest".into(),
        )),
    }
}

pub fn parse_service(s: &str) -> Result<ServiceName> {
    ServiceName::parse(s).map_err(|m| Error::Usage(format!("service: {m}")))
}

pub fn parse_env(s: &str) -> Result<EnvName> {
    EnvName::parse(s).map_err(|m| Error::Usage(format!("--env: {m}")))
}

/// The recipe of a service, or an error listing the services that have one.
pub fn recipe<'a>(tree: &'a Tree, service: &ServiceName) -> Result<&'a Recipe> {
    tree.recipe(service).ok_or_else(|| {
        let known: Vec<&str> = tree.recipes.keys().map(|s| s.as_str()).collect();
        Error::Usage(format!(
            "service {service} has no amis/{service}.toml in {}; services with a recipe: {}",
            tree.dir.display(),
            if known.is_empty() {
                "(none)".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })
}
