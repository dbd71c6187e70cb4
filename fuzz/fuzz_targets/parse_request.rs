//! Request-head parsing on arbitrary bytes: never panics, and a head that
//! parses occupies at most the bytes given and parses the same from any
//! longer buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff::http::request::{first_line, parse};

fuzz_target!(|data: &[u8]| {
    let _ = first_line(data);
    if let Ok(Some(req)) = parse(data) {
        assert!(req.head_len <= data.len());
        let again = parse(&data[..req.head_len])
            .expect("the head alone parses")
            .expect("complete");
        assert_eq!(again.head_len, req.head_len);
        assert_eq!(again.target, req.target);
        assert_eq!(again.framing, req.framing);
        // Any shorter prefix is incomplete or invalid, never a different request.
        if let Ok(Some(short)) = parse(&data[..req.head_len - 1]) {
            panic!("a prefix parsed as a request of {} bytes", short.head_len);
        }
    }
});
