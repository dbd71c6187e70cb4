//! Command-line flags, validated into a [`Config`] in one step.
//!
//! The flags themselves are in `args` (clap), the `--config` file's merge
//! in `file`; each setting that must be read or checked (the error pages,
//! the header sets, the password file, the certificate, CORS, the index
//! and fallback, inherited sockets) is loaded by the module that owns it.
//! Owns every user-facing knob and its default. After `Config::parse_from`
//! returns, the root is canonical, the address resolved, durations are
//! durations and error pages are loaded: nothing downstream re-validates.
//! Never panics on user input; every failure is one line of text.

mod args;
mod file;

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Htpasswd;
use crate::files::resolve::{self, Lookup};
use crate::http::response::{Added, Fields, Status, Version};
use crate::rules::addresses::Addresses;
use crate::rules::cors::{Cors, parse_cors};
use crate::rules::headers::HeaderSets;
use crate::rules::hosts::{HostPattern, request_host};
use crate::rules::pages;
use crate::rules::routes::{Routes, TrailingSlash};
use crate::sys::activation;
use crate::tls::Tls;
pub use args::generate;
use args::legacy_spellings;
pub(crate) use args::{Args, LogFormat, MAX_WORKERS, Protocol, SlashPolicy, Switch};
use file::{SITE_KEYS, SiteArgs, config_file_args};

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
    /// HTTP/2 is spoken (`--http2 on`, and not `--protocol 1.0`): h2 over
    /// HTTPS by ALPN, h2c with prior knowledge on plain listeners.
    pub(crate) http2: bool,
    /// `--http2-max-streams`: concurrent streams per HTTP/2 connection.
    pub(crate) http2_max_streams: u32,
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
    /// Event loops, or a thread per connection.
    pub(crate) mode: Mode,
    /// The header fields replies carry: `--header`, `--max-age`,
    /// `--cache-control`, and the `--htpasswd` challenge.
    pub(crate) headers: HeaderSets,
    /// `--base-path`, `--redirect`, `--rewrite`, `--clean-urls`,
    /// `--trailing-slash`.
    pub(crate) routes: Routes,
    /// `--allow`, `--deny`, `--trust-proxy`.
    pub(crate) addresses: Addresses,
    /// This configuration's place: 0 for the top level (the default site),
    /// else its `[[site]]`'s number, from 1.
    pub(crate) site_id: u16,
    /// The `host` of its `[[site]]` (`None`: the default site).
    pub(crate) site_name: Option<Arc<str>>,
    /// The config file's `[[site]]` tables, each a whole configuration
    /// (the top level's, with the site's own keys over it).
    pub(crate) sites: Arc<[VirtualHost]>,
    /// `--qr`: draw the LAN URL as a QR code at start.
    pub(crate) qr: bool,
    /// `--list-dirs`.
    pub(crate) list_dirs: bool,
    /// `--show-hidden`.
    pub(crate) show_hidden: bool,
    /// `--archives`: folder downloads.
    pub(crate) archives: bool,
    /// `--archive-max-files` and `--archive-max-bytes`.
    pub(crate) archive_limits: crate::share::archive::Limits,
    /// `--upload` and its settings; `None`: uploads are off.
    pub(crate) upload: Option<Uploads>,
    /// `--precompressed`.
    pub(crate) precompressed: bool,
    /// `--health-check PATH`: probe a running server instead of serving
    /// (without a PATH: `--health-path` if set, else `/`).
    pub health_check: Option<String>,
    /// `--health-path`: the route that says whether skiff is serving.
    pub(crate) health_path: Option<Box<[u8]>>,
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
    /// `--cors` and its companions; `None`: no CORS headers at all.
    pub(crate) cors: Option<Cors>,
    /// `--htpasswd`, read and checked; `None`: no authentication.
    pub(crate) htpasswd: Option<std::sync::Arc<crate::auth::Htpasswd>>,
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

