//! The generator's event loop: every client of a run on one `mio::Poll`, on one thread, driven
//! through the run's phases (connect and join, settle, measure, drain). Each pass of the loop polls,
//! serves the connections that are ready, moves to the next phase when its condition holds, and in
//! the window sends whatever the load allows.
//!
//! With rooms (`rooms`), joining has one more step: once named, a client sends its `/join`s at once
//! and is ready when the server confirms its own room, the last it joins. Each sender's lines are
//! then expected at the members of its room only, and a line that reaches anyone else, or shows the
//! wrong room, is counted as misdelivered.
//!
//! The per-line path allocates nothing: reads land in one scratch buffer and are cut into lines (or
//! RESP replies, or WebSocket frames) in place; only the unfinished end of a read is kept, per
//! connection, for the next; lines sent are built in two reused buffers.

use std::io::{self, Read, Write};
use std::mem;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::order::{Order, Seen};
use super::payload::{self, Stamp};
use super::procfs::CpuStopwatch;
use super::report::{Report, ServerFigures};
use super::tls::{Connector, Stream};
use super::{Companion, Load, Options, Protocol, procfs, resp, rooms, ws_client};

/// The longest drain after the window, waiting for lines in flight.
const DRAIN: Duration = Duration::from_secs(2);
/// How long the sleepers are read at the end, to see which the server has cut off. The check ends as
/// soon as all are; at 2 s, one run in several saw 9 of 10 while the server had logged all 10.
const CHECK: Duration = Duration::from_secs(10);
/// Joining fails if this long passes with no client connecting or joining.
const JOIN_STALL: Duration = Duration::from_secs(10);
/// The window starts after this long settling even if the server never falls quiet.
const SETTLE_MAX: Duration = Duration::from_secs(10);
/// The longest wait in `poll`: phases are checked at least this often.
const TICK: Duration = Duration::from_millis(10);
/// A sender whose unwritten output reaches this waits, rather than queue without end.
const BACKLOG: usize = 1 << 20;
/// Read buffer size: one `read` takes up to this much.
const SCRATCH: usize = 64 << 10;
/// The Redis channel every client subscribes to.
const CHANNEL: &[u8] = b"pollchat-bench";

/// Runs the benchmark that `options` describe.
pub fn run(options: &Options) -> io::Result<Report> {
    let mut generator = Generator::new(options)?;
    generator.run()?;
    Ok(generator.report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Connecting and joining every client.
    Joining,
    /// Everyone has joined; waiting for the server to fall quiet.
    Settling,
    /// The measured window: senders send.
    Measuring,
    /// Sending has stopped; waiting for lines in flight.
    Draining,
    /// The sleepers read at last what was queued for them, to see whether the server has closed
    /// them (a server should cut off a client that does not read).
    Checking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A client in the room, a recipient; the first `senders` of them also send (chat mode).
    Member,
    /// A client that joins and then never reads again.
    Sleeper,
    /// Redis mode: the connection a sender publishes on.
    Publisher,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    /// Connected, the join sent, its acknowledgement awaited.
    Joining,
    /// With rooms: named, its `/join`s sent, the server's `*** you joined` for its own room (the
    /// last one) awaited.
    EnteringRooms,
    Joined,
    /// The server closed it, or it failed.
    Closed,
}

/// How a connection's bytes are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// Chat lines, or RESP in Redis mode.
    Plain,
    /// WebSocket: the upgrade request is sent, the response not complete yet.
    Upgrading,
    /// WebSocket: one text frame per line.
    WebSocket,
}

/// One connection of the run.
struct Peer {
    /// The socket, or with `--tls` rustls in front of it: read and written alike.
    stream: Stream,
    role: Role,
    state: State,
    transport: Transport,
    /// The unfinished end of the last read (part of a line, reply or frame).
    carry: Vec<u8>,
    /// Bytes not yet written.
    out: Vec<u8>,
    /// What this client has received from each sender.
    order: Order,
}

struct Sender {
    /// The connection it sends on.
    peer: usize,
    /// How many clients receive each of its lines.
    recipients: u32,
    /// The next sequence number.
    seq: u64,
    /// Closed loop: lines sent whose recipients do not all have them yet.
    in_flight: u64,
    /// Closed loop: for each line in flight, at `seq & (slots.len() - 1)`, its number and how many
    /// recipients still miss it. A power of two at least the window, so that a slot is free again
    /// once its line is complete, whatever order lines complete in.
    slots: Vec<Slot>,
    /// Open loop: when the next line is due.
    next_due: Instant,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    seq: u64,
    missing: u32,
}

