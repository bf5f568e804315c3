//! The load generator behind `pollchat-bench`: many clients on one thread and one `mio::Poll`, like
//! the server it measures.
//!
//! A run goes through phases: connect every client (a bounded number of connects in flight), join
//! them, wait until nothing has arrived for a while (the join notices are over), then the measured
//! window, during which the senders send lines carrying their sender id, a sequence number and the
//! send time; then a drain, waiting for lines still in flight. Every receiver checks each line it gets
//! against the sequence it expects from that sender, so loss, duplicates and reordering are counted,
//! and records the latency. Nothing on the per-line path allocates.
//!
//! It drives pollchat, any newline-delimited chat server (a join line and a joined marker are flags),
//! and Redis pub/sub (SUBSCRIBE and PUBLISH in RESP), so one tool compares them.

pub mod procfs;
pub mod stats;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use stats::{Histogram, Order, Seen};

/// The marker that starts a benchmark payload inside whatever line the server delivers.
const MARK: &[u8] = b"~B ";
/// The longest drain after the window, waiting for lines in flight.
const DRAIN: Duration = Duration::from_secs(3);

/// How the senders send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// As fast as a window of lines in flight per sender allows: a line is in flight until every
    /// recipient has it.
    Closed { window: u64 },
    /// A fixed rate per sender, in lines per second, whatever the server does.
    Open { rate: f64 },
}

/// How to speak to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// A newline-delimited chat server. `join` is the first line sent (`{name}` is replaced by the
    /// client's name), none if `None`; a client has joined when a line starting with `joined`
    /// arrives, or at once if `None`.
    Chat {
        join: Option<String>,
        joined: Option<String>,
    },
    /// Redis pub/sub: every client subscribes to one channel; each sender publishes on a connection
    /// of its own.
    Redis,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub addr: SocketAddr,
    pub clients: usize,
    pub senders: usize,
    /// Clients that join and then never read again (not recipients).
    pub sleepers: usize,
    pub load: Load,
    pub duration: Duration,
    pub settle: Duration,
    /// The size of each line sent, in bytes (at least what the header needs).
    pub payload: usize,
    pub protocol: Protocol,
    pub server_pid: Option<u32>,
    /// The most connects in flight at once.
    pub connecting: usize,
    /// The share of clients (0 to 1, spread evenly) that join over WebSocket at `web`.
    pub websocket_share: f64,
    pub web: Option<SocketAddr>,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub clients: usize,
    pub websocket_clients: usize,
    pub senders: usize,
    pub recipients_per_line: usize,
    pub join_seconds: f64,
    pub window_seconds: f64,
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub received_in_window: u64,
    pub lost: u64,
    pub out_of_order: u64,
    pub latency: Histogram,
    pub bench_cpu_seconds: f64,
    pub server: Option<ServerFigures>,
}

/// The server's side, from `/proc`.
#[derive(Debug, Clone, Default)]
pub struct ServerFigures {
    pub cpu_seconds: f64,
    pub rss_before: u64,
    pub rss_joined: u64,
    pub rss_peak: u64,
    pub socket_memory_before: u64,
    pub socket_memory_joined: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A client in the room; clients `0..senders` also send (in chat mode).
    Member,
    Sleeper,
    /// Redis mode: the connection sender `i` publishes on.
    Publisher(usize),
}

/// One connection of the benchmark.
struct Peer {
    stream: TcpStream,
    role: Role,
    connected: bool,
    joined: bool,
    /// The unfinished end of the last read.
    carry: Vec<u8>,
    /// Bytes not yet written.
    out: Vec<u8>,
    order: Order,
    websocket: WebSocket,
}

/// Where a WebSocket client is: a plain TCP client is `No` throughout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WebSocket {
    No,
    /// The upgrade request is sent; the response has not ended yet.
    Upgrading,
    Open,
}

/// The mask of every frame the generator sends (a client must mask; the server does not care how).
const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// Appends a masked text frame with `payload`.
fn masked_text_frame(payload: &[u8], out: &mut Vec<u8>) {
    crate::websocket::client_frame(0x81, payload, Some(MASK), out);
}

