//! NGINX routing: one `location` per service route, each to its service's ELB.

use serde::Serialize;

use super::{render, RenderError};
use crate::config::{Environment, Tree};

const BUILTIN: &str = include_str!("templates/nginx.conf.hbs");

/// Where a service's traffic goes: its ELB's name and DNS name (looked up in AWS, or a
/// placeholder when rendering offline).
#[derive(Debug, Clone)]
pub struct RouteTarget {
    pub service: String,
    pub elb_name: String,
    pub elb_dns: String,
}

#[derive(Serialize)]
struct Route {
    prefix: String,
    service: String,
    elb_name: String,
    elb_dns: String,
    port: u16,
}

#[derive(Serialize)]
struct RoutesContext {
    env: String,
    listen: String,
    server_names: String,
    resolvers: String,
    resolver_valid: String,
    routes: Vec<Route>,
}

/// Renders the routes of `env`. `targets` must hold every routed service; the DNS names
/// must already be validated host names.
pub fn render_routes(tree: &Tree, env: &Environment, targets: &[RouteTarget]) -> Result<String, RenderError> {
    let mut routes = Vec::new();
    for (service, s) in &env.services {
        let Some(prefix) = &s.route else { continue };
        let t = targets.iter().find(|t| t.service == service.as_str()).ok_or_else(|| RenderError {
            source_name: env.file.display().to_string(),
            message: format!("no ELB known for service {service}"),
        })?;
        routes.push(Route {
            prefix: prefix.clone(),
            service: service.to_string(),
            elb_name: t.elb_name.clone(),
            elb_dns: t.elb_dns.clone(),
            port: s.listener.port,
        });
    }
    // Longest prefix first: nginx picks the longest matching prefix anyway, but a reader
    // of the file should see the same order; `/` (the default) ends up last.
    routes.sort_by(|a, b| b.prefix.len().cmp(&a.prefix.len()).then(a.prefix.cmp(&b.prefix)));
    let ctx = RoutesContext {
        env: env.name.to_string(),
        listen: env.nginx.listen.clone(),
        server_names: env.nginx.server_names.join(" "),
        resolvers: env.nginx.resolvers.join(" "),
        resolver_valid: format!("{}s", env.nginx.resolver_valid.as_secs()),
        routes,
    };
    let (name, text) = match env.nginx.template.as_ref().and_then(|t| tree.templates.nginx.get(t)) {
        Some(f) => (f.display.display().to_string(), f.text.as_str()),
        None => ("built-in nginx routes".to_owned(), BUILTIN),
    };
    render(&name, text, &ctx)
}

/// The DNS name an ELB of this name would have, for rendering offline (`drydock check`).
pub fn placeholder_dns(elb_name: &str, region: &str) -> String {
    format!("{elb_name}-0000000000.{region}.elb.amazonaws.com")
}
