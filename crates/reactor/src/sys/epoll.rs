//! epoll backend: `epoll_create1(EPOLL_CLOEXEC)`, `epoll_ctl`, `epoll_pwait`. Nothing from poll/select.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use rustix::event::epoll;

use super::signal::SigMask;
use crate::{Event, Interest, Token};

pub(crate) struct EpollSelector {
    epfd: OwnedFd,
    edge: bool,
    registered: usize,
    buf: Vec<libc::epoll_event>,
}

impl EpollSelector {
    pub(crate) fn new(edge: bool) -> io::Result<Self> {
        let epfd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        Ok(EpollSelector {
            epfd,
            edge,
            registered: 0,
            buf: Vec::new(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.registered
    }

    fn flags(&self, interest: Interest) -> epoll::EventFlags {
        let mut f = epoll::EventFlags::empty();
        if interest.is_readable() {
            // RDHUP with readability so a half-close is reported even before the data is read;
            // PRI so urgent data (which stops a recv short at its mark) is reported as such.
            f |= epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::PRI;
        }
        if interest.is_writable() {
            f |= epoll::EventFlags::OUT;
        }
        if self.edge {
            f |= epoll::EventFlags::ET;
        }
        f
    }

    pub(crate) fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        epoll::add(
            &self.epfd,
            fd,
            epoll::EventData::new_u64(token.0 as u64),
            self.flags(interest),
        )?;
        self.registered += 1;
        Ok(())
    }

    pub(crate) fn reregister(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        epoll::modify(
            &self.epfd,
            fd,
            epoll::EventData::new_u64(token.0 as u64),
            self.flags(interest),
        )?;
        Ok(())
    }

    pub(crate) fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        epoll::delete(&self.epfd, fd)?;
        self.registered -= 1;
        Ok(())
    }

    /// Returns how many descriptors were examined: exactly those epoll returned.
    pub(crate) fn wait(
        &mut self,
        out: &mut Vec<Event>,
        capacity: usize,
        timeout_ms: i32,
        mask: Option<&SigMask>,
    ) -> io::Result<usize> {
        let capacity = capacity.clamp(1, i32::MAX as usize);
        if self.buf.len() < capacity {
            self.buf
                .resize(capacity, libc::epoll_event { events: 0, u64: 0 });
        }
        let sigmask = mask.map_or(std::ptr::null(), SigMask::as_ptr);
        // SAFETY: `buf` holds at least `capacity` initialised epoll_event slots that the kernel may
        // overwrite; `epfd` is a live epoll descriptor we own; `sigmask` is null or points to a
        // sigset_t that outlives the call.
        let n = unsafe {
            libc::epoll_pwait(
                self.epfd.as_raw_fd(),
                self.buf.as_mut_ptr(),
                capacity as libc::c_int,
                timeout_ms,
                sigmask,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(0); // a signal handler ran: an empty wake-up, nothing examined
            }
            return Err(err);
        }
        let n = n as usize;
        for raw in &self.buf[..n] {
            // Copy out of the (packed on x86_64) struct before use.
            let (bits, data) = (raw.events, raw.u64);
            out.push(Event::from_kernel(Token(data as usize), bits));
        }
        Ok(n)
    }
}
