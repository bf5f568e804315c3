//! The server under test, when the generator starts it itself (`--exec "CMD ARGS"`): spawned, its
//! address read from its first line of output when not given, and stopped at the end with SIGINT,
//! as a person would stop it, then waited for.
//!
//! Every wait here is bounded and is a `poll` timeout, the one way this program waits.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mio::unix::pipe::Receiver;
use mio::{Events, Interest, Poll, Token};

/// How long the server has to print its address, or to open its port.
const START: Duration = Duration::from_secs(10);
/// How long it has to exit after SIGINT before it is killed.
const STOP: Duration = Duration::from_secs(5);
/// The signal number of SIGINT (2 on every Unix).
const SIGINT: i32 = 2;

/// A server the generator started.
pub struct ServerProcess {
    child: Child,
    /// The chat address (given, or read from the start-up line).
    pub addr: SocketAddr,
    /// The web address, if the start-up line names one (`…; web http://ADDR/`).
    pub web: Option<SocketAddr>,
    /// Whether the start-up line's chat address is `tls://ADDR`, and the certificate's SHA-256 it
    /// prints (`…; tls sha256 AB:CD:...`).
    pub tls: bool,
    pub fingerprint: Option<[u8; 32]>,
}

/// What a server's start-up line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartLine {
    /// The first chat address.
    pub addr: SocketAddr,
    pub web: Option<SocketAddr>,
    /// The first chat address was `tls://ADDR`.
    pub tls: bool,
    /// `tls sha256 AB:CD:...`, read.
    pub fingerprint: Option<[u8; 32]>,
}

