//! Framing: how one notice of the chat becomes bytes on each transport. A TCP client gets its
//! line ([`Notice::line`]) and `\n`, a browser the line as one WebSocket text message, an IRC client
//! the IRC messages it stands for (`irc/format.rs`), each with `\r\n`. This is the one place that
//! decides it.

use std::borrow::Cow;

use compact_str::CompactString;

use crate::chat::Notice;
use crate::connection::Transport;
use crate::irc::{self, format};
use crate::websocket;

/// One notice, framed for each transport at most once, lazily: a notice to a whole room is framed
/// once per transport that someone in the room uses (IRC included: its form of a room's notice
/// does not depend on the recipient), and every recipient gets a copy of the same bytes.
pub struct Framed {
    notice: Notice,
    /// The room the notice went to, which IRC names (`JOIN #dev`); `None` for one to everyone.
    room: Option<CompactString>,
    /// The line and its `\n`.
    line: Option<Vec<u8>>,
    websocket: Option<Vec<u8>>,
    irc: Option<Vec<u8>>,
}

impl Framed {
    /// A notice to one connection or to everyone.
    pub fn new(notice: Notice) -> Framed {
        Framed {
            notice,
            room: None,
            line: None,
            websocket: None,
            irc: None,
        }
    }

    /// A notice to the members of `room`.
    pub fn in_room(notice: Notice, room: &str) -> Framed {
        Framed {
            room: Some(room.into()),
            ..Framed::new(notice)
        }
    }

    /// The bytes for a connection with this transport; `None` for one that takes no chat lines (a
    /// web connection still in HTTP).
    pub fn bytes(&mut self, transport: &Transport) -> Option<&[u8]> {
        match transport {
            Transport::Tcp(_) => {
                // One copy of the line per delivery (not per recipient): the notice keeps it,
                // since the IRC form may still be asked for.
                let notice = &self.notice;
                let line = self.line.get_or_insert_with(|| {
                    let line = notice.line();
                    let mut bytes = Vec::with_capacity(line.len() + 1);
                    bytes.extend_from_slice(line.as_bytes());
                    bytes.push(b'\n');
                    bytes
                });
                Some(line)
            }
            Transport::WebSocket(_) => {
                if self.websocket.is_none() {
                    self.websocket = Some(text_frame(&self.notice.line()));
                }
                self.websocket.as_deref()
            }
            Transport::Irc(_) => {
                let (notice, room) = (&self.notice, self.room.as_deref());
                let irc = self.irc.get_or_insert_with(|| {
                    let mut out = String::new();
                    format::room_notice(irc::SERVER_NAME, notice, room, &mut out);
                    out.into_bytes()
                });
                Some(irc)
            }
            Transport::Http(_) => None,
        }
    }

    /// The line-protocol line, without its terminator.
    pub fn text(&self) -> Cow<'_, str> {
        self.notice.line()
    }

    /// The notice itself (the IRC face drops repeats of a QUIT or NICK: `Session::wants`).
    pub fn notice(&self) -> &Notice {
        &self.notice
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
