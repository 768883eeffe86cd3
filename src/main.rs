use clap::Parser;

use drydock::cli::Cli;
use drydock::output::Reporter;

fn main() {
    let cli = Cli::parse();
    let out = Reporter { format: cli.global.output, quiet: cli.global.quiet, verbose: cli.global.verbose };
    let command = drydock::command_name(&cli.command);
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
