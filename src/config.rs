//! Command-line flags, validated into a [`Config`] in one step.
//!
//! Owns every user-facing knob and its default. After `Config::parse_from`
//! returns, the root is canonical, the address resolved, durations are
//! durations and error pages are loaded: nothing downstream re-validates.
//! Never panics on user input; every failure is one line of text.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::files::resolve::Lookup;
use crate::http::response::{Extra, Header, Status, Version, write_builtin_error_page};

/// Largest value of every timeout flag (keep-alive, header, send,
/// shutdown): one day. A longer timeout protects nothing, and the bound
/// keeps every deadline far from `Instant`'s range.
pub(crate) const MAX_TIMEOUT_SECS: u64 = 86_400;
/// Largest `--max-age`: 2^31 seconds, the value RFC 9111 section 1.2.2 tells
/// caches to assume for anything larger.
pub(crate) const MAX_AGE_SECS: u64 = 1 << 31;
/// Largest `--max-connections`. The open-file limit lowers it further
/// (`server::connection_cap`); above a million nothing here would fit.
pub(crate) const MAX_CONNECTIONS: u64 = 1_000_000;
/// Largest custom error page (`--error-pages`): an error page is a short
/// explanation, and each one is held in memory for the life of the server.
pub(crate) const MAX_ERROR_PAGE: usize = 256 * 1024;
/// Largest `--compress-threads`: compression is once per file version, so
/// more threads only help a cold start with many files.
pub(crate) const MAX_COMPRESS_THREADS: i64 = 64;
/// Largest `--compress-cache`, in MiB: 64 GiB.
pub(crate) const MAX_COMPRESS_CACHE_MIB: i64 = 65_536;
/// Largest `--fd`: a descriptor number (Linux caps them far lower).
pub(crate) const MAX_FD: i64 = i32::MAX as i64;
/// Largest `--workers`: event loops beyond the CPUs only contend.
pub(crate) const MAX_WORKERS: i64 = 256;

/// skiff: a small, fast HTTP/1.1 static file server.
#[derive(Debug, Parser)]
#[command(
    name = "skiff",
    version,
    about,
    long_about = None,
    after_help = "Each setting comes from the command line, else its SKIFF_* variable, else the --config file, else its default.\n\n'skiff generate man' writes the man page, 'skiff generate completions SHELL' completions for bash, elvish, fish, powershell or zsh."
)]
pub(crate) struct Args {
    /// Read settings from this TOML file, each key a flag's name (keep-alive-timeout = 5, list-dirs = true, header = ['X-A: 1']); flags and SKIFF_* variables win over it.
    #[arg(env = "SKIFF_CONFIG", long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Document root: the folder to serve.
    #[arg(env = "SKIFF_ROOT", long, value_name = "DIR", default_value = "www")]
    pub(crate) root: PathBuf,

    /// TCP port to listen on; 0 lets the OS choose.
    #[arg(env = "SKIFF_PORT", long, value_name = "PORT", default_value_t = 8080)]
    pub(crate) port: u16,

