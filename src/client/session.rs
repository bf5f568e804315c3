//! `Session`: what the console client says to the server and when, with no I/O.
//!
//! The client's loop (`client/mod.rs`) owns the socket, standard input and the clock; it tells the
//! session what happened (connected, a line from the server, a line typed, the connection lost) and
//! carries out the [`Action`]s it gets back. The rules live here and are unit-tested without sockets:
//!
//! - nothing typed is sent before the server's join acknowledgement (`*** you are NAME`), so a chat line
//!   can never be taken for a name; lines typed meanwhile wait in a bounded queue;
//! - after a reconnect the client rejoins under the same name (or the name it was renamed to);
//! - the rooms the user is in, and the current one, are followed from the server's own lines
//!   (`*** you joined #R`, `*** now talking in #R`, `*** you left #R`, the no-room notice, the answer
//!   to `/rooms`); the name of the default room is learned by sending `/rooms` once after joining;
//! - after a reconnect the client also rejoins every room the user was in, in the order they were
//!   joined, and makes the same one current; lines typed meanwhile are sent after those commands, so
//!   they reach the room the prompt shows;
//! - the history the server replays on a rejoin, of each room, is shown only from where the user's
//!   screen left off.

use std::collections::{HashMap, VecDeque};

/// How many typed lines may wait for a (re)join.
pub const QUEUE_MAX: usize = 1000;
/// How many recent chat lines of each room are remembered to recognise its replayed history on a
/// rejoin.
const RECENT_MAX: usize = 1000;
/// The notice after leaving the last room.
const NO_ROOM: &str = "*** you are in no room";

/// What the loop is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this line to the server.
    Send(String),
    /// Show a line from the server.
    Show(String),
    /// Show a message of the client's own (not from the server).
    Note(String),
    /// The server refused the name (the `!` line says why): an interactive user is asked for
    /// another one, a script gives up.
    NameRefused(String),
    /// The name is taken, but it was ours before the connection was lost: the server has probably
    /// not yet noticed the old connection is dead. Retry the same name later.
    NameStillTaken,
    /// Joined (or rejoined): the connection is usable.
    Joined,
}

/// Where what the user types goes, as far as the client knows: what the prompt shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// Not known (yet): just joined, or a server without rooms.
    Unknown,
    /// This room.
    Room(&'a str),
    /// Nowhere: the user has left every room.
    Nowhere,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No connection.
    Offline,
    /// Connected; waiting for the name prompt, or for the answer to the name we sent.
    Joining { name_sent: bool },
    /// Named: in the chat.
    Joined,
}

/// The current room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Current {
    #[default]
    Unknown,
    Room(String),
    Nowhere,
}

/// The rooms the user is in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rooms {
    /// Oldest join first. When the current room is left the server makes the most recently joined
    /// one current, and a rejoin joins them again in this order so that the rule still holds.
    joined: Vec<String>,
    current: Current,
}

impl Rooms {
    fn contains(&self, room: &str) -> bool {
        self.joined.iter().any(|r| same_room(r, room))
    }

    fn current_room(&self) -> Option<&str> {
        match &self.current {
            Current::Room(room) => Some(room),
            _ => None,
        }
    }

    /// `*** you joined #R`.
    fn join(&mut self, room: &str) {
        self.joined.retain(|r| !same_room(r, room));
        self.joined.push(room.to_string());
        self.current = Current::Room(room.to_string());
    }

    /// `*** now talking in #R`.
    fn talk_in(&mut self, room: &str) {
        if !self.contains(room) {
            self.joined.push(room.to_string());
        }
        self.current = Current::Room(room.to_string());
    }

    /// `*** you left #R`. If it was the current room, the server's own rule picks the next (its
    /// next line, `now talking in` or the no-room notice, says so too).
    fn leave(&mut self, room: &str) {
        self.joined.retain(|r| !same_room(r, room));
        if self.current_room().is_some_and(|c| same_room(c, room)) {
            self.current = match self.joined.last() {
                Some(last) => Current::Room(last.clone()),
                None => Current::Nowhere,
            };
        }
    }

    /// The answer to `/rooms`: the user's rooms (sorted by name) and the current one.
    fn listed(&mut self, mine: &[&str], current: Option<&str>) {
        self.joined.retain(|r| mine.iter().any(|m| same_room(m, r)));
        for room in mine {
            if !self.contains(room) {
                self.joined.push(room.to_string());
            }
        }
        self.current = match current {
            Some(room) => Current::Room(room.to_string()),
            None if mine.is_empty() => Current::Nowhere,
            None => Current::Unknown,
        };
    }
}

/// A command the session sent on its own; its answer is not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// `/rooms`, to learn the default room's name (it is the current room right after joining).
    Rooms,
    /// `/join #R`, restoring a room after a reconnect.
    Join(String),
    /// `/part #R`: the default room, which the user had left before the reconnect.
    Part(String),
}

impl Expect {
    fn command(&self) -> String {
        match self {
            Expect::Rooms => "/rooms".to_string(),
            Expect::Join(room) => format!("/join {room}"),
            Expect::Part(room) => format!("/part {room}"),
        }
    }
}

/// What a join brings, after its first line (the acknowledgement `*** you are NAME`, or
/// `*** you joined #R`): the room's topic, its history, and the list of who is there.
#[derive(Debug)]
struct Block {
    /// The room, if its name is known (the default room's is not before the first `/rooms`).
    room: Option<String>,
    /// A rejoin after a reconnect: only what the user has not seen is shown, without headers.
    rejoin: bool,
    /// The replayed history.
    lines: Vec<String>,
}

