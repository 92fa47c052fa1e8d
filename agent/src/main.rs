//! `tether-agent`: dispatch only; see the library for the parts.

use agent::cli::{Cli, Command};
use clap::{CommandFactory, Parser};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match (cli.command, cli.run) {
        (Some(Command::Crd), _) => {
            print!("{}", agent::crd_yaml()?);
            Ok(())
        }
        (Some(Command::InstallCni(args)), _) => agent::install::run(&args),
        (Some(Command::Run(args)), _) | (None, Some(args)) => agent::run::main(args),
        (None, None) => {
            Cli::command().print_help()?;
            anyhow::bail!("--node-name (or NODE_NAME) is required to run")
        }
    }
}
