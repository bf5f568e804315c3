//! The web face of the loop: a connection on the `--web` listener starts in HTTP (`http.rs`) and,
//! after a valid upgrade, speaks WebSocket (`websocket.rs`). From then on it is a chat client like any
//! TCP one: its text messages are lines for the room, and the room's lines reach it as text messages.
//! The same limits hold: `--max-clients`, `--max-line` (per message), the slow-consumer cap, the read
//! budget, flood control (each line of a message counts), graceful closes.

use std::ops::ControlFlow;

use log::debug;

use super::Server;
use super::close::Ending;
use crate::connection::{Transport, WebSocketSession};
use crate::http::{self, Context, Outcome};
use crate::protocol;
use crate::websocket::{self, FrameReader, WsEvent};

impl Server {
    /// Bytes of an HTTP request. The head is collected (bounded by `http::MAX_HEAD` plus one read)
    /// until it is complete, then answered once.
    pub(super) fn http_received(&mut self, key: usize, bytes: &[u8]) {
        // Chat connections still closing hold descriptors too (see `Server::closing`).
        let full = self.clients + self.closing >= self.config.max_clients as usize;
        let conn = &mut self.connections[key];
        let Transport::Http(request) = &mut conn.transport else {
            return;
        };
        let peer = request.peer;
        let head = &mut request.head;
        head.extend_from_slice(bytes);
        let context = Context {
            full,
            origins: &self.config.web_origin,
        };
        match http::handle(head, context) {
            Outcome::Incomplete => {}
            Outcome::Respond(response) => {
                debug!(
                    "#{key}: {}",
                    String::from_utf8_lossy(&response[..12.min(response.len())])
                );
                conn.output.push(&response);
                self.begin_close(key);
            }
            Outcome::Upgrade { response, used } => {
                let rest = head.split_off(used);
                conn.output.push(&response);
                let frames = FrameReader::new(self.config.max_line as usize);
                conn.transport = Transport::WebSocket(Box::new(WebSocketSession {
                    frames,
                    close_sent: false,
                }));
                self.dirty.insert(key);
                self.requests -= 1;
                self.join_room(key, peer);
                if !rest.is_empty() {
                    let _ = self.websocket_received(key, &rest);
                }
            }
        }
    }

    /// 408 for a request that took longer than `--web-deadline-secs`, so that half-open connections
    /// cannot pile up.
    pub(super) fn request_timed_out(&mut self, key: usize) {
        self.connections[key].output.push(&http::timed_out());
        self.begin_close(key);
    }

    /// Bytes of WebSocket frames. `Break` when the loop stopped taking this connection's lines: the
    /// frames after the message that stopped it are kept by its reader.
    pub(super) fn websocket_received(&mut self, key: usize, bytes: &[u8]) -> ControlFlow<()> {
        let Transport::WebSocket(session) = &mut self.connections[key].transport else {
            return ControlFlow::Continue(());
        };
        // Taken out while it calls back into the server, then put back.
        let mut frames = std::mem::take(&mut session.frames);
        let flow = frames.feed(bytes, |event| self.websocket_event(key, event));
        if let Transport::WebSocket(session) = &mut self.connections[key].transport {
            session.frames = frames;
        }
        flow
    }

    pub(super) fn websocket_event(&mut self, key: usize, event: WsEvent<'_>) -> ControlFlow<()> {
        match event {
            WsEvent::Text(message) => return self.websocket_message(key, message),
            WsEvent::TooLong => {
                self.too_long(key);
                return self.check_input(key);
            }
            WsEvent::Ping(payload) => {
                // Queued like chat output, under the same cap: a client that sends pings and never
                // reads the pongs is a slow consumer like any other.
                let mut pong = Vec::new();
                websocket::pong_frame(payload, &mut pong);
                self.queue_bytes(key, &pong);
            }
            WsEvent::Close(code) => {
                // The peer closes (a tab was closed): answer its close frame, and the room hears at once.
                self.close_websocket(key, code.unwrap_or(websocket::NORMAL));
            }
            WsEvent::Fail(code, why) => {
                debug!("#{key}: WebSocket protocol error ({why}); closing with {code}");
                self.close_websocket(key, code);
            }
        }
        if self.connections[key].is_open() {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    /// One text message: one or more lines, as if pasted into `nc`. They arrive together, but count
    /// one each: once the loop stops taking lines (flood control, the cluster), the rest of the
    /// message is held, in order, and handed over as the loop goes on (`Server::take_kept`).
    fn websocket_message(&mut self, key: usize, message: &str) -> ControlFlow<()> {
        for line in message.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(held) = self.held.get_mut(&key) {
                held.push_back(line.to_string());
                continue;
            }
            self.line(key, line);
            if self.check_input(key).is_break() {
                if !self.connections[key].is_open() {
                    return ControlFlow::Break(());
                }
                self.held.insert(key, Default::default());
            }
        }
        if self.held.contains_key(&key) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Sends our close frame with `code`, and the user leaves the room.
    fn close_websocket(&mut self, key: usize, code: u16) {
        self.send_close_frame(key, code);
        self.leave(key, protocol::REASON_LOST, Ending::Graceful);
    }

    /// The WebSocket closing handshake: our close frame, once, after everything already queued.
    pub(super) fn send_close_frame(&mut self, key: usize, code: u16) {
        if let Transport::WebSocket(session) = &mut self.connections[key].transport
            && !session.close_sent
        {
            session.close_sent = true;
            let mut frame = Vec::new();
            websocket::close_frame(code, &mut frame);
            self.send_control(key, &frame);
        }
    }

    /// Our close frame, sent once per connection, skips the queue cap: it must go out even to a
    /// connection being dropped for it.
    fn send_control(&mut self, key: usize, frame: &[u8]) {
        self.connections[key].output.push(frame);
        self.dirty.insert(key);
    }
}