/// The client's side of the protocol.
#[derive(Debug)]
pub struct Session {
    name: Option<String>,
    phase: Phase,
    /// True once a join has succeeded: later joins are rejoins.
    has_joined: bool,
    /// Typed lines waiting for a join.
    queue: VecDeque<String>,
    /// The server asked for a name that we have not sent yet.
    prompted: bool,
    /// The rooms the user is in, as the server's lines have told.
    rooms: Rooms,
    /// The room every user is in after naming, once known.
    default_room: Option<String>,
    /// False once the server has refused `/rooms` ("unknown command": it has no rooms).
    rooms_supported: bool,
    /// Commands the session sent on its own whose answers are still due, oldest first (the server
    /// answers in order).
    expect: VecDeque<Expect>,
    /// While rooms are being restored after a reconnect: the rooms as they will be. Until the
    /// server has answered every command, the prompt and the lines shown follow this rather than
    /// each step on the way; and if the connection drops meanwhile, this is what is restored.
    restore: Option<Rooms>,
    /// The last chat lines seen in each room, without room prefix, keyed by [`room_key`].
    recent: HashMap<String, VecDeque<String>>,
    /// The join whose topic, history and list of who is there are arriving.
    block: Option<Block>,
}

impl Session {
    pub fn new(name: Option<String>) -> Session {
        Session {
            name,
            phase: Phase::Offline,
            has_joined: false,
            queue: VecDeque::new(),
            prompted: false,
            rooms: Rooms::default(),
            default_room: None,
            rooms_supported: true,
            expect: VecDeque::new(),
            restore: None,
            recent: HashMap::new(),
            block: None,
        }
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn is_joined(&self) -> bool {
        self.phase == Phase::Joined
    }

    /// Where what the user types goes: the current room (while rooms are being restored after a
    /// reconnect, the one that will be current).
    pub fn place(&self) -> Place<'_> {
        let rooms = self.restore.as_ref().unwrap_or(&self.rooms);
        match &rooms.current {
            Current::Unknown => Place::Unknown,
            Current::Room(room) => Place::Room(room),
            Current::Nowhere => Place::Nowhere,
        }
    }

    /// Typed lines not yet sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The user gave a name (at start-up, or after the server refused one). If the server is already
    /// waiting for it, it is sent at once.
    pub fn set_name(&mut self, name: String, out: &mut Vec<Action>) {
        self.name = Some(name);
        if self.phase == (Phase::Joining { name_sent: false }) && self.prompted {
            self.send_name(out);
        }
    }

    /// Gives up the current name: the next prompt waits for [`Session::set_name`].
    pub fn forget_name(&mut self) {
        self.name = None;
    }

    pub fn connected(&mut self) {
        self.phase = Phase::Joining { name_sent: false };
        self.prompted = false;
        self.block = None;
        self.expect.clear();
    }

    /// The connection is gone. What the user was in stays known, to be restored on the rejoin.
    pub fn disconnected(&mut self) {
        self.phase = Phase::Offline;
        self.block = None;
        self.expect.clear();
    }

    /// One line from the server.
    pub fn server_line(&mut self, line: &str, out: &mut Vec<Action>) {
        match self.phase {
            Phase::Offline => {}
            Phase::Joining { name_sent } => self.joining_line(line, name_sent, out),
            Phase::Joined => self.joined_line(line, out),
        }
    }

    fn joining_line(&mut self, line: &str, name_sent: bool, out: &mut Vec<Action>) {
        if line.ends_with("your name?") {
            self.prompted = true;
            if self.name.is_some() {
                self.send_name(out);
            }
        } else if let Some(name) = you_are(line) {
            let rejoining = self.has_joined;
            self.name = Some(name.to_string());
            self.phase = Phase::Joined;
            self.has_joined = true;
            if rejoining {
                out.push(Action::Note(format!("rejoined as {name}")));
            } else {
                out.push(Action::Show(line.to_string()));
            }
            out.push(Action::Joined);
            self.start(rejoining, out);
            self.flush_queue(out);
        } else if line.starts_with("! ") && name_sent {
            self.phase = Phase::Joining { name_sent: false };
            self.prompted = false;
            let ours = self
                .name
                .as_deref()
                .is_some_and(|n| line == format!("! the name {n} is taken"));
            if ours && self.has_joined {
                out.push(Action::NameStillTaken);
            } else {
                // The server asks again; the answer must be a new name, not this one once more.
                self.name = None;
                out.push(Action::NameRefused(line.to_string()));
            }
        } else if !self.has_joined {
            // The greeting: worth showing the first time, noise on every reconnect.
            out.push(Action::Show(line.to_string()));
        }
    }

    fn send_name(&mut self, out: &mut Vec<Action>) {
        if let Some(name) = &self.name {
            out.push(Action::Send(name.clone()));
            self.phase = Phase::Joining { name_sent: true };
            self.prompted = false;
        }
    }

