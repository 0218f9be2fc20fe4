//! The `radportal` command: parses the command line and hands over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    radportal::cli::main(radportal::cli::Cli::parse())
}
