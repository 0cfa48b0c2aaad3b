//! The differential test: seeded random command sequences go to Debian's
//! `redis-server` and to `readyloop kv`; replies must match exactly (KEYS and SCAN as sets,
//! TTLs within a second). First the framework is checked redis-vs-redis, so a failure against
//! ours is ours. Replay one seed with `KVDIFF_SEED=N cargo test --test integration kv_diff`.

use super::kv_util::*;
use readyloop_harness::kvdiff::gen::{Check, GenConfig};

/// Seeds and commands per backend: bounded so the three backends take seconds together.
fn plan() -> (Vec<u64>, usize) {
    let steps = std::env::var("KVDIFF_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    if let Some(seed) = std::env::var("KVDIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return (vec![seed], steps);
    }
    let n = std::env::var("KVDIFF_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    ((1..=n).collect(), steps)
}

fn assert_no_mismatch(runner: &Runner, what: &str) {
    let (seeds, steps) = plan();
    let bad = runner.run_seeds(seeds.iter().copied(), steps);
    assert!(
        bad.is_empty(),
        "{what}: {} of {} seeds disagree ({steps} commands each):\n{}",
        bad.len(),
        seeds.len(),
        kvdiff::report(&bad)
    );
}

/// Two identical redis-servers agree on every seed: the generator, the comparison rules and the
/// TTL tolerances cannot report a difference where there is none.
#[test]
fn redis_vs_redis_agree() {
    let (a, b) = (redis(), redis());
    let runner = Runner::new(Pair {
        redis: a.addr,
        ours: b.addr,
    });
    assert_no_mismatch(&runner, "redis vs redis");
}

/// And a real difference is caught: a redis-server with 2 databases instead of 16 answers
/// `SELECT 2` differently, and the report names the command and both replies.
#[test]
fn a_real_difference_is_reported() {
    let a = redis();
    let b = RedisServer::start(&["--databases", "2"]).expect("redis-server starts");
    let runner = Runner::new(Pair {
        redis: a.addr,
        ours: b.addr,
    });
    let bad = runner.run_seeds(1..=10, 400);
    assert!(!bad.is_empty(), "a 2-database redis was not told apart");
    let m = &bad[0];
    assert!(
        m.command.to_ascii_uppercase().contains("SELECT")
            || m.command.to_ascii_uppercase().contains("MOVE")
            || m.command.to_ascii_uppercase().contains("COPY")
            || m.command.to_ascii_uppercase().contains("SWAPDB")
            || m.command.contains("final state"),
        "unexpected first difference:\n{m}"
    );
    assert_ne!(m.redis, m.ours, "{m}");
}

#[test]
fn comparison_rules() {
    let i = Value::Int;
    assert!(kvdiff::agree(&Check::Near(1), &i(100), &i(99)));
    assert!(!kvdiff::agree(&Check::Near(1), &i(100), &i(98)));
    // -1 (no TTL) and -2 (no key) are never "near" each other.
    assert!(!kvdiff::agree(&Check::Near(1), &i(-1), &i(-2)));
    assert!(!kvdiff::agree(&Check::Near(1500), &i(-2), &i(5)));
    let arr = |v: &[&str]| Value::Array(v.iter().map(|s| bulk(s)).collect());
    assert!(kvdiff::agree(
        &Check::Unordered,
        &arr(&["a", "b"]),
        &arr(&["b", "a"])
    ));
    assert!(!kvdiff::agree(
        &Check::Unordered,
        &arr(&["a", "b"]),
        &arr(&["a", "a"])
    ));
    let set = Value::Set(vec![bulk("a")]);
    assert!(!kvdiff::agree(&Check::Unordered, &arr(&["a"]), &set));
    assert!(!kvdiff::agree(&Check::Exact, &bulk("1"), &Value::Int(1)));
    assert!(!kvdiff::agree(&Check::Exact, &Value::NilBulk, &Value::Null));
    assert!(!kvdiff::agree(
        &Check::BulkOrNil,
        &bulk("k"),
        &Value::NilBulk
    ));
}

each_backend!(
    /// The same sequences against `readyloop kv` on each backend.
    redis_vs_ours,
    |backend| {
        let r = redis();
        let ours = kv(backend, &[]);
        let runner = Runner::new(Pair {
            redis: r.addr,
            ours: ours.addr,
        });
        assert_no_mismatch(&runner, &format!("redis vs readyloop kv ({backend:?})"));
    }
);

/// With lists, sets and hashes in play too, so WRONGTYPE paths are compared.
#[test]
fn redis_vs_ours_with_other_types() {
    let r = redis();
    let ours = kv(reactor::Backend::EpollLevel, &[]);
    let mut runner = Runner::new(Pair {
        redis: r.addr,
        ours: ours.addr,
    });
    runner.cfg = GenConfig {
        other_types: true,
        ..GenConfig::default()
    };
    assert_no_mismatch(&runner, "redis vs readyloop kv, other types");
}

/// MULTI/EXEC/DISCARD/WATCH/UNWATCH mixed in (with the data types, so EXEC's arrays carry
/// their replies and WATCH meets every kind of write): redis-vs-redis first, then ours on
/// every backend. `KVDIFF_SEEDS=300` for a long run.
mod transactions {
    use super::*;

    fn runner(ours: std::net::SocketAddr, redis: std::net::SocketAddr) -> Runner {
        diff_runner(
            ours,
            redis,
            GenConfig {
                other_types: true,
                types: 0.5,
                multi: 0.15,
                ..GenConfig::default()
            },
        )
    }

    fn check(r: &Runner, what: &str) {
        assert_seeds_agree(r, what, 30);
    }

    #[test]
    fn transactions_redis_vs_redis_agree() {
        let (a, b) = (redis(), redis());
        check(&runner(b.addr, a.addr), "redis vs redis (transactions)");
    }

    each_backend!(transactions_redis_vs_ours, |backend| {
        let r = redis();
        let ours = kv(backend, &[]);
        check(
            &runner(ours.addr, r.addr),
            &format!("transactions ({backend:?})"),
        );
    });
}

/// Bitmaps, HyperLogLog, geo, SORT and sorted-set algebra mixed into the data types (keys
/// shared, so WRONGTYPE and "not an HLL" paths run; HLL values compared byte for byte through
/// GET): redis-vs-redis first, then ours on every backend. `KVDIFF_SEEDS=300` for a long run.
mod surface {
    use super::*;

    fn runner(ours: std::net::SocketAddr, redis: std::net::SocketAddr) -> Runner {
        diff_runner(
            ours,
            redis,
            GenConfig {
                other_types: true,
                types: 0.3,
                surface: 0.5,
                ..GenConfig::default()
            },
        )
    }

    #[test]
    fn surface_redis_vs_redis_agree() {
        let (a, b) = (redis(), redis());
        assert_seeds_agree(&runner(b.addr, a.addr), "redis vs redis (surface)", 30);
    }

    each_backend!(surface_redis_vs_ours, |backend| {
        let r = redis();
        let ours = kv(backend, &[]);
        assert_seeds_agree(
            &runner(ours.addr, r.addr),
            &format!("surface ({backend:?})"),
            30,
        );
    });
}
