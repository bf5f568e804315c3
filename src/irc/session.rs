//! One IRC connection, sans IO: its registration, then what its commands become for the chat core,
//! and what the core's notices to it become on the wire.
//!
//! The edge hands in each line the client sent ([`Session::line`]) and gets back replies (wire
//! bytes, `\r\n` included) and [`Command`]s: lines of the line protocol, or lines said in a named
//! room ([`Event::InRoom`](crate::chat::Event::InRoom)), which it gives the core as any face's
//! lines, so flood control, cluster waits and every rule of the chat apply unchanged. The chat
//! core learns nothing about IRC (docs/irc.md, *Commands*).
//!
//! Notices to this connection go through [`Session::to_me`] (the welcome on `YouAre`, the channel
//! list kept from the JOIN and PART it is told, history tagged with its time for a client that
//! enabled `server-time`); notices to a room it is in through [`Session::wants`] and the room's one
//! IRC form (`format::room_notice`), never tagged: live lines arrive when they are said
//! (docs/irc.md, *History on IRC*).
//!
//! Decisions, and why:
//!
//! - A user's text starting with `/` is sent as `//text`, the line protocol's escape: an IRC user's
//!   `/shrug` is words, never a command of ours.
//! - CTCP ACTION is `/me`; other CTCP (VERSION, PING...) is dropped: answering it would need
//!   replies on a user's behalf, and clients do not need them.
//! - QUIT and NICK are announced by the core once in each room (right for line users, who read
//!   them per room); an IRC client must get each once. The repeats of one event reach a connection
//!   consecutively, so the session drops a QUIT or NICK identical to the last notice it took.
//! - An idle client is pinged, and closed if it stays silent ([`Session::idle_check`]). TCP
//!   keepalive (`socket.rs`) notices a vanished host, but the kernel answers it for a client
//!   that is hung or stopped (Ctrl+Z), which would hold its nick for ever; every IRC client
//!   answers the server's PING by itself, so only a client that cannot is dropped. Any line
//!   counts as an answer, not only PONG: a client that talks is alive. Only registered clients:
//!   before the welcome the name timeout rules.
//! - `WHO #room` and `NAMES #room` both ask the core for its member list (`/list #room`), which
//!   answers both the same way ([`Notice::Members`]); the session remembers that a WHO is pending
//!   (one bit: [`Session::who_pending`]) and words the answer as 352s and 315 instead of 353s and
//!   366. One bit is enough: the core answers commands in order, and the edge hands it the next
//!   command (the rest of the line, `Server::irc_rest`, or the next line) only once a cluster
//!   wait is answered, so at most one WHO is ever in flight and no join's names list can come
//!   between it and its answer.
//! - `WHO nick` and `WHOIS nick` are a read of the chat (`Chat::find_user`): the edge answers them
//!   ([`Command::Who`], [`Command::Whois`]).

use std::time::{Duration, Instant};

use compact_str::CompactString;

use crate::chat::{Leaving, Notice};
use crate::text::{check_name, folded};

use super::format::{self, write};
use super::message;
use super::numeric::*;
use super::registration::{Registration, ServerInfo, Step};
use super::{SERVER_NAME, user_source};

/// What the edge gives the chat core for a line of the client's, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A line of the line protocol: the name while registering, or a command (`/join #dev`).
    Line(String),
    /// A line said in `room` without making it current.
    InRoom { room: String, text: String },
    /// `WHOIS nick`: the edge asks the chat whether there is such a user, and answers.
    Whois(String),
    /// `WHO nick`: the same question, answered as a 352 (or nothing) and 315.
    Who(String),
    /// `TIME`: the edge answers with the clock's time (the session has no clock of its own).
    Time,
    /// `ISON a b ...`: the edge asks the chat which of these users are online, and answers 303.
    Ison(Vec<String>),
    /// `USERHOST a b ...` (at most 5): as ISON, answered with 302.
    Userhost(Vec<String>),
}

/// The state of one IRC connection.
#[derive(Debug, Clone)]
pub struct Session {
    registration: Registration,
    /// The channels the client was told it joined, as the core spells them. A room name (at most
    /// 33 bytes) is nearly always short enough to be stored inline: no allocation per channel.
    channels: Vec<CompactString>,
    /// The last QUIT or NICK taken, to drop its repeats (see the top of this file).
    last_repeatable: Option<Notice>,
    /// `--max-line`: the most bytes of text in one message.
    max_text: usize,
    /// When the client last sent a line, or when it was pinged since: the idle check's clock.
    quiet_since: Instant,
    /// A PING went out at `quiet_since` and nothing has come since.
    pinged: bool,
    /// A `WHO #room` was handed to the core and not yet answered: its member list is worded as
    /// 352s and 315 (see the top of this file).
    who_pending: bool,
}

/// What the idle check found ([`Session::idle_check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Heard from recently enough (or still registering): nothing to do.
    Alive,
    /// Silent for the ping interval: a PING was appended to `out`, to be sent.
    Pinged,
    /// Silent for another interval after the PING: the edge closes the connection.
    TimedOut,
}

