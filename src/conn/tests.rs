//! Unit tests of the connection core: scripted peers, and a clock the
//! tests set, so every timeout is exact and nothing sleeps.

use super::*;

use crate::conn::scripted::ScriptedPeer as Script;
use output::WRITE_BUDGET;

fn config() -> (Config, std::path::PathBuf) {
    // One root per test: tests run in parallel and rewrite their files.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("skiff-conn-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), b"hello").unwrap();
    let c = Config::parse_from(["skiff", "--root", dir.to_str().unwrap()]).unwrap();
    (c, dir)
}

fn run(chunks: &[&[u8]], window: usize) -> (String, Next, bool) {
    let (config, dir) = config();
    let clock = Clock::new();
    let out = run_on(&config, &clock, chunks, window);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// Drives one connection through scripted input on a given config and
/// clock: again after every Wait while scripted input remains, as a
/// driver does on the next readiness event.
fn run_on(config: &Config, clock: &Clock, chunks: &[&[u8]], window: usize) -> (String, Next, bool) {
    let mut cx = Cx::new(config, clock, None);
    let mut conn = Conn::new("127.0.0.1:1".parse().unwrap(), clock.now(), false);
    let mut s = Script {
        incoming: chunks.iter().map(|c| c.to_vec()).collect(),
        window,
        ..Script::default()
    };
    loop {
        let before = s.incoming.len();
        let next = conn.drive(&mut s, &mut cx);
        let progressed = s.incoming.len() != before;
        if matches!(next, Next::Close(_))
            || (next == Next::Wait && (s.incoming.is_empty() || !progressed))
        {
            break (String::from_utf8_lossy(&s.sent).into_owned(), next, s.shut);
        }
    }
}

#[test]
fn any_split_of_a_pipeline_gives_the_same_bytes() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as Cases, TestRunner};
    let one = (
        prop_oneof![Just("GET"), Just("HEAD"), Just("POST"), Just("BREW")],
        prop_oneof![Just("/a.txt"), Just("/nope"), Just("/"), Just("/a.txt?q=1")],
        prop_oneof![
            Just(""),
            Just("Connection: close\r\n"),
            Just("Range: bytes=1-2\r\n"),
            Just("Content-Length: 3\r\n"),
            Just("If-None-Match: *\r\n"),
        ],
        any::<bool>(),
    )
        .prop_map(|(m, p, extra, lf)| {
            let mut r = format!("{m} {p} HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
            if extra.starts_with("Content-Length") {
                r.push_str("abc");
            }
            if lf {
                r = r.replace("\r\n", "\n");
            }
            r
        });
    let pipeline = proptest::collection::vec(one, 1..4).prop_map(|v| v.concat().into_bytes());
    let (config, dir) = config();
    let clock = Clock::new();
    let mut runner = TestRunner::new(Cases {
        cases: 48,
        ..Cases::default()
    });
    let result = runner.run(&pipeline, |raw| {
        let whole = run_on(&config, &clock, &[&raw, b""], usize::MAX);
        for i in 1..raw.len() {
            let split = run_on(&config, &clock, &[&raw[..i], b"", &raw[i..], b""], 7);
            prop_assert_eq!(&split, &whole, "split at {}", i);
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result.unwrap();
}

#[test]
fn pipelined_requests_are_answered_in_order_in_one_turn() {
    let (out, next, _) = run(
        &[b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nHEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", b""],
        usize::MAX,
    );
    assert_eq!(next, Next::Wait);
    assert_eq!(statuses(&out), ["200", "404", "200"]);
    assert!(out.contains("\r\n\r\nhello"));
    assert!(out.ends_with("\r\n\r\n"), "HEAD has no body");
}

#[test]
fn one_byte_at_a_time() {
    let raw = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    let chunks: Vec<&[u8]> = raw.chunks(1).flat_map(|c| [c, &b""[..]]).collect();
    let (out, next, _) = run(&chunks, usize::MAX);
    assert_eq!(next, Next::Wait);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(out.ends_with("hello"));
}

/// The status codes of the responses in `out`, in order.
fn statuses(out: &str) -> Vec<&str> {
    out.match_indices("HTTP/1.1 ")
        .map(|(i, _)| &out[i + 9..i + 12])
        .collect()
}

/// Asserts `raw` gets a 400 and the connection ends, after lingering.
fn assert_refused(raw: &[u8]) {
    let (out, next, shut) = run(&[raw], usize::MAX);
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(out.contains("Connection: close\r\n"));
    assert!(shut, "write side shut before lingering");
    assert_eq!(next, Next::Close(Why::Protocol(400)));
}

#[test]
fn bad_request_closes_after_answer() {
    assert_refused(b"GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn a_blocked_writer_waits_and_reads_nothing_more() {
    let (out, next, _) = run(
        &[
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a.txt HTTP/1.1\r\n",
        ],
        0,
    );
    assert_eq!(out, "");
    assert_eq!(next, Next::Wait);
}

#[test]
fn half_close_still_gets_the_response() {
    // Request then EOF in the same burst.
    let (out, next, _) = run(&[b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"], usize::MAX);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(out.ends_with("hello"));
    assert_eq!(next, Next::Close(Why::PeerClosed));
}

#[test]
fn a_file_shorter_than_promised_is_a_500_not_padding() {
    let (config, dir) = config();
    let clock = Clock::new();
    let mut cx = Cx::new(&config, &clock, None);
    let mut out = Output::default();
    let file = std::fs::File::open(dir.join("a.txt")).unwrap();
    let reply = Reply {
        status: Status::Ok,
        fields: crate::http::response::Fields {
            content_type: Some("text/plain"),
            content_length: 100,
            ..Default::default()
        },
        body: crate::respond::Body::File(crate::files::body::FileStream::window(
            crate::files::resolve::Source::File(std::sync::Arc::new(file)),
            0,
            100,
        )),
        head_only: false,
        observed: true,
        client: None,
        site: None,
        upload: None,
        closes: false,
    };
    let fate = Fate {
        persist: crate::http::response::Persist::KeepAlive {
            timeout_secs: 10,
            http10_request: false,
        },
        discard: Framing::None,
        send_continue: false,
        chunked: false,
    };
    let said = Said {
        line: Some(b"GET /a.txt HTTP/1.1"),
        ..Said::default()
    };
    let peer_ip: IpAddr = [127, 0, 0, 1].into();
    let mut writing = Writing::Idle { since: clock.now() };
    let mut answered = false;
    let writer = Out {
        output: &mut out,
        writing: &mut writing,
        answered: &mut answered,
        peer: peer_ip,
        sendfile: true,
    };
    writer.queue(reply, fate, Some(said), Why::Done, &mut cx);
    assert!(
        matches!(writing, Writing::Sending { last: Some(_), .. }),
        "it closes"
    );
    let mut peer = Script {
        window: usize::MAX,
        ..Script::default()
    };
    let mut budget = Budget::per_turn();
    let mut stall = Stall::new(clock.now());
    assert_eq!(
        out.flush(&mut peer, &mut cx, peer_ip, &mut budget, &mut stall, false),
        Flush::Done
    );
    let text = String::from_utf8_lossy(&peer.sent).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nConnection: close\r\n"));
    assert!(!text.contains("200 OK"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn discarded_body_is_not_parsed_as_a_request() {
    let (out, _, _) = run(
        &[b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 22\r\n\r\nGET /nope HTTP/1.1\r\n\r\n", b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", b""],
        usize::MAX,
    );
    assert_eq!(statuses(&out), ["200", "200"]);
}

/// A connection and a clock the test moves by hand.
struct Timed {
    config: Config,
    dir: std::path::PathBuf,
    clock: Clock,
    t0: Instant,
    conn: Conn,
    peer: Script,
}

impl Timed {
    fn new(args: &[&str]) -> Timed {
        let (_, dir) = config();
        let mut all = vec!["skiff", "--root", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        let config = Config::parse_from(all).unwrap();
        let clock = Clock::new();
        let t0 = clock.now();
        Timed {
            config,
            dir,
            clock,
            t0,
            conn: Conn::new("127.0.0.1:1".parse().unwrap(), t0, false),
            peer: Script {
                window: usize::MAX,
                ..Script::default()
            },
        }
    }

    fn at(&mut self, secs: f64) {
        let now = self.t0 + Duration::from_secs_f64(secs);
        self.clock.set(now, std::time::SystemTime::now());
    }

    fn feed(&mut self, bytes: &[u8]) -> Next {
        self.peer.incoming.push_back(bytes.to_vec());
        self.peer.incoming.push_back(Vec::new()); // then WouldBlock
        let mut cx = Cx::new(&self.config, &self.clock, None);
        self.conn.drive(&mut self.peer, &mut cx)
    }

    fn timeout(&mut self) -> Next {
        if self.peer.incoming.is_empty() {
            self.peer.incoming.push_back(Vec::new());
        }
        let mut cx = Cx::new(&self.config, &self.clock, None);
        self.conn.on_timeout(&mut self.peer, &mut cx)
    }

    fn timer(&self) -> (f64, Timeout) {
        let (at, kind) = self.conn.timer(&self.config);
        (at.duration_since(self.t0).as_secs_f64(), kind)
    }

    fn sent(&self) -> String {
        String::from_utf8_lossy(&self.peer.sent).into_owned()
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn an_idle_connection_closes_at_the_keep_alive_timeout_and_not_before() {
    let mut t = Timed::new(&["--keep-alive-timeout", "5"]);
    assert_eq!(t.timer(), (5.0, Timeout::Idle));
    assert!(t.conn.is_idle());
    t.at(4.9);
    assert_eq!(t.timeout(), Next::Wait);
    t.at(5.0);
    assert_eq!(t.timeout(), Next::Close(Why::Timeout(Timeout::Idle)));
    // After a response the idle time counts from when it was sent.
    let mut t = Timed::new(&["--keep-alive-timeout", "5"]);
    t.at(3.0);
    assert_eq!(
        t.feed(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        Next::Wait
    );
    assert!(t.sent().ends_with("hello"));
    assert_eq!(t.timer(), (8.0, Timeout::Idle));
    t.at(7.0);
    assert_eq!(t.timeout(), Next::Wait);
    // With keep-alive off, a connection that sends nothing gets the
    // header timeout.
    let t = Timed::new(&["--keep-alive-timeout", "0", "--header-timeout", "3"]);
    assert_eq!(t.timer(), (3.0, Timeout::Idle));
}

#[test]
fn a_head_that_stalls_gets_408_at_the_header_timeout_counted_from_its_first_byte() {
    let mut t = Timed::new(&["--header-timeout", "4"]);
    t.at(1.0);
    assert_eq!(t.feed(b"GET /a.txt HT"), Next::Wait);
    assert_eq!(t.timer(), (5.0, Timeout::Header));
    assert!(!t.conn.is_idle());
    // More bytes do not move the deadline.
    t.at(3.0);
    assert_eq!(t.feed(b"TP/1.1\r\nHost: x\r\n"), Next::Wait);
    assert_eq!(t.timer(), (5.0, Timeout::Header));
    t.at(4.99);
    assert_eq!(t.timeout(), Next::Wait);
    assert_eq!(t.sent(), "");
    t.at(5.0);
    let next = t.timeout();
    assert!(
        t.sent().starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{}",
        t.sent()
    );
    assert!(t.sent().contains("\r\nConnection: close\r\n"));
    assert!(t.peer.shut, "then lingering");
    assert_eq!(next, Next::Wait);
    assert_eq!(t.timer(), (7.0, Timeout::Linger));
    // The client's end of stream closes it, for the reason it was ending.
    t.peer.incoming.clear();
    let mut cx = Cx::new(&t.config, &t.clock, None);
    assert_eq!(
        t.conn.drive(&mut t.peer, &mut cx),
        Next::Close(Why::Timeout(Timeout::Header))
    );
}

#[test]
fn a_stalled_head_after_a_response_closes_without_408() {
    let mut t = Timed::new(&["--header-timeout", "4"]);
    assert_eq!(
        t.feed(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt"),
        Next::Wait
    );
    let before = t.sent();
    assert_eq!(t.timer(), (4.0, Timeout::Header));
    t.at(4.0);
    assert_eq!(t.timeout(), Next::Close(Why::Timeout(Timeout::Header)));
    assert_eq!(t.sent(), before, "nothing more sent");
}

#[test]
fn a_body_being_read_is_under_the_header_timeout_too() {
    let mut t = Timed::new(&["--header-timeout", "4"]);
    t.at(1.0);
    assert_eq!(
        t.feed(b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"),
        Next::Wait
    );
    assert_eq!(t.sent(), "", "the reply waits for the body");
    assert_eq!(t.timer(), (5.0, Timeout::Header));
    t.at(5.0);
    t.timeout();
    assert!(t.sent().starts_with("HTTP/1.1 408 "), "{}", t.sent());
}

#[test]
fn a_client_that_takes_nothing_is_dropped_at_the_send_timeout() {
    let mut t = Timed::new(&["--send-timeout", "6"]);
    t.peer.window = 0;
    t.at(2.0);
    assert_eq!(
        t.feed(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        Next::Wait
    );
    assert_eq!(t.timer(), (8.0, Timeout::Send));
    t.at(7.9);
    assert_eq!(t.timeout(), Next::Wait);
    t.at(8.0);
    assert_eq!(t.timeout(), Next::Close(Why::Timeout(Timeout::Send)));
}

#[test]
fn a_shrinking_kernel_queue_is_progress_and_a_still_one_is_not() {
    let mut t = Timed::new(&["--send-timeout", "6"]);
    t.peer.window = 0;
    t.peer.queued = Some(4_000_000);
    assert_eq!(
        t.feed(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        Next::Wait
    );
    assert_eq!(t.timer(), (6.0, Timeout::Send));
    // The client read some of what the kernel held: the timeout restarts.
    t.peer.queued = Some(3_900_000);
    t.at(6.0);
    assert_eq!(t.timeout(), Next::Wait);
    assert_eq!(t.timer(), (12.0, Timeout::Send));
    // Then nothing more: dropped.
    t.at(12.0);
    assert_eq!(t.timeout(), Next::Close(Why::Timeout(Timeout::Send)));
}

#[test]
fn lingering_after_the_last_response_ends_at_the_linger_timeout() {
    let mut t = Timed::new(&[]);
    assert_eq!(
        t.feed(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        Next::Wait
    );
    assert!(t.peer.shut);
    assert_eq!(t.timer(), (2.0, Timeout::Linger));
    t.at(1.0);
    assert_eq!(t.feed(b"more junk"), Next::Wait, "drained");
    t.at(2.0);
    assert_eq!(t.timeout(), Next::Close(Why::Done));
}

#[test]
fn a_chunked_body_is_read_before_its_reply_and_the_next_request_follows() {
    let (out, next, _) = run(
        &[
            b"POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"",
            b"lo\r\n0\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            b"",
        ],
        usize::MAX,
    );
    assert_eq!(next, Next::Wait);
    assert_eq!(statuses(&out), ["405", "200"]);
    assert_refused(b"POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n");
}

#[test]
fn continue_goes_out_before_the_body_is_read() {
    let (out, next, _) = run(
        &[
            b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
            b"",
        ],
        usize::MAX,
    );
    assert_eq!(out, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(next, Next::Wait);
}

#[test]
fn one_turn_writes_at_most_the_budget() {
    let (config, dir) = config();
    std::fs::write(dir.join("big.bin"), vec![7u8; 3 * WRITE_BUDGET]).unwrap();
    let clock = Clock::new();
    let mut cx = Cx::new(&config, &clock, None);
    let mut conn = Conn::new("127.0.0.1:1".parse().unwrap(), clock.now(), false);
    let mut peer = Script {
        incoming: [
            b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Vec::new(),
        ]
        .into(),
        window: usize::MAX,
        ..Script::default()
    };
    let mut turns = Vec::new();
    loop {
        let before = peer.sent.len();
        let next = conn.drive(&mut peer, &mut cx);
        turns.push(peer.sent.len() - before);
        if next != Next::Yield {
            break;
        }
    }
    assert!(turns.iter().all(|&n| n <= WRITE_BUDGET), "{turns:?}");
    assert!(turns.len() >= 3, "{turns:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
