//! `pollchat-bench`: a load generator for pollchat, other line-based chat servers and Redis pub/sub.
//! This file reads the flags, starts the server if asked, and prints the report; the generator is
//! `src/bench/`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use clap::Parser;
use pollchat::bench::{self, Load, Options, Protocol};

/// Load generator: N clients join, S of them send; every delivery is checked and timed.
///
/// Scenarios (flags given explicitly override them): fanout100 = 100 clients, 10 senders, closed loop
/// with 4 lines in flight each; fanout1k = 1,000 clients, 4 senders at 50 lines/s; idle10k = 10,000
/// clients, 1 sender at 10 lines/s; c19k = 19,000 clients, 1 sender at 10 lines/s; slow = fanout100
/// plus 10 clients that never read.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The server's address (with --exec, read from its start-up line when not given).
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Start the server with this command (split on spaces), measure it, and stop it with SIGINT.
    #[arg(long, value_name = "COMMAND")]
    exec: Option<String>,
    /// The server's PID, for its CPU and memory (implied by --exec).
    #[arg(long)]
    pid: Option<u32>,
    /// fanout100, fanout1k, idle10k, c19k or slow.
    #[arg(long)]
    scenario: Option<String>,
    #[arg(long)]
    clients: Option<usize>,
    #[arg(long)]
    senders: Option<usize>,
    /// Clients that join and never read again.
    #[arg(long)]
    sleepers: Option<usize>,
    /// Closed loop: lines in flight per sender.
    #[arg(long, conflicts_with = "rate")]
    window: Option<u64>,
    /// Open loop: lines per second per sender.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of measured window.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Quiet time that ends the join phase, in milliseconds.
    #[arg(long, default_value_t = 500)]
    settle_ms: u64,
    /// Bytes per line sent.
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// The first line a client sends (`{name}` becomes its name), or `none`.
    #[arg(long, default_value = "{name}")]
    join_line: String,
    /// A client has joined when a line starting with this arrives (`none`: as soon as connected).
    #[arg(long, default_value = "*** you are ")]
    joined_prefix: String,
    /// Drive Redis pub/sub (SUBSCRIBE/PUBLISH) instead of a chat server.
    #[arg(long)]
    redis: bool,
    /// Most connects in flight at once.
    #[arg(long, default_value_t = 500)]
    connecting: usize,
    /// The share of clients (0 to 1) that join over WebSocket, through --web-addr.
    #[arg(long, default_value_t = 0.0)]
    ws_share: f64,
    /// The server's web address (with --exec, read from its start-up line when not given).
    #[arg(long)]
    web_addr: Option<SocketAddr>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// (clients, senders, sleepers, load) of a named scenario.
fn scenario(name: &str) -> Option<(usize, usize, usize, Load)> {
    let closed = Load::Closed { window: 4 };
    Some(match name {
        "fanout100" => (100, 10, 0, closed),
        "fanout1k" => (1000, 4, 0, Load::Open { rate: 50.0 }),
        "idle10k" => (10_000, 1, 0, Load::Open { rate: 10.0 }),
        "c19k" => (19_000, 1, 0, Load::Open { rate: 10.0 }),
        "slow" => (100, 10, 10, closed),
        _ => return None,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let preset = match args.scenario.as_deref().map(|s| (s, scenario(s))) {
        Some((name, None)) => return fail(&format!("unknown scenario {name}")),
        Some((_, Some(preset))) => preset,
        None => (100, 10, 0, Load::Closed { window: 4 }),
    };
    let load = match (args.window, args.rate) {
        (Some(window), _) => Load::Closed { window },
        (_, Some(rate)) => Load::Open { rate },
        _ => preset.3,
    };
    let mut server = None;
    let (addr, web, pid) = match (&args.exec, args.addr) {
        (Some(command), addr) => match start(command, addr) {
            Ok((child, addr, web)) => {
                let pid = child.id();
                server = Some(child);
                (addr, args.web_addr.or(web), Some(pid))
            }
            Err(e) => return fail(&e),
        },
        (None, Some(addr)) => (addr, args.web_addr, args.pid),
        (None, None) => return fail("give --addr, or --exec to start the server"),
    };
    if args.ws_share > 0.0 && web.is_none() {
        return fail("--ws-share needs the server's web address (--web-addr)");
    }
    let none_or = |s: &str| (s != "none" && !s.is_empty()).then(|| s.to_string());
    let options = Options {
        addr,
        clients: args.clients.unwrap_or(preset.0),
        senders: args.senders.unwrap_or(preset.1),
        sleepers: args.sleepers.unwrap_or(preset.2),
        load,
        duration: Duration::from_secs_f64(args.duration),
        settle: Duration::from_millis(args.settle_ms),
        payload: args.payload,
        protocol: if args.redis {
            Protocol::Redis
        } else {
            Protocol::Chat {
                join: none_or(&args.join_line),
                joined: none_or(&args.joined_prefix),
            }
        },
        server_pid: pid,
        connecting: args.connecting,
        websocket_share: args.ws_share.clamp(0.0, 1.0),
        web,
    };
    let result = bench::run(&options);
    if let Some(child) = server {
        stop(child);
    }
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.table());
            }
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("pollchat-bench: {message}");
    ExitCode::from(2)
}

/// Starts the server; without `addr`, reads it from the start-up line
/// (`... listening on ADDR[; web http://WEB/]`), which also gives the web address.
type Started = (Child, SocketAddr, Option<SocketAddr>);

fn start(command: &str, addr: Option<SocketAddr>) -> Result<Started, String> {
    let mut words = command.split_whitespace();
    let program = words.next().ok_or("--exec is empty")?;
    let mut child = Command::new(program)
        .args(words)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if let Some(addr) = addr {
        wait_for_port(addr);
        return Ok((child, addr, None));
    }
    let stdout = child.stdout.take().ok_or("no standard output")?;
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .map_err(|e| e.to_string())?;
    let addr = first
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split([',', ';', ' ', '\n']).next())
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("no address in the server's first line: {first:?}"))?;
    let web = first
        .split("; web http://")
        .nth(1)
        .and_then(|rest| rest.trim().strip_suffix('/'))
        .and_then(|a| a.parse().ok());
    Ok((child, addr, web))
}

/// For servers that print no start-up line: try to connect every 50 ms for up to 5 s. The wait
/// between tries is an empty `Poll` timing out: this program has one way to wait, and it is `poll`.
fn wait_for_port(addr: SocketAddr) {
    let Ok(mut poll) = mio::Poll::new() else {
        return;
    };
    let mut events = mio::Events::with_capacity(1);
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        let _ = poll.poll(&mut events, Some(Duration::from_millis(50)));
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