impl Session {
    /// A session for a connection accepted at `now`.
    pub fn new(max_text: usize, now: Instant) -> Session {
        Session {
            registration: Registration::new(),
            channels: Vec::new(),
            last_repeatable: None,
            max_text,
            quiet_since: now,
            pinged: false,
            who_pending: false,
        }
    }

    /// The client sent a line at `now` (any line: a PONG, or anything else, shows it is there).
    pub fn heard(&mut self, now: Instant) {
        self.quiet_since = now;
        self.pinged = false;
    }

    /// The edge asks, now and then, whether the client has been silent too long: after `after`
    /// of silence it is pinged (the PING appended to `out`), after `after` more it has timed out.
    /// The edge's clock only passes in: a test checks the whole cycle without waiting.
    pub fn idle_check(&mut self, now: Instant, after: Duration, out: &mut String) -> Idle {
        if !self.is_registered() || now.saturating_duration_since(self.quiet_since) < after {
            return Idle::Alive;
        }
        if self.pinged {
            return Idle::TimedOut;
        }
        write(out, SERVER_NAME, "PING", &[SERVER_NAME]);
        self.quiet_since = now;
        self.pinged = true;
        Idle::Pinged
    }

    pub fn is_registered(&self) -> bool {
        self.registration.is_registered()
    }

    /// The nick replies go to (`*` before there is one).
    pub fn nick(&self) -> &str {
        self.registration.nick()
    }

    /// The channels the client is in.
    pub fn channels(&self) -> &[CompactString] {
        &self.channels
    }

    /// One line from the client: replies are appended to `out` (wire bytes), what the core must
    /// be given to `commands`.
    pub fn line(
        &mut self,
        info: &ServerInfo,
        line: &str,
        out: &mut String,
        commands: &mut Vec<Command>,
    ) {
        let mut replies = Vec::new();
        let parsed = message::parse(line);
        let message = match parsed {
            Ok(message) => message,
            Err(error) => {
                self.registration.unparsed(info, error, &mut replies);
                return frame(replies, out);
            }
        };
        let step = self.registration.handle(info, &message, &mut replies);
        frame(replies, out);
        match step {
            Step::Done | Step::Pong => {}
            Step::Claim => {
                if let Some(nick) = self.registration.claimed_nick() {
                    commands.push(Command::Line(nick.to_string()));
                }
            }
            Step::Quit(reason) => {
                let line = format!("/quit {}", reason.unwrap_or(""));
                commands.push(Command::Line(line.trim_end().to_string()));
            }
            Step::Chat => self.chat(info, &message, out, commands),
        }
    }

