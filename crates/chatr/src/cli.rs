//! The command line: `chatr` serves; `chatr backup`, `chatr restore` and
//! `chatr admin …` work on the same configuration (flags and environment).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::operator::AdminCommand;

#[derive(Parser)]
#[command(
    name = "chatr",
    version,
    about = "Self-hosted real-time 1:1 messaging server",
    after_help = "Without a command, chatr serves. Every setting is a flag or an environment variable.\n\
        Also read from the environment: RUST_LOG (the log filter) and OTEL_EXPORTER_OTLP_ENDPOINT\n\
        (export request and event spans over OTLP/HTTP; the other OTEL_* variables apply)."
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Copy the database (a consistent snapshot, while the server runs) and
    /// the uploaded files into FILE, a ZIP. With PostgreSQL only the files:
    /// copy the database with pg_dump.
    Backup { file: PathBuf },
    /// Bring backup FILE back into the data dir, which must hold no database
    /// and no uploads yet. Start the server after.
    Restore { file: PathBuf },
    /// Manage accounts without SQL, through the running server (or, when
    /// none answers at the configured address, one started on the same data).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    const README: &str = include_str!("../../../README.md");

    /// The first cell of each row of the README's table that follows `heading`.
    fn table_after(heading: &str) -> Vec<String> {
        let start = README
            .find(heading)
            .unwrap_or_else(|| panic!("{heading} in README"));
        README[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .filter_map(|l| l.split('|').nth(1))
            .map(|cell| cell.trim().trim_matches('`').to_owned())
            .collect()
    }

    #[test]
    fn every_setting_is_in_the_readme_and_every_readme_setting_exists() {
        let cli = Cli::command();
        let mut flags: Vec<String> = cli
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        // Read by the log subscriber and the span exporter, not by clap;
        // `--help` names them after the flags.
        let help = cli.clone().render_help().to_string();
        for extra in ["RUST_LOG", "OTEL_EXPORTER_OTLP_ENDPOINT"] {
            assert!(help.contains(extra), "`chatr --help` names {extra}");
            flags.push(extra.into());
        }
        flags.sort();
        let mut documented = table_after("## Configuration");
        documented.sort();
        assert_eq!(
            flags, documented,
            "`chatr --help` and the README's configuration table"
        );
    }

    #[test]
    fn every_command_is_in_the_readme() {
        let cli = Cli::command();
        let mut commands: Vec<String> = cli
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        commands.sort();
        let mut documented: Vec<String> = table_after("Commands (`chatr help COMMAND`)")
            .into_iter()
            .filter_map(|c| c.split_whitespace().nth(1).map(str::to_owned))
            .collect();
        documented.sort();
        assert_eq!(
            commands, documented,
            "`chatr --help` and the README's command table"
        );
    }
}
