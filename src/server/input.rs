//! Input: a connection is readable, so its bytes are read and cut into lines for the room.
//!
//! A connection is read until its socket has nothing more (`WouldBlock`), until it has had its share
//! of this pass, or until the loop stops taking its lines. The loop stops for two reasons:
//!
//! - **flood control** (`flood.rs`): the connection's bucket is empty. The loop stops reading it
//!   until its next line is due. This is backpressure by not reading: the lines not yet handed out
//!   stay in the connection's reader, the rest stays in the kernel's receive buffer, and once that is
//!   full the sender's TCP window closes and its `write` blocks. Nothing is lost; nobody else waits.
//! - **the cluster**: the line just handed over waits for Redis's answer (a name being claimed), and
//!   the lines after it must not overtake it.
//!
//! Either way the connection raises no new event for input that is already waiting (readiness is
//! edge-triggered), so the loop must come back to it by itself: at its wake-up time
//! (`throttled.rs`), or when the answer has come. Then it is put on the `unread` list, and read again
//! exactly where it stopped: held lines first, then what its reader kept, then the socket.

use std::io;
use std::ops::ControlFlow;
use std::time::Instant;

use log::{debug, info};

use super::Server;
use super::close::{Ending, is_scrape};
use crate::chat::Event;
use crate::connection::{Input, State, Transport};
use crate::line_reader::Piece;
use crate::protocol;

/// How much one connection may have read from it in one pass of the loop. A client that sends a lot
/// gets this much attention, then waits for the next pass while everyone else is served (and the
/// work of a whole pass is bounded too, by lines relayed: see [`PASS_LINES`](super::PASS_LINES)).
const READ_BUDGET: usize = 64 * 1024;
/// The size of one `read`.
pub(super) const READ_CHUNK: usize = 16 * 1024;

