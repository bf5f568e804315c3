//! The chat's notices as IRC messages, sans IO: what an IRC client is sent for each [`Notice`].
//!
//! Two entry points, because the hot path must not format per recipient (docs/irc.md, *Cost on the
//! hot path*):
//!
//! - [`room_notice`]: a notice to a whole room (or to everyone). What it becomes does not depend
//!   on who reads it (`:ana!ana@pollchat PRIVMSG #dev :hi`), so the edge formats it once per
//!   delivery and every IRC member gets a copy of the same bytes.
//! - [`to_user`]: a notice to one connection. Numerics name their recipient (`353 bea = #dev ...`),
//!   so these are formatted for it; they are `To` deliveries, one connection each anyway. A
//!   history line to a client with `server-time` goes through [`history`], which tags it with
//!   the time it was said. Live lines are never tagged: a room's notice keeps one IRC form for
//!   all its readers (docs/irc.md, *History on IRC*, says why).
//!
//! Every message ends in `\r\n` and is appended to a `String` of wire bytes. A long text becomes
//! several messages (`message::split_text`), never one over 512 bytes. Whatever has no IRC form
//! yet (`Notice::Text`) is a `NOTICE` from the server, so nothing a line user is told is lost on
//! IRC. Kinds IRC has its own way of showing (the greeting, the name prompt, "now talking in", the
//! sender's copy of a private message) are dropped: the client already shows what it did.

use log::warn;

use super::message::{self, Outgoing};
use super::numeric::*;
use super::user_source;
use crate::chat::{Leaving, Notice, OperAnswer};
use crate::protocol;

/// Appends a notice to the members of `room` (`None` for one to everyone) as IRC messages, the
/// same for every recipient. `server` is the server's source (`irc.pollchat`).
pub fn room_notice(server: &str, notice: &Notice, room: Option<&str>, out: &mut String) {
    let channel = room.unwrap_or("*");
    match notice {
        Notice::Said { room, .. } | Notice::Action { room, .. } => said(notice, room, out),
        Notice::Joined { name } => write(out, &user_source(name), "JOIN", &[channel]),
        Notice::Left {
            name,
            reason,
            how: Leaving::Parted,
        } => part(&user_source(name), channel, reason, out),
        // A removal is a QUIT too: the user is gone from every channel.
        Notice::Left {
            name,
            reason,
            how: Leaving::Quit | Leaving::Removed,
        } => {
            let source = user_source(name);
            let reason = fitted(reason, message::text_budget(&source, "QUIT", ""));
            write(out, &source, "QUIT", &[reason]);
        }
        Notice::Renamed { old, new } => write(out, &user_source(old), "NICK", &[new]),
        Notice::TopicSet { name, text } => {
            let text = message::split_text(text, topic_budget(name, channel)).next();
            write(
                out,
                &user_source(name),
                "TOPIC",
                &[channel, text.unwrap_or("")],
            );
        }
        // The rest is news from the server about the room, in the room's window.
        other => server_notice(server, channel, &other.line(), out),
    }
}

