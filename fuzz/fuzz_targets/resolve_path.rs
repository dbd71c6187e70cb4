//! Path resolution on arbitrary targets: never panics, normalised paths
//! never climb, and no file outside the root is ever returned, through
//! `..` in any encoding or through a symlink, and no hidden file (a name
//! starting with `.`) while hidden names are hidden, precompressed
//! variants included.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use skiff::files::resolve::{Found, Resolution, is_hidden, normalize, resolve_with};

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = normalize(data) {
        assert!(n.path.starts_with(b"/"));
        assert!(!n.path.contains(&0));
        let joined = Path::new("/r").join(n.relative());
        assert!(
            joined
                .components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        );
    }
    let root = skiff_fuzz::resolve_root();
    let lookup = skiff_fuzz::resolve_lookup(root);
    let check = |found: &Found| {
        let inside = found.path.strip_prefix(root).unwrap_or_else(|_| {
            panic!(
                "{:?} escaped to {:?}",
                String::from_utf8_lossy(data),
                found.path
            )
        });
        assert!(
            !inside
                .components()
                .any(|c| is_hidden(c.as_os_str().as_encoded_bytes())),
            "{:?} found hidden {:?}",
            String::from_utf8_lossy(data),
            found.path
        );
    };
    match resolve_with(&lookup, data) {
        Ok(Resolution::File(found)) => {
            check(&found);
            found
                .variants
                .br
                .iter()
                .chain(&found.variants.gzip)
                .for_each(|v| check(v));
        }
        Ok(Resolution::Directory { dir, .. }) => assert!(dir.starts_with(root)),
        _ => {}
    }
});
