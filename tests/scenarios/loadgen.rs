//! The load benchmark's generator (`benches/load/gen.rs`) against real
//! servers on loopback: skiff, and small servers here that answer wrongly
//! in one way each. A response that is wrong must be counted as an error of
//! its kind and never as completed. Rates are printed by the benchmark and
//! never asserted here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::each_mode;
use crate::support::*;

#[allow(dead_code)]
#[path = "../../benches/load/gen.rs"]
mod load_gen;

#[allow(dead_code)]
#[path = "../../benches/load/chart.rs"]
mod load_chart;

use load_gen::{Report, Spec, Target};

/// A server answering the n-th request (over all connections, from 0)
/// with `answer(n)`: the bytes, and whether to close after them.
fn fake(answer: impl Fn(usize) -> (Vec<u8>, bool) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    let n = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let answer = answer.clone();
            let n = n.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..i + 4);
                        let (bytes, close) = answer(n.fetch_add(1, Ordering::SeqCst));
                        if conn.write_all(&bytes).is_err() || close {
                            return;
                        }
                    }
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
            });
        }
    });
    addr
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn load(addr: SocketAddr, conns: usize, depth: usize) -> Report {
    let spec = Spec {
        addr,
        request: b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
        conns,
        depth,
        warmup: Duration::from_millis(50),
        measure: Duration::from_millis(300),
    };
    let expect = load_gen::probe(addr, &spec.request).expect("probe");
    load_gen::run(&spec, expect, || {}, || {}).unwrap()
}

each_mode! {
    fn generator_drives_skiff_and_verifies_every_response(mode) {
        let site = site();
        site.write("f", vec![b'x'; 380]);
        let s = Server::start(mode, &site.path, &[]);
        for depth in [1, 8] {
            let r = load(s.addr, 8, depth);
            assert!(r.completed > 0);
            assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
            let e = r.expect.unwrap();
            assert_eq!((e.status, e.body_len), (200, 380));
            assert_eq!(r.body_bytes, r.completed * 380);
            assert_eq!(r.ready_conns, 8);
            assert!(r.latency.quantile_us(0.99) >= r.latency.quantile_us(0.5));
            // Every completed response came through some poll's events.
            assert!(r.polls > 0 && r.events >= r.polls, "{} polls, {} events", r.polls, r.events);
        }
    }
}

#[test]
fn generator_decodes_chunked_bodies_with_extensions_and_trailers() {
    let addr = fake(|_| {
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
                .to_vec(),
            false,
        )
    });
    let r = load(addr, 4, 2);
    assert!(r.completed > 0);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(r.expect.unwrap().body_len, 11);
    assert_eq!(r.body_bytes, r.completed * 11);
}

#[test]
fn generator_counts_bad_chunked_framing_as_malformed() {
    // A chunk size that is not hex, then data without its CRLF.
    for bad in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    ] {
        let addr = fake(move |n| {
            if n == 0 {
                (ok("hello"), false)
            } else {
                (bad.to_vec(), false)
            }
        });
        let r = load(addr, 2, 1);
        assert!(r.errors.malformed > 0, "{:?}", r.errors);
        assert_eq!(r.completed, 0);
    }
}

#[test]
fn generator_counts_a_changing_length_as_length_errors() {
    let addr = fake(|n| (ok(if n % 2 == 0 { "hello" } else { "hello!" }), false));
    let r = load(addr, 2, 1);
    assert!(r.errors.length > 0, "{:?}", r.errors);
    assert!(r.completed > 0);
    let len = r.expect.unwrap().body_len;
    assert_eq!(r.body_bytes, r.completed * len);
}

#[test]
fn generator_counts_error_statuses_and_never_completes_them() {
    let addr = fake(|n| {
        if n == 0 {
            (ok("fine"), false)
        } else {
            (
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nfine".to_vec(),
                false,
            )
        }
    });
    let r = load(addr, 2, 1);
    assert!(r.errors.status > 0, "{:?}", r.errors);
    assert_eq!(r.completed, 0);
    assert_eq!(r.body_bytes, 0);
}

