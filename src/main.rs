//! CLI entry: parse, run, and on failure print one `Error:` message and exit non-zero.

#![forbid(unsafe_code)]

use clap::Parser;
use std::io::IsTerminal;

fn main() {
    let cli = shardsql::cli::Cli::parse();
    if let Err(e) = shardsql::app::run_cli(cli) {
        // A user's Ctrl-C (or a SIGTERM) is not an error: say what was done, exit 128 + signal.
        if let shardsql::error::Error::Interrupted { message, status } = &e {
            eprintln!("shardsql: {message}");
            std::process::exit(*status);
        }
        let label = if std::io::stderr().is_terminal() {
            "\x1b[1;31mError:\x1b[0m"
        } else {
            "Error:"
        };
        eprintln!("{label} {e}");
        std::process::exit(match e {
            shardsql::error::Error::Usage(_) => 2,
            shardsql::error::Error::Interrupted { status, .. } => status,
            _ => 1,
        });
    }
}
