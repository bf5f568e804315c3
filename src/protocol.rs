//! The exact wording of every line the server sends, in one place.
//!
//! docs/protocol.md documents each of these; clients, the benchmark and the web page parse them, so a
//! change here is a change of protocol. Every line starts with a marker that tells its class:
//!
//! | class                 | form                                  |
//! |-----------------------|---------------------------------------|
//! | chat                  | `<ana> text`                          |
//! | action (`/me`)        | `* ana waves`                         |
//! | server notice         | `*** text`                            |
//! | private message       | `[ana -> you] text`, `[you -> bea] text` |
//! | error, only to you    | `! text`                              |
//! | another of your rooms | `#room ` and a line of a class above  |
//!
//! Lines are built without their terminator; the edge that sends them adds the framing (`\n` on TCP).

use std::fmt::Display;

use crate::text::{MAX_NAME_CHARS, NameError};

/// Built with room for a `\n`, so that pushing the line and its terminator grows nothing.
pub fn chat(name: &str, text: &str) -> String {
    let mut line = String::with_capacity(name.len() + text.len() + 4);
    for part in ["<", name, "> ", text] {
        line.push_str(part);
    }
    line
}

pub fn action(name: &str, text: &str) -> String {
    format!("* {name} {text}")
}

pub fn private_in(from: &str, text: &str) -> String {
    format!("[{from} -> you] {text}")
}

pub fn private_out(to: &str, text: &str) -> String {
    format!("[you -> {to}] {text}")
}

pub fn greeting(online: usize) -> String {
    format!(
        "*** welcome to pollchat {}; {online} online",
        env!("CARGO_PKG_VERSION")
    )
}

/// Clients wait for a line ending in `your name?` before they send a name.
pub const NAME_PROMPT: &str = "*** your name?";

/// The join acknowledgement, and the confirmation of a rename: clients learn their name from it.
pub fn you_are(name: &str) -> String {
    format!("*** you are {name}")
}

pub fn history_header(lines: usize) -> String {
    format!("*** recent messages ({lines}):")
}

