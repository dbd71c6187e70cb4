//! Load benchmarks with the project's own generator. It measures; it
//! asserts nothing.
//!
//! ```text
//! cargo bench --bench load                  # skiff's modes, five workloads
//! cargo bench --bench load -- --quick       # the same, under a minute
//! cargo bench --bench load -- --target http://127.0.0.1:8080/index.html \
//!     --pid 1234 --conns 64 --seconds 5 [--pipeline 16] [--header 'Accept-Encoding: br']
//! cargo bench --bench load -- --sweep [--peers installed] [--chart docs/sweep.svg]
//! cargo bench --bench load -- --peer-table [--peers installed] [--rounds 3]
//! ```
//!
//! The servers this starts run pinned to CPU 0 and the generator to CPU 1
//! (when there are two CPUs and `taskset`); with `--target` the server is
//! yours to start and pin. The generator is one mio loop (see `gen.rs`);
//! it checks every response's status and body length against the first
//! response, so wrong answers count as errors, not as speed.
//!
//! Columns: requests/s, body bytes/s, latency p50/p99/p99.9 (from queueing
//! a request to its last byte), server CPU time per request and the
//! server's peak RSS (`VmHWM`), both from `/proc` and summed over the
//! process and its children.

mod chart;
mod r#gen;
mod servers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use r#gen::{Report, Spec, Target};
use servers::{MODES, PEERS, Server};

#[derive(Parser)]
#[command(
    name = "load",
    about = "skiff's load generator: drive any HTTP/1.1 server, sweep concurrency, compare peers"
)]
struct Args {
    /// Drive this server (http://HOST[:PORT]/PATH) instead of starting any.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// With --target: the server's process, for the CPU and RSS columns.
    #[arg(long, value_name = "PID", requires = "target")]
    pid: Option<u32>,
    /// Connections, each keeping --pipeline requests in flight.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=19_000))]
    conns: u32,
    /// Requests in flight on each connection (above 1 is pipelining).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pipeline: u32,
    /// Measured seconds per run (default 8, or 2 with --quick; 5 in sweeps).
    #[arg(long, value_parser = seconds)]
    seconds: Option<f64>,
    /// Warm-up seconds before each measured window.
    #[arg(long, value_parser = seconds)]
    warmup: Option<f64>,
    /// An extra request header line, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "HEADER", value_parser = header)]
    headers: Vec<String>,
    /// Sweep concurrency on the 380 B file: skiff's modes and --peers.
    #[arg(long, conflicts_with_all = ["target", "peer_table"])]
    sweep: bool,
    /// Connection counts of the sweep.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 10, 100, 1000, 10000],
          value_parser = level)]
    levels: Vec<usize>,
    /// Where the sweep's SVG chart goes.
    #[arg(long, default_value = "target/sweep.svg")]
    chart: PathBuf,
    /// Compare skiff with --peers on every workload, in interleaved rounds.
    #[arg(long, conflicts_with = "target")]
    peer_table: bool,
    /// Rounds of the peer table; ratios are medians over them.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
    /// Peers to start (nginx, lighttpd, sws, darkhttpd), or `installed`
    /// for every one found; `$SWS`, `$DARKHTTPD`, `$NGINX`, `$LIGHTTPD`
    /// name their programs.
    #[arg(long, value_delimiter = ',')]
    peers: Vec<String>,
    /// skiff's modes to run: skiff, skiff-threaded.
    #[arg(long, value_delimiter = ',')]
    modes: Vec<String>,
    /// Workloads of the default table and --peer-table: 380B, 40KB, 5MB,
    /// pipelined, 1000conns, idle (10,000 idle connections; peer table only).
    #[arg(long, value_delimiter = ',', value_parser = workload)]
    workloads: Vec<String>,
    /// Shorter runs.
    #[arg(long)]
    quick: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err("expected seconds, more than 0 and at most 3600".into()),
    }
}

fn level(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if (1..=19_000).contains(&v) => Ok(v),
        _ => Err("expected a connection count from 1 to 19000".into()),
    }
}

