//! The messages nodes publish to each other on the Redis channel `pollchat:events`.
//!
//! Each is one line of text: the name of the node that published it, a kind, and the rest. Names of
//! users and nodes never hold a space (see `text::check_name` and `--node`), so spaces separate the
//! fields and the last field takes the rest of the line.
//!
//! | message                        | published by                       | means                          |
//! |--------------------------------|------------------------------------|--------------------------------|
//! | `NODE join SEQ NAME`           | the claim script                   | NAME joined on NODE; the cluster's last line then was SEQ |
//! | `NODE leave NAME REASON`       | the release script                 | NAME left                      |
//! | `NODE rename OLD NEW`          | the rename script                  | OLD is now NEW                 |
//! | `NODE lines SEQ⏎LINE⏎LINE...`  | the chat script                    | chat and action lines, numbered from SEQ on |
//! | `NODE msg TO FROM TEXT`        | the private-message script         | FROM says TEXT to TO only      |
//! | `NODE lost DEAD NAME NAME ...` | the reaper script, on any node     | node DEAD stopped answering; these were its users |
//! | `NODE sync`                    | the reclaim script, when a link comes back |
//! | `NODE bye NAME NAME ...`       | the bye script, when a node stops  | these names were NODE's        |
//! | `NODE ping`                    | the heartbeat                      | NODE's subscription is alive (NODE alone looks) |
//! | `NODE users TOKEN`             | the users script                   | NODE's read of the names took place here |
//! | `NODE kick NAME BY MINUTES REASON` | a plain PUBLISH, after `/kick` or `/ban NAME` of another node's user | the node that has NAME removes it (and bans its address for MINUTES, if not 0) |
//! | `NODE ban ADDRESS UNTIL`       | a plain PUBLISH, after a ban       | every node bans ADDRESS until UNTIL (Unix seconds) |
//! | `NODE unban ADDRESS`           | a plain PUBLISH, after `/unban`    | every node lifts the ban       |
//!
//! Every room but the default one has a channel of its own, `pollchat:room:KEY` (KEY: the room's
//! name in lower case), which a node subscribes to only while it has a member there; what happens in
//! the room goes there, so a node hears nothing of rooms it has no member in. (The default room's
//! lines and notices stay on `pollchat:events`, which every node hears.)
//!
//! | message                          | published by          | means                                  |
//! |----------------------------------|-----------------------|----------------------------------------|
//! | `NODE rjoin ROOM TOKEN NAME`     | the room-join script  | NAME joined ROOM; NODE's read of the room took place here |
//! | `NODE rpart ROOM NAME REASON`    | the room-part script  | NAME left ROOM                         |
//! | `NODE rlines ROOM⏎LINE⏎LINE...`  | the room-lines script | chat and action lines said in ROOM     |
//! | `NODE topic ROOM NAME TEXT`      | the topic script      | NAME set ROOM's topic to TEXT          |
//! | `NODE rusers ROOM TOKEN`         | the room-sync script  | NODE's read of ROOM's members took place here |
//!
//! A chat line never holds a newline (lines are what newlines separate), so one `lines` message
//! carries every line a node's users said in one pass of its loop, one per line of the message:
//! one script run and one message per pass instead of one per line.
//!
//! A node skips what it published itself (it has already delivered it locally), except `lost`,
//! which every node must announce, and the numbers of its own `join` and `lines`, which tell it how
//! far the cluster has got (see `chat/cluster.rs`).

/// One message, borrowed from the payload it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    Join {
        seq: u64,
        name: &'a str,
    },
    Leave {
        name: &'a str,
        reason: &'a str,
    },
    Rename {
        old: &'a str,
        new: &'a str,
    },
    /// Lines numbered `first`, `first + 1`, ...
    Lines {
        first: u64,
        lines: Vec<&'a str>,
    },
    Private {
        to: &'a str,
        from: &'a str,
        text: &'a str,
    },
    Lost {
        node: &'a str,
        names: Vec<&'a str>,
    },
    Sync,
    Bye {
        names: Vec<&'a str>,
    },
    Ping,
    Users {
        token: u64,
    },
    RoomJoin {
        room: &'a str,
        token: u64,
        name: &'a str,
    },
    RoomPart {
        room: &'a str,
        name: &'a str,
        reason: &'a str,
    },
    RoomLines {
        room: &'a str,
        lines: Vec<&'a str>,
    },
    Topic {
        room: &'a str,
        name: &'a str,
        text: &'a str,
    },
    RoomUsers {
        room: &'a str,
        token: u64,
    },
    /// `reason` may be empty.
    Kick {
        name: &'a str,
        by: &'a str,
        ban_minutes: u64,
        reason: &'a str,
    },
    Ban {
        address: &'a str,
        until: u64,
    },
    Unban {
        address: &'a str,
    },
}

