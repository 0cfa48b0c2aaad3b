//! `readyloop bench pool`: what the pool buys. L light clients ping-pong `PING` (one in
//! flight each) while H heavy clients keep K `HASH` requests in flight each; for every
//! `--workers` setting and every H the server is restarted, and the light clients' latency
//! percentiles and the heavy jobs/s are recorded, with the server's CPU time from
//! /proc/PID/stat. JSON, CSV and SVG (light p99 vs heavy clients, one line per worker setting).
//!
//! The client is this process, one blocking thread per connection (a handful of threads: the
//! light ones are the measurement, the heavy ones mostly sleep in `read`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use plotters::prelude::*;
use readyloop_harness::proc::ServerProcess;
use serde::Serialize;

use crate::protocol::{digest, push_hex_line};

/// One sweep's settings.
#[derive(Clone, Debug, Serialize)]
pub struct PoolBenchConfig {
    /// The `readyloop` binary to start as the server.
    #[serde(skip)]
    pub server_bin: PathBuf,
    pub backend: String,
    pub light: usize,
    pub heavy: Vec<usize>,
    pub workers: Vec<usize>,
    /// Requests each heavy client keeps in flight.
    pub in_flight: usize,
    pub rounds: u32,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// `taskset -c` list for the server process (loop and, unless `worker_cpus`, workers).
    pub server_cpus: String,
    /// `taskset -p -c` list applied to each worker thread after start.
    pub worker_cpus: Option<String>,
    /// `serve --worker-nice`.
    pub worker_nice: i32,
    /// Names this configuration in the files and the plot.
    pub label: String,
}

/// One (workers, heavy clients) cell.
#[derive(Clone, Debug, Serialize)]
pub struct PoolPoint {
    pub label: String,
    pub workers: usize,
    pub heavy: usize,
    pub light: usize,
    pub in_flight: usize,
    pub rounds: u32,
    pub light_requests: u64,
    pub light_p50_us: u64,
    pub light_p99_us: u64,
    pub light_p999_us: u64,
    pub light_max_us: u64,
    pub heavy_jobs: u64,
    pub heavy_jobs_per_s: f64,
    /// Server CPU seconds (user + system, all threads) during the measured window.
    pub server_cpu_s: f64,
    pub server_cpu_us_per_request: f64,
    /// From the server's final stats line.
    pub pool_completed: u64,
    pub pool_wakes: u64,
}

#[derive(Serialize)]
struct Report<'a> {
    command: String,
    config: &'a PoolBenchConfig,
    /// `digest(rounds)` per second on one thread of this process, nothing else running.
    single_thread_jobs_per_s: f64,
    points: &'a [PoolPoint],
}

/// Run the sweep and write `pool-LABEL.{json,csv,svg}` into `out`.
pub fn run(cfg: &PoolBenchConfig, out: &Path, command: String) -> io::Result<Vec<PoolPoint>> {
    std::fs::create_dir_all(out)?;
    let single = single_thread_rate(cfg.rounds, Duration::from_secs(2));
    eprintln!(
        "single-thread rate: {single:.0} jobs/s of {} rounds",
        cfg.rounds
    );
    let mut points = Vec::new();
    for &w in &cfg.workers {
        for &h in &cfg.heavy {
            let p = run_point(cfg, w, h)?;
            eprintln!(
                "{} workers={w} heavy={h}: light p50 {} us p99 {} us p999 {} us ({} req), heavy {:.0} jobs/s, server CPU {:.2} s, wakes {} / completions {}",
                cfg.label, p.light_p50_us, p.light_p99_us, p.light_p999_us, p.light_requests,
                p.heavy_jobs_per_s, p.server_cpu_s, p.pool_wakes, p.pool_completed
            );
            points.push(p);
        }
    }
    let base = out.join(format!("pool-{}", cfg.label));
    readyloop_harness::report::write_json(
        &base.with_extension("json"),
        &Report {
            command,
            config: cfg,
            single_thread_jobs_per_s: single,
            points: &points,
        },
    )?;
    let mut csv = csv::Writer::from_path(base.with_extension("csv")).map_err(io::Error::other)?;
    for p in &points {
        csv.serialize(p).map_err(io::Error::other)?;
    }
    csv.flush()?;
    if cfg.light > 0 {
        plot(
            &out.join(format!("light-p99-{}.svg", cfg.label)),
            &points,
            &format!("Light-client p99 vs heavy clients ({})", cfg.label),
        )?;
    }
    Ok(points)
}

