//! Folder downloads (`--archives`): each format extracted by the real
//! tools and compared byte for byte, the bounds (413), the listing's
//! links, HTTP/1.0 and HTTP/2 framing, and files that change or vanish
//! while an archive is made.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use crate::each_mode;
use crate::support::*;

/// A folder with every kind of name a format must carry, an empty folder,
/// a 0-byte file, a larger file, a symlink inside the root (followed), and
/// what must be left out: a hidden file and folder, a symlink out of the
/// root.
fn shared_site() -> (TempDir, TempDir) {
    let outside = TempDir::new("outside");
    outside.write("secret.txt", "outside\n");
    let d = site();
    d.write("photos/a b.txt", "spaces\n");
    d.write("photos/été ☀.txt", "utf-8\n");
    d.write("photos/\"quoted\" 'name'.txt", "quotes\n");
    d.write("photos/new\nline.txt", "newline\n");
    d.write("photos/zero.bin", "");
    d.write(
        &format!("photos/{}.txt", "long".repeat(40)),
        "a long name\n",
    );
    d.write(
        &format!("photos/{}/{}.txt", "deep".repeat(30), "x".repeat(120)),
        "long path\n",
    );
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    d.write("photos/sub/big.bin", big);
    d.write(
        "photos/sub/notes.md",
        "# text is deflated in a zip\n".repeat(100),
    );
    std::fs::create_dir_all(d.path.join("photos/empty")).unwrap();
    d.write("photos/.hidden", "hidden\n");
    d.write("photos/.git/config", "hidden folder\n");
    d.write("other/linked.txt", "reached through a link\n");
    std::os::unix::fs::symlink(d.path.join("other"), d.path.join("photos/link")).unwrap();
    std::os::unix::fs::symlink(
        outside.path.join("secret.txt"),
        d.path.join("photos/escape.txt"),
    )
    .unwrap();
    (d, outside)
}

/// What extracting should give: every file's bytes and every folder
/// (`None`), by path under `photos/`.
fn expected(root: &Path) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let mut want = BTreeMap::new();
    want.insert(b"photos".to_vec(), None);
    for (name, bytes) in [
        ("a b.txt", &b"spaces\n"[..]),
        ("été ☀.txt", b"utf-8\n"),
        ("\"quoted\" 'name'.txt", b"quotes\n"),
        ("new\nline.txt", b"newline\n"),
        ("zero.bin", b""),
    ] {
        want.insert(format!("photos/{name}").into_bytes(), Some(bytes.to_vec()));
    }
    for rel in [
        format!("{}.txt", "long".repeat(40)),
        format!("{}/{}.txt", "deep".repeat(30), "x".repeat(120)),
        "sub/big.bin".into(),
        "sub/notes.md".into(),
        "link/linked.txt".into(),
    ] {
        let bytes = std::fs::read(root.join("photos").join(&rel)).unwrap();
        want.insert(format!("photos/{rel}").into_bytes(), Some(bytes));
    }
    for dir in ["empty", "sub", "link", &"deep".repeat(30)] {
        want.insert(format!("photos/{dir}").into_bytes(), None);
    }
    want
}

/// Everything under `dir`: files with their bytes, folders as `None`.
fn tree(dir: &Path) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            if e.file_type().unwrap().is_dir() {
                out.insert(rel, None);
                walk(base, &path, out);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Extracts `archive` (bytes of `format`) with the real tool into a new
/// folder.
fn extract(archive: &[u8], format: &str) -> TempDir {
    let into = TempDir::new("extracted");
    let file = into.path.join(format!("download.{format}"));
    std::fs::write(&file, archive).unwrap();
    let out = into.path.join("x");
    std::fs::create_dir(&out).unwrap();
    let status = match format {
        "tar" => Command::new("tar")
            .arg("-xf")
            .arg(&file)
            .arg("-C")
            .arg(&out)
            .status(),
        "tar.gz" => Command::new("tar")
            .arg("-xzf")
            .arg(&file)
            .arg("-C")
            .arg(&out)
            .status(),
        "zip" => {
            // unzip checks every entry's CRC; Python extracts, as unzip
            // would rename the name with a newline in it.
            assert!(have("unzip"), "unzip is needed (.ci/run installs it)");
            let tested = Command::new("unzip")
                .arg("-tq")
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                tested.status.success(),
                "unzip -t failed: {}",
                String::from_utf8_lossy(&tested.stdout)
            );
            Command::new("python3")
                .args([
                    "-c",
                    "import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
                ])
                .arg(&file)
                .arg(&out)
                .status()
        }
        other => panic!("{other}"),
    };
    assert!(status.unwrap().success(), "extracting the {format} failed");
    std::fs::remove_file(&file).unwrap();
    into
}

