//! `lazyfs BACKING MOUNTPOINT`: mount, then read commands from stdin, one a line:
//! `crash` (drop everything not synced), `crash torn SEED` (keep a seeded part of it),
//! `stats`, `quit` (clean unmount: everything written reaches BACKING). EOF is `quit`.
#![forbid(unsafe_code)]

use std::io::BufRead;
use std::path::PathBuf;

use readyloop_lazyfs::{Crash, Mounted};

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [backing, mountpoint] = &args[..] else {
        eprintln!("usage: lazyfs BACKING MOUNTPOINT  (then crash | crash torn SEED | stats | quit on stdin)");
        std::process::exit(2);
    };
    let m = Mounted::mount(backing, mountpoint).unwrap_or_else(|e| {
        eprintln!("lazyfs: {e}");
        std::process::exit(1)
    });
    eprintln!(
        "lazyfs: {} served at {}",
        backing.display(),
        mountpoint.display()
    );
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let w: Vec<&str> = line.split_whitespace().collect();
        let how = match w[..] {
            ["crash"] => Crash::DropUnsynced,
            ["crash", "torn", seed] => match seed.parse() {
                Ok(s) => Crash::Torn(s),
                Err(_) => {
                    eprintln!("lazyfs: bad seed {seed}");
                    continue;
                }
            },
            ["stats"] => {
                println!("{:?}", m.stats());
                continue;
            }
            ["quit"] => break,
            _ => {
                eprintln!("lazyfs: commands: crash | crash torn SEED | stats | quit");
                continue;
            }
        };
        match m.crash(how) {
            Ok(s) => println!("crashed: {s:?}"),
            Err(e) => eprintln!("lazyfs: crash: {e}"),
        }
    }
    if let Err(e) = m.unmount() {
        eprintln!("lazyfs: unmount: {e}");
        std::process::exit(1);
    }
}
