//! The only code that calls the operating system directly: zero-copy file
//! sends, corked writes, a socket's unsent bytes, descriptor limits,
//! random bytes, and a rename that never replaces.
//!
//! Every `unsafe` block in the crate is here, each with a `// SAFETY:`
//! comment. Nothing here keeps state or knows about HTTP. On systems other
//! than Linux the calls report `Unsupported` and callers fall back to
//! reading files into a buffer.
#![allow(unsafe_code)]

pub(crate) mod activation;

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Largest count passed to one `sendfile` call. Linux caps a call at about
/// 2 GiB anyway; 1 MiB keeps one call's work bounded for fairness.
pub(crate) const SENDFILE_MAX: usize = 1024 * 1024;

/// Sends up to `count` bytes of `file` from `offset` to the socket without
/// copying them through user space. `Ok(0)` with `count > 0` means the file
/// ends before `offset`.
#[cfg(target_os = "linux")]
pub(crate) fn sendfile(
    sock: &impl AsRawFd,
    file: &File,
    offset: u64,
    count: usize,
) -> io::Result<usize> {
    let Ok(mut off) = libc::off_t::try_from(offset) else {
        return Ok(0); // past any file's end
    };
    let count = count.min(SENDFILE_MAX);
    // SAFETY: both descriptors are open for the duration of the call (the
    // borrows keep their owners alive); `off` is a valid, exclusively
    // borrowed off_t that the kernel updates; no memory of ours is read or
    // written besides it.
    let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn sendfile(
    _sock: &impl AsRawFd,
    _file: &File,
    _offset: u64,
    _count: usize,
) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Writes `buf` with `MSG_MORE`: more data follows at once (a file body by
/// sendfile), so the kernel may hold these bytes to share a segment with it.
#[cfg(target_os = "linux")]
pub(crate) fn send_more(sock: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live, initialised slice and the kernel reads at
    // most `buf.len()` bytes from its start; the descriptor is kept open by
    // the borrow of its owner.
    let n = unsafe {
        libc::send(
            sock.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_MORE | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn send_more(sock: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    let _ = (sock, buf);
    Err(io::ErrorKind::Unsupported.into())
}

/// Shuts down the reading side of the socket with descriptor `fd`. Used to
/// wake a thread blocked reading it; the caller must keep `fd` open for the
/// duration of the call (the threaded driver closes sockets only under the
/// lock it holds while calling this).
pub(crate) fn shutdown_read(fd: std::os::fd::RawFd) -> io::Result<()> {
    // SAFETY: shutdown(2) reads and writes no memory of ours; an invalid
    // descriptor is reported as EBADF.
    if unsafe { libc::shutdown(fd, libc::SHUT_RD) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Renames `from` to `to` unless `to` exists (then `EEXIST`), atomically:
/// `renameat2(RENAME_NOREPLACE)`; where the file system cannot do that
/// (`EINVAL`), `link` then `unlink`, which is as safe (`link` never
/// replaces a name).
pub(crate) fn rename_noreplace(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let from_c = CString::new(from.as_os_str().as_bytes())?;
    let to_c = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call;
    // AT_FDCWD makes them relative to the working directory as usual.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from_c.as_ptr(),
            libc::AT_FDCWD,
            to_c.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS) => {
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        _ => Err(e),
    }
}

/// Fills `buf` with random bytes from the kernel (`getrandom(2)`, or
/// `/dev/urandom` where that is missing): the salt of remembered
/// credentials, the multipart boundary. Never fails: if the kernel has
/// none to give, std's per-process random hash keys (themselves from the
/// kernel at start) stand in.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    let mut filled = 0;
    #[cfg(target_os = "linux")]
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: getrandom(2) writes at most `rest.len()` bytes into the
        // buffer it is given, which is valid and exclusively borrowed.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match n {
            n if n > 0 => filled += n as usize,
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    if filled < buf.len() {
        use std::io::Read;
        if let Ok(mut f) = File::open("/dev/urandom") {
            if f.read_exact(&mut buf[filled..]).is_ok() {
                return;
            }
        }
        use std::hash::{BuildHasher, Hasher};
        for chunk in buf[filled..].chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(chunk.as_ptr() as usize);
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Whether [`sendfile`] works on this system.
pub(crate) const HAS_SENDFILE: bool = cfg!(target_os = "linux");

/// Bytes the socket holds that the peer has not acknowledged yet
/// (`SIOCOUTQ`), or `None` where the system cannot tell.
#[cfg(target_os = "linux")]
pub(crate) fn unsent_bytes(sock: &impl AsRawFd) -> Option<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (== TIOCOUTQ) writes one c_int through the pointer,
    // which points at `n`, live and exclusively borrowed for the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    (r == 0).then(|| usize::try_from(n).unwrap_or(0))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn unsent_bytes(_sock: &impl AsRawFd) -> Option<usize> {
    None
}

/// Raises the soft limit on open files to the hard limit and returns the
/// limit now in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid, exclusively borrowed rlimit for the kernel
    // to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if rl.rlim_cur < rl.rlim_max {
        let wanted = libc::rlimit {
            // An unlimited hard limit cannot be a soft one for files.
            rlim_cur: if rl.rlim_max == libc::RLIM_INFINITY {
                1 << 20
            } else {
                rl.rlim_max
            },
            rlim_max: rl.rlim_max,
        };
        // SAFETY: `wanted` is a valid rlimit read by the kernel.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
            rl.rlim_cur = wanted.rlim_cur;
        }
    }
    // rlim_t is u64 on Linux, narrower on some other systems.
    #[allow(clippy::unnecessary_cast)]
    Ok(rl.rlim_cur as u64)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn sendfile_sends_a_window_and_reports_the_end() {
        let path = std::env::temp_dir().join(format!("skiff-sys-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let file = File::open(&path).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert_eq!(send_more(&server, b"head:").unwrap(), 5);
        assert_eq!(sendfile(&server, &file, 3, 4).unwrap(), 4);
        assert_eq!(sendfile(&server, &file, 10, 4).unwrap(), 0, "at the end");
        assert_eq!(sendfile(&server, &file, u64::MAX, 4).unwrap(), 0);
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"head:3456");
        client.flush().unwrap();
        std::fs::remove_file(path).unwrap();
    }
}

/// Takes over an inherited listening TCP socket (`--fd N`, or systemd's
/// socket activation). Refuses a descriptor that is not open, not a
/// socket, not TCP, or not listening, so a wrong number is one clear
/// error rather than a server that never accepts. The descriptor is made
/// close-on-exec and non-blocking.
#[cfg(unix)]
pub(crate) fn inherited_listener(fd: i32) -> io::Result<std::net::TcpListener> {
    use std::os::fd::{BorrowedFd, FromRawFd};
    if fd < 0 {
        return Err(io::Error::other("not a descriptor"));
    }
    // SAFETY: fcntl(F_GETFD) only asks whether `fd` is open; it reads and
    // writes no memory of ours.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::other("no such open descriptor"));
    }
    // SAFETY: `fd` was just seen open, and it lives for the rest of the
    // process (nothing else in skiff owns or closes it): borrowing it for
    // the checks below cannot outlive it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&borrowed);
    let kind = sock
        .r#type()
        .map_err(|_| io::Error::other("not a socket"))?;
    let domain = sock.domain()?;
    if kind != socket2::Type::STREAM
        || !(domain == socket2::Domain::IPV4 || domain == socket2::Domain::IPV6)
    {
        return Err(io::Error::other("not a TCP socket"));
    }
    if !sock.is_listener()? {
        return Err(io::Error::other("a socket that is not listening"));
    }
    sock.set_cloexec(true)?;
    sock.set_nonblocking(true)?;
    // SAFETY: `fd` is an open listening TCP socket (checked above) that no
    // other owner in this process will close: the listener takes it over.
    Ok(unsafe { std::net::TcpListener::from_raw_fd(fd) })
}
