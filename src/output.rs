//! Results on stdout (text, or exactly one JSON document), progress on stderr.

use std::io::{IsTerminal, Write};

use serde_json::{json, Value};

use crate::cli::Output;
use crate::error::Error;

#[derive(Clone, Debug)]
pub struct Reporter {
    pub format: Output,
    pub quiet: bool,
    pub verbose: u8,
    /// On a terminal: one live, redrawn line per service (what it waits for, elapsed).
    live: Option<std::sync::Arc<Live>>,
}

#[derive(Debug)]
struct Live {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

impl Live {
    fn bar(&self, key: &str) -> indicatif::ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        bars.entry(key.to_owned())
            .or_insert_with(|| {
                // No colour directives in the template: NO_COLOR and dumb terminals read it too.
                let style = indicatif::ProgressStyle::with_template("{spinner} {prefix}: {wide_msg} [{elapsed}]")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
                let b =
                    self.multi.add(indicatif::ProgressBar::new_spinner().with_style(style).with_prefix(key.to_owned()));
                b.enable_steady_tick(std::time::Duration::from_millis(200));
                b
            })
            .clone()
    }
}

impl Reporter {
    /// Live lines when stderr is a terminal (and not -q, and TERM is not `dumb`); plain
    /// timestamped lines otherwise.
    pub fn new(format: Output, quiet: bool, verbose: u8) -> Self {
        let tty = std::io::stderr().is_terminal() && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true);
        let live = (tty && !quiet).then(|| {
            std::sync::Arc::new(Live {
                multi: indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr()),
                bars: Default::default(),
            })
        });
        Self { format, quiet, verbose, live }
    }

    /// A reporter that never draws live lines (tests, library use).
    pub fn plain(format: Output, quiet: bool, verbose: u8) -> Self {
        Self { format, quiet, verbose, live: None }
    }

    /// The current state of one unit of work (`deploy www to staging`): its live line on
    /// a terminal, else a plain line `<timestamp> <key>: <msg>`.
    pub fn step(&self, key: &str, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.live {
            Some(l) => l.bar(key).set_message(msg.to_owned()),
            None => self.line(&format!("{key}: {msg}")),
        }
    }

    /// The last word of one unit of work: its live line stops there.
    pub fn finish(&self, key: &str, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.live {
            Some(l) => {
                let b = l.bar(key);
                b.finish_with_message(msg.to_owned());
            }
            None => self.line(&format!("{key}: {msg}")),
        }
    }

    fn line(&self, msg: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{} {msg}", humantime::format_rfc3339_seconds(crate::clock::now()));
    }

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
        match &self.live {
            // Printed above the live lines, which keep their place.
            Some(l) => {
                let _ = l.multi.println(msg);
            }
            None => self.line(msg),
        }
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
    // A time from a tag (external data) past the year 9999 has no RFC 3339 spelling:
    // humantime's Display would fail, and `to_string` would panic.
    match u64::try_from(secs) {
        Ok(s) if s < crate::clock::YEAR_10000 => {
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)).to_string()
        }
        _ if secs < 0 => "1970-01-01T00:00:00Z".to_owned(),
        _ => format!("{secs} s after the epoch"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["A", "LONGER"], &[vec!["xxxx".into(), "1".into()], vec!["y".into(), "22".into()]]);
        assert_eq!(t, "A     LONGER\nxxxx  1\ny     22\n");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        // A tag value past the year 9999 (or i64::MAX) prints instead of panicking.
        assert_eq!(timestamp(i64::MAX), format!("{} s after the epoch", i64::MAX));
        assert_eq!(timestamp(-5), "1970-01-01T00:00:00Z");
    }
}