    /// A registered client's command for the chat (one of `registration::CHAT_COMMANDS`).
    fn chat(
        &mut self,
        info: &ServerInfo,
        message: &message::Message<'_>,
        out: &mut String,
        commands: &mut Vec<Command>,
    ) {
        let server = info.server_name.as_str();
        let command = message.command.to_ascii_uppercase();
        let nick = self.nick().to_string();
        let param = |i| message.param(i).filter(|p: &&str| !p.is_empty());
        let need_more = |out: &mut String| {
            write(
                out,
                server,
                ERR_NEEDMOREPARAMS,
                &[&nick, &command, "Not enough parameters"],
            );
        };
        match command.as_str() {
            "PRIVMSG" | "NOTICE" => {
                let Some(targets) = param(0) else {
                    return write(out, server, ERR_NORECIPIENT, &[&nick, "No recipient given"]);
                };
                let Some(text) = param(1) else {
                    return write(out, server, ERR_NOTEXTTOSEND, &[&nick, "No text to send"]);
                };
                if text.len() > self.max_text {
                    return write(
                        out,
                        server,
                        ERR_INPUTTOOLONG,
                        &[&nick, "Input line was too long"],
                    );
                }
                for target in targets_within(targets, &nick, server, out) {
                    if let Some(command) = said(&nick, target, text) {
                        commands.push(command);
                    }
                }
            }
            "JOIN" => match param(0) {
                None => need_more(out),
                Some("0") => {
                    for channel in &self.channels {
                        commands.push(Command::Line(format!("/part {channel}")));
                    }
                }
                Some(channels) => {
                    for channel in channels.split(',').filter(|c| !c.is_empty()) {
                        commands.push(Command::Line(format!("/join {channel}")));
                    }
                }
            },
            "PART" => match param(0) {
                None => need_more(out),
                Some(channels) => {
                    let reason = param(1).unwrap_or("");
                    for channel in channels.split(',').filter(|c| !c.is_empty()) {
                        let line = format!("/part {channel} {reason}");
                        commands.push(Command::Line(line.trim_end().to_string()));
                    }
                }
            },
            "NICK" => match param(0) {
                None => write(
                    out,
                    server,
                    ERR_NONICKNAMEGIVEN,
                    &[&nick, "No nickname given"],
                ),
                Some(new) => match check_name(new) {
                    Ok(()) => commands.push(Command::Line(format!("/name {new}"))),
                    Err(error) => {
                        let reason = crate::protocol::name_refused(error);
                        let reason = reason.strip_prefix("! ").unwrap_or(&reason);
                        let reason = format!("Erroneous nickname: {reason}");
                        let shown = if message::is_middle(new) { new } else { "*" };
                        write(out, server, ERR_ERRONEUSNICKNAME, &[&nick, shown, &reason]);
                    }
                },
            },
            "TOPIC" => match param(0) {
                None => need_more(out),
                Some(room) => {
                    let text = match message.param(1) {
                        Some(text) if !text.is_empty() => format!("/topic {text}"),
                        _ => "/topic".to_string(),
                    };
                    let room = room.to_string();
                    commands.push(Command::InRoom { room, text });
                }
            },
            "NAMES" => {
                let rooms: Vec<&str> = match param(0) {
                    Some(rooms) => rooms.split(',').filter(|r| !r.is_empty()).collect(),
                    None => self.channels.iter().map(CompactString::as_str).collect(),
                };
                for room in rooms {
                    commands.push(Command::Line(format!("/list {room}")));
                }
            }
            "LIST" => commands.push(Command::Line("/rooms".to_string())),
            "WHO" => {
                let mask = param(0).filter(|m| message::is_middle(m)).unwrap_or("*");
                if mask.starts_with('#') {
                    self.who_pending = true;
                    commands.push(Command::Line(format!("/list {mask}")));
                } else if check_name(mask).is_ok() {
                    commands.push(Command::Who(mask.to_string()));
                } else {
                    // `WHO *`, `WHO 0`, a pattern: pollchat lists nobody by pattern.
                    write(out, server, RPL_ENDOFWHO, &[&nick, mask, "End of WHO list"]);
                }
            }
            "WHOIS" => match param(0) {
                None => need_more(out),
                Some(whom) => {
                    // `WHOIS server nick` names the nick second.
                    let whom = param(1).unwrap_or(whom);
                    if message::is_middle(whom) {
                        commands.push(Command::Whois(whom.to_string()));
                    } else {
                        let end = "End of /WHOIS list";
                        write(out, server, RPL_ENDOFWHOIS, &[&nick, "*", end]);
                    }
                }
            },
            // Clients ask these by themselves: WeeChat's `/notify` and HexChat's notify list send
            // ISON every minute or so, HexChat may send `USERHOST` with its own nick.
            "ISON" | "USERHOST" => {
                let nicks = nicks_asked(message);
                if nicks.is_empty() {
                    return need_more(out);
                }
                commands.push(if command == "ISON" {
                    Command::Ison(nicks)
                } else {
                    Command::Userhost(nicks.into_iter().take(MAX_USERHOST).collect())
                });
            }
            "MODE" => match param(0) {
                None => need_more(out),
                Some(channel) if channel.starts_with('#') => {
                    let channel = if message::is_middle(channel) {
                        channel
                    } else {
                        "*"
                    };
                    match param(1) {
                        None => write(out, server, RPL_CHANNELMODEIS, &[&nick, channel, "+n"]),
                        Some("b" | "+b") => write(
                            out,
                            server,
                            RPL_ENDOFBANLIST,
                            &[&nick, channel, "End of channel ban list"],
                        ),
                        Some(_) => write(
                            out,
                            server,
                            "482",
                            &[&nick, channel, "You're not channel operator"],
                        ),
                    }
                }
                Some(target) if folded(target).eq(folded(&nick)) => {
                    // `MODE ana +i`, which clients send on connecting, is taken quietly.
                    if param(1).is_none() {
                        write(out, server, RPL_UMODEIS, &[&nick, "+"]);
                    }
                }
                Some(_) => write(
                    out,
                    server,
                    ERR_USERSDONTMATCH,
                    &[&nick, "Cant change mode for other users"],
                ),
            },
            // `OPER name password`: pollchat's operators have a password and no name.
            "OPER" => match param(1) {
                Some(password) => commands.push(Command::Line(format!("/oper {password}"))),
                None => need_more(out),
            },
            // `KICK #room ana,bea :why` from an operator: pollchat's `/kick` of each, which takes
            // them out of the chat, not only out of the channel (docs/protocol.md).
            "KICK" => match (param(0), param(1)) {
                (Some(_), Some(users)) => {
                    let reason = param(2).unwrap_or("");
                    for user in targets_within(users, &nick, server, out) {
                        // `KICK #a :bea cy` is no name: not a kick of bea for "cy".
                        if check_name(user).is_err() {
                            let shown = if message::is_middle(user) { user } else { "*" };
                            let reply = [nick.as_str(), shown, "No such nick/channel"];
                            write(out, server, ERR_NOSUCHNICK, &reply);
                            continue;
                        }
                        let line = format!("/kick {user} {reason}");
                        commands.push(Command::Line(line.trim_end().to_string()));
                    }
                }
                _ => need_more(out),
            },
            "TIME" => commands.push(Command::Time),
            "AWAY" => match param(0) {
                // pollchat has no away: nobody is told, the client only has its answer.
                Some(_) => write(
                    out,
                    server,
                    RPL_NOWAWAY,
                    &[&nick, "You have been marked as being away"],
                ),
                None => write(
                    out,
                    server,
                    RPL_UNAWAY,
                    &[&nick, "You are no longer marked as being away"],
                ),
            },
            _ => write(
                out,
                server,
                ERR_UNKNOWNCOMMAND,
                &[&nick, "*", "Unknown command"],
            ),
        }
    }

