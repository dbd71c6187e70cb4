//! A whole connection driven by arbitrary reads: the input is cut into
//! chunks (the first byte of each picks its length), the socket accepts
//! writes in a window picked by the first byte, and the connection runs
//! until it closes or has nothing more to read. It must never panic, never
//! spin, and every response it writes must start with a status line.
#![no_main]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skiff::config::Config;
use skiff::conn::{Conn, Cx, Next};
use skiff::http::date::Clock;
use skiff::testing::ScriptedPeer;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let root: PathBuf =
            std::env::temp_dir().join(format!("skiff-fuzz-conn-{}", std::process::id()));
        std::fs::create_dir_all(root.join("dir")).unwrap();
        std::fs::write(root.join("a.txt"), "hello").unwrap();
        std::fs::write(root.join("big.bin"), vec![b'b'; 200_000]).unwrap();
        std::fs::write(root.join("dir/index.html"), "<p>x</p>").unwrap();
        Config::parse_from(["skiff", "--root", root.to_str().unwrap()]).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut incoming = VecDeque::new();
    let mut rest = rest;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len % 64 + 1).min(tail.len());
        incoming.push_back(tail[..n].to_vec());
        incoming.push_back(Vec::new()); // a WouldBlock between reads
        rest = &tail[n..];
    }
    let mut peer = ScriptedPeer {
        incoming,
        window: usize::from(first) * 37 + 1,
        ..ScriptedPeer::default()
    };
    let clock = Clock::new();
    let mut cx = Cx::new(config(), &clock, None);
    let mut conn = Conn::new("127.0.0.1:9".parse().unwrap(), clock.now());
    let mut turns = 0;
    loop {
        turns += 1;
        assert!(turns < 100_000, "no progress");
        match conn.drive(&mut peer, &mut cx) {
            Next::Close(_) => break,
            Next::Yield => {}
            Next::Wait if peer.incoming.is_empty() => break,
            Next::Wait => {}
        }
    }
    if !peer.sent.is_empty() {
        assert!(
            peer.sent.starts_with(b"HTTP/1.1 "),
            "{:?}",
            String::from_utf8_lossy(&peer.sent[..peer.sent.len().min(40)])
        );
    }
});
