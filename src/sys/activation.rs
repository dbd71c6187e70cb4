//! Socket activation: the listening sockets another process hands skiff
//! (`--fd N`, or systemd's `LISTEN_FDS`/`LISTEN_PID`), read at start.

/// The sockets systemd handed this process (`sd_listen_fds`): none unless
/// `LISTEN_PID` is this process; then descriptors 3, 3 + 1, ... for
/// `LISTEN_FDS` of them. skiff takes one, or two with HTTPS (the second
/// for `--redirect-http`).
pub(crate) fn systemd_fds(
    pid: Option<&str>,
    fds: Option<&str>,
    me: u32,
) -> Result<Vec<i32>, String> {
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(Vec::new());
    };
    if pid.trim().parse::<u32>() != Ok(me) {
        return Ok(Vec::new()); // meant for another process
    }
    match fds.trim().parse::<u32>() {
        Ok(0) => Ok(Vec::new()),
        Ok(1) => Ok(vec![3]),
        Ok(2) => Ok(vec![3, 4]),
        Ok(n) => Err(format!(
            "LISTEN_FDS={n}: skiff takes one socket, or two (HTTPS and its --redirect-http listener)"
        )),
        Err(_) => Err(format!("LISTEN_FDS '{fds}': expected a number")),
    }
}

/// The inherited sockets to serve on: `--fd N`, else systemd's for this
/// process, else none (skiff binds `--bind`/`--port` itself).
pub(crate) fn listen_fds(fd: Option<u32>) -> Result<Vec<i32>, String> {
    match fd {
        Some(n) => Ok(vec![n as i32]),
        None => systemd_fds(
            std::env::var("LISTEN_PID").ok().as_deref(),
            std::env::var("LISTEN_FDS").ok().as_deref(),
            std::process::id(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::systemd_fds;

    #[test]
    fn systemd_sockets_are_taken_only_when_meant_for_this_process() {
        assert_eq!(systemd_fds(None, None, 7), Ok(vec![]));
        assert_eq!(systemd_fds(Some("7"), None, 7), Ok(vec![]));
        assert_eq!(
            systemd_fds(Some("8"), Some("1"), 7),
            Ok(vec![]),
            "another process's"
        );
        assert_eq!(systemd_fds(Some("7"), Some("0"), 7), Ok(vec![]));
        assert_eq!(systemd_fds(Some("7"), Some("1"), 7), Ok(vec![3]));
        assert_eq!(systemd_fds(Some(" 7\n"), Some("2"), 7), Ok(vec![3, 4]));
        assert!(
            systemd_fds(Some("7"), Some("3"), 7)
                .unwrap_err()
                .contains("LISTEN_FDS=3")
        );
        assert!(
            systemd_fds(Some("7"), Some("x"), 7)
                .unwrap_err()
                .contains("'x'")
        );
        assert_eq!(systemd_fds(Some("x"), Some("1"), 7), Ok(vec![]));
    }
}