#[test]
fn generator_counts_bodies_cut_short_and_reconnects() {
    let addr = fake(|n| {
        if n == 0 {
            (ok("0123456789"), false)
        } else {
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789".to_vec(),
                true,
            )
        }
    });
    let r = load(addr, 2, 1);
    assert!(r.errors.short_body > 0, "{:?}", r.errors);
    assert!(r.reconnects > 0);
    assert_eq!(r.completed, 0);
}

#[test]
fn generator_counts_malformed_heads() {
    let addr = fake(|n| {
        if n == 0 {
            (ok("ok"), false)
        } else {
            (
                b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
                false,
            )
        }
    });
    let r = load(addr, 2, 1);
    assert!(r.errors.malformed > 0, "{:?}", r.errors);
    assert_eq!(r.completed, 0);
}

#[test]
fn generator_follows_connection_close_and_bodies_ended_by_close() {
    // Framed, then closed as asked: not an error, a reconnect.
    let addr = fake(|_| {
        (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
            true,
        )
    });
    let r = load(addr, 2, 1);
    assert!(r.completed > 0);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert!(r.reconnects > 0);
    // No framing at all: the close ends the body (HTTP/1.0 style).
    let addr = fake(|_| (b"HTTP/1.0 200 OK\r\n\r\nabcd".to_vec(), true));
    let r = load(addr, 2, 1);
    assert!(r.completed > 0);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(r.expect.unwrap().body_len, 4);
}

#[test]
fn generator_probe_refuses_servers_that_cannot_be_measured() {
    // Nobody listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = load_gen::probe(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap_err();
    assert!(e.contains("cannot connect"), "{e}");
    // A 404 for the target itself.
    let addr = fake(|_| {
        (
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            false,
        )
    });
    let e = load_gen::probe(addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap_err();
    assert!(e.contains("status 404"), "{e}");
}

#[test]
fn generator_targets_are_plain_http_urls() {
    let t = Target::parse("http://127.0.0.1:8080/a/b.txt?x=1").unwrap();
    assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(t.path, "/a/b.txt?x=1");
    let req = String::from_utf8(t.request(&["Accept-Encoding: br".into()])).unwrap();
    assert_eq!(
        req,
        "GET /a/b.txt?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept-Encoding: br\r\n\r\n"
    );
    let t = Target::parse("http://[::1]").unwrap();
    assert_eq!(t.addr, "[::1]:80".parse().unwrap());
    assert_eq!(t.path, "/");
    assert!(
        Target::parse("https://127.0.0.1/")
            .unwrap_err()
            .contains("plain HTTP")
    );
    assert!(Target::parse("127.0.0.1:80/").is_err());
    assert!(Target::parse("http:///x").is_err());
}

#[test]
fn generator_histogram_quantiles_are_within_two_percent() {
    let mut h = load_gen::Histogram::default();
    for us in 1..=1000u64 {
        h.record(us * 1000);
    }
    for (q, want) in [(0.5, 500.0), (0.99, 990.0), (0.999, 999.0)] {
        let got = h.quantile_us(q);
        assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
    }
}

#[test]
fn sweep_chart_is_an_svg_with_every_series() {
    let dir = TempDir::new("chart");
    let path = dir.path.join("sweep.svg");
    let series = vec![
        load_chart::Series {
            name: "skiff".into(),
            points: vec![(1, 15000.0, 0.1, 4.0), (100, 140000.0, 0.9, 5.0)],
        },
        load_chart::Series {
            name: "other".into(),
            points: vec![(1, 14000.0, 0.12, 15.0), (100, 80000.0, 1.5, 16.0)],
        },
    ];
    load_chart::draw(&path, "a sweep", &series).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    for text in [
        "a sweep",
        "skiff",
        "other",
        "requests/s",
        "p99 latency",
        "peak RSS",
    ] {
        assert!(svg.contains(text), "{text} missing");
    }
    assert!(svg.trim_end().ends_with("</svg>"));
}
