//! The header fields configuration adds to replies (`--header`,
//! `--max-age`, `--cache-control`, the `--htpasswd` challenge), each set
//! made once at start as names and values, and which set a reply gets.

use crate::http::response::{Extra, Header};

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
        for spec in specs {
            common.push(Header::parse(spec)?);
        }
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

    /// The first `--cache-control` rule whose glob matches `path` (a
    /// normalised URL path).
    pub(crate) fn rule_for(&self, path: &str) -> Option<usize> {
        self.rules.iter().position(|(glob, _)| glob.is_match(path))
    }
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