struct Generator<'a> {
    options: &'a Options,
    poll: Poll,
    peers: Vec<Peer>,
    senders: Vec<Sender>,
    phase: Phase,
    start: Instant,
    /// This run's random tag, in every payload it sends (see `payload`).
    run: u64,
    /// Connections ready for the window: members and sleepers joined, publishers connected.
    ready: usize,
    /// Connects started whose connection is not ready yet.
    pending: usize,
    /// When a connection last became ready (to notice a join that stalls).
    last_progress: Instant,
    /// When bytes last arrived anywhere, and that time in nanoseconds since `start`: the arrival
    /// time of the lines being handled.
    last_rx: Instant,
    rx_ns: u64,
    /// When the current phase began.
    phase_start: Instant,
    report: Report,
    /// The server's figures, and the CPU its processes and the generator use from the window's start.
    server: ServerFigures,
    server_cpu: Vec<CpuStopwatch>,
    bench_cpu: CpuStopwatch,
    /// The processes of `--also-pid`, in their order.
    also_cpu: Vec<CpuStopwatch>,
    /// An error found where it cannot be returned (a failed write before the window): ends the run.
    failure: Option<io::Error>,
    /// One read's bytes, after the carry of the connection read.
    scratch: Vec<u8>,
    /// The payload being sent, and its framing for the wire.
    line: Vec<u8>,
    frame: Vec<u8>,
    /// With `--tls`, what every connection's TLS is made from.
    connector: Option<Connector>,
}

