//! Path handling: traversal in every encoding, NUL, dot segments,
//! backslashes, percent-encoded names.

use crate::each_mode;
use crate::support::*;

/// A root inside a parent that holds a secret, so that any escape of one
/// level would find it.
struct Nested {
    parent: TempDir,
}

impl Nested {
    fn new() -> Nested {
        let parent = TempDir::new("nested");
        parent.write("secret.txt", "TOP SECRET\n");
        parent.write("root/a.txt", "hello, skiff\n");
        parent.write("root/sub/b.txt", "bee\n");
        Nested { parent }
    }
    fn root(&self) -> std::path::PathBuf {
        self.parent.path.join("root")
    }
}

each_mode! {
    fn traversal_never_leaves_the_root(mode) {
        let n = Nested::new();
        let s = Server::start(mode, &n.root(), &[]);
        let attempts = [
            "/../secret.txt",
            "/sub/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/..%2fsecret.txt",
            "/%2e%2e%2fsecret.txt",
            "/.%2e/secret.txt",
            "/%2e./secret.txt",
            "/sub/%2e%2e/%2e%2e/secret.txt",
            "/sub%2f..%2f..%2fsecret.txt",
            "/..\\secret.txt",
            "/..%5csecret.txt",
            "/%252e%252e/secret.txt",
            "/....//secret.txt",
            "/./../secret.txt",
            "http://x/../secret.txt",
            "/%c0%ae%c0%ae/secret.txt",
        ];
        for a in attempts {
            let mut c = s.connect();
            let r = c.get(a);
            assert_ne!(r.status, 200, "{a}");
            assert!(!r.text().contains("TOP SECRET"), "{a} leaked");
            assert!(matches!(r.status, 400 | 403 | 404), "{a}: {}", r.status);
        }
        // `..` that climbs above the root is refused outright.
        assert_eq!(s.connect().get("/../secret.txt").status, 400);
        assert_eq!(s.connect().get("/%2e%2e%2fsecret.txt").status, 400);
    }
}

each_mode! {
    fn dot_segments_inside_the_root_resolve(mode) {
        let n = Nested::new();
        let s = Server::start(mode, &n.root(), &[]);
        let mut c = s.connect();
        assert_eq!(c.get("/sub/../a.txt").body, b"hello, skiff\n");
        assert_eq!(c.get("/./sub/./b.txt").body, b"bee\n");
        assert_eq!(c.get("/sub%2fb.txt").body, b"bee\n");
        assert_eq!(c.get("//sub///b.txt").body, b"bee\n");
    }
}

each_mode! {
    fn nul_and_bad_escapes_are_400(mode) {
        let n = Nested::new();
        let s = Server::start(mode, &n.root(), &[]);
        for t in ["/a.txt%00", "/a.txt%00.html", "/%00", "/a%zz", "/a%4"] {
            let mut c = s.connect();
            let r = c.get(t);
            assert_eq!(r.status, 400, "{t}");
            c.expect_closed();
        }
    }
}

each_mode! {
    fn encoded_names_and_backslashes_are_ordinary(mode) {
        let site = TempDir::new("names");
        site.write("my file.txt", "spaced\n");
        site.write("caf\u{e9}.txt", "accent\n");
        site.write("back\\slash.txt", "bs\n");
        site.write("50%.txt", "pct\n");
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        assert_eq!(c.get("/my%20file.txt").body, b"spaced\n");
        assert_eq!(c.get("/caf%C3%A9.txt").body, b"accent\n");
        assert_eq!(c.get("/back\\slash.txt").body, b"bs\n");
        assert_eq!(c.get("/back%5Cslash.txt").body, b"bs\n");
        assert_eq!(c.get("/50%25.txt").body, b"pct\n");
    }
}
