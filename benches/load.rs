//! Load benchmark: skiff in each mode, driven by a load generator of its own
//! over loopback, one table of results. It measures; it asserts nothing.
//!
//! ```text
//! cargo bench --bench load                 # 8 s per cell
//! cargo bench --bench load -- --quick      # under a minute in all
//! cargo bench --bench load -- --modes evented --seconds 20
//! ```
//!
//! Each (mode, workload) cell starts a fresh server pinned to CPU 0 (with
//! `taskset`, when present) while the generator runs pinned to CPU 1, warms
//! up, then counts the responses completed in the measured window. The
//! generator is one mio loop holding every connection, keeping `depth`
//! requests in flight on each (keep-alive; depth > 1 is pipelining). It
//! reads response heads for their status and `Content-Length` and skips
//! bodies by count, so it stays cheap even for large files.
//!
//! Columns: requests/s, body MB/s, p50 and p99 latency (from queueing a
//! request to its last byte), server CPU time per request (from
//! `/proc/<pid>/stat`), and the server's peak RSS (`VmHWM`).

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

struct Workload {
    name: &'static str,
    file: &'static str,
    conns: usize,
    depth: usize,
}

const WORKLOADS: [Workload; 5] = [
    Workload {
        name: "380 B, 64 conns",
        file: "webserver.txt",
        conns: 64,
        depth: 1,
    },
    Workload {
        name: "40 KB, 64 conns",
        file: "index.html",
        conns: 64,
        depth: 1,
    },
    Workload {
        name: "5 MB, 64 conns",
        file: "video.mp4",
        conns: 64,
        depth: 1,
    },
    Workload {
        name: "380 B, 1000 conns",
        file: "webserver.txt",
        conns: 1000,
        depth: 1,
    },
    Workload {
        name: "380 B, 64 conns, 16 pipelined",
        file: "webserver.txt",
        conns: 64,
        depth: 16,
    },
];

const MODES: [(&str, &[&str]); 2] = [("evented", &[]), ("threaded", &["--threaded"])];

struct Options {
    warmup: Duration,
    measure: Duration,
    modes: Vec<String>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = Options {
        warmup: Duration::from_millis(if quick { 300 } else { 1000 }),
        measure: Duration::from_millis(if quick { 1500 } else { 8000 }),
        modes: MODES.iter().map(|m| m.0.to_string()).collect(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                if let Some(s) = it.next().and_then(|v| v.parse::<f64>().ok()) {
                    o.measure = Duration::from_secs_f64(s);
                }
            }
            "--modes" => {
                if let Some(v) = it.next() {
                    o.modes = v.split(',').map(str::to_string).collect();
                }
            }
            _ => {} // --bench and friends from cargo
        }
    }
    o
}

