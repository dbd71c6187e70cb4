//! What the configuration adds around the files, compiled once at start:
//! the header fields replies carry (`--header`, its per-path rules,
//! `--max-age`, `--cache-control`, the `--htpasswd` challenge), the CORS
//! settings, the error pages, and the routes (`--base-path`, `--redirect`,
//! `--rewrite`, `--clean-urls`, `--trailing-slash`; globs in `pattern`). Each is loaded and checked here, from the flags' raw
//! values, with one-line errors; `respond` applies them per request.
//! Depends on nothing above `http`.

pub(crate) mod addresses;
pub(crate) mod cors;
pub(crate) mod headers;
pub(crate) mod hosts;
pub(crate) mod pages;
pub(crate) mod pattern;
pub(crate) mod routes;
