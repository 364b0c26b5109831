//! `terapi`: run integration actions, manage connections, build components.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