    /// Address to bind (IPv4 or IPv6, e.g. 127.0.0.1 or ::1).
    #[arg(
        env = "SKIFF_BIND",
        long,
        value_name = "ADDR",
        default_value = "0.0.0.0"
    )]
    pub(crate) bind: String,

    /// Seconds an idle keep-alive connection is kept open (at most 86400); 0 turns keep-alive off.
    #[arg(env = "SKIFF_KEEP_ALIVE_TIMEOUT", long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=MAX_TIMEOUT_SECS))]
    pub(crate) keep_alive_timeout: u64,

    /// Seconds a request head (and any body) may take from its first byte to its last (1 to 86400).
    #[arg(env = "SKIFF_HEADER_TIMEOUT", long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub(crate) header_timeout: u64,

    /// Seconds a pending response may wait for the client to take any byte (1 to 86400).
    #[arg(env = "SKIFF_SEND_TIMEOUT", long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub(crate) send_timeout: u64,

    /// HTTP version to speak; with 1.0 every connection closes after one response.
    #[arg(
        env = "SKIFF_PROTOCOL",
        long,
        value_name = "1.0|1.1",
        default_value = "1.1"
    )]
    pub(crate) protocol: Protocol,

    /// Write a Common Log Format line per response to PATH, or to stdout with '-'.
    #[arg(env = "SKIFF_ACCESS_LOG", long, value_name = "PATH|-")]
    pub(crate) access_log: Option<String>,

    /// Access log format: common (CLF), or combined (CLF plus Referer and User-Agent).
    #[arg(
        env = "SKIFF_ACCESS_LOG_FORMAT",
        long,
        value_name = "FORMAT",
        default_value = "common"
    )]
    pub(crate) access_log_format: LogFormat,

    /// Log each connection opened and closed to stderr.
    #[arg(env = "SKIFF_VERBOSE", short, long)]
    pub(crate) verbose: bool,

    /// Folder of custom error pages: DIR/404.html is the body of a 404, and so on.
    #[arg(env = "SKIFF_ERROR_PAGES", long, value_name = "DIR")]
    pub(crate) error_pages: Option<PathBuf>,

    /// Send file bodies by reading them into a buffer instead of with sendfile.
    #[arg(env = "SKIFF_NO_SENDFILE", long)]
    pub(crate) no_sendfile: bool,

    /// Look at the file system on every request instead of trusting what was found for up to a second.
    #[arg(env = "SKIFF_NO_FILE_CACHE", long)]
    pub(crate) no_file_cache: bool,

    /// Most connections served at once, 1 to 1000000 [default: what the open-file limit allows, less a reserve].
    #[arg(env = "SKIFF_MAX_CONNECTIONS", long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_CONNECTIONS))]
    pub(crate) max_connections: Option<u64>,

    /// Seconds to let responses in flight finish after SIGTERM or SIGINT (at most 86400).
    #[arg(env = "SKIFF_SHUTDOWN_TIMEOUT", long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=MAX_TIMEOUT_SECS))]
    pub(crate) shutdown_timeout: u64,

    /// Serve with a thread per connection (blocking I/O) instead of the event loop.
    #[arg(env = "SKIFF_THREADED", long, conflicts_with = "workers")]
    pub(crate) threaded: bool,

    /// Add `Cache-Control: max-age=SECS` to file responses (at most 2147483648).
    #[arg(env = "SKIFF_MAX_AGE", long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(0..=MAX_AGE_SECS))]
    pub(crate) max_age: Option<u64>,

    /// Add a header to every response, e.g. 'Access-Control-Allow-Origin: *' (repeatable).
    #[arg(
        env = "SKIFF_HEADER",
        long = "header",
        value_name = "NAME: VALUE",
        value_delimiter = '\n'
    )]
    pub(crate) headers: Vec<String>,

    /// List a directory that has no index.html (HTML, or JSON for 'Accept: application/json').
    #[arg(env = "SKIFF_LIST_DIRS", long)]
    pub(crate) list_dirs: bool,

    /// Serve and list names starting with '.' (hidden by default: 404, left out of listings).
    #[arg(env = "SKIFF_SHOW_HIDDEN", long)]
    pub(crate) show_hidden: bool,

    /// Serve FILE.br or FILE.gz in place of FILE when they exist and Accept-Encoding allows.
    #[arg(env = "SKIFF_PRECOMPRESSED", long)]
    pub(crate) precompressed: bool,

    /// Names served for a folder, tried in order, comma-separated (also for / and --list-dirs).
    #[arg(
        env = "SKIFF_INDEX",
        long,
        value_name = "NAMES",
        default_value = "index.html"
    )]
    pub(crate) index: String,

    /// A file under the root served (200) for a GET or HEAD of a path that does not exist, when the request accepts text/html: a single-page app's client-side routes.
    #[arg(env = "SKIFF_FALLBACK", long, value_name = "FILE")]
    pub(crate) fallback: Option<String>,

    /// Cache-Control for file responses whose URL path matches GLOB, e.g. '/assets/**=public, max-age=31536000, immutable' (repeatable; the first match wins; --max-age is the fallback).
    #[arg(
        env = "SKIFF_CACHE_CONTROL",
        long = "cache-control",
        value_name = "GLOB=VALUE",
        value_delimiter = '\n'
    )]
    pub(crate) cache_control: Vec<String>,

    /// Let pages from these origins read responses (CORS): '*' or a comma-separated list such as `https://app.example,http://localhost:3000`.
    #[arg(env = "SKIFF_CORS", long, value_name = "ORIGINS")]
    pub(crate) cors: Option<String>,

    /// Request headers a CORS preflight may ask for, comma-separated.
    #[arg(
        env = "SKIFF_CORS_ALLOW_HEADERS",
        long,
        value_name = "NAMES",
        default_value = "Accept,Accept-Language,Content-Language,Content-Type,Range,If-Match,If-None-Match,If-Modified-Since,If-Unmodified-Since,If-Range,Authorization"
    )]
    pub(crate) cors_allow_headers: String,

    /// Response headers a cross-origin page may read besides the safelisted ones, comma-separated (e.g. 'ETag, Content-Range').
    #[arg(env = "SKIFF_CORS_EXPOSE_HEADERS", long, value_name = "NAMES")]
    pub(crate) cors_expose_headers: Option<String>,

    /// Ask for a user name and password (Basic authentication) from this Apache htpasswd file of bcrypt entries (htpasswd -B).
    #[arg(env = "SKIFF_HTPASSWD", long, value_name = "FILE")]
    pub(crate) htpasswd: Option<PathBuf>,

    /// The realm named in the password prompt.
    #[arg(
        env = "SKIFF_AUTH_REALM",
        long,
        value_name = "TEXT",
        default_value = "skiff"
    )]
    pub(crate) auth_realm: String,

    /// A URL path served without credentials under --htpasswd, e.g. /healthz (repeatable).
    #[arg(
        env = "SKIFF_AUTH_EXEMPT",
        long,
        value_name = "PATH",
        value_delimiter = '\n'
    )]
    pub(crate) auth_exempt: Vec<String>,

    /// Do not compress text files on the fly (on by default: br, zstd or gzip, made once per file version).
    #[arg(env = "SKIFF_NO_COMPRESS", long)]
    pub(crate) no_compress: bool,

    /// Threads that compress files, off the event loop (1 to 64).
    #[arg(env = "SKIFF_COMPRESS_THREADS", long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=MAX_COMPRESS_THREADS))]
    pub(crate) compress_threads: u16,

    /// MiB of compressed files kept in memory, least recently used dropped first (1 to 65536).
    #[arg(env = "SKIFF_COMPRESS_CACHE", long, value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=MAX_COMPRESS_CACHE_MIB))]
    pub(crate) compress_cache: u32,

    /// Instead of serving: ask the skiff this configuration describes for PATH (HEAD, on loopback) and exit 0 if it answers 2xx or 3xx, 1 if not. For container health checks.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "/")]
    pub(crate) health_check: Option<String>,

    /// Serve HTTPS on --port with this PEM certificate chain (leaf first); needs --tls-key. SIGHUP reloads both files.
    #[arg(env = "SKIFF_TLS_CERT", long, value_name = "PEM")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(env = "SKIFF_TLS_KEY", long, value_name = "PEM")]
    pub(crate) tls_key: Option<PathBuf>,

    /// Serve HTTPS with a certificate made at start for localhost, 127.0.0.1 and ::1 (for local development); its SHA-256 fingerprint is printed.
    #[arg(env = "SKIFF_TLS_SELF_SIGNED", long)]
    pub(crate) tls_self_signed: bool,

    /// With HTTPS: also listen for plain HTTP on this port (0: any free one) and answer every request there with a 308 redirect to the https:// URL.
    #[arg(env = "SKIFF_REDIRECT_HTTP", long, value_name = "PORT")]
    pub(crate) redirect_http: Option<u16>,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics, on a listener of their own (e.g. 127.0.0.1:9100); never on the public port.
    #[arg(env = "SKIFF_METRICS", long, value_name = "ADDR:PORT")]
    pub(crate) metrics: Option<String>,

    /// Serve on this inherited listening socket instead of binding --bind/--port (socket activation by hand; systemd's LISTEN_FDS is read without it).
    #[arg(env = "SKIFF_FD", long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=MAX_FD))]
    pub(crate) fd: Option<u32>,

    /// Independent event loops, each on its own thread and SO_REUSEPORT listener; 0 means one per CPU (at most 256).
    #[arg(env = "SKIFF_WORKERS", long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(0..=MAX_WORKERS))]
    pub(crate) workers: u16,
}

