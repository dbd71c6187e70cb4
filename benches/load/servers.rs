//! The servers the benchmark starts: skiff in its modes and the peers that
//! are installed, each pinned to CPU 0 with `taskset` when the machine has
//! two CPUs, each configured alike (one worker process or loop, no access
//! log, sendfile where offered, keep-alive without a request limit).
//!
//! Also the process figures: CPU time and peak RSS of a process and its
//! descendants, from `/proc`.

use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The servers `--peers` may name, in table order.
pub const PEERS: [&str; 4] = ["nginx", "lighttpd", "sws", "darkhttpd"];

/// skiff's modes, as the tables name them.
pub const MODES: [(&str, &[&str]); 2] = [("skiff", &[]), ("skiff-threaded", &["--threaded"])];

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Removed when the server ends.
    scratch: Option<PathBuf>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.scratch {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

pub fn have(program: &str) -> bool {
    which(program).is_some()
}

fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| program.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// The program a peer runs, if it is installed: `$SWS` or
/// `static-web-server` (also under `~/.cargo/bin`), `$DARKHTTPD` or
/// `darkhttpd`, `nginx`, `lighttpd`.
pub fn peer_program(name: &str) -> Option<PathBuf> {
    let (var, program) = match name {
        "nginx" => ("NGINX", "nginx"),
        "lighttpd" => ("LIGHTTPD", "lighttpd"),
        "sws" => ("SWS", "static-web-server"),
        "darkhttpd" => ("DARKHTTPD", "darkhttpd"),
        _ => return None,
    };
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return which(&v.to_string_lossy());
    }
    which(program).or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = Path::new(&home).join(".cargo/bin").join(program);
        p.is_file().then_some(p)
    })
}

fn pinned_command(program: &Path, pinned: bool) -> Command {
    if pinned {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// skiff in one of its modes on a port of its choosing.
pub fn start_skiff(root: &Path, args: &[&str], pinned: bool) -> io::Result<Server> {
    let bin = Path::new(env!("CARGO_BIN_EXE_skiff"));
    let mut cmd = pinned_command(bin, pinned);
    cmd.args([
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--keep-alive-timeout",
        "120",
        "--max-connections",
        "19000",
        "--root",
    ])
    .arg(root)
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = cmd.spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .ok();
    let addr = line
        .strip_prefix("Listening on http://")
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other(format!(
            "skiff did not start (its first line: {line:?})"
        )));
    };
    Ok(Server {
        child,
        addr,
        scratch: None,
    })
}