    /// Just named: the user is in the default room only. Sends `/rooms` if its name is not known,
    /// and on a rejoin the commands that put the user back in the rooms they were in. They go before
    /// anything the user typed meanwhile, which is then sent to the room it was typed for.
    fn start(&mut self, rejoining: bool, out: &mut Vec<Action>) {
        let wanted = if rejoining {
            Some(
                self.restore
                    .take()
                    .unwrap_or_else(|| std::mem::take(&mut self.rooms)),
            )
        } else {
            None
        };
        self.rooms = Rooms::default();
        if let Some(default) = &self.default_room {
            self.rooms.join(default);
        }
        self.block = Some(Block {
            room: self.default_room.clone(),
            rejoin: rejoining,
            lines: Vec::new(),
        });
        self.expect.clear();
        if self.rooms_supported && self.default_room.is_none() {
            self.expect.push_back(Expect::Rooms);
        }
        if let Some(wanted) = wanted {
            let plan = restore_plan(&wanted, self.default_room.as_deref());
            let rejoined: Vec<&str> = plan
                .iter()
                .filter_map(|e| match e {
                    Expect::Join(room) => Some(room.as_str()),
                    _ => None,
                })
                .collect();
            if !rejoined.is_empty() {
                out.push(Action::Note(format!("rejoining {}", rejoined.join(", "))));
            }
            if !plan.is_empty() {
                self.expect.extend(plan);
                self.restore = Some(wanted);
            }
        }
        out.extend(self.expect.iter().map(|e| Action::Send(e.command())));
    }

    fn joined_line(&mut self, line: &str, out: &mut Vec<Action>) {
        if self.block.is_some() && self.block_line(line, out) {
            return;
        }
        if self.answer(line) {
            return;
        }
        self.track(line);
        if let Some(room) = you_joined(line) {
            out.push(Action::Show(line.to_string()));
            self.block = Some(Block {
                room: Some(room.to_string()),
                rejoin: false,
                lines: Vec::new(),
            });
            return;
        }
        if let Some(name) = you_are(line) {
            self.name = Some(name.to_string()); // A rename: rejoin under the new name.
        }
        if let Some((room, text)) = split_room(line) {
            if is_chat(text) {
                self.remember(&room_key(Some(room)), text);
            }
        } else if is_chat(line)
            && let Some(key) = self.current_key()
        {
            self.remember(&key, line);
        }
        out.push(Action::Show(self.present(line, is_chat(line))));
    }

    /// A line while a join's topic, history and list of who is there arrive. Returns false if the
    /// block has ended and the line is not part of it.
    fn block_line(&mut self, line: &str, out: &mut Vec<Action>) -> bool {
        let Some(block) = self.block.as_mut() else {
            return false;
        };
        if block.lines.is_empty()
            && (line.starts_with("*** topic: ") || line.starts_with("*** recent messages ("))
        {
            if !block.rejoin {
                out.push(Action::Show(line.to_string()));
            }
            return true;
        }
        // History lines come with the time they were said in front (docs/protocol.md).
        if is_chat(unstamped(line)) {
            block.lines.push(line.to_string());
            return true;
        }
        // The list of who is there ends the block; anything else ends it early (a server that sends
        // no list, say).
        if let Some(block) = self.block.take() {
            self.show_block(block, out);
        }
        if is_online_list(line) {
            out.push(Action::Show(self.present(line, true)));
            return true;
        }
        false
    }

    /// Shows a join's replayed history: all of it on a first join; on a rejoin only the lines after
    /// the longest stretch that ends what the user has already seen of that room.
    fn show_block(&mut self, block: Block, out: &mut Vec<Action>) {
        let key = room_key(block.room.as_deref());
        // What was seen live has no time in front: compare without it.
        let plain: Vec<String> = block
            .lines
            .iter()
            .map(|l| unstamped(l).to_string())
            .collect();
        let skip = self
            .recent
            .get(&key)
            .map_or(0, |seen| overlap(seen, &plain));
        let missed = block.lines.len() - skip;
        if skip > 0 && missed > 0 {
            let messages = if missed == 1 { "message" } else { "messages" };
            let room = match &block.room {
                Some(room) => format!(" in {room}"),
                None => String::new(),
            };
            out.push(Action::Note(format!(
                "{missed} {messages}{room} while you were away:"
            )));
        }
        for (line, plain) in block.lines[skip..].iter().zip(&plain[skip..]) {
            self.remember(&key, plain);
            out.push(Action::Show(self.present(line, true)));
        }
    }

    /// The answer to a command the session sent on its own. Returns true if the line was taken and
    /// is not to be shown. The server answers in order, and each command gets exactly one of the
    /// lines recognised here first, so a line that is not the answer expected still uses it up
    /// (it is shown, as an error would be).
    fn answer(&mut self, line: &str) -> bool {
        let is_answer = line.starts_with("! ")
            || line.starts_with("*** rooms (")
            || you_joined(line).is_some()
            || now_talking_in(line).is_some()
            || you_left(line).is_some();
        if !is_answer {
            return false;
        }
        let Some(expected) = self.expect.pop_front() else {
            return false;
        };
        if self.expect.is_empty() {
            self.restore = None;
        }
        match expected {
            Expect::Rooms if line.starts_with("*** rooms (") => {
                self.track(line);
                self.learn_default();
                true
            }
            Expect::Rooms if line.starts_with("! ") => {
                // A server without rooms ("unknown command"), or one that will not list them: the
                // user did not ask, so the refusal is not shown, and not asked for again.
                self.rooms_supported = false;
                true
            }
            Expect::Join(room) if you_joined(line).is_some_and(|r| same_room(r, &room)) => {
                self.track(line);
                self.block = Some(Block {
                    room: you_joined(line).map(str::to_string),
                    rejoin: true,
                    lines: Vec::new(),
                });
                true
            }
            Expect::Join(room) if now_talking_in(line).is_some_and(|r| same_room(r, &room)) => {
                self.track(line);
                true
            }
            Expect::Part(room) if you_left(line).is_some_and(|r| same_room(r, &room)) => {
                self.track(line);
                true
            }
            _ => false,
        }
    }

