//! Output: the room's deliveries are queued on each recipient's `Output`, and written when the write
//! window ends. Broadcast needs no threads: a line to the room is framed once per transport, copied
//! onto every recipient's queue, and each queue is written as its socket allows.
//!
//! Every queue is bounded by `--max-queue`. A recipient over it is written to at once, and dropped
//! only if its socket still will not take the excess: one client that stops reading must never hold
//! up, or eat the memory of, the others, but a reader at full speed is never taken for a slow one.

use std::time::Instant;

use log::warn;

use slab::Slab;

use super::Server;
use super::close::{Ending, is_scrape};
use super::framing::Framed;
use super::key_set::KeySet;
use crate::chat::{Chat, ClientId, Delivery, Notice, RoomId};
use crate::connection::{Connection, Output, State, Transport};
use crate::protocol;
use crate::websocket;

impl Server {
    /// Carries out what the room asked for: queues lines, starts closes. Nothing is written here;
    /// queued output leaves in [`Server::flush_dirty`] when the write window ends.
    pub(super) fn deliver(&mut self) {
        while !self.deliveries.is_empty() {
            let mut deliveries = std::mem::take(&mut self.deliveries);
            for delivery in deliveries.drain(..) {
                match delivery {
                    Delivery::To { id, notice } => self.queue(id, notice),
                    Delivery::Room {
                        room,
                        except,
                        notice,
                    } => self.deliver_to_room(room, except, notice),
                    Delivery::Everyone { except, notice } => self.broadcast(except, notice),
                    Delivery::Close { id } => self.begin_close(id),
                    Delivery::BansChanged => self.save_bans(),
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
    }

    /// One notice to the members of a room but `except`: worded once, framed once per transport (and
    /// once more with the room's name in front, if some get it so), and each recipient gets a copy
    /// of the same bytes. The chat's member list is walked in place, while the recipients' queues are filled:
    /// two borrows of different parts of the server (see [`Server::chat_and_queues`]).
    fn deliver_to_room(&mut self, room: RoomId, except: Option<ClientId>, notice: Notice) {
        let (chat, mut queues) = self.chat_and_queues();
        let room_name = chat.room_name(room);
        let mut plain = Framed::in_room(notice, room_name);
        let mut prefixed: Option<Framed> = None;
        let (mut delivered, mut queued) = (0, 0);
        chat.room_recipients(room, except, |id, in_front| {
            // An IRC message always names its channel: IRC members get the plain form.
            let framed = if in_front && !queues.is_irc(id) {
                prefixed.get_or_insert_with(|| {
                    let line = protocol::in_room(room_name, &plain.text());
                    Framed::in_room(line.into(), room_name)
                })
            } else {
                &mut plain
            };
            delivered += 1;
            queued += u64::from(queues.push_framed(id, framed));
        });
        self.pass.deliveries += delivered;
        self.metrics.deliveries += queued;
    }

    /// One notice about the server to every user who has joined but `except`, whatever their rooms:
    /// worded once, framed once per transport, and each recipient gets a copy of the same bytes.
    fn broadcast(&mut self, except: Option<ClientId>, notice: Notice) {
        let mut framed = Framed::new(notice);
        let (chat, mut queues) = self.chat_and_queues();
        let (mut delivered, mut queued) = (0, 0);
        for id in chat.members().filter(|&id| Some(id) != except) {
            delivered += 1;
            queued += u64::from(queues.push_framed(id, &mut framed));
        }
        self.pass.deliveries += delivered;
        self.metrics.deliveries += queued;
    }

    /// Queues one notice (or a line of the edge's own, as [`Notice::Text`]) for connection `key`,
    /// worded and framed for its transport.
    pub(super) fn queue(&mut self, key: usize, notice: impl Into<Notice>) {
        self.pass.deliveries += 1;
        let notice = notice.into();
        // To an IRC client, what a notice says may depend on who reads it (numerics name it) and
        // where its session is (the welcome): its session words it.
        if let Some(Transport::Irc(irc)) = self.connections.get_mut(key).map(|c| &mut c.transport) {
            let mut out = String::new();
            irc.session.to_me(&self.irc_info, &notice, &mut out);
            if !out.is_empty() {
                let queued = self.queues().push(key, out.as_bytes());
                self.metrics.deliveries += u64::from(queued);
            }
            return;
        }
        let queued = self.queues().push_framed(key, &mut Framed::new(notice));
        self.metrics.deliveries += u64::from(queued);
    }

    /// Queues bytes that are already framed.
    pub(super) fn queue_bytes(&mut self, key: usize, bytes: &[u8]) {
        self.queues().push(key, bytes);
    }

    fn queues(&mut self) -> Queues<'_> {
        self.chat_and_queues().1
    }

    /// The chat (to read who receives a line) and the recipients' queues (to fill), borrowed apart
    /// from each other: a delivery walks the chat's member list in place while it queues.
    fn chat_and_queues(&mut self) -> (&Chat, Queues<'_>) {
        let queues = Queues {
            connections: &mut self.connections,
            dirty: &mut self.dirty,
            slow: &mut self.slow,
            max_queue: self.config.max_queue as usize,
            bytes_out: &mut self.metrics.bytes_out,
        };
        (&self.chat, queues)
    }

    /// Drops the connections whose queue stayed over the cap. Each gets one last line in place of what
    /// it will never read, and the log names whose lines filled the queues in this pass, so that an
    /// operator can see a flood.
    pub(super) fn drop_slow_consumers(&mut self) {
        if self.slow.is_empty() {
            return;
        }
        let mut keys = Vec::new();
        self.slow.take(&mut keys);
        let cause = match self.pass.top_sender() {
            Some((sender, n)) => format!(" (most output this pass: #{sender}'s lines, {n} times)"),
            None => String::new(),
        };
        for key in keys {
            let Some(conn) = self.connections.get_mut(key) else {
                continue;
            };
            if !conn.is_open() {
                continue;
            }
            warn!(
                "#{key} is a slow consumer: {} bytes still queued after a write, over {}; \
                 disconnecting{cause}",
                conn.output.queued(),
                self.config.max_queue
            );
            match &conn.transport {
                // What is queued will never be read: keep only the end of a line already started.
                Transport::Tcp(_) => {
                    conn.output.drop_unsent_lines();
                    conn.output.push_line(protocol::NOT_READING);
                }
                // (A WebSocket queue is frames: its last line goes after them.)
                Transport::WebSocket(_) => {
                    let mut frame = Vec::new();
                    websocket::text_frame(protocol::NOT_READING, &mut frame);
                    conn.output.push(&frame);
                }
                Transport::Irc(_) => {
                    conn.output.drop_unsent_lines();
                    conn.output
                        .push(&super::irc::closing_link(protocol::NOT_READING));
                }
                Transport::Http(_) => {}
            }
            self.dirty.insert(key);
            self.metrics.slow_consumers += 1;
            self.leave(key, protocol::REASON_SLOW, Ending::Graceful);
        }
    }

    // ---- write --------------------------------------------------------------------------------

    /// Gives every connection with queued output one go at writing it: everything queued for a client
    /// during the write window leaves in as few `write` calls as the socket allows, usually one.
    pub(super) fn flush_dirty(&mut self) {
        // The cluster first: what its failure tells the room is written below.
        self.flush_cluster();
        // Writing can fail, which tells the room someone left, which queues more output: loop until
        // no connection is left dirty.
        let started = Instant::now();
        let lines = self.metrics.deliveries - self.delivered_at_flush;
        let mut writes = 0;
        let mut keys = std::mem::take(&mut self.keys);
        while !self.dirty.is_empty() {
            self.dirty.take(&mut keys);
            writes += keys.len() as u64;
            for &key in &keys {
                self.flush(key);
            }
        }
        self.keys = keys;
        // What this flush cost sizes the next window (`window_sizer.rs`).
        let now = Instant::now();
        self.write_timer.written(now, now - started, writes, lines);
        self.delivered_at_flush = self.metrics.deliveries;
        self.flush_cluster();
    }

    fn flush(&mut self, key: usize) {
        let Some(conn) = self.connections.get_mut(key) else {
            return;
        };
        if conn.state == State::Closed {
            return;
        }
        let before = conn.output.queued();
        let written = conn.write_output();
        if !is_scrape(&conn.transport) {
            self.metrics.bytes_out += before.saturating_sub(conn.output.queued()) as u64;
        }
        match written {
            // Everything is written. If we are closing, this is the moment to shut down our side.
            Ok(true) => {
                if let State::Flushing { deadline } = conn.state {
                    // A TLS connection still in its handshake (one refused at once, say) has its last
                    // line held by rustls until the handshake is done: say goodbye after that, not
                    // before (the read that finishes the handshake marks it dirty again; the close's
                    // deadline bounds the wait).
                    let handshaking = conn.tls.as_ref().is_some_and(|tls| tls.is_handshaking());
                    if handshaking && !conn.peer_closed {
                        return;
                    }
                    self.shut_down_write(key, deadline);
                }
            }
            // The send buffer is full: a writable event will come when it drains.
            Ok(false) => {}
            Err(e) => self.leave(key, protocol::REASON_LOST, Ending::Lost(&e)),
        }
    }
}

/// The recipients' side of the server: their output queues, and the lists that queued output puts a
/// connection on. Borrowed apart from the rest of the server, so that a delivery can walk the chat's
/// member list (an immutable borrow of `Server::chat`) while it fills the queues: no copy of the list.
struct Queues<'a> {
    connections: &'a mut Slab<Connection>,
    dirty: &'a mut KeySet,
    slow: &'a mut KeySet,
    max_queue: usize,
    /// `Metrics::bytes_out`: a queue over the cap is written from here.
    bytes_out: &'a mut u64,
}

impl Queues<'_> {
    /// Queues `framed` for connection `key`, in the framing of its transport. False if it was not
    /// queued (a user of another node, a connection closing or over the cap).
    fn push_framed(&mut self, key: usize, framed: &mut Framed) -> bool {
        let Some(conn) = self.connections.get_mut(key) else {
            return false; // A user of another cluster node.
        };
        if let Transport::Irc(irc) = &mut conn.transport
            && !irc.session.wants(framed.notice())
        {
            return false; // A QUIT or NICK it was sent already, from another of its rooms.
        }
        match framed.bytes(&conn.transport) {
            Some(bytes) => self.push(key, bytes),
            None => false,
        }
    }