impl<'a> Generator<'a> {
    fn new(options: &'a Options) -> io::Result<Generator<'a>> {
        let slots = match options.load {
            Load::Closed { window } => window.max(1).next_power_of_two() as usize,
            Load::Open { .. } => 0,
        };
        let now = Instant::now();
        let senders = (0..options.senders)
            .map(|i| Sender {
                // In Redis mode the publishers are the last connections.
                peer: match options.protocol {
                    Protocol::Redis => options.clients + options.sleepers + i,
                    Protocol::Chat { .. } => i,
                },
                recipients: u32::try_from(options.recipients(i)).unwrap_or(u32::MAX),
                seq: 0,
                in_flight: 0,
                slots: vec![Slot::default(); slots],
                next_due: now,
            })
            .collect();
        Ok(Generator {
            options,
            poll: Poll::new()?,
            peers: Vec::with_capacity(options.connections()),
            senders,
            phase: Phase::Joining,
            start: now,
            run: u64::from(fastrand::u32(..)),
            ready: 0,
            pending: 0,
            last_progress: now,
            last_rx: now,
            rx_ns: 0,
            phase_start: now,
            report: Report::new(options),
            server: ServerFigures::default(),
            server_cpu: Vec::new(),
            bench_cpu: CpuStopwatch::start("self"),
            also_cpu: Vec::new(),
            failure: None,
            scratch: vec![0; SCRATCH],
            line: Vec::with_capacity(options.payload + 64),
            frame: Vec::with_capacity(options.payload + 128),
            connector: options.tls.map(|tls| Connector::new(tls.pin)).transpose()?,
        })
    }

    /// Whether the server's processes are known, so that their CPU and memory are read.
    fn measures_server(&self) -> bool {
        !self.options.server_pids.is_empty()
    }

    /// A memory field of `/proc/PID/status` (`VmRSS`, `VmHWM`) summed over the server's processes;
    /// one that cannot be read counts 0.
    fn server_memory(&self, field: &str) -> u64 {
        let pids = self.options.server_pids.iter();
        pids.map(|pid| procfs::memory(&pid.to_string(), field).unwrap_or(0))
            .sum()
    }

    fn run(&mut self) -> io::Result<()> {
        if self.measures_server() {
            self.server.processes = self.options.server_pids.len();
            self.server.rss_before = self.server_memory("VmRSS");
            self.server.socket_memory_before = procfs::tcp_socket_memory().unwrap_or(0);
        }
        // The CPU of connecting and joining (with TLS, the handshakes), until the window restarts it.
        let pids = self.options.server_pids.iter();
        self.server_cpu = pids
            .map(|pid| CpuStopwatch::start(&pid.to_string()))
            .collect();
        self.bench_cpu = CpuStopwatch::start("self");
        let mut events = Events::with_capacity(4096);
        loop {
            if self.phase == Phase::Joining {
                self.connect_more()?;
            }
            match self.poll.poll(&mut events, Some(self.timeout())) {
                Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
                _ => {}
            }
            for event in events.iter() {
                self.serve(event.token().0)?;
            }
            if let Some(e) = self.failure.take() {
                return Err(e);
            }
            let now = Instant::now();
            if !self.advance(now)? {
                break;
            }
            if self.phase == Phase::Measuring {
                self.send_due(now)?;
            }
        }
        self.report.lost = self.report.expected.saturating_sub(self.report.received);
        if self.measures_server() {
            self.report.server = Some(self.server.clone());
        }
        Ok(())
    }

    /// How long `poll` may wait: until the next open-loop line is due, at most a tick.
    fn timeout(&self) -> Duration {
        let now = Instant::now();
        match (self.phase, self.options.load) {
            (Phase::Measuring, Load::Open { .. }) => self
                .senders
                .iter()
                .map(|s| s.next_due.saturating_duration_since(now))
                .min()
                .unwrap_or(TICK)
                .min(TICK),
            _ => TICK,
        }
    }

    /// Moves to the next phase when the current one is over; false when the run is over.
    fn advance(&mut self, now: Instant) -> io::Result<bool> {
        let in_phase = now.duration_since(self.phase_start);
        match self.phase {
            Phase::Joining if self.ready == self.options.connections() => {
                self.report.join_seconds = now.duration_since(self.start).as_secs_f64();
                self.server.join_cpu_seconds =
                    self.server_cpu.iter().map(CpuStopwatch::elapsed).sum();
                self.report.bench_join_cpu_seconds = self.bench_cpu.elapsed();
                self.last_rx = now;
                self.enter(Phase::Settling, now);
            }
            Phase::Joining if now.duration_since(self.last_progress) >= JOIN_STALL => {
                return Err(self.stalled());
            }
            Phase::Settling => {
                let quiet = now.duration_since(self.last_rx) >= self.options.settle;
                if !quiet && in_phase >= SETTLE_MAX {
                    eprintln!(
                        "pollchat-bench: the server never fell quiet for {:?}; starting the window anyway",
                        self.options.settle
                    );
                }
                if quiet || in_phase >= SETTLE_MAX {
                    self.open_window(now);
                }
            }
            Phase::Measuring if in_phase >= self.options.duration => self.close_window(now),
            Phase::Draining => {
                let all_in = self.report.received >= self.report.expected;
                if all_in || in_phase >= DRAIN {
                    if self.options.sleepers == 0 {
                        return Ok(false);
                    }
                    self.wake_sleepers(now)?;
                }
            }
            Phase::Checking => {
                let all_cut = self.report.sleepers_dropped == self.options.sleepers as u64;
                return Ok(!all_cut && in_phase < CHECK);
            }
            _ => {}
        }
        Ok(true)
    }

    fn enter(&mut self, phase: Phase, now: Instant) {
        self.phase = phase;
        self.phase_start = now;
    }

    /// Why joining stalled, in one line.
    fn stalled(&self) -> io::Error {
        let connected = self
            .peers
            .iter()
            .filter(|p| p.state != State::Connecting)
            .count();
        let entering = self
            .peers
            .iter()
            .filter(|p| p.state == State::EnteringRooms)
            .count();
        let hint = match &self.options.protocol {
            _ if entering > 0 => format!(
                "; {entering} named but not in their rooms yet (no \"*** you joined #rK\" for their own)"
            ),
            Protocol::Chat {
                joined: Some(prefix),
                ..
            } => format!("; no line starting {prefix:?} (--joined-prefix) came for the others"),
            _ => String::new(),
        };
        io::Error::other(format!(
            "joining stalled: {} of {} connections ready, {connected} connected, none for {}s{hint}",
            self.ready,
            self.options.connections(),
            JOIN_STALL.as_secs()
        ))
    }

    /// Reads the server's memory with all joined, and starts the CPU stopwatches.
    fn open_window(&mut self, now: Instant) {
        if self.measures_server() {
            self.server.rss_joined = self.server_memory("VmRSS");
            self.server.socket_memory_joined = procfs::tcp_socket_memory().unwrap_or(0);
        }
        let pids = self.options.server_pids.iter();
        self.server_cpu = pids
            .map(|pid| CpuStopwatch::start(&pid.to_string()))
            .collect();
        self.bench_cpu = CpuStopwatch::start("self");
        let companions = self.options.companions.iter();
        let watch = |c: &Companion| CpuStopwatch::start(&c.pid.to_string());
        self.also_cpu = companions.map(watch).collect();
        let count = self.senders.len() as u32;
        for (s, sender) in self.senders.iter_mut().enumerate() {
            sender.next_due = match self.options.load {
                // Sender s of S starts s/S of a period in: the lines leave one by one, evenly.
                Load::Open { rate } if self.options.spread => {
                    now + Duration::from_secs_f64(1.0 / rate) * s as u32 / count
                }
                _ => now,
            };
        }
        self.enter(Phase::Measuring, now);
    }

    fn close_window(&mut self, now: Instant) {
        self.report.window_seconds = now.duration_since(self.phase_start).as_secs_f64();
        if self.measures_server() {
            self.server.cpu_seconds = self.server_cpu.iter().map(CpuStopwatch::elapsed).sum();
            self.server.rss_peak = self.server_memory("VmHWM");
        }
        self.report.bench_cpu_seconds = self.bench_cpu.elapsed();
        for ((_, seconds), watch) in self.report.also_cpu.iter_mut().zip(&self.also_cpu) {
            *seconds = watch.elapsed();
        }
        self.enter(Phase::Draining, now);
    }

    /// Starts reading the sleepers: polls them for reading again, and reads each once now, since
    /// what is waiting for them arrived while nobody listened; later arrivals raise new events.
    fn wake_sleepers(&mut self, now: Instant) -> io::Result<()> {
        self.enter(Phase::Checking, now);
        let first = self.options.clients;
        for index in first..first + self.options.sleepers {
            let peer = &mut self.peers[index];
            if peer.state == State::Joined {
                let interest = Interest::READABLE | Interest::WRITABLE;
                self.poll
                    .registry()
                    .reregister(&mut peer.stream, Token(index), interest)?;
            }
            self.read(index)?;
        }
        Ok(())
    }

    // --- Connecting and joining ---

    /// Starts connects until `connecting` are in flight or every connection has been started.
    fn connect_more(&mut self) -> io::Result<()> {
        while self.pending < self.options.connecting.max(1)
            && self.peers.len() < self.options.connections()
        {
            self.connect_one()?;
        }
        Ok(())
    }

    fn connect_one(&mut self) -> io::Result<()> {
        let index = self.peers.len();
        let websocket = self.options.is_websocket(index);
        let target = self.target(index);
        let context = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("connection {} to {target}: {e}", index + 1),
            )
        };
        let tcp = TcpStream::connect(target).map_err(context)?;
        let mut stream = match &self.connector {
            Some(connector) => connector.start(tcp, target).map_err(context)?,
            None => Stream::Plain(tcp),
        };
        // Edge-triggered: one registration for the connection's whole life.
        self.poll
            .registry()
            .register(
                &mut stream,
                Token(index),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(context)?;
        let role = if index < self.options.clients {
            Role::Member
        } else if index < self.options.clients + self.options.sleepers {
            Role::Sleeper
        } else {
            Role::Publisher
        };
        self.peers.push(Peer {
            stream,
            role,
            state: State::Connecting,
            transport: if websocket {
                Transport::Upgrading
            } else {
                Transport::Plain
            },
            carry: Vec::new(),
            out: Vec::new(),
            order: Order::new(if role == Role::Member {
                self.options.heard_by(index)
            } else {
                Vec::new()
            }),
        });
        self.pending += 1;
        Ok(())
    }