/// A server frame at the start of `bytes`: (opcode, payload range, length used), if all there.
fn server_frame(bytes: &[u8]) -> Option<(u8, std::ops::Range<usize>, usize)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let (len, at) = match second & 0x7f {
        126 => (
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    (bytes.len() >= at + len).then_some((first & 0x0f, at..at + len, at + len))
}

/// Whether client `index` joins over WebSocket: `share` of the clients, spread evenly.
fn is_websocket(index: usize, share: f64) -> bool {
    ((index + 1) as f64 * share).floor() > (index as f64 * share).floor()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Connecting,
    Settling,
    Measuring,
    Draining,
}

struct Sender {
    /// The peer it sends on.
    peer: usize,
    seq: u64,
    /// Lines sent whose recipients do not all have them yet (closed loop).
    in_flight: u64,
    /// How many recipients still miss each line in flight, by `seq % window`.
    missing: Vec<u32>,
    next_due: Instant,
}

struct Bench<'a> {
    options: &'a Options,
    poll: Poll,
    peers: Vec<Peer>,
    senders: Vec<Sender>,
    recipients: u32,
    phase: Phase,
    start: Instant,
    joined: usize,
    last_rx: Instant,
    /// `last_rx` in nanoseconds since `start`: the arrival time of the lines being handled.
    rx_ns: u64,
    window_start: Instant,
    report: Report,
    scratch: Vec<u8>,
    line: Vec<u8>,
    /// A WebSocket frame being built (kept to reuse its memory).
    frame: Vec<u8>,
    members_connected: usize,
}

/// Runs the benchmark against `options.addr`.
pub fn run(options: &Options) -> io::Result<Report> {
    let mut bench = Bench::new(options)?;
    bench.run()?;
    Ok(bench.report)
}

impl<'a> Bench<'a> {
    fn new(options: &'a Options) -> io::Result<Bench<'a>> {
        let redis = options.protocol == Protocol::Redis;
        let recipients = if redis {
            options.clients
        } else {
            options.clients.saturating_sub(1)
        };
        let window = match options.load {
            Load::Closed { window } => window.max(1) as usize,
            Load::Open { .. } => 1,
        };
        let senders = (0..options.senders)
            .map(|i| Sender {
                peer: if redis {
                    options.clients + options.sleepers + i
                } else {
                    i
                },
                seq: 0,
                in_flight: 0,
                missing: vec![0; window],
                next_due: Instant::now(),
            })
            .collect();
        let now = Instant::now();
        Ok(Bench {
            options,
            poll: Poll::new()?,
            peers: Vec::new(),
            senders,
            recipients: recipients as u32,
            phase: Phase::Connecting,
            start: now,
            joined: 0,
            last_rx: now,
            rx_ns: 0,
            window_start: now,
            report: Report {
                clients: options.clients,
                websocket_clients: (0..options.clients)
                    .filter(|&i| options.web.is_some() && is_websocket(i, options.websocket_share))
                    .count(),
                senders: options.senders,
                recipients_per_line: recipients,
                ..Report::default()
            },
            scratch: vec![0; 64 << 10],
            line: Vec::with_capacity(options.payload + 64),
            frame: Vec::with_capacity(options.payload + 64),
            members_connected: 0,
        })
    }

    fn total_peers(&self) -> usize {
        let publishers = if self.options.protocol == Protocol::Redis {
            self.options.senders
        } else {
            0
        };
        self.options.clients + self.options.sleepers + publishers
    }

    fn run(&mut self) -> io::Result<()> {
        let pid = self.options.server_pid.map(|p| p.to_string());
        let mut server = ServerFigures::default();
        if let Some(pid) = &pid {
            server.rss_before = procfs::memory(pid, "VmRSS").unwrap_or(0);
            server.socket_memory_before = procfs::tcp_socket_memory().unwrap_or(0);
        }
        let mut events = Events::with_capacity(4096);
        let (mut cpu_start, mut bench_cpu_start) = (0.0, 0.0);
        loop {
            if self.phase == Phase::Connecting {
                self.connect_more()?;
            }
            let timeout = self.timeout();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                return Err(e);
            }
            for event in events.iter() {
                let index = event.token().0;
                if event.is_writable() || event.is_readable() {
                    self.ready(index)?;
                }
            }
            let now = Instant::now();
            match self.phase {
                Phase::Connecting
                    if self.joined == self.options.clients + self.options.sleepers =>
                {
                    self.report.join_seconds = now.duration_since(self.start).as_secs_f64();
                    self.phase = Phase::Settling;
                    self.last_rx = now;
                }
                Phase::Settling if now.duration_since(self.last_rx) >= self.options.settle => {
                    if let Some(pid) = &pid {
                        server.rss_joined = procfs::memory(pid, "VmRSS").unwrap_or(0);
                        server.socket_memory_joined = procfs::tcp_socket_memory().unwrap_or(0);
                        cpu_start = procfs::cpu_seconds(pid).unwrap_or(0.0);
                    }
                    bench_cpu_start = procfs::cpu_seconds("self").unwrap_or(0.0);
                    self.phase = Phase::Measuring;
                    self.window_start = now;
                    for sender in &mut self.senders {
                        sender.next_due = now;
                    }
                }
                Phase::Measuring
                    if now.duration_since(self.window_start) >= self.options.duration =>
                {
                    self.report.window_seconds =
                        now.duration_since(self.window_start).as_secs_f64();
                    if let Some(pid) = &pid {
                        server.cpu_seconds = procfs::cpu_seconds(pid).unwrap_or(0.0) - cpu_start;
                        server.rss_peak = procfs::memory(pid, "VmHWM").unwrap_or(0);
                    }
                    self.report.bench_cpu_seconds =
                        procfs::cpu_seconds("self").unwrap_or(0.0) - bench_cpu_start;
                    self.phase = Phase::Draining;
                }
                Phase::Draining => {
                    let done =
                        self.report.received >= self.report.sent * u64::from(self.recipients);
                    if done
                        || now.duration_since(self.window_start) >= self.options.duration + DRAIN
                    {
                        break;
                    }
                }
                _ => {}
            }
            if self.phase == Phase::Measuring {
                self.send_due(now)?;
            }
        }
        self.report.expected = self.report.sent * u64::from(self.recipients);
        self.report.lost = self.report.expected.saturating_sub(self.report.received);
        self.report.server = pid.map(|_| server);
        Ok(())
    }

