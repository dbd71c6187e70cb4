//! The command line: clap's definition of every flag (each with its
//! `SKIFF_*` variable and its bound), the original assignment's spellings,
//! and what `skiff generate` makes from them (the man page, completions).
//! Values here are as typed; `Config::from_args` validates them.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Largest value of every timeout flag (keep-alive, header, send,
/// shutdown): one day. A longer timeout protects nothing, and the bound
/// keeps every deadline far from `Instant`'s range.
/// A size: bytes, or a whole number with K, M, G or T (powers of 1024),
/// from 1 byte to 1 PiB.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&t[..t.len() - 1], 10),
        Some(b'M') => (&t[..t.len() - 1], 20),
        Some(b'G') => (&t[..t.len() - 1], 30),
        Some(b'T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size such as 500M, 16G or 1048576"))?;
    match n.checked_mul(1 << shift) {
        Some(v) if (1..=1 << 50).contains(&v) => Ok(v),
        _ => Err(format!("'{text}': a size from 1 byte to 1024T")),
    }
}

pub(crate) const MAX_TIMEOUT_SECS: u64 = 86_400;
/// Largest `--max-age`: 2^31 seconds, the value RFC 9111 section 1.2.2 tells
/// caches to assume for anything larger.
pub(crate) const MAX_AGE_SECS: u64 = 1 << 31;
/// Largest `--max-connections`. The open-file limit lowers it further
/// (`server::connection_cap`); above a million nothing here would fit.
pub(crate) const MAX_CONNECTIONS: u64 = 1_000_000;
/// Largest `--compress-threads`: compression is once per file version, so
/// more threads only help a cold start with many files.
pub(crate) const MAX_COMPRESS_THREADS: i64 = 64;
/// Largest `--compress-cache`, in MiB: 64 GiB.
pub(crate) const MAX_COMPRESS_CACHE_MIB: i64 = 65_536;
/// Largest `--fd`: a descriptor number (Linux caps them far lower).
pub(crate) const MAX_FD: i64 = i32::MAX as i64;
/// Largest `--workers`: event loops beyond the CPUs only contend.
pub(crate) const MAX_WORKERS: i64 = 256;
/// Largest `--http2-max-streams`: each open stream may hold a response
/// head, a send buffer and an open file, so the concurrent limit is what
/// bounds an HTTP/2 connection's memory.
pub(crate) const MAX_HTTP2_STREAMS: i64 = 1024;

