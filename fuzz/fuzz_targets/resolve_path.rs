//! Path resolution on arbitrary targets: never panics, normalised paths
//! never climb, and no file outside the root is ever returned, through
//! `..` in any encoding or through a symlink, and no hidden file (a name
//! starting with `.`) while hidden names are hidden, precompressed
//! variants included.
#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skiff::files::resolve::{Found, Lookup, Resolution, is_hidden, normalize, resolve_with};

/// A root with a subfolder, an index, and symlinks pointing out of it, and
/// a secret next to it.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("skiff-fuzz-resolve-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        std::fs::write(root.join("index.html"), "i").unwrap();
        std::fs::write(root.join("sub/a.txt"), "a").unwrap();
        std::fs::write(root.join("sub/a.txt.gz"), "gz").unwrap();
        std::fs::write(root.join("sub/.env"), "hidden").unwrap();
        std::fs::write(root.join(".a.txt.br"), "hidden").unwrap();
        let _ = std::os::unix::fs::symlink(".env", root.join("sub/b.txt"));
        let _ = std::os::unix::fs::symlink("sub/.env", root.join("a.txt.br"));
        let _ = std::os::unix::fs::symlink(&base, root.join("out"));
        let _ = std::os::unix::fs::symlink(base.join("secret.txt"), root.join("sub/s.txt"));
        std::fs::canonicalize(root).unwrap()
    })
}

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
    let root = root();
    let lookup = Lookup {
        precompressed: true,
        list_dirs: true,
        ..Lookup::new(root)
    };
    let check = |found: &Found| {
        let inside = found.path.strip_prefix(root).unwrap_or_else(|_| {
            panic!("{:?} escaped to {:?}", String::from_utf8_lossy(data), found.path)
        });
        assert!(
            !inside.components().any(|c| is_hidden(c.as_os_str().as_encoded_bytes())),
            "{:?} found hidden {:?}",
            String::from_utf8_lossy(data),
            found.path
        );
    };
    match resolve_with(&lookup, data) {
        Ok(Resolution::File(found)) => {
            check(&found);
            found.variants.br.iter().chain(&found.variants.gzip).for_each(|v| check(v));
        }
        Ok(Resolution::Directory { dir, .. }) => assert!(dir.starts_with(root)),
        _ => {}
    }
});
