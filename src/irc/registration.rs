//! One IRC connection's registration, sans IO: from the first `CAP LS` or `NICK` to the welcome
//! burst, and the few messages it still answers by itself afterwards (`PING`, `CAP`, `MOTD`).
//!
//! The edge parses each line (`message::parse`) and hands in the message ([`Registration::handle`])
//! or the parse error ([`Registration::unparsed`]); replies are appended as IRC lines without their
//! `\r\n`, and the returned [`Step`] says what else to do. The name itself is the chat
//! core's business, as for any face: when `NICK` and `USER` are both in (and no capability
//! negotiation is open), the step is [`Step::Claim`], and the edge gives the name to the core as a
//! line client's first line. The core answers as it answers everyone (`*** you are NAME`, or
//! `! the name NAME is taken`, after a round trip to Redis on a cluster); the edge then calls
//! [`Registration::accepted`] (the welcome: 001 to 005 and the MOTD) or [`Registration::taken`]
//! (433, and the client picks another nick). The name timeout is the core's, unchanged: a connection
//! is a naming client of the core from the moment it is accepted.
//!
//! Decisions, and why:
//!
//! - `CAP LS` (and `CAP LS 302`) offers one capability, `server-time`: history replayed on joining
//!   carries the time each line was said (`format::history`). A capability is offered only once it
//!   is implemented fully. `CAP REQ` is answered whole, as the capability negotiation
//!   specification requires: `ACK` if every name in it is one we offer (`-server-time` turns it
//!   off), else `NAK` and nothing changes. `CAP LIST` says what is on. `CAP LS` or `REQ` holds
//!   registration until `CAP END`, so a client that negotiates is never welcomed mid-negotiation.
//!   What a connection has enabled is one bool: an idle connection's memory is counted per user.
//!   `302` asks for nothing more: no capability here has a value, and none is ever added or removed
//!   while a client is connected (no `CAP NEW`/`DEL`).
//! - `PASS` is ignored before registration (pollchat has no passwords), `462` after.
//! - A nick must be a valid pollchat name (`text::check_name`): else 432, with pollchat's own reason
//!   (`a name cannot contain '['; use letters, digits, ...`), so a user learns what to pick.
//! - Before registration only `CAP`, `PASS`, `NICK`, `USER`, `PING`, `PONG` and `QUIT` are taken;
//!   anything else gets 451. (`PONG` is taken quietly: harmless, and some clients answer a ping
//!   they did not get.) After it, unknown commands get 421, never a disconnect.
//! - A line over the limits gets 417 and is dropped; the connection goes on (`message.rs`).

use compact_str::CompactString;
use log::warn;

use super::message::{self, Message, Outgoing, ParseError};
use super::numeric::*;
use crate::protocol;
use crate::text::{self, MAX_NAME_CHARS, check_name};

/// What the welcome says about the server, the same for every connection.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The source of the server's own messages. It has a dot, as server names do, so that clients
    /// do not take it for a user's nick.
    pub server_name: String,
    /// `NETWORK=` in 005, and the welcome's greeting.
    pub network: String,
    /// The version in 002 and 004.
    pub version: String,
    /// When the server started, as shown in 003.
    pub created: String,
    /// `--max-rooms-per-user`, advertised as `CHANLIMIT=#:N`.
    pub max_rooms_per_user: usize,
    /// The message of the day, one entry per line; none gets 422.
    pub motd: Vec<String>,
    /// The room every user is in once named (`--default-room`): the channel a client is told it
    /// joined right after the welcome.
    pub default_room: String,
    /// `--announce-limit`: a room with more members than this is big, and `WHO #room` answers
    /// with its count instead of a 352 for each (which could overflow the client's queue).
    pub announce_limit: usize,
}

impl Default for ServerInfo {
    fn default() -> ServerInfo {
        ServerInfo {
            server_name: super::SERVER_NAME.to_string(),
            network: "pollchat".to_string(),
            version: format!("pollchat-{}", env!("CARGO_PKG_VERSION")),
            created: "at start-up".to_string(),
            max_rooms_per_user: 20,
            motd: Vec::new(),
            default_room: "#general".to_string(),
            announce_limit: 200,
        }
    }
}

/// The commands of a registered client that the chat handles (the command layer's, next session):
/// they pass through as [`Step::Chat`]. Anything else a registered client sends gets 421.
pub const CHAT_COMMANDS: &[&str] = &[
    "NICK", "JOIN", "PART", "PRIVMSG", "NOTICE", "NAMES", "WHO", "WHOIS", "TOPIC", "LIST", "MODE",
    "AWAY", "ISON", "USERHOST", "OPER", "KICK", "TIME",
];

