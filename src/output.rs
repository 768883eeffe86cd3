//! Results on stdout (text, or exactly one JSON document), progress on stderr.

use std::io::{IsTerminal, Write};

use serde_json::{json, Value};

use crate::cli::Output;
use crate::error::Error;

#[derive(Clone, Copy, Debug)]
pub struct Reporter {
    pub format: Output,
    pub quiet: bool,
    pub verbose: u8,
}

impl Reporter {
    /// Prints the command's result: `text` in text mode, `json` in JSON mode.
    pub fn result(&self, text: &str, json: &Value) {
        let mut out = std::io::stdout().lock();
        let r = match self.format {
            Output::Text => out.write_all(text.as_bytes()),
            Output::Json => writeln!(out, "{json}"),
        };
        // A closed stdout (e.g. `| head`) is not worth a panic.
        let _ = r.and_then(|_| out.flush());
    }

    /// Reports a failed command: the message on stderr always; in JSON mode also the one
    /// JSON document on stdout, so that a Jenkins step can parse every outcome.
    pub fn error(&self, command: &str, err: &Error) {
        let code = err.exit_code();
        eprintln!("drydock {command}: {err}");
        if let Error::Reported { .. } = err {
            return;
        }
        if self.format == Output::Json {
            let mut doc = json!({
                "command": command,
                "error": { "exit_code": code, "message": err.to_string() },
            });
            if let Error::Config(errs) = err {
                doc["error"]["problems"] = Value::Array(
                    errs.0
                        .iter()
                        .map(|e| json!({"file": e.file, "line": e.line, "key": e.key, "message": e.message}))
                        .collect(),
                );
            }
            self.result("", &doc);
        }
    }

    /// One progress line on stderr: plain with a UTC timestamp off a TTY (Jenkins logs),
    /// bare on a TTY. Never colour: NO_COLOR and pipes both get plain text.
    pub fn progress(&self, msg: &str) {
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = if err.is_terminal() {
            writeln!(err, "{msg}")
        } else {
            writeln!(err, "{} {msg}", humantime::format_rfc3339_seconds(std::time::SystemTime::now()))
        };
    }

    pub fn detail(&self, msg: &str) {
        if self.verbose > 0 {
            self.progress(msg);
        }
    }
}

/// An aligned text table: columns as wide as their widest cell, two spaces apart.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// Seconds since the epoch as RFC 3339 (UTC).
pub fn timestamp(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["A", "LONGER"], &[vec!["xxxx".into(), "1".into()], vec!["y".into(), "22".into()]]);
        assert_eq!(t, "A     LONGER\nxxxx  1\ny     22\n");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
    }
}
