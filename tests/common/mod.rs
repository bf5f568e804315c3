//! Test harness: starts the real `pollchat` binary on a free loopback port and talks to it over real
//! sockets. Every read has a timeout, so a test that goes wrong fails instead of hanging; no test
//! sleeps to wait for the server, it waits for the line it expects.
#![allow(dead_code)] // Each test file uses its own part of the harness.

pub mod irc;
pub mod redis;
pub mod ws;

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub mod tmux;

/// How long any single expected line may take to arrive.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    /// The first address on the start-up line.
    pub addr: SocketAddr,
    /// Every chat address on the start-up line.
    pub addrs: Vec<SocketAddr>,
    /// The web face's address, if it has one.
    pub web: Option<SocketAddr>,
    /// The IRC face's address (`--irc`), if it has one.
    pub irc: Option<SocketAddr>,
    /// The IRC face speaks TLS (`--irc ircs://`, `irc ircs://ADDR` on the start-up line).
    pub irc_tls: bool,
    /// The metrics listener's address (`--metrics`), if it has one.
    pub metrics: Option<SocketAddr>,
    /// The chat addresses that speak TLS (`tls://` on the start-up line).
    pub tls_addrs: Vec<SocketAddr>,
    /// The TLS certificate's SHA-256 fingerprint, when some listener speaks TLS.
    pub fingerprint: Option<String>,
    log: PathBuf,
}

impl Server {
    /// Starts `pollchat --listen 127.0.0.1:0 ARGS...` and reads the bound address from its start-up
    /// line. Standard error goes to a file: an unread pipe would fill up and block the server. The web
    /// face is off unless `ARGS` ask for it, so that parallel tests never compete for port 8080.
    pub fn start(args: &[&str]) -> Server {
        Server::start_on("127.0.0.1:0", args)
    }

    pub fn start_on(listen: &str, args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pollchat"));
        command.args(["--listen", listen]).args(args);
        if !args.iter().any(|a| a.starts_with("--web")) {
            command.args(["--web", "off"]);
        }
        // Likewise the IRC face: port 6667 is not the tests' to take.
        if !args.iter().any(|a| a.starts_with("--irc")) {
            command.args(["--irc", "off"]);
        }
        Server::spawn(command)
    }

