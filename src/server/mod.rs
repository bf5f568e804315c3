//! The event loop: one thread, one `mio::Poll`, every socket non-blocking.
//!
//! Read this file from [`Server::run`] down. One pass of the loop:
//!
//! 1. `poll` waits for readiness on the listeners and the connections, at most until the next tick;
//! 2. each event is handled: a listener accepts, a connection reads or becomes writable (and, on a
//!    cluster node, a Redis link brings answers and messages: `cluster_edge.rs`);
//! 3. connections whose cluster answer has come get their held lines back; connections that used up
//!    their read budget last pass are read again;
//! 4. when the tick is due, timed work runs: signals, name timeouts, close deadlines;
//! 5. every connection with queued output gets one `write`, once the write window that opened with
//!    the first of it has passed (`write_timer.rs`: lines arriving meanwhile share the write);
//! 6. closed connections are removed from the slab.
//!
//! The loop only moves bytes. What the bytes mean is decided by the chat core ([`Room`]), which gets
//! [`Event`]s and answers with [`Delivery`]s that this file carries out.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::cluster::{self, Cluster};
use crate::config::{self, Config, Web};
use crate::connection::{Connection, HttpRequest, Output, State, Transport};
use crate::line_reader::LineReader;
use crate::line_reader::Piece;
use crate::protocol;
use crate::room::{Delivery, Event, Room, RoomConfig};
use crate::socket;
use crate::websocket;

mod cluster_edge;
mod web;
mod write_timer;

use write_timer::WriteTimer;

/// How much one connection may have read from it in one pass of the loop. A client that floods us
/// gets this much attention, then waits for the next pass while everyone else is served: one flooder
/// cannot starve the room.
const READ_BUDGET: usize = 64 * 1024;
/// The size of one `read`.
const READ_CHUNK: usize = 16 * 1024;
/// How long a close we start may take: flushing what is queued, then waiting for the peer's EOF.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
// The write window must end well before a close's deadline, or a goodbye line could still be waiting
// for it when the tick closes the connection.
const _: () = assert!(config::COALESCE_MAX_US * 1000 * 10 <= CLOSE_LINGER.as_nanos() as u64);
/// Connections turned away with `! server full` stay around for up to `CLOSE_LINGER` to be closed
/// gracefully; at most this many at a time, beyond `--max-clients`. Past it they are dropped at once.
pub const REFUSING_MAX: usize = 64;
/// How many accept errors in a row (other than running out of descriptors) before the loop stops
/// accepting until the next tick, so a persistent error cannot make it spin.
const ACCEPT_ERRORS_MAX: usize = 64;
/// At most one "out of file descriptors" warning in this long.
const FD_WARNING_EVERY: Duration = Duration::from_secs(10);
/// After handling a batch of events, the loop asks `poll` again, without waiting, up to this many
/// times before it writes: lines that arrived meanwhile then leave in the same `write` as the others.
/// Each `write` to a socket costs far more than the bytes in it, so fewer, fuller writes pay: in
/// fanout100 this cut server CPU per delivery from 450-550 ns to 330-380 ns. It never delays a write
/// when nothing else is ready.
const EXTRA_POLLS: usize = 4;

/// Listener `i` has token `LISTENER_TOKEN_BASE - i`; connections have their slab key as token. A slab
/// key never comes near `usize::MAX`, so the two ranges cannot meet.
const LISTENER_TOKEN_BASE: usize = usize::MAX;
/// The write timer's token (see [`WriteTimer`]); the cluster's links have the two just above it.
const WRITE_TIMER: Token = Token(usize::MAX / 2 - 1);

/// Which face of the server a listener is: plain TCP chat, or the web page and its WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Chat,
    Web,
}