/// skiff: a small, fast static file server (HTTP/1.1 and HTTP/2).
#[derive(Debug, Clone, Parser)]
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

    /// Speak HTTP/2: h2 over HTTPS (ALPN), and h2c with prior knowledge on plain ports.
    #[arg(env = "SKIFF_HTTP2", long, value_name = "on|off", default_value = "on")]
    pub(crate) http2: Switch,

    /// Most concurrent streams of one HTTP/2 connection (1 to 1024).
    #[arg(env = "SKIFF_HTTP2_MAX_STREAMS", long, value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=MAX_HTTP2_STREAMS))]
    pub(crate) http2_max_streams: u32,

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

    /// Offer each listed folder as one download: GET /DIR/?download=tar, tar.gz or zip streams it.
    #[arg(env = "SKIFF_ARCHIVES", long)]
    pub(crate) archives: bool,

    /// Most entries (files and folders) one folder download may hold; past it, 413 (1 to 10000000).
    #[arg(env = "SKIFF_ARCHIVE_MAX_FILES", long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub(crate) archive_max_files: u64,

    /// Most bytes of files one folder download may hold (K, M, G, T: powers of 1024); past it, 413.
    #[arg(env = "SKIFF_ARCHIVE_MAX_BYTES", long, value_name = "SIZE", default_value = "16G",
          value_parser = parse_size)]
    pub(crate) archive_max_bytes: u64,

    /// Accept uploads: PUT /DIR/NAME (curl -T), and a form on listings (several files, drag and drop). Never replaces a file unless --upload-overwrite.
    #[arg(env = "SKIFF_UPLOAD", long)]
    pub(crate) upload: bool,

    /// With --upload: only into this folder under the root (and the folders in it).
    #[arg(env = "SKIFF_UPLOAD_DIR", long, value_name = "SUBDIR")]
    pub(crate) upload_dir: Option<String>,

    /// With --upload: an upload may replace an existing file of the same name (answered 204).
    #[arg(env = "SKIFF_UPLOAD_OVERWRITE", long)]
    pub(crate) upload_overwrite: bool,

    /// With --upload: most bytes one upload's body may have (K, M, G, T); past it, 413 and the connection closes.
    #[arg(env = "SKIFF_UPLOAD_MAX_BYTES", long, value_name = "SIZE", default_value = "1G",
          value_parser = parse_size)]
    pub(crate) upload_max_bytes: u64,

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

    /// Redirect paths matching GLOB, e.g. '/old/*=/new/$1' or 'www.example.com/**=https://example.com/$1 301' (308 unless CODE is 301, 302, 303 or 307; repeatable; the first match wins).
    #[arg(
        env = "SKIFF_REDIRECT",
        long = "redirect",
        value_name = "FROM=TO [CODE]",
        value_delimiter = '\n'
    )]
    pub(crate) redirects: Vec<String>,

    /// Serve another path under the root for paths matching GLOB, without a redirect, e.g. '/docs/**=/manual/$1' (repeatable; the first match wins; never chained).
    #[arg(
        env = "SKIFF_REWRITE",
        long = "rewrite",
        value_name = "FROM=TO",
        value_delimiter = '\n'
    )]
    pub(crate) rewrites: Vec<String>,

    /// Serve /about from about.html, and redirect /about.html to /about and /dir/index.html to /dir/ (308).
    #[arg(env = "SKIFF_CLEAN_URLS", long)]
    pub(crate) clean_urls: bool,

    /// The one form of a path, enforced with 308: always (folders and clean URLs end with /), never (only / does), or auto (folders get a 301 to their slash, as without the flag).
    #[arg(
        env = "SKIFF_TRAILING_SLASH",
        long,
        value_name = "POLICY",
        default_value = "auto"
    )]
    pub(crate) trailing_slash: SlashPolicy,

    /// Serve the root at this path (e.g. /app behind an ingress): /app/x is the file x, and every other path is 404.
    #[arg(env = "SKIFF_BASE_PATH", long, value_name = "PATH")]
    pub(crate) base_path: Option<String>,

    /// Answer GET and HEAD of this path with 200 "ok" while serving and 503 once stopping (for load balancers and Kubernetes probes); never logged, counted, or asked for credentials. With it, stopping keeps the port open for all of --shutdown-timeout, answering every new request 503.
    #[arg(env = "SKIFF_HEALTH_PATH", long, value_name = "PATH")]
    pub(crate) health_path: Option<String>,

    /// Serve only clients in this network (CIDR such as 10.0.0.0/8 or 2001:db8::/32, or one address; repeatable). Checked in order with --deny, the first match wins; with any --allow, every other address gets 403.
    #[arg(
        env = "SKIFF_ALLOW",
        long = "allow",
        value_name = "CIDR",
        value_delimiter = '\n'
    )]
    pub(crate) allow: Vec<String>,

    /// Refuse clients in this network with 403 (CIDR or one address; repeatable; checked in order with --allow).
    #[arg(
        env = "SKIFF_DENY",
        long = "deny",
        value_name = "CIDR",
        value_delimiter = '\n'
    )]
    pub(crate) deny: Vec<String>,

    /// Requests from these proxies (CIDR or one address; repeatable) name their client in X-Forwarded-For or Forwarded, for --allow/--deny and the access log; from anyone else those headers change nothing.
    #[arg(
        env = "SKIFF_TRUST_PROXY",
        long = "trust-proxy",
        value_name = "CIDR",
        value_delimiter = '\n'
    )]
    pub(crate) trust_proxy: Vec<String>,

    /// --allow and --deny together, in the order given (true: --allow).
    #[arg(skip)]
    pub(crate) address_rules: Vec<(bool, String)>,

    /// At start, draw the first LAN address's URL as a QR code in the terminal, for a phone's camera.
    #[arg(env = "SKIFF_QR", long)]
    pub(crate) qr: bool,

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

    /// Instead of serving: ask the skiff this configuration describes for PATH (HEAD, on loopback; without PATH, --health-path if set, else /) and exit 0 if it answers 2xx or 3xx, 1 if not. For container health checks.
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

/// The `--trailing-slash` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SlashPolicy {
    Auto,
    Always,
    Never,
}

/// An on/off setting (`--http2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Switch {
    On,
    Off,
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
pub(crate) fn legacy_spellings(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
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
