//! What a delivery says: a [`Notice`], worded by each face.
//!
//! The chat core used to hand the edge finished lines of the line protocol (`*** ana joined`,
//! `<ana> hi`). A line client wants exactly those; an IRC client wants structure (`:ana!ana@pollchat
//! JOIN #dev`), and some lines cannot be parsed back at all (`*** ana left (parted)` is a PART or a
//! QUIT depending on who wrote it). So a delivery carries a notice that says *what happened*, in
//! pollchat's terms, and each face words it: [`Notice::line`] is the line face's wording, byte for
//! byte what `protocol.rs` has always said (the tests below hold it to that), and the IRC face will
//! have its own (docs/irc.md).
//!
//! [`Notice::Text`] is a line not yet given a structure: the line face sends it as is. Kinds are
//! given structure one at a time, those IRC needs first.
//!
//! Chat and action lines keep their text: a [`Notice::Said`] *is* `<ana> hi` plus where the name
//! ends in it, so the line face sends it without formatting anything, and IRC slices the name and
//! the text out of it. History and the cluster keep plain lines; [`Notice::from_chat_line`] turns one
//! back into a notice, exactly (a name never holds a space or `>`).

use std::borrow::Cow;

use compact_str::CompactString;

use crate::protocol;
use crate::text::check_name;

/// How a user left a room: IRC tells a PART (that room only) from a QUIT (every room), and the line
/// protocol words both as `*** ana left (REASON)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    /// `/part`: out of this room, still connected and in the others.
    Parted,
    /// Gone from the chat: `/quit`, a lost connection, a node down.
    Quit,
    /// Removed by a moderator (`/kick`, `/ban`): gone from the chat too. The reason is what
    /// happened, `removed by teacher (spam)`, and the line says it as `*** ana was removed by
    /// teacher (spam)`; IRC tells it as a QUIT, so clients take the nick off every channel.
    Removed,
}

/// The answer to `/oper PASSWORD`, or to a moderator's command from a user who is not one: IRC
/// clients know each by its number (381, 464, 491, 481).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperAnswer {
    /// `*** you are now an operator`.
    Granted,
    /// `! wrong password`.
    WrongPassword,
    /// `! too soon after a wrong password; try again in N s`.
    TooSoon { secs: u64 },
    /// `! there are no operators on this server`.
    NoOperators,
    /// `! only operators may use /kick`: a moderator's command from someone else.
    OperatorsOnly { command: &'static str },
}