/// A port nothing listens on right now, for a peer that must be told one.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A peer (one of [`PEERS`]) serving `root`.
pub fn start_peer(name: &str, root: &Path, pinned: bool) -> io::Result<Server> {
    let program =
        peer_program(name).ok_or_else(|| io::Error::other(format!("{name} is not installed")))?;
    let port = free_port()?;
    let scratch =
        std::env::temp_dir().join(format!("skiff-bench-{name}-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let root_s = root.display();
    let dir = scratch.display();
    let mut cmd = pinned_command(&program, pinned);
    match name {
        "nginx" => {
            let conf = scratch.join("nginx.conf");
            std::fs::write(
                &conf,
                format!(
                    "daemon off; master_process off; worker_processes 1; \
                     worker_rlimit_nofile 20000; error_log {dir}/error.log; pid {dir}/nginx.pid;\n\
                     events {{ worker_connections 20000; }}\n\
                     http {{ access_log off; sendfile on; tcp_nopush on; keepalive_timeout 120; \
                     keepalive_requests 100000000; include /etc/nginx/mime.types;\n\
                     server {{ listen 127.0.0.1:{port}; root {root_s}; }} }}\n"
                ),
            )?;
            cmd.arg("-c").arg(&conf).arg("-p").arg(&scratch);
        }
        "lighttpd" => {
            let conf = scratch.join("lighttpd.conf");
            std::fs::write(
                &conf,
                format!(
                    "server.document-root = \"{root_s}\"\n\
                     server.port = {port}\n\
                     server.bind = \"127.0.0.1\"\n\
                     server.max-worker = 0\n\
                     server.max-keep-alive-requests = 100000000\n\
                     server.max-keep-alive-idle = 120\n\
                     server.max-fds = 20000\n\
                     server.max-connections = 19000\n\
                     server.errorlog = \"{dir}/error.log\"\n\
                     include_shell \"/usr/share/lighttpd/create-mime.conf.pl\"\n"
                ),
            )?;
            cmd.arg("-D").arg("-f").arg(&conf);
        }
        "sws" => {
            cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-d"])
                .arg(root)
                .args([
                    "-g",
                    "error",
                    "--compression",
                    "false",
                    "--cache-control-headers",
                    "false",
                ]);
        }
        // No --log: darkhttpd logs nothing unless asked.
        "darkhttpd" => {
            cmd.arg(root)
                .args(["--port", &port.to_string(), "--addr", "127.0.0.1"]);
        }
        _ => return Err(io::Error::other(format!("unknown peer {name}"))),
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = Server {
        child,
        addr,
        scratch: Some(scratch),
    };
    // Ready when it accepts.
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > until {
            return Err(io::Error::other(format!("{name} did not start listening")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// Starts skiff in a mode (by its table name) or a peer.
pub fn start(name: &str, root: &Path, pinned: bool) -> io::Result<Server> {
    match MODES.iter().find(|m| m.0 == name) {
        Some((_, args)) => start_skiff(root, args, pinned),
        None => start_peer(name, root, pinned),
    }
}

/// `pid` and every process below it.
fn family(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
                all.extend(
                    kids.split_whitespace()
                        .filter_map(|k| k.parse::<u32>().ok()),
                );
            }
        }
        i += 1;
    }
    all
}

/// User and system CPU seconds of `pid` and its descendants.
pub fn cpu_seconds(pid: u32) -> f64 {
    let ticks: u64 = family(pid)
        .iter()
        .map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let Some(i) = stat.rfind(')') else { return 0 };
            let f: Vec<&str> = stat[i + 2..].split(' ').collect();
            let n = |k: usize| f.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            n(11) + n(12)
        })
        .sum();
    ticks as f64 / clock_ticks_per_second() as f64
}

/// A `/proc/<pid>/status` figure in kB, summed over `pid` and its
/// descendants: `VmHWM:` is peak RSS, `VmRSS:` the RSS now.
pub fn status_kb(pid: u32, key: &str) -> u64 {
    family(pid)
        .iter()
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/status"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// Clock ticks per second, the unit of CPU times in `/proc/<pid>/stat`.
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as u64 } else { 100 }
}

/// Pins the calling thread (and the threads it starts later) to one CPU,
/// so the generator stays off the server's core.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: `set` is a plain-data cpu_set_t, zeroed and then filled by the
    // libc helpers, which touch only the set passed in; sched_setaffinity
    // reads `size_of::<cpu_set_t>()` bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The benchmark root: the original assignment's file sizes
/// (`webserver.txt`, `index.html`, `video.mp4`).
pub fn make_root() -> io::Result<PathBuf> {
    let root = std::env::temp_dir().join(format!("skiff-load-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let text: Vec<u8> = b"skiff benchmark file. "
        .iter()
        .copied()
        .cycle()
        .take(380)
        .collect();
    std::fs::write(root.join("webserver.txt"), text)?;
    let html: Vec<u8> = b"<p>skiff</p>\n"
        .iter()
        .copied()
        .cycle()
        .take(40 * 1024)
        .collect();
    std::fs::write(root.join("index.html"), html)?;
    let video: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(root.join("video.mp4"), video)?;
    Ok(root)
}

/// CPUs online (not just those this process may use).
pub fn cpus() -> usize {
    // SAFETY: sysconf only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.max(1) as usize
}

pub fn machine() -> String {
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
    let cpus = cpus();
    format!("{model}, {cpus} CPUs, Linux {}", kernel.trim())
}
