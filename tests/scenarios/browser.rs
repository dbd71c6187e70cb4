//! A real browser: headless Chromium loads a page from skiff that decodes
//! every image, fetches the PDF, loads the video's metadata and seeks to
//! near its end. Against a server without Range support the seek stays at
//! 0 and nothing is seekable, so this fails there.
//!
//! Chromium comes from Debian's `chromium` package; CI installs it. Outside
//! CI a machine without it skips this test and says so.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::each_mode;
use crate::support::*;

const PAGE: &str = include_str!("../fixtures/browser-check.html");

fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return Some(path);
    }
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| have(c))
        .map(str::to_string)
}

/// Runs headless Chromium on `url` and returns the dumped DOM.
fn dump_dom(browser: &str, url: &str) -> String {
    dump_dom_with(browser, url, &[])
}

/// The same with more Chromium flags.
fn dump_dom_with(browser: &str, url: &str, extra: &[String]) -> String {
    let profile = TempDir::new("chromium-profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
            "--virtual-time-budget=60000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    // Bounded: a browser that hangs is killed (our own child, by handle).
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// Loads `url` and returns what the page wrote after `RESULT `.
fn page_result(browser: &str, url: &str) -> String {
    page_result_with(browser, url, &[])
}

fn page_result_with(browser: &str, url: &str, extra: &[String]) -> String {
    let dom = dump_dom_with(browser, url, extra);
    dom.lines()
        .find_map(|l| l.split("RESULT ").nth(1))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no result in the page: {dom}"))
}

/// The media check page and its files in a new folder.
fn media_site() -> TempDir {
    let site = TempDir::new("browser");
    let www = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/media");
    for name in [
        "skiff.mp4",
        "mandelbrot.png",
        "testcard.jpg",
        "gradient.jpeg",
        "life.gif",
        "skiff.pdf",
    ] {
        std::fs::copy(www.join(name), site.path.join(name)).unwrap();
    }
    site.write("check.html", PAGE);
    site.write("tick.txt", "t");
    site
}

/// What the media page must report, and that the video came by Range.
fn assert_media_page(s: &Server, result: &str) {
    for want in [
        "\"mandelbrot.png\":\"480x320\"",
        "\"testcard.jpg\":\"480x320\"",
        "\"gradient.jpeg\":\"480x320\"",
        "\"life.gif\":\"300x225\"",
        "\"pdf\":\"200 application/pdf %PDF-\"",
        "\"duration\":8",
        "\"seeked\":\"ok\"",
        "\"seekable\":8",
        "\"done\":true",
    ] {
        assert!(result.contains(want), "{want} missing from {result}");
    }
    let lines = s.wait_stdout(|l| l.iter().any(|x| x.contains("/skiff.mp4 ")));
    let video: Vec<&String> = lines
        .iter()
        .filter(|x| x.contains("\"GET /skiff.mp4 "))
        .collect();
    assert!(video.iter().any(|x| x.contains("\" 206 ")), "{video:?}");
    assert!(
        video
            .iter()
            .all(|x| x.contains("\" 206 ") || x.contains("\" 304 ")),
        "{video:?}"
    );
}

each_mode! {
    fn chromium_plays_and_seeks_the_video_over_https_trusting_only_the_key(mode) {
        let Some(browser) = chromium() else {
            assert!(std::env::var_os("CI").is_none(), "CI must install chromium (.ci/run does)");
            eprintln!("skipped: chromium is not installed");
            return;
        };
        let site = media_site();
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &["--access-log", "-"]);
        let url = format!("https://127.0.0.1:{}/check.html", s.port());
        // Chromium verifies the chain as usual and accepts the failure to
        // reach a known root only for this one public key.
        let trust = vec![format!("--ignore-certificate-errors-spki-list={}", ca.spki)];
        let result = page_result_with(&browser, &url, &trust);
        assert_media_page(&s, &result);
        // Over HTTPS, everything came by HTTP/2 (ALPN h2).
        assert!(result.contains("\"protocols\":[\"h2\"]"), "{result}");
        let lines = s.stdout_lines();
        assert!(lines.iter().any(|l| l.contains("\"GET /skiff.mp4 HTTP/2.0\" 206 ")), "{lines:?}");
    }
}

#[test]
fn chromium_refuses_the_https_page_without_trusting_the_key() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (.ci/run does)"
        );
        eprintln!("skipped: chromium is not installed");
        return;
    };
    let site = TempDir::new("untrusted");
    site.write("p.html", "<p>RESULT reached</p>");
    let ca = TestCa::new();
    let s = Server::start_tls(Mode::Evented, &site.path, &ca, &[]);
    let url = format!("https://127.0.0.1:{}/p.html", s.port());
    let dom = dump_dom(&browser, &url);
    assert!(!dom.contains("RESULT reached"), "{dom}");
    let trust = vec![format!("--ignore-certificate-errors-spki-list={}", ca.spki)];
    assert!(dump_dom_with(&browser, &url, &trust).contains("RESULT reached"));
}

