//! The event loop: one thread, one `mio::Poll`, every socket non-blocking.
//!
//! Read this file from [`Server::run`] down, then the files beside it in the order a byte travels:
//!
//! - `accept.rs`: a listener is ready; new connections are accepted, or turned away;
//! - `input.rs`: a connection is ready to read; its bytes become lines for the room, and the loop
//!   stops reading it when flood control or the cluster says so;
//! - `output.rs`: the room's deliveries are queued on their recipients and written when the write
//!   window (`write_timer.rs`) ends;
//! - `close.rs`: leaving the room, graceful closes, and freeing a connection's slot.
//!
//! One pass of the loop:
//!
//! 1. `poll` waits for readiness on the listeners, the connections and the timers, at most until the
//!    next thing that is due (the tick, the write window, a throttled connection's next line);
//! 2. each event is handled: a listener accepts, a connection reads or becomes writable (and, on a
//!    cluster node, a Redis link brings answers and messages: `cluster_edge.rs`);
//! 3. connections whose input was left unread are read again: those that used up their share of the
//!    last pass, those whose cluster answer has come, those whose next line is now due;
//! 4. when the tick is due, timed work runs: signals, name timeouts, close deadlines;
//! 5. every connection with queued output gets one `write`, once the write window that opened with
//!    the first of it has passed;
//! 6. closed connections are removed from the slab.
//!
//! The loop only moves bytes. What the bytes mean is decided by the chat core ([`Chat`]), which gets
//! [`Event`]s and answers with [`Delivery`]s that `output.rs` carries out.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::{info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::chat::{Chat, ChatConfig, Delivery, Event};
use crate::cluster::{self, Cluster};
use crate::config::{self, Config, Web};
use crate::connection::{Connection, Transport};
use crate::flood::FloodLimit;
use crate::host_limit::HostLimit;
use crate::irc::registration::ServerInfo;
use crate::irc::session::Command;
use crate::metrics::Metrics;
use crate::socket;

mod accept;
mod bans;
mod close;
mod cluster_edge;
mod framing;
mod input;
mod irc;
mod key_set;
mod metrics;
mod output;
mod throttled;
mod web;
mod window_sizer;
mod write_timer;

use key_set::KeySet;
use throttled::Throttled;
use write_timer::{Window, WriteTimer};

/// How long a close we start may take: flushing what is queued, then waiting for the peer's EOF.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
// The write window must end well before a close's deadline, or a goodbye line could still be waiting
// for it when the tick closes the connection.
const _: () = assert!(config::COALESCE_MAX_US * 1000 * 10 <= CLOSE_LINGER.as_nanos() as u64);
/// Connections turned away with `! server full` stay around for up to `CLOSE_LINGER` to be closed
/// gracefully; at most this many at a time, beyond `--max-clients`. Past it they are dropped at once.
pub const REFUSING_MAX: usize = 64;
/// Most connections to the metrics listener at once (a scraper needs one); past it they get 503.
/// Their own small cap, not `--max-http`'s, so that scrapers and web users never take each other's
/// places.
pub const SCRAPES_MAX: usize = 8;
/// The heap is trimmed at most this often (see `trim_heap`).
const TRIM_EVERY: Duration = Duration::from_secs(1);
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

/// Which face of the server a listener is: plain TCP chat, the web page and its WebSocket, IRC
/// (`--irc`, `irc.rs`), or Prometheus metrics (`--metrics`, `metrics.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Chat,
    Web,
    Irc,
    Metrics,
}

/// A listening socket and what it serves.
struct Listener {
    socket: TcpListener,
    face: Face,
    /// Its connections speak TLS (`tls://`, `https://`, `ircs://`): see `tls.rs`.
    tls: bool,
}