/// What the edge does after a line, besides sending the replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// Nothing more.
    Done,
    /// `NICK` and `USER` are in: ask the chat core for the name ([`Registration::claimed_nick`]),
    /// as a line client's first line. Then call [`Registration::accepted`] or
    /// [`Registration::taken`] with its answer.
    Claim,
    /// The message is a registered client's command for the chat (one of [`CHAT_COMMANDS`]): the
    /// command layer's.
    Chat,
    /// The client answered a `PING` of ours: it is alive.
    Pong,
    /// The client quits, with its reason if it gave one: the edge tells the chat (as `/quit
    /// REASON`), whose goodbye the IRC face sends as `ERROR` before the close.
    Quit(Option<&'a str>),
}

/// Where a connection is in its registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Collecting `NICK` and `USER`.
    Open,
    /// The chat core has the name and will answer; the edge holds the connection's next lines
    /// meanwhile, as it does for any client the core is waiting on (`Chat::is_waiting`).
    Claiming,
    /// Welcomed: `nick` is the name as the chat core spells it.
    Registered,
}

/// The registration state of one IRC connection.
#[derive(Debug, Clone)]
pub struct Registration {
    phase: Phase,
    /// The last valid nick given, until the core takes it; then the name the core confirmed.
    /// Inline up to 24 bytes (nearly every nick): no allocation of its own per connection.
    nick: Option<CompactString>,
    user_given: bool,
    /// `CAP LS` or `CAP REQ` came and `CAP END` not yet: registration waits for it.
    negotiating: bool,
    /// The client enabled `server-time` (`CAP REQ :server-time`): replayed history carries the
    /// time each line was said.
    server_time: bool,
}

impl Default for Registration {
    fn default() -> Registration {
        Registration::new()
    }
}

impl Registration {
    pub fn new() -> Registration {
        Registration {
            phase: Phase::Open,
            nick: None,
            user_given: false,
            negotiating: false,
            server_time: false,
        }
    }

    /// Whether the client enabled `server-time`.
    pub fn has_server_time(&self) -> bool {
        self.server_time
    }

    /// Whether the welcome has been sent.
    pub fn is_registered(&self) -> bool {
        self.phase == Phase::Registered
    }

    /// The name replies are addressed to: the nick, or `*` before one is known.
    pub fn nick(&self) -> &str {
        self.nick.as_deref().unwrap_or("*")
    }

    /// Answers a line that is not a message: nothing for an empty one, 417 for one over the limits,
    /// and for a command that is neither letters nor digits what an unknown command gets.
    pub fn unparsed(&self, info: &ServerInfo, error: ParseError<'_>, out: &mut Vec<String>) {
        match error {
            ParseError::Empty => {}
            ParseError::TooLong | ParseError::TagsTooLong => {
                self.reply(info, out, ERR_INPUTTOOLONG, &["Input line was too long"]);
            }
            ParseError::BadCommand(_) if !self.is_registered() => self.not_registered(info, out),
            ParseError::BadCommand(word) => self.unknown(info, word, out),
        }
    }