const WORKLOAD_KEYS: [&str; 6] = ["380B", "40KB", "5MB", "pipelined", "1000conns", "idle"];

fn workload(s: &str) -> Result<String, String> {
    if WORKLOAD_KEYS.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!("expected one of {}", WORKLOAD_KEYS.join(", ")))
    }
}

/// Whether `--workloads` (empty: all) takes this one.
fn wanted(args: &Args, key: &str) -> bool {
    args.workloads.is_empty() || args.workloads.iter().any(|w| w == key)
}

fn header(s: &str) -> Result<String, String> {
    let ok = s.split_once(':').is_some_and(|(n, _)| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b':')
    }) && !s.bytes().any(|b| b == b'\r' || b == b'\n');
    if ok {
        Ok(s.to_string())
    } else {
        Err("expected `Name: value` on one line".into())
    }
}

struct Env {
    pinned: bool,
}

fn main() {
    let args = Args::parse();
    let cpus = servers::cpus();
    println!("machine: {}", servers::machine());
    let pinned = cpus >= 2 && servers::have("taskset");
    if pinned && args.target.is_none() {
        let _ = servers::pin_to_cpu(1);
    }
    // Children inherit the raised limit (peers holding 10,000 connections).
    let _ = skiff::sys::raise_nofile_limit();
    let env = Env { pinned };
    let result = if let Some(url) = &args.target {
        target(&args, url)
    } else if args.sweep {
        sweep(&args, &env)
    } else if args.peer_table {
        peer_table(&args, &env)
    } else {
        modes_table(&args, &env)
    };
    if let Err(e) = result {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}

fn measure_secs(args: &Args, default: f64) -> Duration {
    Duration::from_secs_f64(args.seconds.unwrap_or(if args.quick {
        default.min(2.0)
    } else {
        default
    }))
}

fn warmup_secs(args: &Args) -> Duration {
    Duration::from_secs_f64(args.warmup.unwrap_or(if args.quick { 0.3 } else { 1.0 }))
}

/// One cell's figures.
struct Cell {
    report: Report,
    cpu_us_per_req: Option<f64>,
    peak_rss_kb: Option<u64>,
}

/// Probes, then runs `spec` while watching `pid` (if any).
fn run_cell(spec: &Spec, pid: Option<u32>) -> Result<Cell, String> {
    let expect = r#gen::probe(spec.addr, &spec.request)?;
    let mut cpu_before = 0.0;
    let mut cpu_after = 0.0;
    let report = r#gen::run(
        spec,
        expect,
        || cpu_before = pid.map_or(0.0, servers::cpu_seconds),
        || cpu_after = pid.map_or(0.0, servers::cpu_seconds),
    )
    .map_err(|e| format!("generator: {e}"))?;
    let cpu_us_per_req = pid
        .filter(|_| report.completed > 0)
        .map(|_| (cpu_after - cpu_before) * 1e6 / report.completed as f64);
    let peak_rss_kb = pid.map(|p| servers::status_kb(p, "VmHWM:"));
    Ok(Cell {
        report,
        cpu_us_per_req,
        peak_rss_kb,
    })
}

fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}ms", v / 1000.0)
    } else {
        format!("{v:.0}µs")
    }
}

fn rate(bytes_per_sec: f64) -> String {
    if bytes_per_sec >= 1e9 {
        format!("{:.2} GB/s", bytes_per_sec / 1e9)
    } else {
        format!("{:.1} MB/s", bytes_per_sec / 1e6)
    }
}

