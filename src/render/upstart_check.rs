//! A static check of upstart job files, since no upstart runs anywhere drydock is tested.
//!
//! A small parser of upstart's job syntax (upstart 1.x, `man 5 init`): one stanza per line,
//! `#` comments, `script` … `end script` blocks (also after `pre-start`, `post-start`,
//! `pre-stop`, `post-stop`), and the event expressions of `start on` / `stop on`, which may
//! span lines while a parenthesis is open. On top of the syntax it refuses what breaks a
//! drydock job at run time:
//!
//! - an `exec` line with a shell operator (`||`, `&&`, `|`, `;`, `&`): upstart runs such a
//!   line as `/bin/sh -e -c "exec …"`, so the shell is replaced by the first command and
//!   the rest never runs (`post-stop exec docker rm -f x || true` fails the job instead of
//!   ignoring the error). Use a `script` block;
//! - `start on` that needs `runlevel` (or another once-per-boot event) together with
//!   `started`/`starting` of a job: after `restart docker` the job waits for a runlevel
//!   event that never comes again, and stays down until the next reboot;
//! - unknown stanzas, a `script` without `end script`, unbalanced parentheses.

/// One problem, at a 1-based line of the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

/// Stanzas of upstart 1.x (`man 5 init`). The ones taking a process take `exec` or `script`.
const STANZAS: &[&str] = &[
    "description",
    "author",
    "version",
    "usage",
    "emits",
    "manual",
    "task",
    "instance",
    "respawn",
    "normal",
    "kill",
    "reload",
    "expect",
    "console",
    "umask",
    "nice",
    "oom",
    "limit",
    "chroot",
    "chdir",
    "setuid",
    "setgid",
    "env",
    "export",
    "apparmor",
    "cgroup",
];
const PROCESS_STANZAS: &[&str] = &["pre-start", "post-start", "pre-stop", "post-stop"];
/// Events that upstart emits once per boot (or per runlevel change): a job started by
/// one of them together with a job event cannot come back after that job restarts.
const ONCE_PER_BOOT: &[&str] =
    &["runlevel", "startup", "filesystem", "local-filesystems", "remote-filesystems", "virtual-filesystems"];

pub fn check(job: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let lines: Vec<&str> = job.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let n = i + 1;
        let line = strip_comment(lines[i]).trim();
        i += 1;
        if line.is_empty() {
            continue;
        }
        let (word, rest) = split_word(line);
        match word {
            "script" => i = skip_script(&lines, i, n, &mut problems),
            "exec" => check_exec(rest, n, "exec", &mut problems),
            w if PROCESS_STANZAS.contains(&w) => {
                let (kind, args) = split_word(rest);
                match kind {
                    "script" if args.is_empty() => i = skip_script(&lines, i, n, &mut problems),
                    "exec" => check_exec(args, n, &format!("{w} exec"), &mut problems),
                    _ => problems.push(Problem {
                        line: n,
                        message: format!("`{w}` takes `exec COMMAND` or a `script` … `end script` block"),
                    }),
                }
            }
            "start" | "stop" => {
                let (on, expr) = split_word(rest);
                if on != "on" || expr.is_empty() {
                    problems.push(Problem { line: n, message: format!("`{word}` must be followed by `on EVENT…`") });
                    continue;
                }
                // The expression goes on over the next lines while a parenthesis is open.
                let mut text = expr.to_owned();
                while depth(&text) > 0 && i < lines.len() {
                    text.push(' ');
                    text.push_str(strip_comment(lines[i]).trim());
                    i += 1;
                }
                match parse_events(&text) {
                    Err(m) => problems.push(Problem { line: n, message: format!("`{word} on`: {m}") }),
                    Ok(e) if word == "start" => {
                        if let Some(m) = once_per_boot_with_job(&e) {
                            problems.push(Problem { line: n, message: m });
                        }
                    }
                    Ok(_) => {}
                }
            }
            "end" => problems.push(Problem { line: n, message: "`end script` without a `script`".into() }),
            w if STANZAS.contains(&w) => {}
            w => problems.push(Problem {
                line: n,
                message: format!("`{w}` is not an upstart stanza (upstart 1.x, man 5 init)"),
            }),
        }
    }
    problems
}

/// Skips a script block that began on line `start_line`; returns the index after `end script`.
fn skip_script(lines: &[&str], mut i: usize, start_line: usize, problems: &mut Vec<Problem>) -> usize {
    while i < lines.len() {
        let l = lines[i].trim();
        i += 1;
        if l == "end script" || l.starts_with("end script ") || l.starts_with("end script#") {
            return i;
        }
    }
    problems.push(Problem { line: start_line, message: "`script` without `end script`".into() });
    i
}