    /// Handles one message from the client, appending replies to `out`.
    pub fn handle<'a>(
        &mut self,
        info: &ServerInfo,
        message: &Message<'a>,
        out: &mut Vec<String>,
    ) -> Step<'a> {
        let command = message.command.to_ascii_uppercase();
        match command.as_str() {
            "CAP" => self.cap(info, message, out),
            "PING" => match message.param(0) {
                Some(token) => {
                    let server = info.server_name.as_str();
                    write(out, Outgoing::new(Some(server), "PONG", &[server, token]));
                    Step::Done
                }
                None => self.need_more_params(info, "PING", out),
            },
            "PONG" => Step::Pong,
            "QUIT" => Step::Quit(message.param(0).filter(|reason| !reason.is_empty())),
            "PASS" | "USER" if self.is_registered() => {
                self.reply(
                    info,
                    out,
                    ERR_ALREADYREGISTERED,
                    &["You may not reregister"],
                );
                Step::Done
            }
            "PASS" => Step::Done,
            "USER" => self.user(info, message, out),
            "NICK" if !self.is_registered() => self.nick_given(info, message, out),
            "MOTD" if self.is_registered() => {
                self.motd(info, out);
                Step::Done
            }
            "VERSION" if self.is_registered() => {
                let about = "one thread, one event loop";
                let params = [info.version.as_str(), &info.server_name, about];
                self.reply(info, out, RPL_VERSION, &params);
                Step::Done
            }
            _ if !self.is_registered() => {
                self.not_registered(info, out);
                Step::Done
            }
            known if CHAT_COMMANDS.contains(&known) => Step::Chat,
            _ => {
                self.unknown(info, message.command, out);
                Step::Done
            }
        }
    }

    /// The chat core took the name (it said `you are NAME`, spelled as it keeps it): the welcome.
    pub fn accepted(&mut self, info: &ServerInfo, name: &str, out: &mut Vec<String>) {
        self.phase = Phase::Registered;
        self.nick = Some(name.into());
        let welcome = format!(
            "Welcome to the {} IRC network, {}",
            info.network,
            super::user_source(name)
        );
        self.reply(info, out, RPL_WELCOME, &[&welcome]);
        let host = format!(
            "Your host is {}, running version {}",
            info.server_name, info.version
        );
        self.reply(info, out, RPL_YOURHOST, &[&host]);
        let created = format!("This server was created {}", info.created);
        self.reply(info, out, RPL_CREATED, &[&created]);
        // User modes, channel modes, channel modes with a parameter: nobody has any mode, `n` (no
        // messages from outside) is simply true of every room, and `b` answers with an empty list.
        let myinfo = [info.server_name.as_str(), &info.version, "i", "bn", "b"];
        self.reply(info, out, RPL_MYINFO, &myinfo);
        let isupport = isupport(info);
        let mut params: Vec<&str> = isupport.iter().map(String::as_str).collect();
        params.push("are supported by this server");
        self.reply(info, out, RPL_ISUPPORT, &params);
        self.motd(info, out);
    }

    /// The chat core renamed the user (`NICK` after registration): replies name it from now on.
    pub fn renamed(&mut self, name: &str) {
        self.nick = Some(name.into());
    }

    /// The chat core refused the name as taken (`! the name NAME is taken`): 433, and the client
    /// sends another `NICK` (clients do so by themselves, trying their alternate nick).
    pub fn taken(&mut self, info: &ServerInfo, out: &mut Vec<String>) {
        let nick = self.nick.take().unwrap_or_default();
        self.phase = Phase::Open;
        let nick = echo(&nick);
        self.reply(
            info,
            out,
            ERR_NICKNAMEINUSE,
            &[nick, "Nickname is already in use"],
        );
    }

    fn cap<'a>(
        &mut self,
        info: &ServerInfo,
        message: &Message<'a>,
        out: &mut Vec<String>,
    ) -> Step<'a> {
        let Some(subcommand) = message.param(0) else {
            return self.need_more_params(info, "CAP", out);
        };
        let server = Some(info.server_name.as_str());
        let nick = self.nick();
        match subcommand.to_ascii_uppercase().as_str() {
            "LS" => {
                write(out, Outgoing::new(server, "CAP", &[nick, "LS", OFFERED]));
                if !self.is_registered() {
                    self.negotiating = true;
                }
                Step::Done
            }
            "LIST" => {
                let enabled = if self.server_time { OFFERED } else { "" };
                write(out, Outgoing::new(server, "CAP", &[nick, "LIST", enabled]));
                Step::Done
            }
            "REQ" => {
                let asked = message.param(1).unwrap_or("");
                match requested_server_time(asked) {
                    Some(on) => {
                        // Too long to echo (a name repeated): the outcome still answers it.
                        let outcome = if on { OFFERED } else { "-server-time" };
                        answer(out, server, nick, "ACK", asked, outcome);
                        self.server_time = on;
                    }
                    None => answer(out, server, nick, "NAK", asked, ""),
                }
                if !self.is_registered() {
                    self.negotiating = true;
                }
                Step::Done
            }
            "END" => {
                self.negotiating = false;
                self.try_claim()
            }
            _ => {
                let sub = echo(subcommand);
                self.reply(info, out, ERR_INVALIDCAPCMD, &[sub, "Invalid CAP command"]);
                Step::Done
            }
        }
    }

    fn nick_given<'a>(
        &mut self,
        info: &ServerInfo,
        message: &Message<'a>,
        out: &mut Vec<String>,
    ) -> Step<'a> {
        let Some(nick) = message.param(0).filter(|nick| !nick.is_empty()) else {
            self.reply(info, out, ERR_NONICKNAMEGIVEN, &["No nickname given"]);
            return Step::Done;
        };
        if self.phase == Phase::Claiming {
            // The edge holds lines while the core decides; if one slips through, the claim under
            // way stands.
            return Step::Done;
        }
        if let Err(error) = check_name(nick) {
            // pollchat's own reason, which shows the refused character; cleaned, since that
            // character may be a control that the writer would rightly refuse to send.
            let refused = protocol::name_refused(error);
            let refused = text::clean(refused.strip_prefix("! ").unwrap_or(&refused));
            let reason = format!("Erroneous nickname: {refused}");
            self.reply(info, out, ERR_ERRONEUSNICKNAME, &[echo(nick), &reason]);
            return Step::Done;
        }
        self.nick = Some(nick.into());
        self.try_claim()
    }

    fn user<'a>(
        &mut self,
        info: &ServerInfo,
        message: &Message<'a>,
        out: &mut Vec<String>,
    ) -> Step<'a> {
        // USER <username> <mode> <unused> :<realname>; only that it came matters: every user's
        // source is `name!name@pollchat`, so neither the username nor the real name is shown.
        if message.params().len() < 4 || message.param(0) == Some("") {
            return self.need_more_params(info, "USER", out);
        }
        self.user_given = true;
        self.try_claim()
    }

    /// [`Step::Claim`] with the nick, if registration may complete now.
    fn try_claim<'a>(&mut self) -> Step<'a> {
        if self.phase != Phase::Open || self.negotiating || !self.user_given || self.nick.is_none()
        {
            return Step::Done;
        }
        self.phase = Phase::Claiming;
        Step::Claim
    }

    /// The name to claim after a [`Step::Claim`]: the last valid nick given.
    pub fn claimed_nick(&self) -> Option<&str> {
        (self.phase == Phase::Claiming)
            .then_some(self.nick.as_deref())
            .flatten()
    }

    fn motd(&self, info: &ServerInfo, out: &mut Vec<String>) {
        if info.motd.is_empty() {
            return self.reply(info, out, ERR_NOMOTD, &["MOTD File is missing"]);
        }
        let start = format!("- {} Message of the day - ", info.server_name);
        self.reply(info, out, RPL_MOTDSTART, &[&start]);
        let source = info.server_name.as_str();
        let budget = message::text_budget(source, RPL_MOTD, self.nick()).saturating_sub(2);
        for line in &info.motd {
            for piece in message::split_text(line, budget.max(1)) {
                self.reply(info, out, RPL_MOTD, &[&format!("- {piece}")]);
            }
        }
        self.reply(info, out, RPL_ENDOFMOTD, &["End of /MOTD command."]);
    }

    fn need_more_params<'a>(
        &self,
        info: &ServerInfo,
        command: &str,
        out: &mut Vec<String>,
    ) -> Step<'a> {
        self.reply(
            info,
            out,
            ERR_NEEDMOREPARAMS,
            &[command, "Not enough parameters"],
        );
        Step::Done
    }

    fn not_registered(&self, info: &ServerInfo, out: &mut Vec<String>) {
        self.reply(info, out, ERR_NOTREGISTERED, &["You have not registered"]);
    }

    fn unknown(&self, info: &ServerInfo, command: &str, out: &mut Vec<String>) {
        self.reply(
            info,
            out,
            ERR_UNKNOWNCOMMAND,
            &[echo(command), "Unknown command"],
        );
    }

    /// A numeric from the server to this client: `:server NNN nick params...`.
    fn reply(&self, info: &ServerInfo, out: &mut Vec<String>, numeric: &str, params: &[&str]) {
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(self.nick());
        all.extend_from_slice(params);
        write(out, Outgoing::new(Some(&info.server_name), numeric, &all));
    }
}