    fn timeout(&self) -> Duration {
        match (self.phase, self.options.load) {
            (Phase::Measuring, Load::Open { .. }) => {
                let next = self.senders.iter().map(|s| s.next_due).min();
                next.map_or(Duration::from_millis(1), |due| {
                    due.saturating_duration_since(Instant::now())
                })
                .min(Duration::from_millis(10))
            }
            _ => Duration::from_millis(10),
        }
    }

    /// Starts connects until `connecting` are in flight or every client has one.
    fn connect_more(&mut self) -> io::Result<()> {
        let in_flight = self.peers.iter().filter(|p| !p.joined).count();
        let room = self.options.connecting.saturating_sub(in_flight);
        for _ in 0..room {
            let index = self.peers.len();
            if index == self.total_peers() {
                break;
            }
            let websocket = index < self.options.clients
                && self.options.web.is_some()
                && is_websocket(index, self.options.websocket_share);
            let target = match self.options.web {
                Some(web) if websocket => web,
                _ => self.options.addr,
            };
            let mut stream = TcpStream::connect(target)?;
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.poll
                .registry()
                .register(&mut stream, Token(index), interest)?;
            let role = if index < self.options.clients {
                Role::Member
            } else if index < self.options.clients + self.options.sleepers {
                Role::Sleeper
            } else {
                Role::Publisher(index - self.options.clients - self.options.sleepers)
            };
            let order = Order::new(self.options.senders);
            self.peers.push(Peer {
                stream,
                role,
                connected: false,
                joined: false,
                carry: Vec::new(),
                out: Vec::new(),
                order,
                websocket: if websocket {
                    WebSocket::Upgrading
                } else {
                    WebSocket::No
                },
            });
        }
        Ok(())
    }

