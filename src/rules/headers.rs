//! The header fields configuration adds to replies (`--header`,
//! `--max-age`, `--cache-control`, the `--htpasswd` challenge), each set
//! made once at start as names and values, and which set a reply gets.

use crate::http::response::{Extra, Header};
use crate::rules::pattern::{Glob, RuleList};

/// Most `--header 'GLOB=...'` rules: a reply names the ones it matched by
/// a 16-bit position, and a thousand is far past any real site.
pub(crate) const MAX_PATH_RULES: usize = 1000;

/// Every configured set of header fields (see [`Extra`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderSets {
    /// `--header` fields.
    pub(crate) common: Vec<Header>,
    /// The same plus `Cache-Control` (`--max-age`), for file responses.
    pub(crate) file: Vec<Header>,
    /// `--cache-control` rules, in order: the glob, and the fields
    /// (`--header` ones plus this `Cache-Control`) of a file response it
    /// matches.
    pub(crate) rules: Vec<(globset::GlobMatcher, Vec<Header>)>,
    /// `WWW-Authenticate` for a 401, with the realm, plus the `--header`
    /// fields.
    pub(crate) challenge: Vec<Header>,
    /// `--header 'GLOB=Name: value'` rules: each rule's field, in order.
    pub(crate) paths: Vec<Header>,
    /// Their globs, together.
    path_globs: RuleList<()>,
}

impl HeaderSets {
    /// The sets from `--header` specs, `--max-age`, `--cache-control`
    /// rules and `--auth-realm`; a bad one is a one-line error.
    pub(crate) fn new(
        specs: &[String],
        max_age: Option<u64>,
        rules: &[String],
        realm: &str,
    ) -> Result<HeaderSets, String> {
        let mut common = Vec::new();
        let mut paths = Vec::new();
        let mut globs = Vec::new();
        for spec in specs {
            if spec.starts_with('/') {
                let (glob, header) = parse_path_rule(spec)?;
                paths.push(header);
                globs.push((glob, ()));
            } else {
                common.push(Header::parse(spec)?);
            }
        }
        if paths.len() > MAX_PATH_RULES {
            return Err(format!(
                "--header: {} path rules; at most {MAX_PATH_RULES}",
                paths.len()
            ));
        }
        let path_globs = RuleList::new(globs).map_err(|e| format!("--header: {e}"))?;
        let with = |name: &str, value: &str| {
            let mut h = common.clone();
            h.push(Header::new(name, value));
            h
        };
        let mut cache_rules = Vec::new();
        for spec in rules {
            let (glob, value) = parse_cache_rule(spec)?;
            cache_rules.push((glob, with("Cache-Control", value)));
        }
        if realm
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err(format!(
                "--auth-realm '{realm}': no quotes, backslashes or control characters"
            ));
        }
        let challenge = with(
            "WWW-Authenticate",
            &format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
        );
        let file = match max_age {
            Some(secs) => with("Cache-Control", &format!("max-age={secs}")),
            None => common.clone(),
        };
        Ok(HeaderSets {
            common,
            file,
            rules: cache_rules,
            challenge,
            paths,
            path_globs,
        })
    }

    /// The fields a reply carries.
    pub(crate) fn get(&self, extra: Extra) -> &[Header] {
        match extra {
            Extra::Common => &self.common,
            Extra::File => &self.file,
            Extra::Rule(i) => self.rules.get(i).map_or(&self.file, |r| &r.1),
            Extra::Challenge => &self.challenge,
        }
    }

    /// Whether there are `--header` path rules at all.
    pub(crate) fn has_path_rules(&self) -> bool {
        !self.path_globs.is_empty()
    }

    /// The `--header` path rules that match any of `paths` (normalised URL
    /// paths), in order; allocates only when one does.
    pub(crate) fn path_rules(&self, paths: &[&[u8]]) -> Vec<u16> {
        let mut out: Vec<u16> = Vec::new();
        for path in paths.iter().filter(|p| !p.is_empty()) {
            // At most MAX_PATH_RULES: every position fits.
            out.extend(self.path_globs.all(path).map(|(i, ())| i as u16));
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    /// The first `--cache-control` rule whose glob matches `path` (a
    /// normalised URL path).
    pub(crate) fn rule_for(&self, path: &str) -> Option<usize> {
        self.rules.iter().position(|(glob, _)| glob.is_match(path))
    }
}

/// `--header 'GLOB=Name: value'`: the glob (as `--cache-control`'s) and
/// the field, checked as a plain `--header`'s.
fn parse_path_rule(spec: &str) -> Result<(Glob, Header), String> {
    let Some((glob, field)) = spec.split_once('=') else {
        return Err(format!(
            "--header '{spec}': a rule is 'GLOB=Name: value', e.g. '/**/*.html=Content-Security-Policy: default-src 'self''"
        ));
    };
    let header = Header::parse(field).map_err(|e| e.replacen(field, spec, 1))?;
    let glob =
        Glob::parse_with(glob.trim(), usize::MAX).map_err(|e| format!("--header '{spec}': {e}"))?;
    Ok((glob, header))
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