/// A history line as replayed: the UTC time it was said (RFC 3339, to the second), a space, and the
/// line as it was shown live: `2026-12-06T00:54:10Z <ana> hi`. A time of 0 (unknown) adds nothing.
pub fn stamped(at: u64, line: &str) -> String {
    if at == 0 {
        return line.to_string();
    }
    format!("{} {line}", utc_time(at))
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time in seconds since 1970 (UTC, proleptic Gregorian calendar).
pub fn utc_time(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let (year, month, day) = civil_date(days);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// The calendar date `days` days after 1970-01-01. Counts in 400-year eras (146,097 days each, the
/// Gregorian cycle) starting on 0000-03-01, so that the leap day falls at the end of each year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Splits a replayed history line into its time stamp and the line, if it has one.
pub fn unstamped(line: &str) -> Option<(&str, &str)> {
    let (stamp, rest) = line.split_once(' ')?;
    let b = stamp.as_bytes();
    let shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    shape.then_some((stamp, rest))
}

/// `names` are already in the order to show.
pub fn online<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    let mut line = format!("*** online ({}):", names.len());
    for (i, name) in names.enumerate() {
        line.push_str(if i == 0 { " " } else { ", " });
        line.push_str(name);
    }
    line
}

/// What a newcomer to a big room is told instead of every name (see `--announce-limit`).
pub fn online_count(online: usize) -> String {
    format!("*** {online} online (/list to see them)")
}

/// The joins and leaves of the last second in a big room, e.g. `*** 37 joined, 2 left`.
pub fn summary(joined: usize, left: usize) -> String {
    match (joined, left) {
        (j, 0) => format!("*** {j} joined"),
        (0, l) => format!("*** {l} left"),
        (j, l) => format!("*** {j} joined, {l} left"),
    }
}

pub fn list_too_often(secs: u64) -> String {
    format!("! the room is big: /list is served once every {secs} s; try again shortly")
}

pub fn joined(name: &str) -> String {
    format!("*** {name} joined")
}

pub fn left(name: &str, reason: &str) -> String {
    format!("*** {name} left ({reason})")
}

pub fn renamed(old: &str, new: &str) -> String {
    format!("*** {old} is now {new}")
}

/// A line about `room`, which is not the recipient's current room: `#dev <bea> hi`.
pub fn in_room(room: &str, line: &str) -> String {
    let mut prefixed = String::with_capacity(room.len() + line.len() + 2);
    for part in [room, " ", line] {
        prefixed.push_str(part);
    }
    prefixed
}

pub fn you_joined(room: &str) -> String {
    format!("*** you joined {room}")
}

/// `/join` of a room one is in already: it only becomes current.
pub fn now_talking(room: &str) -> String {
    format!("*** now talking in {room}")
}

pub fn you_left(room: &str) -> String {
    format!("*** you left {room}")
}

/// After `/part` of the last room one was in.
pub const NO_ROOM_LEFT: &str = "*** you are in no room; /join #ROOM to talk";

pub fn topic(text: &str) -> String {
    format!("*** topic: {text}")
}

pub const NO_TOPIC: &str = "*** no topic; /topic TEXT sets one";

pub fn topic_set(name: &str, text: &str) -> String {
    format!("*** {name} set the topic: {text}")
}

/// `/rooms`: `(name, members, mark)` in the order to show; `mark` is `current`, `joined` or empty.
pub fn rooms(rooms: &[(&str, usize, &str)]) -> String {
    let mut line = format!("*** rooms ({}):", rooms.len());
    for (i, (name, members, mark)) in rooms.iter().enumerate() {
        line.push_str(if i == 0 { " " } else { ", " });
        line.push_str(name);
        match *mark {
            "" => line.push_str(&format!(" ({members})")),
            mark => line.push_str(&format!(" ({members}, {mark})")),
        }
    }
    line
}

/// On a cluster, a second request (a join, say) while the first is asked of Redis.
pub const ONE_REQUEST_AT_A_TIME: &str =
    "! one request at a time on a cluster: send it again once the last one is answered";
pub const IN_NO_ROOM: &str = "! you are in no room; /join #ROOM";
pub const BAD_ROOM_NAME: &str = "! a room name is # and 1 to 32 letters, digits, '_', '-' or '.'";
/// On a cluster, the default room cannot be left: every node counts every user of the cluster in it.
pub fn default_room_stays(room: &str) -> String {
    format!("! on a cluster {room} cannot be left; /join another room to talk there")
}

pub fn too_many_rooms_for_you(max: usize) -> String {
    format!("! you are in {max} rooms, the most allowed; /part one first")
}

pub fn too_many_rooms(max: usize) -> String {
    format!("! the server has {max} rooms, the most allowed")
}

pub fn no_such_room(room: &str) -> String {
    format!("! no such room: {room}")
}

pub fn not_in_room(room: &str) -> String {
    format!("! you are not in {room}")
}

/// The reasons shown in `*** ana left (REASON)` when the user gave none.
pub const REASON_QUIT: &str = "quit";
/// `/part` without a reason.
pub const REASON_PART: &str = "parted";
pub const REASON_LOST: &str = "connection lost";
pub const REASON_SLOW: &str = "too slow";
/// An IRC client that answered no PING (`--irc-ping-secs`).
pub const REASON_PING_TIMEOUT: &str = "ping timeout";
/// A user disconnected by flood control (see `flood.rs`).
pub const REASON_FLOOD: &str = "flooding";
/// The users of a node that is shutting down, as the other nodes announce them.
pub const REASON_NODE_DOWN: &str = "server shutting down";
/// A user of another node that stopped answering (see docs/cluster.md).
pub const REASON_NODE_LOST: &str = "node lost";
/// A user of another node who went while this node's link to the cluster was down.
pub const REASON_UNSEEN: &str = "while the cluster link was down";

/// Told to this node's users when its link to the cluster (Redis) breaks, and when it is back.
pub const CLUSTER_LOST: &str = "*** cluster link lost; local users only";
pub const CLUSTER_RESTORED: &str = "*** cluster link restored";
/// The answer to a join, a rename or a private message to another node while the link is down.
pub const CLUSTER_UNAVAILABLE: &str = "! cluster unavailable, try again shortly";

pub const GOODBYE: &str = "*** bye";
pub const SHUTTING_DOWN: &str = "*** server shutting down";

pub const HELP: &[&str] = &[
    "*** commands:",
    "***   /list [#ROOM]     who is in the room (also /users, /who, /listar)",
    "***   /join #ROOM       join a room, or talk in one you are in",
    "***   /part [#ROOM]     leave a room (the one you talk in)",
    "***   /rooms            every room",
    "***   /topic [TEXT]     show or set the room's topic",
    "***   /name NEW         change your name (also /nick)",
    "***   /me ACTION        say what you are doing: * ana waves",
    "***   /msg NAME TEXT    private message to NAME",
    "***   /quit [REASON]    leave (also /quitar, /exit)",
    "***   /oper PASSWORD    become an operator",
    "***   /kick NAME [WHY]  operators: remove a user; also /ban, /unban, /bans",
    "***   /help             this list",
    "***   //TEXT            send a line that starts with /",
];

pub fn name_refused(error: NameError) -> String {
    match error {
        NameError::Empty => "! a name cannot be empty".to_string(),
        NameError::TooLong => format!("! a name has at most {MAX_NAME_CHARS} characters"),
        NameError::BadCharacter(c) => format!(
            "! a name cannot contain {}; use letters, digits, '_', '-' and '.'",
            describe(c)
        ),
    }
}

/// Shows a refused character so that a user can see it, even a space or an invisible one.
fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        c if c.is_ascii_graphic() => format!("'{c}'"),
        c => format!("'{c}' (U+{:04X})", c as u32),
    }
}

pub fn name_taken(name: &str) -> String {
    format!("! the name {name} is taken")
}

/// To a user whose name another node claimed while this node's link to the cluster was down.
pub fn name_taken_meanwhile(name: &str) -> String {
    format!(
        "! the name {name} was claimed on another node while the cluster link was down; join again"
    )
}

