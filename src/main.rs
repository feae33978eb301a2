//! The `shopd` binary: parse the command line, load settings, run the command.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use shopd::cli::{Cli, Command, ConfigCommand, run};
use shopd::config::Settings;

fn main() -> ExitCode {
    // Bad arguments: clap prints the usage and exits with 2.
    let help = shopd::config::help_text();
    let matches = Cli::command().after_long_help(help).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // The example needs no settings: it is what to write when they are wrong.
    if let Some(Command::Config { command: ConfigCommand::Example }) = &cli.command {
        print!("{}", shopd::cli::CONFIG_EXAMPLE);
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Init(args)) = &cli.command {
        return shopd::cli::init(&cli, args);
    }
    let settings = match Settings::load(&cli.sources()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("shopd: {e}");
            return ExitCode::from(2);
        }
    };
    run(cli.command, settings)
}