fn check_exec(cmd: &str, line: usize, stanza: &str, problems: &mut Vec<Problem>) {
    if cmd.is_empty() {
        problems.push(Problem { line, message: format!("`{stanza}` without a command") });
        return;
    }
    if let Some(op) = shell_operator(cmd) {
        problems.push(Problem {
            line,
            message: format!(
                "`{stanza}` with the shell operator `{op}`: upstart runs it as `sh -e -c \"exec …\"`, so the first command replaces the shell and what follows `{op}` never runs; use a `script` … `end script` block"
            ),
        });
    }
}

/// The first shell control operator outside quotes: `||`, `&&`, `|`, `;` or `&` (a
/// redirection such as `2>&1` is not one).
fn shell_operator(cmd: &str) -> Option<&'static str> {
    let b = cmd.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(b'"') if c == b'\\' => i += 1,
            Some(_) => {}
            None => match c {
                b'\\' => i += 1,
                b'\'' | b'"' => quote = Some(c),
                b'|' if b.get(i + 1) == Some(&b'|') => return Some("||"),
                b'|' => return Some("|"),
                b'&' if b.get(i + 1) == Some(&b'&') => return Some("&&"),
                // `>&1`, `<&0`, `&>file`: part of a redirection.
                b'&' if i > 0 && matches!(b[i - 1], b'>' | b'<') => {}
                b'&' if b.get(i + 1) == Some(&b'>') => {}
                b'&' => return Some("&"),
                b';' => return Some(";"),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

fn strip_comment(line: &str) -> &str {
    // A `#` starts a comment at the start of a word (upstart's own rule, close enough).
    let b = line.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn depth(s: &str) -> i32 {
    s.chars()
        .map(|c| {
            if c == '(' {
                1
            } else if c == ')' {
                -1
            } else {
                0
            }
        })
        .sum()
}

/// An upstart event expression: `EVENT [ARG…]`, `A and B`, `A or B`, parentheses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Events {
    Event { name: String, args: Vec<String> },
    And(Box<Events>, Box<Events>),
    Or(Box<Events>, Box<Events>),
}

pub fn parse_events(text: &str) -> Result<Events, String> {
    let mut tokens = Vec::new();
    for word in text.replace('(', " ( ").replace(')', " ) ").split_whitespace() {
        tokens.push(word.to_owned());
    }
    let mut p = Parser { tokens, at: 0 };
    let e = p.or()?;
    match p.tokens.get(p.at) {
        None => Ok(e),
        Some(t) => Err(format!("unexpected `{t}`")),
    }
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }
    // Upstart gives `and` and `or` the same precedence, left to right.
    fn or(&mut self) -> Result<Events, String> {
        let mut left = self.operand()?;
        while let Some(op @ ("and" | "or")) = self.peek() {
            let and = op == "and";
            self.at += 1;
            let right = self.operand()?;
            left = if and {
                Events::And(Box::new(left), Box::new(right))
            } else {
                Events::Or(Box::new(left), Box::new(right))
            };
        }
        Ok(left)
    }
    fn operand(&mut self) -> Result<Events, String> {
        match self.peek() {
            None => Err("an event is missing at the end".into()),
            Some("(") => {
                self.at += 1;
                let e = self.or()?;
                if self.peek() != Some(")") {
                    return Err("a `(` is not closed".into());
                }
                self.at += 1;
                Ok(e)
            }
            Some(t @ (")" | "and" | "or")) => Err(format!("an event is missing before `{t}`")),
            Some(name) => {
                let name = name.to_owned();
                self.at += 1;
                let mut args = Vec::new();
                while let Some(t) = self.peek() {
                    if matches!(t, "(" | ")" | "and" | "or") {
                        break;
                    }
                    args.push(t.to_owned());
                    self.at += 1;
                }
                Ok(Events::Event { name, args })
            }
        }
    }
}