each_mode! {
    fn chromium_decodes_images_and_plays_and_seeks_the_video(mode) {
        let Some(browser) = chromium() else {
            assert!(std::env::var_os("CI").is_none(), "CI must install chromium (.ci/run does)");
            eprintln!("skipped: chromium is not installed");
            return;
        };
        let site = media_site();
        let s = Server::start(mode, &site.path, &["--access-log", "-"]);
        let result = page_result(&browser, &s.url("/check.html"));
        assert_media_page(&s, &result);
        // Browsers do not speak h2c: plain HTTP stays HTTP/1.1.
        assert!(result.contains("\"protocols\":[\"http/1.1\"]"), "{result}");
    }
}

const COMPRESS_PAGE: &str = include_str!("../fixtures/compress-check.html");

each_mode! {
    fn chromium_runs_scripts_and_applies_styles_that_arrive_compressed(mode) {
        let Some(browser) = chromium() else {
            assert!(std::env::var_os("CI").is_none(), "CI must install chromium (.ci/run does)");
            eprintln!("skipped: chromium is not installed");
            return;
        };
        let site = TempDir::new("browser-compress");
        site.write("check.html", COMPRESS_PAGE);
        // Each over 1 KiB, so each is compressed.
        let mut css = String::from("#box { width: 123px; color: rebeccapurple; }\n");
        let mut js = String::from("window.appRan = true;\n");
        let mut data = String::new();
        for i in 0..200 {
            css.push_str(&format!(".rule-{i} {{ margin: {i}px; padding: {i}px; }}\n"));
            js.push_str(&format!("window.value{i} = {i} * 2; // padding to be compressed\n"));
            data.push_str(&format!("line {i} of a text file that compresses well\n"));
        }
        site.write("style.css", &css);
        site.write("app.js", &js);
        site.write("data.txt", &data);
        let s = Server::start(mode, &site.path, &["--access-log", "-"]);
        // Make every encoding of every file first (requests are answered
        // identity until theirs is made), whichever the browser asks for.
        for path in ["/style.css", "/app.js", "/data.txt"] {
            for coding in ["gzip", "br", "zstd"] {
                wait_for(|| {
                    let r = s.get_with(path, &format!("Accept-Encoding: {coding}\r\n"));
                    (r.header("content-encoding") == Some(coding)).then_some(())
                })
                .unwrap_or_else(|| panic!("{path} never came as {coding}"));
            }
        }
        let result = page_result(&browser, &s.url("/check.html"));
        for want in [
            "\"script\":\"ran\"",
            "\"width\":\"123px\"",
            "\"style.css\":\"encoded\"",
            "\"app.js\":\"encoded\"",
        ] {
            assert!(result.contains(want), "{want} missing from {result}");
        }
        let lines: Vec<&str> = data.lines().collect();
        let want = format!("{} {}", data.len(), &lines[0][..12]);
        assert!(result.contains(&want), "{want} missing from {result}");
        assert!(!result.contains("\"data\":\"null"), "data.txt came identity: {result}");
    }
}

/// A page on one port that fetches `url` (once plainly, once with a header
/// that needs a preflight) and writes what happened into `#result`.
fn cross_origin_page(url: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><pre id="result">PENDING</pre>
<script>
"use strict";
(async () => {{
  const out = {{}};
  try {{ const r = await fetch("{url}"); out.simple = r.status + " " + (await r.text()).trim(); }}
  catch (e) {{ out.simple = "blocked " + e.name; }}
  try {{ const r = await fetch("{url}", {{ headers: {{ "If-None-Match": "\"nope\"" }} }}); out.preflighted = r.status + " " + (await r.text()).trim(); }}
  catch (e) {{ out.preflighted = "blocked " + e.name; }}
  document.getElementById("result").textContent = "RESULT " + JSON.stringify(out);
}})();
</script></body></html>"#
    )
}