    /// Where connection `index` connects: its node's web face if it joins over WebSocket, else the
    /// node's chat address.
    fn target(&self, index: usize) -> SocketAddr {
        let node = self.options.nodes[self.options.node(index)];
        match node.web {
            Some(web) if self.options.is_websocket(index) => web,
            _ => node.addr,
        }
    }

    /// A non-blocking connect has finished when the socket is writable: with an error, or with a
    /// peer address. Returns whether it is connected.
    fn finish_connect(&mut self, index: usize) -> io::Result<bool> {
        let target = self.target(index);
        let peer = &mut self.peers[index];
        let tcp = peer.stream.tcp();
        if let Ok(Some(e)) | Err(e) = tcp.take_error() {
            return Err(io::Error::new(
                e.kind(),
                format!("connect to {target}: {e}"),
            ));
        }
        if tcp.peer_addr().is_err() {
            return Ok(false); // Not connected yet: an early event.
        }
        // The generator's own small writes must not wait for delayed ACKs (Nagle).
        tcp.set_nodelay(true)?;
        peer.state = State::Joining;
        if peer.transport == Transport::Upgrading {
            let request = ws_client::upgrade_request(target);
            self.write(index, request.as_bytes()); // The join follows the upgrade.
        } else {
            self.join(index);
        }
        Ok(true)
    }

