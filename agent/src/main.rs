//! `tether-agent`: dispatch only; see the library for the parts.

use agent::cli::{Cli, Command, with_default_subcommand};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse_from(with_default_subcommand(std::env::args_os().collect()));
    match cli.command {
        Command::Crd => {
            print!("{}", agent::crd_yaml()?);
            Ok(())
        }
        Command::InstallCni(args) => agent::install::run(&args),
        Command::Run(args) => agent::run::main(args),
    }
}