/// Appends a notice to one connection, whose nick is `nick`, as IRC messages. (`YouAre` is the
/// session's: the welcome, or a `NICK`; here it is dropped.)
pub fn to_user(server: &str, nick: &str, notice: &Notice, out: &mut String) {
    let me = || user_source(nick);
    match notice {
        // History: each line as its author's message, so the conversation reads right. Its time
        // goes only to clients with `server-time` (`history`): the others get today's bytes.
        Notice::Said { room, .. } | Notice::Action { room, .. } => said(notice, room, out),
        Notice::History { said: line, .. } => to_user(server, nick, line, out),
        Notice::PrivateIn { from, text } => {
            let source = user_source(from);
            let budget = message::text_budget(&source, "PRIVMSG", nick);
            for piece in message::split_text(text, budget) {
                write(out, &source, "PRIVMSG", &[nick, piece]);
            }
        }
        Notice::YouJoined { room } => write(out, &me(), "JOIN", &[room]),
        Notice::YouLeft { room, reason } => part(&me(), room, reason, out),
        Notice::Topic {
            room,
            text: Some(text),
        } => {
            let budget =
                message::text_budget(server, RPL_TOPIC, nick).saturating_sub(room.len() + 1);
            let text = message::split_text(text, budget).next().unwrap_or("");
            write(out, server, RPL_TOPIC, &[nick, room, text]);
        }
        Notice::Topic { room, text: None } => {
            write(out, server, RPL_NOTOPIC, &[nick, room, "No topic is set"]);
        }
        Notice::Members { room, names, .. } => {
            // `353 nick = #room :a @b c`, as many names as fit in each, then `366`.
            let budget =
                message::text_budget(server, RPL_NAMREPLY, nick).saturating_sub(room.len() + 3);
            let mut line = String::new();
            for name in names.iter() {
                if !line.is_empty() && line.len() + 1 + name.len() > budget {
                    write(out, server, RPL_NAMREPLY, &[nick, "=", room, &line]);
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(name);
            }
            if !line.is_empty() {
                write(out, server, RPL_NAMREPLY, &[nick, "=", room, &line]);
            }
            end_of_list(server, nick, Query::Names, room, out);
        }
        Notice::NameTaken { name } => {
            let name = if message::is_middle(name) { name } else { "*" };
            write(
                out,
                server,
                ERR_NICKNAMEINUSE,
                &[nick, name, "Nickname is already in use"],
            );
        }
        // The connection closes after it: IRC's last word, as for a server's KILL.
        Notice::YouWereRemoved { by, reason } => {
            let why = protocol::removed_reason(by, reason);
            closing_link(server, &why, out);
        }
        Notice::Goodbye { reason } => {
            closing_link(server, reason, out);
        }
        // LIST: a channel list clients show in a window of its own, each room with its topic.
        Notice::Rooms { rooms } => {
            write(
                out,
                server,
                RPL_LISTSTART,
                &[nick, "Channel", "Users  Name"],
            );
            for room in rooms {
                let count = room.members.to_string();
                let budget = message::text_budget(server, RPL_LIST, nick)
                    .saturating_sub(room.name.len() + count.len() + 2);
                let topic = room.topic.as_deref().unwrap_or("");
                let topic = message::split_text(topic, budget.max(1)).next();
                let params = [nick, room.name.as_str(), &count, topic.unwrap_or("")];
                // Always with its `:`: HexChat skips the topic's first character unread.
                write_trailing(out, server, RPL_LIST, &params);
            }
            write(out, server, RPL_LISTEND, &[nick, "End of /LIST"]);
        }
        // The refusals clients know by number: they show them where the user typed.
        Notice::NoSuchUser { name } => write(
            out,
            server,
            ERR_NOSUCHNICK,
            &[nick, name, "No such nick/channel"],
        ),
        Notice::NoSuchRoom { room } => write(
            out,
            server,
            ERR_NOSUCHCHANNEL,
            &[nick, room, "No such channel"],
        ),
        // OPER's answers, and a moderator's command from someone else, by number; the words are
        // pollchat's (a wait after a wrong password is a 464 too: the password was not taken).
        Notice::Oper(answer) => {
            let numeric = match answer {
                OperAnswer::Granted => RPL_YOUREOPER,
                OperAnswer::WrongPassword | OperAnswer::TooSoon { .. } => ERR_PASSWDMISMATCH,
                OperAnswer::NoOperators => ERR_NOOPERHOST,
                OperAnswer::OperatorsOnly { .. } => ERR_NOPRIVILEGES,
            };
            let words = notice.line();
            let words = words.strip_prefix("! ").or(words.strip_prefix("*** "));
            write(out, server, numeric, &[nick, words.unwrap_or_default()]);
        }
        // 479 ERR_BADCHANNAME (as hybrid, charybdis and inspircd send it), with pollchat's rule
        // for names; the name as typed if it can be a parameter at all.
        Notice::BadRoomName { room } => {
            let room = if message::is_middle(room) { room } else { "*" };
            let reason = notice.line();
            let reason = reason.strip_prefix("! ").unwrap_or(&reason);
            write(out, server, ERR_BADCHANNAME, &[nick, room, reason]);
        }
        Notice::NotInRoom { room } => write(
            out,
            server,
            ERR_NOTONCHANNEL,
            &[nick, room, "You're not on that channel"],
        ),
        Notice::TooManyRooms { room, .. } | Notice::RoomsFull { room, .. } => {
            let line = notice.line();
            let reason = line.strip_prefix("! ").unwrap_or(&line);
            write(out, server, ERR_TOOMANYCHANNELS, &[nick, room, reason]);
        }
        Notice::ListTooOften { room, secs } => {
            too_often(server, nick, Query::Names, room, *secs, out);
        }
        // A big room is counted, not named, on joining: the names list still ends (clients wait
        // for 366 to call a channel joined), with the user alone in it, and the count follows.
        Notice::Crowd { room, .. } => {
            write(out, server, RPL_NAMREPLY, &[nick, "=", room, nick]);
            end_of_list(server, nick, Query::Names, room, out);
            server_notice(server, nick, &notice.line(), out);
        }
        // In the channel's window, where its history follows (not the server's).
        Notice::HistoryHeader { room, .. } => server_notice(server, room, &notice.line(), out),
        Notice::Greeting { .. }
        | Notice::NamePrompt
        | Notice::YouAre { .. }
        | Notice::NowTalking { .. }
        | Notice::NoRoomLeft
        | Notice::PrivateOut { .. } => {}
        other => server_notice(server, nick, &other.line(), out),
    }
}

/// A history line to a client with `server-time`: what [`to_user`] makes of it, each message
/// tagged with the time the line was said (`@time=2026-12-06T03:34:10.000Z`), so the client shows
/// it at that time rather than when it arrives. A line of unknown time (0) goes untagged. Tags do
/// not count toward the 512 bytes of a message, so the untagged messages only gain a prefix.
pub fn history(server: &str, nick: &str, at: u64, said: &Notice, out: &mut String) {
    if at == 0 {
        return to_user(server, nick, said, out);
    }
    let mut untagged = String::new();
    to_user(server, nick, said, &mut untagged);
    let tag = time_tag(at);
    for message in untagged.split_inclusive("\r\n") {
        out.push_str(&tag);
        out.push_str(message);
    }
}

/// `@time=YYYY-MM-DDThh:mm:ss.sssZ ` for a time in Unix seconds: the `server-time` tag, with the
/// milliseconds it requires (zero: history keeps seconds). Nothing in it needs escaping.
fn time_tag(at: u64) -> String {
    let time = protocol::utc_time(at);
    let seconds = time.strip_suffix('Z').unwrap_or(&time);
    format!("@time={seconds}.000Z ")
}

/// The answer to `WHOIS whom` from `nick`: `311` with the user's name as the chat spells it (user
/// and host as every pollchat user has them, no address shown), then `318`; or `401` and `318` if
/// there is no such user (`found`: what the chat answered).
pub fn whois(server: &str, nick: &str, whom: &str, found: Option<&str>, out: &mut String) {
    match found {
        Some(name) => write(
            out,
            server,
            RPL_WHOISUSER,
            &[nick, name, name, super::USER_HOST, "*", name],
        ),
        None => write(
            out,
            server,
            ERR_NOSUCHNICK,
            &[nick, whom, "No such nick/channel"],
        ),
    }
    let end = "End of /WHOIS list";
    write(
        out,
        server,
        RPL_ENDOFWHOIS,
        &[nick, found.unwrap_or(whom), end],
    );
}

/// Which member list a user asked for: the core answers both with its member list of the room
/// (`/list #room`), and the IRC face words it as the one asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// `NAMES #room` (and a join's names list): 353s and 366.
    Names,
    /// `WHO #room`: a 352 per member and 315.
    Who,
}

