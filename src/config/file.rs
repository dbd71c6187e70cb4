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

/// Keys a `[[site]]` table may hold besides `host`: what decides how a
/// request is answered. The rest (ports, timeouts, logs, modes) is the
/// server's, set once at the top level.
pub(crate) const SITE_KEYS: [&str; 32] = [
    "root",
    "index",
    "fallback",
    "list-dirs",
    "show-hidden",
    "archives",
    "archive-max-files",
    "archive-max-bytes",
    "upload",
    "upload-dir",
    "upload-overwrite",
    "upload-max-bytes",
    "precompressed",
    "error-pages",
    "header",
    "max-age",
    "cache-control",
    "cors",
    "cors-allow-headers",
    "cors-expose-headers",
    "htpasswd",
    "auth-realm",
    "auth-exempt",
    "redirect",
    "rewrite",
    "clean-urls",
    "trailing-slash",
    "base-path",
    "allow",
    "deny",
    "tls-cert",
    "tls-key",
];

/// What `--config FILE` holds: the arguments its top-level keys add, and
/// its `[[site]]` tables.
pub(crate) struct FileArgs {
    /// For each key, `--key=value` (or `--key` for `true`), unless the
    /// command line or a variable already set that flag: the key, its
    /// line, and one argument.
    pub(crate) args: Vec<(String, usize, OsString)>,
    pub(crate) sites: Vec<SiteArgs>,
}

/// One `[[site]]` table.
pub(crate) struct SiteArgs {
    /// Its `host`.
    pub(crate) host: String,
    /// The line its `[[site]]` begins on.
    pub(crate) line: usize,
    /// Every key it sets (also those that add no argument: `false`).
    pub(crate) keys: Vec<String>,
    /// Its keys, each with its line and the argument it makes.
    pub(crate) args: Vec<(String, usize, OsString)>,
}

/// The line of `key`'s first assignment at or after line `from` (1-based),
/// for errors; `from` if none is found.
pub(crate) fn line_of(text: &str, key: &str, from: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(from, |(i, _)| i + 1)
}

/// Reads `--config FILE`: what its keys add (see [`FileArgs`]). Errors
/// name the file, the key and its line.
pub(crate) fn config_file_args(
    file: &std::path::Path,
    matches: &clap::ArgMatches,
) -> Result<FileArgs, String> {
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
    let mut out = FileArgs {
        args: Vec::new(),
        sites: Vec::new(),
    };
    for (key, value) in &table {
        let line = line_of(&text, key, 1);
        if key == "site" {
            out.sites = sites(value, &text, &shown.to_string())?;
            continue;
        }
        let bad = |what: &str| format!("--config '{shown}': line {line}: key '{key}': {what}");
        let (id, args) = key_args(key, value, &bad)?;
        if matches!(
            matches.value_source(id.as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        out.args
            .extend(args.into_iter().map(|a| (key.clone(), line, a)));
    }
    Ok(out)
}

/// The `[[site]]` tables: each has a `host` and keys of [`SITE_KEYS`].
fn sites(value: &toml::Value, text: &str, shown: &str) -> Result<Vec<SiteArgs>, String> {
    let top = line_of(text, "[[site]]", 1);
    let toml::Value::Array(tables) = value else {
        return Err(format!(
            "--config '{shown}': line {top}: 'site' is a list of tables: [[site]] with host = \"...\""
        ));
    };
    // Where each `[[site]]` table begins, for the lines of its keys.
    let starts: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[site]]")
        .map(|(i, _)| i + 1)
        .collect();
    let mut out = Vec::new();
    for (n, t) in tables.iter().enumerate() {
        let start = starts.get(n).copied().unwrap_or(top);
        let toml::Value::Table(t) = t else {
            return Err(format!(
                "--config '{shown}': line {start}: a [[site]] is a table"
            ));
        };
        let host = match t.get("host") {
            Some(toml::Value::String(h)) => h.clone(),
            _ => {
                return Err(format!(
                    "--config '{shown}': line {start}: a [[site]] needs host = \"example.com\" (or \"*.example.com\")"
                ));
            }
        };
        let mut args = Vec::new();
        let mut keys = Vec::new();
        for (key, value) in t {
            if key == "host" {
                continue;
            }
            keys.push(key.clone());
            let line = line_of(text, key, start);
            let bad = |what: &str| {
                format!("--config '{shown}': line {line}: site '{host}': key '{key}': {what}")
            };
            if !SITE_KEYS.contains(&key.as_str()) {
                return Err(bad(&format!(
                    "not a setting a site can have (those are: {})",
                    SITE_KEYS.join(", ")
                )));
            }
            let (_, made) = key_args(key, value, &bad)?;
            args.extend(made.into_iter().map(|a| (key.clone(), line, a)));
        }
        out.push(SiteArgs {
            host,
            line: start,
            keys,
            args,
        });
    }
    Ok(out)
}

/// `key = value` as arguments: the flag's id and `--key=value` (one per
/// item of a list; `--key` for `true`, nothing for `false`).
fn key_args(
    key: &str,
    value: &toml::Value,
    bad: &dyn Fn(&str) -> String,
) -> Result<(String, Vec<OsString>), String> {
    use clap::CommandFactory;
    let command = Args::command();
    let arg = command
        .get_arguments()
        .find(|a| a.get_long() == Some(key))
        .filter(|_| !NOT_IN_FILE.contains(&key))
        .ok_or_else(|| bad("not a setting (keys are the flags' names, as in --help)"))?;
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
    let mut out: Vec<OsString> = Vec::new();
    match arg.get_action() {
        clap::ArgAction::SetTrue => match value {
            toml::Value::Boolean(true) => out.push(flag.into()),
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
                out.push(format!("{flag}={item}").into());
            }
        }
        _ => out.push(format!("{flag}={}", scalar(value)?).into()),
    }
    Ok((arg.get_id().to_string(), out))
}
