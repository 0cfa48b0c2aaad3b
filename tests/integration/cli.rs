//! Command-line behaviour: help, clear one-line errors, non-zero exits.

use std::path::Path;
use std::process::Command;

use crate::util::*;

fn bins() -> [&'static Path; 3] {
    [
        readyloop_bin(),
        Path::new(env!("CARGO_BIN_EXE_epoll_server")),
        Path::new(env!("CARGO_BIN_EXE_poll_server")),
    ]
}

#[test]
fn help_works_on_every_binary() {
    for bin in bins() {
        let out = run_cmd(bin, &["--help"]);
        assert!(out.status.success(), "{bin:?} --help failed");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{text}");
        let expect = if bin == readyloop_bin() {
            "serve"
        } else {
            "--max-clients"
        };
        assert!(text.contains(expect), "{bin:?}: {text}");
        assert!(!text.contains("--fault"), "test-only flags: {text}");
    }
    // The fault-injecting echo lives in the tests (tests/integration/inproc.rs), not in the
    // product: its old flags are unknown arguments now.
    let out = run_cmd(readyloop_bin(), &["serve", "--fault-corrupt-at", "1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = run_cmd(readyloop_bin(), &["serve", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--backend",
        "--port",
        "--bind",
        "--max-clients",
        "--idle-timeout",
        "--shutdown-timeout",
    ] {
        assert!(text.contains(flag), "serve --help lacks {flag}: {text}");
    }
}

#[test]
fn unknown_backend_is_a_clear_error() {
    let out = run_cmd(readyloop_bin(), &["serve", "--backend", "kqueue"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown backend 'kqueue'"), "{err}");
}

#[test]
fn port_in_use_is_a_one_line_error_and_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for bin in bins() {
        let args: Vec<&str> = if bin == readyloop_bin() {
            vec!["serve", "--port", &port]
        } else {
            vec![&port]
        };
        let out = Command::new(bin)
            .args(&args)
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{bin:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(&format!("cannot listen on 127.0.0.1:{port}"))
                && err.to_lowercase().contains("in use"),
            "{err}"
        );
    }
}

#[test]
fn missing_port_for_lesson_binary_is_a_usage_error() {
    let out = run_cmd(Path::new(env!("CARGO_BIN_EXE_epoll_server")), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("<PORT>"));
}