/// One thing the chat tells its users. See the module's documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `<ana> hi`, said in `room`: the line exactly as sent and stored, and where the name ends in
    /// it (`line[1..name_end]` is the name, the text starts at `name_end + 2`). Build it with
    /// [`Notice::said`] or [`Notice::from_chat_line`].
    Said {
        room: CompactString,
        line: String,
        name_end: u8,
    },
    /// `* ana waves`, done in `room`: `line[2..name_end]` is the name, the text starts at
    /// `name_end + 1`. Build it with [`Notice::action`] or [`Notice::from_chat_line`].
    Action {
        room: CompactString,
        line: String,
        name_end: u8,
    },
    /// `*** ana joined` (the room is the delivery's).
    Joined { name: CompactString },
    /// `*** ana left (REASON)`, after a part or a quit.
    Left {
        name: CompactString,
        reason: String,
        how: Leaving,
    },
    /// `*** ana is now anita`.
    Renamed {
        old: CompactString,
        new: CompactString,
    },
    /// `*** ana set the topic: TEXT` (the room is the delivery's).
    TopicSet { name: CompactString, text: String },
    /// `[ana -> you] TEXT`: a private message to the recipient.
    PrivateIn { from: CompactString, text: String },
    /// `[you -> bea] TEXT`: the sender's copy of its private message, with the name as its
    /// recipient spells it.
    PrivateOut { to: CompactString, text: String },
    /// `*** welcome to pollchat ...; N online`, on connecting.
    Greeting { online: usize },
    /// `*** your name?`: the connection may (again) give a name.
    NamePrompt,
    /// `*** you are NAME`: the name was taken, on joining or on a rename, spelled as the chat keeps
    /// it. IRC welcomes (the first time) or says `NICK` (after).
    YouAre { name: CompactString },
    /// `! the name NAME is taken`, for a first name or a rename.
    NameTaken { name: CompactString },
    /// `*** you joined #room`.
    YouJoined { room: CompactString },
    /// `*** now talking in #room`: a room one is in became current.
    NowTalking { room: CompactString },
    /// `*** you left #room`. The reason is what the room heard (IRC echoes it in the PART).
    YouLeft { room: CompactString, reason: String },
    /// `*** you are in no room; ...`, after parting the last one.
    NoRoomLeft,
    /// `*** topic: TEXT`, or with no text `*** no topic; ...`: the topic of `room`.
    Topic {
        room: CompactString,
        text: Option<String>,
    },
    /// `*** online (N): a, @b, c`: who is in `room`, in the order to show, operators marked `@`.
    /// `in_front`: the line face puts the room's name in front (`/list #other`).
    Members {
        room: CompactString,
        names: Box<[CompactString]>,
        in_front: bool,
    },
    /// `*** bye`, before the close that follows a quit. The reason is what the rooms heard (IRC
    /// says it in the closing `ERROR`).
    Goodbye { reason: String },
    /// `*** rooms (2): #dev (3, current), #general (9, joined)`: every room, in the order to show.
    Rooms { rooms: Vec<ListedRoom> },
    /// `! no such user: NAME`: a private message (or a kick) to nobody of that name.
    NoSuchUser { name: CompactString },
    /// `! no such room: #ROOM`.
    NoSuchRoom { room: CompactString },
    /// The answer to `/oper`.
    Oper(OperAnswer),
    /// `! you were removed by teacher (why)`: the last a removed user is told before the close.
    YouWereRemoved { by: CompactString, reason: String },
    /// `! a room name is # and 1 to 32 letters, ...`: `room`, as typed, cannot be a room's name.
    BadRoomName { room: CompactString },
    /// `! you are not in #ROOM`: a part, or a line said in a room, the user is not in.
    NotInRoom { room: CompactString },
    /// `! you are in N rooms, the most allowed; /part one first`: joining `room` would put the user
    /// in more rooms than `--max-rooms-per-user` (`max`).
    TooManyRooms { room: CompactString, max: usize },
    /// `! the server has N rooms, the most allowed`: `room` would be one more room than
    /// `--max-rooms` (`max`) allows.
    RoomsFull { room: CompactString, max: usize },
    /// `! the room is big: /list is served once every N s; ...`: a member list of the big room
    /// `room` was asked for again too soon.
    ListTooOften { room: CompactString, secs: u64 },
    /// `*** 250 online (/list to see them)`: who is in a big room `room`, counted instead of named
    /// on joining it.
    Crowd { room: CompactString, count: usize },
    /// A line not yet given a structure: the line face sends it as is.
    Text(String),
    /// A history line, replayed to a newcomer: what was said, and when (Unix seconds; 0 if not
    /// known). The line face puts the UTC time in front (`protocol::stamped`).
    History { at: u64, said: Box<Notice> },
    /// `*** recent messages (N):`, before `room`'s history is replayed to a newcomer.
    HistoryHeader { room: CompactString, lines: usize },
}

/// One room of [`Notice::Rooms`]. The line face shows its name, member count and mark; the IRC
/// face its name, member count and topic (LIST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRoom {
    pub name: CompactString,
    /// How many are in it, on every node.
    pub members: usize,
    /// `current` (the user's current room), `joined` (one of theirs) or empty.
    pub mark: &'static str,
    pub topic: Option<String>,
}

impl Notice {
    /// `<name> text` in `room`.
    pub fn said(room: &str, name: &str, text: &str) -> Notice {
        let line = protocol::chat(name, text);
        match u8::try_from(1 + name.len()) {
            Ok(name_end) => Notice::Said {
                room: room.into(),
                line,
                name_end,
            },
            Err(_) => Notice::Text(line), // A name of over 250 bytes is no pollchat name.
        }
    }

    /// `* name text` in `room`.
    pub fn action(room: &str, name: &str, text: &str) -> Notice {
        let line = protocol::action(name, text);
        match u8::try_from(2 + name.len()) {
            Ok(name_end) => Notice::Action {
                room: room.into(),
                line,
                name_end,
            },
            Err(_) => Notice::Text(line),
        }
    }

    /// `*** name joined`.
    pub fn joined(name: &str) -> Notice {
        Notice::Joined { name: name.into() }
    }

    /// `*** name left (reason)`, after a part or a quit.
    pub fn left(name: &str, reason: &str, how: Leaving) -> Notice {
        let (name, reason) = (name.into(), reason.to_string());
        Notice::Left { name, reason, how }
    }

    /// `*** old is now new`.
    pub fn renamed(old: &str, new: &str) -> Notice {
        let (old, new) = (old.into(), new.into());
        Notice::Renamed { old, new }
    }

