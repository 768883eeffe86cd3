//! The builder's console output, as EC2's GetConsoleOutput returns it: the bootstrap
//! writes its progress there (`tee /dev/console`), and on failure its marker line
//! `drydock-bake: FAILED at line N (exit C)`. Spotting that marker lets a bake fail within
//! one poll instead of waiting out `bake.timeout` for a builder that will never power off.

/// What the bootstrap's ERR trap prints (src/render/templates/bootstrap.sh.hbs).
pub const FAILURE_MARKER: &str = "drydock-bake: FAILED";

/// A failed bootstrap, as read from the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapFailure {
    /// The marker line itself, e.g. `drydock-bake: FAILED at line 31 (exit 1)`.
    pub line: String,
    /// The console lines up to and including the marker (at most the number asked for):
    /// what the bootstrap printed just before it failed.
    pub context: Vec<String>,
}

/// The first failure marker in `console`, with up to `lines` lines that lead to it.
/// Colour codes and carriage returns are removed; a line is a marker only when the marker
/// starts it (after an optional `cloud-init[pid]: ` or other `prefix: ` of the logger),
/// so that a script that merely mentions the marker (e.g. `grep` in a user's job) does not
/// count.
pub fn bootstrap_failure(console: &str, lines: usize) -> Option<BootstrapFailure> {
    let clean: Vec<String> = console.lines().map(plain).collect();
    let at = clean.iter().position(|l| is_marker(l))?;
    let start = (at + 1).saturating_sub(lines.max(1));
    let line = clean[at].trim().to_owned();
    let from = line.find(FAILURE_MARKER).unwrap_or(0);
    Some(BootstrapFailure { line: line[from..].to_owned(), context: clean[start..=at].to_vec() })
}

fn is_marker(line: &str) -> bool {
    let l = line.trim_start();
    if l.starts_with(FAILURE_MARKER) {
        return true;
    }
    // `cloud-init[1234]: drydock-bake: FAILED …` (the journal's copy on the console).
    match l.split_once(": ") {
        Some((prefix, rest)) => !prefix.contains(' ') && rest.starts_with(FAILURE_MARKER),
        None => false,
    }
}

/// The line without ANSI escape sequences and carriage returns.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters… final byte in @..~
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: &str = "\u{1b}[0;32m  OK  \u{1b}[0m] Started docker.service\r\n\
        Unpacking docker.io (20.10.24) ...\n\
        docker pull registry.guest.test/drydock/hello:9.9.9\n\
        Error response from daemon: manifest for registry.guest.test/drydock/hello:9.9.9 not found\n\
        drydock-bake: FAILED at line 31 (exit 1)\n\
        cloud-init[135]: drydock-bake: FAILED at line 31 (exit 1)\n\
        ci-info: no authorized SSH keys fingerprints found for user debian.\n";

    #[test]
    fn finds_the_marker_with_what_led_to_it() {
        let f = bootstrap_failure(GUEST, 3).expect("a failure");
        assert_eq!(f.line, "drydock-bake: FAILED at line 31 (exit 1)");
        assert_eq!(
            f.context,
            [
                "docker pull registry.guest.test/drydock/hello:9.9.9",
                "Error response from daemon: manifest for registry.guest.test/drydock/hello:9.9.9 not found",
                "drydock-bake: FAILED at line 31 (exit 1)",
            ]
        );
    }

    #[test]
    fn the_journal_copy_counts_and_colour_codes_go() {
        let f =
            bootstrap_failure("a\n\u{1b}[1mcloud-init[9]: drydock-bake: FAILED at line 2 (exit 100)\u{1b}[0m\n", 10)
                .expect("a failure");
        assert_eq!(f.line, "drydock-bake: FAILED at line 2 (exit 100)");
        assert_eq!(f.context, ["a", "cloud-init[9]: drydock-bake: FAILED at line 2 (exit 100)"]);
    }

    #[test]
    fn no_marker_no_failure() {
        for console in [
            "",
            "drydock-bake: start www\ndrydock-bake: OK\n",
            // Merely mentioned, not printed by the trap.
            "+ grep 'drydock-bake: FAILED' /var/log/drydock-bake.log\n",
            "echo the text drydock-bake: FAILED appears in a sentence\n",
            // moto's fixed console: a Xen boot log.
            "Linux version 2.6.16-xenU (builder@patchbat.amazonsa)\nKernel command line: root=/dev/sda1 ro 4\n",
        ] {
            assert_eq!(bootstrap_failure(console, 20), None, "{console:?}");
        }
    }

    #[test]
    fn context_is_bounded_at_the_start() {
        let f = bootstrap_failure("drydock-bake: FAILED at line 7 (exit 2)\n", 20).unwrap();
        assert_eq!(f.context.len(), 1);
        assert_eq!(bootstrap_failure("x\ndrydock-bake: FAILED at line 7 (exit 2)", 0).unwrap().context.len(), 1);
    }
}
