//! The `shopd` binary: parse the command line, load settings, run the command.

use std::process::ExitCode;

use clap::Parser;
use shopd::cli::{Cli, run};
use shopd::config::Settings;

fn main() -> ExitCode {
    // Bad arguments: clap prints the usage and exits with 2.
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.sources()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("shopd: {e}");
            return ExitCode::from(2);
        }
    };
    run(cli.command, settings)
}
