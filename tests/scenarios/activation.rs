//! Socket activation: serving on a listening socket handed over by the
//! process that started skiff (`--fd N`, or systemd's `LISTEN_FDS` and
//! `LISTEN_PID`), instead of binding one. A small Python launcher plays
//! systemd: it binds, puts the socket on the descriptor, sets the
//! variables, and execs skiff under its own process id.

use std::process::{Command, Stdio};

use crate::each_mode;
use crate::support::*;

/// Binds 127.0.0.1:0, moves the socket to descriptor `fd`, sets `env`
/// (`{pid}` becomes the process id skiff will have), and execs skiff with
/// `args`. Returns the command and nothing else: the start-up line tells
/// the port.
fn launcher(fd: i32, env: &[(&str, &str)], args: &[&str]) -> Command {
    let script = r#"
import os, socket, sys
fd = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(128)
os.dup2(s.fileno(), fd)
os.set_inheritable(fd, True)
for kv in sys.argv[2].split(",") if sys.argv[2] else []:
    k, v = kv.split("=", 1)
    os.environ[k] = v.replace("{pid}", str(os.getpid()))
print("bound", s.getsockname()[1], file=sys.stderr, flush=True)
os.execv(sys.argv[3], sys.argv[3:])
"#;
    let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script, &fd.to_string(), &env.join(",")])
        .arg(bin())
        .args(args);
    cmd
}

/// The port the launcher bound, from its stderr line.
fn bound_port(s: &Server) -> u16 {
    let lines = s.wait_stderr(|l| l.iter().any(|l| l.starts_with("bound ")));
    let line = lines.iter().find(|l| l.starts_with("bound ")).unwrap();
    line[6..].trim().parse().unwrap()
}

each_mode! {
    fn serves_on_the_socket_given_by_fd(mode) {
        let site = site();
        let root = site.path.to_str().unwrap();
        let mut args = vec!["--fd", "5", "--root", root, "--port", "1"];
        args.extend(mode.args());
        let s = Server::spawn(launcher(5, &[], &args));
        // Not port 1: the socket it was given.
        assert_eq!(s.port(), bound_port(&s));
        assert_eq!(s.connect().get("/a.txt").body, b"hello, skiff\n");
    }
}

each_mode! {
    fn serves_on_the_socket_systemd_passes(mode) {
        let site = site();
        let root = site.path.to_str().unwrap();
        let mut args = vec!["--root", root, "--port", "1"];
        args.extend(mode.args());
        let env = [("LISTEN_FDS", "1"), ("LISTEN_PID", "{pid}")];
        let s = Server::spawn(launcher(3, &env, &args));
        assert_eq!(s.port(), bound_port(&s));
        let mut c = s.connect();
        assert_eq!(c.get("/a.txt").status, 200);
        assert_eq!(c.get("/index.html").body, b"<h1>home</h1>\n");
    }
}

#[test]
fn sockets_meant_for_another_process_are_left_alone() {
    let site = site();
    let root = site.path.to_str().unwrap();
    // LISTEN_PID names someone else: skiff binds --port itself.
    let env = [("LISTEN_FDS", "1"), ("LISTEN_PID", "1")];
    let s = Server::spawn(launcher(
        3,
        &env,
        &["--root", root, "--bind", "127.0.0.1", "--port", "0"],
    ));
    assert_ne!(s.port(), bound_port(&s));
    assert_eq!(s.connect().get("/a.txt").status, 200);
}

#[test]
fn https_and_the_redirect_listener_on_two_handed_sockets() {
    let site = site();
    let root = site.path.to_str().unwrap();
    // Descriptor 4 comes from a second launcher layer: bind on 4, then on
    // 3 with LISTEN_FDS=2.
    let inner = launcher(
        3,
        &[("LISTEN_FDS", "2"), ("LISTEN_PID", "{pid}")],
        &["--root", root, "--tls-self-signed"],
    );
    let mut outer = Command::new("python3");
    let script = r#"
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
os.dup2(s.fileno(), 4); os.set_inheritable(4, True)
print("redirect", s.getsockname()[1], file=sys.stderr, flush=True)
os.execvp(sys.argv[1], sys.argv[1:])
"#;
    outer
        .args(["-c", script])
        .arg(inner.get_program())
        .args(inner.get_args());
    let s = Server::spawn(outer);
    assert!(
        s.first_line.starts_with("Listening on https://"),
        "{}",
        s.first_line
    );
    let lines = s.wait_stderr(|l| l.iter().any(|l| l.starts_with("redirect ")));
    let port: u16 = lines.iter().find(|l| l.starts_with("redirect ")).unwrap()[9..]
        .trim()
        .parse()
        .unwrap();
    let out = s.wait_stdout(|l| l.iter().any(|l| l.starts_with("Redirecting ")));
    assert!(
        out.iter().any(|l| l.contains(&format!(":{port}/"))),
        "{out:?}"
    );
    let r = Client::connect(([127, 0, 0, 1], port).into()).get("/x");
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location").unwrap(),
        format!("https://t:{}/x", s.port())
    );
}

#[test]
fn a_descriptor_that_is_not_a_listening_socket_is_one_line() {
    let site = site();
    let root = site.path.to_str().unwrap();
    for (fd, stdin, says) in [
        ("99", Stdio::null(), "no such open descriptor"),
        ("0", Stdio::null(), "not a socket"),
    ] {
        let out = Command::new(bin())
            .args(["--root", root, "--fd", fd])
            .stdin(stdin)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "--fd {fd}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&format!("descriptor {fd}: {says}")), "{err}");
    }
    // A TCP socket that is connected, not listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let script = format!(
        "import os,socket,sys\ns=socket.create_connection(('127.0.0.1',{}))\nos.dup2(s.fileno(),6)\nos.set_inheritable(6,True)\nos.execv(sys.argv[1],sys.argv[1:])",
        listener.local_addr().unwrap().port()
    );
    let out = Command::new("python3")
        .args(["-c", &script, bin(), "--root", root, "--fd", "6"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("descriptor 6: a socket that is not listening"),
        "{err}"
    );
    // Bad values of the variables are one line and exit 2.
    let out = launcher(
        3,
        &[("LISTEN_FDS", "many"), ("LISTEN_PID", "{pid}")],
        &["--root", root],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LISTEN_FDS 'many'"));
    let out = launcher(
        3,
        &[("LISTEN_FDS", "3"), ("LISTEN_PID", "{pid}")],
        &["--root", root],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LISTEN_FDS=3"));
}
