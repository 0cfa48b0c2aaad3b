//! Single-threaded echo server on mio, in the style of mio's `examples/tcp_server.rs`: one
//! `Poll`, one `Events`, a `Token` per connection, edge-triggered registration for reading and
//! writing, read until `WouldBlock`, write back at once, and keep what the kernel would not
//! take until the socket reports writable again.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use readyloop_peers::{announce, parse_args};

const USAGE: &str = "mio-echo --port P";
const LISTENER: Token = Token(0);
/// Bytes per read.
const BUF: usize = 16 * 1024;

struct Conn {
    stream: TcpStream,
    /// Echo bytes not yet written: `pending[pos..]`.
    pending: Vec<u8>,
    pos: usize,
}

impl Conn {
    /// Write `pending[pos..]` until done or `WouldBlock`. Err means close.
    fn flush(&mut self) -> io::Result<()> {
        while self.pos < self.pending.len() {
            match self.stream.write(&self.pending[self.pos..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pending.clear();
        self.pos = 0;
        Ok(())
    }

    /// Echo `data`: write it through if nothing is queued, queue whatever is left.
    fn echo(&mut self, data: &[u8]) -> io::Result<()> {
        let mut off = 0;
        if self.pos == self.pending.len() {
            while off < data.len() {
                match self.stream.write(&data[off..]) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) => off += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.pending.extend_from_slice(&data[off..]);
        Ok(())
    }

    /// Read until `WouldBlock` (edge-triggered), echoing each chunk. Ok(true) means the peer
    /// closed (or failed) and the connection should go once its output is flushed.
    fn read_all(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Ok(true),
                Ok(n) => self.echo(&buf[..n])?,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn main() -> io::Result<()> {
    let args = parse_args(USAGE, &[]);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind(args.addr())?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    announce(listener.local_addr()?);

    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next = 1usize;
    let mut buf = vec![0u8; BUF];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                // Edge-triggered: accept until WouldBlock.
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let token = Token(next);
                            next += 1;
                            poll.registry().register(
                                &mut stream,
                                token,
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns.insert(token, Conn { stream, pending: Vec::new(), pos: 0 });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            eprintln!("accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let token = event.token();
            let Some(conn) = conns.get_mut(&token) else { continue };
            let mut done = false;
            if event.is_writable() {
                done |= conn.flush().is_err();
            }
            if !done && event.is_readable() {
                done = conn.read_all(&mut buf).unwrap_or(true);
            }
            if done {
                if let Some(mut c) = conns.remove(&token) {
                    let _ = c.flush(); // best effort for what the peer is owed
                    let _ = poll.registry().deregister(&mut c.stream);
                }
            }
        }
    }
}