/// How connections are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// This many event loops (at least 1; `--workers 0` resolved to the
    /// CPUs), each on its own thread with its own listener, sharing the
    /// port with SO_REUSEPORT when there are several.
    EventLoops(usize),
    /// A thread per connection (`--threaded`).
    Threaded,
}

impl Mode {
    /// Event loops to run; one set of listeners and counters for the
    /// threaded driver.
    pub(crate) fn loops(self) -> usize {
        match self {
            Mode::EventLoops(n) => n.max(1),
            Mode::Threaded => 1,
        }
    }
}

/// The document root: canonical, existing, a folder; or why not.
fn document_root(dir: &Path) -> Result<PathBuf, String> {
    let shown = dir.display();
    let meta = std::fs::metadata(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("document root '{shown}' does not exist"),
        _ => format!("document root '{shown}': {e}"),
    })?;
    if !meta.is_dir() {
        return Err(format!("document root '{shown}' is not a directory"));
    }
    std::fs::canonicalize(dir).map_err(|e| format!("document root '{shown}': {e}"))
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
            let read = config_file_args(file, &matches).map_err(ConfigError::Invalid)?;
            let shown = file.display().to_string();
            let keys: Vec<(String, usize)> =
                read.args.iter().map(|(k, l, _)| (k.clone(), *l)).collect();
            args.extend(read.args.into_iter().map(|(_, _, a)| a));
            // A message about a flag the file set names the file, the key
            // and its line.
            let in_file = |e: ConfigError| match e {
                ConfigError::Invalid(m) => {
                    let key = keys.iter().find(|(k, _)| names_flag(&m, k));
                    ConfigError::Invalid(match key {
                        Some((k, l)) => format!("--config '{shown}': line {l}: key '{k}': {m}"),
                        None => m,
                    })
                }
                info => info,
            };
            let matches = Args::command()
                .try_get_matches_from(&args)
                .map_err(|e| in_file(clap_error(e)))?;
            let mut parsed = Args::from_arg_matches(&matches).map_err(clap_error)?;
            parsed.address_rules = address_order(&matches);
            let mut config = Config::from_args(parsed.clone()).map_err(in_file)?;
            config.sites = virtual_hosts(&parsed, &config, read.sites, &shown)?;
            if let Some(tls) = &config.tls {
                // Each site with a certificate of its own, by SNI.
                tls.serve_sites(
                    config
                        .sites
                        .iter()
                        .filter_map(|v| {
                            let own = v.config.tls.as_ref().filter(|t| !Arc::ptr_eq(t, tls))?;
                            Some((v.host.clone(), own.clone()))
                        })
                        .collect(),
                );
            }
            return Ok(config);
        }
        let mut parsed = Args::from_arg_matches(&matches).map_err(clap_error)?;
        parsed.address_rules = address_order(&matches);
        Config::from_args(parsed)
    }

    /// Validates parsed flags. Each part is loaded and checked by the
    /// module that owns it; this only puts them together.
    pub(crate) fn from_args(args: Args) -> Result<Config, ConfigError> {
        let invalid = ConfigError::Invalid;
        let root = document_root(&args.root).map_err(invalid)?;
        let addr = resolve_addr(&args.bind, args.port)?;
        if let Some(path) = &args.health_check {
            if !path.starts_with('/') || path.bytes().any(|c| c <= b' ' || c == 0x7f) {
                return Err(invalid(format!(
                    "--health-check '{path}': expected a path such as /index.html"
                )));
            }
        }
        let addresses = Addresses::new(&args.address_rules, &args.trust_proxy).map_err(invalid)?;
        let upload = uploads(&args, &root).map_err(invalid)?;
        let health_path = match &args.health_path {
            Some(path) => {
                if !path.starts_with('/')
                    || path.contains(['?', '#', '%'])
                    || path.bytes().any(|c| c <= b' ' || c == 0x7f)
                {
                    return Err(invalid(format!(
                        "--health-path '{path}': expected a plain path such as /healthz"
                    )));
                }
                Some(path.as_bytes().into())
            }
            None => None,
        };
        let health_check = match (args.health_check, &args.health_path) {
            (Some(p), Some(route)) if p == "/" => Some(route.clone()),
            (check, _) => check,
        };
        let error_pages = pages::load(args.error_pages.as_deref()).map_err(invalid)?;
        let headers = HeaderSets::new(
            &args.headers,
            args.max_age,
            &args.cache_control,
            &args.auth_realm,
        )
        .map_err(invalid)?;
        let index = resolve::parse_index(&args.index).map_err(invalid)?;
        let routes = Routes::new(
            args.base_path.as_deref(),
            &args.redirects,
            &args.rewrites,
            args.clean_urls,
            match args.trailing_slash {
                SlashPolicy::Auto => TrailingSlash::Auto,
                SlashPolicy::Always => TrailingSlash::Always,
                SlashPolicy::Never => TrailingSlash::Never,
            },
        )
        .map_err(invalid)?;
        let htpasswd = match &args.htpasswd {
            Some(path) => Some(Arc::new(Htpasswd::load(path).map_err(invalid)?)),
            None => None,
        };
        let auth_exempt = crate::auth::exempt_paths(&args.auth_exempt).map_err(invalid)?;
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
            Some(file) => Some(resolve::fallback_target(&root, file).map_err(invalid)?),
            None => None,
        };
        // HTTP/1.0 mode is one request per connection: no HTTP/2 there.
        let http2 = args.http2 == Switch::On && args.protocol == Protocol::Http11;
        let tls = Tls::from_flags(
            args.tls_cert.as_deref(),
            args.tls_key.as_deref(),
            args.tls_self_signed,
            http2,
        )
        .map_err(invalid)?;
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
        let listen_fds = activation::listen_fds(args.fd).map_err(invalid)?;
        if listen_fds.len() == 2 && tls.is_none() {
            return Err(invalid(
                "LISTEN_FDS=2: the second socket is for --redirect-http, which needs HTTPS".into(),
            ));
        }
        let metrics = match &args.metrics {
            Some(spec) => Some(crate::metrics::listen_addr(spec).map_err(invalid)?),
            None => None,
        };
        let mode = match (args.threaded, args.workers) {
            (true, _) => Mode::Threaded,
            (false, 0) => Mode::EventLoops(
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .min(MAX_WORKERS as usize),
            ),
            (false, n) => Mode::EventLoops(usize::from(n)),
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
            http2,
            http2_max_streams: args.http2_max_streams,
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
            mode,
            headers,
            routes,
            addresses,
            qr: args.qr,
            site_id: 0,
            site_name: None,
            sites: Arc::new([]),
            list_dirs: args.list_dirs,
            show_hidden: args.show_hidden,
            archives: args.archives,
            upload,
            archive_limits: crate::share::archive::Limits {
                files: args.archive_max_files,
                bytes: args.archive_max_bytes,
            },
            precompressed: args.precompressed,
            health_check,
            health_path,
            compress: !args.no_compress,
            compress_threads: usize::from(args.compress_threads),
            compress_cache: (args.compress_cache as usize).saturating_mul(1024 * 1024),
            index,
            fallback,
            cors,
            htpasswd,
            auth_exempt,
            tls,
            redirect_http: args.redirect_http,
            listen_fds,
            metrics,
        })
    }

    /// The `[[site]]` a request for `host` (its `Host`, or authority) is
    /// for: an exact name first, then a wildcard, each in the file's
    /// order; `None` for the default site (this one).
    pub(crate) fn site_for(&self, host: Option<&[u8]>) -> Option<&Arc<Config>> {
        if self.sites.is_empty() {
            return None;
        }
        let mut buf = [0u8; 256];
        let host = request_host(host, &mut buf)?;
        let exact = self
            .sites
            .iter()
            .find(|v| v.host.is_exact() && v.host.matches(host));
        exact
            .or_else(|| self.sites.iter().find(|v| v.host.matches(host)))
            .map(|v| &v.config)
    }

    /// Whether anything needs the worker pool: compression, passwords or
    /// folder downloads, here or in a `[[site]]`.
    pub(crate) fn needs_pool(&self) -> bool {
        self.compress
            || self.any_htpasswd()
            || self.archives
            || self.upload.is_some()
            || self
                .sites
                .iter()
                .any(|v| v.config.archives || v.config.upload.is_some())
    }

    /// Whether any site asks for passwords (this one or a `[[site]]`).
    pub(crate) fn any_htpasswd(&self) -> bool {
        self.htpasswd.is_some() || self.sites.iter().any(|v| v.config.htpasswd.is_some())
    }

    /// The page sent as the body of an error response.
    pub(crate) fn error_page(&self, status: Status) -> &std::sync::Arc<[u8]> {
        &self.error_pages[status.index()]
    }

    /// The header fields a reply carries (see [`Extra`]).
    pub(crate) fn extra<'a>(&'a self, fields: &'a Fields) -> Added<'a> {
        Added {
            set: self.headers.get(fields.extra),
            rules: &self.headers.paths,
            chosen: &fields.path_rules,
        }
    }

    /// The URL path (`/a/b.html`) of a canonical path under the root: the
    /// part of it after the root (borrowed, never copied).
    pub(crate) fn url_path_of<'p>(&self, path: &'p Path) -> Option<&'p [u8]> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let root = self.root.as_os_str().as_bytes();
        // The root is canonical, so without a trailing slash (but `/`).
        let start = if root == b"/" { 0 } else { root.len() };
        if !bytes.starts_with(root) {
            return None;
        }
        bytes.get(start..).filter(|rest| rest.starts_with(b"/"))
    }

    /// How request targets find files under this configuration.
    pub(crate) fn lookup(&self) -> Lookup<'_> {
        Lookup {
            root: &self.root,
            show_hidden: self.show_hidden,
            list_dirs: self.list_dirs,
            offers: crate::files::listing::Offers {
                archives: self.archives,
                upload: false,
            },
            upload_dir: self.upload.as_ref().map(|u| u.dir.as_path()),
            precompressed: self.precompressed,
            index: Some(&self.index),
            site: self.site_id,
        }
    }

    /// Whether connections may persist at all.
    pub(crate) fn keep_alive_enabled(&self) -> bool {
        self.version == Version::Http11 && self.keep_alive.is_some()
    }
}