    /// `*** name set the topic: text`.
    pub fn topic_set(name: &str, text: &str) -> Notice {
        let (name, text) = (name.into(), text.to_string());
        Notice::TopicSet { name, text }
    }

    /// `[from -> you] text`.
    pub fn private_in(from: &str, text: &str) -> Notice {
        let (from, text) = (from.into(), text.to_string());
        Notice::PrivateIn { from, text }
    }

    /// `[you -> to] text`.
    pub fn private_out(to: &str, text: &str) -> Notice {
        let (to, text) = (to.into(), text.to_string());
        Notice::PrivateOut { to, text }
    }

    /// A chat or action line as history and the cluster keep it (`<ana> hi`, `* ana waves`), said
    /// in `room`, as the notice it was. Anything else, or a line whose name is not a valid name
    /// (another node's bug, say), stays [`Notice::Text`]: it is still shown as it is, only not as
    /// somebody's words. Costs a scan of the name, once per line, never per recipient.
    pub fn from_chat_line(room: &str, line: String) -> Notice {
        let parsed = if let Some(rest) = line.strip_prefix('<') {
            rest.find('>')
                .filter(|&end| rest[end..].starts_with("> ") && check_name(&rest[..end]).is_ok())
                .and_then(|end| u8::try_from(1 + end).ok())
                .map(|name_end| (true, name_end))
        } else if let Some(rest) = line.strip_prefix("* ") {
            rest.find(' ')
                .filter(|&end| check_name(&rest[..end]).is_ok())
                .and_then(|end| u8::try_from(2 + end).ok())
                .map(|name_end| (false, name_end))
        } else {
            None
        };
        let room = CompactString::from(room);
        match parsed {
            Some((true, name_end)) => Notice::Said {
                room,
                line,
                name_end,
            },
            Some((false, name_end)) => Notice::Action {
                room,
                line,
                name_end,
            },
            None => Notice::Text(line),
        }
    }

    /// The author's name of a chat or action line.
    pub fn author(&self) -> Option<&str> {
        match self {
            Notice::Said { line, name_end, .. } => line.get(1..usize::from(*name_end)),
            Notice::Action { line, name_end, .. } => line.get(2..usize::from(*name_end)),
            _ => None,
        }
    }

    /// What a chat or action line says, without the name (`hi`, `waves`).
    pub fn words(&self) -> Option<&str> {
        match self {
            Notice::Said { line, name_end, .. } => line.get(usize::from(*name_end) + 2..),
            Notice::Action { line, name_end, .. } => line.get(usize::from(*name_end) + 1..),
            _ => None,
        }
    }