pub fn already_named(name: &str) -> String {
    format!("! you are already {name}")
}

pub fn no_such_user(name: &str) -> String {
    format!("! no such user: {name}")
}

pub fn usage(usage: &str) -> String {
    format!("! usage: {usage}")
}

pub fn unknown_command(command: &str) -> String {
    format!("! unknown command: /{command} (try /help)")
}

pub fn name_timeout(secs: impl Display) -> String {
    format!("! no name given within {secs} s; closing")
}

pub fn line_too_long(max: usize) -> String {
    format!("! line too long (the limit is {max} bytes); it was discarded")
}

/// The last line a slow consumer gets, before what was queued for it is dropped.
pub const NOT_READING: &str = "! you were disconnected: not reading fast enough";
/// The last line a connection held back by flood control for too long gets.
pub const FLOODING: &str = "! flooding; disconnected";
/// To a connection from an address that already has `--max-per-ip` connections.
pub const TOO_MANY_FROM_ADDRESS: &str = "! too many connections from your address";

/// To a TLS handshake that arrived on a plain-text port.
pub const NOT_TLS: &str = "! this port speaks plain text, not TLS; use the server's tls:// port";
/// The same, on the IRC face's plain port (as an IRC `ERROR`).
pub const NOT_TLS_IRC: &str =
    "! this port speaks plain text, not TLS; use the server's ircs:// port";

pub const SERVER_FULL: &str = "! server full";
pub const SERVER_FULL_NO_FDS: &str = "! server full (out of file descriptors)";

// ---- moderation (see `chat/moderation.rs`) ---------------------------------------------------------

pub const NOW_OPERATOR: &str = "*** you are now an operator";
pub const NO_OPERATORS: &str = "! there are no operators on this server";
pub const WRONG_PASSWORD: &str = "! wrong password";
pub fn oper_too_soon(secs: u64) -> String {
    format!("! too soon after a wrong password; try again in {secs} s")
}

/// `command` is the command's name without its `/`.
pub fn operators_only(command: &str) -> String {
    format!("! only operators may use /{command}")
}

pub const CANNOT_REMOVE_YOURSELF: &str = "! you cannot remove yourself";

fn removal_reason(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

/// The last line a removed user gets.
pub fn you_were_removed(by: &str, reason: &str) -> String {
    format!("! you were removed by {by}{}", removal_reason(reason))
}

/// In each room of a removed user, instead of the ordinary leave line.
pub fn removed(name: &str, by: &str, reason: &str) -> String {
    was(name, &removed_reason(by, reason))
}

/// `*** ana was removed by teacher (why)`, from what happened (`removed_reason`).
pub fn was(name: &str, what: &str) -> String {
    format!("*** {name} was {what}")
}

/// The reason shown when a user is removed by a ban.
pub fn banned_for(minutes: u64) -> String {
    format!("banned for {minutes} minutes")
}

/// The reason other nodes of a cluster show (`*** ana left (removed by teacher (why))`).
pub fn removed_reason(by: &str, reason: &str) -> String {
    format!("removed by {by}{}", removal_reason(reason))
}

pub fn banned(address: &str, minutes: u64) -> String {
    format!("*** banned {address} for {minutes} minutes")
}

pub fn unbanned(address: &str) -> String {
    format!("*** unbanned {address}")
}

pub fn not_banned(address: &str) -> String {
    format!("! {address} is not banned")
}

pub fn not_an_address(text: &str) -> String {
    format!("! no such user or address: {text}")
}

/// `/bans`: each address with its minutes left (rounded up), in the order to show.
pub fn bans(bans: &[(String, u64)]) -> String {
    if bans.is_empty() {
        return "*** no bans".to_string();
    }
    let mut line = format!("*** bans ({}):", bans.len());
    for (i, (address, minutes)) in bans.iter().enumerate() {
        line.push_str(if i == 0 { " " } else { ", " });
        line.push_str(&format!("{address} ({minutes} min left)"));
    }
    line
}

/// To a new connection from a banned address, before it is closed.
pub const YOU_ARE_BANNED: &str = "! you are banned";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lines_carry_the_utc_time_they_were_said() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_time(1_796_518_450), "2026-12-06T00:54:10Z");
        assert_eq!(utc_time(4_102_444_799), "2099-12-31T23:59:59Z");
        let line = stamped(1_796_518_450, "<ana> hi 12:00 there");
        assert_eq!(line, "2026-12-06T00:54:10Z <ana> hi 12:00 there");
        assert_eq!(
            unstamped(&line),
            Some(("2026-12-06T00:54:10Z", "<ana> hi 12:00 there"))
        );
        assert_eq!(stamped(0, "<ana> hi"), "<ana> hi");
        for not in [
            "<ana> hi",
            "2026-12-06 <ana>",
            "2026-12-06T03:34:10 <a>",
            "x026-12-06T03:34:10Z <a>",
        ] {
            assert_eq!(unstamped(not), None, "{not}");
        }
    }
}
