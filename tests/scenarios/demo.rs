//! The demo site in www/: every file its index links to is served with the
//! right type, and the media files are what their names say.

use crate::each_mode;
use crate::support::*;

fn www() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www")
}

each_mode! {
    fn the_demo_site_serves_every_linked_file(mode) {
        let s = Server::start(mode, &www(), &[]);
        let mut c = s.connect();
        let index = c.get("/");
        assert_eq!(index.status, 200);
        let html = index.text();
        // (path, type, magic bytes at the start)
        let files: [(&str, &str, &[u8]); 12] = [
            ("media/skiff.mp4", "video/mp4", b""),
            ("media/mandelbrot.png", "image/png", b"\x89PNG\r\n\x1a\n"),
            ("media/testcard.jpg", "image/jpeg", b"\xff\xd8\xff"),
            ("media/gradient.jpeg", "image/jpeg", b"\xff\xd8\xff"),
            ("media/life.gif", "image/gif", b"GIF89a"),
            ("media/skiff.pdf", "application/pdf", b"%PDF-"),
            ("notes.txt", "text/plain; charset=utf-8", b""),
            ("data.json", "application/json; charset=utf-8", b"{"),
            ("logo.svg", "image/svg+xml; charset=utf-8", b"<svg"),
            ("style.css", "text/css; charset=utf-8", b""),
            ("app.js", "text/javascript; charset=utf-8", b""),
            ("index.html", "text/html; charset=utf-8", b"<!DOCTYPE html>"),
        ];
        let mut total = 0;
        for (path, ty, magic) in files {
            if path != "index.html" {
                assert!(html.contains(&format!("\"{path}\"")), "index.html links {path}");
            }
            let r = c.get(&format!("/{path}"));
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(r.header("content-type"), Some(ty), "{path}");
            assert!(r.body.starts_with(magic), "{path} magic");
            assert_eq!(r.body, std::fs::read(www().join(path)).unwrap(), "{path}");
            total += r.body.len();
        }
        // An MP4 starts with an ftyp box, and moov comes before mdat
        // (faststart) so a browser can start playing at once.
        let mp4 = std::fs::read(www().join("media/skiff.mp4")).unwrap();
        assert_eq!(&mp4[4..8], b"ftyp");
        let moov = find(&mp4, b"moov").unwrap();
        let mdat = find(&mp4, b"mdat").unwrap();
        assert!(moov < mdat, "faststart");
        assert!(total < 3 * 1024 * 1024, "demo site under 3 MB: {total}");
        assert_eq!(c.get("/media").status, 301);
        assert_eq!(c.get("/media/").status, 404);
    }
}