/// The `--access-log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Common,
    Combined,
    // One JSON object per line. (A doc comment here would turn --help's
    // layout into the long one, with every value described.)
    Json,
}

/// The `--protocol` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Protocol {
    #[value(name = "1.0")]
    Http10,
    #[value(name = "1.1")]
    Http11,
}

/// The validated configuration every driver runs from.
#[derive(Debug, Clone)]
pub struct Config {
    /// Canonical, existing directory.
    pub(crate) root: PathBuf,
    pub(crate) addr: SocketAddr,
    /// How long an idle connection is kept open; `None`: keep-alive is
    /// off (`--keep-alive-timeout 0`).
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) header_timeout: Duration,
    pub(crate) send_timeout: Duration,
    /// The version on every status line.
    pub(crate) version: Version,
    pub(crate) access_log: Option<String>,
    /// `--access-log-format`.
    pub(crate) access_log_format: crate::log::Format,
    pub(crate) verbose: bool,
    /// The body of every error response, indexed by `Status::index`;
    /// shared, so a large custom page is sent by reference, never copied
    /// into each connection's buffer.
    pub(crate) error_pages: Vec<std::sync::Arc<[u8]>>,
    /// Large file bodies go out with sendfile (where the system has it).
    pub(crate) sendfile: bool,
    /// Lookups and small files are cached, revalidated once a second.
    pub(crate) file_cache: bool,
    /// `--max-connections` as given; the driver fits it to the open-file
    /// limit (`server::connection_cap`).
    pub(crate) max_connections: Option<u64>,
    pub(crate) shutdown_timeout: Duration,
    /// Thread per connection instead of the event loop.
    pub(crate) threaded: bool,
    /// Event loops to run (at least 1; `--workers 0` resolved to the CPUs).
    pub(crate) workers: usize,
    /// `--header` fields.
    pub(crate) headers: Vec<Header>,
    /// The same plus `Cache-Control` (`--max-age`), for file responses.
    pub(crate) file_headers: Vec<Header>,
    /// `--list-dirs`.
    pub(crate) list_dirs: bool,
    /// `--show-hidden`.
    pub(crate) show_hidden: bool,
    /// `--precompressed`.
    pub(crate) precompressed: bool,
    /// `--health-check PATH`: probe a running server instead of serving.
    pub health_check: Option<String>,
    /// Text files are compressed on the fly (not `--no-compress`).
    pub(crate) compress: bool,
    /// `--compress-threads`.
    pub(crate) compress_threads: usize,
    /// `--compress-cache`, in bytes.
    pub(crate) compress_cache: usize,
    /// `--index`: the names served for a folder, in order.
    pub(crate) index: Box<[Box<str>]>,
    /// `--fallback`: the target (an origin-form path) of the file served
    /// for a missing path asked for as HTML.
    pub(crate) fallback: Option<Box<[u8]>>,
    /// `--cache-control` rules, in order: the glob, and the extra headers
    /// (`--header` ones plus this `Cache-Control`) of a file response it
    /// matches.
    pub(crate) cache_rules: Vec<(globset::GlobMatcher, Vec<Header>)>,
    /// `--cors` and its companions; `None`: no CORS headers at all.
    pub(crate) cors: Option<Cors>,
    /// `--htpasswd`, read and checked; `None`: no authentication.
    pub(crate) htpasswd: Option<std::sync::Arc<crate::auth::Htpasswd>>,
    /// `WWW-Authenticate` for a 401, with the realm, plus the `--header`
    /// fields.
    pub(crate) auth_challenge: Vec<Header>,
    /// `--auth-exempt` paths, normalised.
    pub(crate) auth_exempt: Vec<Vec<u8>>,
    /// HTTPS (`--tls-cert`/`--tls-key` or `--tls-self-signed`); `None`:
    /// plain HTTP.
    pub(crate) tls: Option<std::sync::Arc<crate::tls::Tls>>,
    /// `--redirect-http`: the plain-HTTP port that redirects to HTTPS.
    pub(crate) redirect_http: Option<u16>,
    /// `--metrics`: where the metrics listener binds.
    pub(crate) metrics: Option<SocketAddr>,
    /// Inherited listening sockets to serve on instead of binding: the
    /// server's, then (with HTTPS) the redirect listener's. From `--fd`,
    /// or systemd's `LISTEN_FDS` for this process.
    pub(crate) listen_fds: Vec<i32>,
}