impl Server {
    /// Reads connection `key`: first what an earlier stop left, then the socket, until `WouldBlock`,
    /// a stop, or [`READ_BUDGET`]. Edge-triggered readiness is reported once per arrival of data, so
    /// we must read until `WouldBlock`, or remember that we stopped early and come back without
    /// waiting for another event.
    pub(super) fn read(&mut self, key: usize) {
        let Some(conn) = self.connections.get(key) else {
            return;
        };
        if conn.is_open() {
            // Stopped (it will be come back to), or already listed to be read later in the loop.
            if conn.input != Input::Reading || self.unread.contains(key) {
                return;
            }
            if self.take_kept(key).is_break() {
                return;
            }
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut budget = READ_BUDGET;
        while let Some(conn) = self.connections.get_mut(key) {
            // Closed, or stopped by what it sent (the rest stays in the socket).
            if conn.state == State::Closed || (conn.is_open() && conn.input != Input::Reading) {
                break;
            }
            if budget == 0 || self.pass.is_spent() {
                self.unread.insert(key);
                break;
            }
            match conn.read_plain(&mut scratch) {
                Ok(0) => {
                    self.peer_closed(key);
                    break;
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    if !is_scrape(&self.connections[key].transport) {
                        self.metrics.bytes_in += n as u64;
                    }
                    if self.received(key, &scratch[..n]).is_break() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.ran_dry(key);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidData && conn.tls.is_some() => {
                    self.leave(key, protocol::REASON_LOST, Ending::TlsFailed(&e));
                    break;
                }
                // Reset by a peer that has already left (after `/quit`, say): nothing was lost.
                Err(e) if !self.connections[key].is_open() => {
                    self.close_now(key, format_args!("closed; the peer then reset it ({e})"));
                    break;
                }
                Err(e) => {
                    self.leave(key, protocol::REASON_LOST, Ending::Lost(&e));
                    break;
                }
            }
        }
        self.scratch = scratch;
        // A TLS handshake's answer the socket did not take, the greeting waiting for the handshake
        // to finish, or a close waiting for it (`Server::flush`), goes on when the loop writes.
        if let Some(conn) = self.connections.get(key)
            && conn.tls.is_some()
            && (conn.has_output() || matches!(conn.state, State::Flushing { .. }))
        {
            self.dirty.insert(key);
        }
    }

    /// Reads the connections listed in `unread`, unless this pass has done all it may: then they wait
    /// for the next one (which comes at once: `poll` does not sleep while any are listed).
    pub(super) fn read_leftovers(&mut self) {
        if self.unread.is_empty() || self.pass.is_spent() {
            return;
        }
        let mut keys = std::mem::take(&mut self.keys);
        self.unread.take(&mut keys);
        for &key in &keys {
            self.read(key);
        }
        self.keys = keys;
    }

    /// Hands the room what connection `key` was stopped with: held lines (the rest of a WebSocket
    /// message) or commands (the rest of an IRC line), then lines its reader kept. `Break` if it is stopped again before the end.
    fn take_kept(&mut self, key: usize) -> ControlFlow<()> {
        self.check_input(key)?;
        while let Some(text) = self.held.get_mut(&key).and_then(|held| held.pop_front()) {
            self.line(key, &text);
            self.check_input(key)?;
        }
        self.held.remove(&key);
        while let Some(command) = self
            .irc_rest
            .get_mut(&key)
            .and_then(|rest| rest.pop_front())
        {
            self.irc_command(key, command);
            self.check_input(key)?;
        }
        self.irc_rest.remove(&key);
        let conn = &mut self.connections[key];
        match &mut conn.transport {
            Transport::Tcp(reader) if reader.has_kept() => {
                let mut reader = std::mem::take(reader);
                let flow = reader.resume(|piece| self.piece(key, piece));
                if let Transport::Tcp(slot) = &mut self.connections[key].transport {
                    *slot = reader;
                }
                flow
            }
            Transport::Irc(irc) if irc.reader.has_kept() => {
                let mut reader = std::mem::take(&mut irc.reader);
                let flow = reader.resume(|piece| self.irc_piece(key, piece));
                if let Transport::Irc(irc) = &mut self.connections[key].transport {
                    irc.reader = reader;
                }
                flow
            }
            Transport::WebSocket(session) if session.frames.has_kept() => {
                let mut frames = std::mem::take(&mut session.frames);
                let flow = frames.resume(|event| self.websocket_event(key, event));
                if let Transport::WebSocket(session) = &mut self.connections[key].transport {
                    session.frames = frames;
                }
                flow
            }
            _ => ControlFlow::Continue(()),
        }
    }

    /// Bytes from connection `key`: cut into lines and each line handed to the room. A connection
    /// that is closing has its input read (so that closing does not cause an RST) and thrown away.
    /// `Break` when the loop stopped taking its lines: what is left of `bytes` is kept by its reader.
    fn received(&mut self, key: usize, bytes: &[u8]) -> ControlFlow<()> {
        let conn = &mut self.connections[key];
        if !conn.is_open() {
            return ControlFlow::Continue(());
        }
        match &mut conn.transport {
            // A TLS ClientHello (a handshake record: 0x16, then the version's 0x03) on a plain port:
            // a client that wants TLS knocked on the wrong door. Said so in plain text (it cannot
            // read it, but a person with a packet capture can), and closed: its bytes must not
            // become a name.
            Transport::Tcp(_) if bytes.starts_with(&[0x16, 0x03]) && !self.chat.has_joined(key) => {
                debug!("#{key}: a TLS handshake on a plain port");
                self.queue(key, protocol::NOT_TLS.to_string());
                self.leave(key, protocol::REASON_LOST, Ending::Graceful);
                ControlFlow::Break(())
            }
            // The same on the IRC face (irssi's `/connect -tls` to port 6667): an `ERROR` and the
            // close, rather than a wait for a registration that cannot come.
            Transport::Irc(_) if bytes.starts_with(&[0x16, 0x03]) && !self.chat.has_joined(key) => {
                debug!("#{key}: a TLS handshake on a plain IRC port");
                self.queue_bytes(key, &super::irc::closing_link(protocol::NOT_TLS_IRC));
                self.leave(key, protocol::REASON_LOST, Ending::Graceful);
                ControlFlow::Break(())
            }
            Transport::Tcp(reader) => {
                // Taken out while it calls back into the server, then put back.
                let mut reader = std::mem::take(reader);
                let flow = reader.feed(bytes, |piece| self.piece(key, piece));
                if let Transport::Tcp(slot) = &mut self.connections[key].transport {
                    *slot = reader;
                }
                flow
            }
            Transport::Http(request) if request.metrics => {
                self.scrape_received(key, bytes);
                ControlFlow::Continue(())
            }
            Transport::Http(_) => {
                self.http_received(key, bytes);
                ControlFlow::Continue(())
            }
            Transport::WebSocket(_) => self.websocket_received(key, bytes),
            Transport::Irc(irc) => {
                let mut reader = std::mem::take(&mut irc.reader);
                let flow = reader.feed(bytes, |piece| self.irc_piece(key, piece));
                if let Transport::Irc(irc) = &mut self.connections[key].transport {
                    irc.reader = reader;
                }
                flow
            }
        }
    }

    /// One line (or an overlong one) from a TCP connection. `Break` once the loop takes no more lines
    /// from it for now (see [`Server::check_input`]), or at all (after `/quit`, say).
    fn piece(&mut self, key: usize, piece: Piece<'_>) -> ControlFlow<()> {
        match piece {
            // Invalid UTF-8 becomes U+FFFD here (3 bytes for each bad byte, so the limit is checked
            // again: it holds for what is relayed); the room removes control characters.
            Piece::Line(bytes) => match String::from_utf8_lossy(bytes) {
                text if text.len() > self.config.max_line as usize => self.too_long(key),
                text => self.line(key, &text),
            },
            Piece::TooLong => self.too_long(key),
        }
        self.check_input(key)
    }

    /// One line of chat from connection `key`, whatever its transport. A user's lines after the name
    /// cost a token each; the caller has made sure one is there ([`Server::check_input`]).
    pub(super) fn line(&mut self, key: usize, text: &str) {
        self.spend_token(key);
        self.metrics.lines_received += 1;
        let before = self.pass.deliveries;
        self.chat
            .handle(Event::Line { id: key, text }, &mut self.deliveries);
        self.deliver();
        self.pass.lines += 1;
        let caused = self.pass.deliveries - before;
        if caused > 0 {
            *self.pass.by_sender.entry(key).or_default() += caused;
        }
    }

    /// A line over `--max-line`: refused with an error line, and counted like any line (sending
    /// overlong lines is no way around flood control).
    pub(super) fn too_long(&mut self, key: usize) {
        self.spend_token(key);
        let line = protocol::line_too_long(self.config.max_line as usize);
        self.queue(key, line);
    }

    pub(super) fn spend_token(&mut self, key: usize) {
        if self.flood.is_on()
            && self.chat.has_joined(key)
            && let Some(bucket) = self.connections[key].bucket()
        {
            self.flood.take(bucket, Instant::now());
        }
    }

    /// Whether the loop may take another line from connection `key` now. If not, the connection's
    /// `input` says why, and the loop will come back to it: when its next token is due, when the
    /// cluster has answered, or on the next pass once this one has done its share of work.
    pub(super) fn check_input(&mut self, key: usize) -> ControlFlow<()> {
        let Some(conn) = self.connections.get_mut(key) else {
            return ControlFlow::Break(());
        };
        if !conn.is_open() {
            return ControlFlow::Break(());
        }
        if self.chat.is_waiting(key) {
            conn.input = Input::AwaitingCluster;
            self.awaiting.push(key);
            return ControlFlow::Break(());
        }
        if self.flood.is_on() {
            let now = Instant::now();
            if conn.bucket().is_some_and(|b| !self.flood.has_token(b, now)) {
                self.metrics.flood_throttles += 1;
                self.throttle(key, now);
                return ControlFlow::Break(());
            }
        }
        if self.pass.is_spent() {
            self.unread.insert(key);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Flood control stops reading connection `key` until its next token, or its kick, is due.
    fn throttle(&mut self, key: usize, now: Instant) {
        let conn = &mut self.connections[key];
        conn.input = Input::Throttled;
        conn.held_back = true;
        let token = conn.bucket().and_then(|b| self.flood.next_token(b, now));
        let token = token.unwrap_or(now);
        let since = self.throttled.since(key).unwrap_or(now);
        let wake = self
            .flood
            .kick_at(since)
            .map_or(token, |kick| kick.min(token));
        self.throttled.hold(key, now, wake);
    }

    /// Connections whose wake-up has come: read again if their next token is due; disconnected if
    /// they have been held back for `--flood-kick-secs` with input still waiting.
    pub(super) fn wake_throttled(&mut self, now: Instant) {
        if self.throttled.next_wake().is_none_or(|wake| wake > now) {
            return;
        }
        let mut keys = std::mem::take(&mut self.keys);
        self.throttled.due(now, &mut keys);
        for &key in &keys {
            let Some(conn) = self.connections.get_mut(key) else {
                continue;
            };
            if conn.input != Input::Throttled || !conn.is_open() {
                continue; // A stale wake-up: it was woken, or closed, already.
            }
            let since = self.throttled.since(key).unwrap_or(now);
            if self.flood.kick_at(since).is_some_and(|kick| kick <= now) {
                if self.has_waiting_input(key) {
                    self.kick_flooder(key, now.duration_since(since).as_secs());
                    continue;
                }
                // It stopped sending just in time: the hold is over.
                self.ran_dry(key);
            }
            let conn = &mut self.connections[key];
            if conn.bucket().is_some_and(|b| self.flood.has_token(b, now)) {
                conn.input = Input::Reading;
                self.unread.insert(key);
            } else {
                self.throttle(key, now);
            }
        }
        self.keys = keys;
    }

    /// Whether connection `key` has input the loop has not taken: lines held or kept, or bytes
    /// waiting in the socket (looked at with `peek`, which leaves them there).
    fn has_waiting_input(&mut self, key: usize) -> bool {
        if self.held.get(&key).is_some_and(|held| !held.is_empty())
            || self.irc_rest.contains_key(&key)
        {
            return true;
        }
        let conn = &self.connections[key];
        let kept = match &conn.transport {
            Transport::Tcp(reader) => reader.has_kept(),
            Transport::WebSocket(session) => session.frames.has_kept(),
            Transport::Irc(irc) => irc.reader.has_kept(),
            Transport::Http(_) => false,
        };
        kept || matches!(conn.stream.peek(&mut [0]), Ok(n) if n > 0)
    }

    /// Held back too long: told why, and closed with its waiting input thrown away.
    fn kick_flooder(&mut self, key: usize, secs: u64) {
        info!("#{key} held back by flood control for {secs} s with input waiting; disconnecting");
        self.metrics.flood_kicks += 1;
        self.queue(key, protocol::FLOODING.to_string());
        self.leave(key, protocol::REASON_FLOOD, Ending::Graceful);
    }

    /// Connection `key` has no more input waiting: if flood control was holding it back, that hold
    /// is over (the next one, if any, starts its own clock for the kick).
    fn ran_dry(&mut self, key: usize) {
        let conn = &mut self.connections[key];
        if conn.held_back {
            conn.held_back = false;
            self.throttled.end(key);
        }
    }

    /// Connections that were waiting for the cluster and whose answer has come are read again, in
    /// this pass: edge-triggered readiness will not report input that arrived while we were not
    /// reading. (Few connections wait at any time: a join or a rename waits one round trip to Redis.)
    pub(super) fn resume_answered(&mut self) {
        let mut i = 0;
        while i < self.awaiting.len() {
            let key = self.awaiting[i];
            let waiting = match self.connections.get_mut(key) {
                Some(conn) if conn.input == Input::AwaitingCluster && conn.is_open() => {
                    if self.chat.is_waiting(key) {
                        true
                    } else {
                        conn.input = Input::Reading;
                        self.unread.insert(key);
                        false
                    }
                }
                _ => false,
            };
            if waiting {
                i += 1;
            } else {
                self.awaiting.swap_remove(i);
            }
        }
    }

    /// The peer closed its side (we read EOF). Its last line may have had no newline; it still counts.
    /// Then the room hears it left, and what is queued for it is still sent before we close.
    fn peer_closed(&mut self, key: usize) {
        let conn = &mut self.connections[key];
        conn.peer_closed = true;
        match conn.state {
            State::Open { .. } => {
                match &mut conn.transport {
                    Transport::Tcp(reader) => {
                        let mut reader = std::mem::take(reader);
                        reader.finish(|piece| self.piece(key, piece));
                    }
                    Transport::Irc(irc) => {
                        let mut reader = std::mem::take(&mut irc.reader);
                        reader.finish(|piece| self.irc_piece(key, piece));
                    }
                    Transport::Http(_) | Transport::WebSocket(_) => {}
                }
                self.leave(key, protocol::REASON_LOST, Ending::Graceful);
            }
            State::Flushing { .. } => {} // Finish writing; `flush` closes once done.
            State::Draining { .. } => self.close_now(key, "closed cleanly"),
            State::Closed => {}
        }
    }
}
