use clap::Parser;

use drydock::cli::Cli;
use drydock::output::Reporter;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => parse_error(e),
    };
    let out = Reporter::new(cli.global.output, cli.global.quiet, cli.global.verbose);
    let command = drydock::command_name(&cli.command);
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("drydock: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(drydock::run(cli, &out)) {
        Ok(()) => 0,
        Err(e) => {
            out.error(command, &e);
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// Debug logging on stderr: `RUST_LOG` (e.g. `RUST_LOG=aws_smithy_runtime=debug`), or
/// `-vv` for drydock's own debug events and the AWS SDK's request log. Plain text, no
/// colour, so that it reads the same in Jenkins.
fn init_tracing(verbose: u8) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => f,
        _ if verbose >= 2 => "drydock=debug,aws_smithy_runtime=debug,aws_config=info".to_owned(),
        _ => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// A command line clap refuses: exit 2 with the reason on stderr, and with
/// `--output json` also the one JSON document on stdout that a Jenkins step archives.
fn parse_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json =
        args.windows(2).any(|w| w[0] == "--output" && w[1] == "json") || args.iter().any(|a| a == "--output=json");
    // The first word that is a subcommand of ours (as clap defines them), for the error
    // line and the document.
    let ours: Vec<String> =
        <Cli as clap::CommandFactory>::command().get_subcommands().map(|c| c.get_name().to_owned()).collect();
    let command = args.iter().find(|a| ours.contains(a)).cloned().unwrap_or_default();
    // A refused value: the flag and our grammar's sentence, which quotes the value
    // escaped (clap's own message quotes it raw, newlines and all).
    let arg = match e.get(clap::error::ContextKind::InvalidArg) {
        Some(clap::error::ContextValue::String(a)) => a.clone(),
        _ => String::new(),
    };
    let first = match std::error::Error::source(&e) {
        Some(why) if e.kind() == ErrorKind::ValueValidation => format!("{arg}: {why}"),
        _ => e.render().to_string().lines().next().unwrap_or("").trim_start_matches("error: ").to_owned(),
    };
    // A refused value (a flag's grammar) reads as every other error: one line, `drydock
    // <command>: …`, that names the flag and its rule. Other refusals (a missing or
    // unknown argument) keep clap's usage lines, which say what is expected.
    if matches!(e.kind(), ErrorKind::ValueValidation | ErrorKind::InvalidValue) {
        let who = if command.is_empty() { "drydock".to_owned() } else { format!("drydock {command}") };
        eprintln!("{who}: {first}");
    } else {
        let _ = e.print();
    }
    if json {
        println!("{}", serde_json::json!({"command": command, "error": {"exit_code": 2, "message": first}}));
    }
    std::process::exit(2);
}