    /// Sends the join (a chat line, or SUBSCRIBE), or counts the connection ready at once.
    fn join(&mut self, index: usize) {
        let mut request = mem::take(&mut self.frame);
        request.clear();
        let ready_at_once = match (&self.options.protocol, self.peers[index].role) {
            (_, Role::Publisher) => true,
            (Protocol::Redis, _) => {
                resp::command(&[b"SUBSCRIBE", CHANNEL], &mut request);
                false
            }
            (Protocol::Chat { join, joined, irc }, _) => {
                if let Some(template) = join {
                    let line = template.replace("{name}", &format!("b{index}"));
                    self.frame_line(index, line.as_bytes(), &mut request);
                }
                joined.is_none() && !irc
            }
        };
        if !request.is_empty() {
            self.write(index, &request);
        }
        self.frame = request;
        if ready_at_once {
            self.named(index);
        }
    }

    /// The server has taken the client's join (or needs none): into its rooms next, if any.
    fn named(&mut self, index: usize) {
        let in_rooms = self.options.rooms.are_on() && self.peers[index].role != Role::Publisher;
        if in_rooms {
            self.enter_rooms(index);
        } else {
            self.now_ready(index);
        }
    }

    /// Sends all of a client's `/join`s in one write, its own room last (so that it ends current),
    /// and waits for the server to confirm that one: it answers in order, so the others are done.
    fn enter_rooms(&mut self, index: usize) {
        let mut request = mem::take(&mut self.frame);
        request.clear();
        for room in self.options.rooms.joins(index) {
            self.frame_line(index, rooms::join_command(room).as_bytes(), &mut request);
        }
        self.write(index, &request);
        self.frame = request;
        if self.peers[index].state == State::Joining {
            self.peers[index].state = State::EnteringRooms;
        }
    }

    /// A line that arrived while the client enters its rooms: the confirmation of its own room makes
    /// it ready; an error (`! ...`) means the server refused a room, and the run cannot start.
    fn entering_line(&mut self, index: usize, line: &[u8]) {
        let home = self.options.rooms.home(index);
        if rooms::joined(line) == Some(home) {
            self.now_ready(index);
        } else if line.starts_with(b"! ") {
            let error = io::Error::other(format!(
                "connection {}: the server refused a /join: {:?} (it counts its default room in \
                 --max-rooms, and allows --max-rooms-per-user rooms to a user)",
                index + 1,
                String::from_utf8_lossy(line)
            ));
            self.failure.get_or_insert(error);
        }
    }

    /// The connection has joined, rooms and all (or, a publisher, connected).
    fn now_ready(&mut self, index: usize) {
        let peer = &mut self.peers[index];
        if !matches!(peer.state, State::Joining | State::EnteringRooms) {
            return;
        }
        peer.state = State::Joined;
        if self.report.tls.as_ref().is_some_and(String::is_empty) {
            self.report.tls = peer.stream.negotiated();
        }
        self.ready += 1;
        self.pending -= 1;
        self.last_progress = Instant::now();
        if peer.role == Role::Sleeper {
            // It will not read until the end: stop being woken for what arrives for it.
            let registry = self.poll.registry();
            if let Err(e) = registry.reregister(&mut peer.stream, Token(index), Interest::WRITABLE)
            {
                self.failure.get_or_insert(e);
            }
        }
    }

    // --- Reading ---

    /// Serves a readiness event: finishes a connect, writes what is queued, reads what arrived.
    fn serve(&mut self, index: usize) -> io::Result<()> {
        let state = self.peers[index].state;
        match state {
            State::Closed => return Ok(()),
            State::Connecting if !self.finish_connect(index)? => return Ok(()),
            _ => {}
        }
        self.flush(index);
        self.read(index)
    }

    /// Reads until the socket is empty. Each read lands after the connection's carried bytes at the
    /// front of the scratch buffer, so a line cut by the previous read is whole again, in place.
    fn read(&mut self, index: usize) -> io::Result<()> {
        let mut scratch = mem::take(&mut self.scratch);
        let result = self.read_into(index, &mut scratch);
        self.scratch = scratch;
        result
    }

