//! Loading a config tree (`-C DIR`): `amis/*.toml`, `environments/*.toml` and the
//! template folders. Everything is validated here, before any AWS call; an error names
//! the file, the line, the key and the rule.

pub mod model;
mod progressive;
mod raw;
mod scaling;
mod source;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use model::*;
use source::Source;

use crate::domain::{grammar, EnvName, ServiceName};

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Dotted key path (`services.www.route`); empty for whole-file problems.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a tree; reported together so that one run shows them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    fn single(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self(vec![ConfigError { file: file.into(), line: None, key: String::new(), message: message.into() }])
    }
}

/// Files of `dir/sub` ending in `suffix`, sorted by name, as (stem, display path, text).
fn read_folder(dir: &Path, sub: &str, suffix: &str, errors: &mut Vec<ConfigError>) -> Vec<(String, Source)> {
    let folder = dir.join(sub);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(suffix) && !n.starts_with('.'))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        let display = PathBuf::from(sub).join(&n);
        match std::fs::read_to_string(folder.join(&n)) {
            Ok(text) => {
                let stem = n[..n.len() - suffix.len()].to_owned();
                out.push((stem, Source { display, text }));
            }
            Err(e) => errors.push(ConfigError {
                file: display,
                line: None,
                key: String::new(),
                message: format!("cannot be read: {e}"),
            }),
        }
    }
    out
}

/// Loads and validates the whole tree. Every file is checked even when one fails, so that
/// `drydock check` lists every problem at once.
pub fn load(dir: &Path) -> Result<Tree, ConfigErrors> {
    if !dir.join("amis").is_dir() && !dir.join("environments").is_dir() {
        return Err(ConfigErrors::single(
            dir,
            "holds neither amis/ nor environments/: point -C/--config-dir at a drydock config tree",
        ));
    }
    let mut errors = Vec::new();

    let mut templates = Templates::default();
    for (sub, suffix) in [("upstart", ".conf.hbs"), ("systemd", ".service.hbs"), ("nginx", ".conf.hbs")] {
        for (stem, src) in read_folder(dir, sub, suffix, &mut errors) {
            if let Err(m) = grammar::template_name(&stem) {
                errors.push(ConfigError {
                    file: src.display,
                    line: None,
                    key: String::new(),
                    message: format!("bad file name: {m}"),
                });
                continue;
            }
            let t = TemplateFile { display: src.display, text: src.text };
            match sub {
                "upstart" => templates.upstart.insert(stem, t),
                "systemd" => templates.systemd.insert(stem, t),
                _ => templates.nginx.insert(stem, t),
            };
        }
    }

    let mut recipes = BTreeMap::new();
    let mut host_ports: validate::HostPorts = BTreeMap::new();
    for (stem, src) in read_folder(dir, "amis", ".toml", &mut errors) {
        host_ports.insert(stem.clone(), None);
        let service = match ServiceName::parse(&stem) {
            Ok(s) => s,
            Err(m) => {
                errors.push(src.error(&[], format!("bad file name: {m}")));
                continue;
            }
        };
        let raw: raw::Recipe = match toml::from_str(&src.text) {
            Ok(r) => r,
            Err(e) => {
                errors.push(src.toml_error(&e));
                continue;
            }
        };
        match validate::recipe(&src, service.clone(), raw) {
            Ok(r) => {
                let (folder, set) = match r.init {
                    InitSystem::Upstart => ("upstart", &templates.upstart),
                    InitSystem::Systemd => ("systemd", &templates.systemd),
                };
                if let Some(t) = &r.template {
                    if !set.contains_key(t) {
                        let ext = if r.init == InitSystem::Upstart { "conf" } else { "service" };
                        errors.push(src.error(
                            &["template"],
                            format!(
                                "{folder}/{t}.{ext}.hbs does not exist; the templates in {folder}/ are: {}",
                                names(set)
                            ),
                        ));
                        continue;
                    }
                }
                host_ports.insert(stem, Some(r.host_port));
                recipes.insert(service, r);
            }
            Err(es) => errors.extend(es),
        }
    }

    let mut environments = BTreeMap::new();
    let mut env_sources = BTreeMap::new();
    for (stem, src) in read_folder(dir, "environments", ".toml", &mut errors) {
        let name = match EnvName::parse(&stem) {
            Ok(n) => n,
            Err(m) => {
                errors.push(src.error(&[], format!("bad file name: {m}")));
                continue;
            }
        };
        let raw: raw::Environment = match toml::from_str(&src.text) {
            Ok(r) => r,
            Err(e) => {
                errors.push(src.toml_error(&e));
                continue;
            }
        };
        match validate::environment(&src, name.clone(), raw, &host_ports) {
            Ok(e) => {
                if let Some(t) = &e.nginx.template {
                    if !templates.nginx.contains_key(t) {
                        errors.push(src.error(
                            &["nginx", "template"],
                            format!(
                                "nginx/{t}.conf.hbs does not exist; the templates in nginx/ are: {}",
                                names(&templates.nginx)
                            ),
                        ));
                        continue;
                    }
                }
                environments.insert(name.clone(), e);
                env_sources.insert(name, src);
            }
            Err(es) => errors.extend(es),
        }
    }
    errors.extend(validate::cross_checks(&environments, &env_sources));

    if errors.is_empty() {
        Ok(Tree { dir: dir.to_owned(), recipes, environments, templates })
    } else {
        Err(ConfigErrors(errors))
    }
}

fn names(set: &BTreeMap<String, TemplateFile>) -> String {
    if set.is_empty() {
        "(none)".to_owned()
    } else {
        set.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests;
