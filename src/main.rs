//! The `radportal` command: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    radportal::cli::main(radportal::cli::Cli::parse_or_exit())
}
