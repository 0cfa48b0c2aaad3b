//! The scaling sweep: does a backend's cost per wake-up grow with connections that do nothing?
//!
//! For each idle count N (outer loop) and each backend (inner loop, so the machine's noise falls
//! on every backend alike) it starts the server as a child process, opens N idle connections,
//! measures the server's RSS per idle connection, then lets K active clients ping-pong for a
//! while and records throughput, latency, and — from the server's own counters, snapshotted
//! with SIGUSR1 around the active window — wake-ups, descriptors examined per wake-up,
//! syscalls per message and server CPU per message.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use plotters::prelude::*;
use reactor::Backend;
use rustix::process::Signal;
use serde::Serialize;

use crate::proc::ServerProcess;

/// What the active clients measured in one point.
#[derive(Clone, Debug, Default)]
pub struct ActiveResult {
    /// Messages echoed (and verified) in the window.
    pub messages: u64,
    /// Messages per second.
    pub throughput_msgs_per_s: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// Connections that failed verification or errored.
    pub errors: u64,
}

/// Drives K active connections of `size`-byte messages against `addr` for `duration`.
pub type ActiveLoad<'a> =
    dyn Fn(SocketAddr, usize, usize, Duration) -> io::Result<ActiveResult> + 'a;

/// Sweep settings.
#[derive(Clone, Debug)]
pub struct SweepConfig {
    /// The `readyloop` executable (run as `serve --backend B --port 0`).
    pub program: PathBuf,
    /// Backends to compare.
    pub backends: Vec<Backend>,
    /// Idle connection counts.
    pub idle: Vec<usize>,
    /// Active ping-pong connections.
    pub active: usize,
    /// Message size, bytes.
    pub size: usize,
    /// Active window per point.
    pub duration: Duration,
    /// Where sweep.json, sweep.csv and the SVGs go.
    pub out: PathBuf,
}

/// One (backend, idle) measurement.
#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    /// `poll`, `epoll-lt`, `epoll-et`.
    pub backend: String,
    /// Idle connections held open.
    pub idle: usize,
    /// Active connections.
    pub active: usize,
    /// Message size, bytes.
    pub size: usize,
    /// Messages per second.
    pub throughput_msgs_per_s: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// Messages in the window.
    pub messages: u64,
    /// Failed connections (must be 0).
    pub errors: u64,
    /// Server wake-ups in the window.
    pub wakeups: f64,
    /// Events returned per wake-up.
    pub events_per_wakeup: f64,
    /// Descriptors examined per wake-up (poll: all registered; epoll: those returned).
    pub examined_per_wakeup: f64,
    /// Server syscalls (wait, ctl, accept, recv, send) per echoed message.
    pub syscalls_per_msg: f64,
    /// Server CPU time per echoed message, µs (from /proc, 10 ms ticks: coarse for short runs).
    pub server_cpu_us_per_msg: f64,
    /// Server RSS before the idle connections, bytes.
    pub rss_before_idle: u64,
    /// Server RSS with them open, bytes.
    pub rss_with_idle: u64,
    /// (rss_with_idle - rss_before_idle) / idle.
    pub rss_bytes_per_idle_conn: f64,
}

/// Clock ticks per second for /proc/PID/stat times (USER_HZ is 100 on Linux for every arch
/// that matters here).
const TICKS_PER_SEC: f64 = 100.0;

/// Run the sweep, write sweep.json, sweep.csv, throughput.svg and examined.svg into `out`.
/// `progress` is told about each point as it finishes.
pub fn run(
    cfg: &SweepConfig,
    load: &ActiveLoad<'_>,
    progress: &mut dyn FnMut(&SweepPoint),
) -> io::Result<Vec<SweepPoint>> {
    fs::create_dir_all(&cfg.out)?;
    let mut points = Vec::new();
    for &idle in &cfg.idle {
        for &backend in &cfg.backends {
            let p = measure(cfg, backend, idle, load)?;
            progress(&p);
            points.push(p);
        }
    }
    write_outputs(&cfg.out, &points)?;
    Ok(points)
}

