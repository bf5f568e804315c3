//! The IRC face of the loop (`--irc`, issue 18, docs/irc.md): a third transport beside TCP lines and
//! WebSocket, on the same thread. Its bytes are cut into lines (no Telnet stripping: byte 255 is
//! `ÿ` to a Latin-1 IRC client), each line is handed to the connection's IRC session
//! (`irc/session.rs`), and what the session makes of it goes to the chat core as any face's lines
//! do. Everything the loop does for a chat connection applies unchanged: `--max-clients`,
//! `--max-per-ip`, the name timeout (the core's), flood control (one token per IRC line),
//! cluster waits, the slow-consumer cap, graceful closes.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::Instant;

use super::Server;
use super::close::Ending;
use crate::chat::Event;
use crate::connection::{IrcConnection, Transport};
use crate::irc::message::{MAX_BODY, MAX_CLIENT_TAGS};
use crate::irc::numeric::ERR_INPUTTOOLONG;
use crate::irc::session::{Command, Idle, Session};
use crate::irc::{SERVER_NAME, format};
use crate::line_reader::{LineReader, Piece};
use crate::protocol;

/// The longest line an IRC client may send: its tags, the message, and `\r\n`. A longer one is
/// answered with 417 and dropped (`irc/message.rs`).
const MAX_IRC_LINE: usize = MAX_CLIENT_TAGS + MAX_BODY + 2;

impl Server {
    /// The transport of a new connection to the IRC listener.
    pub(super) fn irc_transport(&self) -> Transport {
        Transport::Irc(Box::new(IrcConnection {
            reader: LineReader::without_telnet(MAX_IRC_LINE),
            session: Session::new(self.config.max_line as usize, Instant::now()),
        }))
    }

    /// One line (or an overlong one) from an IRC connection. `Break` once the loop takes no more
    /// lines from it for now, or at all (see [`Server::check_input`]).
    pub(super) fn irc_piece(&mut self, key: usize, piece: Piece<'_>) -> ControlFlow<()> {
        if let Some(Transport::Irc(irc)) = self.connections.get_mut(key).map(|c| &mut c.transport) {
            irc.session.heard(Instant::now());
        }
        match piece {
            // Invalid UTF-8 becomes U+FFFD; the parser's limits count that, as `--max-line` does.
            Piece::Line(bytes) => self.irc_line(key, &String::from_utf8_lossy(bytes)),
            Piece::TooLong => {
                self.spend_token(key);
                let mut out = String::new();
                let nick = self.irc_nick(key);
                let reply = [nick.as_str(), "Input line was too long"];
                format::write(&mut out, SERVER_NAME, ERR_INPUTTOOLONG, &reply);
                self.queue_bytes(key, out.as_bytes());
            }
        }
        self.check_input(key)
    }

    /// One IRC line: the session's replies are queued, and its commands handed to the chat core in
    /// order, as a line client's lines would be. One line may be several commands (`JOIN #a,#b`);
    /// if one of them waits for the cluster's answer, the rest wait too, in `irc_rest`, and are
    /// handed over when the loop comes back to the connection (`take_kept`).
    fn irc_line(&mut self, key: usize, line: &str) {
        self.spend_token(key);
        self.metrics.lines_received += 1;
        self.pass.lines += 1;
        let Some(Transport::Irc(irc)) = self.connections.get_mut(key).map(|c| &mut c.transport)
        else {
            return;
        };
        let (mut out, mut commands) = (String::new(), Vec::new());
        irc.session
            .line(&self.irc_info, line, &mut out, &mut commands);
        if !out.is_empty() {
            self.queue_bytes(key, out.as_bytes());
        }
        let mut commands = commands.into_iter();
        while let Some(command) = commands.next() {
            self.irc_command(key, command);
            if self.chat.is_waiting(key) {
                let rest: VecDeque<Command> = commands.collect();
                if !rest.is_empty() {
                    self.irc_rest.insert(key, rest);
                }
                return;
            }
        }
    }

