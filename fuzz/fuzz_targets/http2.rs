//! An HTTP/2 connection (h2c with prior knowledge) driven by a program of
//! reads, write windows, time and end of stream whose bytes follow the
//! preface (see `skiff_fuzz::run_http2`). It must never panic or spin, and
//! everything it sends must be whole frames of a legal size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    skiff_fuzz::run_http2(data);
});