/// `WHO #room` answered: a `352` per member (`@name` is an operator: flag `H@`), then `315`. A big
/// room (over `big`, `--announce-limit`) is counted instead, in a NOTICE, and the list ends: a 352
/// for each of thousands would fill the client's queue (`--max-queue`) for a list nobody reads.
pub fn who_members(
    server: &str,
    nick: &str,
    room: &str,
    names: &[compact_str::CompactString],
    big: usize,
    out: &mut String,
) {
    if names.len() > big {
        let count = format!("{room}: {} online, too many to list", names.len());
        server_notice(server, nick, &count, out);
    } else {
        for name in names {
            let (name, flags) = match name.strip_prefix('@') {
                Some(operator) => (operator, "H@"),
                None => (name.as_str(), "H"),
            };
            who_reply(server, nick, room, name, flags, out);
        }
    }
    end_of_list(server, nick, Query::Who, room, out);
}

/// `WHO nick` answered: a `352` for the user (`found`, as the chat spells the name; no channel is
/// shown, as WHOIS shows none), then `315` with the mask as asked.
pub fn who_user(server: &str, nick: &str, mask: &str, found: Option<&str>, out: &mut String) {
    if let Some(name) = found {
        who_reply(server, nick, "*", name, "H", out);
    }
    end_of_list(server, nick, Query::Who, mask, out);
}

/// `352 nick channel user host server name flags :0 realname`: every pollchat user is
/// `name!name@pollchat` and "here", with no other hop and its name for a real name.
fn who_reply(server: &str, nick: &str, channel: &str, name: &str, flags: &str, out: &mut String) {
    let realname = format!("0 {name}");
    let params = [
        nick,
        channel,
        name,
        super::USER_HOST,
        server,
        name,
        flags,
        &realname,
    ];
    write(out, server, RPL_WHOREPLY, &params);
}

/// The end of a member list: `366` for NAMES, `315` for WHO.
pub fn end_of_list(server: &str, nick: &str, query: Query, room: &str, out: &mut String) {
    match query {
        Query::Names => write(
            out,
            server,
            RPL_ENDOFNAMES,
            &[nick, room, "End of /NAMES list"],
        ),
        Query::Who => write(out, server, RPL_ENDOFWHO, &[nick, room, "End of WHO list"]),
    }
}