    /// The line face's wording: exactly the line `protocol.rs` writes for it. Borrowed for the
    /// kinds that hold their line (chat, action, text): the hot path formats nothing.
    pub fn line(&self) -> Cow<'_, str> {
        match self {
            Notice::Said { line, .. } | Notice::Action { line, .. } | Notice::Text(line) => {
                Cow::Borrowed(line)
            }
            Notice::Joined { name } => protocol::joined(name).into(),
            Notice::Left {
                name,
                reason,
                how: Leaving::Removed,
            } => protocol::was(name, reason).into(),
            Notice::Left { name, reason, .. } => protocol::left(name, reason).into(),
            Notice::Renamed { old, new } => protocol::renamed(old, new).into(),
            Notice::TopicSet { name, text } => protocol::topic_set(name, text).into(),
            Notice::PrivateIn { from, text } => protocol::private_in(from, text).into(),
            Notice::PrivateOut { to, text } => protocol::private_out(to, text).into(),
            Notice::History { at, said } => protocol::stamped(*at, &said.line()).into(),
            Notice::HistoryHeader { lines, .. } => protocol::history_header(*lines).into(),
            Notice::Greeting { online } => protocol::greeting(*online).into(),
            Notice::NamePrompt => Cow::Borrowed(protocol::NAME_PROMPT),
            Notice::YouAre { name } => protocol::you_are(name).into(),
            Notice::NameTaken { name } => protocol::name_taken(name).into(),
            Notice::YouJoined { room } => protocol::you_joined(room).into(),
            Notice::NowTalking { room } => protocol::now_talking(room).into(),
            Notice::YouLeft { room, .. } => protocol::you_left(room).into(),
            Notice::NoRoomLeft => Cow::Borrowed(protocol::NO_ROOM_LEFT),
            Notice::Topic {
                text: Some(text), ..
            } => protocol::topic(text).into(),
            Notice::Topic { text: None, .. } => Cow::Borrowed(protocol::NO_TOPIC),
            Notice::Members {
                room,
                names,
                in_front,
            } => {
                let line = protocol::online(names.iter().map(CompactString::as_str));
                match in_front {
                    true => protocol::in_room(room, &line).into(),
                    false => line.into(),
                }
            }
            Notice::Goodbye { .. } => Cow::Borrowed(protocol::GOODBYE),
            Notice::Crowd { count, .. } => protocol::online_count(*count).into(),
            Notice::NoSuchUser { name } => protocol::no_such_user(name).into(),
            Notice::Rooms { rooms } => {
                let listed: Vec<(&str, usize, &str)> = rooms
                    .iter()
                    .map(|room| (room.name.as_str(), room.members, room.mark))
                    .collect();
                protocol::rooms(&listed).into()
            }
            Notice::NoSuchRoom { room } => protocol::no_such_room(room).into(),
            Notice::NotInRoom { room } => protocol::not_in_room(room).into(),
            Notice::BadRoomName { .. } => Cow::Borrowed(protocol::BAD_ROOM_NAME),
            Notice::YouWereRemoved { by, reason } => protocol::you_were_removed(by, reason).into(),
            Notice::Oper(OperAnswer::Granted) => Cow::Borrowed(protocol::NOW_OPERATOR),
            Notice::Oper(OperAnswer::WrongPassword) => Cow::Borrowed(protocol::WRONG_PASSWORD),
            Notice::Oper(OperAnswer::TooSoon { secs }) => protocol::oper_too_soon(*secs).into(),
            Notice::Oper(OperAnswer::NoOperators) => Cow::Borrowed(protocol::NO_OPERATORS),
            Notice::Oper(OperAnswer::OperatorsOnly { command }) => {
                protocol::operators_only(command).into()
            }
            Notice::TooManyRooms { max, .. } => protocol::too_many_rooms_for_you(*max).into(),
            Notice::RoomsFull { max, .. } => protocol::too_many_rooms(*max).into(),
            Notice::ListTooOften { secs, .. } => protocol::list_too_often(*secs).into(),
        }
    }

    /// [`Notice::line`], taking the notice: a chat line's `String` is moved, not copied.
    pub fn into_line(self) -> String {
        match self {
            Notice::Said { line, .. } | Notice::Action { line, .. } | Notice::Text(line) => line,
            other => other.line().into_owned(),
        }
    }
}

impl From<String> for Notice {
    fn from(line: String) -> Notice {
        Notice::Text(line)
    }
}

