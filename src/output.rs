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
