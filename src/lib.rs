//! Command-line front end shared by the `readyloop`, `epoll_server` and `poll_server` binaries.
#![forbid(unsafe_code)]

pub mod digest;
pub mod kv;
pub mod redislog;
pub mod serve;
pub mod tools;

/// Log to stderr; `RUST_LOG` overrides the default level (info).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Run `f`; on error print one line `NAME: error: ...` (causes joined with ": ") and exit 1.
pub fn exit_on_error(name: &str, result: anyhow::Result<()>) {
    if let Err(e) = result {
        eprintln!("{name}: error: {e:#}");
        std::process::exit(1);
    }
}