/// Largest `--config` file read.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Keys a config file may not hold: the file itself, and what is an
/// action rather than a setting.
const NOT_IN_FILE: [&str; 4] = ["config", "health-check", "help", "version"];

/// The arguments `--config FILE` adds: for each key, `--key=value` (or
/// `--key` for `true`), unless the command line or a variable already set
/// that flag. Each item is the key and one argument. Errors name the file
/// and the key.
fn config_file_args(
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
        let scalar = |v: &toml::Value| match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
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

/// The sockets systemd handed this process (`sd_listen_fds`): none unless
/// `LISTEN_PID` is this process; then descriptors 3, 3 + 1, ... for
/// `LISTEN_FDS` of them. skiff takes one, or two with HTTPS (the second
/// for `--redirect-http`).
pub(crate) fn systemd_fds(
    pid: Option<&str>,
    fds: Option<&str>,
    me: u32,
) -> Result<Vec<i32>, String> {
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(Vec::new());
    };
    if pid.trim().parse::<u32>() != Ok(me) {
        return Ok(Vec::new()); // meant for another process
    }
    match fds.trim().parse::<u32>() {
        Ok(0) => Ok(Vec::new()),
        Ok(1) => Ok(vec![3]),
        Ok(2) => Ok(vec![3, 4]),
        Ok(n) => Err(format!(
            "LISTEN_FDS={n}: skiff takes one socket, or two (HTTPS and its --redirect-http listener)"
        )),
        Err(_) => Err(format!("LISTEN_FDS '{fds}': expected a number")),
    }
}

/// Cross-origin resource sharing, validated.
#[derive(Debug, Clone)]
pub(crate) struct Cors {
    /// `None`: any origin (`*`); else exactly these (lowercase).
    pub(crate) origins: Option<Vec<Box<str>>>,
    /// Header names a preflight may ask for (lowercase).
    pub(crate) allow_headers: Vec<Box<str>>,
    /// `Access-Control-Expose-Headers`, joined, if any.
    pub(crate) expose_headers: Option<std::sync::Arc<str>>,
}

/// A configuration problem, printed as `skiff: <message>`.
#[derive(Debug)]
pub enum ConfigError {
    /// `--help` or `--version`: print this and exit 0.
    Info(String),
    /// Anything else: one line, exit 2.
    Invalid(String),
}