/// `263`: a big room's member list asked for again within `secs`, then the list's end anyway, as
/// other servers do: a client waiting for the end of a list it asked for (irssi's channel sync
/// waits for 315) is not left waiting.
pub fn too_often(server: &str, nick: &str, query: Query, room: &str, secs: u64, out: &mut String) {
    let command = match query {
        Query::Names => "NAMES",
        Query::Who => "WHO",
    };
    let reason = format!(
        "Please wait a while and try again: {room} is big, its member list is served once every \
         {secs} s"
    );
    write(out, server, RPL_TRYAGAIN, &[nick, command, &reason]);
    end_of_list(server, nick, query, room, out);
}

/// The answer to `TIME` from `nick`: `391` with the UTC time `unix` (seconds), as history shows it.
pub fn time(server: &str, nick: &str, unix: u64, out: &mut String) {
    write(
        out,
        server,
        RPL_TIME,
        &[nick, server, &protocol::utc_time(unix)],
    );
}

/// The answer to `ISON` from `nick`: `303` with the names of those asked about who are online,
/// as the chat spells them (`online`: what the chat found), as many as fit in one message.
pub fn ison(server: &str, nick: &str, online: &[&str], out: &mut String) {
    let budget = message::text_budget(server, RPL_ISON, nick);
    let names = words_within(online.iter().map(|name| name.to_string()), budget);
    write_trailing(out, server, RPL_ISON, &[nick, &names]);
}

/// The answer to `USERHOST` from `nick`: `302` with `name=+name@pollchat` for each user asked
/// about who is online (`+`: nobody is away to others on pollchat), as many as fit.
pub fn userhost(server: &str, nick: &str, online: &[&str], out: &mut String) {
    let budget = message::text_budget(server, RPL_USERHOST, nick);
    let replies = online
        .iter()
        .map(|name| format!("{name}=+{name}@{}", super::USER_HOST));
    let replies = words_within(replies, budget);
    write_trailing(out, server, RPL_USERHOST, &[nick, &replies]);
}