/// The server: the `Poll`, the sockets, and the chat room they feed.
pub struct Server {
    poll: Poll,
    listeners: Vec<(TcpListener, Face)>,
    /// Every connection, by slab key. The key is also the connection's `mio::Token` and its
    /// [`ClientId`](crate::room::ClientId) in the room.
    connections: Slab<Connection>,
    room: Room,
    config: Config,
    /// Open chat connections (TCP and WebSocket): the ones counted against `--max-clients`.
    clients: usize,
    /// Open web connections still in HTTP: counted against `--max-http`.
    requests: usize,
    /// What the room asked for, waiting to be carried out (kept to reuse its memory).
    deliveries: Vec<Delivery>,
    /// Keys of connections with output to write when the write window ends.
    dirty: Vec<usize>,
    /// Keys of connections that used up their read budget with input left: read again next pass.
    unread: Vec<usize>,
    /// Keys of connections whose output queue went over `--max-queue`.
    slow: Vec<usize>,
    /// The recipients of the broadcast being delivered (kept to reuse its memory).
    recipients: Vec<usize>,
    /// Keys of connections in the `Closed` state, removed at the end of the pass.
    closed: Vec<usize>,
    /// The buffer every `read` goes into; a connection keeps only the unfinished line it held.
    scratch: Vec<u8>,
    /// An open file held in reserve: when `accept` fails for want of descriptors, closing this one
    /// frees a descriptor to accept a waiting connection with and tell it the server is full.
    spare_fd: Option<File>,
    /// Accepting stopped on an error; retried on the tick and whenever a connection closes.
    accept_paused: bool,
    last_fd_warning: Option<Instant>,
    /// Set by the SIGINT/SIGTERM handler (see `main.rs`); read on the tick.
    stop_signal: Arc<AtomicBool>,
    /// When a shutdown under way gives up on flushing.
    shutdown_deadline: Option<Instant>,
    next_tick: Instant,
    /// Holds the clients' output for `--coalesce-us` so that lines arriving meanwhile share a write.
    write_timer: WriteTimer,
    /// The links to Redis, when this server is one node of a cluster (`--cluster`).
    cluster: Option<Cluster>,
    /// Connections waiting for the cluster's answer (see `Room::is_waiting`), with the lines they
    /// sent meanwhile: those wait too, so that they cannot overtake the one being answered. Their
    /// sockets are not read until the answer comes, so this holds at most one read's worth each.
    held: HashMap<usize, VecDeque<String>>,
}

