//! Accepting: a listener is ready, so connections are waiting in its backlog. Each one is taken in
//! (into the room, or into HTTP on the web face) or turned away with a line that says why: the server
//! is full, its address has too many connections, or the process is out of descriptors.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::Interest;
use mio::Token;
use mio::net::TcpStream;

use super::{CLOSE_LINGER, Face, REFUSING_MAX, SCRAPES_MAX, Server};
use crate::chat::Event;
use crate::connection::{Connection, HttpRequest, State, Transport};
use crate::http;
use crate::line_reader::LineReader;
use crate::metrics::{Refused, TRANSPORTS};
use crate::protocol;
use crate::socket;

/// How many accept errors in a row (other than running out of descriptors) before the loop stops
/// accepting until the next tick, so a persistent error cannot make it spin.
const ACCEPT_ERRORS_MAX: usize = 64;
/// At most one "out of file descriptors" warning in this long.
const FD_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Why a connection is turned away.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// `--max-clients` (or `--max-http` on the web face) are all taken.
    Full,
    /// Its address has `--max-per-ip` connections already.
    TooManyFromAddress,
}

impl Server {
    /// Accepts every connection waiting on listener `index`. The listener is edge-triggered: it
    /// reports readiness once for a burst of arrivals, so we accept until `WouldBlock`.
    pub(super) fn accept(&mut self, index: usize) {
        let mut errors = 0;
        while let Some(listener) = self.listeners.get(index) {
            let (face, tls) = (listener.face, listener.tls);
            match listener.socket.accept() {
                Ok((stream, peer)) => {
                    errors = 0;
                    self.admit(stream, peer, face, tls);
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
    pub(super) fn accept_all(&mut self) {
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
        let (face, tls) = (self.listeners[index].face, self.listeners[index].tls);
        while let Some(spare) = self.spare_fd.take() {
            drop(spare);
            let accepted = self.listeners[index].socket.accept();
            let more = match accepted {
                Ok((mut stream, _)) => {
                    // Best effort: the socket is new, so its send buffer is empty and this fits.
                    // (A TLS client could not read it, and a handshake needs a descriptor we do
                    // not have: it only sees the close.)
                    let refusal = match face {
                        Face::Chat => format!("{}\n", protocol::SERVER_FULL_NO_FDS).into_bytes(),
                        Face::Irc => super::irc::closing_link(protocol::SERVER_FULL_NO_FDS),
                        Face::Web | Face::Metrics => http::unavailable(),
                    };
                    if face != Face::Metrics {
                        self.metrics.refused(Refused::OutOfFds);
                    }
                    if !tls {
                        let _ = stream.write_all(&refusal);
                    }
                    let _ = stream.shutdown(Shutdown::Write);
                    // Read what the peer already sent (a name, an HTTP request): closing a socket
                    // with unread input sends RST, which can destroy our line before it is read.
                    let mut sink = [0; 4096];
                    for _ in 0..16 {
                        if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
                            break;
                        }
                    }
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
    /// away if that is full or its address has too many connections already.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, face: Face, tls: bool) {
        if let Err(e) = socket::configure(&stream) {
            debug!("{peer}: cannot set socket options ({e}); dropping it");
            return;
        }
        let full = match face {
            Face::Chat | Face::Irc => {
                self.clients + self.closing >= self.config.max_clients as usize
            }
            Face::Web => self.requests >= self.config.max_http as usize,
            Face::Metrics => self.scrapes >= SCRAPES_MAX,
        };
        let room_for_refusals =
            self.config.max_clients as usize + self.config.max_http as usize + REFUSING_MAX;
        let transport = match face {
            Face::Chat => Transport::Tcp(LineReader::new(self.config.max_line as usize)),
            Face::Irc => self.irc_transport(),
            // A scrape has the web face's bounds: `http::MAX_HEAD` and `--web-deadline-secs`.
            Face::Web | Face::Metrics => {
                let deadline = Instant::now() + self.config.web_deadline();
                Transport::Http(Box::new(HttpRequest {
                    head: Vec::new(),
                    deadline,
                    metrics: face == Face::Metrics,
                    peer: peer.ip(),
                }))
            }
        };
        // The key the connection will have: the host limit counts by it.
        let key = self.connections.vacant_key();
        // Scrapes are not counted against `--max-per-ip`: a scraper must never take a user's place.
        let per_ip = match face {
            Face::Metrics => Ok(()),
            Face::Chat | Face::Web | Face::Irc => self.hosts.admit(key, peer.ip(), Instant::now()),
        };
        let refusal = match per_ip {
            Ok(()) => full.then_some(Refusal::Full),
            Err(log) => {
                if log {
                    warn!("{peer}: refused, too many connections from its address (--max-per-ip)");
                }
                Some(Refusal::TooManyFromAddress)
            }
        };
        if refusal.is_some() && self.connections.len() >= room_for_refusals {
            self.hosts.release(key);
            if face != Face::Metrics {
                self.metrics.refused(Refused::Overflow);
            }
            return; // Even the queue of refusals is full: drop it without a word.
        }
        if self.insert(stream, peer, transport).is_none() {
            self.hosts.release(key);
            return;
        }
        if tls && let Some(setup) = &self.tls {
            // The handshake happens as the connection is read and written, like everything else.
            match rustls::ServerConnection::new(setup.config.clone()) {
                Ok(session) => self.connections[key].tls = Some(Box::new(session)),
                Err(e) => {
                    warn!("#{key}: cannot start TLS: {e}");
                    self.close_now(key, "no TLS");
                    return;
                }
            }
        }
        // The one log line with the peer's address: later ones name the connection by its key. (A
        // scraper, which comes every few seconds, only at `debug`.)
        if face == Face::Metrics {
            debug!("#{key} {peer} connected (metrics)");
        } else {
            info!("#{key} {peer} connected");
        }
        if let Some(refusal) = refusal {
            return self.refuse(key, face, refusal);
        }
        match face {
            Face::Chat | Face::Irc => self.join_room(key, peer.ip()),
            Face::Web => self.requests += 1,
            Face::Metrics => return self.scrapes += 1,
        }
        self.metrics.accepted += 1;
    }

    /// Turns connection `key` away: one line (or an HTTP 503), then a graceful close. It was never
    /// counted as open.
    fn refuse(&mut self, key: usize, face: Face, refusal: Refusal) {
        info!("#{key} refused: {refusal:?}");
        let conn = &mut self.connections[key];
        let (line, reason) = match refusal {
            Refusal::Full => (protocol::SERVER_FULL, Refused::Full),
            Refusal::TooManyFromAddress => (protocol::TOO_MANY_FROM_ADDRESS, Refused::PerIp),
        };
        match face {
            Face::Chat => conn.output.push_line(line),
            Face::Irc => conn.output.push(&super::irc::closing_link(line)),
            Face::Web | Face::Metrics => conn.output.push(&http::unavailable()),
        }
        if face != Face::Metrics {
            self.metrics.refused(reason);
        }
        let deadline = Instant::now() + CLOSE_LINGER;
        conn.state = State::Flushing { deadline };
        self.dirty.insert(key);
    }

    /// A chat connection (TCP now, WebSocket after its upgrade) from `addr` enters the room. (One
    /// from a banned address is told so and closed by the room at once, before the name prompt: the
    /// room holds the bans, see `chat/moderation.rs`; the close is graceful, so the line arrives.)
    pub(super) fn join_room(&mut self, key: usize, addr: IpAddr) {
        self.clients += 1;
        let how =
            super::metrics::carried(&self.connections[key]).map_or("?", |c| TRANSPORTS[c as usize]);
        info!(
            "#{key} is a chat client over {how} ({} connected)",
            self.clients
        );
        let now = Instant::now();
        let event = Event::ConnectFrom { id: key, now, addr };
        self.chat.handle(event, &mut self.deliveries);
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
}

/// EMFILE: this process has no descriptor left; ENFILE: the whole system has none left.
fn is_out_of_fds(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}