    /// A notice of the chat to this connection alone, appended to `out` as wire bytes.
    pub fn to_me(&mut self, info: &ServerInfo, notice: &Notice, out: &mut String) {
        self.last_repeatable = None;
        let server = info.server_name.as_str();
        if self.who_pending && answers_a_list(notice) {
            self.who_pending = false;
            return self.who_answered(info, notice, out);
        }
        match notice {
            Notice::YouAre { name } if !self.is_registered() => {
                let mut replies = Vec::new();
                self.registration.accepted(info, name, &mut replies);
                frame(replies, out);
                // Named users are in the default room: the client opens its channel now, and the
                // core's topic, history and names for it follow.
                write(out, &user_source(name), "JOIN", &[&info.default_room]);
                self.channels = vec![CompactString::new(&info.default_room)];
            }
            Notice::YouAre { name } => {
                let old = user_source(self.nick());
                if name.as_str() != self.nick() {
                    write(out, &old, "NICK", &[name]);
                }
                self.registration.renamed(name);
            }
            Notice::NameTaken { .. } if !self.is_registered() => {
                let mut replies = Vec::new();
                self.registration.taken(info, &mut replies);
                frame(replies, out);
            }
            // Before the welcome the core's only other words are why it closes the connection
            // (no name in time, a banned address, the cluster unreachable, a shutdown).
            Notice::Text(line) if !self.is_registered() => {
                let reason = line.strip_prefix("! ").unwrap_or(line);
                let reason = reason.strip_prefix("*** ").unwrap_or(reason);
                format::closing_link(server, reason, out);
            }
            Notice::YouJoined { room } => {
                if !self.channels.iter().any(|c| c == room.as_str()) {
                    self.channels.push(CompactString::new(room.as_str()));
                }
                format::to_user(server, self.nick(), notice, out);
            }
            Notice::YouLeft { room, .. } => {
                self.channels.retain(|c| c != room.as_str());
                format::to_user(server, self.nick(), notice, out);
            }
            Notice::History { at, said } if self.registration.has_server_time() => {
                format::history(server, self.nick(), *at, said, out);
            }
            _ => format::to_user(server, self.nick(), notice, out),
        }
    }

    /// The core's answer to a `WHO #room` (one for which [`answers_a_list`] holds), as the WHO
    /// reply: a 352 per member and 315; a refusal as it is worded anyway, then 315, so that the
    /// client's WHO ends.
    fn who_answered(&mut self, info: &ServerInfo, notice: &Notice, out: &mut String) {
        let (server, nick) = (info.server_name.as_str(), self.nick());
        match notice {
            Notice::Members { room, names, .. } => {
                format::who_members(server, nick, room, names, info.announce_limit, out);
            }
            Notice::ListTooOften { room, secs } => {
                format::too_often(server, nick, format::Query::Who, room, *secs, out);
            }
            // No such channel: an empty list, as other servers answer.
            Notice::NoSuchRoom { room } => {
                format::end_of_list(server, nick, format::Query::Who, room, out);
            }
            // A name no room can have (`WHO #a,#b`, `WHO #*`): 479, and the list still ends.
            Notice::BadRoomName { room } => {
                format::to_user(server, nick, notice, out);
                let mask = if message::is_middle(room) { room } else { "*" };
                format::end_of_list(server, nick, format::Query::Who, mask, out);
            }
            other => {
                format::to_user(server, nick, other, out);
                format::end_of_list(server, nick, format::Query::Who, "*", out);
            }
        }
    }

    /// Whether a notice to a room (or everyone) should reach this connection: false for a repeat
    /// of the QUIT or NICK it last took, and for anything before the welcome (a connection still
    /// registering is in no room, but `Everyone` reaches every joined id).
    pub fn wants(&mut self, notice: &Notice) -> bool {
        if !self.is_registered() {
            return false;
        }
        let repeatable = matches!(
            notice,
            Notice::Left {
                how: Leaving::Quit | Leaving::Removed,
                ..
            } | Notice::Renamed { .. }
        );
        if !repeatable {
            self.last_repeatable = None;
            return true;
        }
        if self.last_repeatable.as_ref() == Some(notice) {
            return false;
        }
        self.last_repeatable = Some(notice.clone());
        true
    }
}

/// What an IRC user's `PRIVMSG target :text` becomes: a line in a room, or a private message.
/// CTCP ACTION is `/me`; other CTCP is dropped.
fn said(nick: &str, target: &str, text: &str) -> Option<Command> {
    let action = match text.strip_prefix('\x01') {
        Some(ctcp) => {
            let ctcp = ctcp.strip_suffix('\x01').unwrap_or(ctcp);
            Some(ctcp.strip_prefix("ACTION ")?)
        }
        None => None,
    };
    if target.starts_with('#') {
        let text = match action {
            Some(action) => format!("/me {action}"),
            None if text.starts_with('/') => format!("/{text}"),
            None => text.to_string(),
        };
        let room = target.to_string();
        return Some(Command::InRoom { room, text });
    }
    Some(Command::Line(match action {
        // The line protocol has no private action: it reads as one.
        Some(action) => format!("/msg {target} * {nick} {action}"),
        None => format!("/msg {target} {text}"),
    }))
}

