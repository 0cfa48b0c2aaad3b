//! `kv_server PORT [--directive value ...]`: the key-value server in the lesson's shape
//! (epoll, level-triggered).
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(readyloop::kv::kv_server_main(&args));
}