/// A `start on` whose every way of firing needs a once-per-boot event *and* a job event:
/// such a job cannot start again when that job restarts.
fn once_per_boot_with_job(e: &Events) -> Option<String> {
    fn conj(e: &Events) -> Vec<Vec<&Events>> {
        // Disjunctive normal form: each inner list is one way for the expression to fire.
        match e {
            Events::Event { .. } => vec![vec![e]],
            Events::Or(a, b) => {
                let mut v = conj(a);
                v.extend(conj(b));
                v
            }
            Events::And(a, b) => {
                let (a, b) = (conj(a), conj(b));
                let mut out = Vec::new();
                for x in &a {
                    for y in &b {
                        out.push(x.iter().chain(y.iter()).copied().collect());
                    }
                }
                out
            }
        }
    }
    let ways = conj(e);
    let name = |e: &Events| match e {
        Events::Event { name, args } => (name.clone(), args.first().cloned().unwrap_or_default()),
        _ => unreachable!("conj returns events only"),
    };
    for way in &ways {
        let once = way.iter().map(|e| name(e)).find(|(n, _)| ONCE_PER_BOOT.contains(&n.as_str()));
        let job = way.iter().map(|e| name(e)).find(|(n, _)| n == "started" || n == "starting");
        if let (Some((once, _)), Some((ev, job))) = (once, job) {
            return Some(format!(
                "`start on` needs `{once}` together with `{ev} {job}`: `{once}` is emitted once per boot, so after `restart {job}` this job stays down until the next reboot; use `start on {ev} {job}`"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# drydock: www\n\
        description \"drydock www\"\n\
        \n\
        start on started docker\n\
        stop on stopping docker\n\
        \n\
        respawn\n\
        respawn limit 10 30\n\
        kill timeout 30\n\
        \n\
        pre-start script\n\
        \x20 /usr/bin/docker rm -f drydock-www >/dev/null 2>&1 || true\n\
        end script\n\
        \n\
        exec /usr/bin/docker run --rm --name drydock-www -e 'A=b;c' registry/x:1 2>&1\n\
        \n\
        post-stop script\n\
        \x20 /usr/bin/docker rm -f drydock-www >/dev/null 2>&1 || true\n\
        end script\n";

    #[test]
    fn a_good_job_passes() {
        assert_eq!(check(GOOD), vec![]);
    }

    fn one(job: &str) -> Problem {
        let p = check(job);
        assert_eq!(p.len(), 1, "{p:?}");
        p[0].clone()
    }

    #[test]
    fn exec_lines_with_shell_operators_are_refused() {
        for (line, op) in [
            ("post-stop exec /usr/bin/docker rm -f x >/dev/null 2>&1 || true", "||"),
            ("exec /usr/bin/docker pull x && /usr/bin/docker run x", "&&"),
            ("pre-start exec /bin/cat /etc/x | /usr/bin/logger", "|"),
            ("exec /bin/true; /bin/false", ";"),
            ("exec /usr/bin/daemon &", "&"),
        ] {
            let p = one(&format!("description \"x\"\n{line}\n"));
            assert_eq!(p.line, 2);
            assert!(p.message.contains(&format!("shell operator `{op}`")), "{line}: {}", p.message);
            assert!(p.message.contains("script"), "{}", p.message);
        }
        // Quoted, escaped or a redirection: not an operator.
        for line in [
            "exec /bin/echo 'a || b' \"c; d\"",
            "exec /bin/echo a\\;b",
            "exec /usr/bin/docker run x >/var/log/x 2>&1",
            "exec /usr/bin/docker run x &>/var/log/x",
        ] {
            assert_eq!(check(line), vec![], "{line}");
        }
    }

    #[test]
    fn runlevel_with_started_docker_is_refused() {
        let p = one("start on (started docker and runlevel [2345])\n");
        assert_eq!(p.line, 1);
        assert!(p.message.contains("`runlevel` together with `started docker`"), "{}", p.message);
        assert!(p.message.contains("use `start on started docker`"), "{}", p.message);
        // Over several lines, and nested.
        let p = one("respawn\nstart on (local-filesystems\n  and (started docker or started containerd))\n");
        assert_eq!(p.line, 2);
        assert!(p.message.contains("local-filesystems"), "{}", p.message);
        // Either alone is fine; so is an `or` that can fire on the job event alone.
        for ok in [
            "start on started docker",
            "start on runlevel [2345]",
            "start on (started docker or runlevel [2345])",
            "stop on (stopping docker or runlevel [!2345])",
        ] {
            assert_eq!(check(ok), vec![], "{ok}");
        }
    }

    #[test]
    fn syntax_errors_and_unknown_stanzas() {
        assert!(one("start docker\n").message.contains("`on EVENT"));
        assert!(one("start on (started docker\n").message.contains("not closed"));
        assert!(one("start on started docker and\n").message.contains("missing at the end"));
        assert!(one("start on and runlevel\n").message.contains("missing before `and`"));
        assert_eq!(one("respawn\nscript\n  echo hi\n").line, 2);
        assert!(one("end script\n").message.contains("without a `script`"));
        let p = one("description \"x\"\nrestart on failure\n");
        assert_eq!(p.line, 2);
        assert!(p.message.contains("`restart` is not an upstart stanza"));
        assert!(one("post-stop docker rm x\n").message.contains("takes `exec COMMAND`"));
        // A script block's body is shell, not stanzas.
        assert_eq!(check("script\n  frobnicate || true; exit 0\nend script\n"), vec![]);
    }

    #[test]
    fn events_parse_left_to_right() {
        let e = parse_events("(started docker and runlevel [2345])").unwrap();
        assert_eq!(
            e,
            Events::And(
                Box::new(Events::Event { name: "started".into(), args: vec!["docker".into()] }),
                Box::new(Events::Event { name: "runlevel".into(), args: vec!["[2345]".into()] })
            )
        );
    }
}
