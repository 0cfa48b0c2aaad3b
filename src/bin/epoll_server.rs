//! `epoll_server PORT`: the lesson's echo server on epoll (level-triggered), as the course runs it.

use clap::Parser;
use reactor::Backend;
use readyloop::serve::{serve, ServerOptions};

#[derive(Parser, Debug)]
#[command(
    name = "epoll_server",
    version,
    about = "RFC 862 echo server on epoll (level-triggered)"
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
    readyloop::exit_on_error(
        "epoll_server",
        serve(Backend::EpollLevel, cli.port, &cli.opts),
    );
}
