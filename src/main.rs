//! The `skiff` command: flags -> Config -> run -> exit code.

use std::process::ExitCode;

use skiff::config::{Config, ConfigError};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "generate") {
        return match skiff::config::generate(&args[2..]) {
            Ok(text) => {
                use std::io::Write;
                match std::io::stdout().write_all(&text) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("skiff: generate: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(msg) => {
                eprintln!("skiff: {msg}");
                ExitCode::from(2)
            }
        };
    }
    let config = match Config::parse_from(args) {
        Ok(c) => c,
        Err(ConfigError::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(ConfigError::Invalid(msg)) => {
            eprintln!("skiff: {msg}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &config.health_check {
        return match skiff::server::health_check(&config, path) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("skiff: health check: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match skiff::server::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skiff: {e}");
            ExitCode::FAILURE
        }
    }
}
