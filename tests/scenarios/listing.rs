//! Directory listings (`--list-dirs`) and hidden names (`--show-hidden`).

use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use crate::each_mode;
use crate::support::*;

/// A folder whose names need escaping, a hidden file, a dotted folder, a
/// symlink out of the root, and known modification times.
fn listed_site() -> (TempDir, TempDir) {
    let outside = TempDir::new("outside");
    outside.write("secret.txt", "outside the root\n");
    let d = site();
    d.write("list/a&b <c>.txt", "amp\n");
    d.write("list/\"quote\" 'single'.txt", "quotes\n");
    d.write("list/q?#:semi;.txt", "odd\n");
    d.write("list/café.txt", "accent\n");
    d.write("list/zzz.bin", vec![0u8; 1234]);
    d.write("list/sub dir/inner.txt", "inner\n");
    d.write("list/.secret", "hidden\n");
    d.write("list/.git/config", "hidden dir\n");
    d.write(
        ".well-known/security.txt",
        "Contact: mailto:x@example.com\n",
    );
    let odd = std::ffi::OsStr::from_bytes(b"bad\xffname.txt");
    std::fs::write(d.path.join("list").join(odd), "latin1\n").unwrap();
    std::os::unix::fs::symlink(
        outside.path.join("secret.txt"),
        d.path.join("list/escape.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(".secret", d.path.join("list/innocent.txt")).unwrap();
    // 2023-11-14 22:13:20 UTC.
    let ok = Command::new("touch")
        .args(["-h", "-d", "@1700000000"])
        .arg(d.path.join("list/a&b <c>.txt"))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    (d, outside)
}

each_mode! {
    fn listings_are_off_by_default(mode) {
        let (d, _o) = listed_site();
        let s = Server::start(mode, &d.path, &[]);
        assert_eq!(s.connect().get("/list/").status, 404);
        assert_eq!(s.connect().get("/empty/").status, 404);
    }
}

each_mode! {
    fn html_listing_escapes_encodes_sorts_and_links_back(mode) {
        let (d, _o) = listed_site();
        let s = Server::start(mode, &d.path, &["--list-dirs", "--max-age", "60"]);
        let r = s.connect().get("/list/");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("vary"), Some("Accept"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        // Built fresh each time: no validators, not cacheable for max-age.
        assert_eq!(r.header("etag"), None);
        assert_eq!(r.header("last-modified"), None);
        assert_eq!(r.header("cache-control"), None);
        assert_eq!(r.content_length(), r.body.len() as u64);
        let page = r.text();
        assert!(page.contains("<title>Index of /list/</title>"), "{page}");
        assert!(page.contains("<a href=\"../\">../</a>"));
        // Escaped where shown, encoded where linked; the size in units with
        // the bytes in a tooltip, the time relative with UTC in a tooltip.
        assert!(page.contains(
            "<a href=\"a%26b%20%3Cc%3E.txt\">a&amp;b &lt;c&gt;.txt</a></td><td class=\"size\" title=\"4 bytes\">4 B</td><td class=\"time\" title=\"2023-11-14 22:13:20 UTC\">2023-11-14</td>"
        ), "{page}");
        // A breadcrumb, sort links, the style as a file, and no script or
        // inline style (the page works under a strict CSP).
        assert!(page.contains("<nav class=\"crumbs\"><a href=\"/\">Home</a><span class=\"sep\">/</span><a href=\"/list/\">list</a></nav>"), "{page}");
        assert!(page.contains("<a href=\"?sort=size&amp;order=asc\">Size</a>"), "{page}");
        assert!(page.contains("<link rel=\"stylesheet\" href=\"/__skiff__/listing.css\">"), "{page}");
        assert!(!page.contains("<script") && !page.contains("<style") && !page.contains(" style="), "{page}");
        let css = s.connect().get("/__skiff__/listing.css");
        assert_eq!(css.status, 200);
        assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
        assert!(css.text().contains("prefers-color-scheme: dark"));
        assert!(page.contains("<a href=\"%22quote%22%20%27single%27.txt\">&quot;quote&quot; &#39;single&#39;.txt</a>"), "{page}");
        assert!(page.contains("<a href=\"q%3F%23%3Asemi%3B.txt\">q?#:semi;.txt</a>"), "{page}");
        assert!(page.contains("<a href=\"caf%C3%A9.txt\">café.txt</a>"), "{page}");
        assert!(page.contains("<a href=\"bad%FFname.txt\">bad\u{fffd}name.txt</a>"), "{page}");
        assert!(page.contains("<a href=\"sub%20dir/\">sub dir/</a></td><td class=\"size\">-</td>"), "{page}");
        assert!(page.contains("<td class=\"size\" title=\"1234 bytes\">1.2 KiB</td>"), "{page}");
        // Never a raw '<' from a name.
        assert!(!page.contains("<c>"));
        // Hidden names, and symlinks out of the root or to hidden files,
        // are not listed.
        for absent in [".secret", ".git", "escape.txt", "innocent.txt"] {
            assert!(!page.contains(absent), "{absent} listed: {page}");
        }
        // Directories first, then files by name (byte order): the rows'
        // links, after the breadcrumb and the header row.
        let rows = page.split_once("</tr>").unwrap().1;
        let hrefs: Vec<&str> = rows
            .split("<a href=\"")
            .skip(1)
            .map(|p| &p[..p.find('"').unwrap()])
            .collect();
        assert_eq!(
            hrefs,
            [
                "../",
                "sub%20dir/",
                "%22quote%22%20%27single%27.txt",
                "a%26b%20%3Cc%3E.txt",
                "bad%FFname.txt",
                "caf%C3%A9.txt",
                "q%3F%23%3Asemi%3B.txt",
                "zzz.bin",
            ]
        );
        // Every link leads back to the file it names.
        let want: [(&str, &[u8]); 5] = [
            ("%22quote%22%20%27single%27.txt", b"quotes\n"),
            ("a%26b%20%3Cc%3E.txt", b"amp\n"),
            ("bad%FFname.txt", b"latin1\n"),
            ("caf%C3%A9.txt", b"accent\n"),
            ("q%3F%23%3Asemi%3B.txt", b"odd\n"),
        ];
        for (href, body) in want {
            let r = s.connect().get(&format!("/list/{href}"));
            assert_eq!((r.status, &r.body[..]), (200, body), "{href}");
        }
        let r = s.connect().get("/list/sub%20dir/");
        assert_eq!(r.status, 200);
        assert!(r.text().contains("<a href=\"inner.txt\">inner.txt</a>"));
        // The root has no parent link; a folder with an index is not listed.
        let r = s.connect().get("/empty/");
        assert_eq!(r.status, 200);
        assert!(r.text().contains("<title>Index of /empty/</title>"));
        assert!(r.text().contains("<a href=\"../\">"));
        let r = s.connect().get("/dir/");
        assert_eq!(r.text(), "<p>dir index</p>\n");
        // HEAD: the same head, no body.
        let mut c = s.connect();
        c.send("HEAD /list/ HTTP/1.1\r\nHost: t\r\n\r\n");
        let h = c.head_response();
        assert_eq!(h.status, 200);
        assert_eq!(h.content_length(), page.len() as u64);
        assert_eq!(c.get("/a.txt").text(), "hello, skiff\n");
        // Without the slash: the redirect, as before.
        let r = s.connect().get("/list");
        assert_eq!((r.status, r.header("location")), (301, Some("/list/")));
    }
}

each_mode! {
    fn json_listing_for_clients_that_ask(mode) {
        let (d, _o) = listed_site();
        let s = Server::start(mode, &d.path, &["--list-dirs"]);
        let r = s.get_with("/list/", "Accept: application/json\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
        assert_eq!(r.header("vary"), Some("Accept"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("valid JSON");
        assert_eq!(v["path"], "/list/");
        assert_eq!(v["truncated"], false);
        let entries = v["entries"].as_array().unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "sub dir",
                "\"quote\" 'single'.txt",
                "a&b <c>.txt",
                "bad\u{fffd}name.txt",
                "café.txt",
                "q?#:semi;.txt",
                "zzz.bin",
            ]
        );
        let amp = &entries[2];
        assert_eq!(amp["url"], "a%26b%20%3Cc%3E.txt");
        assert_eq!(amp["type"], "file");
        assert_eq!(amp["size"], 4);
        assert_eq!(amp["modified"], "2023-11-14T22:13:20Z");
        assert_eq!(entries[0]["type"], "directory");
        assert_eq!(entries[0]["url"], "sub%20dir/");
        assert!(entries[0]["size"].is_null());
        assert_eq!(entries[3]["url"], "bad%FFname.txt");
        // A browser's Accept gets HTML; JSON must be preferred, not merely
        // tolerated.
        let browser = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n";
        let r = s.get_with("/list/", browser);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let r = s.get_with("/list/", "Accept: text/html, application/json;q=0.5\r\n");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        // Files are unaffected by Accept.
        let r = s.get_with("/a.txt", "Accept: application/json\r\n");
        assert_eq!(r.text(), "hello, skiff\n");
    }
}

each_mode! {
    fn hidden_names_are_never_served_unless_shown(mode) {
        let (d, _o) = listed_site();
        let s = Server::start(mode, &d.path, &["--list-dirs"]);
        for path in [
            "/list/.secret",
            "/list/.git/config",
            "/list/.git/",
            "/list/%2esecret",
            "/list/sub%20dir/../.secret",
            // A visible name that is a symlink to a hidden one.
            "/list/innocent.txt",
        ] {
            let r = s.connect().get(path);
            assert_eq!(r.status, 404, "{path}");
            assert!(!r.text().contains("hidden"), "{path}");
        }
        // A hidden folder redirects nowhere: it is not there.
        assert_eq!(s.connect().get("/list/.git").status, 404);
        // .well-known is served (ACME, security.txt).
        let r = s.connect().get("/.well-known/security.txt");
        assert_eq!(r.status, 200);
        // Out of the root stays 403.
        assert_eq!(s.connect().get("/list/escape.txt").status, 403);

        let shown = Server::start(mode, &d.path, &["--list-dirs", "--show-hidden"]);
        assert_eq!(shown.connect().get("/list/.secret").text(), "hidden\n");
        assert_eq!(shown.connect().get("/list/innocent.txt").text(), "hidden\n");
        assert_eq!(shown.connect().get("/list/.git/config").text(), "hidden dir\n");
        let page = shown.connect().get("/list/").text();
        assert!(page.contains("<a href=\".secret\">.secret</a>"), "{page}");
        assert!(page.contains("<a href=\".git/\">.git/</a>"), "{page}");
        assert!(page.contains("<a href=\"innocent.txt\">innocent.txt</a>"), "{page}");
        assert!(!page.contains("escape.txt"));
    }
}

each_mode! {
    fn listings_sort_by_query_and_carry_the_base_path(mode) {
        let d = TempDir::new("sorted");
        d.write("files/small.txt", "1");
        d.write("files/big.txt", "x".repeat(5000));
        d.write("files/mid.txt", "xx");
        d.mkdir("files/zdir");
        let s = Server::start(mode, &d.path, &["--list-dirs", "--base-path", "/app"]);
        let names = |r: Response| -> Vec<String> {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            v["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect()
        };
        let json = "Accept: application/json\r\n";
        let r = s.connect().get_with("/app/files/?sort=size&order=desc", json);
        assert_eq!(names(r), ["zdir", "big.txt", "mid.txt", "small.txt"], "folders first, then by size");
        let r = s.connect().get_with("/app/files/?sort=size", json);
        assert_eq!(names(r), ["zdir", "small.txt", "mid.txt", "big.txt"]);
        let r = s.connect().get_with("/app/files/?sort=name&order=desc", json);
        assert_eq!(names(r), ["zdir", "small.txt", "mid.txt", "big.txt"]);
        let r = s.connect().get_with("/app/files/", json);
        assert_eq!(names(r), ["zdir", "big.txt", "mid.txt", "small.txt"], "by name by default");
        // The HTML: the same order, links that flip it, and the base path
        // in the breadcrumb and the style sheet's address.
        let page = s.connect().get("/app/files/?sort=size&order=desc").text();
        let big = page.find(">big.txt<").unwrap();
        let small = page.find(">small.txt<").unwrap();
        assert!(big < small, "{page}");
        assert!(page.contains("<a class=\"on\" href=\"?sort=size&amp;order=asc\">Size ↓</a>"), "{page}");
        assert!(page.contains("<a href=\"/app/\">Home</a><span class=\"sep\">/</span><a href=\"/app/files/\">files</a>"), "{page}");
        assert!(page.contains("href=\"/app/__skiff__/listing.css\""), "{page}");
        assert_eq!(s.connect().get("/app/__skiff__/listing.css").status, 200);
        assert!(page.contains("title=\"5000 bytes\">4.9 KiB<"), "{page}");
        // Kind markers are text labels, which need no emoji font.
        assert!(page.contains("<span class=\"kind k-dir\" aria-hidden=\"true\">DIR</span><a href=\"zdir/\">"), "{page}");
        assert!(page.contains("<span class=\"kind k-txt\" aria-hidden=\"true\">TXT</span><a href=\"big.txt\">"), "{page}");
        // Without --list-dirs there is no style sheet either.
        let plain = Server::start(mode, &d.path, &[]);
        assert_eq!(plain.connect().get("/__skiff__/listing.css").status, 404);
    }
}