    fn read_into(&mut self, index: usize, scratch: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let peer = &mut self.peers[index];
            // A sleeper stops reading once joined, until the end: the server must cope with it.
            let asleep = peer.role == Role::Sleeper
                && peer.state == State::Joined
                && self.phase != Phase::Checking;
            if peer.state == State::Closed || asleep {
                return Ok(());
            }
            let kept = peer.carry.len();
            if scratch.len() < kept + SCRATCH {
                // Room for a full read after the carry: grows only for a carry longer than any so far.
                scratch.resize(kept + SCRATCH, 0);
            }
            scratch[..kept].copy_from_slice(&peer.carry);
            let n = match peer.stream.read(&mut scratch[kept..]) {
                Ok(0) => return self.closed(index, "the server closed the connection"),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.closed(index, &e.to_string()),
            };
            // One clock reading per read, not per line: the lines of one read arrived together.
            self.last_rx = Instant::now();
            self.rx_ns = self.last_rx.duration_since(self.start).as_nanos() as u64;
            let filled = kept + n;
            let used = self.handle(index, &scratch[..filled])?;
            let carry = &mut self.peers[index].carry;
            carry.clear();
            carry.extend_from_slice(&scratch[used..filled]);
            // A short read emptied the socket. On Linux (epoll) every later arrival raises a new
            // edge, so the read that would only say "WouldBlock" can be skipped: one system call in
            // two saved. Tokio relies on the same guarantee.
            if filled < scratch.len() {
                return Ok(());
            }
        }
    }

    /// Handles the complete units at the start of `bytes`; returns how many bytes they took.
    fn handle(&mut self, index: usize, bytes: &[u8]) -> io::Result<usize> {
        if self.phase == Phase::Checking && self.peers[index].role == Role::Sleeper {
            return Ok(bytes.len()); // Only the end of its stream matters now.
        }
        match (self.peers[index].transport, &self.options.protocol) {
            (Transport::Upgrading, _) => self.upgrade_response(index, bytes),
            (Transport::WebSocket, _) => Ok(self.frames(index, bytes)),
            (Transport::Plain, Protocol::Redis) => self.replies(index, bytes),
            (Transport::Plain, Protocol::Chat { .. }) => Ok(self.lines(index, bytes)),
        }
    }

    /// Chat lines, each ending in `\n`.
    fn lines(&mut self, index: usize, bytes: &[u8]) -> usize {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', bytes) {
            self.line(index, &bytes[start..end]);
            start = end + 1;
        }
        start
    }

    /// One chat line (from TCP or a WebSocket frame): the join's acknowledgement, a room's, or a
    /// delivery. With rooms, a line of another room than the client's current one starts with that
    /// room's name (`#r3 <b3> ~B ...`): the name is split off first, and the rest is read as usual.
    fn line(&mut self, index: usize, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (room, line) = if self.options.rooms.are_on() {
            rooms::split_room(line)
        } else {
            (None, line)
        };
        let peer = &self.peers[index];
        match peer.state {
            State::Joining => {
                let (joined, irc) = match &self.options.protocol {
                    Protocol::Chat { joined, irc, .. } => (joined.as_deref(), *irc),
                    Protocol::Redis => (None, false),
                };
                // IRC: `:SERVER 366 NICK #general :End of /NAMES list.`, whatever SERVER is; the
                // welcome (001) is when a JOIN is taken.
                let numeric = line.split(|&b| b == b' ').nth(1);
                if irc && numeric == Some(b"001") {
                    let mut join = mem::take(&mut self.frame);
                    join.clear();
                    self.frame_line(index, b"JOIN #general", &mut join);
                    self.write(index, &join);
                    self.frame = join;
                }
                let names_end = || numeric == Some(b"366");
                let named = match (irc, joined) {
                    (true, _) => names_end(),
                    (false, Some(prefix)) => line.starts_with(prefix.as_bytes()),
                    (false, None) => true,
                };
                if room.is_none() && named {
                    self.named(index);
                }
            }
            State::EnteringRooms if room.is_none() => self.entering_line(index, line),
            _ if peer.role == Role::Member => {
                if let Some(stamp) = payload::find(line, self.run) {
                    self.delivered(index, room, stamp);
                }
            }
            _ => {}
        }
    }

    /// Redis replies: a subscription confirmed, a message, a PUBLISH count, an error.
    fn replies(&mut self, index: usize, bytes: &[u8]) -> io::Result<usize> {
        let mut at = 0;
        loop {
            let parsed = resp::parse(&bytes[at..]).map_err(|_| {
                io::Error::other(format!(
                    "connection {}: the server's reply is not RESP",
                    index + 1
                ))
            })?;
            let Some((reply, used)) = parsed else {
                return Ok(at);
            };
            at += used;
            match reply {
                resp::Reply::Subscribed => self.now_ready(index),
                resp::Reply::Message(text) => {
                    if let Some(stamp) = payload::find(text, self.run) {
                        self.delivered(index, None, stamp);
                    }
                }
                resp::Reply::Error(text) => {
                    return Err(io::Error::other(format!(
                        "the server replied {:?}",
                        String::from_utf8_lossy(text)
                    )));
                }
                resp::Reply::Integer(_) | resp::Reply::Other => {}
            }
        }
    }

    /// Waits for the end of the `101` response; what follows it is frames.
    fn upgrade_response(&mut self, index: usize, bytes: &[u8]) -> io::Result<usize> {
        let Some((end, accepted)) = ws_client::upgrade_response(bytes) else {
            return Ok(0);
        };
        if !accepted {
            let status = bytes.split(|&b| b == b'\r').next().unwrap_or_default();
            return Err(io::Error::other(format!(
                "connection {}: WebSocket upgrade refused: {}",
                index + 1,
                String::from_utf8_lossy(status)
            )));
        }
        self.peers[index].transport = Transport::WebSocket;
        self.join(index);
        Ok(end + self.frames(index, &bytes[end..]))
    }

    /// Server frames: each text frame is one line.
    fn frames(&mut self, index: usize, bytes: &[u8]) -> usize {
        let mut at = 0;
        while let Some((opcode, payload, used)) = ws_client::server_frame(&bytes[at..]) {
            if opcode == ws_client::TEXT {
                self.line(index, &bytes[at + payload.start..at + payload.end]);
            }
            at += used;
        }
        at
    }

    /// Counts one delivery: checks that it was meant for this client and shows the right room
    /// (`room`, the prefix it came with), checks its order, times it, and in closed loop marks it
    /// against its line.
    fn delivered(&mut self, index: usize, room: Option<&[u8]>, stamp: Stamp) {
        if !self.in_right_room(index, room, stamp.sender) {
            self.report.misdelivered += 1;
            return;
        }
        match self.peers[index].order.check(stamp.sender, stamp.seq) {
            Seen::InOrder | Seen::Ahead => {}
            Seen::Late => self.report.reordered += 1,
            Seen::Duplicate => {
                self.report.duplicates += 1;
                return;
            }
            Seen::Foreign => {
                self.report.misdelivered += 1;
                return;
            }
        }
        self.report.received += 1;
        if self.phase == Phase::Measuring {
            self.report.received_in_window += 1;
        }
        let latency = self.rx_ns.saturating_sub(stamp.sent_ns);
        self.report.latency.record(latency);
        if self.options.nodes.len() > 1 {
            self.record_by_node(index, stamp.sender, latency);
        }
        let sender = &mut self.senders[stamp.sender];
        if sender.slots.is_empty() {
            return; // Open loop: nothing waits for deliveries.
        }
        let at = stamp.seq as usize & (sender.slots.len() - 1);
        let slot = &mut sender.slots[at];
        if slot.seq == stamp.seq && slot.missing > 0 {
            slot.missing -= 1;
            if slot.missing == 0 {
                sender.in_flight -= 1;
            }
        }
    }

    /// With rooms, whether a line of `sender` shows the room it was said in: no prefix if that is
    /// the recipient's current room (its own), else that room's name. (Whether the recipient is in
    /// that room at all is the order check's: it tracks only the senders of its rooms.) Without
    /// rooms there is nothing to check.
    fn in_right_room(&self, index: usize, room: Option<&[u8]>, sender: usize) -> bool {
        let plan = &self.options.rooms;
        if !plan.are_on() || sender >= self.senders.len() {
            return true;
        }
        let said_in = plan.home(sender);
        match room {
            None => plan.home(index) == said_in,
            Some(name) => plan.home(index) != said_in && rooms::number(name) == Some(said_in),
        }
    }

    /// In a cluster, files a delivery's latency again under whether the line stayed on one node
    /// (sender and recipient on the same node) or crossed between two: what the cluster adds.
    fn record_by_node(&mut self, index: usize, sender: usize, latency: u64) {
        let from = self.options.node(self.senders[sender].peer);
        let histogram = if self.options.node(index) == from {
            &mut self.report.latency_same_node
        } else {
            &mut self.report.latency_cross_node
        };
        histogram.record(latency);
    }

    /// After the join, the server dropping a client is counted, and the run goes on (its lines
    /// will be missing); before, it is an error, since the run cannot start without it.
    fn closed(&mut self, index: usize, why: &str) -> io::Result<()> {
        let peer = &mut self.peers[index];
        if peer.state == State::Closed {
            return Ok(());
        }
        let was_joined = peer.state == State::Joined;
        peer.state = State::Closed;
        let _ = self.poll.registry().deregister(&mut peer.stream);
        if peer.role == Role::Sleeper && was_joined {
            self.report.sleepers_dropped += 1;
            return Ok(());
        }
        if self.phase >= Phase::Measuring {
            self.report.disconnected += 1;
            return Ok(());
        }
        Err(io::Error::other(format!(
            "connection {} of {}: {why} before the window started ({} ready)",
            index + 1,
            self.options.connections(),
            self.ready
        )))
    }

    // --- Sending ---

    /// Sends whatever the load allows now.
    fn send_due(&mut self, now: Instant) -> io::Result<()> {
        for s in 0..self.senders.len() {
            while self.may_send(s, now) {
                self.send_one(s);
            }
        }
        Ok(())
    }

    fn may_send(&self, s: usize, now: Instant) -> bool {
        let sender = &self.senders[s];
        let peer = &self.peers[sender.peer];
        if peer.state != State::Joined || peer.out.len() >= BACKLOG {
            return false;
        }
        match self.options.load {
            Load::Closed { window } => {
                let slot = sender.slots[sender.seq as usize & (sender.slots.len() - 1)];
                // With no recipient a line is never in flight: nothing would hold the sender back.
                sender.recipients > 0 && sender.in_flight < window && slot.missing == 0
            }
            Load::Open { .. } => sender.next_due <= now,
        }
    }

    fn send_one(&mut self, s: usize) {
        let sent_ns = self.start.elapsed().as_nanos() as u64;
        let sender = &mut self.senders[s];
        let recipients = sender.recipients;
        let seq = sender.seq;
        sender.seq += 1;
        self.report.expected += u64::from(recipients);
        match self.options.load {
            Load::Closed { .. } => {
                let at = seq as usize & (sender.slots.len() - 1);
                sender.slots[at] = Slot {
                    seq,
                    missing: recipients,
                };
                sender.in_flight += 1;
            }
            Load::Open { rate } => sender.next_due += Duration::from_secs_f64(1.0 / rate),
        }
        let peer = sender.peer;
        let stamp = Stamp {
            sender: s,
            seq,
            sent_ns,
            run: self.run,
        };
        let mut line = mem::take(&mut self.line);
        let mut frame = mem::take(&mut self.frame);
        // The payload's size leaves room for the newline that ends a chat line.
        payload::write(stamp, self.options.payload.saturating_sub(1), &mut line);
        frame.clear();
        match self.options.protocol {
            Protocol::Redis => resp::command(&[b"PUBLISH", CHANNEL, &line], &mut frame),
            Protocol::Chat { irc: true, .. } => {
                let mut privmsg = b"PRIVMSG #general :".to_vec();
                privmsg.extend_from_slice(&line);
                self.frame_line(peer, &privmsg, &mut frame);
            }
            Protocol::Chat { .. } => self.frame_line(peer, &line, &mut frame),
        }
        self.write(peer, &frame);
        self.line = line;
        self.frame = frame;
        self.report.sent += 1;
    }

    /// Appends a chat line as its connection's transport frames it: with a newline, or as a
    /// WebSocket text frame.
    fn frame_line(&self, index: usize, line: &[u8], out: &mut Vec<u8>) {
        if self.peers[index].transport == Transport::WebSocket {
            ws_client::text_frame(line, out);
        } else {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }

    /// Writes at once if nothing is waiting, else queues. A failed write closes the connection.
    fn write(&mut self, index: usize, bytes: &[u8]) {
        let peer = &mut self.peers[index];
        if peer.state == State::Closed {
            return;
        }
        if !peer.out.is_empty() {
            peer.out.extend_from_slice(bytes);
            return;
        }
        match peer.stream.write(bytes) {
            Ok(n) => peer.out.extend_from_slice(&bytes[n..]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => peer.out.extend_from_slice(bytes),
            Err(e) => self.write_failed(index, e),
        }
    }

    fn flush(&mut self, index: usize) {
        let peer = &mut self.peers[index];
        // With TLS, the records rustls holds go first (plain sockets hold none).
        match peer.stream.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => return self.write_failed(index, e),
        }
        while !peer.out.is_empty() {
            match peer.stream.write(&peer.out) {
                Ok(n) => {
                    peer.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.write_failed(index, e),
            }
        }
    }

    /// A write error means the server is gone for this connection: `closed` decides whether that
    /// ends the run, which happens at the end of this pass of the loop.
    fn write_failed(&mut self, index: usize, e: io::Error) {
        self.peers[index].out.clear();
        if let Err(e) = self.closed(index, &e.to_string()) {
            self.failure.get_or_insert(e);
        }
    }
}
