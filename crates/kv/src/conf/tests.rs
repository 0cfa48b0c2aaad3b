//! Loading a command line and config files as redis-server does.

use super::*;

fn load_args(args: &[&str], stdin: &str) -> Result<Startup, Fatal> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    load(&args, &mut stdin.as_bytes())
}

fn value(s: &Startup, n: &str) -> String {
    s.values.iter().find(|(k, _)| *k == n).unwrap().1.clone()
}

#[test]
fn file_then_command_line_last_wins() {
    let dir = std::env::temp_dir().join(format!("kvconf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inc = dir.join("inc.conf");
    std::fs::write(&inc, "maxmemory 2mb\n").unwrap();
    let f = dir.join("a.conf");
    std::fs::write(
        &f,
        format!(
            "# comment\nport 7001\nlogfile ''\nsave \nhash-max-ziplist-entries 20\n\
             hash-max-listpack-entries 21\ninclude {}\nrename-command flushdb badger\n\
             appendfilename \" file seq \\n\\n.aof \"\nclient-output-buffer-limit pubsub 1mb 1mb 0\n",
            inc.display()
        ),
    )
    .unwrap();
    let s = load_args(&[f.to_str().unwrap(), "--port", "7002"], "").unwrap();
    assert_eq!(s.cfg.port, 7002);
    assert_eq!(s.cfg.maxmemory, 2 << 20);
    assert!(s.logfile_set && s.logfile.is_empty());
    assert_eq!(value(&s, "save"), "");
    assert_eq!(value(&s, "hash-max-listpack-entries"), "21");
    assert_eq!(s.cfg.aof.filename, " file seq \n\n.aof ");
    assert_eq!(s.renames, [("flushdb".to_string(), "badger".to_string())]);
    assert_eq!(s.cfg.output_limits.pubsub.hard, 1 << 20);
    assert_eq!(s.config_file.as_deref(), Some(f.as_path()));
    assert!(s.unsupported.is_empty(), "{:?}", s.unsupported);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stdin_and_save_lines_accumulate() {
    let s = load_args(&["-", "--loglevel", "verbose"], "save 900 1\nsave 300 10\n").unwrap();
    assert_eq!(value(&s, "save"), "900 1 300 10");
    assert_eq!(s.loglevel, "verbose");
    assert!(s.unsupported.is_empty(), "{:?}", s.unsupported);
    let s = load_args(&["--save", "--loglevel", "warning"], "").unwrap();
    assert_eq!(value(&s, "save"), "");
    let s = load_args(&[], "").unwrap();
    assert_eq!(value(&s, "save"), "");
    assert_eq!(s.binds, ["*", "-::*"]);
}

#[test]
fn refusals_in_redis_format() {
    let e = load_args(&["--port", "--bla"], "").unwrap_err().0;
    assert!(
        e.contains(">>> 'port \"--bla\"'\nargument couldn't be parsed into an integer"),
        "{e}"
    );
    let e = load_args(&["--port"], "").unwrap_err().0;
    assert!(
        e.contains("'port'") && e.contains("wrong number of arguments"),
        "{e}"
    );
    let e = load_args(&["--replicaof", "127.0.0.1", "abc"], "")
        .unwrap_err()
        .0;
    assert!(
        e.contains("'replicaof \"127.0.0.1\" \"abc\"'\nInvalid master port"),
        "{e}"
    );
    let e = load_args(&["--loglevel", "--bla"], "").unwrap_err().0;
    assert!(
        e.contains("argument(s) must be one of the following"),
        "{e}"
    );
    let e = load_args(&["--nosuch", "1"], "").unwrap_err().0;
    assert!(
        e.contains("Bad directive or wrong number of arguments"),
        "{e}"
    );
    let e = load_args(&["--cluster-enabled", "yes"], "").unwrap_err().0;
    assert!(e.contains("cluster mode is not implemented"), "{e}");
    let e = load_args(&["-"], "port \"6379\n").unwrap_err().0;
    assert!(e.contains("Unbalanced quotes"), "{e}");
    let e = load_args(&["/nonexistent/redis.conf"], "").unwrap_err().0;
    assert!(e.contains("can't open config file"), "{e}");
}

#[test]
fn own_flags_still_parse() {
    let s = load_args(
        &[
            "--backend",
            "poll",
            "--port",
            "0",
            "--client-output-buffer-limit",
            "2mb",
            "--expire-budget",
            "10",
            "--stats-interval",
            "0.5",
        ],
        "",
    )
    .unwrap();
    assert_eq!(s.backend, reactor::Backend::Poll);
    assert_eq!(s.cfg.output_limits.normal.hard, 2 << 20);
    assert_eq!(s.cfg.expire_budget, 10);
    assert_eq!(s.stats_interval, Some(0.5));
}