    fn ready(&mut self, index: usize) -> io::Result<()> {
        if !self.peers[index].connected {
            let peer = &mut self.peers[index];
            if let Ok(Some(e)) | Err(e) = peer.stream.take_error() {
                return Err(io::Error::new(
                    e.kind(),
                    format!("connect to {}: {e}", self.options.addr),
                ));
            }
            if peer.stream.peer_addr().is_err() {
                return Ok(()); // Not connected yet: a spurious event.
            }
            peer.connected = true;
            peer.stream.set_nodelay(true)?;
            self.members_connected += 1;
            self.on_connected(index)?;
        }
        self.flush(index)?;
        self.read(index)
    }

    /// Sends the join line, or counts the client as joined at once.
    fn on_connected(&mut self, index: usize) -> io::Result<()> {
        if self.peers[index].websocket == WebSocket::Upgrading {
            let request = format!(
                "GET /ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: cG9sbGNoYXQtYmVuY2gtMQ==\r\n\r\n",
                self.options.web.unwrap_or(self.options.addr)
            );
            return self.write(index, request.as_bytes()); // The join follows the upgrade.
        }
        self.join(index)
    }

    /// Sends the join line, or counts the client as joined at once.
    fn join(&mut self, index: usize) -> io::Result<()> {
        let name = format!("b{index}");
        let (join, joined_marker) = match (&self.options.protocol, self.peers[index].role) {
            (_, Role::Publisher(_)) => (None, None),
            (Protocol::Redis, _) => (
                Some("SUBSCRIBE room\r\n".to_string()),
                Some(":".to_string()),
            ),
            (Protocol::Chat { join, joined }, _) => (
                join.as_ref()
                    .map(|t| format!("{}\n", t.replace("{name}", &name))),
                joined.clone(),
            ),
        };
        if let Some(line) = join {
            self.send_line(index, line.as_bytes())?;
        }
        if joined_marker.is_none() {
            self.mark_joined(index);
        }
        Ok(())
    }

    fn mark_joined(&mut self, index: usize) {
        let peer = &mut self.peers[index];
        if !peer.joined {
            peer.joined = true;
            if peer.role != Role::Publisher(usize::MAX) && !matches!(peer.role, Role::Publisher(_))
            {
                self.joined += 1;
            }
        }
    }

