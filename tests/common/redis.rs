//! A real `redis-server` for the cluster tests (Debian's package; `.ci/run` installs it), on a free
//! loopback port, without persistence. Without it the tests are skipped with a loud message, except
//! under CI (`CI=true`), where that is a failure.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A `redis-server` on a free loopback port, without persistence, killed when dropped.
pub struct Redis {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts Redis, or returns `None` (after saying so loudly) if it is not installed.
    pub fn start() -> Option<Redis> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            let message = "redis-server is not installed: the cluster tests are SKIPPED \
                           (apt-get install redis-server; .ci/run does)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message}");
            }
            eprintln!("\n*** {message}\n");
            return None;
        }
        Redis::start_with(&[])
    }

    /// Starts Redis with more arguments: `{port}` in them stands for the port it gets.
    pub fn start_with(extra: &[&str]) -> Option<Redis> {
        // A free port can be taken by someone else between our check and Redis's bind: then Redis
        // exits, and we try another.
        for _ in 0..5 {
            let port = free_port();
            if let Some(redis) = Redis::start_on_with(port, extra) {
                return Some(redis);
            }
        }
        panic!("redis-server would not start on any of 5 free ports");
    }

    /// Starts Redis on `port`; `None` if it exits before it is ready (the port was taken).
    pub fn start_on(port: u16) -> Option<Redis> {
        Redis::start_on_with(port, &[])
    }

    pub fn start_on_with(port: u16, extra: &[&str]) -> Option<Redis> {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("redis-{port}"));
        std::fs::create_dir_all(&dir).expect("redis dir");
        // With TLS, `{port}` is the TLS port and the plain one is off.
        let tls = extra.contains(&"--tls-port");
        let plain_port = if tls {
            "0".to_string()
        } else {
            port.to_string()
        };
        let extra: Vec<String> = extra
            .iter()
            .map(|a| a.replace("{port}", &port.to_string()))
            .collect();
        let mut child = Command::new("redis-server")
            .args(["--port", &plain_port, "--bind", "127.0.0.1"])
            .args(&extra)
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        // Redis says when it is ready on its log (standard output); EOF means it gave up.
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.any(|line| line.is_ok_and(|l| l.contains("Ready to accept connections")));
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        // Keep reading its log in the background, so a full pipe never blocks it.
        std::thread::spawn(move || lines.for_each(drop));
        Some(Redis { child, port, dir })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command with `redis-cli` (installed with redis-server) and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--no-auth-warning"])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Kills Redis (everything it held is gone: it has no persistence).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts an empty Redis again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let again = Redis::start_on(self.port).expect("restart redis on its port");
        *self = again;
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}
