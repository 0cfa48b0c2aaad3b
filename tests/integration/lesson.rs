//! The course lesson's Test, Prove and Proof sections, run as written against our binaries.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::*;

/// The lesson's Proof, verbatim apart from the port:
/// `for i in $(seq 1 10); do echo "ping $i" | nc -q1 localhost PORT & done; wait`
/// then its Prove: `ls /proc/$(pgrep ...)/fd | wc -l` is stdin+stdout+stderr+listener(+epoll).
fn lesson_proof(server: &ServerProcess, expected_fds: usize) {
    require_nc();
    let port = server.addr.port();
    let script = format!(
        r#"for i in $(seq 1 10); do echo "ping $i" | nc -q1 localhost {port} > "$OUT/$i" & done
wait
echo "All 10 clients served""#
    );
    let dir = std::env::temp_dir().join(format!("readyloop-proof-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("OUT", &dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "All 10 clients served"
    );
    for i in 1..=10 {
        let got = std::fs::read_to_string(dir.join(i.to_string())).unwrap();
        assert_eq!(got, format!("ping {i}\n"), "client {i} got {got:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let n = server
        .wait_fd_count(expected_fds, Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        n,
        expected_fds,
        "after all clients left: {:?}",
        server.fds().unwrap()
    );
}

fn spawn_lesson_binary(path: &Path) -> ServerProcess {
    ServerProcess::spawn(path, &["0".to_string()]).expect("server starts")
}

#[test]
fn epoll_server_passes_the_lesson_proof_with_exactly_5_fds() {
    let server = spawn_lesson_binary(Path::new(env!("CARGO_BIN_EXE_epoll_server")));
    let fds = server.fds().unwrap();
    assert_eq!(
        fds.len(),
        5,
        "stdin, stdout, stderr, listener, epoll: {fds:?}"
    );
    assert!(fds.iter().any(|(_, t)| t.contains("eventpoll")), "{fds:?}");
    lesson_proof(&server, 5);
}

#[test]
fn poll_server_passes_the_lesson_proof_with_exactly_4_fds() {
    let server = spawn_lesson_binary(Path::new(env!("CARGO_BIN_EXE_poll_server")));
    lesson_proof(&server, 4);
}

each_backend!(lesson_proof_on_every_backend, |b| {
    let server = serve(b, &[]);
    lesson_proof(&server, baseline_fds(b));
});

// The lesson's Test: five `echo "hello from $i" | nc -q1` clients, all answered.
each_backend!(lesson_test_five_clients_half_close_get_their_line, |b| {
    require_nc();
    let server = serve(b, &[]);
    let port = server.addr.port();
    for i in 1..=5 {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("echo 'hello from {i}' | nc -q1 localhost {port}"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("hello from {i}\n")
        );
    }
});
