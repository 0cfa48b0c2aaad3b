//! `poll_server PORT`: the lesson's echo server on poll(2), as the course runs it.

use clap::Parser;
use reactor::Backend;
use readyloop::serve::{serve, ServerOptions};

#[derive(Parser, Debug)]
#[command(
    name = "poll_server",
    version,
    about = "RFC 862 echo server on poll(2)"
)]
struct Cli {
    /// TCP port to listen on.
    port: u16,

    #[command(flatten)]
    opts: ServerOptions,
}

fn main() {
    readyloop::init_logging();
    let cli = Cli::parse();
    readyloop::exit_on_error("poll_server", serve(Backend::Poll, cli.port, &cli.opts));
}
