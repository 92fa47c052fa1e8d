//! The command line: `run` is the default subcommand, and every flag is documented and can come
//! from the environment.

use clap::{CommandFactory, Parser};

use super::*;

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(with_default_subcommand(
        args.iter().map(OsString::from).collect(),
    ))
    .unwrap()
}

#[test]
fn run_is_the_default_with_or_without_flags() {
    assert!(
        matches!(parse(&["tether-agent", "--node-name", "n"]).command, Command::Run(a) if a.node_name == "n")
    );
    assert!(
        matches!(parse(&["tether-agent", "run", "--node-name", "n", "--qps", "2"]).command, Command::Run(a) if a.qps == 2.0)
    );
    assert!(matches!(
        parse(&["tether-agent", "crd"]).command,
        Command::Crd
    ));
    assert!(
        matches!(parse(&["tether-agent", "install-cni", "--uninstall"]).command, Command::InstallCni(a) if a.uninstall)
    );
}

#[test]
fn every_flag_has_help_and_an_environment_variable() {
    let cmd = Cli::command();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "crd") {
        for arg in sub
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        {
            assert!(
                arg.get_help().is_some(),
                "{} --{}",
                sub.get_name(),
                arg.get_id()
            );
            assert!(
                arg.get_env().is_some(),
                "{} --{}",
                sub.get_name(),
                arg.get_id()
            );
        }
    }
    cmd.debug_assert();
}