impl ServerProcess {
    /// Starts `command` (split on spaces; no shell). Without `addr`, reads the address from its first
    /// line on standard output, `... listening on ADDR[, ADDR][; web http://ADDR/]`; with it, waits
    /// until the port is listening, and standard output is discarded. Standard error is the
    /// generator's; `RUST_LOG` is `warn` unless already set, so a Rust server logs only trouble.
    pub fn start(command: &str, addr: Option<SocketAddr>) -> Result<ServerProcess, String> {
        let mut words = command.split_whitespace();
        let program = words.next().ok_or("--exec is empty")?;
        let mut spawn = Command::new(program);
        spawn.args(words).stdin(Stdio::null());
        if std::env::var_os("RUST_LOG").is_none() {
            spawn.env("RUST_LOG", "warn");
        }
        spawn.stdout(if addr.is_some() {
            Stdio::null()
        } else {
            Stdio::piped()
        });
        let child = spawn
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let mut server = ServerProcess {
            child,
            addr: addr.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
            web: None,
            tls: false,
            fingerprint: None,
        };
        let started = match addr {
            Some(addr) => wait_for_port(addr),
            None => server.read_addresses(),
        };
        if let Err(e) = started {
            server.stop();
            return Err(e);
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads the first line of standard output and takes the addresses from it. The pipe is closed
    /// after it: a server that prints more finds it closed (pollchat prints nothing more).
    fn read_addresses(&mut self) -> Result<(), String> {
        let stdout = self.child.stdout.take().ok_or("no standard output")?;
        let first = first_line(Receiver::from(stdout))
            .map_err(|e| format!("reading the server's first line: {e}"))?;
        let line = parse_start_line(&first).ok_or_else(|| {
            format!("no `listening on ADDR` in the server's first line: {first:?} (give --addr)")
        })?;
        self.addr = line.addr;
        self.web = line.web;
        self.tls = line.tls;
        self.fingerprint = line.fingerprint;
        Ok(())
    }

    /// SIGINT, then a wait of up to 5 s for the server to exit, then SIGKILL. Says on standard error
    /// if the server had already exited, or did not exit cleanly.
    pub fn stop(mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            eprintln!("pollchat-bench: the server had exited during the run ({status})");
            return;
        }
        // `kill -INT`, the command: std can only send SIGKILL, and libc's kill() would need unsafe.
        let interrupted = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + STOP;
        while interrupted && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // Ending on the signal itself, or with 130 (128 + SIGINT), is a normal stop too.
                    let normal = status.success()
                        || status.signal() == Some(SIGINT)
                        || status.code() == Some(128 + SIGINT);
                    if !normal {
                        eprintln!("pollchat-bench: the server exited with {status} after SIGINT");
                    }
                    return;
                }
                Ok(None) => pause(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        eprintln!("pollchat-bench: the server did not stop on SIGINT; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line of `pipe`, waiting at most `START` for it.
fn first_line(mut pipe: Receiver) -> io::Result<String> {
    pipe.set_nonblocking(true)?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut pipe, Token(0), Interest::READABLE)?;
    let mut events = Events::with_capacity(1);
    let deadline = Instant::now() + START;
    let mut line = Vec::new();
    let mut buf = [0u8; 512];
    while !line.contains(&b'\n') {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("nothing within {}s", START.as_secs()),
            ));
        }
        poll.poll(&mut events, Some(left))?;
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => return Ok(String::from_utf8_lossy(&line).into_owned()),
                Ok(n) => line.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    Ok(String::from_utf8_lossy(&line[..end]).into_owned())
}

/// The chat address (the first), the web address and TLS of `... listening on [tls://]ADDR[, ADDR][;
/// web http://ADDR/][; tls sha256 AB:CD:...]`.
pub fn parse_start_line(line: &str) -> Option<StartLine> {
    let rest = line.split_once("listening on ")?.1.trim();
    let mut parts = rest.split(';').map(str::trim);
    let first = parts.next()?.split([',', ' ']).next()?;
    let (tls, first) = match first.strip_prefix("tls://") {
        Some(addr) => (true, addr),
        None => (false, first),
    };
    let mut start = StartLine {
        addr: first.parse().ok()?,
        web: None,
        tls,
        fingerprint: None,
    };
    for part in parts {
        if let Some(web) = part.strip_prefix("web http://") {
            start.web = web.trim_end_matches('/').parse().ok();
        } else if let Some(sha) = part.strip_prefix("tls sha256 ") {
            start.fingerprint = super::tls::parse_fingerprint(sha);
        }
    }
    Some(start)
}

/// For a server that prints no start-up line: waits until its port is listening, looking every 50 ms
/// until `START` passes.
fn wait_for_port(addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + START;
    while Instant::now() < deadline {
        if super::procfs::listening(addr.port()) {
            return Ok(());
        }
        pause(Duration::from_millis(50));
    }
    Err(format!(
        "the server did not open {addr} within {}s",
        START.as_secs()
    ))
}

/// Waits `time`: an empty `Poll` timing out.
fn pause(time: Duration) {
    if let Ok(mut poll) = Poll::new() {
        let _ = poll.poll(&mut Events::with_capacity(1), Some(time));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_line_gives_the_addresses() {
        let chat: SocketAddr = "127.0.0.1:7878".parse().unwrap();
        let web: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let plain = |web| StartLine {
            addr: chat,
            web,
            tls: false,
            fingerprint: None,
        };
        assert_eq!(
            parse_start_line("pollchat listening on 127.0.0.1:7878, [::1]:7878"),
            Some(plain(None))
        );
        assert_eq!(
            parse_start_line("pollchat listening on 127.0.0.1:7878; web http://127.0.0.1:8080/\n"),
            Some(plain(Some(web)))
        );
        assert_eq!(parse_start_line("Redis 7 starting"), None);
        let sha = "AB:".repeat(31) + "CD";
        let mut pin = [0xab; 32];
        pin[31] = 0xcd;
        let line = format!(
            "pollchat listening on tls://127.0.0.1:7878; web http://127.0.0.1:8080/; tls sha256 {sha}"
        );
        assert_eq!(
            parse_start_line(&line),
            Some(StartLine {
                addr: chat,
                web: Some(web),
                tls: true,
                fingerprint: Some(pin),
            })
        );
    }
}
