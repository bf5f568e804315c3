//! WebSocket framing (RFC 6455) over a connection's own buffers, for browsers.
//!
//! A browser cannot open a plain TCP socket, so the web edge speaks WebSocket: after an HTTP upgrade
//! (`http.rs`) the bytes on the connection are frames. This file turns incoming bytes into whole text
//! messages and encodes the frames the server sends; like `LineReader`, it does no I/O. The frame
//! header itself is parsed and formatted by `tungstenite`; the loop, the buffers and every rule below
//! are ours:
//!
//! - a client's frames must be masked (§5.1), else close 1002;
//! - a message may come in fragments, with control frames between them; its UTF-8 is checked on the
//!   whole message, since a character may straddle two fragments (close 1007 if invalid);
//! - binary messages are not part of the chat protocol (close 1003);
//! - a message over `max_message` bytes is refused with an error line and dropped, and a frame that
//!   declares more than four times that is refused with close 1009 before any of it is buffered;
//! - protocol errors (reserved bits or opcodes, an oversized or fragmented control frame, a stray
//!   continuation, a message started inside another, a bad close payload) get close 1002.

use std::io::Cursor;
use std::ops::ControlFlow;

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};

/// Close codes we send (RFC 6455 §7.4.1).
pub const NORMAL: u16 = 1000;
pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const UNSUPPORTED_DATA: u16 = 1003;
pub const INVALID_DATA: u16 = 1007;
pub const TOO_BIG: u16 = 1009;