/// The node that published `payload`, and what it says; `None` for anything else (a message of a
/// later version, say), which is ignored.
pub fn parse(payload: &str) -> Option<(&str, Message<'_>)> {
    let (node, rest) = payload.split_once(' ')?;
    let (kind, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let message = match kind {
        "join" => {
            let (seq, name) = rest.split_once(' ')?;
            Message::Join {
                seq: seq.parse().ok()?,
                name,
            }
        }
        "leave" => {
            let (name, reason) = rest.split_once(' ')?;
            Message::Leave { name, reason }
        }
        "rename" => {
            let (old, new) = rest.split_once(' ')?;
            Message::Rename { old, new }
        }
        "lines" => {
            let (first, lines) = rest.split_once('\n')?;
            Message::Lines {
                first: first.parse().ok()?,
                lines: lines.split('\n').collect(),
            }
        }
        "msg" => {
            let (to, rest) = rest.split_once(' ')?;
            let (from, text) = rest.split_once(' ')?;
            Message::Private { to, from, text }
        }
        "lost" => {
            let mut fields = rest.split(' ').filter(|f| !f.is_empty());
            let node = fields.next()?;
            Message::Lost {
                node,
                names: fields.collect(),
            }
        }
        "sync" => Message::Sync,
        "bye" => Message::Bye {
            names: rest.split(' ').filter(|f| !f.is_empty()).collect(),
        },
        "ping" => Message::Ping,
        "users" => Message::Users {
            token: rest.parse().ok()?,
        },
        "rjoin" => {
            let (room, rest) = rest.split_once(' ')?;
            let (token, name) = rest.split_once(' ')?;
            let token = token.parse().ok()?;
            Message::RoomJoin { room, token, name }
        }
        "rpart" => {
            let (room, rest) = rest.split_once(' ')?;
            let (name, reason) = rest.split_once(' ')?;
            Message::RoomPart { room, name, reason }
        }
        "rlines" => {
            let (room, lines) = rest.split_once('\n')?;
            Message::RoomLines {
                room,
                lines: lines.split('\n').collect(),
            }
        }
        "topic" => {
            let (room, rest) = rest.split_once(' ')?;
            let (name, text) = rest.split_once(' ')?;
            Message::Topic { room, name, text }
        }
        "rusers" => {
            let (room, token) = rest.split_once(' ')?;
            let token = token.parse().ok()?;
            Message::RoomUsers { room, token }
        }
        "kick" => {
            let (name, rest) = rest.split_once(' ')?;
            let (by, rest) = rest.split_once(' ')?;
            let (minutes, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            Message::Kick {
                name,
                by,
                ban_minutes: minutes.parse().ok()?,
                reason,
            }
        }
        "ban" => {
            let (address, until) = rest.split_once(' ')?;
            Message::Ban {
                address,
                until: until.parse().ok()?,
            }
        }
        "unban" if !rest.is_empty() => Message::Unban { address: rest },
        _ => return None,
    };
    Some((node, message))
}

/// `NODE leave NAME REASON`
pub fn leave(node: &str, name: &str, reason: &str) -> String {
    format!("{node} leave {name} {reason}")
}

/// `NODE rename OLD NEW`
pub fn rename(node: &str, old: &str, new: &str) -> String {
    format!("{node} rename {old} {new}")
}

/// `NODE rpart ROOM NAME REASON`
pub fn room_part(node: &str, room: &str, name: &str, reason: &str) -> String {
    format!("{node} rpart {room} {name} {reason}")
}

/// `NODE topic ROOM NAME TEXT`
pub fn topic(node: &str, room: &str, name: &str, text: &str) -> String {
    format!("{node} topic {room} {name} {text}")
}

/// `NODE kick NAME BY MINUTES REASON`
pub fn kick(node: &str, name: &str, by: &str, ban_minutes: u64, reason: &str) -> String {
    format!("{node} kick {name} {by} {ban_minutes} {reason}")
}

/// `NODE ban ADDRESS UNTIL`
pub fn ban(node: &str, address: &str, until: u64) -> String {
    format!("{node} ban {address} {until}")
}

/// `NODE unban ADDRESS`
pub fn unban(node: &str, address: &str) -> String {
    format!("{node} unban {address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_read() {
        assert_eq!(
            parse("a join 7 ana"),
            Some((
                "a",
                Message::Join {
                    seq: 7,
                    name: "ana"
                }
            ))
        );
        assert_eq!(
            parse(&leave("a", "ana", "connection lost")),
            Some((
                "a",
                Message::Leave {
                    name: "ana",
                    reason: "connection lost"
                }
            ))
        );
        assert_eq!(
            parse(&rename("b", "ana", "Ana")),
            Some((
                "b",
                Message::Rename {
                    old: "ana",
                    new: "Ana"
                }
            ))
        );
        assert_eq!(
            parse("a lines 12\n<ana> hello  there \n* bea waves"),
            Some((
                "a",
                Message::Lines {
                    first: 12,
                    lines: vec!["<ana> hello  there ", "* bea waves"]
                }
            ))
        );
        assert_eq!(
            parse("a msg bea ana hi bea"),
            Some((
                "a",
                Message::Private {
                    to: "bea",
                    from: "ana",
                    text: "hi bea"
                }
            ))
        );
        assert_eq!(
            parse("a lost b ana bea"),
            Some((
                "a",
                Message::Lost {
                    node: "b",
                    names: vec!["ana", "bea"]
                }
            ))
        );
        assert_eq!(
            parse("a lost b "),
            Some((
                "a",
                Message::Lost {
                    node: "b",
                    names: vec![]
                }
            ))
        );
        assert_eq!(parse("c sync"), Some(("c", Message::Sync)));
        assert_eq!(parse("c ping"), Some(("c", Message::Ping)));
        assert_eq!(
            parse("a rjoin #dev 3 ana"),
            Some((
                "a",
                Message::RoomJoin {
                    room: "#dev",
                    token: 3,
                    name: "ana"
                }
            ))
        );
        assert_eq!(
            parse(&room_part("a", "#dev", "ana", "off to lunch")),
            Some((
                "a",
                Message::RoomPart {
                    room: "#dev",
                    name: "ana",
                    reason: "off to lunch"
                }
            ))
        );
        assert_eq!(
            parse("a rlines #dev\n<ana> hi\n* ana waves"),
            Some((
                "a",
                Message::RoomLines {
                    room: "#dev",
                    lines: vec!["<ana> hi", "* ana waves"]
                }
            ))
        );
        assert_eq!(
            parse(&topic("a", "#dev", "ana", "the build is green")),
            Some((
                "a",
                Message::Topic {
                    room: "#dev",
                    name: "ana",
                    text: "the build is green"
                }
            ))
        );
        assert_eq!(
            parse("a rusers #dev 9"),
            Some((
                "a",
                Message::RoomUsers {
                    room: "#dev",
                    token: 9
                }
            ))
        );
        assert_eq!(parse("c users 7"), Some(("c", Message::Users { token: 7 })));
        assert_eq!(
            parse("c bye ana bo"),
            Some((
                "c",
                Message::Bye {
                    names: vec!["ana", "bo"]
                }
            ))
        );
    }

    #[test]
    fn moderation_is_read() {
        assert_eq!(
            parse(&kick("a", "ana", "teacher", 0, "stop it")),
            Some((
                "a",
                Message::Kick {
                    name: "ana",
                    by: "teacher",
                    ban_minutes: 0,
                    reason: "stop it"
                }
            ))
        );
        assert_eq!(
            parse(&kick("a", "ana", "teacher", 60, "")),
            Some((
                "a",
                Message::Kick {
                    name: "ana",
                    by: "teacher",
                    ban_minutes: 60,
                    reason: ""
                }
            ))
        );
        assert_eq!(
            parse(&ban("b", "2001:db8::/64", 1700000000)),
            Some((
                "b",
                Message::Ban {
                    address: "2001:db8::/64",
                    until: 1700000000
                }
            ))
        );
        assert_eq!(
            parse(&unban("b", "192.0.2.7")),
            Some((
                "b",
                Message::Unban {
                    address: "192.0.2.7"
                }
            ))
        );
        for payload in [
            "a kick ana",
            "a ban 192.0.2.7",
            "a ban 192.0.2.7 x",
            "a unban",
        ] {
            assert_eq!(parse(payload), None, "{payload:?}");
        }
    }

    #[test]
    fn anything_else_is_ignored() {
        for payload in [
            "",
            "a",
            "a dance 1",
            "a lines x\n<ana> hi",
            "a lines 1 <ana> hi",
            "a join 1",
            "a msg bea",
            "a rjoin #dev x ana",
            "a rlines #dev <ana> hi",
            "a rusers #dev",
        ] {
            assert_eq!(parse(payload), None, "{payload:?}");
        }
    }
}
