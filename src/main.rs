//! The `skiff` command: flags -> Config -> run -> exit code.

use std::process::ExitCode;

use skiff::config::{Config, ConfigError};

fn main() -> ExitCode {
    let config = match Config::parse_from(std::env::args_os()) {
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