each_mode! {
    fn chromium_fetches_across_ports_only_with_cors(mode) {
        let Some(browser) = chromium() else {
            assert!(std::env::var_os("CI").is_none(), "CI must install chromium (.ci/run does)");
            eprintln!("skipped: chromium is not installed");
            return;
        };
        let pages = TempDir::new("cors-pages");
        let data = site();
        let page_server = Server::start(mode, &pages.path, &[]);
        let origin = format!("http://127.0.0.1:{}", page_server.port());
        for (args, simple, preflighted) in [
            (vec!["--cors".to_string(), origin.clone()], "200 hello, skiff", "200 hello, skiff"),
            (vec![], "blocked TypeError", "blocked TypeError"),
            (vec!["--cors".to_string(), "http://127.0.0.1:1".to_string()], "blocked TypeError", "blocked TypeError"),
        ] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let data_server = Server::start(mode, &data.path, &args);
            let name = format!("cors-{}.html", data_server.port());
            pages.write(&name, cross_origin_page(&data_server.url("/a.txt")));
            let result = page_result(&browser, &page_server.url(&format!("/{name}")));
            assert!(result.contains(&format!("\"simple\":\"{simple}\"")), "{args:?}: {result}");
            assert!(result.contains(&format!("\"preflighted\":\"{preflighted}\"")), "{args:?}: {result}");
        }
    }
}

each_mode! {
    fn chromium_follows_redirects_into_a_clean_url_under_a_base_path_and_obeys_its_csp(mode) {
        let Some(browser) = chromium() else {
            assert!(std::env::var_os("CI").is_none(), "CI must install chromium (.ci/run does)");
            eprintln!("skipped: chromium is not installed");
            return;
        };
        let site = TempDir::new("browser-rules");
        site.write(
            "pricing.html",
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>pricing</title></head><body>\n\
             <p id=\"inline\">inline script blocked</p>\n\
             <script>document.getElementById('inline').textContent = 'inline script ran';</script>\n\
             <script src=\"app.js\"></script>\n</body></html>\n",
        );
        site.write(
            "app.js",
            "document.body.insertAdjacentHTML('beforeend', '<p id=\"external\">external ran at ' + location.pathname + '</p>');\n",
        );
        let s = Server::start(mode, &site.path, &[
            "--base-path", "/app",
            "--clean-urls",
            "--redirect", "/start=/pricing.html 302",
            "--header", "/**/*.html=Content-Security-Policy: script-src 'self'",
            "--access-log", "-",
        ]);
        // /app/start -> 302 /app/pricing.html -> 308 /app/pricing.
        let dom = dump_dom(&browser, &s.url("/app/start"));
        assert!(dom.contains("inline script blocked"), "the CSP let the inline script run: {dom}");
        assert!(dom.contains("external ran at /app/pricing"), "{dom}");
        let log = s.wait_stdout(|l| l.iter().filter(|l| l.contains("GET /app/")).count() >= 4);
        let seen: Vec<String> = log
            .iter()
            .filter_map(|l| l.split('"').nth(1).map(|r| r.split(' ').nth(1).unwrap_or("").to_string() + " " + l.split('"').nth(2).unwrap_or("").trim().split(' ').next().unwrap_or("")))
            .filter(|l| l.starts_with("/app/"))
            .collect();
        for want in ["/app/start 302", "/app/pricing.html 308", "/app/pricing 200", "/app/app.js 200"] {
            assert!(seen.iter().any(|l| l == want), "{want} not in {seen:?}");
        }
    }
}

each_mode! {
    fn chromium_uploads_through_the_listing_and_downloads_back_under_a_strict_csp(mode) {
        let Some(browser) = chromium() else {
            assert!(std::env::var_os("CI").is_none(), "CI must install chromium (.ci/run does)");
            eprintln!("skipped: chromium is not installed");
            return;
        };
        let site = TempDir::new("browser-upload");
        site.write("share/already.txt", "here before\n");
        site.write("check/upload-check.html", include_str!("../fixtures/upload-check.html"));
        site.write("check/upload-check.js", include_str!("../fixtures/upload-check.js"));
        let s = Server::start(mode, &site.path, &[
            "--list-dirs", "--upload", "--upload-dir", "share", "--archives",
            "--header", "Content-Security-Policy: default-src 'self'",
        ]);
        let result = page_result(&browser, &s.url("/check/upload-check.html"));
        for want in [
            "\"form\":true",
            "\"script\":true",
            "\"formUpload\":\"typed in a form\\n\"",
            "\"dropUpload\":\"dropped\\n\"",
            "\"noScriptTitle\":\"Uploaded\"",
            "\"noScriptLink\":\"/share/no%20script.txt\"",
            "\"download\":\"no script\\n\"",
            "\"zip\":\"200 application/zip PK\"",
            "\"done\":true",
        ] {
            assert!(result.contains(want), "{want} missing from {result}");
        }
        assert_eq!(std::fs::read(site.path.join("share/from form.txt")).unwrap(), b"typed in a form\n");
        assert_eq!(std::fs::read(site.path.join("share/dropped.txt")).unwrap(), b"dropped\n");
        assert_eq!(std::fs::read(site.path.join("share/no script.txt")).unwrap(), b"no script\n");
    }
}