impl From<&str> for Notice {
    fn from(line: &str) -> Notice {
        Notice::Text(line.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind against the `protocol.rs` function that wrote its line before notices existed.
    #[test]
    fn each_kind_is_worded_exactly_as_protocol_words_it() {
        let name = CompactString::from;
        let cases: Vec<(Notice, String)> = vec![
            (
                Notice::said("#dev", "ana", "hi  there"),
                protocol::chat("ana", "hi  there"),
            ),
            (
                Notice::action("#dev", "ana", "waves"),
                protocol::action("ana", "waves"),
            ),
            (
                Notice::Joined { name: name("ana") },
                protocol::joined("ana"),
            ),
            (
                Notice::Left {
                    name: name("ana"),
                    reason: "parted".into(),
                    how: Leaving::Parted,
                },
                protocol::left("ana", "parted"),
            ),
            (
                Notice::Left {
                    name: name("ana"),
                    reason: "see you".into(),
                    how: Leaving::Quit,
                },
                protocol::left("ana", "see you"),
            ),
            (
                Notice::Left {
                    name: name("ana"),
                    reason: protocol::removed_reason("teacher", "spam"),
                    how: Leaving::Removed,
                },
                protocol::removed("ana", "teacher", "spam"),
            ),
            (
                Notice::Renamed {
                    old: name("ana"),
                    new: name("anita"),
                },
                protocol::renamed("ana", "anita"),
            ),
            (
                Notice::TopicSet {
                    name: name("ana"),
                    text: "ship it".into(),
                },
                protocol::topic_set("ana", "ship it"),
            ),
            (
                Notice::PrivateIn {
                    from: name("ana"),
                    text: "psst".into(),
                },
                protocol::private_in("ana", "psst"),
            ),
            (
                Notice::PrivateOut {
                    to: name("Bea"),
                    text: "psst".into(),
                },
                protocol::private_out("Bea", "psst"),
            ),
            (
                Notice::Text(protocol::GOODBYE.into()),
                protocol::GOODBYE.into(),
            ),
            (Notice::Greeting { online: 3 }, protocol::greeting(3)),
            (Notice::NamePrompt, protocol::NAME_PROMPT.into()),
            (
                Notice::YouAre { name: name("ana") },
                protocol::you_are("ana"),
            ),
            (
                Notice::NameTaken { name: name("Ana") },
                protocol::name_taken("Ana"),
            ),
            (
                Notice::YouJoined { room: name("#dev") },
                protocol::you_joined("#dev"),
            ),
            (
                Notice::NowTalking { room: name("#dev") },
                protocol::now_talking("#dev"),
            ),
            (
                Notice::YouLeft {
                    room: name("#dev"),
                    reason: "parted".into(),
                },
                protocol::you_left("#dev"),
            ),
            (Notice::NoRoomLeft, protocol::NO_ROOM_LEFT.into()),
            (
                Notice::Topic {
                    room: name("#dev"),
                    text: Some("ship it".into()),
                },
                protocol::topic("ship it"),
            ),
            (
                Notice::Topic {
                    room: name("#dev"),
                    text: None,
                },
                protocol::NO_TOPIC.into(),
            ),
            (
                Notice::Members {
                    room: name("#dev"),
                    names: Box::new([name("@ana"), name("bea")]),
                    in_front: false,
                },
                protocol::online(["@ana", "bea"].into_iter()),
            ),
            (
                Notice::Members {
                    room: name("#dev"),
                    names: Box::new([name("bea")]),
                    in_front: true,
                },
                protocol::in_room("#dev", &protocol::online(["bea"].into_iter())),
            ),
            (
                Notice::Goodbye {
                    reason: "see you".into(),
                },
                protocol::GOODBYE.into(),
            ),
            (
                Notice::TooManyRooms {
                    room: name("#dev"),
                    max: 3,
                },
                protocol::too_many_rooms_for_you(3),
            ),
            (
                Notice::RoomsFull {
                    room: name("#dev"),
                    max: 4,
                },
                protocol::too_many_rooms(4),
            ),
            (
                Notice::ListTooOften {
                    room: name("#dev"),
                    secs: 2,
                },
                protocol::list_too_often(2),
            ),
            (
                Notice::Rooms {
                    rooms: vec![
                        ListedRoom {
                            name: name("#dev"),
                            members: 3,
                            mark: "current",
                            topic: Some("ship it".into()),
                        },
                        ListedRoom {
                            name: name("#general"),
                            members: 9,
                            mark: "",
                            topic: None,
                        },
                    ],
                },
                protocol::rooms(&[("#dev", 3, "current"), ("#general", 9, "")]),
            ),
        ];
        for (notice, want) in cases {
            assert_eq!(notice.line(), want, "{notice:?}");
            assert_eq!(notice.clone().into_line(), want, "{notice:?}");
        }
    }

    #[test]
    fn said_and_action_know_their_author_and_words() {
        let said = Notice::said("#dev", "Élodie", "hola, ¿qué tal?");
        assert_eq!(said.author(), Some("Élodie"));
        assert_eq!(said.words(), Some("hola, ¿qué tal?"));
        let action = Notice::action("#dev", "ana", "waves at bea");
        assert_eq!(action.author(), Some("ana"));
        assert_eq!(action.words(), Some("waves at bea"));
        assert_eq!(Notice::Text("x".into()).author(), None);
    }

    /// `line(from_chat_line(l)) == l` for every line, and a chat or action line comes back as the
    /// notice that wrote it.
    #[test]
    fn from_chat_line_round_trips() {
        let names = ["ana", "Élodie", "a.b-c_d", &"x".repeat(32), &"é".repeat(32)];
        let texts = ["hi", "hi  there", "<b> x", "* y z", "> >", "/etc", "ünï 👋"];
        for name in names {
            for text in texts {
                for notice in [
                    Notice::said("#dev", name, text),
                    Notice::action("#dev", name, text),
                ] {
                    let line = notice.line().into_owned();
                    let back = Notice::from_chat_line("#dev", line.clone());
                    assert_eq!(back, notice, "{line:?}");
                    assert_eq!(back.line(), line);
                }
            }
        }
        // Lines that are nobody's words stay text, and are still worded as they are.
        for line in [
            "",
            "<",
            "<ana>",
            "<ana>hi",
            "<> hi",
            "<a b> hi",
            "<ana] hi",
            "*",
            "* ",
            "* ana",
            "*  ana waves",
            "** ana waves",
            "*** ana joined",
            "[ana -> you] hi",
            "! no such user: bea",
            "<a[b> hi",
        ] {
            let back = Notice::from_chat_line("#dev", line.to_string());
            assert_eq!(back, Notice::Text(line.to_string()), "{line:?}");
            assert_eq!(back.line(), line);
        }
    }
}
