//! SIGINT/SIGTERM without a descriptor: a handler sets a flag, the signals stay blocked except
//! inside the wait syscall (`epoll_pwait`/`ppoll` swap the mask atomically), so a signal that
//! lands while the loop is busy is delivered the moment it next sleeps — never lost in the gap
//! between "check the flag" and "block". A second signal exits at once (status 1).
//! Every other thread must block them too (see [`ShutdownSignals::install`]).
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
    /// Install the handlers and block SIGINT/SIGTERM/SIGUSR1 in the calling thread (threads
    /// spawned afterwards inherit the block). Pass the result to
    /// [`Poller::unblock_during_wait`](crate::Poller::unblock_during_wait).
    ///
    /// Refuses (before installing anything) while another thread of the process leaves
    /// SIGINT or SIGTERM unblocked: the kernel delivers a process-directed signal to any thread
    /// that does not block it, so that thread would run the handler and the loop, asleep in
    /// its wait, would never wake. Call this first thing in `main`, before any thread starts
    /// (worker threads block the signals themselves with [`block_shutdown_signals`]).
    pub fn install() -> io::Result<ShutdownSignals> {
        if let Some((tid, name)) = thread_taking_shutdown_signals()? {
            return Err(io::Error::other(format!(
                "thread {tid} ('{name}') was started before ShutdownSignals::install and does not \
                 block SIGINT/SIGTERM: a shutdown signal delivered to it would never wake the loop"
            )));
        }
        let requested = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            // Order matters: the conditional exit sees the flag as it was *before* this signal.
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&requested))?;
            signal_hook::flag::register(sig, Arc::clone(&requested))?;
        }
        let report = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGUSR1, Arc::clone(&report))?;
        let old = change_mask(libc::SIG_BLOCK)?;
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

    /// Has SIGUSR1 arrived since the last call? (Clears the request.)
    pub fn take_report_request(&self) -> bool {
        // Checked on every wake-up: a plain load keeps the locked swap for the rare yes.
        self.report.load(Ordering::Relaxed) && self.report.swap(false, Ordering::SeqCst)
    }

    /// Are SIGINT and SIGTERM blocked in the calling thread (as a loop thread needs them, so
    /// that they arrive only inside its wait)?
    pub fn blocked_in_this_thread() -> io::Result<bool> {
        let mut cur = empty_set();
        // SAFETY: a null new set only queries; `cur` is an initialised sigset_t we own.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: `cur` is an initialised sigset_t.
        Ok(
            unsafe {
                libc::sigismember(&cur, SIGINT) == 1 && libc::sigismember(&cur, SIGTERM) == 1
            },
        )
    }

    pub(crate) fn wait_mask(&self) -> SigMask {
        self.wait_mask
    }
}

/// Block SIGINT, SIGTERM and SIGUSR1 in the calling thread, for threads that are not event
/// loops (worker pools): a process-directed signal must reach a loop, which unblocks them only
/// while it waits, never a worker that would run the handler while the loop sleeps on.
pub fn block_shutdown_signals() -> io::Result<()> {
    change_mask(libc::SIG_BLOCK).map(|_| ())
}

/// Apply `how` with {SIGINT, SIGTERM, SIGUSR1} to this thread's mask; returns the old mask.
fn change_mask(how: libc::c_int) -> io::Result<libc::sigset_t> {
    let mut set = empty_set();
    let mut old = empty_set();
    // SAFETY: both sets are initialised sigset_t values owned by this frame.
    let rc = unsafe {
        libc::sigaddset(&mut set, SIGINT);
        libc::sigaddset(&mut set, SIGTERM);
        libc::sigaddset(&mut set, SIGUSR1);
        libc::pthread_sigmask(how, &set, &mut old)
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(old)
}

/// Another thread of this process that does not block SIGINT or SIGTERM: (tid, name).
fn thread_taking_shutdown_signals() -> io::Result<Option<(u32, String)>> {
    let me = std::fs::read_link("/proc/thread-self")?;
    let me = me.file_name().and_then(|n| n.to_str()).unwrap_or("");
    for entry in std::fs::read_dir("/proc/self/task")? {
        let entry = entry?;
        let tid = entry.file_name().to_string_lossy().into_owned();
        if tid == me {
            continue;
        }
        // The thread may have exited since the listing: skip it.
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        // A thread that has finished (joined, but not yet released from /proc/self/task) can
        // no longer be picked for a process signal: the kernel skips exiting threads.
        if !is_exited(&status) && !blocks_shutdown_signals(&status) {
            let name = status
                .lines()
                .find_map(|l| l.strip_prefix("Name:"))
                .unwrap_or("")
                .trim()
                .to_string();
            return Ok(Some((tid.parse().unwrap_or(0), name)));
        }
    }
    Ok(None)
}

/// Does a /proc/PID/task/TID/status text show a zombie or dead thread?
fn is_exited(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .is_some_and(|s| matches!(s.trim_start().chars().next(), Some('Z' | 'X')))
}

/// Does a /proc/PID/task/TID/status text show SIGINT and SIGTERM in `SigBlk`?
fn blocks_shutdown_signals(status: &str) -> bool {
    let blocked = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    let bit = |sig: i32| 1u64 << (sig - 1);
    blocked & bit(SIGINT) != 0 && blocked & bit(SIGTERM) != 0
}

fn empty_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset fully initialises it before any read.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigblk_mask_is_read_per_signal() {
        // SIGINT is bit 1, SIGTERM bit 14 (signal n is bit n-1).
        assert!(blocks_shutdown_signals(
            "Name:\tx\nSigBlk:\t0000000000004002\n"
        ));
        assert!(!blocks_shutdown_signals("SigBlk:\t0000000000000002\n"));
        assert!(!blocks_shutdown_signals("SigBlk:\t0000000000004000\n"));
        assert!(!blocks_shutdown_signals("no mask here"));
    }

    #[test]
    fn zombie_and_dead_threads_are_not_counted_as_signal_takers() {
        assert!(is_exited("Name:\tw\nState:\tZ (zombie)\nSigBlk:\t0\n"));
        assert!(is_exited("State:\tX (dead)\n"));
        assert!(!is_exited("State:\tS (sleeping)\n"));
        assert!(!is_exited("State:\tR (running)\n"));
        assert!(!is_exited("no state"));
    }

    /// The hazard: a thread started before `install` takes SIGTERM and the
    /// loop never wakes. `install` must refuse while such a thread exists.
    #[test]
    fn install_refuses_while_a_thread_leaves_sigterm_unblocked() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name("early-bird".into())
            .spawn(move || {
                // A new thread inherits its creator's mask, and the test harness's worker
                // thread may have blocked the signals in an earlier test: unblock them, so
                // this thread really is one that takes SIGTERM.
                change_mask(libc::SIG_UNBLOCK).unwrap();
                ready_tx.send(()).unwrap();
                let _ = rx.recv();
            })
            .unwrap();
        ready_rx.recv().unwrap();
        let err = ShutdownSignals::install().expect_err("must refuse");
        drop(tx);
        t.join().unwrap();
        assert!(
            err.to_string().contains("does not block SIGINT/SIGTERM"),
            "{err}"
        );
    }

    #[test]
    fn block_shutdown_signals_blocks_them_in_this_thread() {
        std::thread::spawn(|| {
            assert!(!ShutdownSignals::blocked_in_this_thread().unwrap());
            block_shutdown_signals().unwrap();
            assert!(ShutdownSignals::blocked_in_this_thread().unwrap());
        })
        .join()
        .unwrap();
    }
}