/// What the reader found.
#[derive(Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A whole text message, valid UTF-8.
    Text(&'a str),
    /// A text message went over the limit; it is dropped (the connection goes on).
    TooLong,
    /// A ping, to be answered with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// The peer started the closing handshake (its code, if it sent one).
    Close(Option<u16>),
    /// The peer broke the protocol: close the connection with this code.
    Fail(u16, &'static str),
}

/// Reassembles a client's frames into messages. One per WebSocket connection.
#[derive(Debug, Default)]
pub struct FrameReader {
    /// Bytes received but not yet a whole frame. At most one frame: a header and a payload of at most
    /// four times the message limit.
    pending: Vec<u8>,
    /// The fragments of the text message under way.
    message: Vec<u8>,
    /// A text message has been started and not finished.
    in_message: bool,
    /// The message under way went over the limit: the rest of it is dropped.
    discarding: bool,
    max_message: usize,
    /// After a `Fail` or `Close`, nothing more is read.
    done: bool,
}

impl FrameReader {
    pub fn new(max_message: usize) -> FrameReader {
        FrameReader {
            max_message,
            ..FrameReader::default()
        }
    }

    /// Feeds bytes just read, calling `each` for every event they complete, in order. `each` can stop
    /// the reading by returning `Break` (the edge takes no more for now): the frames after that event
    /// are kept, and [`FrameReader::resume`] goes on from there.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut each: impl FnMut(WsEvent<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if self.done {
            return ControlFlow::Break(());
        }
        self.pending.extend_from_slice(input);
        let mut start = 0;
        let flow = loop {
            match self.next_frame(start, &mut each) {
                Ok(Some((used, flow))) => {
                    start += used;
                    if flow.is_break() {
                        break flow;
                    }
                }
                Ok(None) => break ControlFlow::Continue(()),
                Err(()) => break ControlFlow::Break(()),
            }
        };
        self.pending.drain(..start);
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            self.pending = Vec::new(); // Nothing held between frames: give the memory back.
        }
        flow
    }

    /// Hands out the events of the frames kept when `each` last stopped the reading.
    pub fn resume(&mut self, each: impl FnMut(WsEvent<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        self.feed(&[], each)
    }

    /// Whole or partial frames are kept: [`FrameReader::resume`] may have work.
    pub fn has_kept(&self) -> bool {
        !self.pending.is_empty() && !self.done
    }

    /// Handles the frame at `pending[start..]`, if it is all there. Returns how many bytes it used and
    /// whether `each` wants to go on, `None` if more bytes are needed, `Err` once the reading must stop
    /// for good (a protocol error or a close).
    fn next_frame(
        &mut self,
        start: usize,
        each: &mut impl FnMut(WsEvent<'_>) -> ControlFlow<()>,
    ) -> Result<Option<(usize, ControlFlow<()>)>, ()> {
        let mut cursor = Cursor::new(&self.pending[start..]);
        let (header, length) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(None),
            Err(_) => return self.fail(each, PROTOCOL_ERROR, "reserved opcode"),
        };
        let header_len = cursor.position() as usize;
        if let Err((code, why)) = self.check(&header, length) {
            return self.fail(each, code, why);
        }
        let length = length as usize; // At most 4 × max_message, checked above.
        if self.pending.len() - start < header_len + length {
            return Ok(None); // The payload is still on its way.
        }
        let payload_at = start + header_len;
        let mask = header.mask.unwrap_or_default();
        unmask(&mut self.pending[payload_at..payload_at + length], mask);
        let used = header_len + length;
        let flow = match header.opcode {
            OpCode::Data(data) => self.data(data, header.is_final, payload_at, length, each)?,
            OpCode::Control(control) => self.control(control, payload_at, length, each)?,
        };
        Ok(Some((used, flow)))
    }

    /// The checks that need only the header.
    fn check(&self, header: &FrameHeader, length: u64) -> Result<(), (u16, &'static str)> {
        if header.mask.is_none() {
            return Err((PROTOCOL_ERROR, "client frames must be masked"));
        }
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err((PROTOCOL_ERROR, "reserved bits set"));
        }
        if let OpCode::Control(_) = header.opcode {
            if length > 125 {
                return Err((PROTOCOL_ERROR, "control frame over 125 bytes"));
            }
            if !header.is_final {
                return Err((PROTOCOL_ERROR, "fragmented control frame"));
            }
        }
        if length > 4 * self.max_message as u64 {
            return Err((TOO_BIG, "frame too big"));
        }
        Ok(())
    }

    fn data(
        &mut self,
        data: Data,
        is_final: bool,
        at: usize,
        length: usize,
        each: &mut impl FnMut(WsEvent<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, ()> {
        match (data, self.in_message) {
            (Data::Text, false) => {
                self.in_message = true;
                self.discarding = false;
                self.message.clear();
            }
            (Data::Continue, true) => {}
            (Data::Binary, _) => return self.fail(each, UNSUPPORTED_DATA, "binary messages"),
            (Data::Text, true) => return self.fail(each, PROTOCOL_ERROR, "message inside another"),
            (Data::Continue, false) => {
                return self.fail(each, PROTOCOL_ERROR, "stray continuation");
            }
            (Data::Reserved(_), _) => return self.fail(each, PROTOCOL_ERROR, "reserved opcode"),
        }
        let mut flow = ControlFlow::Continue(());
        if !self.discarding {
            if self.message.len() + length > self.max_message {
                self.discarding = true;
                self.message = Vec::new();
                flow = each(WsEvent::TooLong);
            } else {
                self.message
                    .extend_from_slice(&self.pending[at..at + length]);
            }
        }
        if is_final {
            self.in_message = false;
            if !self.discarding {
                let message = std::mem::take(&mut self.message);
                match std::str::from_utf8(&message) {
                    Ok(text) => flow = each(WsEvent::Text(text)),
                    Err(_) => return self.fail(each, INVALID_DATA, "invalid UTF-8"),
                }
            }
        }
        Ok(flow)
    }

    fn control(
        &mut self,
        control: Control,
        at: usize,
        length: usize,
        each: &mut impl FnMut(WsEvent<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, ()> {
        let payload = &self.pending[at..at + length];
        match control {
            Control::Ping => Ok(each(WsEvent::Ping(payload))),
            Control::Pong => Ok(ControlFlow::Continue(())),
            Control::Close => {
                let code = match payload {
                    [] => None,
                    [_] => return self.fail(each, PROTOCOL_ERROR, "close payload of one byte"),
                    [high, low, reason @ ..] => {
                        let code = u16::from_be_bytes([*high, *low]);
                        if !CloseCode::from(code).is_allowed() {
                            return self.fail(
                                each,
                                PROTOCOL_ERROR,
                                "close code that may not be sent",
                            );
                        }
                        if std::str::from_utf8(reason).is_err() {
                            return self.fail(each, INVALID_DATA, "invalid UTF-8 in close reason");
                        }
                        Some(code)
                    }
                };
                self.done = true;
                let _ = each(WsEvent::Close(code));
                Err(())
            }
            Control::Reserved(_) => self.fail(each, PROTOCOL_ERROR, "reserved opcode"),
        }
    }

    fn fail<T>(
        &mut self,
        each: &mut impl FnMut(WsEvent<'_>) -> ControlFlow<()>,
        code: u16,
        why: &'static str,
    ) -> Result<T, ()> {
        self.done = true;
        let _ = each(WsEvent::Fail(code, why));
        Err(())
    }
}

/// Undoes the client's masking (RFC 6455 §5.3): each byte XOR the mask byte at its position mod 4.
/// (tungstenite has this too, but keeps it private.)
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// Appends a server frame (never masked, always final) carrying `payload`.
fn frame(opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
    let header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    // Writing to a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// A text message with one line of the chat protocol.
pub fn text_frame(line: &str, out: &mut Vec<u8>) {
    frame(OpCode::Data(Data::Text), line.as_bytes(), out);
}

pub fn pong_frame(payload: &[u8], out: &mut Vec<u8>) {
    frame(OpCode::Control(Control::Pong), payload, out);
}

pub fn close_frame(code: u16, out: &mut Vec<u8>) {
    frame(OpCode::Control(Control::Close), &code.to_be_bytes(), out);
}

/// Appends a frame as a client sends it: `first` is the FIN/RSV/opcode byte, the payload is masked
/// with `mask` (a browser always masks; `None` makes the unmasked frame a server must refuse). The
/// server never sends these; the load generator and the tests do.
pub fn client_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let masked = if mask.is_some() { 0x80 } else { 0 };
    out.push(first);
    match payload.len() {
        n @ 0..=125 => out.push(masked | n as u8),
        n @ 126..=65535 => {
            out.push(masked | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(masked | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(mask) => {
            out.extend_from_slice(&mask);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed mask.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        super::client_frame(first, payload, Some([1, 2, 3, 4]), &mut out);
        out
    }

    const TEXT: u8 = 0x81;
    const TEXT_START: u8 = 0x01;
    const CONTINUE: u8 = 0x00;
    const CONTINUE_END: u8 = 0x80;
    const PING: u8 = 0x89;
    const CLOSE: u8 = 0x88;

    /// What the reader made of `bytes`, fed in one go and then byte by byte (same answer expected).
    fn read(max: usize, bytes: &[u8]) -> Vec<String> {
        let whole = read_chunks(max, &[bytes]);
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(
            whole,
            read_chunks(max, &single),
            "differs when fed byte by byte"
        );
        whole
    }

    fn read_chunks(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut reader = FrameReader::new(max);
        let mut seen = Vec::new();
        for chunk in chunks {
            let _ = reader.feed(chunk, |event| {
                seen.push(format!("{event:?}"));
                ControlFlow::Continue(())
            });
        }
        seen
    }

    #[test]
    fn stopping_keeps_the_frames_after_the_event_for_resume() {
        let mut bytes = client_frame(TEXT, b"one");
        bytes.extend(client_frame(PING, b"p"));
        bytes.extend(client_frame(TEXT, b"two"));
        bytes.extend(&client_frame(TEXT, b"three")[..4]); // Only the start of a frame.
        let mut reader = FrameReader::new(100);
        let mut seen = Vec::new();
        let mut one_at_a_time = |event: WsEvent<'_>| {
            seen.push(format!("{event:?}"));
            ControlFlow::Break(())
        };
        assert!(reader.feed(&bytes, &mut one_at_a_time).is_break());
        assert!(reader.has_kept());
        assert!(reader.resume(&mut one_at_a_time).is_break());
        assert!(reader.resume(&mut one_at_a_time).is_break());
        // What is left is not a whole frame: nothing more comes until the rest arrives.
        assert!(reader.resume(&mut one_at_a_time).is_continue());
        let _ = reader.feed(&client_frame(TEXT, b"three")[4..], &mut one_at_a_time);
        assert_eq!(
            seen,
            [
                "Text(\"one\")",
                "Ping([112])",
                "Text(\"two\")",
                "Text(\"three\")"
            ]
        );
        assert!(!reader.has_kept());
    }

    #[test]
    fn a_masked_text_frame_is_a_message() {
        assert_eq!(read(100, &client_frame(TEXT, b"hola")), ["Text(\"hola\")"]);
    }

    #[test]
    fn fragments_join_with_a_ping_between_and_a_character_split_across_them() {
        let euro = "€".as_bytes(); // Three bytes, split 1 + 2.
        let mut bytes = client_frame(TEXT_START, &[b'a', euro[0]]);
        bytes.extend(client_frame(PING, b"p"));
        bytes.extend(client_frame(CONTINUE, &euro[1..]));
        bytes.extend(client_frame(CONTINUE_END, b"b"));
        assert_eq!(read(100, &bytes), ["Ping([112])", "Text(\"a€b\")"]);
    }

    #[test]
    fn unmasked_frames_are_a_protocol_error() {
        assert_eq!(
            read(100, &[TEXT, 2, b'h', b'i']),
            ["Fail(1002, \"client frames must be masked\")"]
        );
    }

    #[test]
    fn binary_and_invalid_utf8_and_reserved_bits() {
        assert_eq!(
            read(100, &client_frame(0x82, b"x")),
            ["Fail(1003, \"binary messages\")"]
        );
        assert_eq!(
            read(100, &client_frame(TEXT, b"\xff")),
            ["Fail(1007, \"invalid UTF-8\")"]
        );
        assert_eq!(
            read(100, &client_frame(0xC1, b"x")),
            ["Fail(1002, \"reserved bits set\")"]
        );
        assert_eq!(
            read(100, &client_frame(0x83, b"x")),
            ["Fail(1002, \"reserved opcode\")"]
        );
    }

    #[test]
    fn control_frame_rules() {
        let big_ping = client_frame(PING, &[0; 126]);
        assert_eq!(
            read(1000, &big_ping),
            ["Fail(1002, \"control frame over 125 bytes\")"]
        );
        assert_eq!(
            read(100, &client_frame(0x09, b"")),
            ["Fail(1002, \"fragmented control frame\")"]
        );
    }

    #[test]
    fn sequence_errors() {
        assert_eq!(
            read(100, &client_frame(CONTINUE_END, b"x")),
            ["Fail(1002, \"stray continuation\")"]
        );
        let mut bytes = client_frame(TEXT_START, b"a");
        bytes.extend(client_frame(TEXT, b"b"));
        assert_eq!(
            read(100, &bytes),
            ["Fail(1002, \"message inside another\")"]
        );
    }

    #[test]
    fn close_payload_rules() {
        assert_eq!(read(100, &client_frame(CLOSE, b"")), ["Close(None)"]);
        assert_eq!(
            read(100, &client_frame(CLOSE, &[0x03, 0xe8, b'o', b'k'])),
            ["Close(Some(1000))"]
        );
        assert_eq!(
            read(100, &client_frame(CLOSE, &[3])),
            ["Fail(1002, \"close payload of one byte\")"]
        );
        for code in [1005u16, 1006, 1015, 999, 5000] {
            let frame = client_frame(CLOSE, &code.to_be_bytes());
            assert_eq!(
                read(100, &frame),
                ["Fail(1002, \"close code that may not be sent\")"],
                "{code}"
            );
        }
        let bad_reason = client_frame(CLOSE, &[0x03, 0xe8, 0xff]);
        assert_eq!(
            read(100, &bad_reason),
            ["Fail(1007, \"invalid UTF-8 in close reason\")"]
        );
    }

    #[test]
    fn an_oversize_message_is_dropped_and_a_huge_frame_refused_before_buffering() {
        let mut bytes = client_frame(TEXT_START, &[b'x'; 8]);
        bytes.extend(client_frame(CONTINUE_END, &[b'y'; 8]));
        bytes.extend(client_frame(TEXT, b"ok"));
        assert_eq!(read(10, &bytes), ["TooLong", "Text(\"ok\")"]);
        // Only the header of a 1 MB frame is needed to refuse it.
        let header = &client_frame(TEXT, &vec![0; 1 << 20])[..14];
        assert_eq!(
            read_chunks(10, &[header]),
            ["Fail(1009, \"frame too big\")"]
        );
    }

    #[test]
    fn server_frames_are_unmasked_and_final() {
        let mut out = Vec::new();
        text_frame("hi", &mut out);
        close_frame(GOING_AWAY, &mut out);
        pong_frame(b"p", &mut out);
        assert_eq!(
            out,
            [0x81, 2, b'h', b'i', 0x88, 2, 0x03, 0xe9, 0x8a, 1, b'p']
        );
        let mut long = Vec::new();
        text_frame(&"x".repeat(300), &mut long);
        assert_eq!(&long[..4], &[0x81, 126, 0x01, 0x2c]);
    }
}
