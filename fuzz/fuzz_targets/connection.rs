//! A whole connection driven by a program of reads, write windows, time
//! and end of stream (see `skiff_fuzz::run_connection`). It must never
//! panic or spin, and everything it sends must be well-formed responses,
//! in order, each as long as it says.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    skiff_fuzz::run_connection(data);
});
