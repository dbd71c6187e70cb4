//! `--cors` and its companions, validated at start. What they add to each
//! reply is `respond::cors`.

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

/// `--cors` and its lists, validated: origins are `scheme://host[:port]`
/// (no path), header names are tokens.
pub(crate) fn parse_cors(origins: &str, allow: &str, expose: Option<&str>) -> Result<Cors, String> {
    let names = |flag: &str, list: &str| -> Result<Vec<Box<str>>, String> {
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !name.bytes().all(crate::http::is_tchar) {
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