/// Binds the listeners of the web or the IRC face, as `--web` or `--irc` says: an address given
/// that cannot be bound is an error; the default one, taken by another program, is only warned
/// about, and the server runs without that face.
fn bind_face(
    listeners: &mut Vec<Listener>,
    face: Face,
    place: Web,
    reuseport: bool,
) -> io::Result<()> {
    match place {
        Web::Off => {}
        Web::Given { addrs, tls } => {
            for addr in addrs {
                let socket = socket::listen(addr, reuseport).map_err(|e| cannot_listen(addr, e))?;
                listeners.push(Listener { socket, face, tls });
            }
        }
        Web::Default(addr) => match socket::listen(addr, reuseport) {
            Ok(socket) => listeners.push(Listener {
                socket,
                face,
                tls: false,
            }),
            Err(e) => {
                let (missing, flag) = match face {
                    Face::Irc => ("no IRC face", "--irc"),
                    _ => ("no web page", "--web"),
                };
                warn!("{missing}: cannot listen on {addr}: {e} (use {flag} ADDR:PORT)");
            }
        },
    }
    Ok(())
}

/// A start-up error that names the address that could not be bound.
fn cannot_listen(addr: SocketAddr, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("cannot listen on {addr}: {error}"))
}

/// What an event's token names. Tokens are decoded here, in one place.
enum Source {
    /// The listener at this index in `Server::listeners`.
    Listener(usize),
    WriteTimer,
    /// One of the two Redis links of a cluster node.
    Cluster(Token),
    /// The connection with this slab key.
    Connection(usize),
}

impl Source {
    fn of(token: Token, listeners: usize) -> Source {
        match token {
            Token(t) if t > LISTENER_TOKEN_BASE - listeners => {
                Source::Listener(LISTENER_TOKEN_BASE - t)
            }
            WRITE_TIMER => Source::WriteTimer,
            token @ (cluster::COMMANDS | cluster::SUBSCRIBER) => Source::Cluster(token),
            Token(key) => Source::Connection(key),
        }
    }
}