impl Config {
    /// Parses and validates command-line arguments (the first is the
    /// program name).
    pub fn parse_from<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        use clap::{CommandFactory, FromArgMatches};
        let mut args = legacy_spellings(args.into_iter().map(Into::into));
        let clap_error = |e: clap::Error| match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                ConfigError::Info(e.to_string())
            }
            _ => {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or("invalid arguments");
                ConfigError::Invalid(first.trim_start_matches("error: ").to_string())
            }
        };
        let matches = Args::command()
            .try_get_matches_from(&args)
            .map_err(clap_error)?;
        if let Some(file) = matches.get_one::<PathBuf>("config") {
            // The file fills in what neither a flag nor a variable set;
            // then everything is parsed again, together.
            let added = config_file_args(file, &matches).map_err(ConfigError::Invalid)?;
            let keys: Vec<String> = added.iter().map(|(k, _)| k.clone()).collect();
            args.extend(added.into_iter().map(|(_, a)| a));
            let matches =
                Args::command()
                    .try_get_matches_from(&args)
                    .map_err(|e| match clap_error(e) {
                        ConfigError::Invalid(m) => {
                            let key = keys.iter().find(|k| m.contains(&format!("--{k}")));
                            ConfigError::Invalid(match key {
                                Some(k) => format!("--config '{}': key '{k}': {m}", file.display()),
                                None => m,
                            })
                        }
                        info => info,
                    })?;
            let parsed = Args::from_arg_matches(&matches).map_err(clap_error)?;
            return Config::from_args(parsed);
        }
        let parsed = Args::from_arg_matches(&matches).map_err(clap_error)?;
        Config::from_args(parsed)
    }

    /// Validates parsed flags.
    pub(crate) fn from_args(args: Args) -> Result<Config, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(m);
        let shown = args.root.display();
        let meta = std::fs::metadata(&args.root).map_err(|e| {
            invalid(match e.kind() {
                std::io::ErrorKind::NotFound => format!("document root '{shown}' does not exist"),
                _ => format!("document root '{shown}': {e}"),
            })
        })?;
        if !meta.is_dir() {
            return Err(invalid(format!(
                "document root '{shown}' is not a directory"
            )));
        }
        let root = std::fs::canonicalize(&args.root)
            .map_err(|e| invalid(format!("document root '{shown}': {e}")))?;

        let addr = resolve_addr(&args.bind, args.port)?;
        if let Some(path) = &args.health_check {
            if !path.starts_with('/') || path.bytes().any(|c| c <= b' ' || c == 0x7f) {
                return Err(invalid(format!(
                    "--health-check '{path}': expected a path such as /index.html"
                )));
            }
        }

        let mut error_pages = Vec::with_capacity(Status::ALL.len());
        for status in Status::ALL {
            let custom = match &args.error_pages {
                Some(dir) => {
                    let path = dir.join(format!("{}.html", status.code()));
                    match std::fs::read(&path) {
                        Ok(bytes) if bytes.len() > MAX_ERROR_PAGE => {
                            return Err(invalid(format!(
                                "error page '{}' is {} bytes; the most is {MAX_ERROR_PAGE}",
                                path.display(),
                                bytes.len()
                            )));
                        }
                        Ok(bytes) => Some(bytes),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                        Err(e) => {
                            return Err(invalid(format!("error page '{}': {e}", path.display())));
                        }
                    }
                }
                None => None,
            };
            let page = custom.unwrap_or_else(|| {
                let mut v = Vec::new();
                write_builtin_error_page(&mut v, status);
                v
            });
            error_pages.push(page.into());
        }
        if let Some(dir) = &args.error_pages {
            if !dir.is_dir() {
                return Err(invalid(format!(
                    "error pages folder '{}' is not a directory",
                    dir.display()
                )));
            }
        }

        let mut headers = Vec::new();
        for spec in &args.headers {
            let (name, value) = parse_header_spec(spec).map_err(invalid)?;
            headers.push(Header::new(name, value));
        }
        let with = |name: &str, value: &str| {
            let mut h = headers.clone();
            h.push(Header::new(name, value));
            h
        };
        let mut cache_rules = Vec::new();
        for spec in &args.cache_control {
            let (glob, value) = parse_cache_rule(spec).map_err(invalid)?;
            cache_rules.push((glob, with("Cache-Control", value)));
        }
        let index = parse_index(&args.index).map_err(invalid)?;
        let htpasswd = match &args.htpasswd {
            Some(path) => {
                let shown = path.display();
                let text = std::fs::read_to_string(path)
                    .map_err(|e| invalid(format!("--htpasswd '{shown}': {e}")))?;
                let file = crate::auth::Htpasswd::parse(&text)
                    .map_err(|e| invalid(format!("--htpasswd '{shown}' {e}")))?;
                Some(std::sync::Arc::new(file))
            }
            None => None,
        };
        let realm = &args.auth_realm;
        if realm
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err(invalid(format!(
                "--auth-realm '{realm}': no quotes, backslashes or control characters"
            )));
        }
        let auth_challenge = with(
            "WWW-Authenticate",
            &format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
        );
        let mut auth_exempt = Vec::new();
        for path in &args.auth_exempt {
            match crate::files::resolve::normalize(path.as_bytes()) {
                Ok(n) if path.starts_with('/') => auth_exempt.push(n.path),
                _ => {
                    return Err(invalid(format!(
                        "--auth-exempt '{path}': expected a path such as /healthz"
                    )));
                }
            }
        }
        let cors = match &args.cors {
            Some(origins) => Some(
                parse_cors(
                    origins,
                    &args.cors_allow_headers,
                    args.cors_expose_headers.as_deref(),
                )
                .map_err(invalid)?,
            ),
            None => None,
        };
        let fallback = match &args.fallback {
            Some(file) => Some(fallback_target(&root, file).map_err(invalid)?),
            None => None,
        };
        let tls = match (&args.tls_cert, &args.tls_key, args.tls_self_signed) {
            (Some(_), _, true) | (_, Some(_), true) => {
                return Err(invalid(
                    "--tls-self-signed makes its own certificate: give it without --tls-cert and --tls-key".into(),
                ));
            }
            (Some(cert), Some(key), false) => Some(std::sync::Arc::new(
                crate::tls::Tls::from_files(cert, key).map_err(invalid)?,
            )),
            (Some(_), None, _) => return Err(invalid("--tls-cert needs --tls-key".into())),
            (None, Some(_), _) => return Err(invalid("--tls-key needs --tls-cert".into())),
            (None, None, true) => Some(std::sync::Arc::new(
                crate::tls::Tls::self_signed().map_err(invalid)?,
            )),
            (None, None, false) => None,
        };
        if let Some(port) = args.redirect_http {
            if tls.is_none() {
                return Err(invalid(
                    "--redirect-http needs HTTPS (--tls-cert and --tls-key, or --tls-self-signed)"
                        .into(),
                ));
            }
            if port != 0 && port == args.port {
                return Err(invalid(format!(
                    "--redirect-http {port} is the HTTPS port itself; give another"
                )));
            }
        }
        let listen_fds = match args.fd {
            Some(n) => vec![n as i32],
            None => systemd_fds(
                std::env::var("LISTEN_PID").ok().as_deref(),
                std::env::var("LISTEN_FDS").ok().as_deref(),
                std::process::id(),
            )
            .map_err(invalid)?,
        };
        if listen_fds.len() == 2 && tls.is_none() {
            return Err(invalid(
                "LISTEN_FDS=2: the second socket is for --redirect-http, which needs HTTPS".into(),
            ));
        }
        let metrics = match &args.metrics {
            Some(spec) => Some(
                spec.to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| {
                        invalid(format!(
                            "--metrics '{spec}': expected ADDR:PORT, e.g. 127.0.0.1:9100"
                        ))
                    })?,
            ),
            None => None,
        };
        let file_headers = match args.max_age {
            Some(secs) => with("Cache-Control", &format!("max-age={secs}")),
            None => headers.clone(),
        };

        Ok(Config {
            root,
            addr,
            keep_alive: (args.keep_alive_timeout > 0)
                .then(|| Duration::from_secs(args.keep_alive_timeout)),
            header_timeout: Duration::from_secs(args.header_timeout),
            send_timeout: Duration::from_secs(args.send_timeout),
            version: match args.protocol {
                Protocol::Http10 => Version::Http10,
                Protocol::Http11 => Version::Http11,
            },
            access_log: args.access_log,
            access_log_format: match args.access_log_format {
                LogFormat::Common => crate::log::Format::Common,
                LogFormat::Combined => crate::log::Format::Combined,
                LogFormat::Json => crate::log::Format::Json,
            },
            verbose: args.verbose,
            error_pages,
            sendfile: !args.no_sendfile,
            file_cache: !args.no_file_cache,
            max_connections: args.max_connections,
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
            threaded: args.threaded,
            workers: match args.workers {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => usize::from(n),
            }
            .min(MAX_WORKERS as usize),
            headers,
            file_headers,
            list_dirs: args.list_dirs,
            show_hidden: args.show_hidden,
            precompressed: args.precompressed,
            health_check: args.health_check,
            compress: !args.no_compress,
            compress_threads: usize::from(args.compress_threads),
            compress_cache: (args.compress_cache as usize).saturating_mul(1024 * 1024),
            index,
            fallback,
            cache_rules,
            cors,
            htpasswd,
            auth_challenge,
            auth_exempt,
            tls,
            redirect_http: args.redirect_http,
            listen_fds,
            metrics,
        })
    }

    /// The page sent as the body of an error response.
    pub(crate) fn error_page(&self, status: Status) -> &std::sync::Arc<[u8]> {
        &self.error_pages[status.index()]
    }

    /// The header fields a reply carries (see [`Extra`]).
    pub(crate) fn extra(&self, extra: Extra) -> &[Header] {
        match extra {
            Extra::Common => &self.headers,
            Extra::File => &self.file_headers,
            Extra::Rule(i) => self.cache_rules.get(i).map_or(&self.file_headers, |r| &r.1),
            Extra::Challenge => &self.auth_challenge,
        }
    }

    /// How request targets find files under this configuration.
    pub(crate) fn lookup(&self) -> Lookup<'_> {
        Lookup {
            root: &self.root,
            show_hidden: self.show_hidden,
            list_dirs: self.list_dirs,
            precompressed: self.precompressed,
            index: Some(&self.index),
        }
    }

    /// Whether connections may persist at all.
    pub(crate) fn keep_alive_enabled(&self) -> bool {
        self.version == Version::Http11 && self.keep_alive.is_some()
    }
}

