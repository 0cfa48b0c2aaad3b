//! Echo server on tokio: one task per connection that reads into a buffer and `write_all`s it
//! back (the shape of tokio's `examples/echo-tcp.rs`).
//!
//! `tokio-echo --port P` uses the multi-thread runtime (one worker per CPU unless
//! `--workers N`); `--current-thread` uses the current-thread runtime.

use std::io;

use readyloop_peers::{announce, parse_args};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;

const USAGE: &str = "tokio-echo --port P [--current-thread] [--workers N]";
/// Bytes per read. Larger than any message the benchmarks send, so one read takes one message.
const BUF: usize = 16 * 1024;

fn main() -> io::Result<()> {
    let args = parse_args(USAGE, &["--current-thread", "--workers"]);
    let mut builder = if args.current_thread {
        Builder::new_current_thread()
    } else {
        let mut b = Builder::new_multi_thread();
        if let Some(n) = args.workers {
            b.worker_threads(n);
        }
        b
    };
    let rt = builder.enable_io().build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(args.addr()).await?;
        announce(listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(c) => c,
                // EMFILE and friends: keep serving the connections we have.
                Err(e) => {
                    eprintln!("accept: {e}");
                    tokio::task::yield_now().await;
                    continue;
                }
            };
            tokio::spawn(serve(stream));
        }
    })
}

async fn serve(mut stream: TcpStream) {
    // Same as readyloop: small echo replies should not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
