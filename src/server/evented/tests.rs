//! The event loop's own invariants, turned by hand: tokens and slot
//! reuse, and the ready list.

use super::*;

#[test]
fn tokens_round_trip_and_never_collide_with_the_fixed_ones() {
    for (key, generation) in [(0, 1), (7, 2), (KEY_MASK, MAX_GENERATION), (123, 99)] {
        let t = token(key, generation);
        assert_eq!(untoken(t), (key, generation));
        assert_ne!(t, LISTENER);
        assert_ne!(t, SIGNALS);
    }
    // A reused slot with a new generation is a different token.
    assert_ne!(token(5, 1), token(5, 2));
}

/// A loop on a loopback port of its own (not run: the tests turn it).
fn test_loop(config: &Config) -> (EventLoop<'_>, std::net::SocketAddr) {
    let std_listener = crate::server::bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let el = EventLoop::new(
        config,
        Listeners {
            main: TcpListener::from_std(std_listener),
            redirect: None,
            metrics: None,
        },
        None,
        16,
        crate::server::Shared {
            counts: Arc::new(Counts::new(1)),
            compressor: None,
            pool: None,
            handshakes: None,
            metrics: None,
        },
        0,
    )
    .unwrap();
    (el, addr)
}

/// Connects a client and accepts it: the client and its token.
fn accept_one(el: &mut EventLoop<'_>, addr: std::net::SocketAddr) -> (std::net::TcpStream, Token) {
    let client = std::net::TcpStream::connect(addr).unwrap();
    for _ in 0..100 {
        el.accept();
        if !el.slots.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (key, slot) = el.slots.iter().next().expect("accepted");
    (client, token(key, slot.generation as usize))
}

#[test]
fn a_reused_slot_ignores_events_and_timers_of_its_previous_connection() {
    let root = std::env::temp_dir();
    let config = Config::parse_from(["skiff", "--root", root.to_str().unwrap()]).unwrap();
    let (mut el, addr) = test_loop(&config);

    let (first_client, old) = accept_one(&mut el, addr);
    assert_eq!(el.wheel.len(), 1, "one timer per connection");
    let (key, _) = untoken(old);
    el.close(key, Why::PeerClosed);
    assert_eq!(el.wheel.len(), 0, "its timer was cancelled");
    drop(first_client);

    let (_second_client, new) = accept_one(&mut el, addr);
    let (new_key, _) = untoken(new);
    assert_eq!(new_key, key, "the slot was reused");
    assert_ne!(new, old);
    assert_eq!(
        el.key_of(old),
        None,
        "the old token no longer reaches the slot"
    );
    assert_eq!(el.key_of(new), Some(key));

    // An event or a timer expiry for the old token changes nothing.
    let timer_before = el.slots[key].timer;
    el.on_event(old);
    el.expire(old);
    assert_eq!(el.slots.len(), 1);
    assert_eq!(
        el.slots[key].timer, timer_before,
        "the new connection's timer is untouched"
    );
    assert_eq!(el.wheel.len(), 1);
}

#[test]
fn a_connection_is_in_the_ready_list_at_most_once_and_driven_once_per_turn() {
    use std::io::{Read, Write};
    let root = std::env::temp_dir().join(format!("skiff-ready-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("a.txt"), "hello").unwrap();
    let config = Config::parse_from(["skiff", "--root", root.to_str().unwrap()]).unwrap();
    let (mut el, addr) = test_loop(&config);
    let (mut client, t) = accept_one(&mut el, addr);
    let (key, _) = untoken(t);

    // Yielding twice (an event and a timer in one turn, say) queues once.
    el.after(key, t, Next::Yield);
    el.after(key, t, Next::Yield);
    assert_eq!(el.ready, [t]);
    assert!(el.slots[key].queued);

    // An event for a queued connection leaves it to the ready list.
    client
        .write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    el.on_event(t);
    client.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    assert_eq!(
        client.read(&mut buf).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "not driven by the event"
    );
    assert_eq!(el.ready, [t], "still queued once");

    // The turn's ready pass drives it, once, and unqueues it.
    let mut scratch = Vec::new();
    el.drive_ready(&mut scratch);
    assert!(el.ready.is_empty());
    assert!(!el.slots[key].queued);
    client.set_nonblocking(false).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let n = client.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    let _ = std::fs::remove_dir_all(&root);
}

/// Every idle connection holds a slot: it must not grow unnoticed (an
/// HTTP/2 connection keeps its state behind one pointer, and `Why`, which
/// the connection core holds, stays four bytes).
#[test]
#[cfg(target_pointer_width = "64")]
fn an_idle_slot_stays_small() {
    assert_eq!(std::mem::size_of::<crate::close::Why>(), 4);
    assert!(
        std::mem::size_of::<super::Slot>() <= 168,
        "{}",
        std::mem::size_of::<super::Slot>()
    );
}