/// `digest(rounds)` calls per second on this thread.
pub fn single_thread_rate(rounds: u32, for_at_least: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    let mut sink = 0u8;
    while start.elapsed() < for_at_least {
        sink ^= digest(rounds, &n.to_le_bytes())[0];
        n += 1;
    }
    std::hint::black_box(sink);
    n as f64 / start.elapsed().as_secs_f64()
}

fn run_point(cfg: &PoolBenchConfig, workers: usize, heavy: usize) -> io::Result<PoolPoint> {
    let args: Vec<String> = [
        "serve",
        "--backend",
        &cfg.backend,
        "--port",
        "0",
        "--service",
        "digest",
        "--workers",
        &workers.to_string(),
        "--max-in-flight",
        &cfg.in_flight.max(1).to_string(),
        "--max-rounds",
        &cfg.rounds.max(1).to_string(),
        "--worker-nice",
        &cfg.worker_nice.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut server =
        ServerProcess::spawn_with(&["taskset", "-c", &cfg.server_cpus], &cfg.server_bin, &args)?;
    if workers > 0 {
        let tids = wait_workers(server.pid(), workers)?;
        if let Some(cpus) = &cfg.worker_cpus {
            for tid in tids {
                let ok = Command::new("taskset")
                    .args(["-p", "-c", cpus, &tid.to_string()])
                    .stdout(std::process::Stdio::null())
                    .status()?
                    .success();
                if !ok {
                    return Err(io::Error::other(format!(
                        "taskset -p -c {cpus} {tid} failed"
                    )));
                }
            }
        }
    }
    let addr = server.addr;
    let warmup = Duration::from_secs_f64(cfg.warmup_s);
    let measure = Duration::from_secs_f64(cfg.duration_s);
    let barrier = Arc::new(Barrier::new(cfg.light + heavy + 1));
    let light: Vec<_> = (0..cfg.light)
        .map(|_| {
            let b = Arc::clone(&barrier);
            std::thread::spawn(move || light_client(addr, &b, warmup, measure))
        })
        .collect();
    let heavy_threads: Vec<_> = (0..heavy)
        .map(|i| {
            let b = Arc::clone(&barrier);
            let (k, rounds) = (cfg.in_flight, cfg.rounds);
            std::thread::spawn(move || heavy_client(addr, &b, warmup, measure, k, rounds, i))
        })
        .collect();
    barrier.wait();
    std::thread::sleep(warmup);
    let cpu0 = server.cpu_ticks()?;
    std::thread::sleep(measure);
    let cpu1 = server.cpu_ticks()?;
    let mut hist = Histogram::<u64>::new(3).map_err(io::Error::other)?;
    for t in light {
        let h = t
            .join()
            .map_err(|_| io::Error::other("light client panicked"))??;
        hist.add(&h).map_err(io::Error::other)?;
    }
    let mut jobs = 0;
    for t in heavy_threads {
        jobs += t
            .join()
            .map_err(|_| io::Error::other("heavy client panicked"))??;
    }
    server.signal(rustix::process::Signal::TERM)?;
    server.wait_exit(Duration::from_secs(30))?;
    let fin = server.final_stats().unwrap_or_default();
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let cpu_s = (cpu1 - cpu0) as f64 / ticks;
    let requests = hist.len() + jobs;
    Ok(PoolPoint {
        label: cfg.label.clone(),
        workers,
        heavy,
        light: cfg.light,
        in_flight: cfg.in_flight,
        rounds: cfg.rounds,
        light_requests: hist.len(),
        light_p50_us: hist.value_at_quantile(0.5),
        light_p99_us: hist.value_at_quantile(0.99),
        light_p999_us: hist.value_at_quantile(0.999),
        light_max_us: hist.max(),
        heavy_jobs: jobs,
        heavy_jobs_per_s: jobs as f64 / measure.as_secs_f64(),
        server_cpu_s: cpu_s,
        server_cpu_us_per_request: if requests == 0 {
            0.0
        } else {
            cpu_s * 1e6 / requests as f64
        },
        pool_completed: fin.get("pool_completed") as u64,
        pool_wakes: fin.get("pool_wakes") as u64,
    })
}

/// The worker threads' ids, once all `n` exist (they start with the loop, just after the
/// "listening on" line).
fn wait_workers(pid: u32, n: usize) -> io::Result<Vec<u32>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut tids = Vec::new();
        for e in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let e = e?;
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            if comm.starts_with("readyloop-worke") {
                tids.extend(e.file_name().to_str().and_then(|t| t.parse::<u32>().ok()));
            }
        }
        if tids.len() == n {
            return Ok(tids);
        }
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "{} of {n} workers started",
                tids.len()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    Ok(s)
}

