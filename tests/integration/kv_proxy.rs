//! Several `readyloop kv` instances behind twemproxy (Debian `nutcracker`):
//! keys sent through the proxy spread over the instances by ketama consistent hashing and read
//! back; with one instance killed, the proxy ejects it (auto_eject_hosts, server_failure_limit)
//! and keeps serving from the rest, and its stats port shows the eject.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::kv_util::*;

struct Nutcracker {
    child: Child,
    addr: SocketAddr,
    stats: SocketAddr,
    dir: PathBuf,
}

impl Nutcracker {
    /// Start nutcracker in front of `servers`, retrying if a picked port was taken meanwhile.
    fn start(servers: &[SocketAddr]) -> Nutcracker {
        require("nutcracker", "nutcracker");
        let dir = std::env::temp_dir().join(format!(
            "readyloop-nutcracker-{}-{}",
            std::process::id(),
            servers[0].port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut last_log = String::new();
        for _ in 0..5 {
            let (port, sport) = (free_port().unwrap(), free_port().unwrap());
            let mut conf = format!(
                "alpha:\n  listen: 127.0.0.1:{port}\n  hash: murmur\n  distribution: ketama\n  \
                 redis: true\n  auto_eject_hosts: true\n  server_failure_limit: 1\n  \
                 server_retry_timeout: 60000\n  timeout: 1000\n  preconnect: false\n  servers:\n"
            );
            for (i, s) in servers.iter().enumerate() {
                conf += &format!("   - {s}:1 s{i}\n");
            }
            let conf_path = dir.join("nutcracker.yml");
            std::fs::write(&conf_path, conf).unwrap();
            let log = dir.join("nutcracker.log");
            let mut child = Command::new("nutcracker")
                .arg("-c")
                .arg(&conf_path)
                .args(["-a", "127.0.0.1", "-s", &sport.to_string(), "-i", "100"])
                .arg("-o")
                .arg(&log)
                .arg("-p")
                .arg(dir.join("nutcracker.pid"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nutcracker starts");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let stats = SocketAddr::from(([127, 0, 0, 1], sport));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if TcpStream::connect(addr).is_ok() && TcpStream::connect(stats).is_ok() {
                    return Nutcracker {
                        child,
                        addr,
                        stats,
                        dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("nutcracker did not start; its log:\n{last_log}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nutcracker.log")).unwrap_or_default()
    }

    /// The stats JSON (it writes one document per connection, then closes).
    fn stats(&self) -> serde_json::Value {
        let mut s = TcpStream::connect(self.stats).expect("stats port");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).expect("stats read");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("stats JSON: {e}: {body}"))
    }
}

impl Drop for Nutcracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const KEYS: usize = 300;

each_backend!(
    /// 3 instances behind nutcracker: keys spread and read back; one killed, ejected, rest serve.
    nutcracker_spreads_and_ejects,
    |backend| {
        let mut servers: Vec<Option<UnderTest>> = (0..3).map(|_| Some(kv(backend, &[]))).collect();
        let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.as_ref().unwrap().addr).collect();
        let proxy = Nutcracker::start(&addrs);
        let mut p = Conn::connect(proxy.addr).expect("connect to proxy");
        for i in 0..KEYS {
            let v = call(&mut p, &["SET", &format!("user:{i}"), &format!("v{i}")]);
            assert_eq!(v, Value::Simple(b"OK".to_vec()), "SET user:{i} via proxy\n{}", proxy.log());
        }
        for i in 0..KEYS {
            assert_eq!(call(&mut p, &["GET", &format!("user:{i}")]), bulk(&format!("v{i}")));
        }
        // Which instance holds which key, asked of each instance directly.
        let mut direct: Vec<Conn> = addrs.iter().map(|a| connect(*a)).collect();
        let sizes: Vec<i64> = direct.iter_mut().map(|c| int(c, &["DBSIZE"])).collect();
        assert_eq!(sizes.iter().sum::<i64>(), KEYS as i64, "every key on exactly one instance: {sizes:?}");
        for (i, n) in sizes.iter().enumerate() {
            assert!(*n >= (KEYS / 10) as i64, "ketama gave instance {i} only {n} of {KEYS} keys: {sizes:?}");
        }
        let on: Vec<usize> = (0..KEYS)
            .map(|i| {
                let k = format!("user:{i}");
                let owners: Vec<usize> = (0..3).filter(|s| int(&mut direct[*s], &["EXISTS", &k]) == 1).collect();
                assert_eq!(owners.len(), 1, "{k} on {owners:?}");
                owners[0]
            })
            .collect();
        drop(direct);

        // Kill instance 1. The proxy sees its connection fail (at once, or on the next request
        // routed to it: server_failure_limit 1), ejects it, and from then on its keys' slots go
        // to the two that remain. Requests may fail until then; afterwards none may.
        servers[1] = None;
        let deadline = Instant::now() + Duration::from_secs(15);
        let (mut n, mut errors, mut run) = (0, 0, 0);
        let mut ejected = false;
        while !(ejected && run >= 50) {
            assert!(
                Instant::now() < deadline,
                "proxy never settled: ejected={ejected}, {errors} errors, last run of {run} OKs\n{}",
                proxy.log()
            );
            let k = format!("fresh:{n}");
            n += 1;
            match p.cmd(&["SET", &k, "x"]) {
                Ok(Value::Simple(ok)) if ok == b"OK" => run += 1,
                Ok(Value::Error(_)) => (errors, run) = (errors + 1, 0),
                Err(_) => {
                    (errors, run) = (errors + 1, 0);
                    p = Conn::connect(proxy.addr).expect("reconnect to proxy");
                }
                Ok(other) => panic!("SET {k} via proxy: {other}"),
            }
            if n % 20 == 0 {
                ejected = proxy.stats()["alpha"]["server_ejects"].as_u64().unwrap_or(0) >= 1;
            }
        }
        // After the eject: 200 new keys all stored, and every old key on a surviving instance
        // still reads back (ketama moves only the dead node's keys).
        for i in 0..200 {
            let k = format!("after:{i}");
            assert_eq!(call(&mut p, &["SET", &k, "y"]), Value::Simple(b"OK".to_vec()), "{k}\n{}", proxy.log());
            assert_eq!(call(&mut p, &["GET", &k]), bulk("y"));
        }
        for (i, owner) in on.iter().enumerate() {
            if *owner != 1 {
                assert_eq!(call(&mut p, &["GET", &format!("user:{i}")]), bulk(&format!("v{i}")));
            }
        }
        // The stats port reports the eject (aggregated every 100 ms).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = proxy.stats();
            let ejects = st["alpha"]["server_ejects"].as_u64().unwrap_or(0);
            let ejected_at = st["alpha"]["s1"]["server_ejected_at"].as_u64().unwrap_or(0);
            if ejects >= 1 && ejected_at > 0 {
                let others: Vec<u64> = ["s0", "s2"]
                    .iter()
                    .map(|s| st["alpha"][*s]["server_ejected_at"].as_u64().unwrap_or(u64::MAX))
                    .collect();
                assert_eq!(others, vec![0, 0], "only s1 is ejected: {st}");
                break;
            }
            assert!(Instant::now() < deadline, "stats never showed the eject: {st}");
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(servers);
    }
);