/// Headers `--header` may not set: skiff sets them itself, and framing or
/// caching would break if they were overridden.
const RESERVED_HEADERS: [&str; 9] = [
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "date",
    "content-type",
    "content-range",
    "server",
];

/// `Name: value` -> (name, trimmed value), or why not.
fn parse_header_spec(spec: &str) -> Result<(&str, &str), String> {
    let Some((name, value)) = spec.split_once(':') else {
        return Err(format!("--header '{spec}': expected 'Name: value'"));
    };
    let value = value.trim_matches([' ', '\t']);
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!(
            "--header '{spec}': '{name}' is not a valid header name"
        ));
    }
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(format!(
            "--header '{spec}': the value may not contain CR, LF or NUL"
        ));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("--header '{spec}': skiff sets {name} itself"));
    }
    Ok((name, value))
}

/// `--cors` and its lists, validated: origins are `scheme://host[:port]`
/// (no path), header names are tokens.
fn parse_cors(origins: &str, allow: &str, expose: Option<&str>) -> Result<Cors, String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let names = |flag: &str, list: &str| -> Result<Vec<Box<str>>, String> {
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !name.chars().all(token) {
                return Err(format!("{flag} '{list}': '{name}' is not a header name"));
            }
            out.push(name.to_ascii_lowercase().into());
        }
        Ok(out)
    };
    let origins = if origins.trim() == "*" {
        None
    } else {
        let mut list = Vec::new();
        for origin in origins.split(',').map(str::trim) {
            let ok = origin.split_once("://").is_some_and(|(scheme, rest)| {
                !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    && !rest.is_empty()
                    && !rest.contains(['/', '?', '#', ' ', '@'])
            });
            if !ok {
                return Err(format!(
                    "--cors '{origins}': '{origin}' is not an origin like https://example.com or http://localhost:3000"
                ));
            }
            list.push(origin.to_ascii_lowercase().into());
        }
        Some(list)
    };
    let expose = match expose {
        Some(list) => {
            let v = names("--cors-expose-headers", list)?;
            (!v.is_empty()).then(|| {
                list.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ")
                    .into()
            })
        }
        None => None,
    };
    Ok(Cors {
        origins,
        allow_headers: names("--cors-allow-headers", allow)?,
        expose_headers: expose,
    })
}