/// Whether `notice` is what the core answers to `/list #room`: the member list, or one of its
/// refusals (too often, no such room, or an error line: a bad name, the cluster busy or down).
fn answers_a_list(notice: &Notice) -> bool {
    match notice {
        Notice::Members { .. }
        | Notice::ListTooOften { .. }
        | Notice::NoSuchRoom { .. }
        | Notice::BadRoomName { .. } => true,
        Notice::Text(line) => line.starts_with("! "),
        _ => false,
    }
}

/// The most nicks one `USERHOST` asks about, as the modern documents allow; more are left out.
const MAX_USERHOST: usize = 5;

/// The most targets of one `PRIVMSG`, `NOTICE` or `KICK` (`TARGMAX` in 005). Flood control counts
/// a line, and a line of 512 bytes can name a hundred targets: capped, one line costs the others
/// at most what four lines would.
pub const MAX_TARGETS: usize = 4;

/// The targets of a comma list, empty ones and repeats left out, at most [`MAX_TARGETS`]; one 407
/// says the rest were not taken.
fn targets_within<'a>(list: &'a str, nick: &str, server: &str, out: &mut String) -> Vec<&'a str> {
    let mut targets: Vec<&str> = Vec::new();
    for target in list.split(',').filter(|t| !t.is_empty()) {
        if targets.iter().any(|t| t.eq_ignore_ascii_case(target)) {
            continue;
        }
        if targets.len() == MAX_TARGETS {
            let why = format!("Too many targets: {MAX_TARGETS} at most, the rest not sent");
            let shown = if message::is_middle(target) {
                target
            } else {
                "*"
            };
            write(out, server, ERR_TOOMANYTARGETS, &[nick, shown, &why]);
            break;
        }
        targets.push(target);
    }
    targets
}

/// The nicks an `ISON` or `USERHOST` names: its parameters, split at spaces (clients send them as
/// middle parameters or as one trailing one), those that cannot be names left out.
fn nicks_asked(message: &message::Message<'_>) -> Vec<String> {
    message
        .params()
        .iter()
        .flat_map(|param| param.split(' '))
        .filter(|nick| check_name(nick).is_ok())
        .map(str::to_string)
        .collect()
}