/// The server: the `Poll`, the sockets, and the chat room they feed.
pub struct Server {
    poll: Poll,
    listeners: Vec<Listener>,
    /// The settings of TLS connections, when some listener is TLS.
    tls: Option<crate::tls::TlsSetup>,
    /// Every connection, by slab key. The key is also the connection's `mio::Token` and its
    /// [`ClientId`](crate::chat::ClientId) in the room.
    connections: Slab<Connection>,
    chat: Chat,
    config: Config,
    /// Open chat connections (TCP and WebSocket): the ones counted against `--max-clients`.
    clients: usize,
    /// Chat connections being closed: their sockets are still open, for up to `CLOSE_LINGER` each,
    /// so they count against `--max-clients` too, or a crowd leaving and joining could run the
    /// process out of descriptors.
    closing: usize,
    /// Open web connections still in HTTP: counted against `--max-http`.
    requests: usize,
    /// Open connections to the metrics listener: counted against `SCRAPES_MAX`.
    scrapes: usize,
    /// What `--metrics` reports: counters bumped where things happen (`metrics.rs`).
    metrics: Metrics,
    /// `metrics.deliveries` when output was last written: the lines each flush carries.
    delivered_at_flush: u64,
    /// What the room asked for, waiting to be carried out (kept to reuse its memory).
    deliveries: Vec<Delivery>,
    /// Connections with output to write when the write window ends.
    dirty: KeySet,
    /// Connections with input left to read: they used up their share of a pass, or were just
    /// allowed to go on (a token came, the cluster answered). Read again without waiting for an event.
    unread: KeySet,
    /// Connections whose output queue went over `--max-queue` even after a write: dropped once the
    /// deliveries under way are done.
    slow: KeySet,
    /// Connections held back by flood control, and when to come back to each.
    throttled: Throttled,
    /// Connections waiting for the cluster's answer (`Input::AwaitingCluster`).
    awaiting: Vec<usize>,
    /// The rules of flood control.
    flood: FloodLimit,
    /// Connections per address (`--max-per-ip`).
    hosts: HostLimit,
    /// What this pass has relayed, to bound its work.
    pass: PassWork,
    /// A key list to work from (kept to reuse its memory).
    keys: Vec<usize>,
    /// Keys of connections in the `Closed` state, removed at the end of the pass.
    closed: Vec<usize>,
    /// The buffer every `read` goes into; a connection keeps only what it has not handed out.
    scratch: Vec<u8>,
    /// An open file held in reserve: when `accept` fails for want of descriptors, closing this one
    /// frees a descriptor to accept a waiting connection with and tell it the server is full.
    spare_fd: Option<File>,
    /// Accepting stopped on an error; retried on the tick and whenever a connection closes.
    accept_paused: bool,
    last_fd_warning: Option<Instant>,
    /// Set by the SIGINT/SIGTERM handler (see `main.rs`); read on the tick.
    stop_signal: Arc<AtomicBool>,
    /// Set by the SIGHUP handler: reload the TLS certificate and key from their files.
    reload_signal: Arc<AtomicBool>,
    /// When a shutdown under way gives up on flushing.
    shutdown_deadline: Option<Instant>,
    next_tick: Instant,
    /// When the heap may next be trimmed (see `trim_heap`).
    next_trim: Instant,
    /// Holds the clients' output for `--coalesce-us` so that lines arriving meanwhile share a write.
    write_timer: WriteTimer,
    /// The links to Redis, when this server is one node of a cluster (`--cluster`).
    cluster: Option<Cluster>,
    /// Lines a connection sent that the room cannot take yet, in order: the rest of a WebSocket
    /// message (its lines arrive together) after flood control or the cluster stopped taking them.
    /// At most one message's worth, since the socket is not read while any are held.
    held: HashMap<usize, VecDeque<String>>,
    /// The rest of an IRC line's commands after one that waits for the cluster: `JOIN #a,#b` is two
    /// joins, and the second must not overtake the first's round trip to Redis.
    irc_rest: HashMap<usize, VecDeque<Command>>,
    /// What the IRC face's welcome says about the server (`irc/registration.rs`).
    irc_info: ServerInfo,
}

/// At most this many lines handed to the room in one pass, and at most `PASS_DELIVERIES` lines queued
/// on recipients: once either is reached, the connections with input left wait for the next pass,
/// after what was queued has been written. Without it one pass could read 64 KiB from each of many
/// clients, tens of thousands of short lines, and queue megabytes on every recipient before a single
/// `write`: a reader at full speed would look like a slow consumer.
const PASS_LINES: usize = 2048;
const PASS_DELIVERIES: usize = 1 << 16;

/// The work of the current pass of the loop.
#[derive(Debug, Default)]
struct PassWork {
    lines: usize,
    deliveries: usize,
    /// Deliveries caused by each sender's lines in this pass: when a slow consumer is dropped, the
    /// log names who filled its queue.
    by_sender: HashMap<usize, usize>,
}

impl PassWork {
    fn is_spent(&self) -> bool {
        self.lines >= PASS_LINES || self.deliveries >= PASS_DELIVERIES
    }

    /// The sender whose lines were delivered most this pass, and how many times.
    fn top_sender(&self) -> Option<(usize, usize)> {
        self.by_sender
            .iter()
            .max_by_key(|&(_, n)| *n)
            .map(|(&key, &n)| (key, n))
    }

    fn clear(&mut self) {
        self.lines = 0;
        self.deliveries = 0;
        if !self.by_sender.is_empty() {
            self.by_sender.clear();
        }
    }
}