/// `words` joined with spaces, stopping before the first that would make it over `budget` bytes.
fn words_within(words: impl Iterator<Item = String>, budget: usize) -> String {
    let mut line = String::new();
    for word in words {
        let needed = word.len() + usize::from(!line.is_empty());
        if line.len() + needed > budget {
            break;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    line
}

/// A chat or action line as its author's `PRIVMSG` to `room` (an action as CTCP ACTION).
fn said(notice: &Notice, room: &str, out: &mut String) {
    let (Some(author), Some(words)) = (notice.author(), notice.words()) else {
        return;
    };
    let source = user_source(author);
    let budget = message::text_budget(&source, "PRIVMSG", room);
    if let Notice::Action { .. } = notice {
        // `\x01ACTION ` and `\x01`: 9 bytes of each message.
        for piece in message::split_text(words, budget.saturating_sub(9).max(1)) {
            let text = format!("\x01ACTION {piece}\x01");
            write(out, &source, "PRIVMSG", &[room, &text]);
        }
    } else {
        for piece in message::split_text(words, budget) {
            write(out, &source, "PRIVMSG", &[room, piece]);
        }
    }
}

/// A line of the line protocol as `NOTICE target :text` from the server, without its class marker
/// (`*** `, `! `): the client shows whose notice it is.
fn server_notice(server: &str, target: &str, line: &str, out: &mut String) {
    let text = line
        .strip_prefix("*** ")
        .or_else(|| line.strip_prefix("! "))
        .unwrap_or(line);
    let budget = message::text_budget(server, "NOTICE", target);
    for piece in message::split_text(text, budget) {
        write(out, server, "NOTICE", &[target, piece]);
    }
}

/// `:source PART #room :reason`, the reason cut to fit one message: a client must get its PART,
/// or it keeps the channel open.
fn part(source: &str, channel: &str, reason: &str, out: &mut String) {
    let reason = fitted(reason, message::text_budget(source, "PART", channel));
    write(out, source, "PART", &[channel, reason]);
}

/// `ERROR :Closing link (why)`, the server's last word before it closes the connection, cut to fit.
pub fn closing_link(server: &str, why: &str, out: &mut String) {
    let line = format!("Closing link ({why})");
    write(
        out,
        server,
        "ERROR",
        &[fitted(&line, message::text_budget(server, "ERROR", ""))],
    );
}

/// As much of `text` as fits in `budget` bytes (a reason a user typed may be longer than what is
/// left of a message once its source and channel are in).
fn fitted(text: &str, budget: usize) -> &str {
    message::split_text(text, budget.max(1))
        .next()
        .unwrap_or("")
}

/// How many bytes of a topic fit in `:name!name@pollchat TOPIC #room :text`.
fn topic_budget(name: &str, channel: &str) -> usize {
    message::text_budget(&user_source(name), "TOPIC", channel).max(1)
}

/// Appends one message and its `\r\n`. A refusal of the writer is a bug upstream (every part is a
/// checked name or cleaned text): loud, and nothing is sent in its place.
pub fn write(out: &mut String, source: &str, command: &str, params: &[&str]) {
    framed(out, command, |out| {
        Outgoing::new(Some(source), command, params).write(out)
    });
}

/// As [`write`], with the last parameter always written as a trailing one (`:bob`), for the replies
/// HexChat reads assuming it is (`Outgoing::write_trailing`).
pub fn write_trailing(out: &mut String, source: &str, command: &str, params: &[&str]) {
    framed(out, command, |out| {
        Outgoing::new(Some(source), command, params).write_trailing(out)
    });
}

fn framed(
    out: &mut String,
    command: &str,
    write: impl FnOnce(&mut String) -> Result<(), message::WriteError>,
) {
    match write(out) {
        Ok(()) => out.push_str("\r\n"),
        Err(error) => warn!("IRC {command} not sent: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compact_str::CompactString;

    const SERVER: &str = "irc.pollchat";

    fn room(notice: Notice) -> String {
        let mut out = String::new();
        room_notice(SERVER, &notice, Some("#dev"), &mut out);
        out
    }

    fn to(nick: &str, notice: Notice) -> String {
        let mut out = String::new();
        to_user(SERVER, nick, &notice, &mut out);
        out
    }

    #[test]
    fn room_notices_are_what_irc_clients_expect() {
        assert_eq!(
            room(Notice::said("#dev", "ana", "hi :) there")),
            ":ana!ana@pollchat PRIVMSG #dev :hi :) there\r\n"
        );
        assert_eq!(
            room(Notice::action("#dev", "ana", "waves")),
            ":ana!ana@pollchat PRIVMSG #dev :\x01ACTION waves\x01\r\n"
        );
        assert_eq!(
            room(Notice::joined("ana")),
            ":ana!ana@pollchat JOIN #dev\r\n"
        );
        assert_eq!(
            room(Notice::left("ana", "parted", Leaving::Parted)),
            ":ana!ana@pollchat PART #dev parted\r\n"
        );
        assert_eq!(
            room(Notice::left("ana", "see you", Leaving::Quit)),
            ":ana!ana@pollchat QUIT :see you\r\n"
        );
        assert_eq!(
            room(Notice::renamed("ana", "anita")),
            ":ana!ana@pollchat NICK anita\r\n"
        );
        assert_eq!(
            room(Notice::topic_set("ana", "ship it")),
            ":ana!ana@pollchat TOPIC #dev :ship it\r\n"
        );
        assert_eq!(
            room(Notice::Text("*** 37 joined, 2 left".into())),
            ":irc.pollchat NOTICE #dev :37 joined, 2 left\r\n"
        );
        let mut everyone = String::new();
        let lost = Notice::Text("*** cluster link lost; local users only".into());
        room_notice(SERVER, &lost, None, &mut everyone);
        assert_eq!(
            everyone,
            ":irc.pollchat NOTICE * :cluster link lost; local users only\r\n"
        );
    }

    #[test]
    fn long_text_is_several_messages_within_512_bytes() {
        let text = "ü".repeat(400);
        for notice in [
            Notice::said("#dev", "ana", &text),
            Notice::action("#dev", "ana", &text),
        ] {
            let out = room(notice);
            let lines: Vec<&str> = out.split_terminator("\r\n").collect();
            assert_eq!(lines.len(), 2);
            assert!(lines.iter().all(|l| l.len() <= message::MAX_BODY));
            let words: String = lines
                .iter()
                .filter_map(|l| message::parse(l).ok()?.param(1))
                .map(|t| t.trim_start_matches("\x01ACTION ").trim_end_matches('\x01'))
                .collect();
            assert_eq!(words, text);
        }
    }

    #[test]
    fn notices_to_one_user() {
        let name = CompactString::from;
        assert_eq!(
            to("bea", Notice::private_in("ana", "psst")),
            ":ana!ana@pollchat PRIVMSG bea psst\r\n"
        );
        assert_eq!(to("bea", Notice::private_out("ana", "psst")), "");
        assert_eq!(
            to("bea", Notice::YouJoined { room: name("#dev") }),
            ":bea!bea@pollchat JOIN #dev\r\n"
        );
        assert_eq!(
            to(
                "bea",
                Notice::YouLeft {
                    room: name("#dev"),
                    reason: "off to lunch".into()
                }
            ),
            ":bea!bea@pollchat PART #dev :off to lunch\r\n"
        );
        assert_eq!(
            to(
                "bea",
                Notice::Topic {
                    room: name("#dev"),
                    text: Some("ship it".into())
                }
            ),
            ":irc.pollchat 332 bea #dev :ship it\r\n"
        );
        assert_eq!(
            to(
                "bea",
                Notice::Topic {
                    room: name("#dev"),
                    text: None
                }
            ),
            ":irc.pollchat 331 bea #dev :No topic is set\r\n"
        );
        assert_eq!(
            to(
                "bea",
                Notice::Members {
                    room: name("#dev"),
                    names: Box::new([name("@ana"), name("bea")]),
                    in_front: true,
                }
            ),
            ":irc.pollchat 353 bea = #dev :@ana bea\r\n:irc.pollchat 366 bea #dev :End of /NAMES list\r\n"
        );
        assert_eq!(
            to("bea", Notice::NameTaken { name: name("Ana") }),
            ":irc.pollchat 433 bea Ana :Nickname is already in use\r\n"
        );
        assert_eq!(
            to(
                "bea",
                Notice::Goodbye {
                    reason: "see you".into()
                }
            ),
            ":irc.pollchat ERROR :Closing link (see you)\r\n"
        );
        assert_eq!(
            to("bea", Notice::Text("! no such user: cid".into())),
            ":irc.pollchat NOTICE bea :no such user: cid\r\n"
        );
        for dropped in [
            Notice::Greeting { online: 2 },
            Notice::NamePrompt,
            Notice::NoRoomLeft,
            Notice::NowTalking { room: name("#dev") },
        ] {
            assert_eq!(to("bea", dropped), "");
        }
        // History: the author's words in the room.
        assert_eq!(
            to("bea", Notice::said("#dev", "ana", "earlier")),
            ":ana!ana@pollchat PRIVMSG #dev earlier\r\n"
        );
    }

    #[test]
    fn a_crowd_is_several_353s_within_512_bytes() {
        let names: Box<[CompactString]> = (0..300)
            .map(|i| CompactString::from(format!("user{i:04}")))
            .collect();
        let out = to(
            "bea",
            Notice::Members {
                room: "#dev".into(),
                names,
                in_front: false,
            },
        );
        let lines: Vec<&str> = out.split_terminator("\r\n").collect();
        assert!(lines.len() > 3);
        assert!(lines.iter().all(|l| l.len() <= message::MAX_BODY));
        let listed: usize = lines
            .iter()
            .filter(|l| l.contains(" 353 "))
            .map(|l| l.split_once(" :").map_or(0, |(_, t)| t.split(' ').count()))
            .sum();
        assert_eq!(listed, 300);
        assert!(lines.last().is_some_and(|l| l.contains(" 366 ")));
    }

    #[test]
    fn history_is_replayed_as_its_authors_messages() {
        let said = Notice::said("#dev", "ana", "earlier");
        let mut plain = String::new();
        to_user("irc.pollchat", "bea", &said, &mut plain);
        let history = Notice::History {
            at: 1_796_518_450,
            said: Box::new(said),
        };
        let mut replayed = String::new();
        to_user("irc.pollchat", "bea", &history, &mut replayed);
        assert_eq!(replayed, plain);
        assert_eq!(replayed, ":ana!ana@pollchat PRIVMSG #dev earlier\r\n");
        // Its header goes to the channel, where the lines are shown, not to the server's window.
        let header = Notice::HistoryHeader {
            room: "#dev".into(),
            lines: 1,
        };
        assert_eq!(header.line(), "*** recent messages (1):");
        let mut out = String::new();
        to_user("irc.pollchat", "bea", &header, &mut out);
        assert_eq!(out, ":irc.pollchat NOTICE #dev :recent messages (1):\r\n");
    }

    #[test]
    fn history_carries_its_time_for_clients_with_server_time() {
        let mut out = String::new();
        let said = Notice::said("#dev", "ana", "earlier");
        // 2026-12-06T03:34:10Z, as the line face shows it.
        history(SERVER, "bea", 1_796_528_050, &said, &mut out);
        assert_eq!(
            out,
            "@time=2026-12-06T03:34:10.000Z :ana!ana@pollchat PRIVMSG #dev earlier\r\n"
        );
        // Every message of a long line carries it, and each stays within 512 bytes after it.
        let mut out = String::new();
        let long = Notice::action("#dev", "ana", &"ü".repeat(400));
        history(SERVER, "bea", 1_796_528_050, &long, &mut out);
        let messages: Vec<&str> = out.split_terminator("\r\n").collect();
        assert_eq!(messages.len(), 2);
        for line in messages {
            let (tag, body) = line.split_once(' ').unwrap_or_default();
            assert_eq!(tag, "@time=2026-12-06T03:34:10.000Z");
            assert!(body.len() <= message::MAX_BODY);
            let tags: Vec<_> = message::parse(line).iter().flat_map(|m| m.tags()).collect();
            assert_eq!(tags.len(), 1);
            assert_eq!(tags[0].value(), "2026-12-06T03:34:10.000Z");
        }
        // A line of unknown time: no tag rather than 1970.
        let mut out = String::new();
        history(SERVER, "bea", 0, &said, &mut out);
        assert_eq!(out, ":ana!ana@pollchat PRIVMSG #dev earlier\r\n");
    }

    #[test]
    fn a_big_room_still_ends_its_names_list() {
        let crowd = Notice::Crowd {
            room: "#general".into(),
            count: 250,
        };
        let mut out = String::new();
        to_user("irc.pollchat", "bea", &crowd, &mut out);
        assert_eq!(
            out,
            ":irc.pollchat 353 bea = #general bea\r\n\
             :irc.pollchat 366 bea #general :End of /NAMES list\r\n\
             :irc.pollchat NOTICE bea :250 online (/list to see them)\r\n"
        );
    }

    #[test]
    fn refusals_clients_know_by_number_get_their_numerics() {
        let cases = [
            (
                Notice::NoSuchUser { name: "zed".into() },
                ":irc.pollchat 401 bea zed :No such nick/channel\r\n",
            ),
            (
                Notice::NoSuchRoom {
                    room: "#nope".into(),
                },
                ":irc.pollchat 403 bea #nope :No such channel\r\n",
            ),
            (
                Notice::NotInRoom {
                    room: "#dev".into(),
                },
                ":irc.pollchat 442 bea #dev :You're not on that channel\r\n",
            ),
        ];
        for (notice, want) in cases {
            let mut out = String::new();
            to_user("irc.pollchat", "bea", &notice, &mut out);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn the_rooms_list_is_a_channel_list_with_topics() {
        let listed = |name: &str, members, mark, topic: Option<&str>| crate::chat::ListedRoom {
            name: name.into(),
            members,
            mark,
            topic: topic.map(str::to_string),
        };
        let rooms = Notice::Rooms {
            rooms: vec![
                listed("#dev", 3, "current", Some("ship it: friday")),
                listed("#general", 9, "", None),
            ],
        };
        assert_eq!(
            to("bea", rooms),
            ":irc.pollchat 321 bea Channel :Users  Name\r\n\
             :irc.pollchat 322 bea #dev 3 :ship it: friday\r\n\
             :irc.pollchat 322 bea #general 9 :\r\n\
             :irc.pollchat 323 bea :End of /LIST\r\n"
        );
        // A topic too long for one message is cut, never sent over 512 bytes.
        let long = Notice::Rooms {
            rooms: vec![listed("#dev", 3, "", Some(&"ü".repeat(400)))],
        };
        let out = to("bea", long);
        let lines: Vec<&str> = out.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].len() <= message::MAX_BODY && lines[1].len() > 400);
        let topic = message::parse(lines[1]).ok().and_then(|m| m.param(3));
        assert!(topic.is_some_and(|t| "ü".repeat(400).starts_with(t)));
    }

    /// A reason as long as a line allows still gives its PART, QUIT or ERROR, cut to 512 bytes:
    /// a client that missed its own PART would keep the channel open.
    #[test]
    fn long_reasons_are_cut_never_dropped() {
        let long = "ü".repeat(300);
        let own_part = Notice::YouLeft {
            room: "#general".into(),
            reason: long.clone(),
        };
        let others = [
            room(Notice::left("ana", &long, Leaving::Parted)),
            room(Notice::left("ana", &long, Leaving::Quit)),
            to("ana", own_part),
            to(
                "ana",
                Notice::Goodbye {
                    reason: long.clone(),
                },
            ),
        ];
        for (out, start) in others.iter().zip([
            ":ana!ana@pollchat PART #dev üü",
            ":ana!ana@pollchat QUIT üü",
            ":ana!ana@pollchat PART #general üü",
            ":irc.pollchat ERROR :Closing link (üü",
        ]) {
            assert!(out.starts_with(start), "{out}");
            assert!(
                out.len() <= message::MAX_BODY + 2 && out.len() > 400,
                "{out}"
            );
            assert_eq!(out.matches("\r\n").count(), 1, "{out}");
        }
    }

    #[test]
    fn a_removed_user_is_told_why_in_the_closing_error() {
        let removed = Notice::YouWereRemoved {
            by: "teacher".into(),
            reason: "spam".into(),
        };
        assert_eq!(removed.line(), "! you were removed by teacher (spam)");
        assert_eq!(
            to("ana", removed),
            ":irc.pollchat ERROR :Closing link (removed by teacher (spam))\r\n"
        );
    }

    #[test]
    fn a_bad_room_name_is_479_with_pollchats_rule() {
        let bad = |room: &str| {
            let room = room.into();
            to("bea", Notice::BadRoomName { room })
        };
        assert_eq!(
            bad("dev"),
            ":irc.pollchat 479 bea dev :a room name is # and 1 to 32 letters, digits, '_', '-' or \
             '.'\r\n"
        );
        // A name that cannot be a parameter is not echoed.
        assert!(bad(":x").starts_with(":irc.pollchat 479 bea * :a room name"));
    }

    #[test]
    fn room_limits_are_405_with_pollchats_reason() {
        assert_eq!(
            to(
                "bea",
                Notice::TooManyRooms {
                    room: "#x".into(),
                    max: 3
                }
            ),
            ":irc.pollchat 405 bea #x :you are in 3 rooms, the most allowed; /part one first\r\n"
        );
        assert_eq!(
            to(
                "bea",
                Notice::RoomsFull {
                    room: "#x".into(),
                    max: 4
                }
            ),
            ":irc.pollchat 405 bea #x :the server has 4 rooms, the most allowed\r\n"
        );
    }

    #[test]
    fn names_too_often_is_263_and_the_list_still_ends() {
        let too_often = Notice::ListTooOften {
            room: "#general".into(),
            secs: 2,
        };
        assert_eq!(
            to("bea", too_often),
            ":irc.pollchat 263 bea NAMES :Please wait a while and try again: #general is big, \
             its member list is served once every 2 s\r\n\
             :irc.pollchat 366 bea #general :End of /NAMES list\r\n"
        );
    }

    #[test]
    fn who_lists_each_member_marking_operators_or_counts_a_big_room() {
        let names: Vec<CompactString> = vec!["@ana".into(), "bea".into()];
        let mut out = String::new();
        who_members(SERVER, "bea", "#dev", &names, 2, &mut out);
        assert_eq!(
            out,
            ":irc.pollchat 352 bea #dev ana pollchat irc.pollchat ana H@ :0 ana\r\n\
             :irc.pollchat 352 bea #dev bea pollchat irc.pollchat bea H :0 bea\r\n\
             :irc.pollchat 315 bea #dev :End of WHO list\r\n"
        );
        let mut out = String::new();
        who_members(SERVER, "bea", "#dev", &names, 1, &mut out);
        assert_eq!(
            out,
            ":irc.pollchat NOTICE bea :#dev: 2 online, too many to list\r\n\
             :irc.pollchat 315 bea #dev :End of WHO list\r\n"
        );
    }

    #[test]
    fn who_of_a_nick_is_one_352_or_none() {
        let mut out = String::new();
        who_user(SERVER, "ana", "bea", Some("Bea"), &mut out);
        assert_eq!(
            out,
            ":irc.pollchat 352 ana * Bea pollchat irc.pollchat Bea H :0 Bea\r\n\
             :irc.pollchat 315 ana bea :End of WHO list\r\n"
        );
        let mut out = String::new();
        who_user(SERVER, "ana", "zed", None, &mut out);
        assert_eq!(out, ":irc.pollchat 315 ana zed :End of WHO list\r\n");
    }

    #[test]
    fn ison_and_userhost_name_who_is_online_in_one_message() {
        let mut out = String::new();
        ison(SERVER, "bea", &["Ana", "cy"], &mut out);
        ison(SERVER, "bea", &[], &mut out);
        userhost(SERVER, "bea", &["Ana"], &mut out);
        assert_eq!(
            out,
            ":irc.pollchat 303 bea :Ana cy\r\n\
             :irc.pollchat 303 bea :\r\n\
             :irc.pollchat 302 bea :Ana=+Ana@pollchat\r\n"
        );
        // Five of the longest names (32 four-byte characters) do not fit: as many as do are sent.
        let long = "\u{10348}".repeat(32);
        let names = [long.as_str(); 5];
        out.clear();
        userhost(SERVER, "bea", &names, &mut out);
        assert!(out.len() <= message::MAX_BODY + 2);
        assert_eq!(out.matches("@pollchat").count(), 1);
        out.clear();
        ison(SERVER, "bea", &names, &mut out);
        assert_eq!(out.matches(long.as_str()).count(), 3);
    }
}