/// Registration's replies (lines without terminators) as wire bytes.
fn frame(replies: Vec<String>, out: &mut String) {
    for reply in replies {
        out.push_str(&reply);
        out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compact_str::CompactString;

    struct Client {
        info: ServerInfo,
        session: Session,
    }

    impl Client {
        fn new() -> Client {
            Client {
                info: ServerInfo::default(),
                session: Session::new(4096, Instant::now()),
            }
        }

        fn send(&mut self, line: &str) -> (String, Vec<Command>) {
            let (mut out, mut commands) = (String::new(), Vec::new());
            self.session.line(&self.info, line, &mut out, &mut commands);
            (out, commands)
        }

        fn commands(&mut self, line: &str) -> Vec<Command> {
            let (out, commands) = self.send(line);
            assert_eq!(out, "", "{line}");
            commands
        }

        fn told(&mut self, notice: Notice) -> String {
            let mut out = String::new();
            self.session.to_me(&self.info, &notice, &mut out);
            out
        }

        /// Registered as `ana`, in `#general`.
        fn registered() -> Client {
            let mut client = Client::new();
            client.send("NICK ana");
            let (_, commands) = client.send("USER ana 0 * :Ana");
            assert_eq!(commands, [Command::Line("ana".into())]);
            let welcome = client.told(Notice::YouAre { name: "ana".into() });
            assert!(welcome.ends_with(":ana!ana@pollchat JOIN #general\r\n"));
            client
        }
    }

    fn line(text: &str) -> Command {
        Command::Line(text.to_string())
    }

    fn in_room(room: &str, text: &str) -> Command {
        Command::InRoom {
            room: room.to_string(),
            text: text.to_string(),
        }
    }

    #[test]
    fn the_welcome_comes_when_the_core_says_you_are_and_the_client_is_in_the_default_room() {
        let mut client = Client::new();
        assert_eq!(client.told(Notice::Greeting { online: 3 }), "");
        assert_eq!(client.told(Notice::NamePrompt), "");
        client.send("NICK Ana");
        client.send("USER ana 0 * :Ana");
        let welcome = client.told(Notice::YouAre { name: "Ana".into() });
        let lines: Vec<&str> = welcome.split_terminator("\r\n").collect();
        assert!(lines[0].starts_with(":irc.pollchat 001 Ana "));
        assert_eq!(lines.last(), Some(&":Ana!Ana@pollchat JOIN #general"));
        assert!(client.session.is_registered());
        assert_eq!(client.session.channels(), ["#general"]);
    }

    #[test]
    fn before_the_welcome_the_cores_words_are_why_it_closes() {
        let mut client = Client::new();
        client.send("NICK ana");
        assert_eq!(
            client.told(Notice::Text("! no name given in 60 s".into())),
            ":irc.pollchat ERROR :Closing link (no name given in 60 s)\r\n"
        );
    }

    #[test]
    fn a_taken_name_is_433_and_another_nick_is_claimed() {
        let mut client = Client::new();
        client.send("NICK ana");
        client.send("USER ana 0 * :Ana");
        assert_eq!(
            client.told(Notice::NameTaken { name: "ana".into() }),
            ":irc.pollchat 433 * ana :Nickname is already in use\r\n"
        );
        assert_eq!(client.told(Notice::NamePrompt), "");
        assert_eq!(client.commands("NICK ana_"), [line("ana_")]);
    }

    #[test]
    fn privmsg_to_a_channel_is_said_there_and_to_a_nick_is_a_private_message() {
        let mut client = Client::registered();
        assert_eq!(
            client.commands("PRIVMSG #dev :hi there"),
            [in_room("#dev", "hi there")]
        );
        assert_eq!(
            client.commands("PRIVMSG #dev :/shrug"),
            [in_room("#dev", "//shrug")]
        );
        assert_eq!(
            client.commands("PRIVMSG #dev :\x01ACTION waves\x01"),
            [in_room("#dev", "/me waves")]
        );
        assert_eq!(client.commands("PRIVMSG #dev :\x01VERSION\x01"), []);
        assert_eq!(
            client.commands("PRIVMSG bea :psst you"),
            [line("/msg bea psst you")]
        );
        assert_eq!(
            client.commands("PRIVMSG bea :\x01ACTION winks\x01"),
            [line("/msg bea * ana winks")]
        );
        assert_eq!(
            client.commands("NOTICE #dev :fyi"),
            [in_room("#dev", "fyi")]
        );
        assert_eq!(
            client.commands("PRIVMSG #a,bea :x"),
            [in_room("#a", "x"), line("/msg bea x")]
        );
        assert_eq!(
            client.send("PRIVMSG").0,
            ":irc.pollchat 411 ana :No recipient given\r\n"
        );
        assert_eq!(
            client.send("PRIVMSG #dev").0,
            ":irc.pollchat 412 ana :No text to send\r\n"
        );
    }

    #[test]
    fn text_over_max_line_is_417() {
        let mut client = Client::registered();
        client.session.max_text = 16;
        let (out, commands) = client.send(&format!("PRIVMSG #dev :{}", "x".repeat(17)));
        assert_eq!(out, ":irc.pollchat 417 ana :Input line was too long\r\n");
        assert_eq!(commands, []);
    }

    #[test]
    fn join_part_nick_topic_names_quit() {
        let mut client = Client::registered();
        assert_eq!(
            client.commands("JOIN #a,#b key"),
            [line("/join #a"), line("/join #b")]
        );
        client.told(Notice::YouJoined { room: "#a".into() });
        assert_eq!(client.session.channels(), ["#general", "#a"]);
        assert_eq!(
            client.commands("JOIN 0"),
            [line("/part #general"), line("/part #a")]
        );
        assert_eq!(
            client.commands("PART #a,#b :gotta go"),
            [line("/part #a gotta go"), line("/part #b gotta go")]
        );
        assert_eq!(client.commands("PART #a"), [line("/part #a")]);
        client.told(Notice::YouLeft {
            room: "#a".into(),
            reason: "parted".into(),
        });
        assert_eq!(client.session.channels(), ["#general"]);
        assert_eq!(client.commands("NICK anita"), [line("/name anita")]);
        assert_eq!(
            client.send("NICK ana^").0,
            ":irc.pollchat 432 ana ana^ :Erroneous nickname: a name cannot contain '^'; use \
             letters, digits, '_', '-' and '.'\r\n"
        );
        assert_eq!(client.commands("TOPIC #dev"), [in_room("#dev", "/topic")]);
        assert_eq!(
            client.commands("TOPIC #dev :ship it"),
            [in_room("#dev", "/topic ship it")]
        );
        assert_eq!(client.commands("NAMES"), [line("/list #general")]);
        assert_eq!(client.commands("NAMES #x"), [line("/list #x")]);
        assert_eq!(client.commands("QUIT :bye all"), [line("/quit bye all")]);
        assert_eq!(client.commands("QUIT"), [line("/quit")]);
        assert_eq!(
            client.send("JOIN").0,
            ":irc.pollchat 461 ana JOIN :Not enough parameters\r\n"
        );
    }

    #[test]
    fn history_is_tagged_with_its_time_only_for_clients_that_asked() {
        let history = || Notice::History {
            at: 1_796_528_050,
            said: Box::new(Notice::said("#general", "bea", "earlier")),
        };
        let untagged = ":bea!bea@pollchat PRIVMSG #general earlier\r\n";
        let tagged =
            "@time=2026-12-06T03:34:10.000Z :bea!bea@pollchat PRIVMSG #general earlier\r\n";

        let mut without = Client::registered();
        assert_eq!(without.told(history()), untagged);

        // Negotiated while registering, as clients do.
        let mut with = Client::new();
        with.send("CAP LS 302");
        with.send("NICK ana");
        with.send("USER ana 0 * :Ana");
        assert_eq!(
            with.send("CAP REQ :server-time"),
            (
                ":irc.pollchat CAP ana ACK server-time\r\n".to_string(),
                vec![]
            )
        );
        assert_eq!(with.send("CAP END").1, [line("ana")]);
        with.told(Notice::YouAre { name: "ana".into() });
        assert_eq!(with.told(history()), tagged);
        // Turned off again: today's bytes.
        with.send("CAP REQ -server-time");
        assert_eq!(with.told(history()), untagged);
    }

    #[test]
    fn a_rename_is_a_nick_to_oneself_and_replies_follow_it() {
        let mut client = Client::registered();
        assert_eq!(
            client.told(Notice::YouAre {
                name: "anita".into()
            }),
            ":ana!ana@pollchat NICK anita\r\n"
        );
        assert_eq!(client.session.nick(), "anita");
        assert_eq!(
            client.told(Notice::NameTaken { name: "bea".into() }),
            ":irc.pollchat 433 anita bea :Nickname is already in use\r\n"
        );
    }

    #[test]
    fn the_edge_answers_mode_who_whois_away_and_unknown_commands() {
        let mut client = Client::registered();
        let replies = [
            ("MODE #dev", ":irc.pollchat 324 ana #dev +n\r\n"),
            (
                "MODE #dev b",
                ":irc.pollchat 368 ana #dev :End of channel ban list\r\n",
            ),
            ("MODE ana", ":irc.pollchat 221 ana +\r\n"),
            ("MODE ana +i", ""),
            (
                "MODE bea",
                ":irc.pollchat 502 ana :Cant change mode for other users\r\n",
            ),
            ("WHO *", ":irc.pollchat 315 ana * :End of WHO list\r\n"),
            (
                "AWAY :lunch",
                ":irc.pollchat 306 ana :You have been marked as being away\r\n",
            ),
            ("FOO bar", ":irc.pollchat 421 ana FOO :Unknown command\r\n"),
        ];
        for (sent, want) in replies {
            assert_eq!(client.send(sent), (want.to_string(), vec![]), "{sent}");
        }
        // ISON and USERHOST too; names that cannot be a user's are left out, USERHOST asks five.
        let asked = |nicks: &[&str]| nicks.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let ison = vec![Command::Ison(asked(&["bea", "cy", "dee"]))];
        assert_eq!(client.send("ISON bea :cy  dee a|b"), (String::new(), ison));
        let userhost = vec![Command::Userhost(asked(&["a", "b", "c", "d", "e"]))];
        assert_eq!(
            client.send("USERHOST a b c d e f"),
            (String::new(), userhost)
        );
        assert_eq!(
            client.send("ISON :"),
            (
                ":irc.pollchat 461 ana ISON :Not enough parameters\r\n".to_string(),
                vec![]
            )
        );
        // WHOIS and WHO nick are the chat's to answer (does such a user exist?): the edge is
        // handed them.
        let handed = vec![Command::Whois("bea".into())];
        assert_eq!(client.send("WHOIS bea"), (String::new(), handed));
        let handed = vec![Command::Who("bea".into())];
        assert_eq!(client.send("WHO bea"), (String::new(), handed));
    }

    fn members(room: &str, names: &[&str]) -> Notice {
        Notice::Members {
            room: room.into(),
            names: names.iter().map(|&n| CompactString::from(n)).collect(),
            in_front: true,
        }
    }

    #[test]
    fn who_of_a_room_asks_for_its_members_and_words_the_answer_as_352s() {
        let mut client = Client::registered();
        assert_eq!(client.commands("WHO #dev"), [line("/list #dev")]);
        assert_eq!(
            client.told(members("#dev", &["@bea", "ana"])),
            ":irc.pollchat 352 ana #dev bea pollchat irc.pollchat bea H@ :0 bea\r\n\
             :irc.pollchat 352 ana #dev ana pollchat irc.pollchat ana H :0 ana\r\n\
             :irc.pollchat 315 ana #dev :End of WHO list\r\n"
        );
        // Answered: the next member list (NAMES, a join) is a names list again.
        assert_eq!(client.commands("NAMES #dev"), [line("/list #dev")]);
        assert_eq!(
            client.told(members("#dev", &["ana"])),
            ":irc.pollchat 353 ana = #dev ana\r\n:irc.pollchat 366 ana #dev :End of /NAMES list\r\n"
        );
    }

    #[test]
    fn who_of_a_room_ends_whatever_the_core_answers() {
        let mut client = Client::registered();
        // Unrelated news before the answer is shown as it is.
        client.commands("WHO #dev");
        assert_eq!(
            client.told(Notice::private_in("bea", "psst")),
            ":bea!bea@pollchat PRIVMSG ana psst\r\n"
        );
        let too_often = Notice::ListTooOften {
            room: "#dev".into(),
            secs: 2,
        };
        assert_eq!(
            client.told(too_often),
            ":irc.pollchat 263 ana WHO :Please wait a while and try again: #dev is big, its \
             member list is served once every 2 s\r\n\
             :irc.pollchat 315 ana #dev :End of WHO list\r\n"
        );
        client.commands("WHO #nope");
        let nope = Notice::NoSuchRoom {
            room: "#nope".into(),
        };
        assert_eq!(
            client.told(nope),
            ":irc.pollchat 315 ana #nope :End of WHO list\r\n"
        );
        client.commands("WHO #a,#b");
        let bad = Notice::BadRoomName {
            room: "#a,#b".into(),
        };
        assert_eq!(
            client.told(bad),
            ":irc.pollchat 479 ana #a,#b :a room name is # and 1 to 32 letters, digits, '_', '-' \
             or '.'\r\n:irc.pollchat 315 ana #a,#b :End of WHO list\r\n"
        );
        // The WHO is over: the next member list is a names list again.
        client.commands("NAMES #dev");
        assert!(
            client
                .told(members("#dev", &["ana"]))
                .contains(" 366 ana #dev ")
        );
        // Any other refusal ends it too.
        client.commands("WHO #dev");
        let busy = Notice::Text("! the cluster is busy; try again".into());
        assert_eq!(
            client.told(busy),
            ":irc.pollchat NOTICE ana :the cluster is busy; try again\r\n\
             :irc.pollchat 315 ana * :End of WHO list\r\n"
        );
        // A big room is counted, not listed.
        client.commands("WHO #general");
        let crowd: Vec<String> = (0..201).map(|i| format!("u{i}")).collect();
        let crowd: Vec<&str> = crowd.iter().map(String::as_str).collect();
        assert_eq!(
            client.told(members("#general", &crowd)),
            ":irc.pollchat NOTICE ana :#general: 201 online, too many to list\r\n\
             :irc.pollchat 315 ana #general :End of WHO list\r\n"
        );
    }

    #[test]
    fn a_quit_or_nick_announced_in_several_rooms_reaches_irc_once() {
        let mut client = Client::registered();
        let quit = Notice::left("bea", "bye", Leaving::Quit);
        assert!(client.session.wants(&quit));
        assert!(!client.session.wants(&quit));
        let nick = Notice::Renamed {
            old: CompactString::from("cid"),
            new: CompactString::from("cy"),
        };
        assert!(client.session.wants(&nick));
        assert!(!client.session.wants(&nick));
        // Parts are per room: each is news.
        let part = Notice::left("cy", "parted", Leaving::Parted);
        assert!(client.session.wants(&part));
        assert!(client.session.wants(&part));
        // Something else in between: a later identical QUIT is another event.
        assert!(client.session.wants(&quit));
        assert!(client.session.wants(&Notice::joined("bea")));
        assert!(client.session.wants(&quit));
        // Before the welcome, no room notice at all.
        assert!(!Client::new().session.wants(&Notice::joined("bea")));
    }

    #[test]
    fn a_silent_client_is_pinged_then_timed_out_and_any_line_is_an_answer() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let every = Duration::from_secs(120);
        let mut client = Client::new();
        let mut out = String::new();
        // Registering: the name timeout's business, never pinged.
        assert_eq!(
            client.session.idle_check(at(500), every, &mut out),
            Idle::Alive
        );
        let mut client = Client::registered();
        client.session.heard(at(0));
        assert_eq!(
            client.session.idle_check(at(119), every, &mut out),
            Idle::Alive
        );
        assert_eq!(
            client.session.idle_check(at(120), every, &mut out),
            Idle::Pinged
        );
        assert_eq!(out, ":irc.pollchat PING irc.pollchat\r\n");
        // One PING per silence, and the answer gets a full interval from the PING.
        out.clear();
        assert_eq!(
            client.session.idle_check(at(239), every, &mut out),
            Idle::Alive
        );
        assert_eq!(out, "");
        // The PONG (or any line) starts the clock again.
        client.session.heard(at(200));
        assert_eq!(
            client.session.idle_check(at(319), every, &mut out),
            Idle::Alive
        );
        assert_eq!(
            client.session.idle_check(at(320), every, &mut out),
            Idle::Pinged
        );
        // No answer within another interval: timed out, and it stays so.
        assert_eq!(
            client.session.idle_check(at(440), every, &mut out),
            Idle::TimedOut
        );
        assert_eq!(
            client.session.idle_check(at(441), every, &mut out),
            Idle::TimedOut
        );
    }

    /// Whatever a client sends, replies stay within the limits and nothing panics.
    #[test]
    fn arbitrary_lines_never_panic() {
        let mut rng = fastrand::Rng::with_seed(18);
        let words = [
            "PRIVMSG",
            "NOTICE",
            "JOIN",
            "PART",
            "NICK",
            "TOPIC",
            "NAMES",
            "MODE",
            "WHO",
            "WHOIS",
            "AWAY",
            "LIST",
            "QUIT",
            "#dev",
            "#a,#b",
            "0",
            ":",
            ":\x01ACTION",
            "\x01",
            "ana",
            "b",
            "+b",
            "",
            " ",
            "ü",
            "/x",
        ];
        for _ in 0..100 {
            let mut client = Client::registered();
            for _ in 0..30 {
                let n = rng.usize(0..5);
                let line: Vec<&str> = (0..n).map(|_| words[rng.usize(0..words.len())]).collect();
                let (out, _) = client.send(&line.join(" "));
                assert!(
                    out.split_terminator("\r\n")
                        .all(|l| l.len() <= message::MAX_BODY)
                );
            }
        }
    }
}
