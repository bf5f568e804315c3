//! `Connection`: one client socket with its input and output buffers and where it is in its life.
//!
//! The event loop in `server/mod.rs` owns every `Connection` in a slab; this file only knows one socket.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use rustls::ServerConnection;

use crate::flood::LineBucket;
use crate::line_reader::LineReader;
use crate::websocket::FrameReader;

/// How a connection's bytes are framed. The chat core never sees this: it gets lines either way.
///
/// The web states are boxed so that the common case, a TCP user, costs the slab only a `LineReader`
/// (32 bytes) and not the largest state: every byte of a `Connection` is paid once per user.
#[derive(Debug)]
pub enum Transport {
    /// Newline-delimited text: `nc`, `telnet`, `pollchat-client`.
    Tcp(LineReader),
    /// A connection to the web listener whose HTTP request is still arriving (`http.rs`), or to the
    /// metrics listener (`HttpRequest::metrics`), which never becomes anything else.
    Http(Box<HttpRequest>),
    /// A browser after the upgrade: WebSocket frames (`websocket.rs`), one line per text message.
    WebSocket(Box<WebSocketSession>),
    /// An IRC client (`--irc`): lines of IRC messages, turned into the chat's events and back by
    /// its session (`irc/session.rs`, `server/irc.rs`).
    Irc(Box<IrcConnection>),
}

/// An IRC client's connection: its lines, and where it is in the IRC conversation.
#[derive(Debug)]
pub struct IrcConnection {
    pub reader: LineReader,
    pub session: crate::irc::session::Session,
}

/// The start of an HTTP request on the web listener.
#[derive(Debug)]
pub struct HttpRequest {
    /// What has arrived of the request head.
    pub head: Vec<u8>,
    /// When the request must be complete (`--web-deadline-secs`).
    pub deadline: Instant,
    /// It came to the `--metrics` listener: a scrape (`server/metrics.rs`), not the web page. Kept
    /// in the same transport so that it shares the web face's bounds on size and time, its
    /// graceful close, and its place outside the room, without a case of its own in every match.
    pub metrics: bool,
    /// The peer's address, for the chat once the connection is upgraded (bans; see
    /// `chat/moderation.rs`). Kept here, in the box, rather than in every `Connection`.
    pub peer: std::net::IpAddr,
}

/// A browser's WebSocket.
#[derive(Debug, Default)]
pub struct WebSocketSession {
    pub frames: FrameReader,
    /// Our close frame has been queued; it is sent once.
    pub close_sent: bool,
}

impl Transport {
    /// True for the transports of chat users, the ones counted against `--max-clients`.
    pub fn is_chat(&self) -> bool {
        !matches!(self, Transport::Http(_))
    }
}

/// Where a connection is in its life. Only `Open` connections are in the chat; the others are being
/// closed gracefully (see `Server::begin_close` in `server/close.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Chatting: input is read as lines, output is queued and written. Flood control's bucket
    /// (`flood.rs`) lives here: a closing connection's input is thrown away, so it needs none, and
    /// its 8 bytes share the room a close's deadline takes.
    Open { bucket: LineBucket },
    /// Closing: what is queued is still being written; input is read and thrown away. Once the
    /// queue is empty, our side of the socket is shut down and the connection moves to `Draining`.
    /// `deadline` bounds the whole close, for peers that stop reading.
    Flushing { deadline: Instant },
    /// Our side is shut down (the peer has seen EOF after our last byte). Input is still read and
    /// thrown away until the peer closes or `deadline` passes: closing a socket that has unread input
    /// makes Linux send RST, and an RST can destroy data the peer has not yet read.
    Draining { deadline: Instant },
    /// Finished: removed from the slab at the end of this pass of the loop.
    Closed,
}

/// Whether the loop reads a connection's input now, and if not, what it waits for. Input that is not
/// read stays in the kernel's receive buffer (and what was already read, in the connection's reader),
/// in order; see `server/input.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Read as it comes.
    Reading,
    /// Flood control holds it back until its next line is due (`server/throttled.rs`).
    Throttled,
    /// Its last line waits for the cluster's answer (a name claimed in Redis, say): the lines after
    /// it must not overtake it.
    AwaitingCluster,
}

