//! How far the fuzz targets reach: replays each target's corpus (a folder
//! of inputs) and counts the inputs by outcome: the status each input
//! comes to (`parse_request`: 200 a request, 0 incomplete, else the
//! error's status; `resolve_path`: 200 a file, 301 a redirect, 299 a
//! listing, else the error's status; `connection`: every status it sent;
//! `tls_handshake`: 200 finished, 400 plain HTTP refused, 0 closed, 1
//! waiting, 2 an error; `http2`: every frame type it sent, 0 DATA, 1
//! HEADERS, 3 RST_STREAM, 4 SETTINGS, 6 PING, 7 GOAWAY, 8 WINDOW_UPDATE).
//!
//! usage: reach TARGET CORPUS_DIR... (a fuzzer's corpus and its seeds)

use std::collections::BTreeMap;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, target, dirs @ ..] = &args[..] else {
        eprintln!(
            "usage: reach parse_request|resolve_path|connection|tls_handshake|http2 CORPUS_DIR..."
        );
        std::process::exit(2);
    };
    let mut counts: BTreeMap<u16, u64> = BTreeMap::new();
    let mut inputs = 0;
    let entries = dirs.iter().flat_map(|dir| {
        std::fs::read_dir(dir).unwrap_or_else(|e| {
            eprintln!("reach: {dir}: {e}");
            std::process::exit(2);
        })
    });
    for entry in entries.flatten() {
        let Ok(data) = std::fs::read(entry.path()) else {
            continue;
        };
        inputs += 1;
        let statuses = match target.as_str() {
            "parse_request" => vec![skiff_fuzz::parse_outcome(&data)],
            "resolve_path" => vec![skiff_fuzz::resolve_outcome(&data)],
            "connection" => skiff_fuzz::run_connection(&data),
            "tls_handshake" => vec![skiff_fuzz::run_tls(&data)],
            "http2" => skiff_fuzz::run_http2(&data)
                .into_iter()
                .map(u16::from)
                .collect(),
            _ => {
                eprintln!("reach: unknown target {target}");
                std::process::exit(2);
            }
        };
        for s in statuses {
            *counts.entry(s).or_default() += 1;
        }
    }
    println!("{target}: {inputs} inputs");
    for (status, n) in counts {
        println!("  {status:>3} {n}");
    }
}
