//! The log of `readyloop kv` in redis-server's format, which operators' tools and Redis's
//! test suite read: `PID:M DD Mon YYYY HH:MM:SS.mmm C message`, C being `.` debug, `-`
//! verbose, `*` notice, `#` warning. `loglevel` maps onto tracing's levels (warning = WARN,
//! notice = INFO, verbose = DEBUG, debug = TRACE); the log goes to a file opened for append,
//! standard output (`logfile ""`), or standard error (no `logfile` at all: how this server
//! has always logged). What it may not touch: what is logged (callers decide).

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Where the log goes.
pub enum Target {
    Stderr,
    Stdout,
    File(std::fs::File),
}

struct RedisFormat {
    pid: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day) of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `03 Dec 2026 07:39:34.123` (UTC).
pub fn timestamp(now: SystemTime) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{day:02} {} {y} {:02}:{:02}:{:02}.{:03}",
        MONTHS[(m - 1) as usize],
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        d.subsec_millis()
    )
}

fn level_char(l: &Level) -> char {
    match *l {
        Level::ERROR | Level::WARN => '#',
        Level::INFO => '*',
        Level::DEBUG => '-',
        Level::TRACE => '.',
    }
}

impl<S, N> FormatEvent<S, N> for RedisFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(
            w,
            "{}:M {} {} ",
            self.pid,
            timestamp(SystemTime::now()),
            level_char(event.metadata().level())
        )?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// The tracing filter for a Redis `loglevel`. Below notice, only this program's own crates
/// log at the finer levels (the event loop's per-connection debug lines would drown the rest).
pub fn filter_for(loglevel: &str) -> String {
    match loglevel {
        "warning" => "warn".into(),
        "verbose" => "info,readyloop::kv=debug,readyloop_kv=debug".into(),
        "debug" => "info,readyloop::kv=trace,readyloop_kv=trace,readyloop_server=debug".into(),
        _ => "info".into(),
    }
}

/// Install the Redis-format log (once per process). `RUST_LOG` still overrides the level.
pub fn init(target: Target, loglevel: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter_for(loglevel)));
    let fmt = RedisFormat {
        pid: std::process::id(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .event_format(fmt);
    let _ = match target {
        Target::Stderr => builder.with_writer(std::io::stderr).try_init(),
        Target::Stdout => builder.with_writer(std::io::stdout).try_init(),
        Target::File(f) => builder.with_writer(Mutex::new(LineFile(f))).try_init(),
    };
}

/// A log file written one whole line per `write` (the formatter hands over complete lines).
struct LineFile(std::fs::File);

impl Write for LineFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_redis_format() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_796_283_574_123);
        assert_eq!(timestamp(t), "03 Dec 2026 07:39:34.123");
        assert_eq!(timestamp(UNIX_EPOCH), "01 Jan 1970 00:00:00.000");
        let leap = UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(timestamp(leap), "29 Feb 2000 00:00:00.000");
    }
}
