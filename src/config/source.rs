//! One config file's text, and the mapping from a key path (`services.www.route`) or a
//! byte span back to the line a user sees in their editor.

use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::ConfigError;

pub struct Source {
    /// The path as the user knows it: relative to the config dir (`environments/prod.toml`).
    pub display: PathBuf,
    pub text: String,
}

impl Source {
    pub fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
    }

    /// The line of the deepest key of `path` that exists (so that a missing key points at
    /// its table, and a bad value at its own line).
    pub fn line_of(&self, path: &[&str]) -> Option<usize> {
        let doc = DeTable::parse(&self.text).ok()?;
        let mut table: &DeTable<'_> = doc.get_ref();
        let mut found = None;
        let mut keys = path.iter();
        while let Some(key) = keys.next() {
            let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref() == key) else {
                break;
            };
            found = Some(k.span().start);
            match v.get_ref() {
                DeValue::Table(t) => table = t,
                // An array of tables (`[[services.www.schedule]]`): the next key of the
                // path is the index of an element (`schedule.1.recurrence`).
                DeValue::Array(items) => {
                    let Some(item) = keys.next().and_then(|i| i.parse::<usize>().ok()).and_then(|i| items.get(i))
                    else {
                        break;
                    };
                    found = Some(item.span().start);
                    match item.get_ref() {
                        DeValue::Table(t) => table = t,
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        found.map(|o| self.line_at(o))
    }

    /// The dotted key whose value holds `span` (for serde errors, which carry a span only).
    pub fn key_at(&self, span: &Range<usize>) -> String {
        let Ok(doc) = DeTable::parse(&self.text) else {
            return String::new();
        };
        let mut path = Vec::new();
        walk(doc.get_ref(), span, &mut path);
        path.join(".")
    }

    pub fn error(&self, path: &[&str], message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.display.clone(),
            line: self.line_of(path),
            key: path.join("."),
            message: message.into(),
        }
    }

    /// Turns a serde/TOML error into a located ConfigError.
    pub fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span();
        ConfigError {
            file: self.display.clone(),
            line: span.as_ref().map(|s| self.line_at(s.start)),
            key: span.as_ref().map(|s| self.key_at(s)).unwrap_or_default(),
            message: e.message().trim().to_owned(),
        }
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// Depth-first: the key path of the entry whose key or value holds `span`. Header tables
/// (`[services.www]`) are not contiguous in the text, so every table is searched.
fn walk(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<String>) -> bool {
    for (k, v) in table.iter() {
        let v: &Spanned<DeValue<'_>> = v;
        path.push(k.get_ref().to_string());
        if let DeValue::Table(t) = v.get_ref() {
            if walk(t, span, path) {
                return true;
            }
        }
        // An array of tables (`[[services.www.schedule]]`): its elements by index.
        if let DeValue::Array(items) = v.get_ref() {
            for (i, item) in items.iter().enumerate() {
                if let DeValue::Table(t) = item.get_ref() {
                    path.push(i.to_string());
                    if walk(t, span, path) {
                        return true;
                    }
                    path.pop();
                }
            }
        }
        if contains(&k.span(), span) || contains(&v.span(), span) {
            return true;
        }
        path.pop();
    }
    false
}
