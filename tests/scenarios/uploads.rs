//! Uploads (`--upload`): PUT and multipart forms, one and several files,
//! chunked bodies, overwrite refused and allowed, every containment case,
//! bounds, an interrupted upload, a full disk, concurrent uploads of one
//! name, a 200 MB upload in constant memory, passwords, the log and the
//! metrics.

use std::io::Read;
use std::process::Command;

use crate::each_mode;
use crate::support::*;

/// A PUT of `body` to `path` on a new connection.
fn put(s: &Server, path: &str, body: &[u8]) -> Response {
    put_with(s, path, body, "")
}

fn put_with(s: &Server, path: &str, body: &[u8], extra: &str) -> Response {
    let mut c = s.connect();
    c.send(format!(
        "PUT {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    ));
    c.send(body);
    c.response()
}

/// A `multipart/form-data` body as a browser makes it.
fn form(boundary: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n")
            .as_bytes(),
    );
    for (name, bytes) in files {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

fn post_form(s: &Server, path: &str, files: &[(&str, &[u8])]) -> Response {
    let boundary = "----skiffTestBoundary7MA4YWxkTrZu0gW";
    let body = form(boundary, files);
    let mut c = s.connect();
    c.send(format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    c.send(&body);
    c.response()
}

/// Names in `dir`, sorted (temporary files included).
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn upload_site() -> TempDir {
    let d = site();
    std::fs::create_dir_all(d.path.join("in/sub")).unwrap();
    d
}

each_mode! {
    fn put_stores_a_new_file_served_at_once_and_never_replaces_one(mode) {
        let d = upload_site();
        let s = Server::start(mode, &d.path, &["--upload"]);
        // Looked for first, so a cache could remember it missing.
        assert_eq!(s.connect().get("/in/a.txt").status, 404);
        let r = put(&s, "/in/a.txt", b"first\n");
        assert_eq!(r.status, 201);
        assert_eq!(r.header("location"), Some("/in/a.txt"));
        assert_eq!(std::fs::read(d.path.join("in/a.txt")).unwrap(), b"first\n");
        let g = s.connect().get("/in/a.txt");
        assert_eq!((g.status, g.body.as_slice()), (200, &b"first\n"[..]));
        // Taken: 409 before the body, and the file is unchanged.
        let r = put(&s, "/in/a.txt", b"second\n");
        assert_eq!(r.status, 409);
        assert_eq!(std::fs::read(d.path.join("in/a.txt")).unwrap(), b"first\n");
        // A chunked body, and an empty one.
        let mut c = s.connect();
        c.send("PUT /in/sub/chunked.bin HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
        assert_eq!(c.response().status, 201);
        assert_eq!(std::fs::read(d.path.join("in/sub/chunked.bin")).unwrap(), b"hello, world");
        // The connection goes on after an upload.
        assert_eq!(c.get("/in/sub/chunked.bin").body, b"hello, world");
        assert_eq!(put(&s, "/in/empty.txt", b"").status, 201);
        assert_eq!(std::fs::read(d.path.join("in/empty.txt")).unwrap(), b"");
        // Nothing else was left behind.
        assert_eq!(names(&d.path.join("in")), ["a.txt", "empty.txt", "sub"]);

        let s = Server::start(mode, &d.path, &["--upload", "--upload-overwrite"]);
        assert_eq!(s.connect().get("/in/a.txt").body, b"first\n");
        let r = put(&s, "/in/a.txt", b"replaced\n");
        assert_eq!(r.status, 204);
        assert_eq!(r.header("content-length"), None);
        // The cached old version is not served.
        assert_eq!(s.connect().get("/in/a.txt").body, b"replaced\n");
        // A folder is never replaced.
        assert_eq!(put(&s, "/in/sub", b"x").status, 409);
    }
}

each_mode! {
    fn a_form_stores_one_or_several_files_and_links_them(mode) {
        let d = upload_site();
        let s = Server::start(mode, &d.path, &["--upload"]);
        let big: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
        let r = post_form(&s, "/in/", &[("one.bin", &big)]);
        assert_eq!(r.status, 201);
        assert_eq!(r.header("location"), Some("/in/one.bin"));
        assert_eq!(std::fs::read(d.path.join("in/one.bin")).unwrap(), big);
        let r = post_form(
            &s,
            "/in/sub",
            &[("a b.txt", b"spaces"), ("été.txt", "utf-8".as_bytes()), ("C:\\Users\\me\\win.txt", b"windows path"), ("../../escape.txt", b"cut to its name")],
        );
        assert_eq!(r.status, 201);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let page = r.text();
        assert!(page.contains("<a href=\"/in/sub/a%20b.txt\">a b.txt</a> (6 bytes)"), "{page}");
        assert!(page.contains("<a href=\"/in/sub/\">Back to the folder</a>"), "{page}");
        assert_eq!(names(&d.path.join("in/sub")), ["a b.txt", "escape.txt", "win.txt", "été.txt"]);
        assert_eq!(std::fs::read(d.path.join("in/sub/escape.txt")).unwrap(), b"cut to its name");
        assert!(!d.path.join("escape.txt").exists());
        // A name taken stops the form with 409.
        assert_eq!(post_form(&s, "/in/", &[("one.bin", b"again")]).status, 409);
        // Not a form.
        let mut c = s.connect();
        c.send("POST /in/ HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi");
        assert_eq!(c.response().status, 400);
    }
}

each_mode! {
    fn containment_every_case(mode) {
        let d = upload_site();
        let outside = TempDir::new("outside");
        std::fs::create_dir_all(d.path.join(".git")).unwrap();
        std::os::unix::fs::symlink(outside.path.clone(), d.path.join("in/out")).unwrap();
        std::os::unix::fs::symlink(d.path.join("in/sub"), d.path.join("in/inside-link")).unwrap();
        d.write("in/target.txt", "target");
        std::os::unix::fs::symlink(d.path.join("in/target.txt"), d.path.join("in/link.txt")).unwrap();
        let s = Server::start(mode, &d.path, &["--upload", "--upload-dir", "in", "--upload-overwrite"]);
        let long = "n".repeat(300);
        for (path, status) in [
            ("/in/.env", 403),                 // hidden name
            ("/.git/x", 404),                  // hidden folder
            ("/in/out/x.txt", 403),            // a symlink out of the root
            ("/in/inside-link/x.txt", 403),    // any symlink on the way
            ("/in/link.txt", 403),             // a symlink as the name
            ("/x.txt", 403),                   // outside --upload-dir
            ("/in/nope/x.txt", 404),           // no such folder
            ("/in/", 400),                     // no name
            ("/in/a%0Ab.txt", 400),            // a control character
            ("/in/a%00b.txt", 400),            // NUL
            (&format!("/in/{long}"), 400),     // longer than a name may be
        ] {
            let r = put(&s, path, b"data");
            assert_eq!(r.status, status, "{path}");
        }
        // `..` never leaves the root: it is resolved first (to /x.txt,
        // outside --upload-dir).
        assert_eq!(put(&s, "/in/../x.txt", b"data").status, 403);
        assert_eq!(std::fs::read(d.path.join("in/target.txt")).unwrap(), b"target");
        assert_eq!(std::fs::read_dir(&outside.path).unwrap().count(), 0);
        assert_eq!(post_form(&s, "/in/", &[(".hidden", b"x")]).status, 403);
        assert_eq!(post_form(&s, "/in/", &[("a\u{1}b.txt", b"x")]).status, 201);
        assert!(d.path.join("in/ab.txt").exists(), "control characters dropped");
        assert!(!names(&d.path.join("in")).iter().any(|n| n.starts_with(".skiff-upload")));
        // With --show-hidden, hidden names may be written.
        let s = Server::start(mode, &d.path, &["--upload", "--show-hidden"]);
        assert_eq!(put(&s, "/in/.env", b"k=v").status, 201);
    }
}

each_mode! {
    fn past_the_bound_is_413_and_the_connection_closes(mode) {
        let d = upload_site();
        let s = Server::start(mode, &d.path, &["--upload", "--upload-max-bytes", "1K"]);
        let mut c = s.connect();
        c.send("PUT /in/big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 413);
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(put(&s, "/in/ok.bin", &[7u8; 1024]).status, 201);
        // Chunked, past the bound while it is read: nothing is left.
        let mut c = s.connect();
        c.send("PUT /in/chunked.bin HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n");
        c.send(vec![b'x'; 1024]);
        c.send("\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 413);
        assert_eq!(r.header("connection"), Some("close"));
        wait_for(|| (names(&d.path.join("in")) == ["ok.bin", "sub"]).then_some(()))
            .unwrap_or_else(|| panic!("left behind: {:?}", names(&d.path.join("in"))));
    }
}

each_mode! {
    fn an_interrupted_upload_leaves_nothing(mode) {
        let d = upload_site();
        let s = Server::start(mode, &d.path, &["--upload"]);
        let mut c = s.connect();
        c.send("PUT /in/cut.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n");
        c.send(vec![1u8; 1_000_000]);
        // The temporary file exists while the body arrives...
        wait_for(|| names(&d.path.join("in")).iter().any(|n| n.starts_with(".skiff-upload-")).then_some(()))
            .expect("a temporary file while uploading");
        drop(c);
        // ...and is gone once the client is.
        wait_for(|| (names(&d.path.join("in")) == ["sub"]).then_some(()))
            .unwrap_or_else(|| panic!("left behind: {:?}", names(&d.path.join("in"))));
        // A GET of the name is 404: nothing was stored.
        assert_eq!(s.connect().get("/in/cut.bin").status, 404);
    }
}

each_mode! {
    fn concurrent_uploads_of_one_name_one_wins_whole(mode) {
        let d = upload_site();
        let s = Server::start(mode, &d.path, &["--upload"]);
        let n = 6;
        let size = 600_000;
        // Every client sends its head and half its body, and only then the
        // rest, so every upload has passed the early check before any ends.
        let mut clients: Vec<Client> = (0..n)
            .map(|i| {
                let mut c = s.connect();
                c.send(format!("PUT /in/same.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n"));
                c.send(vec![b'a' + i as u8; size / 2]);
                c
            })
            .collect();
        wait_for(|| (names(&d.path.join("in")).iter().filter(|n| n.starts_with(".skiff-upload-")).count() == n).then_some(()))
            .expect("every upload under way");
        let threads: Vec<_> = clients
            .drain(..)
            .enumerate()
            .map(|(i, mut c)| {
                std::thread::spawn(move || {
                    c.send(vec![b'a' + i as u8; size / 2]);
                    c.response().status
                })
            })
            .collect();
        let mut statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        statuses.sort();
        assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
        let stored = std::fs::read(d.path.join("in/same.bin")).unwrap();
        assert_eq!(stored.len(), size);
        assert!(stored.iter().all(|&b| b == stored[0]), "a mix of uploads");
        assert_eq!(names(&d.path.join("in")), ["same.bin", "sub"]);
    }
}

/// The server's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

each_mode! {
    fn a_200_mb_upload_streams_in_constant_memory(mode) {
        let d = upload_site();
        let s = Server::start(mode, &d.path, &["--upload", "--list-dirs"]);
        // Warm up: the server's own baseline after serving something.
        assert_eq!(s.connect().get("/in/").status, 200);
        let before = peak_rss_kib(s.child.id());
        let size: usize = 200 << 20;
        let mut c = s.connect();
        c.send(format!("PUT /in/big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n"));
        let block: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        for _ in 0..size >> 20 {
            c.send(&block);
        }
        let r = c.response();
        assert_eq!(r.status, 201);
        let meta = std::fs::metadata(d.path.join("in/big.bin")).unwrap();
        assert_eq!(meta.len() as usize, size);
        let mut f = std::fs::File::open(d.path.join("in/big.bin")).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..size >> 20 {
            f.read_exact(&mut buf).unwrap();
            assert!(buf == block, "the stored bytes differ");
        }
        let grew = peak_rss_kib(s.child.id()).saturating_sub(before);
        // A generous bound: pieces are 256 KiB; 200 MB held would be
        // 200,000 KiB.
        assert!(grew < 32 * 1024, "peak RSS grew by {grew} KiB during a 200 MB upload");
    }
}

each_mode! {
    fn a_full_disk_is_507_and_leaves_nothing(mode) {
        assert!(have("unshare"), "unshare (util-linux) is needed");
        // A 1 MiB tmpfs as the root, mounted in a mount namespace of the
        // server's own (gone when it exits).
        let mount = TempDir::new("tmpfs");
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o size=1m tmpfs \"$1\" && mkdir \"$1/in\" && shift && exec \"$@\"")
            .arg("sh")
            .arg(&mount.path)
            .arg(bin())
            .args(["--bind", "127.0.0.1", "--port", "0", "--root"])
            .arg(&mount.path)
            .args(mode.args())
            .args(["--upload", "--list-dirs", "--show-hidden"]);
        let s = Server::spawn(cmd);
        let r = put(&s, "/in/big.bin", &vec![9u8; 3 << 20]);
        assert_eq!(r.status, 507);
        assert_eq!(r.header("connection"), Some("close"));
        // Nothing stored, no temporary file left (hidden names are shown
        // here, so a leftover would be listed).
        let listing = s.get_with("/in/", "Accept: application/json\r\n");
        assert_eq!(listing.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&listing.body).unwrap();
        assert_eq!(v["entries"].as_array().map(Vec::len), Some(0), "{v}");
        // Room again for a small file.
        assert_eq!(put(&s, "/in/small.txt", b"fits").status, 201);
    }
}

each_mode! {
    fn uploads_ask_for_the_password_and_are_logged_and_counted(mode) {
        let d = upload_site();
        let users = TempDir::new("users");
        if !have("htpasswd") {
            assert!(std::env::var_os("CI").is_none(), "CI must install apache2-utils");
            return;
        }
        let file = users.path.join("u.htpasswd");
        assert!(Command::new("htpasswd").args(["-cbB", "-C", "4"]).arg(&file).args(["ann", "pw"]).status().unwrap().success());
        let s = Server::start(mode, &d.path, &[
            "--upload", "--htpasswd", file.to_str().unwrap(),
            "--access-log", "-", "--access-log-format", "json", "--metrics", "127.0.0.1:0",
        ]);
        assert_eq!(put(&s, "/in/a.txt", b"no password").status, 401);
        assert!(!d.path.join("in/a.txt").exists());
        // ann:pw
        let r = put_with(&s, "/in/a.txt", b"with password", "Authorization: Basic YW5uOnB3\r\n");
        assert_eq!(r.status, 201);
        let lines = s.wait_stdout(|l| l.iter().any(|x| x.contains("\"method\":\"PUT\"") && x.contains("\"status\":201")));
        let line = lines.iter().find(|x| x.contains("\"status\":201")).unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["received"], 13);
        assert_eq!(v["path"], "/in/a.txt");
        s.wait_stderr(|l| l.iter().any(|x| x == "skiff: upload stored /in/a.txt (13 bytes) from 127.0.0.1"));
        let metrics_at = s
            .stdout_lines()
            .iter()
            .find_map(|l| l.strip_prefix("Metrics on http://").map(|r| r.trim_end_matches("/metrics").to_string()))
            .unwrap();
        let mut m = Client::connect(metrics_at.parse().unwrap());
        let text = m.get("/metrics").text();
        assert!(text.contains("skiff_uploaded_files_total 1\n"), "{text}");
        assert!(text.contains("skiff_uploaded_bytes_total 13\n"), "{text}");
        // Over HTTP/2: a wrong password is 401 and curl ends cleanly (the
        // body kept for the upload is read and dropped), a right one 201.
        let src = users.write("b.txt", vec![b'b'; 300_000]);
        for (who, want) in [("ann:wrong", "401"), ("ann:pw", "201")] {
            let out = Command::new("curl")
                .args(["-sS", "--http2-prior-knowledge", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}", "-u", who, "-T"])
                .arg(&src)
                .arg(s.url("/in/b.txt"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{who}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{who}");
        }
        assert_eq!(std::fs::read(d.path.join("in/b.txt")).unwrap().len(), 300_000);
    }
}

#[test]
fn start_up_says_where_uploads_go_and_warns() {
    let d = upload_site();
    let s = Server::start(Mode::Evented, &d.path, &["--upload", "--upload-dir", "in"]);
    let lines = s.wait_stdout(|l| l.iter().any(|x| x.starts_with("Warning")));
    let canonical = std::fs::canonicalize(d.path.join("in")).unwrap();
    assert_eq!(
        lines[0],
        format!(
            "Uploads into {} (each at most 1.0 GiB; no file is ever replaced)",
            canonical.display()
        )
    );
    assert_eq!(
        lines[1],
        "Warning: uploads without --htpasswd: anyone who can reach this server can add files"
    );
    // Bound to loopback: no warning about every address.
    assert!(
        !lines.iter().any(|l| l.contains("every address")),
        "{lines:?}"
    );
    for (args, want) in [
        (vec!["--upload-dir", "in"], "--upload-dir needs --upload"),
        (
            vec!["--upload", "--upload-dir", "nope"],
            "--upload-dir 'nope'",
        ),
        (
            vec!["--upload", "--upload-dir", "../x"],
            "--upload-dir '../x'",
        ),
        (
            vec!["--upload", "--upload-max-bytes", "0"],
            "--upload-max-bytes",
        ),
    ] {
        let out = Command::new(bin())
            .args(["--root", d.path.to_str().unwrap(), "--port", "0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(want) && err.trim().lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

each_mode! {
    fn over_http2_put_and_form_and_a_refusal(mode) {
        assert!(have("curl"), "curl is needed (.ci/run installs it)");
        let d = upload_site();
        let s = Server::start(mode, &d.path, &["--upload"]);
        let src = TempDir::new("src");
        let big: Vec<u8> = (0..2_500_000u32).map(|i| (i % 249) as u8).collect();
        let file = src.write("big.bin", &big);
        let text = src.write("note.txt", "a note\n");
        let curl = |args: &[&str]| -> String {
            let out = Command::new("curl")
                .args(["-sS", "--http2-prior-knowledge", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code} %{http_version}"])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(curl(&["-T", file.to_str().unwrap(), &s.url("/in/big.bin")]), "201 2");
        assert_eq!(std::fs::read(d.path.join("in/big.bin")).unwrap(), big);
        // Taken: 409, and curl sees a clean answer.
        assert_eq!(curl(&["-T", file.to_str().unwrap(), &s.url("/in/big.bin")]), "409 2");
        let form = format!("file=@{}", text.display());
        let two = format!("file=@{};filename=copy.bin", file.display());
        assert_eq!(curl(&["-F", &form, "-F", &two, &s.url("/in/sub/")]), "201 2");
        assert_eq!(std::fs::read(d.path.join("in/sub/note.txt")).unwrap(), b"a note\n");
        assert_eq!(std::fs::read(d.path.join("in/sub/copy.bin")).unwrap(), big);
        assert_eq!(names(&d.path.join("in")), ["big.bin", "sub"]);
    }
}

each_mode! {
    fn the_listing_offers_the_form_only_where_uploads_go(mode) {
        let d = upload_site();
        let s = Server::start(mode, &d.path, &["--upload", "--upload-dir", "in", "--list-dirs"]);
        let page = s.connect().get("/in/sub/").text();
        assert!(page.contains("<form class=\"upload\" method=\"post\" enctype=\"multipart/form-data\" action=\"./\">"), "{page}");
        assert!(page.contains("<input type=\"file\" name=\"file\" multiple>"), "{page}");
        assert!(page.contains("<script src=\"/__skiff__/listing.js\" defer></script>"), "{page}");
        let top = s.connect().get("/").text();
        assert!(!top.contains("<form") && !top.contains("<script"), "{top}");
        let js = s.connect().get("/__skiff__/listing.js");
        assert_eq!(js.status, 200);
        assert_eq!(js.header("content-type"), Some("text/javascript; charset=utf-8"));
        assert!(js.text().contains("addEventListener(\"drop\""));
        let plain = Server::start(mode, &d.path, &["--list-dirs"]);
        assert_eq!(plain.connect().get("/__skiff__/listing.js").status, 404);
        assert!(!plain.connect().get("/in/").text().contains("<form"));
        // Without --upload, PUT and POST are 405 as before.
        assert_eq!(put(&plain, "/in/x.txt", b"x").status, 405);
    }
}
