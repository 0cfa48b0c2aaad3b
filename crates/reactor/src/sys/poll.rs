//! poll(2) backend: a `pollfd` array handed to `ppoll` on every wait. The kernel examines every
//! entry on every call, and so do we when collecting `revents`: O(registered) per wake-up.

use std::io;
use std::os::fd::RawFd;

use super::signal::SigMask;
use crate::{Event, Interest, Token};

const ABSENT: usize = usize::MAX;

pub(crate) struct PollSelector {
    fds: Vec<libc::pollfd>,
    tokens: Vec<Token>,
    /// fd -> index into `fds`, so modify/remove are O(1) (removal swaps the last entry in).
    index: Vec<usize>,
}

fn events_for(interest: Interest) -> libc::c_short {
    let mut ev = 0;
    if interest.is_readable() {
        ev |= libc::POLLIN | libc::POLLRDHUP | libc::POLLPRI;
    }
    if interest.is_writable() {
        ev |= libc::POLLOUT;
    }
    ev
}

fn not_registered() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

impl PollSelector {
    pub(crate) fn new() -> Self {
        PollSelector {
            fds: Vec::new(),
            tokens: Vec::new(),
            index: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.fds.len()
    }

    fn slot(&self, fd: RawFd) -> Option<usize> {
        let i = *self.index.get(usize::try_from(fd).ok()?)?;
        (i != ABSENT).then_some(i)
    }

    pub(crate) fn register(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let key = usize::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if self.slot(fd).is_some() {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        if self.index.len() <= key {
            self.index.resize(key + 1, ABSENT);
        }
        self.index[key] = self.fds.len();
        self.fds.push(libc::pollfd {
            fd,
            events: events_for(interest),
            revents: 0,
        });
        self.tokens.push(token);
        Ok(())
    }

    pub(crate) fn reregister(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let i = self.slot(fd).ok_or_else(not_registered)?;
        self.fds[i].events = events_for(interest);
        self.tokens[i] = token;
        Ok(())
    }

    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let i = self.slot(fd).ok_or_else(not_registered)?;
        self.index[fd as usize] = ABSENT;
        self.fds.swap_remove(i);
        self.tokens.swap_remove(i);
        if let Some(moved) = self.fds.get(i) {
            self.index[moved.fd as usize] = i;
        }
        Ok(())
    }

    /// Returns how many descriptors were examined: all of them.
    pub(crate) fn wait(
        &mut self,
        out: &mut Vec<Event>,
        timeout_ms: i32,
        mask: Option<&SigMask>,
    ) -> io::Result<usize> {
        let ts;
        let ts_ptr = if timeout_ms < 0 {
            std::ptr::null()
        } else {
            ts = libc::timespec {
                tv_sec: (timeout_ms / 1000) as libc::time_t,
                tv_nsec: ((timeout_ms % 1000) as libc::c_long) * 1_000_000,
            };
            &ts as *const libc::timespec
        };
        let sigmask = mask.map_or(std::ptr::null(), SigMask::as_ptr);
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs the kernel may write
        // `revents` into; `ts_ptr` and `sigmask` are null or point to values alive for the call.
        let n = unsafe {
            libc::ppoll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                ts_ptr,
                sigmask,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                // A signal handler ran; the kernel had still scanned the whole array.
                return Ok(self.fds.len());
            }
            return Err(err);
        }
        let mut left = n as usize;
        for (pfd, token) in self.fds.iter().zip(&self.tokens) {
            if left == 0 {
                break;
            }
            if pfd.revents != 0 {
                left -= 1;
                out.push(Event::from_kernel(*token, pfd.revents as u16 as u32));
            }
        }
        Ok(self.fds.len())
    }
}
