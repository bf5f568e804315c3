//! A hand-written WebSocket client for the tests of the web face, on a plain `TcpStream`, so that
//! tests can send frames no library would (unmasked, oversized, broken).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

use super::READ_TIMEOUT;

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub fn upgrade_request(addr: SocketAddr, extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
}

/// A frame from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Close(Option<u16>),
    Pong(Vec<u8>),
    Other(u8),
}

/// A hand-written WebSocket client.
pub struct Ws {
    pub reader: BufReader<TcpStream>,
    pub stream: TcpStream,
}

impl Ws {
    pub fn connect(addr: SocketAddr) -> Ws {
        Ws::connect_with(addr, "")
    }

    pub fn connect_with(addr: SocketAddr, extra: &str) -> Ws {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let mut ws = Ws {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        };
        ws.stream
            .write_all(upgrade_request(addr, extra).as_bytes())
            .unwrap();
        let mut status = String::new();
        ws.reader.read_line(&mut status).unwrap();
        assert_eq!(status.trim_end(), "HTTP/1.1 101 Switching Protocols");
        loop {
            let mut header = String::new();
            ws.reader.read_line(&mut header).unwrap();
            if header == "\r\n" {
                return ws;
            }
        }
    }

    /// Connects, gives a name, and reads up to the join acknowledgement.
    pub fn join(addr: SocketAddr, name: &str) -> Ws {
        let mut ws = Ws::connect(addr);
        ws.expect_text_ending("your name?");
        ws.text(name);
        ws.skip_to(&format!("*** you are {name}"));
        ws
    }

    /// Sends a raw frame: `first` is the FIN/opcode byte; masked unless `masked` is false.
    pub fn frame(&mut self, first: u8, payload: &[u8], masked: bool) {
        let mut out = Vec::new();
        let mask = masked.then_some([0x37, 0xfa, 0x21, 0x3d]);
        pollchat::websocket::client_frame(first, payload, mask, &mut out);
        self.stream.write_all(&out).unwrap();
    }

    pub fn text(&mut self, text: &str) {
        self.frame(0x81, text.as_bytes(), true);
    }

    pub fn read(&mut self) -> Frame {
        let mut head = [0u8; 2];
        self.reader
            .read_exact(&mut head)
            .expect("a frame from the server");
        assert_eq!(head[1] & 0x80, 0, "server frames must not be masked");
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                self.reader.read_exact(&mut b).unwrap();
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                self.reader.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        self.reader.read_exact(&mut payload).unwrap();
        match head[0] {
            0x81 => Frame::Text(String::from_utf8(payload).unwrap()),
            0x88 if payload.len() >= 2 => {
                Frame::Close(Some(u16::from_be_bytes([payload[0], payload[1]])))
            }
            0x88 => Frame::Close(None),
            0x8a => Frame::Pong(payload),
            other => Frame::Other(other),
        }
    }

    pub fn expect_text(&mut self, want: &str) {
        assert_eq!(self.read(), Frame::Text(want.to_string()));
    }

    pub fn expect_text_ending(&mut self, end: &str) {
        loop {
            if let Frame::Text(text) = self.read()
                && text.ends_with(end)
            {
                return;
            }
        }
    }

    pub fn skip_to(&mut self, want: &str) {
        loop {
            match self.read() {
                Frame::Text(text) if text == want => return,
                Frame::Text(_) => {}
                other => panic!("{other:?} while waiting for {want:?}"),
            }
        }
    }

    /// Reads until a close frame, returning its code, then checks the server closes the socket.
    pub fn expect_close(&mut self) -> Option<u16> {
        let code = loop {
            if let Frame::Close(code) = self.read() {
                break code;
            }
        };
        let mut rest = Vec::new();
        let _ = self.reader.read_to_end(&mut rest);
        code
    }
}