/// `--target`: one run against a server someone else started.
fn target(args: &Args, url: &str) -> Result<(), String> {
    let t = Target::parse(url)?;
    let spec = Spec {
        addr: t.addr,
        request: t.request(&args.headers),
        conns: args.conns as usize,
        depth: args.pipeline as usize,
        warmup: warmup_secs(args),
        measure: measure_secs(args, 8.0),
    };
    if let Some(pid) = args.pid
        && !Path::new(&format!("/proc/{pid}")).exists()
    {
        return Err(format!("--pid {pid}: no such process"));
    }
    println!(
        "target: {url}, {} connections × {} in flight, {:.1} s warm-up, {:.1} s measured",
        spec.conns,
        spec.depth,
        spec.warmup.as_secs_f64(),
        spec.measure.as_secs_f64()
    );
    let c = run_cell(&spec, args.pid)?;
    let r = &c.report;
    println!(
        "expected     status {} with {} body bytes; every response checked",
        r.expect.map_or(0, |e| e.status),
        r.expect.map_or(0, |e| e.body_len)
    );
    println!("requests/s   {:.0}", r.rps());
    println!("bytes/s      {} (bodies)", rate(r.bytes_per_sec()));
    println!(
        "latency      p50 {}  p99 {}  p99.9 {}",
        us(r.latency.quantile_us(0.5)),
        us(r.latency.quantile_us(0.99)),
        us(r.latency.quantile_us(0.999))
    );
    println!(
        "responses    {} verified, errors: {}",
        r.completed,
        r.errors.describe()
    );
    if r.reconnects > 0 {
        println!("reconnects   {}", r.reconnects);
    }
    let per = |n: u64| n as f64 / r.completed.max(1) as f64;
    println!(
        "client       {:.2} sleeps, {:.2} polls, {:.2} readiness events per response",
        per(r.client_sleeps),
        per(r.polls),
        per(r.events)
    );
    if r.ready_conns < spec.conns {
        println!(
            "warning      only {} of {} connections had a response within the 20 s ramp",
            r.ready_conns, spec.conns
        );
    }
    match (c.cpu_us_per_req, c.peak_rss_kb) {
        (Some(cpu), Some(rss)) => {
            println!("server CPU   {cpu:.2} µs per request");
            println!("server RSS   {:.1} MB peak", rss as f64 / 1024.0);
        }
        _ => println!("server CPU and RSS: pass --pid to see them"),
    }
    Ok(())
}

struct Workload {
    /// For `--workloads`.
    key: &'static str,
    name: &'static str,
    file: &'static str,
    conns: usize,
    depth: usize,
}

const WORKLOADS: [Workload; 5] = [
    Workload {
        key: "380B",
        name: "380 B",
        file: "webserver.txt",
        conns: 64,
        depth: 1,
    },
    Workload {
        key: "40KB",
        name: "40 KB",
        file: "index.html",
        conns: 64,
        depth: 1,
    },
    Workload {
        key: "5MB",
        name: "5 MB",
        file: "video.mp4",
        conns: 64,
        depth: 1,
    },
    Workload {
        key: "pipelined",
        name: "380 B, 16 pipelined",
        file: "webserver.txt",
        conns: 64,
        depth: 16,
    },
    Workload {
        key: "1000conns",
        name: "380 B, 1000 conns",
        file: "webserver.txt",
        conns: 1000,
        depth: 1,
    },
];

fn spec_for(server: &Server, file: &str, conns: usize, depth: usize, args: &Args) -> Spec {
    Spec {
        addr: server.addr,
        request: format!("GET /{file} HTTP/1.1\r\nHost: bench\r\n\r\n").into_bytes(),
        conns,
        depth,
        warmup: warmup_secs(args),
        measure: measure_secs(args, 8.0),
    }
}

fn chosen_modes(args: &Args) -> Vec<&'static str> {
    if args.modes.is_empty() {
        return MODES.iter().map(|m| m.0).collect();
    }
    MODES
        .iter()
        .map(|m| m.0)
        .filter(|m| {
            args.modes.iter().any(|x| {
                x == m
                    || (x == "evented" && *m == "skiff")
                    || (x == "threaded" && *m == "skiff-threaded")
            })
        })
        .collect()
}

