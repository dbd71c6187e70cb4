//! Micro-benchmarks (criterion): the per-request costs of the HTTP core,
//! measured without sockets.
//!
//! `cargo bench --bench micro`

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use skiff::files::resolve::{normalize, resolve};
use skiff::http::conditional::ETag;
use skiff::http::request::parse;
use skiff::http::response::{Added, Fields, Persist, Status, Version, write_head};
use skiff::timer::TimerWheel;

const CURL: &[u8] = b"GET /webserver.txt HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

const BROWSER: &[u8] = b"GET /media/skiff.mp4 HTTP/1.1\r\n\
Host: localhost:8080\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"156\", \"Not)A;Brand\";v=\"8\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Dest: video\r\n\
Referer: http://localhost:8080/\r\n\
Accept-Encoding: identity;q=1, *;q=0\r\n\
Accept-Language: en-GB,en;q=0.9\r\n\
Range: bytes=0-\r\n\
If-Range: \"1a2b-560f9f-17f3c2a1b4e\"\r\n\
Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n\r\n";

fn parsing(c: &mut Criterion) {
    c.bench_function("parse curl head", |b| {
        b.iter(|| parse(black_box(CURL)).unwrap().unwrap().head_len)
    });
    c.bench_function("parse browser head", |b| {
        b.iter(|| parse(black_box(BROWSER)).unwrap().unwrap().head_len)
    });
}

fn rendering(c: &mut Criterion) {
    let date = b"Sun, 22 Nov 2026 10:00:00 GMT";
    let modified = skiff::http::date::http_date_text(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_341_000),
    );
    let mut out = Vec::with_capacity(512);
    c.bench_function("render 200 head", |b| {
        b.iter(|| {
            out.clear();
            let f = Fields {
                content_type: Some("text/plain"),
                content_length: 380,
                last_modified: Some(modified),
                etag: Some(ETag::from_parts(0x1a2b, 380, 0x17f3c2a1b4e)),
                accept_ranges: true,
                ..Fields::default()
            };
            let keep = Persist::KeepAlive {
                timeout_secs: 10,
                http10_request: false,
            };
            write_head(
                &mut out,
                Version::Http11,
                Status::Ok,
                date,
                black_box(&f),
                Added::default(),
                keep,
            );
            out.len()
        })
    });
}

fn resolving(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("skiff-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("media")).unwrap();
    std::fs::write(dir.join("webserver.txt"), vec![b'x'; 380]).unwrap();
    std::fs::write(dir.join("media/index.html"), b"<p>").unwrap();
    let root = std::fs::canonicalize(&dir).unwrap();
    c.bench_function("normalize target", |b| {
        b.iter(|| {
            normalize(black_box(b"/media/../media/./a%20b.txt?x=1"))
                .unwrap()
                .path
                .len()
        })
    });
    c.bench_function("resolve file", |b| {
        b.iter(|| resolve(&root, black_box(b"/webserver.txt")).is_ok())
    });
    c.bench_function("resolve directory index", |b| {
        b.iter(|| resolve(&root, black_box(b"/media/")).is_ok())
    });
    std::fs::remove_dir_all(dir).unwrap();
}

fn timers(c: &mut Criterion) {
    const N: u64 = 100_000;
    c.bench_function("wheel: insert 100k", |b| {
        b.iter_batched(
            || TimerWheel::<u64>::new(0),
            |mut w| {
                for i in 0..N {
                    w.insert(1 + i % 600, i);
                }
                w
            },
            BatchSize::LargeInput,
        )
    });
    c.bench_function("wheel: cancel 100k", |b| {
        b.iter_batched(
            || {
                let mut w = TimerWheel::<u64>::new(0);
                let handles: Vec<_> = (0..N).map(|i| w.insert(1 + i % 600, i)).collect();
                (w, handles)
            },
            |(mut w, handles)| {
                for h in handles {
                    w.cancel(h);
                }
                w
            },
            BatchSize::LargeInput,
        )
    });
    c.bench_function("wheel: advance through 100k", |b| {
        let mut fired = Vec::with_capacity(N as usize);
        b.iter_batched(
            || {
                let mut w = TimerWheel::<u64>::new(0);
                for i in 0..N {
                    w.insert(1 + i % 600, i);
                }
                w
            },
            |mut w| {
                fired.clear();
                for tick in (20..=600).step_by(20) {
                    w.advance(tick, &mut fired);
                }
                fired.len()
            },
            BatchSize::LargeInput,
        )
    });
    let mut w = TimerWheel::<u64>::new(0);
    for i in 0..N {
        w.insert(1 + i % 600, i);
    }
    c.bench_function("wheel: next_deadline with 100k", |b| {
        b.iter(|| w.next_deadline())
    });
}

criterion_group!(benches, parsing, rendering, resolving, timers);
criterion_main!(benches);
