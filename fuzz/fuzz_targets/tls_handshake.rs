//! A TLS handshake driven by a program of client reads, end of stream,
//! and switches between processing on the loop and on a worker (see
//! `skiff_fuzz::run_tls`). It must never panic or spin; a plain-HTTP
//! client gets exactly the plain 400, and anything else sent is whole TLS
//! records.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    skiff_fuzz::run_tls(data);
});
