//! Servers run in-process, on a thread, stopped with a `StopHandle`: for services that exist
//! only in tests (a fault-injecting echo) and for the stop handle itself.

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use reactor::Backend;
use readyloop_server::{Config, ConnInfo, Ctx, Server, Service, Stats, StopHandle};

/// Echo that damages exactly one byte of every connection's stream, at stream offset `at`:
/// flips a bit of it, or drops it. The harness must catch and locate it.
#[derive(Debug, Clone, Copy)]
pub struct FaultyEcho {
    pub at: u64,
    pub drop: bool,
}

impl Service for FaultyEcho {
    /// Bytes of this connection's stream seen so far.
    type Session = u64;

    fn open(&mut self, _: &ConnInfo, _: &mut Ctx<'_>) -> u64 {
        0
    }

    fn serve(&mut self, seen: &mut u64, input: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let start = *seen;
        let end = start + input.len() as u64;
        *seen = end;
        let out = ctx.out();
        if (start..end).contains(&self.at) {
            let i = (self.at - start) as usize;
            out.extend_from_slice(&input[..i]);
            if !self.drop {
                out.push(input[i] ^ 0x20);
            }
            out.extend_from_slice(&input[i + 1..]);
        } else {
            out.extend_from_slice(input);
        }
        input.len()
    }
}

/// A server loop on its own thread.
pub struct InProc<S: Service> {
    pub addr: SocketAddr,
    pub stop: StopHandle,
    handle: Option<JoinHandle<std::io::Result<Stats>>>,
    _service: std::marker::PhantomData<fn() -> S>,
}

/// Bind `service` on 127.0.0.1, port 0, and run it on a thread. `tweak` adjusts the config.
pub fn start<S>(backend: Backend, service: S, tweak: impl FnOnce(&mut Config)) -> InProc<S>
where
    S: Service + Send + 'static,
    S::Session: Send,
{
    let mut cfg = Config::new(backend, "127.0.0.1:0".parse().unwrap());
    tweak(&mut cfg);
    let mut server = Server::bind(cfg, service).expect("bind");
    let addr = server.local_addr();
    let stop = server.stop_handle().expect("stop handle");
    let handle = std::thread::Builder::new()
        .name(format!("loop-{backend}"))
        .spawn(move || server.run())
        .expect("loop thread");
    InProc {
        addr,
        stop,
        handle: Some(handle),
        _service: std::marker::PhantomData,
    }
}

impl<S: Service> InProc<S> {
    /// Stop it and wait (at most `within`) for the loop to drain and return.
    pub fn finish(mut self, within: Duration) -> Stats {
        self.stop.stop();
        let h = self.handle.take().expect("not finished yet");
        let deadline = std::time::Instant::now() + within;
        while !h.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the loop did not return within {within:?} of stop()"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        h.join().expect("loop thread").expect("run")
    }
}

impl<S: Service> Drop for InProc<S> {
    fn drop(&mut self) {
        // A failed test must not leave a loop serving on a thread for the rest of the run.
        if let Some(h) = self.handle.take() {
            self.stop.stop();
            let _ = h.join();
        }
    }
}