    /// Follows the user's rooms from the server's lines about them.
    fn track(&mut self, line: &str) {
        if let Some(room) = you_joined(line) {
            self.rooms.join(room);
        } else if let Some(room) = now_talking_in(line) {
            self.rooms.talk_in(room);
        } else if let Some(room) = you_left(line) {
            self.rooms.leave(room);
            self.recent.remove(&room_key(Some(room)));
        } else if line.starts_with(NO_ROOM) {
            self.rooms = Rooms {
                joined: Vec::new(),
                current: Current::Nowhere,
            };
            self.recent.clear();
        } else if let Some((mine, current)) = parse_rooms(line) {
            self.rooms.listed(&mine, current);
        }
    }

    /// Right after joining the current room is the default room: the answer to our `/rooms` names it.
    fn learn_default(&mut self) {
        let Some(default) = self.rooms.current_room().map(str::to_string) else {
            return;
        };
        if let Some(seen) = self.recent.remove(&room_key(None)) {
            self.recent.insert(room_key(Some(&default)), seen);
        }
        self.default_room = Some(default);
    }

    /// How a line is shown. While rooms are being restored the server's current room moves from one
    /// to the next; lines are shown as they will be once that is done: with their room's prefix,
    /// unless they are of the room that will be current. `room_line` says that an unprefixed line
    /// is about the server's current room (chat, or a line of a join's block).
    fn present(&self, line: &str, room_line: bool) -> String {
        let Some(restore) = &self.restore else {
            return line.to_string();
        };
        let shown = |room: &str| restore.current_room().is_some_and(|c| same_room(c, room));
        if let Some((room, text)) = split_room(line) {
            return if shown(room) { text } else { line }.to_string();
        }
        match self.rooms.current_room() {
            Some(room) if room_line && !shown(room) => format!("{room} {line}"),
            _ => line.to_string(),
        }
    }

    /// Where an unprefixed chat line belongs.
    fn current_key(&self) -> Option<String> {
        match &self.rooms.current {
            Current::Unknown => Some(room_key(None)),
            Current::Room(room) => Some(room_key(Some(room))),
            Current::Nowhere => None,
        }
    }

    fn remember(&mut self, key: &str, line: &str) {
        let seen = self.recent.entry(key.to_string()).or_default();
        if seen.len() == RECENT_MAX {
            seen.pop_front();
        }
        seen.push_back(line.to_string());
    }

    /// A line the user typed (or a script piped). Sent now if joined, else queued.
    /// Returns false if the queue is full and the line was not taken.
    pub fn typed(&mut self, line: String, out: &mut Vec<Action>) -> bool {
        if self.phase == Phase::Joined && self.queue.is_empty() {
            out.push(Action::Send(line));
            return true;
        }
        if self.queue.len() >= QUEUE_MAX {
            return false;
        }
        self.queue.push_back(line);
        true
    }

    /// Drops the oldest queued line (an interactive user's queue is full); returns it.
    pub fn drop_oldest(&mut self) -> Option<String> {
        self.queue.pop_front()
    }

    fn flush_queue(&mut self, out: &mut Vec<Action>) {
        out.extend(self.queue.drain(..).map(Action::Send));
    }
}

/// The commands that take a user who has just rejoined (and is in the default room only) back to
/// `wanted`: `/join` each other room in the order first joined, the current one last so that it
/// ends current, then `/part` the default room if the user had left it.
fn restore_plan(wanted: &Rooms, default: Option<&str>) -> Vec<Expect> {
    let is_default = |room: &str| default.is_some_and(|d| same_room(d, room));
    let target = wanted.current_room();
    let mut plan: Vec<Expect> = wanted
        .joined
        .iter()
        .filter(|room| !is_default(room) && !target.is_some_and(|t| same_room(t, room)))
        .map(|room| Expect::Join(room.clone()))
        .collect();
    if let Some(target) = target
        && (!is_default(target) || !plan.is_empty())
    {
        plan.push(Expect::Join(target.to_string()));
    }
    if let Some(default) = default
        && wanted.current != Current::Unknown
        && !wanted.contains(default)
    {
        plan.push(Expect::Part(default.to_string()));
    }
    plan
}

/// A history line without the time in front of it (any other line as it is).
fn unstamped(line: &str) -> &str {
    crate::protocol::unstamped(line).map_or(line, |(_, rest)| rest)
}

/// The overlap between what was seen and what is replayed: the largest `k` such that the first `k`
/// replayed lines are the last `k` lines seen.
fn overlap(seen: &VecDeque<String>, replayed: &[String]) -> usize {
    (1..=replayed.len().min(seen.len()))
        .rev()
        .find(|&k| seen.iter().skip(seen.len() - k).eq(replayed[..k].iter()))
        .unwrap_or(0)
}

/// A chat or action line: what the server keeps in its history.
fn is_chat(line: &str) -> bool {
    line.starts_with('<') || line.starts_with("* ")
}

