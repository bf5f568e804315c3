//! Closing: every way a connection ends goes through [`Server::leave`] (the room hears it left) and
//! then a graceful close or, when the connection is already broken, an immediate one. A graceful
//! close writes what is queued, shuts down our side, waits for the peer's EOF, and gives up after one
//! linger time: `CLOSE_LINGER`, or `--grace-ms` during a shutdown.

use std::io;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use log::{debug, info};

use super::{CLOSE_LINGER, Server};
use crate::chat::Event;
use crate::connection::{Input, State, Transport};
use crate::websocket;

/// How a connection that leaves the room is closed.
pub(super) enum Ending<'a> {
    /// Its queued lines are written first (a goodbye, the reason it was dropped).
    Graceful,
    /// A read or write failed (reset by the peer, keepalive gave up...): nothing more can be sent.
    Lost(&'a io::Error),
    /// The peer broke TLS (a failed handshake, plain text on a TLS port): rustls's alert is sent,
    /// and the socket closed. Logged at `debug` only: scanners do this all day on the internet.
    TlsFailed(&'a io::Error),
}

impl Server {
    /// Connection `key` leaves the room for `reason` (shown to the others: `*** ana left (reason)`),
    /// then is closed. A connection the room does not know (still in HTTP) is only closed.
    pub(super) fn leave(&mut self, key: usize, reason: &str, ending: Ending<'_>) {
        self.chat
            .handle(Event::Disconnect { id: key, reason }, &mut self.deliveries);
        self.deliver();
        match ending {
            Ending::Graceful => self.begin_close(key),
            Ending::Lost(error) => self.close_now(key, format_args!("connection lost: {error}")),
            Ending::TlsFailed(error) => {
                debug!("#{key}: TLS failed: {error}");
                self.close_quietly(key);
            }
        }
    }

    /// Starts a graceful close: input is no longer taken as chat (it is read and thrown away, with
    /// whatever was held or kept of it; a reader taken out to call back into the server, as when a
    /// `/quit` is read, is put back with its kept bytes, which are then simply never used), what is
    /// queued is written, then our side is shut down
    /// (`Flushing` → `Draining`, in [`Server::flush`]), and the socket is closed when the peer closes
    /// too or when the linger time has passed ([`Server::tick`]).
    pub(super) fn begin_close(&mut self, key: usize) {
        let linger = self.close_linger();
        let Some(conn) = self.connections.get_mut(key) else {
            return;
        };
        if !conn.is_open() {
            return;
        }
        conn.state = State::Flushing {
            deadline: Instant::now() + linger,
        };
        conn.input = Input::Reading;
        match &mut conn.transport {
            Transport::Tcp(reader) => reader.discard(),
            Transport::Irc(irc) => irc.reader.discard(),
            Transport::Http(_) | Transport::WebSocket(_) => {}
        }
        self.held.remove(&key);
        self.irc_rest.remove(&key);
        // A browser gets a close frame after what is queued: 1001 when the server is going away.
        let code = if self.shutdown_deadline.is_some() {
            websocket::GOING_AWAY
        } else {
            websocket::NORMAL
        };
        self.send_close_frame(key, code);
        self.count_closed(key);
        // Flushing happens when the write window ends; an empty queue moves straight on to shutdown.
        self.dirty.insert(key);
    }

    pub(super) fn shut_down_write(&mut self, key: usize, deadline: Instant) {
        let conn = &mut self.connections[key];
        match conn.close_notify() {
            Ok(true) => {}
            Ok(false) => return, // Sent when the socket is writable again (`Server::ready`).
            Err(_) => return self.close_now(key, "closed cleanly"),
        }
        if conn.peer_closed || conn.stream.shutdown(Shutdown::Write).is_err() {
            return self.close_now(key, "closed cleanly");
        }
        conn.state = State::Draining { deadline };
    }

    /// A connection leaves the `Open` state: one client or one request fewer. A chat connection's
    /// socket stays open while it closes, so it is counted as closing until [`Server::reap`].
    fn count_closed(&mut self, key: usize) {
        let conn = &mut self.connections[key];
        match &conn.transport {
            transport if transport.is_chat() => {
                self.clients -= 1;
                self.closing += 1;
                conn.closing_counted = true;
            }
            transport if is_scrape(transport) => self.scrapes -= 1,
            _ => self.requests -= 1,
        }
    }

    /// Marks a connection closed; [`Server::reap`] removes it at the end of the pass.
    pub(super) fn close_now(&mut self, key: usize, how: impl std::fmt::Display) {
        let conn = &self.connections[key];
        if conn.state != State::Closed {
            // A scraper comes every few seconds: its comings and goings would drown the log.
            if is_scrape(&conn.transport) {
                debug!("#{key} disconnected ({how})");
            } else {
                info!("#{key} disconnected ({how})");
            }
        }
        self.close_quietly(key);
    }

    /// [`Server::close_now`] without a log line.
    fn close_quietly(&mut self, key: usize) {
        match self.connections[key].state {
            State::Closed => return,
            State::Open { .. } => self.count_closed(key),
            State::Flushing { .. } | State::Draining { .. } => {}
        }
        self.connections[key].state = State::Closed;
        self.closed.push(key);
    }

    /// Removes the connections closed during this pass and frees their keys. This is the only place a
    /// key is freed, so no event of this pass can reach a connection that took over the key.
    pub(super) fn reap(&mut self) {
        if self.closed.is_empty() {
            return;
        }
        for key in std::mem::take(&mut self.closed) {
            let mut conn = self.connections.remove(key);
            // Dropping the stream closes the socket, which takes it out of the epoll set too;
            // deregistering first says so explicitly and keeps mio's bookkeeping exact.
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.hosts.release(key);
            if conn.closing_counted {
                self.closing -= 1;
            }
            if conn.held_back {
                self.throttled.end(key);
            }
            self.held.remove(&key);
            self.irc_rest.remove(&key);
            // A new connection given this key must start on no list.
            self.unread.remove(key);
            self.dirty.remove(key);
            self.slow.remove(key);
        }
        // A descriptor was freed: if accepting had stopped, connections may be waiting. Their
        // greetings go out now rather than on the next pass.
        if self.accept_paused {
            self.accept_all();
            self.flush_dirty();
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

/// A connection to the metrics listener.
pub(super) fn is_scrape(transport: &Transport) -> bool {
    matches!(transport, Transport::Http(request) if request.metrics)
}
