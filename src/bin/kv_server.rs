//! `kv_server PORT`: the key-value server in the lesson's shape (epoll, level-triggered).
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    readyloop::init_logging();
    let cli = readyloop::kv::KvLessonCli::parse();
    readyloop::exit_on_error(
        "kv_server",
        readyloop::kv::kv(reactor::Backend::EpollLevel, cli.port, &cli.opts),
    );
}