/// The 005 tokens. `CASEMAPPING=ascii`: pollchat folds names with Unicode lower case, which is
/// exactly `ascii` for ASCII names; for others a client comparing with `ascii` may see two spellings
/// of one user as two, never two users as one (docs/irc.md, *Names*).
fn isupport(info: &ServerInfo) -> Vec<String> {
    vec![
        "CASEMAPPING=ascii".to_string(),
        format!("CHANLIMIT=#:{}", info.max_rooms_per_user),
        "CHANMODES=b,,,n".to_string(),
        format!("CHANNELLEN={}", MAX_NAME_CHARS + 1),
        "CHANTYPES=#".to_string(),
        format!("NETWORK={}", info.network),
        format!("NICKLEN={MAX_NAME_CHARS}"),
        "PREFIX=(ov)@+".to_string(),
        format!(
            "TARGMAX=KICK:{n},NOTICE:{n},PRIVMSG:{n}",
            n = super::session::MAX_TARGETS
        ),
    ]
}

/// The capabilities `CAP LS` offers, as its parameter: one, so far.
const OFFERED: &str = "server-time";

/// What `CAP REQ :LIST` asks `server-time` to become, if the server can grant the whole list: each
/// name is `server-time` (on) or `-server-time` (off), the last one says. `None`, to be NAK'd
/// whole, if any name is one we do not offer, or there is none. Asking for what is already so is
/// granted, as the specification says.
fn requested_server_time(asked: &str) -> Option<bool> {
    let mut outcome = None;
    for name in asked.split(' ').filter(|name| !name.is_empty()) {
        outcome = Some(match name.strip_prefix('-') {
            Some(OFFERED) => false,
            None if name == OFFERED => true,
            _ => return None,
        });
    }
    outcome
}