/// Python's own reader of the format agrees (names, sizes, CRCs).
fn python_reads(archive: &[u8], format: &str) -> Vec<String> {
    let dir = TempDir::new("py");
    let file = dir.path.join("a");
    std::fs::write(&file, archive).unwrap();
    let script = match format {
        "zip" => {
            "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint('\\n'.join(repr(n) for n in z.namelist()))"
        }
        _ => {
            "import sys,tarfile\nt=tarfile.open(sys.argv[1])\nfor m in t.getmembers():\n  if m.isfile(): t.extractfile(m).read()\n  print(repr(m.name))"
        }
    };
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

each_mode! {
    fn every_format_extracts_byte_for_byte(mode) {
        let (d, _o) = shared_site();
        let s = Server::start(mode, &d.path, &["--archives", "--list-dirs"]);
        let want = expected(&d.path);
        for (format, mime) in [
            ("tar", "application/x-tar"),
            ("tar.gz", "application/gzip"),
            ("zip", "application/zip"),
        ] {
            let mut c = s.connect();
            let r = c.get(&format!("/photos/?download={format}"));
            assert_eq!(r.status, 200, "{format}");
            assert_eq!(r.header("content-type"), Some(mime));
            assert_eq!(
                r.header("content-disposition"),
                Some(format!("attachment; filename=\"photos.{format}\"").as_str())
            );
            // Length unknown ahead: chunked, never compressed again.
            assert_eq!(r.header("transfer-encoding"), Some("chunked"));
            assert_eq!(r.header("content-length"), None);
            assert_eq!(r.header("content-encoding"), None);
            let got = tree(&extract(&r.body, format).path.join("x"));
            let names = |m: &BTreeMap<Vec<u8>, Option<Vec<u8>>>| -> Vec<String> {
                m.keys().map(|k| String::from_utf8_lossy(k).into_owned()).collect()
            };
            assert_eq!(names(&got), names(&want), "{format}");
            assert!(got == want, "{format}: contents differ");
            let names = python_reads(&r.body, format);
            assert!(!names.iter().any(|n| n.contains("hidden") || n.contains(".git") || n.contains("escape") || n.contains("skiff-archive-notes")), "{names:?}");
            // The connection persists after the last chunk.
            assert_eq!(c.get("/photos/a%20b.txt").body, b"spaces\n");
        }
    }
}

each_mode! {
    fn head_and_the_listing_offer_it_and_bad_asks_get_their_status(mode) {
        let (d, _o) = shared_site();
        let s = Server::start(mode, &d.path, &["--archives", "--list-dirs"]);
        let mut c = s.connect();
        c.send("HEAD /photos/?download=zip HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.head_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/zip"));
        assert_eq!(r.header("content-length"), None);
        let page = s.connect().get("/photos/").text();
        assert!(page.contains("<p class=\"downloads\">Download this folder: <a class=\"dl\" href=\"?download=tar\" download>.tar</a> <a class=\"dl\" href=\"?download=tar.gz\" download>.tar.gz</a> <a class=\"dl\" href=\"?download=zip\" download>.zip</a></p>"), "{page}");
        assert!(page.contains("<a href=\"sub/\">sub/</a><span class=\"dls\"> <a class=\"dl\" href=\"sub/?download=tar\" download>tar</a>"), "{page}");
        // The root is the root folder's name; a non-ASCII name gets filename*.
        d.write("café/x.txt", "x");
        let r = s.connect().get("/caf%C3%A9/?download=tar");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"caf_.tar\"; filename*=UTF-8''caf%C3%A9.tar"));
        assert_eq!(s.connect().get("/photos/?download=rar").status, 400);
        assert_eq!(s.connect().get("/nothing/?download=tar").status, 404);
        assert_eq!(s.connect().get("/photos/.git/?download=tar").status, 404);
        assert_eq!(s.connect().get("/photos/a%20b.txt?download=tar").status, 404);
        assert_eq!(s.connect().get("/photos/escape.txt?download=tar").status, 403);
        // Without --archives the query is nothing special.
        let plain = Server::start(mode, &d.path, &["--list-dirs"]);
        let r = plain.connect().get("/photos/?download=tar");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(!r.text().contains("download="));
    }
}