impl Server {
    /// Binds every `--listen` address, and `--web`. Nothing is accepted until [`Server::run`].
    pub fn bind(config: Config, stop_signal: Arc<AtomicBool>) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listeners = Vec::new();
        let cannot = |addr: SocketAddr, e: io::Error| {
            io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
        };
        for &addr in &config.listen {
            listeners.push((
                socket::listen(addr, config.reuseport).map_err(|e| cannot(addr, e))?,
                Face::Chat,
            ));
        }
        match config.web().map_err(io::Error::other)? {
            Web::Off => {}
            Web::Given(addr) => listeners.push((
                socket::listen(addr, config.reuseport).map_err(|e| cannot(addr, e))?,
                Face::Web,
            )),
            Web::Default(addr) => match socket::listen(addr, config.reuseport) {
                Ok(listener) => listeners.push((listener, Face::Web)),
                Err(e) => warn!("no web page: cannot listen on {addr}: {e} (use --web ADDR:PORT)"),
            },
        }
        for (i, (listener, _)) in listeners.iter_mut().enumerate() {
            let token = Token(LISTENER_TOKEN_BASE - i);
            poll.registry()
                .register(listener, token, Interest::READABLE)?;
        }
        let room = Room::new(RoomConfig {
            history: config.history as usize,
            name_timeout: config.name_timeout(),
            announce_limit: config.announce_limit as usize,
            cluster: config.cluster.is_some(),
            // Every connection has a slab key, refused ones and web requests included.
            ids: config.max_clients as usize + config.max_http as usize + REFUSING_MAX,
        });
        let cluster = config.cluster()?.map(Cluster::new);
        let write_timer = WriteTimer::new(poll.registry(), WRITE_TIMER, config.coalesce())?;
        let mut server = Server {
            poll,
            listeners,
            connections: Slab::with_capacity(config.max_clients as usize),
            room,
            clients: 0,
            requests: 0,
            deliveries: Vec::new(),
            dirty: Vec::new(),
            unread: Vec::new(),
            slow: Vec::new(),
            recipients: Vec::new(),
            closed: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            spare_fd: File::open("/dev/null").ok(),
            accept_paused: false,
            last_fd_warning: None,
            stop_signal,
            shutdown_deadline: None,
            next_tick: Instant::now() + config.tick(),
            write_timer,
            config,
            cluster,
            held: HashMap::new(),
        };
        server.link_cluster()?;
        Ok(server)
    }

    /// The addresses actually bound, with their face (and the real port where port 0 was asked).
    pub fn local_addrs(&self) -> io::Result<Vec<(SocketAddr, Face)>> {
        self.listeners
            .iter()
            .map(|(l, face)| Ok((l.local_addr()?, *face)))
            .collect()
    }

    /// Runs the loop until a shutdown has finished.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            // Sleep until the next tick, or not at all if a connection still has input we did not get
            // to last pass: that input will raise no new event (edge-triggered), so waiting for one
            // could wait forever.
            // (The write timer wakes `poll` itself; its deadline is here only as a fallback.)
            let timeout = if self.unread.is_empty() {
                let wake = self.write_timer.deadline().unwrap_or(self.next_tick);
                wake.min(self.next_tick)
                    .saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                // A signal arrived while we slept. That is a wake-up, not a failure: the tick below
                // looks at the flag the signal handler set.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.handle(&events);
            // More may have arrived while we worked; take it before writing (see `EXTRA_POLLS`).
            for _ in 0..EXTRA_POLLS {
                if self.poll.poll(&mut events, Some(Duration::ZERO)).is_err() || events.is_empty() {
                    break;
                }
                self.handle(&events);
            }
            self.resume_held();
            self.read_leftovers();
            // Output queued outside a delivery (a pong, an error line) can also overflow a queue.
            self.drop_slow_consumers();
            // Timed work runs whenever it is due, not only when `poll` times out: under steady traffic
            // `poll` may never time out at all.
            let now = Instant::now();
            if now >= self.next_tick {
                self.tick(now);
                self.next_tick = now + self.config.tick();
            }
            // Write, unless the output is waiting for lines that may still join it (see `WriteTimer`).
            // What goes to Redis does not wait: a join's answer should come back at once. Nor does
            // anything once a shutdown is under way: its deadline may end the loop just below.
            let pending = !self.dirty.is_empty();
            if self.shutdown_deadline.is_some() || self.write_timer.is_due(now, pending) {
                self.flush_dirty();
            } else {
                self.flush_cluster();
            }
            self.reap();
            let flushed = self.cluster.as_ref().is_none_or(Cluster::is_flushed);
            if let Some(deadline) = self.shutdown_deadline
                && ((self.connections.is_empty() && flushed) || Instant::now() >= deadline)
            {
                match self.connections.len() {
                    0 => info!("shut down"),
                    left => info!("shut down; {left} connections still closing were dropped"),
                }
                return Ok(());
            }
        }
    }

    /// Hands each event to the listener or connection it names.
    fn handle(&mut self, events: &Events) {
        for event in events.iter() {
            match event.token() {
                Token(t) if t > LISTENER_TOKEN_BASE - self.listeners.len() => {
                    self.accept(LISTENER_TOKEN_BASE - t)
                }
                token @ (cluster::COMMANDS | cluster::SUBSCRIBER) => self.cluster_ready(token),
                WRITE_TIMER => self.write_timer.expired(),
                Token(key) => self.ready(
                    key,
                    event.is_readable() || event.is_read_closed() || event.is_error(),
                    event.is_writable(),
                ),
            }
        }
    }

    // ---- accept ------------------------------------------------------------------------------

    /// Accepts every connection waiting on listener `index`. The listener is edge-triggered: it
    /// reports readiness once for a burst of arrivals, so we accept until `WouldBlock`.
    fn accept(&mut self, index: usize) {
        let mut errors = 0;
        while let Some((listener, face)) = self.listeners.get(index) {
            let face = *face;
            match listener.accept() {
                Ok((stream, peer)) => {
                    errors = 0;
                    self.admit(stream, peer, face);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if is_out_of_fds(&e) => return self.refuse_without_fds(index),
                Err(e) => {
                    // ECONNABORTED, EPROTO, EPERM...: the trouble is with one connection that is
                    // already gone. Keep accepting, but never spin on an error that keeps coming.
                    debug!("accept: {e}");
                    errors += 1;
                    if errors >= ACCEPT_ERRORS_MAX {
                        warn!("accept keeps failing ({e}); pausing until the next tick");
                        self.accept_paused = true;
                        return;
                    }
                }
            }
        }
    }

    /// Accepts on every listener: after a pause, or when a descriptor has been freed. A backlog that
    /// filled while we could not accept raises no new edge-triggered event, so it must be retried.
    fn accept_all(&mut self) {
        self.accept_paused = false;
        for index in 0..self.listeners.len() {
            self.accept(index);
        }
    }

    /// `accept` failed with EMFILE or ENFILE. The waiting connections stay in the backlog and the
    /// listener will not report them again, so we take them out one by one with the descriptor held
    /// in reserve, tell each the server is full, and close it.
    fn refuse_without_fds(&mut self, index: usize) {
        let now = Instant::now();
        if self
            .last_fd_warning
            .is_none_or(|t| now.duration_since(t) >= FD_WARNING_EVERY)
        {
            let clients = self.clients;
            warn!("out of file descriptors with {clients} clients: refusing new connections");
            self.last_fd_warning = Some(now);
        }
        self.accept_paused = true;
        while let Some(spare) = self.spare_fd.take() {
            drop(spare);
            let accepted = self.listeners[index].0.accept();
            let more = match accepted {
                Ok((mut stream, _)) => {
                    // Best effort: the socket is new, so its send buffer is empty and this line fits.
                    let line = format!("{}\n", protocol::SERVER_FULL_NO_FDS);
                    let _ = io::Write::write_all(&mut stream, line.as_bytes());
                    let _ = stream.shutdown(Shutdown::Write);
                    true
                } // The stream is closed here, before the spare is taken again.
                Err(_) => false,
            };
            self.spare_fd = File::open("/dev/null").ok();
            if !more {
                return;
            }
        }
    }

    /// Takes in one accepted connection: into the room (or, on the web face, into HTTP), or turned
    /// away if that is full.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, face: Face) {
        if let Err(e) = socket::configure(&stream) {
            debug!("{peer}: cannot set socket options ({e}); dropping it");
            return;
        }
        let full = match face {
            Face::Chat => self.clients >= self.config.max_clients as usize,
            Face::Web => self.requests >= self.config.max_http as usize,
        };
        let room_for_refusals =
            self.config.max_clients as usize + self.config.max_http as usize + REFUSING_MAX;
        if full && self.connections.len() >= room_for_refusals {
            return; // Even the queue of refusals is full: drop it without a word.
        }
        let transport = match face {
            Face::Chat => Transport::Tcp(LineReader::new(self.config.max_line as usize)),
            Face::Web => {
                let deadline = Instant::now() + self.config.web_deadline();
                Transport::Http(Box::new(HttpRequest {
                    head: Vec::new(),
                    deadline,
                }))
            }
        };
        let Some(key) = self.insert(stream, peer, transport) else {
            return;
        };
        // The one log line with the peer's address: later ones name the connection by its key.
        info!("#{key} {peer} connected");
        if full {
            // Not counted as open: it goes straight to closing, with one line to send.
            info!("#{key} refused: full");
            let conn = &mut self.connections[key];
            match face {
                Face::Chat => conn.output.push_line(protocol::SERVER_FULL),
                Face::Web => conn.output.push(&crate::http::unavailable()),
            }
            let deadline = Instant::now() + CLOSE_LINGER;
            conn.state = State::Flushing { deadline };
            self.mark_dirty(key);
            return;
        }
        match face {
            Face::Chat => self.join_room(key),
            Face::Web => self.requests += 1,
        }
    }

    /// A chat connection (TCP now, WebSocket after its upgrade) enters the room.
    fn join_room(&mut self, key: usize) {
        self.clients += 1;
        info!("#{key} is a client ({} clients)", self.clients);
        let now = Instant::now();
        self.room
            .handle(Event::Connect { id: key, now }, &mut self.deliveries);
        self.deliver();
    }

    /// Registers a connection with the `Poll` and stores it in the slab under the same key.
    ///
    /// Interest is READABLE | WRITABLE, for the connection's whole life. The alternative, asking for
    /// WRITABLE only while output is pending, costs an `epoll_ctl` system call each time a queue fills
    /// or empties, which on a busy room is at every message. With both interests and edge-triggered
    /// readiness, a writable event arrives only when the send buffer gets room again after filling up;
    /// if nothing is queued at that moment the event is simply ignored (see [`Server::ready`]).
    fn insert(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        transport: Transport,
    ) -> Option<usize> {
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(key), interest)
        {
            warn!("{peer}: cannot register with the poll: {e}");
            return None;
        }
        entry.insert(Connection::new(stream, transport));
        Some(key)
    }

    // ---- read --------------------------------------------------------------------------------

    /// A connection is ready. `get_mut` and not indexing: an event can arrive for a key whose
    /// connection no longer exists; such events are ignored.
    ///
    /// Why a key can never name the wrong connection: keys are freed only in [`Server::reap`], at the
    /// end of a pass, after every event of that pass has been handled. Within a pass a closed
    /// connection keeps its key, so `accept` cannot hand the key to a new connection while events for
    /// the old one are still in the batch; and once the socket is deregistered and closed, `poll`
    /// reports nothing more for it.
    fn ready(&mut self, key: usize, readable: bool, writable: bool) {
        let Some(conn) = self.connections.get(key) else {
            return;
        };
        let (has_output, read_later) = (!conn.output.is_empty(), conn.unread);
        if writable && has_output {
            self.mark_dirty(key);
        }
        // A connection on the `unread` list is read from that list later in this pass.
        if readable && !read_later {
            self.read(key);
        }
    }

    /// Reads what connection `key` has sent, up to [`READ_BUDGET`] bytes. Edge-triggered readiness
    /// is reported once per arrival of data, so we must read until `WouldBlock`, or remember that we
    /// stopped early (the `unread` list) and come back without waiting for another event.
    fn read(&mut self, key: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut budget = READ_BUDGET;
        while let Some(conn) = self.connections.get_mut(key) {
            // Closed; or waiting for the cluster, in which case the rest is read once the answer
            // has come (`resume_held`).
            if conn.state == State::Closed || self.held.contains_key(&key) {
                break;
            }
            if budget == 0 {
                conn.unread = true;
                self.unread.push(key);
                break;
            }
            match conn.stream.read(&mut scratch) {
                Ok(0) => {
                    self.peer_closed(key);
                    break;
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    self.received(key, &scratch[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.lost(key, &e);
                    break;
                }
            }
        }
        self.scratch = scratch;
    }

    /// Serves the connections that had input left over from the last pass.
    fn read_leftovers(&mut self) {
        let leftovers = std::mem::take(&mut self.unread);
        for &key in &leftovers {
            if let Some(conn) = self.connections.get_mut(key) {
                conn.unread = false;
                self.read(key);
            }
        }
        // Keep the vector's memory for the next pass (anything `read` added is in `self.unread`).
        let mut leftovers = leftovers;
        leftovers.clear();
        if self.unread.is_empty() {
            self.unread = leftovers;
        }
    }

    /// Bytes from connection `key`: cut into lines and each line handed to the room. A connection
    /// that is closing has its input read (so that closing does not cause an RST) and thrown away.
    fn received(&mut self, key: usize, bytes: &[u8]) {
        let conn = &mut self.connections[key];
        if !conn.is_open() {
            return;
        }
        match &mut conn.transport {
            Transport::Tcp(reader) => {
                // Taken out while it calls back into the server, then put back.
                let mut reader = std::mem::take(reader);
                let _ = reader.feed(bytes, |piece| self.piece(key, piece));
                if let Transport::Tcp(slot) = &mut self.connections[key].transport {
                    *slot = reader;
                }
            }
            Transport::Http(_) => self.http_received(key, bytes),
            Transport::WebSocket(_) => self.websocket_received(key, bytes),
        }
    }

    /// One line of chat from connection `key`, whatever its transport.
    fn line(&mut self, key: usize, text: &str) {
        if let Some(held) = self.held.get_mut(&key) {
            held.push_back(text.to_string());
            return;
        }
        self.room
            .handle(Event::Line { id: key, text }, &mut self.deliveries);
        self.deliver();
        if self.room.is_waiting(key) {
            self.held.insert(key, VecDeque::new());
        }
    }

    /// One line (or an overlong one) from connection `key`. Returns `Break` once the connection is no
    /// longer open (after `/quit`, say), so its remaining input is ignored.
    fn piece(&mut self, key: usize, piece: Piece<'_>) -> ControlFlow<()> {
        match piece {
            // Invalid UTF-8 becomes U+FFFD here; the room removes control characters.
            Piece::Line(bytes) => self.line(key, &String::from_utf8_lossy(bytes)),
            Piece::TooLong => {
                let line = protocol::line_too_long(self.config.max_line as usize);
                self.queue(key, &line);
            }
        }
        if self.connections[key].is_open() {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    /// The peer closed its side (we read EOF). Its last line may have had no newline; it still counts.
    /// Then the room hears it left, and what is queued for it is still sent before we close.
    fn peer_closed(&mut self, key: usize) {
        let conn = &mut self.connections[key];
        conn.peer_closed = true;
        match conn.state {
            State::Open => {
                if let Transport::Tcp(reader) = &mut conn.transport {
                    let mut reader = std::mem::take(reader);
                    reader.finish(|piece| self.piece(key, piece));
                }
                self.leave(key, protocol::REASON_LOST, CLOSE_LINGER);
            }
            State::Flushing { .. } => {} // Finish writing; `flush` closes once done.
            State::Draining { .. } => self.close_now(key, "closed cleanly"),
            State::Closed => {}
        }
    }

    /// A read or write failed (reset by the peer, keepalive gave up...): nothing more can be sent.
    fn lost(&mut self, key: usize, error: &io::Error) {
        self.room.handle(
            Event::Disconnect {
                id: key,
                reason: protocol::REASON_LOST,
            },
            &mut self.deliveries,
        );
        self.deliver();
        self.close_now(key, format_args!("connection lost: {error}"));
    }

    // ---- deliver ------------------------------------------------------------------------------

    /// Carries out what the room asked for: queues lines, starts closes. Nothing is written here;
    /// queued output leaves in [`Server::flush_dirty`] when the write window ends.
    fn deliver(&mut self) {
        let mut recipients = std::mem::take(&mut self.recipients);
        while !self.deliveries.is_empty() {
            let mut deliveries = std::mem::take(&mut self.deliveries);
            for delivery in deliveries.drain(..) {
                match delivery {
                    Delivery::To { id, line } => self.queue(id, &line),
                    Delivery::Everyone { except, line } => {
                        // Framed once per transport (and only for transports someone uses); then each
                        // recipient gets a copy of the same bytes.
                        let (mut tcp, mut web) = (None, None);
                        recipients.extend(self.room.members().filter(|&id| Some(id) != except));
                        for id in recipients.drain(..) {
                            let bytes: &[u8] = match self.connections.get(id).map(|c| &c.transport)
                            {
                                Some(Transport::Tcp(_)) => {
                                    tcp.get_or_insert_with(|| frame_tcp(&line))
                                }
                                Some(Transport::WebSocket(_)) => {
                                    web.get_or_insert_with(|| frame_websocket(&line))
                                }
                                _ => continue,
                            };
                            self.queue_bytes(id, bytes);
                        }
                    }
                    Delivery::Close { id } => {
                        let linger = self.close_linger();
                        self.begin_close(id, linger);
                    }
                    Delivery::Cluster(request) => {
                        if let Some(cluster) = &mut self.cluster {
                            cluster.request(request, Instant::now());
                        }
                    }
                }
            }
            // The cluster may have answered at once (its link is down): the room hears it now.
            self.cluster_events();
            // Keep the emptied vector's memory, unless handling those deliveries queued new ones.
            if self.deliveries.is_empty() {
                self.deliveries = deliveries;
            }
            self.drop_slow_consumers();
        }
        self.recipients = recipients;
    }

    /// Queues one line for connection `key`, framed for its transport.
    fn queue(&mut self, key: usize, line: &str) {
        match self.connections.get(key).map(|c| &c.transport) {
            Some(Transport::Tcp(_)) => {
                if let Some(output) = self.output_for(key) {
                    output.push_line(line);
                }
            }
            Some(Transport::WebSocket(_)) => self.queue_bytes(key, &frame_websocket(line)),
            _ => {}
        }
    }

    /// Queues bytes that are already framed.
    fn queue_bytes(&mut self, key: usize, bytes: &[u8]) {
        if let Some(output) = self.output_for(key) {
            output.push(bytes);
        }
    }

    /// The output queue of connection `key`, if it may take more.
    ///
    /// Once the queue is over `--max-queue` nothing more is queued and the connection is marked as a
    /// slow consumer, to be dropped once the current deliveries are done: one client that stops
    /// reading must never hold up, or eat the memory of, the others. The check is made before a line
    /// is added, not after, so one large answer (a `/list` of a crowd) to a client that is keeping up
    /// never counts against it; a queue is thus bounded by `--max-queue` plus one line.
    fn output_for(&mut self, key: usize) -> Option<&mut Output> {
        let conn = self.connections.get_mut(key)?;
        if !conn.is_open() || conn.slow {
            return None;
        }
        if conn.output.queued() > self.config.max_queue as usize {
            conn.slow = true;
            self.slow.push(key);
            return None;
        }
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(key);
        }
        Some(&mut self.connections[key].output)
    }

    fn drop_slow_consumers(&mut self) {
        while let Some(key) = self.slow.pop() {
            let Some(conn) = self.connections.get(key) else {
                continue;
            };
            let queued = conn.output.queued();
            warn!(
                "#{key} is a slow consumer: {queued} bytes queued, over {}; disconnecting",
                self.config.max_queue
            );
            self.leave(key, protocol::REASON_SLOW, CLOSE_LINGER);
        }
    }

    fn mark_dirty(&mut self, key: usize) {
        let conn = &mut self.connections[key];
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(key);
        }
    }

    // ---- write --------------------------------------------------------------------------------

    /// Gives every connection with queued output one go at writing it: everything queued for a client
    /// during the write window leaves in as few `write` calls as the socket allows, usually one.
    fn flush_dirty(&mut self) {
        // The cluster first: what its failure tells the room is written below.
        self.flush_cluster();
        // Writing can fail, which tells the room someone left, which queues more output: loop until
        // no connection is left dirty.
        while !self.dirty.is_empty() {
            let dirty = std::mem::take(&mut self.dirty);
            for &key in &dirty {
                self.flush(key);
            }
        }
        self.write_timer.written();
        self.flush_cluster();
    }

    fn flush(&mut self, key: usize) {
        let Some(conn) = self.connections.get_mut(key) else {
            return;
        };
        conn.dirty = false;
        if conn.state == State::Closed {
            return;
        }
        match conn.output.write_to(&mut conn.stream) {
            // Everything is written. If we are closing, this is the moment to shut down our side.
            Ok(true) => {
                if let State::Flushing { deadline } = conn.state {
                    self.shut_down_write(key, deadline);
                }
            }
            // The send buffer is full: a writable event will come when it drains.
            Ok(false) => {}
            Err(e) => self.lost(key, &e),
        }
    }

    // ---- close --------------------------------------------------------------------------------

    /// Connection `key` leaves the room for `reason` (shown to the others), then is closed gracefully.
    fn leave(&mut self, key: usize, reason: &str, linger: Duration) {
        self.room
            .handle(Event::Disconnect { id: key, reason }, &mut self.deliveries);
        self.deliver();
        self.begin_close(key, linger);
    }

    /// Starts a graceful close: no more input is taken as chat, what is queued is written, then our
    /// side is shut down (`Flushing` → `Draining`, in [`Server::flush`]), and the socket is closed when
    /// the peer closes too or when `linger` has passed ([`Server::tick`]).
    fn begin_close(&mut self, key: usize, linger: Duration) {
        let Some(conn) = self.connections.get_mut(key) else {
            return;
        };
        if conn.state != State::Open {
            return;
        }
        conn.state = State::Flushing {
            deadline: Instant::now() + linger,
        };
        // A browser gets a close frame after what is queued: 1001 when the server is going away.
        let code = if self.shutdown_deadline.is_some() {
            websocket::GOING_AWAY
        } else {
            websocket::NORMAL
        };
        self.send_close_frame(key, code);
        self.count_closed(key);
        // Flushing happens when the write window ends; an empty queue moves straight on to shutdown.
        self.mark_dirty(key);
    }

    fn shut_down_write(&mut self, key: usize, deadline: Instant) {
        let conn = &mut self.connections[key];
        if conn.peer_closed || conn.stream.shutdown(Shutdown::Write).is_err() {
            return self.close_now(key, "closed cleanly");
        }
        conn.state = State::Draining { deadline };
    }

    /// A connection leaves the `Open` state: one client or one request fewer.
    fn count_closed(&mut self, key: usize) {
        if self.connections[key].transport.is_chat() {
            self.clients -= 1;
        } else {
            self.requests -= 1;
        }
    }

    /// Marks a connection closed; [`Server::reap`] removes it at the end of the pass.
    fn close_now(&mut self, key: usize, how: impl std::fmt::Display) {
        match self.connections[key].state {
            State::Closed => return,
            State::Open => self.count_closed(key),
            State::Flushing { .. } | State::Draining { .. } => {}
        }
        let conn = &mut self.connections[key];
        info!("#{key} disconnected ({how})");
        conn.state = State::Closed;
        self.closed.push(key);
    }

    /// Removes the connections closed during this pass and frees their keys. This is the only place a
    /// key is freed, so no event of this pass can reach a connection that took over the key.
    fn reap(&mut self) {
        if self.closed.is_empty() {
            return;
        }
        for key in self.closed.drain(..) {
            let mut conn = self.connections.remove(key);
            // Dropping the stream closes the socket, which takes it out of the epoll set too;
            // deregistering first says so explicitly and keeps mio's bookkeeping exact.
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.held.remove(&key);
        }
        self.unread.retain(|&key| self.connections.contains(key));
        // Output waiting for the write window may list a key just freed: drop it, so that a new
        // connection given the key is listed once, when it has output of its own.
        self.dirty.retain(|&key| self.connections.contains(key));
        // A descriptor was freed: if accepting had stopped, connections may be waiting. Their
        // greetings go out now rather than on the next pass.
        if self.accept_paused {
            self.accept_all();
            self.flush_dirty();
        }
    }

    // ---- tick and shutdown --------------------------------------------------------------------

    /// Timed work, run once per `--tick-ms` whether or not there is traffic.
    fn tick(&mut self, now: Instant) {
        if self.stop_signal.load(Ordering::Relaxed) && self.shutdown_deadline.is_none() {
            self.begin_shutdown(now);
        }
        self.room.handle(Event::Tick { now }, &mut self.deliveries);
        self.deliver();
        self.cluster_tick(now);
        let (mut expired, mut slow_requests) = (Vec::new(), Vec::new());
        for (key, conn) in self.connections.iter_mut() {
            if conn.close_deadline().is_some_and(|d| d <= now) {
                expired.push(key);
            }
            if let Transport::Http(request) = &conn.transport
                && request.deadline <= now
                && conn.is_open()
            {
                slow_requests.push(key);
            }
            conn.output.release_if_idle();
        }
        for key in expired {
            self.close_now(key, "closing took too long");
        }
        for key in slow_requests {
            self.request_timed_out(key);
        }
        if self.accept_paused {
            self.accept_all();
        }
    }

    /// The first SIGINT or SIGTERM: stop accepting, tell everyone, and close every connection
    /// gracefully within `--grace-ms`. [`Server::run`] returns when all are closed or time is up.
    fn begin_shutdown(&mut self, now: Instant) {
        info!("shutting down: {} clients", self.clients);
        for (mut listener, _) in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.accept_paused = false;
        self.shutdown_deadline = Some(now + self.config.grace());
        self.room.handle(Event::Shutdown, &mut self.deliveries);
        self.deliver();
        if let Some(cluster) = &mut self.cluster {
            cluster.bye(now);
        }
        // Web connections still in HTTP are not in the room: close them too.
        let requests: Vec<usize> = self
            .connections
            .iter()
            .filter(|(_, c)| c.is_open() && !c.transport.is_chat())
            .map(|(key, _)| key)
            .collect();
        for key in requests {
            self.begin_close(key, self.config.grace());
        }
    }

    /// How long closes started now may take: longer during a shutdown, which has its own deadline.
    fn close_linger(&self) -> Duration {
        if self.shutdown_deadline.is_some() {
            self.config.grace()
        } else {
            CLOSE_LINGER
        }
    }
}

/// A line as the TCP transport sends it.
fn frame_tcp(line: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    bytes
}

/// A line as a WebSocket text message.
fn frame_websocket(line: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(line.len() + 10);
    websocket::text_frame(line, &mut bytes);
    bytes
}

/// EMFILE: this process has no descriptor left; ENFILE: the whole system has none left.
fn is_out_of_fds(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}