/// `--index a.html,b.htm` -> the names. Each is one file name: not empty,
/// no `/`, not `.` or `..`.
fn parse_index(spec: &str) -> Result<Box<[Box<str>]>, String> {
    let names: Vec<Box<str>> = spec.split(',').map(|n| n.trim().into()).collect();
    for name in &names {
        if name.is_empty()
            || name.contains('/')
            || name.contains('\0')
            || &**name == "."
            || &**name == ".."
        {
            return Err(format!("--index '{spec}': '{name}' is not a file name"));
        }
    }
    Ok(names.into_boxed_slice())
}

/// `--fallback FILE` (relative to the root, with or without a leading
/// `/`) -> the request target that finds it, checked now: a regular file
/// under the root.
fn fallback_target(root: &std::path::Path, file: &str) -> Result<Box<[u8]>, String> {
    let rel = file.trim_start_matches('/');
    let path = root.join(rel);
    let shown = || format!("--fallback '{file}'");
    let canonical = std::fs::canonicalize(&path).map_err(|e| format!("{}: {e}", shown()))?;
    if !canonical.starts_with(root) {
        return Err(format!("{}: not under the root", shown()));
    }
    if !std::fs::metadata(&canonical)
        .map(|m| m.is_file())
        .unwrap_or(false)
    {
        return Err(format!("{}: not a regular file", shown()));
    }
    let mut target = Vec::new();
    for seg in rel.split('/').filter(|s| !s.is_empty()) {
        target.push(b'/');
        target.extend(
            percent_encoding::utf8_percent_encode(seg, percent_encoding::NON_ALPHANUMERIC)
                .flat_map(|s| s.bytes()),
        );
    }
    Ok(target.into_boxed_slice())
}

/// `GLOB=VALUE` -> the compiled glob (matched against URL paths; `*`
/// stays within a segment, `**` crosses them) and the value.
fn parse_cache_rule(spec: &str) -> Result<(globset::GlobMatcher, &str), String> {
    let Some((glob, value)) = spec.split_once('=') else {
        return Err(format!("--cache-control '{spec}': expected 'GLOB=VALUE'"));
    };
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() || value.chars().any(|c| c.is_control()) {
        return Err(format!(
            "--cache-control '{spec}': the value must be non-empty, without control characters"
        ));
    }
    let glob = globset::GlobBuilder::new(glob.trim())
        .literal_separator(true)
        .build()
        .map_err(|e| format!("--cache-control '{spec}': {e}"))?;
    Ok((glob.compile_matcher(), value))
}