each_mode! {
    fn past_a_bound_is_413_before_any_byte_and_the_connection_goes_on(mode) {
        let (d, _o) = shared_site();
        for args in [
            &["--archives", "--archive-max-files", "5"][..],
            &["--archives", "--archive-max-bytes", "1M"][..],
        ] {
            let s = Server::start(mode, &d.path, args);
            let mut c = s.connect();
            let r = c.get("/photos/?download=tar.gz");
            assert_eq!(r.status, 413, "{args:?}");
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
            assert!(r.text().contains("413 Content Too Large"));
            assert_eq!(c.get("/photos/a%20b.txt").status, 200);
            // A folder within the bounds is fine.
            assert_eq!(c.get("/photos/empty/?download=tar").status, 200);
            s.wait_stderr(|l| l.iter().any(|x| x.contains("folder download refused (413): more than --archive-max")));
        }
    }
}

each_mode! {
    fn http10_ends_the_body_with_the_connection(mode) {
        let (d, _o) = shared_site();
        let s = Server::start(mode, &d.path, &["--archives"]);
        let mut c = s.connect();
        c.send("GET /photos/?download=tar HTTP/1.0\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("transfer-encoding"), None);
        assert_eq!(r.header("connection"), Some("close"));
        let got = tree(&extract(&r.body, "tar").path.join("x"));
        assert!(got == expected(&d.path));
    }
}

each_mode! {
    fn over_http2_too(mode) {
        assert!(have("curl"), "curl is needed (.ci/run installs it)");
        let (d, _o) = shared_site();
        let s = Server::start(mode, &d.path, &["--archives"]);
        let dir = TempDir::new("h2");
        let file = dir.path.join("a.zip");
        let out = Command::new("curl")
            .args(["-s", "-S", "--http2-prior-knowledge", "--max-time", "20", "-D", "-", "-o"])
            .arg(&file)
            .arg(s.url("/photos/?download=zip"))
            .output()
            .unwrap();
        let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(head.starts_with("http/2 200"), "{head}");
        assert!(head.contains("content-disposition: attachment; filename=\"photos.zip\""), "{head}");
        assert!(!head.contains("content-length"), "{head}");
        let got = tree(&extract(&std::fs::read(&file).unwrap(), "zip").path.join("x"));
        assert!(got == expected(&d.path));
    }
}

/// A client that reads the head and a little of an archive, changes the
/// folder meanwhile (one file rewritten in place, one deleted), then reads
/// the rest: the rewritten file comes out whole (read again at the end),
/// the deleted one is left out, and the notes entry names both.
fn changed_while_read(mode: Mode, format: &str) {
    let d = site();
    let size = 48 << 20;
    d.write("f/a-big.bin", vec![b'1'; size]);
    d.write("f/z-gone.txt", "gone soon\n");
    let s = Server::start(mode, &d.path, &["--archives"]);
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    // A small receive buffer: the server can run only a little ahead.
    sock.set_recv_buffer_size(32 * 1024).unwrap();
    sock.connect(&s.addr.into()).unwrap();
    let mut stream: std::net::TcpStream = sock.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    use std::io::{Read, Write};
    write!(stream, "GET /f/?download={format} HTTP/1.0\r\n\r\n").unwrap();
    let mut first = vec![0u8; 64 * 1024];
    stream.read_exact(&mut first).unwrap();
    // Rewritten in place at the same size (its change time moves), and the
    // other file deleted before its turn.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(d.path.join("f/a-big.bin"))
            .unwrap();
        f.write_all_at(&vec![b'2'; size], 0).unwrap();
    }
    std::fs::remove_file(d.path.join("f/z-gone.txt")).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    first.extend_from_slice(&rest);
    let body_at = find(&first, b"\r\n\r\n").unwrap() + 4;
    let body = &first[body_at..];
    let x = extract(body, format);
    let got = tree(&x.path.join("x"));
    let big = got
        .get(&b"f/a-big.bin"[..])
        .cloned()
        .flatten()
        .expect("the rewritten file");
    assert!(
        big.len() == size && big.iter().all(|&b| b == b'2'),
        "{format}: not the whole new version"
    );
    assert!(!got.contains_key(&b"f/z-gone.txt"[..]), "{format}");
    let notes = String::from_utf8(got[&b"f/skiff-archive-notes.txt"[..]].clone().unwrap()).unwrap();
    assert!(
        notes.contains("changed while read: read again whole at the end: f/a-big.bin"),
        "{notes}"
    );
    assert!(notes.contains("left out (gone): f/z-gone.txt"), "{notes}");
}

