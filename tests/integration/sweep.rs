//! `readyloop sweep` at CI size (2 points, 1 s each): the files appear and show the lesson's
//! shape — poll examines every descriptor per wake-up, epoll only the ready ones.

use std::process::Command;

use crate::util::*;

#[test]
fn tiny_sweep_writes_json_csv_and_plots_with_the_expected_shape() {
    let out = std::env::temp_dir().join(format!("readyloop-sweep-{}", std::process::id()));
    let status = Command::new(readyloop_bin())
        .args(["sweep", "--idle", "0,100", "--duration", "1", "--out"])
        .arg(&out)
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    let json = std::fs::read_to_string(out.join("sweep.json")).unwrap();
    let points: serde_json::Value = serde_json::from_str(&json).unwrap();
    let points = points.as_array().unwrap();
    assert_eq!(points.len(), 6, "2 idle counts x 3 backends: {json}");
    for p in points {
        let backend = p["backend"].as_str().unwrap();
        let idle = p["idle"].as_u64().unwrap();
        let examined = p["examined_per_wakeup"].as_f64().unwrap();
        assert!(p["messages"].as_u64().unwrap() > 0, "{p}");
        assert_eq!(p["errors"].as_u64(), Some(0), "{p}");
        if backend == "poll" {
            // The idle sockets + the listener + the 5 active ones, every wake-up; the last few
            // wake-ups come as the active clients leave, so the average sits just under that.
            assert!(examined >= (idle + 5) as f64, "{p}");
        } else {
            assert!(
                examined <= 6.0,
                "epoll examines only ready descriptors: {p}"
            );
        }
        if idle > 0 {
            assert!(
                p["rss_bytes_per_idle_conn"].as_f64().unwrap() < 1024.0,
                "{p}"
            );
        }
    }
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7, "header + 6 rows: {csv}");
    for svg in ["throughput.svg", "examined.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains("idle connections"),
            "{svg}"
        );
        for b in ["poll", "epoll-lt", "epoll-et"] {
            assert!(text.contains(b), "{svg} lacks the {b} line");
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}