/// Whether message `m` is about flag `--key` (not a longer one that
/// begins the same).
fn names_flag(m: &str, key: &str) -> bool {
    let flag = format!("--{key}");
    m.match_indices(&flag).any(|(i, _)| {
        !m[i + flag.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// Most `[[site]]` tables.
pub(crate) const MAX_SITES: usize = 1000;

/// The config file's `[[site]]` tables as whole configurations: the top
/// level's arguments (`top`), with each site's keys in place of the same
/// ones. Errors name the file, the line, the site and the key.
fn virtual_hosts(
    top: &Args,
    config: &Config,
    sites: Vec<SiteArgs>,
    shown: &str,
) -> Result<Arc<[VirtualHost]>, ConfigError> {
    use clap::{CommandFactory, FromArgMatches};
    if sites.len() > MAX_SITES {
        return Err(ConfigError::Invalid(format!(
            "--config '{shown}': {} sites; at most {MAX_SITES}",
            sites.len()
        )));
    }
    let mut out: Vec<VirtualHost> = Vec::new();
    for (i, site) in sites.into_iter().enumerate() {
        let fail = |line: usize, m: &str| {
            ConfigError::Invalid(format!(
                "--config '{shown}': line {line}: site '{}': {m}",
                site.host
            ))
        };
        let host = HostPattern::parse(&site.host).map_err(|m| fail(site.line, &m))?;
        if out.iter().any(|v| v.host == host) {
            return Err(fail(site.line, "a second site with this host"));
        }
        let about_key = |m: String| -> ConfigError {
            let m = m.trim_start_matches("error: ").to_string();
            // The root's messages say "document root", not the flag.
            let named =
                |k: &str| names_flag(&m, k) || (k == "root" && m.starts_with("document root"));
            match site
                .args
                .iter()
                .find(|(k, _, _)| named(k))
                .map(|(k, l, _)| (k, *l))
            {
                Some((k, l)) => fail(l, &format!("key '{k}': {m}")),
                None => fail(site.line, &m),
            }
        };
        let mut argv: Vec<OsString> = vec!["skiff".into()];
        argv.extend(site.args.iter().map(|(_, _, a)| a.clone()));
        let matches = Args::command()
            .try_get_matches_from(&argv)
            .map_err(|e| about_key(e.to_string().lines().next().unwrap_or("").to_string()))?;
        let given = Args::from_arg_matches(&matches).map_err(|e| about_key(e.to_string()))?;
        let mut merged = top.clone();
        for key in &site.keys {
            take_key(&mut merged, &given, key);
        }
        if site.keys.iter().any(|k| k == "allow" || k == "deny") {
            merged.address_rules = address_order(&matches);
        }
        merged.health_check = None;
        // A site's own certificate is loaded for it; one that has none
        // shares the top level's (no second load, no second self-signed).
        let own_cert = site.keys.iter().any(|k| k == "tls-cert" || k == "tls-key");
        if own_cert && config.tls.is_none() {
            return Err(fail(
                site.line,
                "tls-cert needs HTTPS at the top level (tls-cert and tls-key, or tls-self-signed)",
            ));
        }
        if !own_cert {
            merged.tls_cert = None;
            merged.tls_key = None;
        }
        merged.tls_self_signed = false;
        merged.redirect_http = None;
        let mut site_config = Config::from_args(merged).map_err(|e| match e {
            ConfigError::Invalid(m) => about_key(m),
            info => info,
        })?;
        if !own_cert {
            site_config.tls = config.tls.clone();
        }
        site_config.site_id = (i + 1) as u16;
        site_config.site_name = Some(host.text().into());
        out.push(VirtualHost {
            host,
            config: Arc::new(site_config),
        });
    }
    Ok(out.into())
}

/// `--upload` and its settings.
#[derive(Debug, Clone)]
pub(crate) struct Uploads {
    /// Canonical: the folder uploads go into (the root, or `--upload-dir`
    /// under it), with the folders in it.
    pub(crate) dir: PathBuf,
    /// `--upload-overwrite`.
    pub(crate) overwrite: bool,
    /// `--upload-max-bytes`.
    pub(crate) max_bytes: u64,
}

/// `--upload`, `--upload-dir`, `--upload-overwrite`, `--upload-max-bytes`
/// checked against the root: the folder must exist under it, reached
/// without a symlink.
fn uploads(args: &Args, root: &Path) -> Result<Option<Uploads>, String> {
    if !args.upload {
        if args.upload_dir.is_some() {
            return Err("--upload-dir needs --upload".into());
        }
        return Ok(None);
    }
    let dir = match &args.upload_dir {
        None => root.to_path_buf(),
        Some(sub) => {
            let rel = sub.trim_matches('/');
            let bad = rel.is_empty()
                || rel
                    .split('/')
                    .any(|s| s.is_empty() || s == "." || s == "..")
                || rel.bytes().any(|c| c < 0x20 || c == 0x7f);
            if bad {
                return Err(format!(
                    "--upload-dir '{sub}': expected a folder under the root, such as incoming"
                ));
            }
            let lexical = root.join(rel);
            match std::fs::canonicalize(&lexical) {
                Ok(c) if c == lexical && c.is_dir() => c,
                Ok(c) if c.is_dir() => {
                    return Err(format!(
                        "--upload-dir '{sub}': a symlink is on its path (uploads never go through one)"
                    ));
                }
                Ok(_) => return Err(format!("--upload-dir '{sub}': not a folder")),
                Err(e) => {
                    return Err(format!(
                        "--upload-dir '{sub}': {} (it must exist under the root)",
                        crate::config::io_reason(&e)
                    ));
                }
            }
        }
    };
    Ok(Some(Uploads {
        dir,
        overwrite: args.upload_overwrite,
        max_bytes: args.upload_max_bytes,
    }))
}

/// An I/O error's reason, without the "(os error N)" tail.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Puts `from`'s value of setting `key` (one of [`SITE_KEYS`]) into `to`.
fn take_key(to: &mut Args, from: &Args, key: &str) {
    debug_assert!(SITE_KEYS.contains(&key));
    match key {
        "root" => to.root = from.root.clone(),
        "index" => to.index = from.index.clone(),
        "fallback" => to.fallback = from.fallback.clone(),
        "list-dirs" => to.list_dirs = from.list_dirs,
        "show-hidden" => to.show_hidden = from.show_hidden,
        "archives" => to.archives = from.archives,
        "archive-max-files" => to.archive_max_files = from.archive_max_files,
        "archive-max-bytes" => to.archive_max_bytes = from.archive_max_bytes,
        "upload" => to.upload = from.upload,
        "upload-dir" => to.upload_dir = from.upload_dir.clone(),
        "upload-overwrite" => to.upload_overwrite = from.upload_overwrite,
        "upload-max-bytes" => to.upload_max_bytes = from.upload_max_bytes,
        "precompressed" => to.precompressed = from.precompressed,
        "error-pages" => to.error_pages = from.error_pages.clone(),
        "header" => to.headers = from.headers.clone(),
        "max-age" => to.max_age = from.max_age,
        "cache-control" => to.cache_control = from.cache_control.clone(),
        "cors" => to.cors = from.cors.clone(),
        "cors-allow-headers" => to.cors_allow_headers = from.cors_allow_headers.clone(),
        "cors-expose-headers" => to.cors_expose_headers = from.cors_expose_headers.clone(),
        "htpasswd" => to.htpasswd = from.htpasswd.clone(),
        "auth-realm" => to.auth_realm = from.auth_realm.clone(),
        "auth-exempt" => to.auth_exempt = from.auth_exempt.clone(),
        "redirect" => to.redirects = from.redirects.clone(),
        "rewrite" => to.rewrites = from.rewrites.clone(),
        "clean-urls" => to.clean_urls = from.clean_urls,
        "trailing-slash" => to.trailing_slash = from.trailing_slash,
        "base-path" => to.base_path = from.base_path.clone(),
        "allow" => to.allow = from.allow.clone(),
        "deny" => to.deny = from.deny.clone(),
        "tls-cert" => to.tls_cert = from.tls_cert.clone(),
        "tls-key" => to.tls_key = from.tls_key.clone(),
        _ => {}
    }
}

/// One `[[site]]`: its host and its whole configuration.
#[derive(Debug)]
pub(crate) struct VirtualHost {
    pub(crate) host: HostPattern,
    pub(crate) config: Arc<Config>,
}

/// `--allow` and `--deny` values in the order they were given: on the
/// command line, or as the config file has them (its keys become
/// arguments in the file's order). Values from variables come after
/// those, `--allow`'s first.
fn address_order(matches: &clap::ArgMatches) -> Vec<(bool, String)> {
    let mut all: Vec<(usize, bool, String)> = Vec::new();
    for (id, allow) in [("allow", true), ("deny", false)] {
        let values = matches.get_many::<String>(id).into_iter().flatten();
        let indices: Vec<usize> = matches.indices_of(id).into_iter().flatten().collect();
        for (k, v) in values.enumerate() {
            let at = indices.get(k).copied().unwrap_or(usize::MAX);
            all.push((at, allow, v.clone()));
        }
    }
    // Stable: equal indices (variables) keep --allow before --deny.
    all.sort_by_key(|(at, _, _)| *at);
    all.into_iter().map(|(_, allow, v)| (allow, v)).collect()
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