each_mode! {
    fn a_file_changed_while_read_is_read_again_and_one_gone_is_left_out(mode) {
        changed_while_read(mode, "tar");
        changed_while_read(mode, "zip");
    }
}

#[test]
fn bad_bounds_are_one_line_errors() {
    let d = site();
    for (flag, value) in [
        ("--archive-max-bytes", "0"),
        ("--archive-max-bytes", "12Q"),
        ("--archive-max-bytes", "2048T"),
        ("--archive-max-files", "0"),
        ("--archive-max-files", "many"),
    ] {
        let out = Command::new(bin())
            .args([
                "--root",
                d.path.to_str().unwrap(),
                "--port",
                "0",
                flag,
                value,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
}

each_mode! {
    fn a_name_that_is_not_utf8_is_kept_in_tar_and_noted_in_zip(mode) {
        let d = site();
        let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
        std::fs::create_dir_all(d.path.join("f")).unwrap();
        std::fs::write(d.path.join("f").join(odd), "latin-1 name\n").unwrap();
        let s = Server::start(mode, &d.path, &["--archives"]);
        // tar keeps the bytes as they are.
        let tar = s.connect().get("/f/?download=tar");
        let got = tree(&extract(&tar.body, "tar").path.join("x"));
        assert_eq!(got.get(&b"f/caf\xe9.txt"[..]), Some(&Some(b"latin-1 name\n".to_vec())));
        // zip stores UTF-8 with U+FFFD, and says so in the notes entry.
        let zip = s.connect().get("/f/?download=zip");
        let got = tree(&extract(&zip.body, "zip").path.join("x"));
        assert_eq!(got.get("f/caf\u{fffd}.txt".as_bytes()), Some(&Some(b"latin-1 name\n".to_vec())));
        let notes = String::from_utf8(got[&b"f/skiff-archive-notes.txt"[..]].clone().unwrap()).unwrap();
        assert!(notes.contains("not UTF-8 is stored with U+FFFD: f/caf\u{fffd}.txt"), "{notes}");
    }
}

each_mode! {
    fn a_file_grown_past_the_byte_bound_cuts_the_stream_and_says_why(mode) {
        let d = site();
        d.write("f/a-first.bin", vec![b'a'; 40 << 20]);
        d.write("f/b-grows.bin", vec![b'b'; 100_000]);
        let s = Server::start(mode, &d.path, &["--archives", "--archive-max-bytes", "41M"]);
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_recv_buffer_size(32 * 1024).unwrap();
        sock.connect(&s.addr.into()).unwrap();
        let mut stream: std::net::TcpStream = sock.into();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        use std::io::{Read, Write};
        write!(stream, "GET /f/?download=tar HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut first = vec![0u8; 64 * 1024];
        stream.read_exact(&mut first).unwrap();
        assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"));
        // Counted within the bound; now it grows past it before its turn.
        d.write("f/b-grows.bin", vec![b'b'; 2 << 20]);
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        // The connection closed without the last chunk.
        first.extend_from_slice(&rest);
        assert!(!first.ends_with(b"0\r\n\r\n"), "the stream was not cut");
        s.wait_stderr(|l| l.iter().any(|x| x.contains("folder download cut short: cut: past --archive-max-bytes")));
    }
}