    /// Starts a prepared command that runs the server (possibly through a wrapper such as `bash -c`).
    pub fn spawn(mut command: Command) -> Server {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("pollchat-{}-{n}.log", std::process::id()));
        let mut child = command
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).expect("create log file"))
            .spawn()
            .expect("start pollchat");
        let mut first = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read start-up line");
        let rest = first
            .trim()
            .strip_prefix("pollchat listening on ")
            .unwrap_or_else(|| {
                let log = fs::read_to_string(&log).unwrap_or_default();
                panic!("unexpected start-up line {first:?}; log: {log}")
            });
        // `ADDR, tls://ADDR; web http[s]://ADDR/; irc [ircs://]ADDR; metrics http://ADDR/metrics;
        // tls sha256 FINGERPRINT`
        let (rest, fingerprint) = match rest.split_once("; tls sha256 ") {
            Some((rest, fingerprint)) => (rest, Some(fingerprint.to_string())),
            None => (rest, None),
        };
        let (rest, metrics) = match rest.split_once("; metrics http://") {
            Some((rest, metrics)) => {
                let addr = metrics.split('/').next().unwrap_or(metrics);
                (rest, Some(addr.parse().expect("metrics address")))
            }
            None => (rest, None),
        };
        let (rest, irc, irc_tls) = match rest.split_once("; irc ") {
            Some((rest, irc)) => {
                let (addr, tls) = match irc.strip_prefix("ircs://") {
                    Some(addr) => (addr, true),
                    None => (irc, false),
                };
                (rest, Some(addr.parse().expect("irc address")), tls)
            }
            None => (rest, None, false),
        };
        let (chat, web) = match rest.split_once("; web ") {
            Some((chat, web)) => {
                let web = web
                    .trim_start_matches("http://")
                    .trim_start_matches("https://");
                let web = web.strip_suffix('/').unwrap_or(web);
                (chat, Some(web.parse().expect("web address")))
            }
            None => (rest, None),
        };
        let (mut addrs, mut tls_addrs) = (Vec::new(), Vec::new());
        for listen in chat.split(", ") {
            match listen.strip_prefix("tls://") {
                Some(addr) => tls_addrs.push(addr.parse().expect("address in start-up line")),
                None => addrs.push(listen.parse().expect("address in start-up line")),
            }
        }
        let addr = addrs
            .first()
            .or(tls_addrs.first())
            .copied()
            .expect("an address");
        Server {
            child,
            addr,
            addrs,
            web,
            irc,
            irc_tls,
            metrics,
            tls_addrs,
            fingerprint,
            log,
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Connects and reads the greeting and the name prompt.
    pub fn connect_prompted(&self) -> Client {
        let mut client = self.connect();
        let greeting = client.line();
        assert!(
            greeting.starts_with("*** welcome to pollchat"),
            "greeting: {greeting:?}"
        );
        client.expect("*** your name?");
        client
    }

    /// Connects and joins as `name`, reading everything up to the list of who is online.
    pub fn join(&self, name: &str) -> Client {
        let mut client = self.connect_prompted();
        client.send(name);
        client.expect(&format!("*** you are {name}"));
        client.skip_until(|line| line.starts_with("*** online ("));
        client
    }

    /// Joins every name in turn, then lets all but the last read past the later join notices, so
    /// that each client's next line is whatever the test does next.
    pub fn join_all<const N: usize>(&self, names: [&str; N]) -> [Client; N] {
        let mut clients = names.map(|name| self.join(name));
        let last = format!("*** {} joined", names[N - 1]);
        for client in clients.iter_mut().take(N - 1) {
            client.skip_until(|line| line == last);
        }
        clients
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`INT`, `TERM`) with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the server to exit, at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "server still running after {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20)); // Polling a process; no socket to read here.
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `text` (the log is written as things happen).
    pub fn wait_for_log(&self, text: &str) {
        let start = Instant::now();
        while !self.log().contains(text) {
            assert!(
                start.elapsed() < READ_TIMEOUT,
                "log never said {text:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20)); // A file has no readiness to wait on.
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line-oriented test client on a blocking socket with a read timeout.
pub struct Client {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
    /// Bytes of the lines read so far, newlines included (what the server's metrics count as sent).
    pub received: usize,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(TcpStream::connect(addr).expect("connect"))
    }

    /// A client on a socket connected by the caller (with options of its own, say).
    pub fn from_stream(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set timeout");
        stream.set_nodelay(true).expect("nodelay");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Client {
            reader,
            stream,
            received: 0,
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Shuts down our sending side: the server reads EOF.
    pub fn shutdown_write(&self) {
        self.stream.shutdown(Shutdown::Write).expect("shutdown");
    }

    /// The next line, without its `\n`; panics on EOF or timeout.
    pub fn line(&mut self) -> String {
        match self.try_line() {
            Ok(Some(line)) => line,
            Ok(None) => panic!("connection closed while a line was expected"),
            Err(e) => panic!("no line within {READ_TIMEOUT:?}: {e}"),
        }
    }

    /// The next line; `None` at EOF.
    pub fn try_line(&mut self) -> std::io::Result<Option<String>> {
        let mut bytes = Vec::new();
        let n = self.reader.read_until(b'\n', &mut bytes)?;
        if n == 0 {
            return Ok(None);
        }
        self.received += n;
        assert_eq!(
            bytes.pop(),
            Some(b'\n'),
            "line cut short: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(Some(
            String::from_utf8(bytes).expect("the server sent invalid UTF-8"),
        ))
    }

    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    /// Expects a history line: the UTC time it was said (RFC 3339, within the last minute), a
    /// space, then `want`.
    pub fn expect_history(&mut self, want: &str) {
        let line = self.line();
        assert_eq!(history_line(&line), Some(want), "{line:?}");
    }

    /// Reads lines until one matches, returning it; the lines before it are skipped.
    pub fn skip_until(&mut self, matches: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self.line();
            if matches(&line) {
                return line;
            }
        }
    }

    /// Sends `/list` and returns every line that arrived before its answer: a way to prove that
    /// nothing else was sent to this client, without waiting for a timeout.
    pub fn lines_before_sync(&mut self) -> Vec<String> {
        self.send("/list");
        let mut before = Vec::new();
        loop {
            let line = self.line();
            if line.starts_with("*** online (") {
                return before;
            }
            before.push(line);
        }
    }

    /// Reads until the server closes the connection, returning the lines received on the way.
    /// A reset after the last line counts as closed too.
    pub fn expect_closed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match self.try_line() {
                Ok(Some(line)) => lines.push(line),
                Ok(None) => return lines,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return lines,
                Err(e) => {
                    panic!("connection not closed within {READ_TIMEOUT:?}: {e}; got {lines:?}")
                }
            }
        }
    }

    /// The bytes of one `read` from the socket, as text: what had arrived by then, which on loopback
    /// is whole writes of the server's. Panics if earlier lines are still buffered here, or on timeout.
    pub fn read_once(&mut self) -> String {
        assert!(self.reader.buffer().is_empty(), "lines still buffered");
        let mut buf = [0u8; 65536];
        let n = match self.reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) => panic!("nothing within {READ_TIMEOUT:?}: {e}"),
        };
        String::from_utf8(buf[..n].to_vec()).expect("the server sent invalid UTF-8")
    }

    /// Reads and throws away everything until EOF or reset, returning how many bytes came.
    pub fn drain(&mut self) -> usize {
        let mut total = 0;
        let mut buf = [0u8; 65536];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return total,
                Err(e) => panic!("not closed within {READ_TIMEOUT:?}: {e}"),
            }
        }
    }
}

/// A replayed history line without its time stamp, if it has one that reads as a time in the last
/// minute (the server's clock and ours are the same machine's).
pub fn history_line(line: &str) -> Option<&str> {
    let (stamp, rest) = pollchat::protocol::unstamped(line)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    let recent =
        (now.saturating_sub(60)..=now + 1).any(|t| pollchat::protocol::utc_time(t) == stamp);
    recent.then_some(rest)
}

/// The server binary with its chat listener on a free loopback port and its web and IRC faces off:
/// for tests that only look at how it starts, or refuses to.
pub fn pollchat_without_faces() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pollchat"));
    command.args(["--listen", "127.0.0.1:0", "--web", "off", "--irc", "off"]);
    command
}