/// `CAP NICK ACK|NAK :LIST`, echoing the client's list; if that is too long to send (a client's
/// doing, so no warning), `fallback`.
fn answer(
    out: &mut Vec<String>,
    server: Option<&str>,
    nick: &str,
    verdict: &str,
    asked: &str,
    fallback: &str,
) {
    match Outgoing::new(server, "CAP", &[nick, verdict, asked]).to_line() {
        Ok(line) => out.push(line),
        Err(_) => {
            write(
                out,
                Outgoing::new(server, "CAP", &[nick, verdict, fallback]),
            );
        }
    }
}

/// A word a client sent, made safe to echo as a middle parameter: itself, or `*` if it cannot be
/// (it starts with `:` or holds a control).
fn echo(word: &str) -> &str {
    if message::is_middle(word) { word } else { "*" }
}

/// Appends a message's line to `out`; false, with a warning, if the writer refused it (a bug: every
/// part here is ours or checked).
fn write(out: &mut Vec<String>, message: Outgoing<'_>) -> bool {
    match message.to_line() {
        Ok(line) => {
            out.push(line);
            true
        }
        Err(error) => {
            warn!("IRC reply {} not sent: {error}", message.command);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One connection and what it has been sent.
    struct Client {
        info: ServerInfo,
        registration: Registration,
    }

    impl Client {
        fn new() -> Client {
            Client {
                info: ServerInfo::default(),
                registration: Registration::new(),
            }
        }

        /// Sends `line`; returns the step (as text, to own it) and the replies.
        fn send(&mut self, line: &str) -> (String, Vec<String>) {
            let mut out = Vec::new();
            let step = match message::parse(line) {
                Ok(message) => self.registration.handle(&self.info, &message, &mut out),
                Err(error) => {
                    self.registration.unparsed(&self.info, error, &mut out);
                    Step::Done
                }
            };
            (format!("{step:?}"), out)
        }

        fn replies(&mut self, line: &str) -> Vec<String> {
            self.send(line).1
        }

        /// The welcome, as if the chat core had accepted `name`.
        fn accept(&mut self, name: &str) -> Vec<String> {
            let mut out = Vec::new();
            self.registration.accepted(&self.info, name, &mut out);
            out
        }

        fn registered(name: &str) -> Client {
            let mut client = Client::new();
            client.send(&format!("NICK {name}"));
            client.send("USER u 0 * :Real Name");
            client.accept(name);
            client
        }
    }

    fn numerics(lines: &[String]) -> Vec<&str> {
        lines
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap_or(""))
            .collect()
    }

    #[test]
    fn nick_and_user_in_either_order_ask_for_the_name() {
        let mut client = Client::new();
        assert_eq!(client.send("NICK ana\r\n"), ("Done".to_string(), vec![]));
        assert_eq!(
            client.send("USER ana 0 * :Ana"),
            ("Claim".to_string(), vec![])
        );
        assert_eq!(client.registration.claimed_nick(), Some("ana"));

        let mut client = Client::new();
        assert_eq!(client.send("USER ana 0 * :Ana").0, "Done");
        assert_eq!(client.send("NICK :bea").0, "Claim");
        assert_eq!(client.registration.claimed_nick(), Some("bea"));
        assert!(!client.registration.is_registered());
    }

    #[test]
    fn the_welcome_is_001_to_005_and_the_motd() {
        let mut client = Client::new();
        client.send("NICK Ana");
        client.send("USER ana 0 * :Ana");
        let welcome = client.accept("Ana");
        assert_eq!(
            numerics(&welcome),
            ["001", "002", "003", "004", "005", "422"]
        );
        assert_eq!(
            welcome[0],
            ":irc.pollchat 001 Ana :Welcome to the pollchat IRC network, Ana!Ana@pollchat"
        );
        assert_eq!(
            welcome[3],
            ":irc.pollchat 004 Ana irc.pollchat pollchat-0.1.0 i bn b"
        );
        assert_eq!(
            welcome[4],
            ":irc.pollchat 005 Ana CASEMAPPING=ascii CHANLIMIT=#:20 CHANMODES=b,,,n CHANNELLEN=33 \
             CHANTYPES=# NETWORK=pollchat NICKLEN=32 PREFIX=(ov)@+ \
             TARGMAX=KICK:4,NOTICE:4,PRIVMSG:4 :are supported by this server"
        );
        assert_eq!(welcome[5], ":irc.pollchat 422 Ana :MOTD File is missing");
        assert!(client.registration.is_registered());
        assert_eq!(client.registration.nick(), "Ana");
    }

    #[test]
    fn a_motd_is_375_372_376_with_long_lines_split() {
        let mut client = Client::new();
        client.info.motd = vec!["hola".to_string(), "ü".repeat(400)];
        client.send("NICK ana");
        client.send("USER ana 0 * :Ana");
        let welcome = client.accept("ana");
        assert_eq!(
            &numerics(&welcome)[5..],
            ["375", "372", "372", "372", "376"]
        );
        assert_eq!(welcome[6], ":irc.pollchat 372 ana :- hola");
        assert!(welcome.iter().all(|line| line.len() <= message::MAX_BODY));
        assert_eq!(
            numerics(&client.replies("MOTD")),
            ["375", "372", "372", "372", "376"]
        );
    }

    #[test]
    fn cap_negotiation_holds_registration_until_cap_end() {
        let mut client = Client::new();
        assert_eq!(
            client.replies("CAP LS 302"),
            [":irc.pollchat CAP * LS server-time"]
        );
        client.send("NICK ana");
        assert_eq!(client.send("USER ana 0 * :Ana").0, "Done");
        assert_eq!(
            client.replies("CAP REQ :server-time"),
            [":irc.pollchat CAP ana ACK server-time"]
        );
        assert_eq!(
            client.replies("CAP LIST"),
            [":irc.pollchat CAP ana LIST server-time"]
        );
        assert_eq!(client.send("CAP END").0, "Claim");
        assert_eq!(client.registration.claimed_nick(), Some("ana"));
        assert!(client.registration.has_server_time());
    }

    #[test]
    fn cap_ls_without_302_offers_the_same() {
        let mut client = Client::new();
        assert_eq!(
            client.replies("CAP LS"),
            [":irc.pollchat CAP * LS server-time"]
        );
        assert_eq!(client.replies("CAP LIST"), [":irc.pollchat CAP * LIST :"]);
        client.send("NICK ana");
        assert_eq!(client.send("USER ana 0 * :Ana").0, "Done");
        assert_eq!(client.send("CAP END").0, "Claim");
        assert!(!client.registration.has_server_time());
    }

    #[test]
    fn a_request_is_granted_or_refused_whole() {
        let mut client = Client::new();
        // One name we do not offer: the whole request is NAK'd, server-time stays off.
        assert_eq!(
            client.replies("CAP REQ :server-time multi-prefix"),
            [":irc.pollchat CAP * NAK :server-time multi-prefix"]
        );
        assert!(!client.registration.has_server_time());
        for refused in [
            "CAP REQ",
            "CAP REQ :",
            "CAP REQ :~server-time",
            "CAP REQ :-",
        ] {
            let replies = client.replies(refused);
            assert_eq!(replies.len(), 1, "{refused}");
            assert!(
                replies[0].starts_with(":irc.pollchat CAP * NAK"),
                "{refused}"
            );
        }
        assert!(!client.registration.has_server_time());
        // Granted, and a name twice, or asking for what is already so, is still granted.
        assert_eq!(
            client.replies("CAP REQ :server-time  server-time"),
            [":irc.pollchat CAP * ACK :server-time  server-time"]
        );
        assert!(client.registration.has_server_time());
        // `-` turns it off; the last word says.
        assert_eq!(
            client.replies("CAP REQ -server-time"),
            [":irc.pollchat CAP * ACK -server-time"]
        );
        assert!(!client.registration.has_server_time());
        assert_eq!(
            client.replies("CAP REQ :-server-time server-time"),
            [":irc.pollchat CAP * ACK :-server-time server-time"]
        );
        assert!(client.registration.has_server_time());
        // A refused request changes nothing.
        client.replies("CAP REQ :-server-time sasl");
        assert!(client.registration.has_server_time());
        assert_eq!(
            client.replies("CAP list"),
            [":irc.pollchat CAP * LIST server-time"]
        );
    }

    #[test]
    fn a_request_too_long_to_echo_is_answered_by_its_outcome() {
        let mut client = Client::new();
        let many = vec!["server-time"; 41].join(" ");
        assert_eq!(
            client.replies(&format!("CAP REQ :{many}")),
            [":irc.pollchat CAP * ACK server-time"]
        );
        let many = vec!["-server-time"; 38].join(" ");
        assert_eq!(
            client.replies(&format!("CAP REQ :{many}")),
            [":irc.pollchat CAP * ACK -server-time"]
        );
        let many = vec!["nope"; 100].join(" ");
        assert_eq!(
            client.replies(&format!("CAP REQ :{many}")),
            [":irc.pollchat CAP * NAK :"]
        );
    }

    #[test]
    fn server_time_may_be_asked_for_after_the_welcome() {
        let mut client = Client::registered("ana");
        assert_eq!(
            client.replies("CAP REQ server-time"),
            [":irc.pollchat CAP ana ACK server-time"]
        );
        assert!(client.registration.has_server_time());
        // Registration is over: no CAP END is awaited.
        assert_eq!(client.send("PING x").0, "Done");
    }

    #[test]
    fn cap_errors() {
        let mut client = Client::new();
        assert_eq!(
            client.replies("CAP"),
            [":irc.pollchat 461 * CAP :Not enough parameters"]
        );
        assert_eq!(
            client.replies("CAP FOO"),
            [":irc.pollchat 410 * FOO :Invalid CAP command"]
        );
        // Without CAP LS, CAP END is harmless.
        client.send("CAP END");
        client.send("NICK ana");
        assert_eq!(client.send("USER ana 0 * :Ana").0, "Claim");
    }

    #[test]
    fn a_nick_that_is_no_pollchat_name_gets_432_with_the_reason() {
        let mut client = Client::new();
        assert_eq!(
            client.replies("NICK [ana]"),
            [
                ":irc.pollchat 432 * [ana] :Erroneous nickname: a name cannot contain '['; use \
              letters, digits, '_', '-' and '.'"
            ]
        );
        let long = "a".repeat(33);
        assert_eq!(
            client.replies(&format!("NICK {long}")),
            [format!(
                ":irc.pollchat 432 * {long} :Erroneous nickname: a name has at most 32 characters"
            )]
        );
        // A nick that cannot even be echoed is shown as `*`.
        assert_eq!(
            client.replies("NICK :x\0y"),
            [
                ":irc.pollchat 432 * * :Erroneous nickname: a name cannot contain '' (U+0000); use \
              letters, digits, '_', '-' and '.'"
            ]
        );
        assert!(client.replies("NICK ::x")[0].starts_with(":irc.pollchat 432 * * :"));
        assert_eq!(
            client.replies("NICK"),
            [":irc.pollchat 431 * :No nickname given"]
        );
        assert_eq!(
            client.replies("NICK :"),
            [":irc.pollchat 431 * :No nickname given"]
        );
        // A Unicode name is a pollchat name, so it is a nick.
        assert_eq!(client.send("NICK José").0, "Done");
        assert_eq!(client.send("USER j 0 * :J").0, "Claim");
        assert_eq!(client.registration.claimed_nick(), Some("José"));
    }

    #[test]
    fn a_taken_name_gets_433_and_another_nick_is_claimed() {
        let mut client = Client::new();
        client.send("NICK ana");
        client.send("USER ana 0 * :Ana");
        let mut out = Vec::new();
        client.registration.taken(&client.info, &mut out);
        assert_eq!(out, [":irc.pollchat 433 * ana :Nickname is already in use"]);
        assert_eq!(client.registration.claimed_nick(), None);
        assert_eq!(client.send("NICK ana_").0, "Claim");
    }

    #[test]
    fn before_registration_only_registration_ping_and_quit_are_taken() {
        let mut client = Client::new();
        for line in [
            "JOIN #dev",
            "PRIVMSG #dev :hi",
            "WHOIS ana",
            "FOO",
            "MOTD",
            "1x",
        ] {
            assert_eq!(
                client.replies(line),
                [":irc.pollchat 451 * :You have not registered"],
                "{line}"
            );
        }
        assert_eq!(
            client.replies("PING :abc def"),
            [":irc.pollchat PONG irc.pollchat :abc def"]
        );
        assert_eq!(
            client.replies("PING"),
            [":irc.pollchat 461 * PING :Not enough parameters"]
        );
        assert_eq!(client.send("PASS secret"), ("Done".to_string(), vec![]));
        assert_eq!(client.send("PONG x"), ("Pong".to_string(), vec![]));
        assert_eq!(client.replies(""), Vec::<String>::new());
        assert_eq!(client.send("QUIT :bye all").0, "Quit(Some(\"bye all\"))");
        assert_eq!(client.send("QUIT").0, "Quit(None)");
        assert_eq!(
            client.replies("USER a 0 *"),
            [":irc.pollchat 461 * USER :Not enough parameters"]
        );
    }

    #[test]
    fn after_registration_chat_commands_pass_and_others_get_421() {
        let mut client = Client::registered("ana");
        for line in [
            "JOIN #dev",
            "privmsg #dev :hi",
            "NICK bea",
            "WHO #dev",
            "MODE ana",
            "AWAY",
        ] {
            assert_eq!(client.send(line), ("Chat".to_string(), vec![]), "{line}");
        }
        assert_eq!(
            client.replies("FOO bar"),
            [":irc.pollchat 421 ana FOO :Unknown command"]
        );
        assert_eq!(
            client.replies("1x"),
            [":irc.pollchat 421 ana 1x :Unknown command"]
        );
        assert_eq!(
            client.replies("USER a 0 * :b"),
            [":irc.pollchat 462 ana :You may not reregister"]
        );
        assert_eq!(
            client.replies("PASS x"),
            [":irc.pollchat 462 ana :You may not reregister"]
        );
        assert_eq!(
            client.replies("CAP LS 302"),
            [":irc.pollchat CAP ana LS server-time"]
        );
        assert_eq!(client.send("CAP END"), ("Done".to_string(), vec![]));
        assert_eq!(
            client.replies("PING x"),
            [":irc.pollchat PONG irc.pollchat x"]
        );
    }

    #[test]
    fn an_overlong_line_gets_417_and_the_connection_goes_on() {
        let mut client = Client::new();
        let long = format!("PRIVMSG #a :{}", "x".repeat(600));
        assert_eq!(
            client.replies(&long),
            [":irc.pollchat 417 * :Input line was too long"]
        );
        let tags = format!("@a={} PING x", "v".repeat(5000));
        assert_eq!(
            client.replies(&tags),
            [":irc.pollchat 417 * :Input line was too long"]
        );
        assert_eq!(
            client.replies("PING x"),
            [":irc.pollchat PONG irc.pollchat x"]
        );
    }

    /// Whatever a client sends, registration answers within the limits and never panics.
    #[test]
    fn arbitrary_lines_never_panic() {
        let mut rng = fastrand::Rng::with_seed(18);
        let words = [
            "CAP", "LS", "302", "REQ", "END", "NICK", "USER", "PASS", "PING", "PONG", "QUIT",
            "JOIN", "MOTD", ":", "::", "@a=b", "ana", "[x]", "0", "*", "\0", "ü", "#dev", " ", "",
        ];
        for _ in 0..200 {
            let mut client = Client::new();
            for _ in 0..30 {
                let n = rng.usize(0..6);
                let line: Vec<&str> = (0..n).map(|_| words[rng.usize(0..words.len())]).collect();
                let (step, replies) = client.send(&line.join(" "));
                assert!(replies.iter().all(|r| r.len() <= message::MAX_BODY));
                if step.starts_with("Claim") {
                    let nick = client
                        .registration
                        .claimed_nick()
                        .unwrap_or_default()
                        .to_string();
                    assert!(check_name(&nick).is_ok(), "{nick:?}");
                    if rng.bool() {
                        client.accept(&nick);
                    } else {
                        client.registration.taken(&client.info, &mut Vec::new());
                    }
                }
            }
        }
    }
}