/// The peers asked for: every installed one for `installed`; a named one
/// that is missing is an error.
fn chosen_peers(args: &Args) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for p in &args.peers {
        if p == "installed" {
            for n in PEERS {
                if servers::peer_program(n).is_some() && !out.contains(&n) {
                    out.push(n);
                }
            }
            continue;
        }
        let Some(&name) = PEERS.iter().find(|n| *n == p) else {
            return Err(format!(
                "--peers: unknown server {p:?} (known: {}, or installed)",
                PEERS.join(", ")
            ));
        };
        if servers::peer_program(name).is_none() {
            return Err(format!("--peers: {name} is not installed"));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

fn header_row() {
    println!(
        "{:<15} {:<22} {:>10} {:>11} {:>9} {:>9} {:>9} {:>10} {:>9}  errors",
        "server", "workload", "req/s", "bodies", "p50", "p99", "p99.9", "cpu µs/req", "peak RSS"
    );
}

fn row(server: &str, workload: &str, c: &Cell) {
    let r = &c.report;
    println!(
        "{:<15} {:<22} {:>10.0} {:>11} {:>9} {:>9} {:>9} {:>10} {:>9}  {}",
        server,
        workload,
        r.rps(),
        rate(r.bytes_per_sec()),
        us(r.latency.quantile_us(0.5)),
        us(r.latency.quantile_us(0.99)),
        us(r.latency.quantile_us(0.999)),
        c.cpu_us_per_req.map_or("-".into(), |v| format!("{v:.2}")),
        c.peak_rss_kb
            .map_or("-".into(), |v| format!("{:.1} MB", v as f64 / 1024.0)),
        r.errors.describe()
    );
}

/// The default: skiff's modes on the five workloads, a fresh server per
/// cell.
fn modes_table(args: &Args, env: &Env) -> Result<(), String> {
    let root = servers::make_root().map_err(|e| format!("benchmark root: {e}"))?;
    println!(
        "server {} CPU 0, generator {}; {:.1} s warm-up, {:.1} s measured per cell\n",
        if env.pinned {
            "pinned to"
        } else {
            "not pinned to"
        },
        if env.pinned { "on CPU 1" } else { "unpinned" },
        warmup_secs(args).as_secs_f64(),
        measure_secs(args, 8.0).as_secs_f64()
    );
    header_row();
    for mode in chosen_modes(args) {
        for w in WORKLOADS.iter().filter(|w| wanted(args, w.key)) {
            match servers::start(mode, &root, env.pinned).map_err(|e| e.to_string()) {
                Ok(s) => {
                    match run_cell(&spec_for(&s, w.file, w.conns, w.depth, args), Some(s.pid())) {
                        Ok(c) => row(mode, w.name, &c),
                        Err(e) => println!("{mode:<15} {:<22} failed: {e}", w.name),
                    }
                }
                Err(e) => println!("{mode:<15} {:<22} failed: {e}", w.name),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

/// `--sweep`: the 380 B file at each connection count, a fresh server per
/// point; a table, then the chart.
fn sweep(args: &Args, env: &Env) -> Result<(), String> {
    let names: Vec<&str> = chosen_modes(args)
        .into_iter()
        .chain(chosen_peers(args)?)
        .collect();
    let root = servers::make_root().map_err(|e| format!("benchmark root: {e}"))?;
    let measure = measure_secs(args, 5.0);
    println!(
        "sweep of /webserver.txt (380 B) over {:?} connections; {:.1} s measured per point after the warm-up and every connection's first response\n",
        args.levels,
        measure.as_secs_f64()
    );
    header_row();
    let mut series = Vec::new();
    for name in &names {
        let mut points = Vec::new();
        for &n in &args.levels {
            let label = format!("{n} conns");
            let server = match servers::start(name, &root, env.pinned) {
                Ok(s) => s,
                Err(e) => {
                    println!("{name:<15} {label:<22} failed: {e}");
                    continue;
                }
            };
            let mut spec = spec_for(&server, "webserver.txt", n, 1, args);
            spec.measure = measure;
            match run_cell(&spec, Some(server.pid())) {
                Ok(c) => {
                    row(name, &label, &c);
                    if c.report.ready_conns < n {
                        println!(
                            "  ({} of {n} connections answered within the 20 s ramp)",
                            c.report.ready_conns
                        );
                    }
                    points.push((
                        n,
                        c.report.rps(),
                        c.report.latency.quantile_us(0.99) / 1000.0,
                        c.peak_rss_kb.unwrap_or(0) as f64 / 1024.0,
                    ));
                }
                Err(e) => println!("{name:<15} {label:<22} failed: {e}"),
            }
            drop(server);
            // Let the closed connections leave TIME_WAIT's way.
            std::thread::sleep(Duration::from_millis(300));
        }
        series.push(chart::Series {
            name: name.to_string(),
            points,
        });
    }
    let _ = std::fs::remove_dir_all(&root);
    if let Some(dir) = args.chart.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let title = format!(
        "Keep-alive GETs of a 380 B file against connections, server on one core ({})",
        today()
    );
    chart::draw(&args.chart, &title, &series)?;
    println!("\nchart: {}", args.chart.display());
    Ok(())
}

/// Today's date, UTC, as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .split(' ')
        .skip(1)
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A peer-table measurement: throughput (requests/s, or for 5 MB bytes/s
/// too) or idle memory.
#[derive(Clone, Copy, Default)]
struct Figures {
    rps: f64,
    bytes_per_sec: f64,
    cpu_us: f64,
    p99_us: f64,
    /// Idle rows: RSS bytes per idle connection.
    per_conn: f64,
    errors: u64,
}

const IDLE_CONNS: usize = 10_000;
const IDLE_ROW: &str = "10,000 idle conns";

/// `--peer-table`: every workload and 10,000 idle connections, for skiff
/// and each peer, in `--rounds` rounds whose server order rotates; prints
/// medians and skiff's ratio to each peer (the median of the per-round
/// ratios) as Markdown.
fn peer_table(args: &Args, env: &Env) -> Result<(), String> {
    let mut names: Vec<&str> = chosen_modes(args);
    if args.modes.is_empty() {
        names.truncate(1);
    }
    names.extend(chosen_peers(args)?);
    if names.len() < 2 {
        return Err("--peer-table needs at least one of --peers installed".into());
    }
    let root = servers::make_root().map_err(|e| format!("benchmark root: {e}"))?;
    let loads: Vec<&Workload> = WORKLOADS.iter().filter(|w| wanted(args, w.key)).collect();
    let idle = wanted(args, "idle");
    let mut rows: Vec<&str> = loads.iter().map(|w| w.name).collect();
    if idle {
        rows.push(IDLE_ROW);
    }
    // figures[row][server][round]
    let mut figures = vec![vec![Vec::<Figures>::new(); names.len()]; rows.len()];
    for round in 0..args.rounds as usize {
        println!("round {} of {}", round + 1, args.rounds);
        let order: Vec<usize> = (0..names.len())
            .map(|i| (i + round) % names.len())
            .collect();
        for (ri, w) in loads.iter().enumerate() {
            for &si in &order {
                let name = names[si];
                let f = (|| -> Result<Figures, String> {
                    let server =
                        servers::start(name, &root, env.pinned).map_err(|e| e.to_string())?;
                    let c = run_cell(
                        &spec_for(&server, w.file, w.conns, w.depth, args),
                        Some(server.pid()),
                    )?;
                    row(name, w.name, &c);
                    Ok(Figures {
                        rps: c.report.rps(),
                        bytes_per_sec: c.report.bytes_per_sec(),
                        cpu_us: c.cpu_us_per_req.unwrap_or(0.0),
                        p99_us: c.report.latency.quantile_us(0.99),
                        errors: c.report.errors.total(),
                        ..Default::default()
                    })
                })();
                match f {
                    Ok(f) => figures[ri][si].push(f),
                    Err(e) => println!("{name:<15} {:<22} failed: {e}", w.name),
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        let ri = rows.len() - 1;
        for &si in order.iter().filter(|_| idle) {
            let name = names[si];
            match idle_cell(name, &root, env.pinned) {
                Ok(f) => {
                    println!(
                        "{name:<15} {:<22} {:.0} B per idle connection",
                        rows[ri], f.per_conn
                    );
                    figures[ri][si].push(f);
                }
                Err(e) => println!("{name:<15} {:<22} failed: {e}", rows[ri]),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    print_peer_table(&names, &rows, &figures);
    Ok(())
}

/// 10,000 keep-alive connections that each made one request, held idle:
/// the server's RSS growth per connection.
fn idle_cell(name: &str, root: &Path, pinned: bool) -> Result<Figures, String> {
    let server = servers::start(name, root, pinned).map_err(|e| e.to_string())?;
    let request = b"GET /webserver.txt HTTP/1.1\r\nHost: bench\r\n\r\n";
    // Settle the server's start-up allocations first.
    r#gen::probe(server.addr, request)?;
    std::thread::sleep(Duration::from_millis(200));
    let before = servers::status_kb(server.pid(), "VmRSS:");
    let (held, answered) =
        r#gen::hold_idle(server.addr, request, IDLE_CONNS, Duration::from_secs(30))
            .map_err(|e| format!("idle connections: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    let after = servers::status_kb(server.pid(), "VmRSS:");
    drop(held);
    Ok(Figures {
        per_conn: after.saturating_sub(before) as f64 * 1024.0 / IDLE_CONNS as f64,
        errors: (IDLE_CONNS - answered) as u64,
        ..Default::default()
    })
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

fn print_peer_table(names: &[&str], rows: &[&str], figures: &[Vec<Vec<Figures>>]) {
    println!("\nMedians of the rounds. Throughput rows: requests/s, and in brackets skiff's");
    println!("requests/s divided by that server's (median of the per-round ratios; above 1 is");
    println!("skiff ahead). The 5 MB row also gives body bytes/s. Idle row: RSS bytes per");
    println!("idle connection (lower is better).\n");
    let mut head = String::from("| workload |");
    let mut rule = String::from("|---|");
    for n in names {
        head.push_str(&format!(" {n} |"));
        rule.push_str("---|");
    }
    println!("{head}\n{rule}");
    for (ri, r) in rows.iter().enumerate() {
        let is_idle = *r == IDLE_ROW;
        let mut line = format!("| {r} |");
        for si in 0..names.len() {
            let f = &figures[ri][si];
            let cell = if is_idle {
                median(f.iter().map(|x| x.per_conn).collect())
                    .map_or("-".into(), |v| format!("{v:.0} B"))
            } else {
                let rps = median(f.iter().map(|x| x.rps).collect());
                let mut c = rps.map_or("-".into(), thousands);
                if r.starts_with("5 MB")
                    && let Some(b) = median(f.iter().map(|x| x.bytes_per_sec).collect())
                {
                    c.push_str(&format!(" ({})", rate(b)));
                }
                if si > 0 {
                    let ratios: Vec<f64> = figures[ri][0]
                        .iter()
                        .zip(f)
                        .filter(|(_, p)| p.rps > 0.0)
                        .map(|(s, p)| s.rps / p.rps)
                        .collect();
                    if let Some(m) = median(ratios) {
                        c.push_str(&format!(" [{m:.2}×]"));
                    }
                }
                c
            };
            let errs: u64 = f.iter().map(|x| x.errors).sum();
            line.push_str(&format!(
                " {cell}{} |",
                if errs > 0 {
                    format!(" ({errs} errors)")
                } else {
                    String::new()
                }
            ));
        }
        println!("{line}");
    }
    println!("\nServer CPU µs per request (medians), and p99 latency:\n");
    println!("{head}\n{rule}");
    for (ri, r) in rows.iter().enumerate().filter(|r| *r.1 != IDLE_ROW) {
        let mut line = format!("| {r} |");
        for f in figures[ri].iter() {
            let cpu = median(f.iter().map(|x| x.cpu_us).collect());
            let p99 = median(f.iter().map(|x| x.p99_us).collect());
            line.push_str(&match (cpu, p99) {
                (Some(c), Some(p)) => format!(" {c:.1} µs, p99 {} |", us(p)),
                _ => " - |".into(),
            });
        }
        println!("{line}");
    }
}

fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