    /// One command of an IRC line, handed to the chat core (or, for WHOIS, WHO nick, ISON and
    /// USERHOST, answered from it; for TIME, from the clock).
    pub(super) fn irc_command(&mut self, key: usize, command: Command) {
        // A QUIT before it closed the connection: nothing after it counts.
        if !self.connections.get(key).is_some_and(|c| c.is_open()) {
            return;
        }
        let event = match &command {
            Command::Line(text) => Event::Line { id: key, text },
            Command::InRoom { room, text } => Event::InRoom {
                id: key,
                room,
                text,
            },
            asked => return self.irc_answer(key, asked),
        };
        let before = self.pass.deliveries;
        self.chat.handle(event, &mut self.deliveries);
        self.deliver();
        let caused = self.pass.deliveries - before;
        if caused > 0 {
            *self.pass.by_sender.entry(key).or_default() += caused;
        }
    }

    /// The commands the edge answers itself, from what the chat knows (WHOIS, WHO nick, ISON,
    /// USERHOST: is there such a user, and how is the name spelled) or from the clock (TIME).
    fn irc_answer(&mut self, key: usize, command: &Command) {
        let (mut out, nick) = (String::new(), self.irc_nick(key));
        let (server, chat) = (SERVER_NAME, &self.chat);
        let online = |nicks: &[String]| -> Vec<&str> {
            nicks.iter().filter_map(|n| chat.find_user(n)).collect()
        };
        match command {
            Command::Whois(whom) => {
                format::whois(server, &nick, whom, chat.find_user(whom), &mut out);
            }
            Command::Who(mask) => {
                format::who_user(server, &nick, mask, chat.find_user(mask), &mut out);
            }
            Command::Ison(nicks) => format::ison(server, &nick, &online(nicks), &mut out),
            Command::Userhost(nicks) => format::userhost(server, &nick, &online(nicks), &mut out),
            Command::Time => format::time(server, &nick, crate::ban_list::unix_now(), &mut out),
            Command::Line(_) | Command::InRoom { .. } => {}
        }
        self.queue_bytes(key, out.as_bytes());
    }

    /// On the tick: IRC clients silent for `--irc-ping-secs` are pinged, and those silent as long
    /// again after their PING are dropped (`ping timeout`: the room hears it, the client gets
    /// `ERROR`). The session decides (`Session::idle_check`); the loop only passes the time in.
    pub(super) fn irc_idle(&mut self, now: Instant) {
        let after = self.config.irc_ping();
        let (mut pinged, mut timed_out) = (Vec::new(), Vec::new());
        for (key, conn) in self.connections.iter_mut() {
            if !conn.is_open() {
                continue;
            }
            let Transport::Irc(irc) = &mut conn.transport else {
                continue;
            };
            let mut out = String::new();
            match irc.session.idle_check(now, after, &mut out) {
                Idle::Alive => {}
                Idle::Pinged => pinged.push((key, out)),
                Idle::TimedOut => timed_out.push(key),
            }
        }
        for (key, ping) in pinged {
            self.queue_bytes(key, ping.as_bytes());
        }
        for key in timed_out {
            self.queue_bytes(key, &closing_link(protocol::REASON_PING_TIMEOUT));
            self.leave(key, protocol::REASON_PING_TIMEOUT, Ending::Graceful);
        }
    }

    /// The nick replies to connection `key` are addressed to.
    fn irc_nick(&self, key: usize) -> String {
        match self.connections.get(key).map(|c| &c.transport) {
            Some(Transport::Irc(irc)) => irc.session.nick().to_string(),
            _ => "*".to_string(),
        }
    }
}

/// `ERROR :Closing link (REASON)`: the edge's own last word to an IRC client it turns away or drops
/// (server full, too slow), from a line of the line protocol (`! server full`).
pub(super) fn closing_link(line: &str) -> Vec<u8> {
    let reason = line.strip_prefix("! ").unwrap_or(line);
    let mut out = String::new();
    format::closing_link(SERVER_NAME, reason, &mut out);
    out.into_bytes()
}
