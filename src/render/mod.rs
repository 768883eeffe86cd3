//! Rendering: init jobs (upstart, systemd), the builder's bootstrap script, and NGINX
//! routes. Pure functions of validated config: handlebars in strict mode (a missing
//! variable is an error, not an empty string) and without HTML escaping (these are shell,
//! init and nginx files, where `&amp;` would be a bug).

pub mod docker;
mod init;
mod nginx;
pub mod nginx_check;
pub mod upstart_check;

use handlebars::Handlebars;
use serde::Serialize;

pub use init::{render_init, InitArtifacts, BAKE_FORMAT, RUNTIME_ENV_FILE};
pub use nginx::{placeholder_dns, render_routes, RouteTarget};

/// A template that could not be compiled or rendered, with the file it came from.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct RenderError {
    pub source_name: String,
    pub message: String,
}

pub(crate) fn render<T: Serialize>(source_name: &str, text: &str, ctx: &T) -> Result<String, RenderError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.render_template(text, ctx)
        .map_err(|e| RenderError { source_name: source_name.to_owned(), message: e.to_string().replace('\n', " ") })
}

#[cfg(test)]
mod tests;

const RUNTIME: &str = include_str!("templates/runtime-user-data.yaml.hbs");

/// The launch template's user data: the release's runtime settings, which cloud-init
/// writes to /etc/drydock/runtime.env at boot (`#cloud-config` write_files: its first
/// stage, before network-online.target and so before the init job starts). `env` holds
/// validated names and values only: a value is printable ASCII without quotes, so it is
/// literal in the YAML block.
pub fn runtime_user_data(
    release: &crate::domain::ReleaseName,
    env: &[(String, String)],
    secrets: &std::collections::BTreeMap<String, crate::domain::secret::SecretRef>,
) -> Result<String, RenderError> {
    #[derive(Serialize)]
    struct Ctx<'a> {
        /// As its group name, `<cluster>-vNNN`.
        release: &'a crate::domain::ReleaseName,
        lines: Vec<String>,
        /// `NAME=reference` lines: where the instance reads each secret, never a value.
        secrets: Vec<String>,
    }
    let lines = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let secrets = secrets.iter().map(|(k, r)| format!("{k}={r}")).collect();
    render("built-in runtime user data", RUNTIME, &Ctx { release, lines, secrets })
}
