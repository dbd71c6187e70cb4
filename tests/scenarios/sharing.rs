//! Sharing a folder: the addresses start-up prints when skiff listens on
//! every address, and `--qr`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::*;

/// Starts skiff with these flags and reads its stdout lines until `done`
/// says they are all there (each line within `IO_TIMEOUT`, so a line that
/// never comes fails the test instead of hanging it).
fn start_lines(
    args: &[&str],
    done: impl Fn(&[String]) -> bool,
) -> (std::process::Child, Vec<String>) {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while !done(&lines) {
        match rx.recv_timeout(IO_TIMEOUT) {
            Ok(line) => lines.push(line),
            Err(_) => {
                stop(child);
                panic!("skiff printed no more lines: {lines:?}");
            }
        }
    }
    (child, lines)
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn every_address_is_printed_as_a_url_loopback_first_and_each_answers() {
    let site = site();
    // The metrics line comes after the addresses: it marks their end.
    let (child, lines) = start_lines(
        &[
            "--root",
            site.path.to_str().unwrap(),
            "--bind",
            "0.0.0.0",
            "--port",
            "0",
            "--metrics",
            "127.0.0.1:0",
        ],
        |l| l.last().is_some_and(|x| x.starts_with("Metrics on")),
    );
    let first = &lines[0];
    assert!(
        first.starts_with("Listening on every address, port "),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("0.0.0.0")), "{lines:?}");
    let urls: Vec<&str> = lines[1..]
        .iter()
        .filter_map(|l| l.strip_prefix("  "))
        .collect();
    assert!(urls[0].starts_with("http://127.0.0.1:"), "{urls:?}");
    for url in &urls {
        let addr: std::net::SocketAddr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        let r = Client::connect(addr).get("/a.txt");
        assert_eq!(
            (r.status, r.text()),
            (200, "hello, skiff\n".to_string()),
            "{url}"
        );
    }
    stop(child);
}

/// The QR code printed (light modules as blocks, two rows a line) as a
/// picture, read back by an independent decoder.
fn decode(block: &[String]) -> String {
    const SCALE: usize = 4;
    let width = block[0].chars().count();
    let height = block.len() * 2;
    // Each character is two modules: top and bottom, light or dark.
    let light = |line: &str, x: usize, bottom: bool| -> bool {
        match line.chars().nth(x).unwrap_or(' ') {
            '█' => true,
            '▀' => !bottom,
            '▄' => bottom,
            _ => false,
        }
    };
    let img = rqrr::PreparedImage::prepare_from_greyscale(width * SCALE, height * SCALE, |x, y| {
        let (mx, my) = (x / SCALE, y / SCALE);
        if light(&block[my / 2], mx, my % 2 == 1) {
            255
        } else {
            0
        }
    });
    let mut img = img;
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one code");
    grids[0].decode().unwrap().1
}

#[test]
fn qr_draws_the_first_lan_url_and_it_scans() {
    let site = site();
    let (child, lines) = start_lines(
        &[
            "--root",
            site.path.to_str().unwrap(),
            "--bind",
            "0.0.0.0",
            "--port",
            "0",
            "--qr",
        ],
        |l| {
            l.last()
                .is_some_and(|x| x.starts_with("http") || x.starts_with("--qr"))
        },
    );
    stop(child);
    let urls: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("  ")).collect();
    let lan = urls
        .iter()
        .find(|u| !u.contains("://127.") && !u.contains("[::1]"));
    match lan {
        Some(lan) => {
            assert_eq!(lines.last().map(String::as_str), Some(*lan), "{lines:?}");
            let block: Vec<String> = lines
                .iter()
                .skip(1 + urls.len())
                .take_while(|l| !l.starts_with("http"))
                .cloned()
                .collect();
            assert_eq!(decode(&block), *lan);
        }
        // A machine with loopback alone says so, in one line.
        None => assert!(
            lines.last().unwrap().starts_with("--qr: no address"),
            "{lines:?}"
        ),
    }
    // Bound to loopback, there is nothing to draw.
    let (child, lines) = start_lines(
        &[
            "--root",
            site.path.to_str().unwrap(),
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--qr",
        ],
        |l| l.len() >= 2,
    );
    stop(child);
    assert!(
        lines[0].starts_with("Listening on http://127.0.0.1:"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("--qr: no address another device can reach"),
        "{lines:?}"
    );
}

/// The README's folder-sharing quick start, with its flags as written
/// there (on loopback, port 0): the start-up lines it shows, the upload
/// that says `created`, the same upload refused, and the folder as
/// `shared.zip`.
#[test]
fn the_readme_sharing_quick_start_does_what_it_shows() {
    let readme = repo_file("README.md");
    let section = readme
        .split("## Sharing a folder")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Sharing a folder section");
    let command = section
        .lines()
        .find_map(|l| l.strip_prefix("$ skiff "))
        .expect("the skiff command");
    if !have("htpasswd") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install apache2-utils"
        );
        eprintln!("skipped: htpasswd is not installed");
        return;
    }
    let home = TempDir::new("home");
    std::fs::create_dir_all(home.path.join("shared/photos")).unwrap();
    home.write("shared/notes.txt", "notes\n");
    let users = home.path.join("users.htpasswd");
    assert!(
        Command::new("htpasswd")
            .args(["-cbB", "-C", "4"])
            .arg(&users)
            .args(["ann", "secret"])
            .status()
            .unwrap()
            .success()
    );
    // The README's flags, with `~` as this test's home.
    let args: Vec<String> = command
        .split_whitespace()
        .map(|a| a.replace('~', home.path.to_str().unwrap()))
        .collect();
    let mut cmd = Command::new(bin());
    cmd.args(&args).args(["--bind", "127.0.0.1", "--port", "0"]);
    let s = Server::spawn(cmd);
    let root = std::fs::canonicalize(home.path.join("shared")).unwrap();
    let shown: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("Uploads into "))
        .collect();
    let lines = s.wait_stdout(|l| !l.is_empty());
    assert_eq!(
        lines[0],
        shown[0].replace("/home/me/shared", root.to_str().unwrap())
    );
    let mut c = s.connect();
    let auth = "Authorization: Basic YW5uOnNlY3JldA==\r\n"; // ann:secret
    c.send(format!(
        "PUT /report.pdf HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: 4\r\n\r\n%PDF"
    ));
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (201, "created\n"));
    assert!(section.contains("created\n"));
    c.send(format!(
        "PUT /report.pdf HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: 4\r\n\r\n%PDF"
    ));
    assert_eq!(c.response().status, 409);
    let r = c.get_with("/?download=zip", auth);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"shared.zip\"")
    );
    assert!(section.contains("shared.zip"));
    assert_eq!(&r.body[..2], b"PK");
}