/// One client.
///
/// Kept small: it is most of what an idle user costs. The peer's address is logged once, when the
/// connection is accepted, with its key (`#12`); later log lines name the key only, as Redis names a
/// client by its id. Which connections have output to write, input left over, or a queue over the
/// cap is kept in the loop's key sets (`server/key_set.rs`), not here.
#[derive(Debug)]
pub struct Connection {
    pub stream: TcpStream,
    pub transport: Transport,
    pub output: Output,
    pub state: State,
    pub input: Input,
    /// The peer has shut down its side (we read EOF).
    pub peer_closed: bool,
    /// Flood control has held it back since a time kept in `Throttled`, and its input has not run
    /// dry since.
    pub held_back: bool,
    /// A chat connection being closed, counted in `Server::closing` until its socket is closed.
    pub closing_counted: bool,
    /// For a connection to a TLS listener, the TLS session: it sits between the socket and the
    /// framing ([`Connection::read_plain`], [`Connection::write_output`]). Boxed: a plain
    /// connection pays 8 bytes for it, a TLS one about 7.8 KiB while idle (rustls's own state and
    /// buffers; docs/performance.md).
    pub tls: Option<Box<ServerConnection>>,
}

impl Connection {
    pub fn new(stream: TcpStream, transport: Transport) -> Connection {
        Connection {
            stream,
            transport,
            output: Output::default(),
            state: State::Open {
                bucket: LineBucket::default(),
            },
            input: Input::Reading,
            peer_closed: false,
            held_back: false,
            closing_counted: false,
            tls: None,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// The flood-control bucket, while the connection is open.
    pub fn bucket(&mut self) -> Option<&mut LineBucket> {
        match &mut self.state {
            State::Open { bucket } => Some(bucket),
            _ => None,
        }
    }

    /// Reads what the peer sent: from the socket, or for TLS, decrypted. `Ok(0)` is the end of the
    /// stream; `WouldBlock` means the socket has nothing more (edge-triggered readiness is then
    /// satisfied: the socket was read until it said so). A TLS connection that breaks the protocol
    /// (say, plain text sent to a TLS port) gets rustls's alert, best effort, and an `InvalidData`
    /// error.
    pub fn read_plain(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.stream.read(buf);
        };
        loop {
            // Plaintext already decrypted comes first (it may be left from a read the loop stopped).
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the peer's close_notify.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match tls.read_tls(&mut self.stream) {
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if let Err(e) = tls.process_new_packets() {
                let _ = send_tls(tls, &mut self.stream);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // The handshake may have an answer to send at once; if the socket is full, the loop
            // sends it when it is writable (`has_output`).
            match send_tls(tls, &mut self.stream) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes what is queued: to the socket, or for TLS, encrypted. `Ok(true)` once everything has
    /// left (TLS records included), `Ok(false)` when the socket is full.
    pub fn write_output(&mut self) -> io::Result<bool> {
        let mut writer = Writer {
            stream: &mut self.stream,
            tls: self.tls.as_deref_mut(),
        };
        if !self.output.write_to(&mut writer)? {
            return Ok(false);
        }
        match &mut self.tls {
            None => Ok(true),
            Some(tls) => send_tls(tls, &mut self.stream),
        }
    }

    /// Output waits: queued lines, or TLS records (a handshake's, say) the socket did not take.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty() || self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    /// For TLS, says goodbye within TLS (`close_notify`) before the socket's FIN, so the peer can
    /// tell our close from a cut connection. `Ok(false)` if the socket did not take it yet.
    pub fn close_notify(&mut self) -> io::Result<bool> {
        match &mut self.tls {
            None => Ok(true),
            Some(tls) => {
                tls.send_close_notify();
                send_tls(tls, &mut self.stream)
            }
        }
    }

    /// The deadline of a close under way, if any.
    pub fn close_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Flushing { deadline } | State::Draining { deadline } => Some(deadline),
            State::Open { .. } | State::Closed => None,
        }
    }
}

/// Sends what TLS has ready for the socket (see `tls::send_records`).
fn send_tls(tls: &mut ServerConnection, stream: &mut TcpStream) -> io::Result<bool> {
    crate::tls::send_records::<rustls::server::ServerConnectionData>(tls, stream)
}

/// Where `Output::write_to` writes: the socket itself, or TLS in front of it.
struct Writer<'a> {
    stream: &'a mut TcpStream,
    tls: Option<&'a mut ServerConnection>,
}

impl Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.stream.write(buf);
        };
        // Records from before go first. While the socket will not take them, TLS takes no more
        // plaintext: rustls would otherwise hold everything queued, past the slow-consumer cap.
        if !send_tls(tls, self.stream)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match tls.writer().write(buf)? {
            // rustls's buffer of plaintext waiting for the handshake is full: wait with the rest.
            0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => {
                send_tls(tls, self.stream)?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Output buffers up to this capacity are freed as soon as they are written.
const SMALL_BUFFER: usize = 512;

/// The bytes queued for one client, in one contiguous buffer.
///
/// Everything queued for a client during the write window (a pass of the loop, or a few) is appended
/// here and leaves in one `write` call when the window ends, so ten lines cost one system call and one
/// TCP segment, not ten.
/// A flat buffer has no per-entry overhead: the bytes it holds are the memory it costs (up to the
/// slack of `Vec` growth), and an idle connection's buffer is freed on the loop's tick.
#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    /// How much of `buf` has been written already. (`u32`: a queue is bounded by `--max-queue`, at
    /// most 1 GiB, and one line; with `mid_line` and `busy` this keeps an `Output` at 32 bytes.)
    sent: u32,
    /// `buf` starts in the middle of a line whose start was written, and dropped from the buffer,
    /// before: see `drop_unsent_lines`.
    mid_line: bool,
    /// Everything queued was written at least once since the loop's last tick: the connection is
    /// busy, and keeps its buffer's capacity for the next pass.
    busy: bool,
}

impl Output {
    /// Bytes waiting to be written (not those already sent, even while they still sit in `buf`).
    pub fn queued(&self) -> usize {
        self.buf.len() - self.sent()
    }

    fn sent(&self) -> usize {
        self.sent as usize
    }

    /// Drops what is queued of a line-framed (TCP) stream, except the rest of a line already partly
    /// written, so that a last line pushed after this starts on a line of its own.
    pub fn drop_unsent_lines(&mut self) {
        let sent = self.sent();
        let line_start = match sent {
            0 => !self.mid_line,
            _ => self.buf[sent - 1] == b'\n',
        };
        let keep = if line_start {
            sent
        } else {
            memchr::memchr(b'\n', &self.buf[sent..]).map_or(self.buf.len(), |i| sent + i + 1)
        };
        self.buf.truncate(keep);
    }

    pub fn is_empty(&self) -> bool {
        self.sent() == self.buf.len()
    }

    /// Appends bytes that are already framed.
    pub fn push(&mut self, bytes: &[u8]) {
        let sent = self.sent();
        if sent > 0 && sent >= self.buf.len() / 2 {
            // Move the unsent tail to the front once at least half is dead weight: each byte is
            // moved at most about once, and the buffer never grows for bytes already sent.
            self.mid_line = self.buf[sent - 1] != b'\n';
            self.buf.drain(..sent);
            self.sent = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Appends one line and its `\n`.
    pub fn push_line(&mut self, line: &str) {
        self.push(line.as_bytes());
        self.buf.push(b'\n');
    }

    /// Drops everything not yet written.
    pub fn clear(&mut self) {
        *self = Output::default();
    }

    /// Writes as much as the socket takes. Returns `Ok(true)` once everything is written, `Ok(false)`
    /// when the socket's send buffer is full (`WouldBlock`): the loop's next writable event resumes it.
    pub fn write_to(&mut self, socket: &mut impl Write) -> io::Result<bool> {
        while self.sent() < self.buf.len() {
            match socket.write(&self.buf[self.sent()..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n as u32,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // All sent. A busy connection keeps its capacity for the next pass: freeing and regrowing it on
        // every pass cost 56 ns instead of 9 ns per queued line (`cargo bench`); the tick gives idle
        // buffers back (`release_if_idle`). A buffer is freed at once if it is small, or if this is
        // the connection's first write since the tick (a burst such as an IRC client's 1.5 KB
        // welcome, not a stream): its memory goes straight back to the allocator for the next
        // buffer, instead of lingering until the tick and leaving holes among the long-lived
        // allocations made meanwhile (a crowd joining, see docs/performance.md). A busy connection
        // pays for this once per tick, not once per pass.
        if self.buf.capacity() <= SMALL_BUFFER || !self.busy {
            *self = Output::default();
        } else {
            self.sent = 0;
            self.mid_line = false;
            self.buf.clear();
        }
        self.busy = true;
        Ok(true)
    }

    /// On the loop's tick: frees the buffer if nothing is waiting in it, so an idle connection holds
    /// no memory for output, and starts counting writes afresh (see `write_to`).
    pub fn release_if_idle(&mut self) {
        if self.is_empty() && self.buf.capacity() > 0 {
            *self = Output::default();
        }
        self.busy = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket stand-in that takes at most `room` bytes, then says `WouldBlock`.
    struct Sink {
        taken: Vec<u8>,
        room: usize,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut out = Output::default();
        out.push_line("hello");
        out.push_line("world");
        let mut sink = Sink {
            taken: Vec::new(),
            room: 4,
        };
        assert!(!out.write_to(&mut sink).unwrap());
        out.push_line("again");
        sink.room = 100;
        assert!(out.write_to(&mut sink).unwrap());
        assert_eq!(sink.taken, b"hello\nworld\nagain\n");
        assert!(out.is_empty());
        assert_eq!(out.queued(), 0);
    }

    /// A burst (the first write since the tick) gives its buffer back at once; a stream keeps it
    /// until the tick.
    #[test]
    fn a_burst_frees_its_buffer_and_a_stream_keeps_it_until_the_tick() {
        let mut sink = Sink {
            taken: Vec::new(),
            room: usize::MAX,
        };
        let welcome = "x".repeat(1500);
        let mut out = Output::default();
        out.push_line(&welcome);
        assert!(out.write_to(&mut sink).unwrap());
        assert_eq!(out.buf.capacity(), 0, "the burst's buffer is freed");
        out.push_line(&welcome);
        assert!(out.write_to(&mut sink).unwrap());
        assert!(out.buf.capacity() > SMALL_BUFFER, "a second write keeps it");
        out.release_if_idle();
        assert_eq!(out.buf.capacity(), 0, "the tick frees it");
        // And the next write is a first one again.
        out.push_line(&welcome);
        assert!(out.write_to(&mut sink).unwrap());
        assert_eq!(out.buf.capacity(), 0);
        assert_eq!(sink.taken.len(), 3 * 1501);
    }

    #[test]
    fn queued_counts_only_what_is_not_sent() {
        let mut out = Output::default();
        out.push_line("0123456789");
        let mut sink = Sink {
            taken: Vec::new(),
            room: 4,
        };
        assert!(!out.write_to(&mut sink).unwrap());
        assert_eq!(out.queued(), 7);
    }

    #[test]
    fn dropping_unsent_lines_finishes_the_line_under_way() {
        let mut sink = Sink {
            taken: Vec::new(),
            room: 3,
        };
        let mut out = Output::default();
        out.push_line("hello");
        out.push_line("world");
        out.write_to(&mut sink).unwrap();
        out.drop_unsent_lines();
        out.push_line("! bye");
        sink.room = 100;
        out.write_to(&mut sink).unwrap();
        assert_eq!(sink.taken, b"hello\n! bye\n");
        // At a line's start, nothing of the next line is kept.
        let mut out = Output::default();
        out.push_line("a");
        out.push_line("b");
        let mut sink = Sink {
            taken: Vec::new(),
            room: 2,
        };
        out.write_to(&mut sink).unwrap();
        out.drop_unsent_lines();
        assert!(out.is_empty());
        // After a compaction that came in the middle of a line, the rest of that line is kept.
        let mut out = Output::default();
        let mut sink = Sink {
            taken: Vec::new(),
            room: 8,
        };
        out.push_line("first line");
        out.write_to(&mut sink).unwrap();
        out.push_line("x"); // Compacts: 8 of 13 bytes were sent.
        out.drop_unsent_lines();
        out.push_line("! bye");
        sink.room = 100;
        out.write_to(&mut sink).unwrap();
        assert_eq!(sink.taken, b"first line\n! bye\n");
    }

    #[test]
    fn sent_bytes_are_reclaimed_without_any_newline_in_them() {
        // WebSocket frames: no `\n` anywhere. A reader that always lags a little must not make the
        // buffer keep what it has already been sent.
        let mut out = Output::default();
        let mut sink = Sink {
            taken: Vec::new(),
            room: 0,
        };
        for _ in 0..1000 {
            out.push(&[0x81; 20]);
            sink.room = 19;
            out.write_to(&mut sink).unwrap();
        }
        assert!(
            out.buf.len() < 4 * 1000,
            "the buffer kept {} bytes",
            out.buf.len()
        );
        assert_eq!(out.queued(), 1000);
    }

    #[test]
    fn sent_bytes_are_reclaimed() {
        let mut out = Output::default();
        let mut sink = Sink {
            taken: Vec::new(),
            room: 0,
        };
        for round in 0..100 {
            out.push_line("0123456789");
            sink.room = if round % 2 == 0 { 6 } else { 16 };
            out.write_to(&mut sink).unwrap();
            assert!(out.queued() <= 4 * 11, "queue grew to {}", out.queued());
        }
    }
}