/// `skiff generate man` and `skiff generate completions SHELL` (`what` is
/// what follows `generate`): the man page (roff) or the shell's completion
/// script, made from the flags' own definitions, or a one-line error.
pub fn generate(what: &[OsString]) -> Result<Vec<u8>, String> {
    use clap::CommandFactory;
    let words: Vec<&str> = what
        .iter()
        .map(|w| w.to_str().unwrap_or("\u{fffd}"))
        .collect();
    let mut out = Vec::new();
    match words[..] {
        ["man"] => clap_mangen::Man::new(Args::command())
            .render(&mut out)
            .map_err(|e| format!("generate man: {e}"))?,
        ["completions", shell] => {
            let shell: clap_complete::Shell = shell.parse().map_err(|_| {
                format!("generate completions: '{shell}' is not one of bash, elvish, fish, powershell, zsh")
            })?;
            clap_complete::generate(shell, &mut Args::command(), "skiff", &mut out);
        }
        _ => {
            return Err(
                "generate: expected 'man' or 'completions SHELL' (bash, elvish, fish, powershell, zsh)"
                    .into(),
            );
        }
    }
    Ok(out)
}

/// `-document_root DIR` and `-port N`, the original assignment's spellings,
/// become `--root DIR` and `--port N` (also with `=VALUE`).
fn legacy_spellings(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    args.map(|a| {
        let Some(s) = a.to_str() else { return a };
        for (old, new) in [("-document_root", "--root"), ("-port", "--port")] {
            if s == old {
                return OsString::from(new);
            }
            if let Some(v) = s.strip_prefix(old).and_then(|r| r.strip_prefix('=')) {
                return OsString::from(format!("{new}={v}"));
            }
        }
        a
    })
    .collect()
}

fn resolve_addr(bind: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    let trimmed = bind.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = trimmed.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (bind, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| ConfigError::Invalid(format!("cannot use bind address '{bind}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut v = vec!["skiff"];
        v.extend_from_slice(args);
        Config::parse_from(v)
    }

    fn tmp_root() -> PathBuf {
        std::env::temp_dir()
    }

    #[test]
    fn defaults() {
        let root = tmp_root();
        let c = parse(&["--root", root.to_str().unwrap()]).unwrap();
        assert_eq!(c.addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.keep_alive, Some(Duration::from_secs(10)));
        assert_eq!(c.version, Version::Http11);
        assert!(c.keep_alive_enabled());
        assert!(
            c.error_page(Status::NotFound)
                .starts_with(b"<!DOCTYPE html>")
        );
    }

    #[test]
    fn legacy_flags() {
        let root = tmp_root();
        let c = parse(&["-document_root", root.to_str().unwrap(), "-port", "9999"]).unwrap();
        assert_eq!(c.addr.port(), 9999);
        assert_eq!(c.root, std::fs::canonicalize(&root).unwrap());
    }

    #[test]
    fn ipv6_and_protocol() {
        let root = tmp_root();
        let c = parse(&[
            "--root",
            root.to_str().unwrap(),
            "--bind",
            "::1",
            "--port",
            "0",
            "--protocol",
            "1.0",
        ])
        .unwrap();
        assert_eq!(c.addr, "[::1]:0".parse().unwrap());
        assert_eq!(c.version, Version::Http10);
        assert!(!c.keep_alive_enabled());
    }

    #[test]
    fn errors_are_one_line() {
        let root = tmp_root();
        let r = root.to_str().unwrap();
        for args in [
            vec!["--root", "/definitely/not/here"],
            vec!["--root", r, "--port", "http"],
            vec!["--root", r, "--port", "70000"],
            vec!["--root", r, "--protocol", "2"],
            vec!["--root", r, "--bind", "not an address"],
            vec!["--root", r, "--header-timeout", "0"],
            vec!["--bogus"],
        ] {
            match parse(&args) {
                Err(ConfigError::Invalid(m)) => {
                    assert!(!m.contains('\n') && !m.is_empty(), "{args:?}: {m}")
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod activation_tests {
    use super::systemd_fds;

    #[test]
    fn systemd_sockets_are_taken_only_when_meant_for_this_process() {
        assert_eq!(systemd_fds(None, None, 7), Ok(vec![]));
        assert_eq!(systemd_fds(Some("7"), None, 7), Ok(vec![]));
        assert_eq!(
            systemd_fds(Some("8"), Some("1"), 7),
            Ok(vec![]),
            "another process's"
        );
        assert_eq!(systemd_fds(Some("7"), Some("0"), 7), Ok(vec![]));
        assert_eq!(systemd_fds(Some("7"), Some("1"), 7), Ok(vec![3]));
        assert_eq!(systemd_fds(Some(" 7\n"), Some("2"), 7), Ok(vec![3, 4]));
        assert!(
            systemd_fds(Some("7"), Some("3"), 7)
                .unwrap_err()
                .contains("LISTEN_FDS=3")
        );
        assert!(
            systemd_fds(Some("7"), Some("x"), 7)
                .unwrap_err()
                .contains("'x'")
        );
        assert_eq!(systemd_fds(Some("x"), Some("1"), 7), Ok(vec![]));
    }
}