fn main() {
    let o = options();
    let root = make_root();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Read before pinning: pinning narrows what this process may use.
    println!("{}", machine());
    let pinned = cpus >= 2 && have("taskset");
    if pinned {
        let _ = pin_to_cpu(1);
    }
    let _ = skiff::sys::raise_nofile_limit();
    println!(
        "server {} CPU 0, load generator {}; {:.1} s warm-up, {:.1} s measured per cell\n",
        if pinned { "pinned to" } else { "not pinned to" },
        if pinned { "on CPU 1" } else { "unpinned" },
        o.warmup.as_secs_f64(),
        o.measure.as_secs_f64()
    );
    println!(
        "{:<9} {:<30} {:>10} {:>9} {:>9} {:>9} {:>11} {:>9}",
        "mode", "workload", "req/s", "MB/s", "p50", "p99", "cpu µs/req", "peak RSS"
    );
    for (mode, args) in MODES.iter().filter(|m| o.modes.iter().any(|x| x == m.0)) {
        for w in &WORKLOADS {
            match cell(&root, args, w, &o, pinned) {
                Ok(r) => println!(
                    "{:<9} {:<30} {:>10.0} {:>9.1} {:>9} {:>9} {:>11.2} {:>9}{}",
                    mode,
                    w.name,
                    r.rps,
                    r.mbps,
                    fmt_us(r.p50_us),
                    fmt_us(r.p99_us),
                    r.cpu_us_per_req,
                    format!("{:.1} MB", r.peak_rss_kb as f64 / 1024.0),
                    if r.errors > 0 {
                        format!("  ({} errors)", r.errors)
                    } else {
                        String::new()
                    }
                ),
                Err(e) => println!("{mode:<9} {:<30} failed: {e}", w.name),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

fn fmt_us(us: u32) -> String {
    if us >= 1000 {
        format!("{:.2}ms", us as f64 / 1000.0)
    } else {
        format!("{us}µs")
    }
}

/// The benchmark root: the original assignment's file sizes.
fn make_root() -> PathBuf {
    let root = std::env::temp_dir().join(format!("skiff-load-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let text: Vec<u8> = b"skiff benchmark file. "
        .iter()
        .copied()
        .cycle()
        .take(380)
        .collect();
    std::fs::write(root.join("webserver.txt"), text).unwrap();
    let html: Vec<u8> = b"<p>skiff</p>\n"
        .iter()
        .copied()
        .cycle()
        .take(40 * 1024)
        .collect();
    std::fs::write(root.join("index.html"), html).unwrap();
    let video: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(root.join("video.mp4"), video).unwrap();
    root
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .unwrap_or("unknown CPU")
        .trim()
        .to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("machine: {model}, {cpus} CPUs, Linux {}", kernel.trim())
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(root: &Path, args: &[&str], pinned: bool) -> io::Result<Server> {
    let bin = env!("CARGO_BIN_EXE_skiff");
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", bin]);
        c
    } else {
        Command::new(bin)
    };
    cmd.args([
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--keep-alive-timeout",
        "120",
        "--root",
    ])
    .arg(root)
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = cmd.spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    let addr = line
        .strip_prefix("Listening on http://")
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unexpected start-up line {line:?}")))?;
    Ok(Server { child, addr })
}

struct Results {
    rps: f64,
    mbps: f64,
    p50_us: u32,
    p99_us: u32,
    cpu_us_per_req: f64,
    peak_rss_kb: u64,
    errors: u64,
}

fn cell(
    root: &Path,
    args: &[&str],
    w: &Workload,
    o: &Options,
    pinned: bool,
) -> io::Result<Results> {
    let server = start(root, args, pinned)?;
    let pid = server.child.id();
    let path = format!("/{}", w.file);
    let ticks = clock_ticks_per_second() as f64;
    let mut cpu_before = 0;
    let load = generate(
        server.addr,
        w.conns,
        w.depth,
        &path,
        o.warmup,
        o.measure,
        || {
            cpu_before = cpu_ticks(pid);
        },
    )?;
    let cpu = cpu_ticks(pid).saturating_sub(cpu_before) as f64 / ticks;
    let peak_rss_kb = status_kb(pid, "VmHWM:");
    let mut lat = load.latencies_us;
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let secs = o.measure.as_secs_f64();
    Ok(Results {
        rps: load.completed as f64 / secs,
        mbps: load.body_bytes as f64 / secs / 1e6,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_us_per_req: if load.completed > 0 {
            cpu * 1e6 / load.completed as f64
        } else {
            0.0
        },
        peak_rss_kb,
        errors: load.errors,
    })
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(i) = stat.rfind(')') else { return 0 };
    let f: Vec<&str> = stat[i + 2..].split(' ').collect();
    let n = |k: usize| f.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Load {
    completed: u64,
    body_bytes: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

/// One client connection of the generator.
struct Client {
    stream: TcpStream,
    out: Vec<u8>,
    out_pos: usize,
    /// A response head split across reads.
    head: Vec<u8>,
    body_left: u64,
    body_len: u64,
    status_ok: bool,
    sent_at: VecDeque<Instant>,
}

enum Done {
    Response { ok: bool, body: u64 },
}

impl Client {
    fn queue(&mut self, request: &[u8], now: Instant) {
        self.out.extend_from_slice(request);
        self.sent_at.push_back(now);
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                // Still connecting, or the socket is full: on the next event.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                    ) =>
                {
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// Consumes response bytes; pushes each completed response.
    fn on_bytes(&mut self, data: &[u8], done: &mut Vec<Done>) {
        let mut pos = 0;
        while pos < data.len() {
            if self.body_left > 0 {
                let n = self.body_left.min((data.len() - pos) as u64);
                self.body_left -= n;
                pos += n as usize;
                if self.body_left == 0 {
                    done.push(Done::Response {
                        ok: self.status_ok,
                        body: self.body_len,
                    });
                }
                continue;
            }
            let rest = &data[pos..];
            let (head_end_in_rest, head): (usize, &[u8]) = if self.head.is_empty() {
                match find(rest, b"\r\n\r\n") {
                    Some(i) => (i + 4, &rest[..i + 4]),
                    None => {
                        self.head.extend_from_slice(rest);
                        return;
                    }
                }
            } else {
                let old = self.head.len();
                self.head.extend_from_slice(rest);
                let from = old.saturating_sub(3);
                match find(&self.head[from..], b"\r\n\r\n") {
                    Some(i) => {
                        let end = from + i + 4;
                        self.head.truncate(end);
                        (end - old, &self.head[..])
                    }
                    None => return,
                }
            };
            let ok = head.get(9..12) == Some(b"200");
            let len = content_length(head);
            self.head.clear();
            pos += head_end_in_rest;
            self.status_ok = ok;
            self.body_len = len;
            self.body_left = len;
            if len == 0 {
                done.push(Done::Response { ok, body: 0 });
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(head);
    text.split("\r\n")
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// Drives `conns` connections with `depth` requests in flight each for
/// `warmup + measure`; `measuring` is called when the measured window opens.
fn generate(
    addr: SocketAddr,
    conns: usize,
    depth: usize,
    path: &str,
    warmup: Duration,
    measure: Duration,
    mut measuring: impl FnMut(),
) -> io::Result<Load> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").into_bytes();
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut clients = Vec::with_capacity(conns);
    let start = Instant::now();
    for i in 0..conns {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut c = Client {
            stream,
            out: Vec::new(),
            out_pos: 0,
            head: Vec::new(),
            body_left: 0,
            body_len: 0,
            status_ok: true,
            sent_at: VecDeque::with_capacity(depth),
        };
        for _ in 0..depth {
            c.queue(&request, start);
        }
        clients.push(c);
    }
    let opens = start + warmup;
    let ends = opens + measure;
    let mut open = false;
    let mut load = Load {
        completed: 0,
        body_bytes: 0,
        errors: 0,
        latencies_us: Vec::with_capacity(1 << 20),
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = Vec::new();
    loop {
        let now = Instant::now();
        if !open && now >= opens {
            open = true;
            measuring();
        }
        if now >= ends {
            break;
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for ev in events.iter() {
            let c = &mut clients[ev.token().0];
            if c.flush().is_err() {
                load.errors += 1;
                continue;
            }
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        load.errors += 1;
                        break;
                    }
                    Ok(n) => {
                        c.on_bytes(&buf[..n], &mut done);
                        let now = Instant::now();
                        for Done::Response { ok, body } in done.drain(..) {
                            let sent = c.sent_at.pop_front().unwrap_or(now);
                            if open && now < ends {
                                load.completed += 1;
                                load.body_bytes += body;
                                load.latencies_us.push(
                                    now.duration_since(sent).as_micros().min(u32::MAX as u128)
                                        as u32,
                                );
                                if !ok {
                                    load.errors += 1;
                                }
                            }
                            c.queue(&request, now);
                        }
                        if c.flush().is_err() {
                            load.errors += 1;
                            break;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                        ) =>
                    {
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        load.errors += 1;
                        break;
                    }
                }
            }
        }
    }
    Ok(load)
}

/// Pins the calling thread (and the threads it starts later) to one CPU,
/// so the generator stays off the server's core.
fn pin_to_cpu(cpu: usize) -> std::io::Result<()> {
    // SAFETY: `set` is a plain-data cpu_set_t, zeroed and then filled by the
    // libc helpers, which touch only the set passed in; sched_setaffinity
    // reads `size_of::<cpu_set_t>()` bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Clock ticks per second, the unit of CPU times in `/proc/<pid>/stat`.
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as u64 } else { 100 }
}