fn measure(
    cfg: &SweepConfig,
    backend: Backend,
    idle: usize,
    load: &ActiveLoad<'_>,
) -> io::Result<SweepPoint> {
    let args: Vec<String> = ["serve", "--backend", backend.name(), "--port", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut server = ServerProcess::spawn(&cfg.program, &args)?;
    let base_fds = server.fd_count()?;
    let rss_before_idle = server.rss_bytes()?;
    let mut held = Vec::with_capacity(idle);
    for _ in 0..idle {
        held.push(TcpStream::connect(server.addr)?);
    }
    let got = server.wait_fd_count(base_fds + idle, Duration::from_secs(30))?;
    if got != base_fds + idle {
        return Err(io::Error::other(format!(
            "server holds {got} fds, expected {}",
            base_fds + idle
        )));
    }
    std::thread::sleep(Duration::from_millis(200));
    let rss_with_idle = server.rss_bytes()?;
    let before = server.stats_snapshot(Duration::from_secs(5))?;
    let cpu_before = server.cpu_ticks()?;
    let result = load(server.addr, cfg.active, cfg.size, cfg.duration)?;
    let cpu = server.cpu_ticks()? - cpu_before;
    let d = server
        .stats_snapshot(Duration::from_secs(5))?
        .since(&before);
    drop(held);
    server.signal(Signal::TERM)?;
    let _ = server.wait_exit(Duration::from_secs(10))?;
    let per = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let msgs = result.messages as f64;
    // The server's own `syscalls=` total (its one counter table decides what it counts); the
    // key is required so a renamed counter fails loudly instead of reading as 0.
    if !d.0.contains_key("syscalls") {
        return Err(io::Error::other("the server's stats line has no syscalls="));
    }
    let syscalls = d.get("syscalls");
    Ok(SweepPoint {
        backend: backend.name().to_string(),
        idle,
        active: cfg.active,
        size: cfg.size,
        throughput_msgs_per_s: result.throughput_msgs_per_s,
        p50_us: result.p50_us,
        p99_us: result.p99_us,
        messages: result.messages,
        errors: result.errors,
        wakeups: d.get("wakeups"),
        events_per_wakeup: per(d.get("events"), d.get("wakeups")),
        examined_per_wakeup: per(d.get("examined"), d.get("wakeups")),
        syscalls_per_msg: per(syscalls, msgs),
        server_cpu_us_per_msg: per(cpu as f64 * 1e6 / TICKS_PER_SEC, msgs),
        rss_before_idle,
        rss_with_idle,
        rss_bytes_per_idle_conn: per(
            rss_with_idle.saturating_sub(rss_before_idle) as f64,
            idle as f64,
        ),
    })
}

fn write_outputs(out: &Path, points: &[SweepPoint]) -> io::Result<()> {
    crate::report::write_json(&out.join("sweep.json"), &points)?;
    let mut csv = csv::Writer::from_path(out.join("sweep.csv")).map_err(io::Error::other)?;
    for p in points {
        csv.serialize(p).map_err(io::Error::other)?;
    }
    csv.flush()?;
    plot(
        &out.join("throughput.svg"),
        points,
        "Throughput vs idle connections",
        "responses/s",
        false,
        |p| p.throughput_msgs_per_s,
    )?;
    plot(
        &out.join("examined.svg"),
        points,
        "Descriptors examined per wake-up vs idle connections",
        "descriptors examined per wake-up (log)",
        true,
        |p| p.examined_per_wakeup,
    )
}

const COLORS: [RGBColor; 3] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
];

/// One line per backend: `value(point)` against idle connections.
fn plot(
    path: &Path,
    points: &[SweepPoint],
    title: &str,
    y_label: &str,
    log_y: bool,
    value: impl Fn(&SweepPoint) -> f64,
) -> io::Result<()> {
    let err = |e: String| io::Error::other(format!("plotting {}: {e}", path.display()));
    let x_max = points.iter().map(|p| p.idle).max().unwrap_or(1).max(1) as f64;
    let y_max = points.iter().map(&value).fold(1.0f64, f64::max) * 1.15;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    // In order of first appearance, so a backend keeps its colour from plot to plot.
    let mut backends: Vec<&str> = Vec::new();
    for p in points {
        if !backends.contains(&p.backend.as_str()) {
            backends.push(&p.backend);
        }
    }
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80);
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc("idle connections")
                .y_desc(y_label)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| format!("{y:.0}"))
                .draw()
                .map_err(|e| err(e.to_string()))?;
            for (i, b) in backends.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let series: Vec<(f64, f64)> = points
                    .iter()
                    .filter(|p| p.backend == *b)
                    .map(|p| (p.idle as f64, value(p).max(if log_y { 0.1 } else { 0.0 })))
                    .collect();
                chart
                    .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
                    .map_err(|e| err(e.to_string()))?
                    .label(*b)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(
                        series
                            .into_iter()
                            .map(|(x, y)| Circle::new((x, y), 4, color.filled())),
                    )
                    .map_err(|e| err(e.to_string()))?;
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                // Clear of poll's last point, top right in both plots.
                .position(SeriesLabelPosition::MiddleRight)
                .draw()
                .map_err(|e| err(e.to_string()))?;
        }};
    }
    if log_y {
        draw!(builder
            .build_cartesian_2d(0f64..x_max * 1.02, (0.1f64..y_max.max(10.0)).log_scale())
            .map_err(|e| err(e.to_string()))?);
    } else {
        draw!(builder
            .build_cartesian_2d(0f64..x_max * 1.02, 0f64..y_max)
            .map_err(|e| err(e.to_string()))?);
    }
    root.present().map_err(|e| err(e.to_string()))
}