    fn read(&mut self, index: usize) -> io::Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = loop {
            let peer = &mut self.peers[index];
            // A sleeper stops reading once joined: the server must cope with it.
            if peer.role == Role::Sleeper && peer.joined {
                break Ok(());
            }
            match peer.stream.read(&mut scratch) {
                Ok(0) => break Err(io::Error::other(format!("client {index} was disconnected"))),
                Ok(n) => {
                    // One clock reading per read, not per line: the lines of one read arrived together.
                    self.last_rx = Instant::now();
                    self.rx_ns = self.last_rx.duration_since(self.start).as_nanos() as u64;
                    self.lines(index, &scratch[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.scratch = scratch;
        result
    }

    /// Cuts bytes into lines (RESP too is lines ending in `\r\n`) and handles each.
    fn lines(&mut self, index: usize, bytes: &[u8]) {
        match self.peers[index].websocket {
            WebSocket::No => self.text_lines(index, bytes),
            WebSocket::Upgrading => self.upgrade_response(index, bytes),
            WebSocket::Open => self.frames(index, bytes),
        }
    }

    /// Waits for the end of the `101` response; what follows it is frames.
    fn upgrade_response(&mut self, index: usize, bytes: &[u8]) {
        let peer = &mut self.peers[index];
        peer.carry.extend_from_slice(bytes);
        let Some(end) = peer.carry.windows(4).position(|w| w == b"\r\n\r\n") else {
            return;
        };
        if !peer.carry.starts_with(b"HTTP/1.1 101") {
            return; // Refused: this client never joins, and the run never starts.
        }
        let rest = peer.carry.split_off(end + 4);
        peer.carry.clear();
        peer.websocket = WebSocket::Open;
        if let Err(e) = self.join(index) {
            log::warn!("client {index}: {e}");
        }
        self.frames(index, &rest);
    }

    /// Server frames: each text frame is one line.
    fn frames(&mut self, index: usize, bytes: &[u8]) {
        let mut carry = std::mem::take(&mut self.peers[index].carry);
        carry.extend_from_slice(bytes);
        let mut at = 0;
        while let Some((opcode, payload, used)) = server_frame(&carry[at..]) {
            if opcode == 0x1 {
                self.line(index, &carry[at + payload.start..at + payload.end]);
            }
            at += used;
        }
        carry.drain(..at);
        self.peers[index].carry = carry;
    }

    fn text_lines(&mut self, index: usize, mut bytes: &[u8]) {
        let mut carry = std::mem::take(&mut self.peers[index].carry);
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            if carry.is_empty() {
                self.line(index, &bytes[..end]);
            } else {
                carry.extend_from_slice(&bytes[..end]);
                self.line(index, &carry);
                carry.clear();
            }
            bytes = &bytes[end + 1..];
        }
        carry.extend_from_slice(bytes);
        self.peers[index].carry = carry;
    }

    fn line(&mut self, index: usize, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !self.peers[index].joined {
            let marker = match &self.options.protocol {
                Protocol::Redis => Some(":".as_bytes()),
                Protocol::Chat { joined, .. } => joined.as_deref().map(str::as_bytes),
            };
            if marker.is_none_or(|m| line.starts_with(m)) {
                self.mark_joined(index);
            }
            return;
        }
        if self.peers[index].role != Role::Member {
            return;
        }
        let Some(at) = find_mark(line) else {
            return;
        };
        let Some((sender, seq, sent_ns)) = parse_payload(&line[at + MARK.len()..]) else {
            return;
        };
        self.delivered(index, sender, seq, sent_ns);
    }

    fn delivered(&mut self, index: usize, sender: usize, seq: u64, sent_ns: u64) {
        let now_ns = self.rx_ns;
        self.report.latency.record(now_ns.saturating_sub(sent_ns));
        self.report.received += 1;
        if self.phase == Phase::Measuring {
            self.report.received_in_window += 1;
        }
        match self.peers[index].order.check(sender, seq) {
            Seen::InOrder => {}
            Seen::Gap(_) | Seen::Old => self.report.out_of_order += 1,
        }
        if let (Load::Closed { window }, Some(s)) =
            (self.options.load, self.senders.get_mut(sender))
        {
            let slot = &mut s.missing[(seq % window) as usize];
            *slot = slot.saturating_sub(1);
            if *slot == 0 {
                s.in_flight = s.in_flight.saturating_sub(1);
            }
        }
    }

    /// Sends whatever the load allows now.
    fn send_due(&mut self, now: Instant) -> io::Result<()> {
        for s in 0..self.senders.len() {
            loop {
                let sender = &self.senders[s];
                let due = match self.options.load {
                    Load::Closed { window } => sender.in_flight < window,
                    Load::Open { .. } => sender.next_due <= now,
                };
                // A sender whose socket is backed up waits, rather than queue without end.
                let backed_up = self
                    .peers
                    .get(sender.peer)
                    .is_none_or(|p| p.out.len() >= 1 << 20);
                if !due || backed_up {
                    break;
                }
                self.send_one(s)?;
            }
        }
        Ok(())
    }

    fn send_one(&mut self, s: usize) -> io::Result<()> {
        let sent_ns = self.start.elapsed().as_nanos() as u64;
        let sender = &mut self.senders[s];
        let seq = sender.seq;
        sender.seq += 1;
        match self.options.load {
            Load::Closed { window } => {
                sender.missing[(seq % window) as usize] = self.recipients;
                sender.in_flight += 1;
            }
            Load::Open { rate } => sender.next_due += Duration::from_secs_f64(1.0 / rate),
        }
        let peer = sender.peer;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let _ = write!(line, "~B {s} {seq} {sent_ns} ");
        while line.len() + 1 < self.options.payload {
            line.push(b'x');
        }
        let framed_redis;
        let bytes: &[u8] = if self.options.protocol == Protocol::Redis {
            let payload = std::str::from_utf8(&line).unwrap_or("");
            framed_redis = format!(
                "*3\r\n$7\r\nPUBLISH\r\n$4\r\nroom\r\n${}\r\n{payload}\r\n",
                payload.len()
            );
            framed_redis.as_bytes()
        } else {
            line.push(b'\n');
            &line
        };
        let result = self.send_line(peer, bytes);
        self.line = line;
        self.report.sent += 1;
        result
    }

    /// Sends one line as its client's transport frames it: as is, or as a WebSocket text message
    /// without its newline.
    fn send_line(&mut self, index: usize, line: &[u8]) -> io::Result<()> {
        if self.peers[index].websocket != WebSocket::Open {
            return self.write(index, line);
        }
        let mut framed = std::mem::take(&mut self.frame);
        framed.clear();
        masked_text_frame(line.strip_suffix(b"\n").unwrap_or(line), &mut framed);
        let result = self.write(index, &framed);
        self.frame = framed;
        result
    }

    /// Writes at once if nothing is waiting, else queues.
    fn write(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
        let peer = &mut self.peers[index];
        if !peer.out.is_empty() {
            peer.out.extend_from_slice(bytes);
            return Ok(());
        }
        match peer.stream.write(bytes) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(n) => {
                peer.out.extend_from_slice(&bytes[n..]);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                peer.out.extend_from_slice(bytes);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self, index: usize) -> io::Result<()> {
        let peer = &mut self.peers[index];
        while !peer.out.is_empty() {
            match peer.stream.write(&peer.out) {
                Ok(n) => {
                    peer.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Where the marker starts in a delivered line: a scan for its first byte, then a check of the rest.
fn find_mark(line: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].iter().position(|&b| b == MARK[0]) {
        let at = from + i;
        if line[at..].starts_with(MARK) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `SENDER SEQ SENT_NS ...` after the marker.
fn parse_payload(bytes: &[u8]) -> Option<(usize, u64, u64)> {
    let mut fields = bytes.split(|&b| b == b' ');
    let mut number = || -> Option<u64> {
        let field = fields.next()?;
        let mut value: u64 = 0;
        for &digit in field {
            if !digit.is_ascii_digit() {
                return None;
            }
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
        }
        (!field.is_empty()).then_some(value)
    };
    Some((number()? as usize, number()?, number()?))
}

impl Report {
    pub fn deliveries_per_second(&self) -> f64 {
        if self.window_seconds > 0.0 {
            self.received_in_window as f64 / self.window_seconds
        } else {
            0.0
        }
    }

    /// Server CPU nanoseconds per delivery in the window.
    pub fn server_ns_per_delivery(&self) -> Option<f64> {
        let server = self.server.as_ref()?;
        (self.received_in_window > 0)
            .then(|| server.cpu_seconds * 1e9 / self.received_in_window as f64)
    }

    /// (RSS with everyone joined − RSS before) / clients, in bytes.
    pub fn server_bytes_per_client(&self) -> Option<f64> {
        let server = self.server.as_ref()?;
        let clients = self.clients.max(1) as f64;
        Some(server.rss_joined.saturating_sub(server.rss_before) as f64 / clients)
    }

    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.out_of_order == 0
    }

    /// A table for people.
    pub fn table(&self) -> String {
        let ms = |ns: u64| ns as f64 / 1e6;
        let mut rows = vec![
            (
                "clients (senders, over WebSocket)",
                format!(
                    "{} ({}, {})",
                    self.clients, self.senders, self.websocket_clients
                ),
            ),
            ("recipients per line", self.recipients_per_line.to_string()),
            (
                "time for all to join",
                format!("{:.2} s", self.join_seconds),
            ),
            ("window", format!("{:.1} s", self.window_seconds)),
            ("lines sent", self.sent.to_string()),
            (
                "deliveries expected / received",
                format!("{} / {}", self.expected, self.received),
            ),
            ("lost", self.lost.to_string()),
            ("duplicated or out of order", self.out_of_order.to_string()),
            (
                "deliveries/s",
                format!("{:.0}", self.deliveries_per_second()),
            ),
            (
                "latency p50 / p99 / p99.9 / max",
                format!(
                    "{:.2} / {:.2} / {:.2} / {:.2} ms",
                    ms(self.latency.quantile(0.5)),
                    ms(self.latency.quantile(0.99)),
                    ms(self.latency.quantile(0.999)),
                    ms(self.latency.max())
                ),
            ),
            (
                "bench CPU in window",
                format!("{:.2} s", self.bench_cpu_seconds),
            ),
        ];
        if let Some(server) = &self.server {
            let mib = |b: u64| b as f64 / (1 << 20) as f64;
            rows.push((
                "server CPU in window",
                format!("{:.2} s", server.cpu_seconds),
            ));
            if let Some(ns) = self.server_ns_per_delivery() {
                rows.push(("server CPU per delivery", format!("{ns:.0} ns")));
            }
            rows.push((
                "server RSS before / joined / peak",
                format!(
                    "{:.1} / {:.1} / {:.1} MiB",
                    mib(server.rss_before),
                    mib(server.rss_joined),
                    mib(server.rss_peak)
                ),
            ));
            if let Some(b) = self.server_bytes_per_client() {
                rows.push(("server memory per client", format!("{b:.0} B")));
            }
            let kernel = server
                .socket_memory_joined
                .saturating_sub(server.socket_memory_before);
            rows.push((
                "kernel TCP memory added by joining",
                format!("{:.1} MiB", mib(kernel)),
            ));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:<width$}  {v}\n"))
            .collect()
    }

    /// One JSON object.
    pub fn json(&self) -> String {
        let mut fields = vec![
            format!("\"clients\":{}", self.clients),
            format!("\"websocket_clients\":{}", self.websocket_clients),
            format!("\"senders\":{}", self.senders),
            format!("\"recipients_per_line\":{}", self.recipients_per_line),
            format!("\"join_seconds\":{:.3}", self.join_seconds),
            format!("\"window_seconds\":{:.3}", self.window_seconds),
            format!("\"sent\":{}", self.sent),
            format!("\"expected\":{}", self.expected),
            format!("\"received\":{}", self.received),
            format!("\"lost\":{}", self.lost),
            format!("\"out_of_order\":{}", self.out_of_order),
            format!(
                "\"deliveries_per_second\":{:.0}",
                self.deliveries_per_second()
            ),
            format!("\"latency_p50_ns\":{}", self.latency.quantile(0.5)),
            format!("\"latency_p99_ns\":{}", self.latency.quantile(0.99)),
            format!("\"latency_p999_ns\":{}", self.latency.quantile(0.999)),
            format!("\"latency_max_ns\":{}", self.latency.max()),
            format!("\"bench_cpu_seconds\":{:.3}", self.bench_cpu_seconds),
        ];
        if let Some(server) = &self.server {
            fields.push(format!("\"server_cpu_seconds\":{:.3}", server.cpu_seconds));
            if let Some(ns) = self.server_ns_per_delivery() {
                fields.push(format!("\"server_ns_per_delivery\":{ns:.1}"));
            }
            fields.push(format!("\"server_rss_before\":{}", server.rss_before));
            fields.push(format!("\"server_rss_joined\":{}", server.rss_joined));
            fields.push(format!("\"server_rss_peak\":{}", server.rss_peak));
            if let Some(b) = self.server_bytes_per_client() {
                fields.push(format!("\"server_bytes_per_client\":{b:.0}"));
            }
            fields.push(format!(
                "\"socket_memory_before\":{}",
                server.socket_memory_before
            ));
            fields.push(format!(
                "\"socket_memory_joined\":{}",
                server.socket_memory_joined
            ));
        }
        format!("{{{}}}", fields.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_found_wherever_the_server_puts_it() {
        assert_eq!(find_mark(b"<b1> ~B 1 2 3"), Some(5));
        assert_eq!(find_mark(b"~x ~B 1"), Some(3));
        assert_eq!(find_mark(b"*** b1 joined"), None);
    }

    #[test]
    fn payloads_parse_wherever_the_server_puts_them() {
        assert_eq!(parse_payload(b"3 17 123456 xxxx"), Some((3, 17, 123456)));
        assert_eq!(parse_payload(b"3 x 1"), None);
        assert_eq!(parse_payload(b"3 17"), None);
    }
}
