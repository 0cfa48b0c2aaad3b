//! Socket set-up: the listener and the process's descriptor limit.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use rustix::net::{self, sockopt, AddressFamily, SocketFlags, SocketType};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The kernel caps the backlog at `net.core.somaxconn`; ask for plenty so a connect storm
/// waits in the queue instead of being refused.
const BACKLOG: i32 = 4096;

/// A non-blocking, close-on-exec listening socket with `SO_REUSEADDR` (a restart is not refused
/// while old connections sit in TIME_WAIT) and optionally `SO_REUSEPORT` (several loops, each
/// with its own listener on the same port; the kernel spreads connections between them).
pub fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    if reuse_port {
        sockopt::set_socket_reuseport(&fd, true)?;
    }
    net::bind(&fd, &addr)?;
    net::listen(&fd, BACKLOG)?;
    Ok(fd)
}

/// A non-blocking, close-on-exec Unix-domain stream listener at `path`. A socket file already
/// there (left by a process that died) is removed first; with `perm` the file gets those
/// permission bits (Redis's `unixsocketperm`, e.g. 0o700).
pub fn listen_unix(path: &std::path::Path, perm: Option<u32>) -> io::Result<OwnedFd> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        std::fs::remove_file(path)?;
    }
    let fd = net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    let addr = net::SocketAddrUnix::new(path)?;
    net::bind(&fd, &addr)?;
    if let Some(mode) = perm {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    net::listen(&fd, BACKLOG)?;
    Ok(fd)
}

/// The address a listener is bound to (to learn the port after binding port 0).
pub fn local_addr(fd: &OwnedFd) -> io::Result<SocketAddr> {
    let addr = net::getsockname(fd)?;
    SocketAddr::try_from(addr).map_err(|_| io::Error::other("listener has a non-IP address"))
}

/// Raise the soft RLIMIT_NOFILE to the hard limit; returns (soft before, soft after).
/// 10,000 clients need 10,000 descriptors; the default soft limit is often 1,024.
pub fn raise_fd_limit() -> io::Result<(u64, u64)> {
    let lim = getrlimit(Resource::Nofile);
    let before = lim.current.unwrap_or(u64::MAX);
    let Some(max) = lim.maximum else {
        return Ok((before, before));
    };
    if lim.current.is_some_and(|cur| cur >= max) {
        return Ok((before, before));
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(max),
            maximum: Some(max),
        },
    )?;
    Ok((before, max))
}

/// The current soft RLIMIT_NOFILE.
pub fn fd_limit() -> u64 {
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}
