//! The chat's notices as IRC messages, sans IO: what an IRC client is sent for each [`Notice`].
//!
//! Two entry points, because the hot path must not format per recipient (docs/irc.md, *Cost on the
//! hot path*):
//!
//! - [`room_notice`]: a notice to a whole room (or to everyone). What it becomes does not depend
//!   on who reads it (`:ana!ana@pollchat PRIVMSG #dev :hi`), so the edge formats it once per
//!   delivery and every IRC member gets a copy of the same bytes.
//! - [`to_user`]: a notice to one connection. Numerics name their recipient (`353 bea = #dev ...`),
//!   so these are formatted for it; they are `To` deliveries, one connection each anyway.
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
use crate::chat::{Leaving, Notice};

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
        } => write(out, &user_source(name), "PART", &[channel, reason]),
        // A removal is a QUIT too: the user is gone from every channel.
        Notice::Left {
            name,
            reason,
            how: Leaving::Quit | Leaving::Removed,
        } => write(out, &user_source(name), "QUIT", &[reason]),
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
        // History: each line as its author's message, so the conversation reads right. (Its time
        // would go in a `server-time` tag, once that capability is offered.)
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
        Notice::YouLeft { room } => write(out, &me(), "PART", &[room]),
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
            write(
                out,
                server,
                RPL_ENDOFNAMES,
                &[nick, room, "End of /NAMES list"],
            );
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
        Notice::Goodbye => write(out, server, "ERROR", &["Closing link (quit)"]),
        // LIST: a channel list clients show in a window of its own. The topic is not in the
        // rooms list (nor in Redis's answer on a cluster): it stays empty.
        Notice::Rooms { rooms } => {
            write(
                out,
                server,
                RPL_LISTSTART,
                &[nick, "Channel", "Users  Name"],
            );
            for (room, count, _) in rooms {
                write(out, server, RPL_LIST, &[nick, room, &count.to_string(), ""]);
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
        Notice::NotInRoom { room } => write(
            out,
            server,
            ERR_NOTONCHANNEL,
            &[nick, room, "You're not on that channel"],
        ),
        // A big room is counted, not named, on joining: the names list still ends (clients wait
        // for 366 to call a channel joined), with the user alone in it, and the count follows.
        Notice::Crowd { room, .. } => {
            write(out, server, RPL_NAMREPLY, &[nick, "=", room, nick]);
            write(
                out,
                server,
                RPL_ENDOFNAMES,
                &[nick, room, "End of /NAMES list"],
            );
            server_notice(server, nick, &notice.line(), out);
        }
        Notice::Greeting { .. }
        | Notice::NamePrompt
        | Notice::YouAre { .. }
        | Notice::NowTalking { .. }
        | Notice::NoRoomLeft
        | Notice::PrivateOut { .. } => {}
        other => server_notice(server, nick, &other.line(), out),
    }
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
            to("bea", Notice::YouLeft { room: name("#dev") }),
            ":bea!bea@pollchat PART #dev\r\n"
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
            to("bea", Notice::Goodbye),
            ":irc.pollchat ERROR :Closing link (quit)\r\n"
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
    fn the_rooms_list_is_a_channel_list() {
        let rooms = Notice::Rooms {
            rooms: vec![("#dev".into(), 3, "current"), ("#general".into(), 9, "")],
        };
        let mut out = String::new();
        to_user("irc.pollchat", "bea", &rooms, &mut out);
        assert_eq!(
            out,
            ":irc.pollchat 321 bea Channel :Users  Name\r\n\
             :irc.pollchat 322 bea #dev 3 :\r\n\
             :irc.pollchat 322 bea #general 9 :\r\n\
             :irc.pollchat 323 bea :End of /LIST\r\n"
        );
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
