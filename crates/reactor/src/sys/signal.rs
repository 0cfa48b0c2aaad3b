//! SIGINT/SIGTERM without a descriptor: a handler sets a flag, the signals stay blocked except
//! inside the wait syscall (`epoll_pwait`/`ppoll` swap the mask atomically), so a signal that
//! lands while the loop is busy is delivered the moment it next sleeps — never lost in the gap
//! between "check the flag" and "block". A second signal exits at once (status 1).
//! SIGUSR1 asks the loop to log its counters (a loop that did not receive it keeps quiet).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};

/// A signal mask to install during the wait.
#[derive(Clone, Copy)]
pub(crate) struct SigMask(libc::sigset_t);

impl SigMask {
    pub(crate) fn as_ptr(&self) -> *const libc::sigset_t {
        &self.0
    }
}

/// SIGINT and SIGTERM turned into a flag the event loop polls; SIGUSR1 into a "report your
/// counters now" request.
#[derive(Clone)]
pub struct ShutdownSignals {
    requested: Arc<AtomicBool>,
    report: Arc<AtomicBool>,
    wait_mask: SigMask,
}

impl std::fmt::Debug for ShutdownSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownSignals")
            .field("requested", &self.requested())
            .finish()
    }
}

impl ShutdownSignals {
    /// Install the handlers and block SIGINT/SIGTERM in the calling thread (threads spawned
    /// afterwards inherit the block). Pass the result to
    /// [`Poller::unblock_during_wait`](crate::Poller::unblock_during_wait).
    pub fn install() -> io::Result<ShutdownSignals> {
        let requested = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            // Order matters: the conditional exit sees the flag as it was *before* this signal.
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&requested))?;
            signal_hook::flag::register(sig, Arc::clone(&requested))?;
        }
        let report = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGUSR1, Arc::clone(&report))?;
        let mut block = empty_set();
        let mut old = empty_set();
        // SAFETY: both sets are initialised sigset_t values owned by this frame.
        let rc = unsafe {
            libc::sigaddset(&mut block, SIGINT);
            libc::sigaddset(&mut block, SIGTERM);
            libc::sigaddset(&mut block, SIGUSR1);
            libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old)
        };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let mut wait = old;
        // SAFETY: `wait` is an initialised sigset_t owned by this frame.
        unsafe {
            libc::sigdelset(&mut wait, SIGINT);
            libc::sigdelset(&mut wait, SIGTERM);
            libc::sigdelset(&mut wait, SIGUSR1);
        }
        Ok(ShutdownSignals {
            requested,
            report,
            wait_mask: SigMask(wait),
        })
    }

    /// Has SIGINT or SIGTERM arrived?
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Ask for shutdown from code (tests, other loops).
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    /// Has SIGUSR1 arrived since the last call? (Clears the request.)
    pub fn take_report_request(&self) -> bool {
        // Checked on every wake-up: a plain load keeps the locked swap for the rare yes.
        self.report.load(Ordering::Relaxed) && self.report.swap(false, Ordering::SeqCst)
    }

    pub(crate) fn wait_mask(&self) -> SigMask {
        self.wait_mask
    }
}

fn empty_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset fully initialises it before any read.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        set
    }
}
