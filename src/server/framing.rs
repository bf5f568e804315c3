//! Framing: how one notice of the chat becomes bytes on each transport. It is worded as a line of
//! the chat protocol ([`Notice::into_line`]) once, and that line carries no terminator; a TCP client
//! gets the line and `\n`, a browser gets it as one WebSocket text message. This is the one place
//! that decides it.

use crate::chat::Notice;
use crate::connection::Transport;
use crate::websocket;

/// One notice, worded once and framed for each transport at most once: a notice to a whole room is
/// framed once per transport that someone in the room uses, and every recipient gets a copy of the
/// same bytes.
pub struct Framed {
    /// The line; once the TCP framing is asked for, with its `\n` (the room builds chat lines with
    /// room for it, so adding it moves nothing).
    line: Vec<u8>,
    terminated: bool,
    websocket: Option<Vec<u8>>,
}

impl Framed {
    /// Words `notice` as its line: a chat line's text is moved, not copied nor formatted.
    pub fn new(notice: Notice) -> Framed {
        Framed {
            line: notice.into_line().into_bytes(),
            terminated: false,
            websocket: None,
        }
    }

    /// The bytes for a connection with this transport; `None` for one that takes no chat lines (a
    /// web connection still in HTTP).
    pub fn bytes(&mut self, transport: &Transport) -> Option<&[u8]> {
        match transport {
            Transport::Tcp(_) => {
                if !self.terminated {
                    self.terminated = true;
                    self.line.push(b'\n');
                }
                Some(&self.line)
            }
            Transport::WebSocket(_) => {
                if self.websocket.is_none() {
                    self.websocket = Some(text_frame(self.text()));
                }
                self.websocket.as_deref()
            }
            Transport::Http(_) => None,
        }
    }

    /// The line without its terminator. It came from a `String`, and only ASCII `\n` was added.
    pub fn text(&self) -> &str {
        let line = if self.terminated {
            &self.line[..self.line.len() - 1]
        } else {
            &self.line[..]
        };
        std::str::from_utf8(line).unwrap_or_default()
    }
}

fn text_frame(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len() + 10);
    websocket::text_frame(text, &mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_reader::LineReader;

    #[test]
    fn each_transport_gets_its_framing_in_any_order() {
        let tcp = Transport::Tcp(LineReader::new(100));
        let web = Transport::WebSocket(Box::default());
        let mut framed = Framed::new("<ana> hola".into());
        let mut want_web = Vec::new();
        websocket::text_frame("<ana> hola", &mut want_web);
        assert_eq!(framed.bytes(&tcp), Some(&b"<ana> hola\n"[..]));
        assert_eq!(framed.bytes(&web), Some(&want_web[..]));
        assert_eq!(framed.bytes(&tcp), Some(&b"<ana> hola\n"[..]));
        let mut framed = Framed::new("<ana> hola".into());
        assert_eq!(framed.bytes(&web), Some(&want_web[..]));
        assert_eq!(framed.bytes(&tcp), Some(&b"<ana> hola\n"[..]));
    }
}