/// `*** online (N): ...`, or a big room's `*** N online (/list to see them)`: the end of a join.
fn is_online_list(line: &str) -> bool {
    line.starts_with("*** online (")
        || line
            .strip_prefix("*** ")
            .and_then(|rest| rest.split_once(" online ("))
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A room's name: `#` and at least one character, no space.
fn is_room(name: &str) -> bool {
    name.len() > 1 && name.starts_with('#') && !name.contains(' ')
}

/// Room names are unique without regard to case.
fn same_room(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// The key of a room in `Session::recent`: `None` is the default room before its name is known.
fn room_key(room: Option<&str>) -> String {
    room.map(str::to_lowercase).unwrap_or_default()
}

/// `*** you are NAME`: the join acknowledgement or a rename (not the no-room notice: a name has no
/// spaces).
fn you_are(line: &str) -> Option<&str> {
    line.strip_prefix("*** you are ")
        .filter(|name| !name.is_empty() && !name.contains(' '))
}

fn you_joined(line: &str) -> Option<&str> {
    line.strip_prefix("*** you joined ").filter(|r| is_room(r))
}

fn now_talking_in(line: &str) -> Option<&str> {
    line.strip_prefix("*** now talking in ")
        .filter(|r| is_room(r))
}

fn you_left(line: &str) -> Option<&str> {
    line.strip_prefix("*** you left ").filter(|r| is_room(r))
}

/// A line of a room other than the current one: `#dev <bea> hi` is `("#dev", "<bea> hi")`.
fn split_room(line: &str) -> Option<(&str, &str)> {
    line.split_once(' ').filter(|(room, _)| is_room(room))
}

/// The answer to `/rooms`, `*** rooms (3): #dev (2, joined), #general (5, current), #random (1)`:
/// the rooms the user is in, and the current one.
fn parse_rooms(line: &str) -> Option<(Vec<&str>, Option<&str>)> {
    let rest = line.strip_prefix("*** rooms (")?;
    let (count, list) = rest.split_once("):")?;
    count.parse::<usize>().ok()?;
    let (mut mine, mut current) = (Vec::new(), None);
    for entry in list.trim().split("), ").filter(|e| !e.is_empty()) {
        let entry = entry.strip_suffix(')').unwrap_or(entry);
        let (room, about) = entry.split_once(" (")?;
        if !is_room(room) {
            return None;
        }
        match about.split_once(", ").map(|(_, mark)| mark) {
            Some("current") => {
                current = Some(room);
                mine.push(room);
            }
            Some("joined") => mine.push(room),
            _ => {}
        }
    }
    Some((mine, current))
}

/// The commands after which the server closes the connection.
pub fn is_quit(line: &str) -> bool {
    let command = line.split_whitespace().next().unwrap_or("");
    matches!(
        command.to_lowercase().as_str(),
        "/quit" | "/quitar" | "/exit"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(session: &mut Session, lines: &[&str]) -> Vec<Action> {
        let mut out = Vec::new();
        for line in lines {
            session.server_line(line, &mut out);
        }
        out
    }

    fn send(line: &str) -> Action {
        Action::Send(line.to_string())
    }

    fn show(line: &str) -> Action {
        Action::Show(line.to_string())
    }

    /// A session that has joined as `ana` and seen `seen`.
    fn joined(seen: &[&str]) -> Session {
        let mut s = Session::new(Some("ana".into()));
        s.connected();
        feed(
            &mut s,
            &[
                "*** welcome",
                "*** your name?",
                "*** you are ana",
                "*** online (1): ana",
            ],
        );
        feed(&mut s, seen);
        s
    }

    #[test]
    fn the_name_is_sent_only_when_asked_and_lines_wait_for_the_join() {
        let mut s = Session::new(Some("ana".into()));
        let mut out = Vec::new();
        assert!(s.typed("early line".into(), &mut out));
        assert!(out.is_empty());
        s.connected();
        assert_eq!(
            feed(&mut s, &["*** welcome to pollchat"]),
            [show("*** welcome to pollchat")]
        );
        assert_eq!(feed(&mut s, &["*** your name?"]), [send("ana")]);
        assert_eq!(
            feed(&mut s, &["*** you are ana"]),
            [
                show("*** you are ana"),
                Action::Joined,
                send("/rooms"),
                send("early line")
            ]
        );
        assert!(s.is_joined());
        assert!(s.typed("now".into(), &mut out));
        assert_eq!(out, [send("now")]);
    }

    #[test]
    fn a_name_given_after_the_prompt_is_sent_at_once() {
        let mut s = Session::new(None);
        s.connected();
        assert!(feed(&mut s, &["*** your name?"]).is_empty());
        let mut out = Vec::new();
        s.set_name("bea".into(), &mut out);
        assert_eq!(out, [send("bea")]);
    }

    #[test]
    fn a_refused_name_is_reported() {
        let mut s = Session::new(Some("a b".into()));
        s.connected();
        let out = feed(
            &mut s,
            &[
                "*** your name?",
                "! a name cannot contain a space",
                "*** your name?",
            ],
        );
        assert_eq!(
            out,
            [
                send("a b"),
                Action::NameRefused("! a name cannot contain a space".into())
            ]
        );
        let mut out = Vec::new();
        s.set_name("ab".into(), &mut out);
        assert_eq!(out, [send("ab")]);
    }

    #[test]
    fn a_taken_name_on_the_first_join_is_refused_but_on_a_rejoin_is_retried() {
        let mut s = Session::new(Some("ana".into()));
        s.connected();
        let out = feed(&mut s, &["*** your name?", "! the name ana is taken"]);
        assert_eq!(
            out[1],
            Action::NameRefused("! the name ana is taken".into())
        );

        let mut s = joined(&[]);
        s.disconnected();
        s.connected();
        let out = feed(&mut s, &["*** your name?", "! the name ana is taken"]);
        assert_eq!(out, [send("ana"), Action::NameStillTaken]);
    }

    #[test]
    fn a_rejoin_uses_the_latest_name_and_says_so_quietly() {
        let mut s = joined(&["*** you are anita"]);
        s.disconnected();
        s.connected();
        let out = feed(
            &mut s,
            &["*** welcome again", "*** your name?", "*** you are anita"],
        );
        assert_eq!(
            out,
            [
                send("anita"),
                Action::Note("rejoined as anita".into()),
                Action::Joined,
                send("/rooms")
            ]
        );
    }

    #[test]
    fn the_first_join_shows_all_history() {
        let mut s = Session::new(Some("ana".into()));
        s.connected();
        let out = feed(
            &mut s,
            &[
                "*** your name?",
                "*** you are ana",
                "*** recent messages (2):",
                "<bea> one",
                "* bea two",
                "*** online (2): ana, bea",
            ],
        );
        assert_eq!(
            out[4..],
            [
                show("*** recent messages (2):"),
                show("<bea> one"),
                show("* bea two"),
                show("*** online (2): ana, bea")
            ]
        );
    }

    #[test]
    fn history_with_times_in_front_is_matched_without_them() {
        let mut s = joined(&["<bea> one", "<bea> two"]);
        s.disconnected();
        s.connected();
        let out = feed(
            &mut s,
            &[
                "*** your name?",
                "*** you are ana",
                "*** recent messages (3):",
                "2026-12-06T03:34:10Z <bea> one",
                "2026-12-06T03:34:11Z <bea> two",
                "2026-12-06T03:35:00Z <bea> missed",
                "*** online (2): ana, bea",
            ],
        );
        assert_eq!(
            out[4..],
            [
                Action::Note("1 message while you were away:".into()),
                show("2026-12-06T03:35:00Z <bea> missed"),
                show("*** online (2): ana, bea")
            ]
        );
    }

    #[test]
    fn a_rejoin_shows_only_the_history_not_yet_seen() {
        let mut s = joined(&["<bea> one", "<bea> two"]);
        s.disconnected();
        s.connected();
        let out = feed(
            &mut s,
            &[
                "*** your name?",
                "*** you are ana",
                "*** recent messages (3):",
                "<bea> one",
                "<bea> two",
                "<bea> missed",
                "*** online (2): ana, bea",
            ],
        );
        assert_eq!(
            out[4..],
            [
                Action::Note("1 message while you were away:".into()),
                show("<bea> missed"),
                show("*** online (2): ana, bea")
            ]
        );
        // Nothing new: nothing shown but the list.
        s.disconnected();
        s.connected();
        let out = feed(
            &mut s,
            &[
                "*** your name?",
                "*** you are ana",
                "*** recent messages (1):",
                "<bea> missed",
                "*** online (2): ana, bea",
            ],
        );
        assert_eq!(out[4..], [show("*** online (2): ana, bea")]);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut s = Session::new(Some("ana".into()));
        let mut out = Vec::new();
        for i in 0..QUEUE_MAX {
            assert!(s.typed(format!("{i}"), &mut out));
        }
        assert!(!s.typed("one too many".into(), &mut out));
        assert_eq!(s.drop_oldest().as_deref(), Some("0"));
    }

    #[test]
    fn quit_commands_are_recognised() {
        for line in ["/quit", "/quit bye", "/QUITAR", "/exit now"] {
            assert!(is_quit(line), "{line}");
        }
        for line in ["/quitter", "quit", "//quit"] {
            assert!(!is_quit(line), "{line}");
        }
    }

    fn note(text: &str) -> Action {
        Action::Note(text.to_string())
    }

    /// A session that has joined as `ana` and learned that the default room is `#general`.
    fn in_general() -> Session {
        let mut s = joined(&[]);
        let out = feed(&mut s, &["*** rooms (2): #dev (1), #general (2, current)"]);
        assert!(out.is_empty(), "the answer to our /rooms is not shown");
        assert_eq!(s.place(), Place::Room("#general"));
        s
    }

    /// Reconnects `s`: the server's prompt and join acknowledgement; returns what the session did.
    fn reconnect(s: &mut Session) -> Vec<Action> {
        s.disconnected();
        s.connected();
        feed(s, &["*** your name?", "*** you are ana"])
    }

    #[test]
    fn the_default_room_is_learned_with_one_rooms_and_a_typed_rooms_is_shown() {
        let mut s = Session::new(Some("ana".into()));
        let mut out = Vec::new();
        s.typed("/join #dev".into(), &mut out); // Typed before the join: waits, after our /rooms.
        s.connected();
        let out = feed(&mut s, &["*** your name?", "*** you are ana"]);
        assert_eq!(out[3..], [send("/rooms"), send("/join #dev")]);
        assert_eq!(s.place(), Place::Unknown);
        let out = feed(
            &mut s,
            &[
                "*** online (1): ana",
                "*** rooms (1): #general (1, current)",
                "*** you joined #dev",
                "*** online (1): ana",
            ],
        );
        assert_eq!(
            out,
            [
                show("*** online (1): ana"),
                show("*** you joined #dev"),
                show("*** online (1): ana")
            ]
        );
        assert_eq!(s.place(), Place::Room("#dev"));
        // The user's own /rooms is shown, and tells the client the truth too.
        let line = "*** rooms (3): #dev (1, joined), #general (1), #ops (2, current)";
        assert_eq!(feed(&mut s, &[line]), [show(line)]);
        assert_eq!(s.place(), Place::Room("#ops"));
        assert_eq!(s.rooms.joined, ["#dev", "#ops"]);
    }

    #[test]
    fn joins_switches_parts_and_no_room_are_followed() {
        let mut s = in_general();
        let out = feed(
            &mut s,
            &[
                "*** you joined #dev",
                "*** topic: the build",
                "*** recent messages (1):",
                "<bea> green",
                "*** online (2): ana, bea",
            ],
        );
        assert_eq!(
            out,
            [
                show("*** you joined #dev"),
                show("*** topic: the build"),
                show("*** recent messages (1):"),
                show("<bea> green"),
                show("*** online (2): ana, bea")
            ]
        );
        assert_eq!(s.place(), Place::Room("#dev"));
        feed(&mut s, &["*** now talking in #general"]);
        assert_eq!(s.place(), Place::Room("#general"));
        feed(&mut s, &["*** you joined #ops", "*** online (1): ana"]);
        assert_eq!(s.rooms.joined, ["#general", "#dev", "#ops"]);
        // Leaving the current room: the most recently joined of the others becomes current.
        feed(&mut s, &["*** you left #ops"]);
        assert_eq!(s.place(), Place::Room("#dev"));
        feed(
            &mut s,
            &["*** now talking in #dev", "*** you left #general"],
        );
        assert_eq!(s.place(), Place::Room("#dev"));
        let out = feed(
            &mut s,
            &[
                "*** you left #dev",
                "*** you are in no room; /join #ROOM to talk",
            ],
        );
        assert_eq!(
            out,
            [
                show("*** you left #dev"),
                show("*** you are in no room; /join #ROOM to talk")
            ]
        );
        assert_eq!(s.place(), Place::Nowhere);
        assert_eq!(s.name(), Some("ana"), "the no-room notice is not a rename");
        // Room names are unique without regard to case.
        feed(&mut s, &["*** you joined #Dev", "*** online (1): ana"]);
        feed(&mut s, &["*** now talking in #DEV"]);
        assert_eq!(s.rooms.joined.len(), 1);
    }

    #[test]
    fn lines_of_other_rooms_are_shown_as_sent() {
        let mut s = in_general();
        feed(&mut s, &["*** you joined #dev", "*** online (1): ana"]);
        let lines = [
            "#general <bea> hola",
            "#general * bea waves",
            "#general *** carl joined",
            "<dev> in the current room",
            "[bea -> you] psst",
        ];
        let out = feed(&mut s, &lines);
        assert_eq!(out, lines.map(show));
        assert_eq!(s.place(), Place::Room("#dev"));
    }

    #[test]
    fn a_rejoin_joins_every_room_again_and_makes_the_same_one_current() {
        let mut s = in_general();
        feed(
            &mut s,
            &[
                "<bea> g1",
                "*** you joined #ops",
                "*** recent messages (1):",
                "<bea> o1",
                "*** online (2): ana, bea",
                "*** you joined #dev",
                "*** online (1): ana",
                "#ops <bea> o2",
            ],
        );
        s.disconnected();
        let mut out = Vec::new();
        s.typed("typed while away".into(), &mut out);
        assert!(out.is_empty());
        let out = reconnect(&mut s);
        // Each room in the order first joined, the current one last; then what was typed meanwhile.
        assert_eq!(
            out,
            [
                send("ana"),
                note("rejoined as ana"),
                Action::Joined,
                note("rejoining #ops, #dev"),
                send("/join #ops"),
                send("/join #dev"),
                send("typed while away")
            ]
        );
        // While the server works through them, the prompt already shows where the user will be, and
        // lines are shown as they will be then: those of other rooms with their room.
        assert_eq!(s.place(), Place::Room("#dev"));
        let out = feed(
            &mut s,
            &[
                "*** recent messages (2):",
                "<bea> g1",
                "<bea> g2",
                "*** online (2): ana, bea",
                "*** you joined #ops",
                "*** recent messages (3):",
                "<bea> o1",
                "<bea> o2",
                "<bea> o3",
                "*** online (2): ana, bea",
                "<carl> live in ops",
                "#general <bea> live in general",
            ],
        );
        assert_eq!(
            out,
            [
                note("1 message in #general while you were away:"),
                show("#general <bea> g2"),
                show("#general *** online (2): ana, bea"),
                note("1 message in #ops while you were away:"),
                show("#ops <bea> o3"),
                show("#ops *** online (2): ana, bea"),
                show("#ops <carl> live in ops"),
                show("#general <bea> live in general"),
            ]
        );
        assert_eq!(s.place(), Place::Room("#dev"));
        let out = feed(
            &mut s,
            &[
                "*** you joined #dev",
                "*** online (1): ana",
                "#ops <bea> after",
                "<bea> in dev",
            ],
        );
        assert_eq!(
            out,
            [
                show("*** online (1): ana"),
                show("#ops <bea> after"),
                show("<bea> in dev")
            ]
        );
        assert!(s.restore.is_none());
        assert_eq!(s.place(), Place::Room("#dev"));
        assert_eq!(s.rooms.joined, ["#general", "#ops", "#dev"]);
        // The lines seen meanwhile count as seen for the next rejoin.
        reconnect(&mut s);
        let out = feed(
            &mut s,
            &[
                "*** recent messages (1):",
                "<bea> live in general",
                "*** online (2): ana, bea",
                "*** you joined #ops",
                "*** recent messages (2):",
                "<carl> live in ops",
                "<bea> after",
                "*** online (3): ana, bea, carl",
            ],
        );
        assert_eq!(
            out,
            [
                show("#general *** online (2): ana, bea"),
                show("#ops *** online (3): ana, bea, carl"),
            ]
        );
    }

    #[test]
    fn a_rejoin_with_the_default_room_current_ends_by_switching_back_to_it() {
        let mut s = in_general();
        feed(
            &mut s,
            &[
                "*** you joined #dev",
                "*** online (1): ana",
                "*** now talking in #general",
            ],
        );
        let out = reconnect(&mut s);
        assert_eq!(out[4..], [send("/join #dev"), send("/join #general")]);
        assert_eq!(s.place(), Place::Room("#general"));
        let out = feed(
            &mut s,
            &[
                "*** online (2): ana, bea",
                "*** you joined #dev",
                "*** online (1): ana",
                "*** now talking in #general",
            ],
        );
        assert_eq!(
            out,
            [
                show("*** online (2): ana, bea"),
                show("#dev *** online (1): ana")
            ]
        );
        assert!(s.restore.is_none());
        assert_eq!(s.place(), Place::Room("#general"));
        // Only the default room: nothing to send.
        let mut s = in_general();
        let out = reconnect(&mut s);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(s.place(), Place::Room("#general"));
    }

    #[test]
    fn a_rejoin_leaves_the_default_room_again_if_the_user_had_left_it() {
        let mut s = in_general();
        feed(
            &mut s,
            &[
                "*** you joined #dev",
                "*** online (1): ana",
                "*** you left #general",
            ],
        );
        let out = reconnect(&mut s);
        assert_eq!(out[4..], [send("/join #dev"), send("/part #general")]);
        let out = feed(
            &mut s,
            &[
                "*** online (2): ana, bea",
                "*** you joined #dev",
                "*** online (1): ana",
                "*** you left #general",
            ],
        );
        assert_eq!(
            out,
            [
                show("#general *** online (2): ana, bea"),
                show("*** online (1): ana")
            ]
        );
        assert_eq!(s.rooms.joined, ["#dev"]);

        // A user who had left every room is in none again.
        let mut s = in_general();
        feed(
            &mut s,
            &[
                "*** you left #general",
                "*** you are in no room; /join #ROOM to talk",
            ],
        );
        let out = reconnect(&mut s);
        assert_eq!(out[3..], [send("/part #general")]);
        assert_eq!(s.place(), Place::Nowhere);
        let out = feed(
            &mut s,
            &[
                "*** online (1): ana",
                "*** you left #general",
                "*** you are in no room; /join #ROOM to talk",
            ],
        );
        assert_eq!(
            out,
            [
                show("#general *** online (1): ana"),
                show("*** you are in no room; /join #ROOM to talk")
            ]
        );
        assert_eq!(s.place(), Place::Nowhere);
    }

    #[test]
    fn a_refused_rejoin_is_shown_and_ends_the_restore() {
        let mut s = in_general();
        feed(&mut s, &["*** you joined #dev", "*** online (1): ana"]);
        reconnect(&mut s);
        let out = feed(
            &mut s,
            &[
                "*** online (1): ana",
                "! the server has 1000 rooms, the most allowed",
            ],
        );
        assert_eq!(
            out[1..],
            [show("! the server has 1000 rooms, the most allowed")]
        );
        assert!(s.restore.is_none());
        assert_eq!(s.place(), Place::Room("#general"));
    }

    #[test]
    fn a_connection_lost_while_restoring_restores_the_same_rooms_next_time() {
        let mut s = in_general();
        feed(
            &mut s,
            &[
                "*** you joined #dev",
                "*** online (1): ana",
                "*** you joined #ops",
                "*** online (1): ana",
            ],
        );
        let first = reconnect(&mut s);
        assert_eq!(first[4..], [send("/join #dev"), send("/join #ops")]);
        feed(
            &mut s,
            &[
                "*** online (1): ana",
                "*** you joined #dev",
                "*** online (1): ana",
            ],
        );
        assert_eq!(reconnect(&mut s), first);
        assert_eq!(s.place(), Place::Room("#ops"));
    }

    #[test]
    fn a_server_without_rooms_is_asked_once() {
        let mut s = joined(&[]);
        let out = feed(&mut s, &["! unknown command: /rooms (try /help)"]);
        assert!(out.is_empty());
        assert_eq!(s.place(), Place::Unknown);
        let out = reconnect(&mut s);
        assert_eq!(out, [send("ana"), note("rejoined as ana"), Action::Joined]);
    }

    #[test]
    fn big_rooms_and_the_rooms_list_are_understood() {
        assert!(is_online_list("*** online (2): ana, bea"));
        assert!(is_online_list("*** 250 online (/list to see them)"));
        assert!(!is_online_list("*** ana joined"));
        assert!(!is_online_list("*** rooms (1): #general (1, current)"));
        assert_eq!(
            parse_rooms("*** rooms (3): #dev (2, joined), #general (5, current), #random (1)"),
            Some((vec!["#dev", "#general"], Some("#general")))
        );
        assert_eq!(
            parse_rooms("*** rooms (1): #general (5)"),
            Some((vec![], None))
        );
        assert_eq!(parse_rooms("*** rooms are nice"), None);
        // A join's block ends with a big room's count as with a list.
        let mut s = in_general();
        let out = feed(
            &mut s,
            &[
                "*** you joined #big",
                "*** 250 online (/list to see them)",
                "<bea> live",
            ],
        );
        assert_eq!(
            out[1..],
            [
                show("*** 250 online (/list to see them)"),
                show("<bea> live")
            ]
        );
    }
}
