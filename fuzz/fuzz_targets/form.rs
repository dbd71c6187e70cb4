//! A `multipart/form-data` body (an upload from the listing's form), fed
//! to the form parser whole and in pieces: it must never panic, and the
//! pieces must never change what it finds (see `skiff_fuzz::run_form`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    skiff_fuzz::run_form(data);
});