    /// Whether connection `key` is an IRC client.
    fn is_irc(&self, key: usize) -> bool {
        matches!(
            self.connections.get(key).map(|c| &c.transport),
            Some(Transport::Irc(_))
        )
    }

    /// Queues bytes that are already framed; false if the connection takes no more.
    fn push(&mut self, key: usize, bytes: &[u8]) -> bool {
        match self.output_for(key) {
            Some(output) => {
                output.push(bytes);
                true
            }
            None => false,
        }
    }

    /// The output queue of connection `key`, if it may take more.
    ///
    /// A queue over `--max-queue` is written at once, before anything is judged: its owner may be
    /// reading at full speed and simply not have been written to yet in this pass. Only if the socket
    /// still will not take enough is nothing more queued and the connection marked as a slow
    /// consumer, to be dropped once the current deliveries are done. The check is made before a line
    /// is added, not after, so one large answer (a `/list` of a crowd) to a client that is keeping up
    /// never counts against it; a queue is thus bounded by `--max-queue` plus one line.
    fn output_for(&mut self, key: usize) -> Option<&mut Output> {
        let conn = self.connections.get_mut(key)?;
        if !conn.is_open() || self.slow.contains(key) {
            return None;
        }
        if conn.output.queued() > self.max_queue {
            // A failed write is noticed again, and handled, by the next `flush`.
            let before = conn.output.queued();
            let _ = conn.write_output();
            *self.bytes_out += before.saturating_sub(conn.output.queued()) as u64;
            if conn.output.queued() > self.max_queue {
                self.slow.insert(key);
                return None;
            }
        }
        self.dirty.insert(key);
        Some(&mut self.connections[key].output)
    }
}
