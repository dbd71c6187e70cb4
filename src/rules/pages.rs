//! The body of every error response: the built-in pages, or the files of
//! `--error-pages DIR` (`DIR/404.html` and so on), read once at start and
//! shared, so a large custom page is sent by reference, never copied into
//! each connection's buffer.

use std::path::Path;
use std::sync::Arc;

use crate::http::response::{Status, write_builtin_error_page};

/// Largest custom error page: an error page is a short explanation, and
/// each one is held in memory for the life of the server.
pub(crate) const MAX_ERROR_PAGE: usize = 256 * 1024;

/// The page of every status, indexed by `Status::index`: `dir`'s
/// `CODE.html` where there is one, else the built-in page. A page too
/// large or unreadable, or a `dir` that is not a folder, is a one-line
/// error.
pub(crate) fn load(dir: Option<&Path>) -> Result<Vec<Arc<[u8]>>, String> {
    let mut pages = Vec::with_capacity(Status::ALL.len());
    for status in Status::ALL {
        let custom = match dir {
            Some(dir) => {
                let path = dir.join(format!("{}.html", status.code()));
                match std::fs::read(&path) {
                    Ok(bytes) if bytes.len() > MAX_ERROR_PAGE => {
                        return Err(format!(
                            "error page '{}' is {} bytes; the most is {MAX_ERROR_PAGE}",
                            path.display(),
                            bytes.len()
                        ));
                    }
                    Ok(bytes) => Some(bytes),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(format!("error page '{}': {e}", path.display())),
                }
            }
            None => None,
        };
        let page = custom.unwrap_or_else(|| {
            let mut v = Vec::new();
            write_builtin_error_page(&mut v, status);
            v
        });
        pages.push(page.into());
    }
    if let Some(dir) = dir {
        if !dir.is_dir() {
            return Err(format!(
                "error pages folder '{}' is not a directory",
                dir.display()
            ));
        }
    }
    Ok(pages)
}