impl Server {
    /// Binds every `--listen` address, `--web`, `--irc` and `--metrics`. Nothing is accepted until
    /// [`Server::run`].
    pub fn bind(config: Config, stop_signal: Arc<AtomicBool>) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listeners = Vec::new();
        let tls = config.tls()?;
        for listen in config.listens() {
            let addr = listen.addr;
            listeners.push(Listener {
                socket: socket::listen(addr, config.reuseport)
                    .map_err(|e| cannot_listen(addr, e))?,
                face: Face::Chat,
                tls: listen.tls,
            });
        }
        let web = config.web().map_err(config::usage)?;
        bind_face(&mut listeners, Face::Web, web, config.reuseport)?;
        let irc = config.irc().map_err(config::usage)?;
        // Like the web face's default: a taken port (another IRC server, say) only warns.
        bind_face(&mut listeners, Face::Irc, irc, config.reuseport)?;
        for addr in config.metrics().map_err(config::usage)? {
            listeners.push(Listener {
                socket: socket::listen(addr, config.reuseport)
                    .map_err(|e| cannot_listen(addr, e))?,
                face: Face::Metrics,
                tls: false,
            });
        }
        for (i, listener) in listeners.iter_mut().enumerate() {
            let token = Token(LISTENER_TOKEN_BASE - i);
            poll.registry()
                .register(&mut listener.socket, token, Interest::READABLE)?;
        }
        let mut chat = Chat::new(ChatConfig {
            history: config.history as usize,
            name_timeout: config.name_timeout(),
            announce_limit: config.announce_limit as usize,
            default_room: config.default_room.clone(),
            max_rooms: config.max_rooms as usize,
            max_rooms_per_user: config.max_rooms_per_user as usize,
            cluster: config.cluster.is_some(),
            // Every connection has a slab key, refused ones and web requests included.
            ids: config.max_clients as usize
                + config.max_http as usize
                + REFUSING_MAX
                + SCRAPES_MAX,
        });
        chat.set_time(crate::ban_list::unix_now());
        chat.set_oper_password(config.oper_password()?.as_deref());
        bans::load(&mut chat, config.ban_file.as_deref())?;
        let cluster = config.cluster()?.map(Cluster::new);
        let window = match config.coalesce() {
            Some(fixed) => Window::Fixed(fixed),
            None => Window::Auto(Default::default()),
        };
        let write_timer = WriteTimer::new(poll.registry(), WRITE_TIMER, window)?;
        let now = Instant::now();
        let flood = FloodLimit::new(
            config.flood_burst,
            config.flood_rate,
            config.flood_kick(),
            now,
        );
        let irc_info = ServerInfo {
            max_rooms_per_user: config.max_rooms_per_user as usize,
            default_room: config.default_room.clone(),
            announce_limit: config.announce_limit as usize,
            created: crate::protocol::utc_time(crate::ban_list::unix_now()),
            ..ServerInfo::default()
        };
        let mut server = Server {
            poll,
            listeners,
            tls,
            connections: Slab::with_capacity(config.max_clients as usize),
            chat,
            clients: 0,
            closing: 0,
            requests: 0,
            scrapes: 0,
            metrics: Metrics::default(),
            delivered_at_flush: 0,
            deliveries: Vec::new(),
            dirty: KeySet::default(),
            unread: KeySet::default(),
            slow: KeySet::default(),
            throttled: Throttled::default(),
            awaiting: Vec::new(),
            flood,
            hosts: HostLimit::new(config.max_per_ip, config.limit_loopback),
            pass: PassWork::default(),
            keys: Vec::new(),
            closed: Vec::new(),
            scratch: vec![0; input::READ_CHUNK],
            spare_fd: File::open("/dev/null").ok(),
            accept_paused: false,
            last_fd_warning: None,
            stop_signal,
            reload_signal: Arc::new(AtomicBool::new(false)),
            shutdown_deadline: None,
            next_tick: now + config.tick(),
            next_trim: now,
            write_timer,
            config,
            cluster,
            held: HashMap::new(),
            irc_rest: HashMap::new(),
            irc_info,
        };
        server.link_cluster()?;
        Ok(server)
    }

    /// The addresses actually bound, with their face and whether they speak TLS (and the real port
    /// where port 0 was asked).
    pub fn local_addrs(&self) -> io::Result<Vec<(SocketAddr, Face, bool)>> {
        self.listeners
            .iter()
            .map(|l| Ok((l.socket.local_addr()?, l.face, l.tls)))
            .collect()
    }

    /// The flag a SIGHUP handler sets: on the next tick the TLS certificate and key are read again
    /// from their files (certbot renews them in place). Connections keep the session they have;
    /// new handshakes use the new pair.
    pub fn reload_on(&mut self, flag: Arc<AtomicBool>) {
        self.reload_signal = flag;
    }

    /// The SHA-256 fingerprint of the TLS certificate, when some listener speaks TLS.
    pub fn tls_fingerprint(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.fingerprint.as_str())
    }

    /// Runs the loop until a shutdown has finished.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            match self.poll.poll(&mut events, Some(self.poll_timeout())) {
                Ok(()) => {}
                // A signal arrived while we slept. That is a wake-up, not a failure: the tick below
                // looks at the flag the signal handler set.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.pass.clear();
            // Input left from the last pass first: under a steady load, new events alone could
            // take every pass's share of work, and those already waiting would wait on.
            self.read_leftovers();
            self.handle(&events);
            // More may have arrived while we worked; take it before writing (see `EXTRA_POLLS`).
            for _ in 0..EXTRA_POLLS {
                if self.pass.is_spent()
                    || self.poll.poll(&mut events, Some(Duration::ZERO)).is_err()
                    || events.is_empty()
                {
                    break;
                }
                self.handle(&events);
            }
            let now = Instant::now();
            self.resume_answered();
            self.wake_throttled(now);
            self.read_leftovers();
            // Output queued outside a delivery (a pong, an error line) can also overflow a queue.
            self.drop_slow_consumers();
            // Timed work runs whenever it is due, not only when `poll` times out: under steady traffic
            // `poll` may never time out at all.
            if now >= self.next_tick {
                self.tick(now);
                self.next_tick = now + self.config.tick();
            }
            // Write, unless the output is waiting for lines that may still join it (see `WriteTimer`).
            // What goes to Redis does not wait: a join's answer should come back at once. Nor does
            // anything once a shutdown is under way (its deadline may end the loop just below), or
            // after a pass that did all the work one pass may do.
            let pending = !self.dirty.is_empty();
            if self.shutdown_deadline.is_some()
                || self.pass.is_spent()
                || self.write_timer.is_due(now, pending)
            {
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

    /// How long `poll` may sleep: until the next tick, the end of the write window, or the next
    /// throttled connection's wake-up; not at all if a connection still has input we did not get to,
    /// since that input will raise no new event (edge-triggered), so waiting for one could wait
    /// forever. (The write timer wakes `poll` itself; its deadline is here only as a fallback.)
    fn poll_timeout(&self) -> Duration {
        if !self.unread.is_empty() {
            return Duration::ZERO;
        }
        let wake = [self.write_timer.deadline(), self.throttled.next_wake()]
            .into_iter()
            .flatten()
            .fold(self.next_tick, Instant::min);
        wake.saturating_duration_since(Instant::now())
    }

    /// Hands each event to the listener, timer or connection its token names.
    fn handle(&mut self, events: &Events) {
        for event in events.iter() {
            match Source::of(event.token(), self.listeners.len()) {
                Source::Listener(index) => self.accept(index),
                Source::WriteTimer => self.write_timer.expired(),
                Source::Cluster(token) => self.cluster_ready(token),
                Source::Connection(key) => self.ready(
                    key,
                    event.is_readable() || event.is_read_closed() || event.is_error(),
                    event.is_writable(),
                ),
            }
        }
    }

    /// A connection is ready. An event can arrive for a key whose connection no longer exists (it
    /// was closed earlier in this pass); such events are ignored: `get`, not indexing.
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
        if writable && conn.has_output() {
            self.dirty.insert(key);
        }
        if readable {
            self.read(key);
        }
    }

    // ---- tick and shutdown --------------------------------------------------------------------

    /// Timed work, run once per `--tick-ms` whether or not there is traffic.
    fn tick(&mut self, now: Instant) {
        if self.stop_signal.load(Ordering::Relaxed) && self.shutdown_deadline.is_none() {
            self.begin_shutdown(now);
        }
        if self.reload_signal.swap(false, Ordering::Relaxed) {
            self.reload_tls();
        }
        // The chat reads no clock: it is told the time, which stamps its history lines.
        self.chat.set_time(crate::ban_list::unix_now());
        self.chat.handle(Event::Tick { now }, &mut self.deliveries);
        self.deliver();
        self.cluster_tick(now);
        self.irc_idle(now);
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
        self.release_memory();
        // Giving the heap's free pages back costs 40-300 µs (up to 3 ms in a busy room): only when
        // the loop has nothing waiting, at most once a second.
        if self.dirty.is_empty() && self.unread.is_empty() && now >= self.next_trim {
            trim_heap();
            self.next_trim = now + TRIM_EVERY;
        }
        for key in slow_requests {
            self.request_timed_out(key);
        }
        if self.accept_paused {
            self.accept_all();
        }
    }

    /// SIGHUP: the certificate and key are read again. A pair that fails to load is logged and the
    /// old one kept: a renewal gone wrong must not take the server down.
    fn reload_tls(&mut self) {
        let (Some(cert), Some(key)) = (&self.config.tls_cert, &self.config.tls_key) else {
            return info!("SIGHUP: no --tls-cert to reload");
        };
        if self.tls.is_none() {
            return info!("SIGHUP: no TLS listener");
        }
        match crate::tls::from_files(cert, key) {
            Ok(setup) => {
                info!("TLS certificate reloaded; sha256 {}", setup.fingerprint);
                self.tls = Some(setup);
            }
            Err(e) => warn!("TLS certificate not reloaded, keeping the one in use: {e}"),
        }
    }

    /// Gives back the memory a crowd left behind: lists of connections that once held every key, and
    /// the work record of a pass. (Each keeps its capacity from pass to pass, which is what makes a
    /// busy loop cheap; an idle one should not keep the peak.)
    fn release_memory(&mut self) {
        for set in [&mut self.dirty, &mut self.unread, &mut self.slow] {
            set.shrink();
        }
        if self.keys.capacity() > 1024 {
            self.keys = Vec::new();
        }
        if self.pass.by_sender.is_empty() && self.pass.by_sender.capacity() > 64 {
            self.pass.by_sender = HashMap::new();
        }
        if self.deliveries.is_empty() && self.deliveries.capacity() > 1024 {
            self.deliveries = Vec::new();
        }
    }

    /// The first SIGINT or SIGTERM: stop accepting, tell everyone, and close every connection
    /// gracefully within `--grace-ms`. [`Server::run`] returns when all are closed or time is up.
    fn begin_shutdown(&mut self, now: Instant) {
        info!("shutting down: {} clients", self.clients);
        for mut listener in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener.socket);
        }
        self.accept_paused = false;
        self.shutdown_deadline = Some(now + self.config.grace());
        self.chat.handle(Event::Shutdown, &mut self.deliveries);
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
            self.begin_close(key);
        }
    }
}

/// Returns the heap's free memory to the system. A crowd joining leaves much of what its join
/// notices and name lists took free but held by the allocator (glibc keeps freed memory for the
/// next allocation, and a heap full of holes cannot shrink by itself): in idle10k with five rooms
/// per client, 4.5 MB of 11.8 MB. `malloc_trim(0)` gives the free pages back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: `malloc_trim` takes no pointer and touches only the allocator's own free lists, under
    // the allocator's lock; it is safe to call at any time from any thread. There is no safe
    // wrapper for it in std or in the `libc` crate.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}