/// PING/PONG one at a time; latencies of the requests sent inside the measured window.
fn light_client(
    addr: SocketAddr,
    start: &Barrier,
    warmup: Duration,
    measure: Duration,
) -> io::Result<Histogram<u64>> {
    let mut s = connect(addr)?;
    let mut h = Histogram::<u64>::new(3).map_err(io::Error::other)?;
    h.auto(true);
    let mut reply = [0u8; 5];
    start.wait();
    let t0 = Instant::now();
    let (from, until) = (t0 + warmup, t0 + warmup + measure);
    loop {
        let sent = Instant::now();
        if sent >= until {
            return Ok(h);
        }
        s.write_all(b"PING\n")?;
        s.read_exact(&mut reply)?;
        if &reply != b"PONG\n" {
            return Err(io::Error::other(format!("light client got {reply:?}")));
        }
        if sent >= from {
            let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
            h.record(us.max(1)).map_err(io::Error::other)?;
        }
    }
}

/// Keep `k` HASH requests in flight; count the replies that arrive inside the window. The
/// first reply is checked against a local digest, every one for shape.
fn heavy_client(
    addr: SocketAddr,
    start: &Barrier,
    warmup: Duration,
    measure: Duration,
    k: usize,
    rounds: u32,
    id: usize,
) -> io::Result<u64> {
    let mut s = connect(addr)?;
    let text = format!("heavy client {id}");
    let req = format!("HASH {rounds} {text}\n");
    let mut want = Vec::new();
    push_hex_line(&mut want, &digest(rounds, text.as_bytes()));
    let mut reply = [0u8; 65];
    start.wait();
    let t0 = Instant::now();
    let (from, until) = (t0 + warmup, t0 + warmup + measure);
    let burst = req.repeat(k.max(1));
    s.write_all(burst.as_bytes())?;
    let mut owed = k.max(1);
    let (mut counted, mut first) = (0u64, true);
    while owed > 0 {
        s.read_exact(&mut reply)?;
        owed -= 1;
        if (first && reply[..] != want[..]) || reply[64] != b'\n' {
            return Err(io::Error::other(format!(
                "heavy client {id} got {:?}",
                String::from_utf8_lossy(&reply)
            )));
        }
        first = false;
        let now = Instant::now();
        if now >= from && now < until {
            counted += 1;
        }
        if now < until {
            s.write_all(req.as_bytes())?;
            owed += 1;
        }
    }
    Ok(counted)
}

const COLORS: [RGBColor; 4] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Light p99 (log scale) against heavy clients, one line per worker setting.
fn plot(path: &Path, points: &[PoolPoint], title: &str) -> io::Result<()> {
    let err = |e: String| io::Error::other(format!("plotting {}: {e}", path.display()));
    let x_max = points.iter().map(|p| p.heavy).max().unwrap_or(1).max(1) as f64;
    let y_max = points
        .iter()
        .map(|p| p.light_p99_us as f64)
        .fold(10.0f64, f64::max)
        * 2.0;
    let y_min = points
        .iter()
        .map(|p| p.light_p99_us as f64)
        .fold(f64::MAX, f64::min)
        .clamp(1.0, 1e9)
        / 2.0;
    let mut settings: Vec<usize> = points.iter().map(|p| p.workers).collect();
    settings.dedup();
    settings.sort_unstable();
    settings.dedup();
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.2f64..x_max * 1.05, (y_min..y_max).log_scale())
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("heavy clients")
        .y_desc("light-client p99 latency, µs (log)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, &w) in settings.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.workers == w)
            .map(|p| (p.heavy as f64, (p.light_p99_us as f64).max(1.0)))
            .collect();
        let name = if w == 0 {
            "--workers 0 (HASH inline)".to_string()
        } else {
            format!("--workers {w}")
        };
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(name)
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
        .position(SeriesLabelPosition::MiddleRight)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}
