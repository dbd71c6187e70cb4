//! `--config FILE`: a TOML file whose keys are the flags' names. Its
//! values become arguments that fill in what neither the command line nor
//! a `SKIFF_*` variable set; each key is checked against the flags
//! themselves, so the file can never name a setting the flags lack.

use std::ffi::OsString;

use super::args::Args;

/// Largest `--config` file read.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Keys a config file may not hold: the file itself, and what is an
/// action rather than a setting.
const NOT_IN_FILE: [&str; 4] = ["config", "health-check", "help", "version"];

/// The arguments `--config FILE` adds: for each key, `--key=value` (or
/// `--key` for `true`), unless the command line or a variable already set
/// that flag. Each item is the key and one argument. Errors name the file
/// and the key.
pub(crate) fn config_file_args(
    file: &std::path::Path,
    matches: &clap::ArgMatches,
) -> Result<Vec<(String, OsString)>, String> {
    use clap::CommandFactory;
    use clap::parser::ValueSource;
    use std::io::Read;
    let shown = file.display();
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| format!("--config '{shown}': {e}"))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "--config '{shown}': larger than {MAX_CONFIG_BYTES} bytes"
        ));
    }
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        let message = e.message().replace('\n', " ");
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        match line {
            Some(l) => format!("--config '{shown}': line {l}: {message}"),
            None => format!("--config '{shown}': {message}"),
        }
    })?;
    let command = Args::command();
    let mut out = Vec::new();
    for (key, value) in &table {
        let bad = |what: &str| format!("--config '{shown}': key '{key}': {what}");
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
            .filter(|_| !NOT_IN_FILE.contains(&key.as_str()))
            .ok_or_else(|| bad("not a setting (keys are the flags' names, as in --help)"))?;
        if matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = format!("--{key}");
        // An on/off setting (`http2`) also takes true and false.
        let switch = arg
            .get_possible_values()
            .iter()
            .any(|p| p.get_name() == "on");
        let scalar = |v: &toml::Value| match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Boolean(b) if switch => Ok(if *b { "on" } else { "off" }.into()),
            _ if switch => Err(bad("expected \"on\", \"off\", true or false")),
            _ => Err(bad("expected a string or a whole number")),
        };
        match arg.get_action() {
            clap::ArgAction::SetTrue => match value {
                toml::Value::Boolean(true) => out.push((key.clone(), flag.into())),
                toml::Value::Boolean(false) => {}
                _ => return Err(bad("expected true or false")),
            },
            clap::ArgAction::Append => {
                let items = match value {
                    toml::Value::Array(items) => {
                        items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?
                    }
                    one => vec![scalar(one)?],
                };
                for item in items {
                    out.push((key.clone(), format!("{flag}={item}").into()));
                }
            }
            _ => out.push((key.clone(), format!("{flag}={}", scalar(value)?).into())),
        }
    }
    Ok(out)
}
