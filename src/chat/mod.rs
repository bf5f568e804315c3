//! The chat core: names, commands, history, and who receives what.
//!
//! A [`Chat`] knows nothing of sockets, framing or where an event came from. The edge that owns the
//! connections (the TCP and WebSocket loop in `server/`) turns what happens into an [`Event`], hands
//! it to [`Chat::handle`], and carries out the [`Delivery`]s it gets back. That keeps every rule of
//! the chat in plain data in, plain data out, tested below without any I/O.
//!
//! Time is an input too: the room never reads the clock, it is told `now` in [`Event::Connect`] and
//! [`Event::Tick`], so the name timeout is tested without waiting.
//!
//! The chat has rooms (`rooms.rs`): every user is in the default room once named, and may join
//! others. A line to a room is a [`Delivery::Room`]: the edge asks [`Chat::room_recipients`] who gets
//! it, and whether each gets it with the room's name in front (a room that is not their current one).
//!
//! A chat can be one node of a cluster (`cluster.rs` in this folder): then some of its users are on
//! other nodes, names are claimed across the cluster before a join is confirmed, and chat lines also
//! go out as [`Request`]s. The cluster is still only events in and deliveries out: what another node
//! did arrives as [`Event::Remote`], Redis's answers as [`Event::Answer`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use compact_str::CompactString;
use log::info;

use crate::protocol;
use crate::text::{self, check_name, folded, name_key};

mod cluster;
mod moderation;
mod names;
mod notice;
mod rooms;

pub use cluster::{Answer, Remote, Request};
use cluster::{ClusterState, Wait};
use moderation::Moderation;
pub use moderation::{BAN_MINUTES_MAX, ModAction};
use names::NameIndex;
pub use notice::{Leaving, ListedRoom, Notice, OperAnswer};
pub use rooms::RoomId;
pub use rooms::is_room_name;
use rooms::{RoomList, Rooms};

/// Names one connection for as long as it is in the room. The edge picks the number (the TCP loop
/// uses the connection's slab key) and must not reuse it before it has sent [`Event::Disconnect`] or
/// received [`Delivery::Close`] for it. Ids should be small and dense, as slab keys are: the room
/// keeps its clients in a vector indexed by id.
pub type ClientId = usize;

/// What the room is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A new connection: it gets a greeting and the name prompt, and has until `now` plus the name
    /// timeout to give a name.
    Connect { id: ClientId, now: Instant },
    /// [`Event::Connect`] from a known peer address: a banned one is told so and closed at once,
    /// before the name prompt; the address is kept for `/ban NAME` (see `moderation.rs`).
    ConnectFrom {
        id: ClientId,
        now: Instant,
        addr: IpAddr,
    },
    /// One complete line of text from a connection, without its terminator. It may still hold any
    /// character at all; the room cleans it (see [`text::clean`]). While [`Chat::is_waiting`] is true
    /// for a connection, the edge holds its lines back and hands them over once it is not.
    Line { id: ClientId, text: &'a str },
    /// A line from `id` as if `room` were its current room, without making it current: chat and
    /// `/me` are said there, `/topic`, `/list` and `/part` without a room name are about it. For a
    /// face whose every message names its room (IRC's `PRIVMSG #dev :hi`). A room `id` is not in is
    /// refused with the same `!` line as `/part #room` (not in it, no such room, a bad name). Held
    /// back like [`Event::Line`] while [`Chat::is_waiting`].
    InRoom {
        id: ClientId,
        room: &'a str,
        text: &'a str,
    },
    /// The connection is gone, or the edge is closing it for its own reasons (`reason` is shown to
    /// the others, e.g. `connection lost`). An id the room does not know is ignored.
    Disconnect { id: ClientId, reason: &'a str },
    /// Time has passed: expire connections that never gave a name.
    Tick { now: Instant },
    /// The server is stopping: everyone is told and closed.
    Shutdown,
    /// The cluster's answer to the [`Request`] with this `ticket`, made for connection `id`.
    Answer {
        id: ClientId,
        ticket: u64,
        answer: Answer,
    },
    /// Something that happened on another node of the cluster.
    Remote(Remote),
    /// The link to the cluster is lost: only local users can be reached.
    ClusterDown,
    /// The link to the cluster is up (again).
    ClusterUp,
}

/// What the room wants done. Each says what happened as a [`Notice`]; wording it, and framing it,
/// is the edge's business (the line face: [`Notice::line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// One notice to one connection.
    To { id: ClientId, notice: Notice },
    /// One notice to every member of a room, except `except`. Members whose current room it is not
    /// get its line with the room's name in front (see [`Chat::room_recipients`]).
    Room {
        room: RoomId,
        except: Option<ClientId>,
        notice: Notice,
    },
    /// One notice about the server itself to every user who has joined, whatever their rooms,
    /// except `except` (the cluster link lost or back).
    Everyone {
        except: Option<ClientId>,
        notice: Notice,
    },
    /// Close the connection gracefully once what was queued for it has been sent. The room has
    /// already forgotten it.
    Close { id: ClientId },
    /// Something for the cluster to do (only in a room made with `cluster: true`).
    Cluster(Request),
    /// The bans changed (`/ban`, `/unban`, or another node's): write them out if they are kept
    /// (`--ban-file`), from [`Chat::bans`].
    BansChanged,
}

/// The room's settings.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// How many chat lines a newcomer is shown on joining; 0 turns history off.
    pub history: usize,
    /// How long a connection may take to give a valid name.
    pub name_timeout: Duration,
    /// Above this many users the room is "big": joins and leaves are announced as one summary line a
    /// second, a newcomer is told how many are online rather than all their names, and `/list` is
    /// served to each user at most once per [`LIST_INTERVAL`]. Without this, a crowd of N joining
    /// costs N² lines.
    pub announce_limit: usize,
    /// The room is one node of a cluster: names are claimed through [`Request`]s, and the room starts
    /// with the link down until [`Event::ClusterUp`].
    pub cluster: bool,
    /// The room every user is in once named, which always exists (`--default-room`, `#general`).
    pub default_room: String,
    /// Most rooms on the server, the default one included (`--max-rooms`).
    pub max_rooms: usize,
    /// Most rooms one user may be in at once (`--max-rooms-per-user`).
    pub max_rooms_per_user: usize,
    /// The ids the edge uses are below this (0 if unknown). The room's vector of clients is reserved
    /// for them once, as the server's slab is: it never grows by doubling (which leaves the old copy
    /// behind in the heap), and only the pages of ids in use are ever touched.
    pub ids: usize,
}

/// In a big room, how often one user may have `/list`: its answer is then large (20,000 names are
/// about 200 KB), and repeating it must not become a way to make the server work for nothing.
pub const LIST_INTERVAL: Duration = Duration::from_secs(2);
/// In a big room, how often the summary of joins and leaves goes out.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(1);

enum Client {
    /// Connected, asked for a name, none accepted yet.
    Naming { deadline: Instant },
    /// A valid name is being claimed across the cluster (see `cluster.rs`). Boxed: this state lasts
    /// a round trip to Redis, and an unboxed one would make every user's entry twice as large.
    Claiming(Box<cluster::Claim>),
    /// Joined under this name.
    Joined {
        /// Inline up to 24 bytes (nearly every name): no allocation of its own, and copied cheaply
        /// when handling a line needs it beside a mutable room.
        name: CompactString,
    },
}

/// Every connection the room knows, by id. Ids are small and dense (the TCP edge uses slab keys),
/// so a vector indexed by id does what a map would, in less memory: an idle user's entry is most of
/// what the room holds for them.
#[derive(Default)]
struct Clients(Vec<Option<Client>>);

impl Clients {
    fn get(&self, id: &ClientId) -> Option<&Client> {
        self.0.get(*id)?.as_ref()
    }

    fn get_mut(&mut self, id: &ClientId) -> Option<&mut Client> {
        self.0.get_mut(*id)?.as_mut()
    }

    fn insert(&mut self, id: ClientId, client: Client) {
        if id >= self.0.len() {
            self.0.resize_with(id + 1, || None);
        }
        self.0[id] = Some(client);
    }

    /// The name of a joined user; empty for anyone else.
    fn name(&self, id: ClientId) -> &str {
        match self.get(&id) {
            Some(Client::Joined { name, .. }) => name,
            _ => "",
        }
    }

    fn remove(&mut self, id: &ClientId) -> Option<Client> {
        self.0.get_mut(*id)?.take()
    }

    fn iter(&self) -> impl Iterator<Item = (ClientId, &Client)> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(id, c)| Some((id, c.as_ref()?)))
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The state of one chat room: who is connected, under which names, and the recent lines.
pub struct Chat {
    config: ChatConfig,
    clients: Clients,
    /// Joined users by name, so that names are unique without regard to case.
    names: NameIndex,
    /// The rooms of each joined user who is not simply in the default room and talking there (nearly
    /// everyone is, and costs nothing here: an idle user's entry is most of what the chat holds for
    /// them). A joined user without an entry has `RoomList::default()`.
    room_lists: HashMap<ClientId, RoomList>,
    /// Every room, with its members, topic and history. (In a cluster, the default room's history is
    /// kept in Redis instead, and comes with the answer to a join.)
    rooms: Rooms,
    /// The ids of connections still giving a name (the deadline is in `Client::Naming`). Each tick
    /// drops those that have joined or left, so this holds only the few naming right now, not an entry
    /// per user for a minute after a crowd joins.
    naming: Vec<ClientId>,
    /// The latest time the room was told (by [`Event::Connect`] or [`Event::Tick`]).
    clock: Instant,
    /// The wall clock's time as the edge last told it ([`Chat::set_time`]), in Unix seconds: when
    /// each history line was said. 0 until told (history lines then carry no time).
    unix_time: u64,
    /// The users of other nodes and the requests under way, when the room is one node of a cluster.
    cluster: Option<ClusterState>,
    /// In a big room, when each user who asked in the last [`LIST_INTERVAL`] last had `/list`. Kept
    /// apart from the users' entries: few users have one at any time, and every user has an entry.
    listed: HashMap<ClientId, Instant>,
    /// Operators, the peers' addresses, bans (`moderation.rs`).
    moderation: Moderation,
}

impl Chat {
    pub fn new(config: ChatConfig) -> Chat {
        let now = Instant::now();
        Chat {
            rooms: Rooms::new(&config.default_room, now),
            room_lists: HashMap::new(),
            clients: Clients(Vec::with_capacity(config.ids)),
            cluster: config.cluster.then(ClusterState::default),
            listed: HashMap::new(),
            moderation: Moderation::new(config.ids),
            config,

            names: NameIndex::new(),
            naming: Vec::new(),
            clock: now,
            unix_time: 0,
        }
    }

    /// The ids of everyone who has joined here, in no particular order: the recipients of
    /// [`Delivery::Everyone`].
    pub fn members(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.names.ids()
    }

    /// The names of the users who have joined here (not on other nodes).
    pub fn local_names(&self) -> Vec<String> {
        self.clients
            .iter()
            .filter_map(|(_, client)| match client {
                Client::Joined { name, .. } => Some(name.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Every name this node holds or has asked a cluster for: its users' and those of joins and
    /// renames under way.
    pub fn claimed_names(&self) -> Vec<String> {
        let mut names = self.local_names();
        if let Some(cluster) = &self.cluster {
            names.extend(cluster.reserved_names().map(str::to_string));
        }
        names
    }

    /// Every membership of a user of this node in a room other than the default one, as (room,
    /// user) names: what a cluster node claims again in Redis after an outage.
    pub fn memberships(&self) -> Vec<(String, String)> {
        let default = self.rooms.default_room();
        let mut all = Vec::new();
        for (_, chat_room) in self.rooms.iter().filter(|(room, _)| *room != default) {
            for &member in &chat_room.members {
                let name = self.clients.name(member as ClientId).to_string();
                all.push((chat_room.name.to_string(), name));
            }
        }
        all
    }

    /// The topic of every room that has a member here (the default room's too), as (room, text):
    /// what a cluster node gives Redis again after an outage, if Redis has none for the room.
    pub fn topics(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for (_, chat_room) in self.rooms.iter() {
            if let Some(text) = &chat_room.topic
                && !chat_room.members.is_empty()
            {
                all.push((chat_room.name.to_string(), text.clone()));
            }
        }
        all
    }

    /// How many users have joined here (not on other nodes).
    pub fn local_users(&self) -> usize {
        self.names.len()
    }

    /// How many rooms there are, the default one included.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Tells the chat the wall clock's time (Unix seconds), which history lines are stamped with.
    /// The edge calls it on every tick: the chat reads no clock of its own.
    pub fn set_time(&mut self, unix: u64) {
        self.unix_time = unix;
    }

    /// How many users have joined, here and on the other nodes of a cluster.
    pub fn online(&self) -> usize {
        self.names.len() + self.cluster.as_ref().map_or(0, ClusterState::remote_users)
    }

    /// True while connection `id` waits for the cluster's answer (to its join, a rename, a private
    /// message to another node). Its next lines must wait too, or they would overtake it.
    pub fn is_waiting(&self, id: ClientId) -> bool {
        match &self.cluster {
            None => false,
            Some(cluster) => {
                cluster.is_waiting(id) || matches!(self.clients.get(&id), Some(Client::Claiming(_)))
            }
        }
    }

    /// Calls `each` for every member of `room` but `except`, saying whether that member gets the
    /// room's lines with the room's name in front: those whose current room it is not. When it is
    /// everyone's current room (nearly always: one room, or people who stay in theirs), nobody's
    /// current room is even looked up.
    pub fn room_recipients(
        &self,
        room: RoomId,
        except: Option<ClientId>,
        mut each: impl FnMut(ClientId, bool),
    ) {
        if !self.rooms.exists(room) {
            return;
        }
        let chat_room = self.rooms.get(room);
        let all_current = chat_room.current_of == chat_room.members.len();
        for &member in &chat_room.members {
            let id = member as ClientId;
            if Some(id) != except {
                each(id, !all_current && self.current_room(id) != Some(room));
            }
        }
    }

    /// The name of `room`, `#` included.
    pub fn room_name(&self, room: RoomId) -> &str {
        if self.rooms.exists(room) {
            &self.rooms.get(room).name
        } else {
            ""
        }
    }

    /// The current room of user `id`, if it has joined and is in a room.
    fn current_room(&self, id: ClientId) -> Option<RoomId> {
        self.room_list(id)?.current()
    }

    /// The rooms of user `id`, if it has joined.
    fn room_list(&self, id: ClientId) -> Option<&RoomList> {
        static DEFAULT_ONLY: RoomList = RoomList::DEFAULT_ONLY;
        match self.clients.get(&id) {
            Some(Client::Joined { .. }) => Some(self.room_lists.get(&id).unwrap_or(&DEFAULT_ONLY)),
            _ => None,
        }
    }

    /// Whether connection `id` has joined under a name (its lines are chat, not name attempts).
    pub fn has_joined(&self, id: ClientId) -> bool {
        matches!(self.clients.get(&id), Some(Client::Joined { .. }))
    }

    /// Handles one event, appending what must be delivered to `out`, in order. The deliveries speak
    /// of the room as this event left it ([`Delivery::Everyone`] is whoever is in it now): carry
    /// them out before handing over the next event.
    pub fn handle(&mut self, event: Event<'_>, out: &mut Vec<Delivery>) {
        match event {
            Event::Connect { id, now } => self.connect(id, now, None, out),
            Event::ConnectFrom { id, now, addr } => self.connect(id, now, Some(addr), out),
            Event::Line { id, text } => self.line(id, text, out),
            Event::InRoom { id, room, text } => self.line_in(id, room, text, out),
            Event::Disconnect { id, reason } => self.leave(id, reason, out),
            Event::Tick { now } => {
                self.clock = now;
                self.listed.retain(|_, at| now < *at + LIST_INTERVAL);
                self.moderation.tick(now);
                self.expire_names(now, out);
                self.summarise(now, out);
            }
            Event::Shutdown => self.shutdown(out),
            Event::Answer { id, ticket, answer } => self.answered(id, ticket, answer, out),
            Event::Remote(remote) => self.remote(remote, out),
            Event::ClusterDown => self.cluster_down(out),
            Event::ClusterUp => self.cluster_up(out),
        }
    }

    fn connect(
        &mut self,
        id: ClientId,
        now: Instant,
        addr: Option<IpAddr>,
        out: &mut Vec<Delivery>,
    ) {
        self.clock = now;
        if let Some(addr) = addr
            && self.moderation.bans.is_banned(addr, now)
        {
            info!("#{id} refused: {addr} is banned");
            to(out, id, protocol::YOU_ARE_BANNED);
            return out.push(Delivery::Close { id });
        }
        self.moderation.connected(id, addr);
        self.ask_name(id);
        to(
            out,
            id,
            Notice::Greeting {
                online: self.online(),
            },
        );
        to(out, id, Notice::NamePrompt);
    }

    /// Puts connection `id` in the naming state, with the full name timeout from now.
    fn ask_name(&mut self, id: ClientId) {
        let deadline = self.clock + self.config.name_timeout;
        self.clients.insert(id, Client::Naming { deadline });
        self.naming.push(id);
    }

    fn line(&mut self, id: ClientId, raw: &str, out: &mut Vec<Delivery>) {
        let cleaned = text::clean(raw);
        if cleaned.trim().is_empty() {
            return; // Blank lines are ignored, in every state.
        }
        match self.clients.get(&id) {
            Some(Client::Naming { .. }) => self.name_given(id, cleaned.trim(), out),
            Some(Client::Joined { name, .. }) => {
                let name = name.clone();
                self.said(id, &name, &cleaned, None, out)
            }
            // Claiming: the edge holds lines back while `is_waiting`. None: already closed, the rest
            // of its input is void.
            Some(Client::Claiming(_)) | None => {}
        }
    }

    /// [`Event::InRoom`]: a joined user's line, said in `wanted` (one of its rooms).
    fn line_in(&mut self, id: ClientId, wanted: &str, raw: &str, out: &mut Vec<Delivery>) {
        let Some(Client::Joined { name, .. }) = self.clients.get(&id) else {
            return; // Only joined users are in rooms; the face sends nothing else this way.
        };
        let name = name.clone();
        let cleaned = text::clean(raw);
        if cleaned.trim().is_empty() {
            return;
        }
        match self.my_room(id, wanted) {
            Ok(room) => self.said(id, &name, &cleaned, Some(room), out),
            Err(refusal) => to(out, id, refusal),
        }
    }

    /// The room called `wanted` if user `id` is in it; otherwise the error line that says why not.
    fn my_room(&self, id: ClientId, wanted: &str) -> Result<RoomId, Notice> {
        match self.rooms.find(wanted) {
            Some(room) if self.rooms_of(id).contains(&room) => Ok(room),
            Some(_) => Err(Notice::NotInRoom {
                room: wanted.into(),
            }),
            None if is_room_name(wanted) => Err(Notice::NoSuchRoom {
                room: wanted.into(),
            }),
            None => Err(Notice::BadRoomName {
                room: wanted.into(),
            }),
        }
    }

    /// The room a line of `id`'s is about: `at` if it named one ([`Event::InRoom`]), else its
    /// current room.
    fn here(&self, id: ClientId, at: Option<RoomId>) -> Option<RoomId> {
        at.or_else(|| self.current_room(id))
    }

    /// The first line of a connection is its name.
    fn name_given(&mut self, id: ClientId, name: &str, out: &mut Vec<Delivery>) {
        if let Some(command) = name.strip_prefix('/')
            && is_quit(command.split_whitespace().next().unwrap_or(""))
        {
            self.clients.remove(&id);
            let reason = protocol::REASON_QUIT.to_string();
            to(out, id, Notice::Goodbye { reason });
            out.push(Delivery::Close { id });
            return;
        }
        if let Err(error) = self.check_free(name, None) {
            to(out, id, error);
            to(out, id, Notice::NamePrompt);
            return;
        }
        if self.cluster.is_some() {
            return self.claim(id, name, out);
        }
        let default = self.rooms.default_room();
        let history = self.rooms.get(default).history.iter().cloned().collect();
        self.welcome(id, name, history, Vec::new(), out);
    }

    /// `name` is `id`'s: it joins, hears who is here and what was said, and the others hear of it.
    /// `live` are lines that arrived while a cluster was asked for the name.
    fn welcome(
        &mut self,
        id: ClientId,
        name: &str,
        history: Vec<(u64, String)>,
        live: Vec<String>,
        out: &mut Vec<Delivery>,
    ) {
        let room = self.rooms.default_room();
        self.clients.insert(
            id,
            Client::Joined {
                name: CompactString::new(name),
            },
        );
        self.names
            .insert(id, name, |other| self.clients.name(other));
        self.rooms.get_mut(room).current_of += 1;
        info!("#{id} joined as {name}");
        to(out, id, Notice::YouAre { name: name.into() });
        self.enter(id, name, room, history, out);
        for line in live {
            to(out, id, Notice::from_chat_line(self.room_name(room), line));
        }
    }

    /// `id` (whose room list already has `room`, current) enters it: it hears the topic, the history
    /// and who is there, and the others hear of it.
    fn enter(
        &mut self,
        id: ClientId,
        name: &str,
        room: RoomId,
        history: Vec<(u64, String)>,
        out: &mut Vec<Delivery>,
    ) {
        self.rooms.add(room, id);
        if let Some(topic) = &self.rooms.get(room).topic {
            let (room, text) = (self.room_name(room).into(), Some(topic.clone()));
            to(out, id, Notice::Topic { room, text });
        }
        if !history.is_empty() {
            let (room_name, lines) = (self.room_name(room).into(), history.len());
            to(
                out,
                id,
                Notice::HistoryHeader {
                    room: room_name,
                    lines,
                },
            );
            for (at, line) in history {
                let said = Box::new(Notice::from_chat_line(self.room_name(room), line));
                to(out, id, Notice::History { at, said });
            }
        }
        if self.is_big(room) {
            let (room_name, count) = (self.room_name(room).into(), self.members_of(room));
            to(
                out,
                id,
                Notice::Crowd {
                    room: room_name,
                    count,
                },
            );
            self.rooms.get_mut(room).joins_untold += 1;
        } else {
            to(out, id, self.members_notice(room, false));
            room_but(out, room, id, Notice::joined(name));
        }
    }

    /// How many are in `room`: its local members, and in a cluster, those of the other nodes (for
    /// the default room, every user of the other nodes).
    fn members_of(&self, room: RoomId) -> usize {
        let remote = match &self.cluster {
            Some(cluster) if room == self.rooms.default_room() => cluster.remote_users(),
            _ => self.rooms.get(room).remote.len(),
        };
        self.rooms.get(room).members.len() + remote
    }

    /// Whether `room` is over `--announce-limit` users (see [`ChatConfig::announce_limit`]).
    fn is_big(&self, room: RoomId) -> bool {
        self.members_of(room) > self.config.announce_limit
    }

    /// Checks that `name` is valid and not in use by anyone but `owner`, here or on another node,
    /// returning the error line.
    fn check_free(&self, name: &str, owner: Option<ClientId>) -> Result<(), Notice> {
        check_name(name).map_err(|e| Notice::Text(protocol::name_refused(e)))?;
        let holder = self.local(name);
        let holder = holder.or_else(|| self.cluster.as_ref()?.holder(&name_key(name)));
        match holder {
            Some(holder) if Some(holder) != owner => Err(Notice::NameTaken { name: name.into() }),
            _ => Ok(()),
        }
    }

    /// A line from a joined user: a command, or chat. `at` is the room it was said in, if it named
    /// one ([`Event::InRoom`]); otherwise it is about the user's current room.
    fn said(
        &mut self,
        id: ClientId,
        name: &str,
        text: &str,
        at: Option<RoomId>,
        out: &mut Vec<Delivery>,
    ) {
        let Some(command_line) = text.strip_prefix('/') else {
            return self.chat(id, name, at, Words::Said(text), out);
        };
        if command_line.starts_with('/') {
            // `//text` sends `/text`.
            return self.chat(id, name, at, Words::Said(command_line), out);
        }
        let (command, rest) = match command_line.split_once(char::is_whitespace) {
            Some((command, rest)) => (command, rest.trim()),
            None => (command_line, ""),
        };
        match command.to_lowercase().as_str() {
            "help" => {
                for line in protocol::HELP {
                    to(out, id, *line);
                }
            }
            "list" | "users" | "who" | "listar" => self.list(id, at, rest, out),
            "join" => self.join(id, name, rest, out),
            "part" => self.part(id, name, at, rest, out),
            "rooms" => self.list_rooms(id, out),
            "topic" => self.topic(id, name, at, rest, out),
            "name" | "nick" => self.rename(id, name, rest, out),
            "me" if rest.is_empty() => to(out, id, protocol::usage("/me ACTION")),
            "me" => self.chat(id, name, at, Words::Action(rest), out),
            "msg" => self.private(id, name, rest, out),
            c if is_quit(c) => {
                let reason = if rest.is_empty() {
                    protocol::REASON_QUIT
                } else {
                    rest
                };
                let said = reason.to_string();
                to(out, id, Notice::Goodbye { reason: said });
                self.leave(id, reason, out);
                out.push(Delivery::Close { id });
            }
            moderation => {
                if !self.moderate(id, name, moderation, rest, out) {
                    to(out, id, protocol::unknown_command(command))
                }
            }
        }
    }

    /// A chat or action line: to everyone else, and into the history (or, in a cluster, to the other
    /// nodes, and through Redis into the cluster's history).
    fn chat(
        &mut self,
        id: ClientId,
        name: &str,
        at: Option<RoomId>,
        words: Words,
        out: &mut Vec<Delivery>,
    ) {
        let Some(room) = self.here(id, at) else {
            return to(out, id, protocol::IN_NO_ROOM);
        };
        let room_name = &self.rooms.get(room).name;
        let notice = match words {
            Words::Said(text) => Notice::said(room_name, name, text),
            Words::Action(text) => Notice::action(room_name, name, text),
        };
        let line = notice.line();
        if let Some(cluster) = &mut self.cluster {
            if room == self.rooms.default_room() {
                cluster.said(&mut self.clients, &line, out);
            } else {
                cluster.said_in(&self.rooms.get(room).name, &line, out);
            }
        } else {
            let (history, now) = (self.config.history, self.unix_time);
            self.rooms.get_mut(room).remember(now, &line, history);
        }
        room_but(out, room, id, notice);
    }

    fn rename(&mut self, id: ClientId, old: &str, new: &str, out: &mut Vec<Delivery>) {
        if new.is_empty() {
            return to(out, id, protocol::usage("/name NEW"));
        }
        if new == old {
            return to(out, id, protocol::already_named(old));
        }
        if let Err(error) = self.check_free(new, Some(id)) {
            return to(out, id, error);
        }
        let rooms = self.other_room_names(id);
        match &mut self.cluster {
            Some(cluster) => cluster.ask(id, Wait::rename(old, new, rooms), out),
            None => self.renamed(id, old, new, out),
        }
    }

    /// The rename of `id` from `old` to `new` is done: everyone here hears of it.
    fn renamed(&mut self, id: ClientId, old: &str, new: &str, out: &mut Vec<Delivery>) {
        // Out of the index while the name changes: the index finds users by their current name.
        self.names.remove(old, |other| self.clients.name(other));
        if let Some(Client::Joined { name, .. }) = self.clients.get_mut(&id) {
            *name = CompactString::new(new);
        }
        self.names.insert(id, new, |other| self.clients.name(other));
        info!("#{id} {old} is now {new}");
        to(out, id, Notice::YouAre { name: new.into() });
        // Once in each of their rooms.
        for &room in self.rooms_of(id) {
            room_but(out, room, id, Notice::renamed(old, new));
        }
    }

    fn private(&mut self, id: ClientId, from: &str, rest: &str, out: &mut Vec<Delivery>) {
        let Some((target, text)) = rest.split_once(char::is_whitespace) else {
            return to(out, id, protocol::usage("/msg NAME TEXT"));
        };
        let text = text.trim();
        if text.is_empty() {
            return to(out, id, protocol::usage("/msg NAME TEXT"));
        }
        let key = name_key(target);
        let found = self
            .local(target)
            .and_then(|target_id| match self.clients.get(&target_id) {
                Some(Client::Joined { name, .. }) => Some((target_id, name.clone())),
                _ => None,
            });
        if let Some((target_id, target_name)) = found {
            to(out, target_id, Notice::private_in(from, text));
            return to(out, id, Notice::private_out(&target_name, text));
        }
        match &mut self.cluster {
            Some(cluster) if cluster.is_remote(&key) => {
                cluster.ask(id, Wait::private(from, target, text), out)
            }
            _ => to(
                out,
                id,
                Notice::NoSuchUser {
                    name: target.into(),
                },
            ),
        }
    }

    fn leave(&mut self, id: ClientId, reason: &str, out: &mut Vec<Delivery>) {
        self.leave_announcing(id, reason, Leaving::Quit, out)
    }

    /// [`Chat::leave`], with `line` in each room instead of `*** NAME left (REASON)` if given (the
    /// other nodes of a cluster still get `reason`).
    fn leave_announcing(
        &mut self,
        id: ClientId,
        reason: &str,
        how: Leaving,
        out: &mut Vec<Delivery>,
    ) {
        self.listed.remove(&id);
        self.moderation.left(id);
        if let Some(Client::Joined { name, .. }) = self.clients.get(&id) {
            let name = name.clone();
            self.names.remove(&name, |other| self.clients.name(other));
        }
        // Read while the user is still known: Redis holds it in these rooms too.
        let other_rooms = match self.cluster {
            Some(_) => self.other_room_names(id),
            None => Vec::new(),
        };
        match self.clients.remove(&id) {
            Some(Client::Joined { name }) => {
                info!("#{id} {name} left ({reason})");
                if let Some(cluster) = &mut self.cluster {
                    cluster.left(id, &name, reason, other_rooms, out);
                }
                // Announced once in each of their rooms.
                let rooms = self.room_lists.remove(&id).unwrap_or_default();
                if let Some(current) = rooms.current() {
                    self.rooms.get_mut(current).current_of -= 1;
                }
                let notice = Notice::left(&name, reason, how);
                for &room in rooms.rooms() {
                    self.left_room(id, room, &notice, out);
                }
            }
            Some(Client::Claiming(claim)) => {
                if let Some(cluster) = &mut self.cluster {
                    cluster.claim_abandoned(id, &claim);
                }
            }
            Some(Client::Naming { .. }) | None => {}
        }
    }

    /// `id` is out of `room` (its room list already says so): the room forgets it (and goes, if it
    /// was the last member of a room other than the default), and the others hear `notice`.
    fn left_room(&mut self, id: ClientId, room: RoomId, notice: &Notice, out: &mut Vec<Delivery>) {
        let big = self.is_big(room);
        let room_name = self
            .cluster
            .is_some()
            .then(|| self.room_name(room).to_string());
        self.rooms.remove(room, id);
        if !self.rooms.exists(room) {
            // It was the last one here: a cluster node need not hear the room any more.
            if let Some(room_name) = room_name {
                self.unsubscribe_unless_needed(&room_name, out);
            }
            return;
        }
        if big {
            self.rooms.get_mut(room).leaves_untold += 1;
        } else {
            room_but(out, room, id, notice.clone());
        }
    }

    /// The rooms user `id` is in.
    fn rooms_of(&self, id: ClientId) -> &[RoomId] {
        self.room_list(id).map_or(&[], RoomList::rooms)
    }

    /// The names of the rooms user `id` is in besides the default one.
    fn other_room_names(&self, id: ClientId) -> Vec<String> {
        let default = self.rooms.default_room();
        let others = self.rooms_of(id).iter().filter(|&&room| room != default);
        others
            .map(|&room| self.room_name(room).to_string())
            .collect()
    }

    /// Changes user `id`'s room list with `change`, keeping each room's count of members whose
    /// current room it is.
    fn change_rooms(&mut self, id: ClientId, change: impl FnOnce(&mut RoomList)) {
        if !self.has_joined(id) {
            return;
        }
        let mut rooms = self.room_lists.remove(&id).unwrap_or_default();
        let before = rooms.current();
        change(&mut rooms);
        let after = rooms.current();
        if rooms != RoomList::default() {
            self.room_lists.insert(id, rooms);
        }
        if before != after {
            if let Some(room) = before.filter(|&r| self.rooms.exists(r)) {
                self.rooms.get_mut(room).current_of -= 1;
            }
            if let Some(room) = after {
                self.rooms.get_mut(room).current_of += 1;
            }
        }
    }

    /// `/join #ROOM`: joins it (creating it if needed) and makes it current; or, if `id` is in it
    /// already, only makes it current.
    fn join(&mut self, id: ClientId, name: &str, rest: &str, out: &mut Vec<Delivery>) {
        // One room: `/join #a #b` is refused whole rather than half done (each join may wait for
        // Redis on a cluster, and a user's next command waits for it).
        let mut words = rest.split_whitespace();
        let (Some(wanted), None) = (words.next(), words.next()) else {
            return to(out, id, protocol::usage("/join #ROOM"));
        };
        if !is_room_name(wanted) {
            let room = wanted.into();
            return to(out, id, Notice::BadRoomName { room });
        }
        let existing = self.rooms.find(wanted);
        if let Some(room) = existing
            && self.rooms_of(id).contains(&room)
        {
            self.change_rooms(id, |rooms| rooms.switch(room));
            let room = self.room_name(room).into();
            return to(out, id, Notice::NowTalking { room });
        }
        let max = self.config.max_rooms_per_user;
        if self.rooms_of(id).len() >= max {
            let room = wanted.into();
            return to(out, id, Notice::TooManyRooms { room, max });
        }
        if let Some(cluster) = &mut self.cluster
            && existing != Some(self.rooms.default_room())
        {
            // Redis says whether the room may be made, and what it holds.
            return cluster.ask(id, Wait::join(wanted, name), out);
        }
        let room = match existing {
            Some(room) => room,
            None if self.rooms.len() >= self.config.max_rooms => {
                let (room, max) = (wanted.into(), self.config.max_rooms);
                return to(out, id, Notice::RoomsFull { room, max });
            }
            None => {
                let room = self.rooms.create(wanted, self.clock);
                info!("{} created by #{id}", self.room_name(room));
                room
            }
        };
        self.change_rooms(id, |rooms| rooms.join(room));
        let joined = self.room_name(room).into();
        to(out, id, Notice::YouJoined { room: joined });
        let history = self.rooms.get(room).history.iter().cloned().collect();
        self.enter(id, name, room, history, out);
    }

    /// `/part [#ROOM] [REASON]`: leaves the room (by default the one the line was said in, `at`, or
    /// else the current one).
    fn part(
        &mut self,
        id: ClientId,
        name: &str,
        at: Option<RoomId>,
        rest: &str,
        out: &mut Vec<Delivery>,
    ) {
        let (target, reason) = match rest.split_once(char::is_whitespace) {
            _ if !rest.starts_with('#') => (None, rest),
            Some((room, reason)) => (Some(room), reason.trim()),
            None => (Some(rest), ""),
        };
        let room = match target {
            None => match self.here(id, at) {
                Some(room) => room,
                None => return to(out, id, protocol::IN_NO_ROOM),
            },
            Some(wanted) => match self.my_room(id, wanted) {
                Ok(room) => room,
                Err(refusal) => return to(out, id, refusal),
            },
        };
        let was_current = self.current_room(id) == Some(room);
        let room_name = self.room_name(room).to_string();
        let default = self.rooms.default_room();
        if self.cluster.is_some() && room == default {
            return to(out, id, protocol::default_room_stays(&room_name));
        }
        self.change_rooms(id, |rooms| rooms.part(room));
        let reason = if reason.is_empty() {
            protocol::REASON_PART
        } else {
            reason
        };
        if self.cluster.as_ref().is_some_and(ClusterState::is_up) {
            let part = Request::RoomPart {
                room: room_name.clone(),
                name: name.to_string(),
                reason: reason.to_string(),
            };
            out.push(Delivery::Cluster(part));
        }
        info!("#{id} left {room_name} ({reason})");
        let (left, why) = (room_name.as_str().into(), reason.to_string());
        to(
            out,
            id,
            Notice::YouLeft {
                room: left,
                reason: why,
            },
        );
        let parted = Notice::left(name, reason, Leaving::Parted);
        self.left_room(id, room, &parted, out);
        if was_current {
            match self.current_room(id) {
                Some(now) => {
                    let room = self.room_name(now).into();
                    to(out, id, Notice::NowTalking { room })
                }
                None => to(out, id, Notice::NoRoomLeft),
            }
        }
    }

    /// `/rooms`: every room with its number of members, sorted, marking `id`'s own.
    fn list_rooms(&mut self, id: ClientId, out: &mut Vec<Delivery>) {
        if let Some(cluster) = &mut self.cluster {
            return cluster.ask(id, Wait::Rooms, out); // Only Redis knows every room.
        }
        let mine = self.rooms_of(id);
        let current = self.current_room(id);
        let mut rooms: Vec<ListedRoom> = self
            .rooms
            .iter()
            .map(|(room, chat_room)| {
                let mark = if Some(room) == current {
                    "current"
                } else if mine.contains(&room) {
                    "joined"
                } else {
                    ""
                };
                ListedRoom {
                    name: chat_room.name.as_str().into(),
                    members: self.members_of(room),
                    mark,
                    topic: chat_room.topic.clone(),
                }
            })
            .collect();
        sort_rooms(&mut rooms);
        to(out, id, Notice::Rooms { rooms });
    }

    /// `/topic [TEXT]`: shows, or sets, the topic of the room the line was said in (`at`, or else
    /// the current one).
    fn topic(
        &mut self,
        id: ClientId,
        name: &str,
        at: Option<RoomId>,
        text: &str,
        out: &mut Vec<Delivery>,
    ) {
        let Some(room) = self.here(id, at) else {
            return to(out, id, protocol::IN_NO_ROOM);
        };
        if text.is_empty() {
            let chat_room = self.rooms.get(room);
            let (room, text) = (chat_room.name.as_str().into(), chat_room.topic.clone());
            return to(out, id, Notice::Topic { room, text });
        }
        if let Some(cluster) = &self.cluster
            && cluster.is_up()
        {
            let topic = Request::Topic {
                room: self.room_name(room).to_string(),
                name: name.to_string(),
                text: text.to_string(),
            };
            out.push(Delivery::Cluster(topic));
        }
        self.rooms.get_mut(room).topic = Some(text.to_string());
        info!("#{id} set the topic of {}", self.room_name(room));
        out.push(Delivery::Room {
            room,
            except: None,
            notice: Notice::topic_set(name, text),
        });
    }

    /// `/list [#ROOM]` (by default the room the line was said in, `at`, or else the current one);
    /// in a big room at most once per [`LIST_INTERVAL`] for each user.
    fn list(&mut self, id: ClientId, at: Option<RoomId>, rest: &str, out: &mut Vec<Delivery>) {
        let current = self.current_room(id);
        let room = match rest.split_whitespace().next() {
            None => match at.or(current) {
                Some(room) => room,
                None => return to(out, id, protocol::IN_NO_ROOM),
            },
            Some(wanted) => match (self.rooms.find(wanted), &mut self.cluster) {
                (Some(room), _) => room,
                (None, _) if !is_room_name(wanted) => {
                    let room = wanted.into();
                    return to(out, id, Notice::BadRoomName { room });
                }
                // A room with no member here: only Redis knows who is in it.
                (None, Some(cluster)) => {
                    let room = wanted.to_string();
                    return cluster.ask(id, Wait::Members { room }, out);
                }
                (None, None) => {
                    let room = wanted.into();
                    return to(out, id, Notice::NoSuchRoom { room });
                }
            },
        };
        if self.is_big(room) {
            let now = self.clock;
            if self
                .listed
                .get(&id)
                .is_some_and(|&at| now < at + LIST_INTERVAL)
            {
                let (room, secs) = (self.room_name(room).into(), LIST_INTERVAL.as_secs());
                return to(out, id, Notice::ListTooOften { room, secs });
            }
            self.listed.insert(id, now);
        }
        let members = self.members_notice(room, Some(room) != current);
        to(out, id, members);
    }

    /// A join or leave of another node's user in `room`: at once in a small room, in the next
    /// summary in a big one.
    fn announce(&mut self, room: RoomId, notice: Notice, joined: bool, out: &mut Vec<Delivery>) {
        if !self.is_big(room) {
            out.push(Delivery::Room {
                room,
                except: None,
                notice,
            });
        } else if joined {
            self.rooms.get_mut(room).joins_untold += 1;
        } else {
            self.rooms.get_mut(room).leaves_untold += 1;
        }
    }

    /// In each big room, the joins and leaves of the last second as one line to its members.
    fn summarise(&mut self, now: Instant, out: &mut Vec<Delivery>) {
        let due: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, r)| (r.joins_untold, r.leaves_untold) != (0, 0) && now >= r.next_summary)
            .map(|(room, _)| room)
            .collect();
        for room in due {
            let chat_room = self.rooms.get_mut(room);
            let line = protocol::summary(chat_room.joins_untold, chat_room.leaves_untold);
            (chat_room.joins_untold, chat_room.leaves_untold) = (0, 0);
            chat_room.next_summary = now + SUMMARY_INTERVAL;
            out.push(Delivery::Room {
                room,
                except: None,
                notice: line.into(),
            });
        }
    }

    fn expire_names(&mut self, now: Instant, out: &mut Vec<Delivery>) {
        let mut naming = std::mem::take(&mut self.naming);
        naming.retain(|&id| match self.clients.get(&id) {
            Some(Client::Naming { deadline }) if *deadline <= now => {
                self.clients.remove(&id);
                info!("#{id} gave no name in time");
                let secs = self.config.name_timeout.as_secs();
                to(out, id, protocol::name_timeout(secs));
                out.push(Delivery::Close { id });
                false
            }
            Some(Client::Naming { .. }) => true,
            // Joined, claiming (bounded by the cluster link's own timeout) or gone. (An id reused
            // after a leave may be listed twice: the first entry handles it, and the second then
            // finds it no longer naming.)
            _ => false,
        });
        if naming.capacity() > 4 * naming.len() + 64 {
            naming.shrink_to_fit(); // A crowd has finished joining: give the memory back.
        }
        self.naming = naming;
    }

    fn shutdown(&mut self, out: &mut Vec<Delivery>) {
        for (id, client) in self.clients.iter() {
            if let Client::Joined { name, .. } = client
                && self.cluster.is_some()
            {
                let rooms = self.other_room_names(id);
                if let Some(cluster) = &mut self.cluster {
                    cluster.left(id, name, protocol::REASON_NODE_DOWN, rooms, out);
                }
            }
            to(out, id, protocol::SHUTTING_DOWN);
            out.push(Delivery::Close { id });
        }
        self.clients.clear();
        self.names.clear();
        self.naming.clear();
        self.listed.clear();
    }

    /// Who is in `room` (`*** online (N): ...`), with the room's name in front if `in_front`, names sorted without regard to case so the list reads the
    /// same for all. In a cluster, the default room's names the users of every node. Operators are
    /// marked `@ana` (on this node: another node's are not known here).
    fn members_notice(&self, room: RoomId, in_front: bool) -> Notice {
        let members = &self.rooms.get(room).members;
        let mut names: Vec<(&str, bool)> = members
            .iter()
            .map(|&id| {
                let id = id as ClientId;
                (self.clients.name(id), self.moderation.is_operator(id))
            })
            .collect();
        if let Some(cluster) = &self.cluster
            && room == self.rooms.default_room()
        {
            names.extend(cluster.remote_names().map(|name| (name, false)));
        }
        names.extend(
            self.rooms
                .get(room)
                .remote
                .iter()
                .map(|name| (name.as_str(), false)),
        );
        names.sort_unstable_by(|a, b| folded(a.0).cmp(folded(b.0)).then_with(|| a.0.cmp(b.0)));
        let names = names
            .into_iter()
            .map(|(name, operator)| match operator {
                true => compact_str::format_compact!("@{name}"),
                false => name.into(),
            })
            .collect();
        Notice::Members {
            room: self.room_name(room).into(),
            names,
            in_front,
        }
    }

    /// The user called `name` (in any case), here or on another node, as spelled: what an IRC
    /// `WHOIS` asks.
    pub fn find_user(&self, name: &str) -> Option<&str> {
        if let Some(id) = self.local(name)
            && self.has_joined(id)
        {
            return Some(self.clients.name(id));
        }
        self.cluster.as_ref()?.remote_name(&name_key(name))
    }

    /// The local user called `name` (in any case).
    fn local(&self, name: &str) -> Option<ClientId> {
        self.names.get(name, |id| self.clients.name(id))
    }
}

/// What a chat line says: words, or an action (`/me`).
enum Words<'a> {
    Said(&'a str),
    Action(&'a str),
}

fn is_quit(command: &str) -> bool {
    matches!(command.to_lowercase().as_str(), "quit" | "quitar" | "exit")
}

fn to(out: &mut Vec<Delivery>, id: ClientId, notice: impl Into<Notice>) {
    out.push(Delivery::To {
        id,
        notice: notice.into(),
    });
}

/// Rooms in the order `/rooms` shows them: by name without regard to case, so the list reads the
/// same for all.
fn sort_rooms(rooms: &mut [ListedRoom]) {
    rooms.sort_unstable_by(|a, b| {
        folded(&a.name)
            .cmp(folded(&b.name))
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// A notice to the members of `room` but `id`.
fn room_but(out: &mut Vec<Delivery>, room: RoomId, id: ClientId, notice: impl Into<Notice>) {
    out.push(Delivery::Room {
        room,
        except: Some(id),
        notice: notice.into(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A room and a clock, with helpers that return what one event delivered.
    struct Fixture {
        room: Chat,
        now: Instant,
    }

    impl Fixture {
        fn new(history: usize) -> Fixture {
            let config = ChatConfig {
                history,
                name_timeout: Duration::from_secs(60),
                announce_limit: 3,
                default_room: "#general".to_string(),
                max_rooms: 4,
                max_rooms_per_user: 3,
                cluster: false,
                ids: 0,
            };
            Fixture {
                room: Chat::new(config),
                now: Instant::now(),
            }
        }

        /// What `event` delivered, each notice as the line it is worded as (see [`as_lines`]).
        fn event(&mut self, event: Event<'_>) -> Vec<Delivery> {
            as_lines(self.notices(event))
        }

        /// What `event` delivered, as the core said it.
        fn notices(&mut self, event: Event<'_>) -> Vec<Delivery> {
            let mut out = Vec::new();
            self.room.handle(event, &mut out);
            out
        }

        fn connect(&mut self, id: ClientId) -> Vec<Delivery> {
            let now = self.now;
            self.event(Event::Connect { id, now })
        }

        fn say(&mut self, id: ClientId, text: &str) -> Vec<Delivery> {
            self.event(Event::Line { id, text })
        }

        fn join(&mut self, id: ClientId, name: &str) -> Vec<Delivery> {
            self.connect(id);
            self.say(id, name)
        }
    }

    fn to_(id: ClientId, line: &str) -> Delivery {
        Delivery::To {
            id,
            notice: line.into(),
        }
    }

    fn all_but(id: ClientId, line: &str) -> Delivery {
        Delivery::Room {
            room: 0,
            except: Some(id),
            notice: line.into(),
        }
    }

    /// `out` with every notice as [`Notice::Text`] of its line: these tests say what line users
    /// read, whatever kind of notice the core chose (the kinds are tested on their own).
    pub(super) fn as_lines(out: Vec<Delivery>) -> Vec<Delivery> {
        out.into_iter()
            .map(|delivery| match delivery {
                Delivery::To { id, notice } => Delivery::To {
                    id,
                    notice: notice.into_line().into(),
                },
                Delivery::Room {
                    room,
                    except,
                    notice,
                } => Delivery::Room {
                    room,
                    except,
                    notice: notice.into_line().into(),
                },
                Delivery::Everyone { except, notice } => Delivery::Everyone {
                    except,
                    notice: notice.into_line().into(),
                },
                other => other,
            })
            .collect()
    }

    impl Fixture {
        /// What `id` gets from `out`, as it would read it: a room's lines go to the members the chat
        /// itself names, with the room's name in front where it is not `id`'s current room.
        fn seen_by(&self, out: &[Delivery], id: ClientId) -> Vec<String> {
            let mut seen = Vec::new();
            for delivery in out {
                match delivery {
                    Delivery::To { id: to, notice } if *to == id => {
                        seen.push(notice.line().into_owned())
                    }
                    Delivery::Room {
                        room,
                        except,
                        notice,
                    } => {
                        let line = notice.line();
                        self.room
                            .room_recipients(*room, *except, |member, prefixed| {
                                if member == id {
                                    seen.push(match prefixed {
                                        true => {
                                            protocol::in_room(self.room.room_name(*room), &line)
                                        }
                                        false => line.to_string(),
                                    });
                                }
                            });
                    }
                    _ => {}
                }
            }
            seen
        }

        /// `id` says `text`; returns what each of `ids` then gets.
        fn says<const N: usize>(
            &mut self,
            id: ClientId,
            text: &str,
            ids: [ClientId; N],
        ) -> [Vec<String>; N] {
            let out = self.say(id, text);
            ids.map(|other| self.seen_by(&out, other))
        }
    }

    /// ana (1), bea (2) and carl (3) in #general; ana and bea also in #dev, which is current for them.
    fn two_rooms() -> Fixture {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        f.join(2, "bea");
        f.join(3, "carl");
        f.say(1, "/join #dev");
        f.say(2, "/join #Dev");
        f
    }

    #[test]
    fn a_join_creates_the_room_makes_it_current_and_lines_of_other_rooms_are_prefixed() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        f.join(2, "bea");
        f.join(3, "carl");
        let [ana, bea] = f.says(1, "/join #dev", [1, 2]);
        assert_eq!(ana, ["*** you joined #dev", "*** online (1): ana"]);
        assert!(bea.is_empty());
        let [ana, bea, carl] = f.says(2, "/join #DEV", [1, 2, 3]);
        assert_eq!(ana, ["*** bea joined"]);
        assert_eq!(bea, ["*** you joined #dev", "*** online (2): ana, bea"]);
        assert!(carl.is_empty());
        // A line in #dev reaches its members only; one in #general is prefixed for those in #dev.
        let [ana, carl] = f.says(2, "the build is green", [1, 3]);
        assert_eq!(ana, ["<bea> the build is green"]);
        assert!(carl.is_empty());
        let [ana, bea] = f.says(3, "lunch?", [1, 2]);
        assert_eq!(ana, ["#general <carl> lunch?"]);
        assert_eq!(bea, ["#general <carl> lunch?"]);
        let [ana] = f.says(2, "/me waves", [1]);
        assert_eq!(ana, ["* bea waves"]);
        // Joining a room one is in already only switches to it.
        let [ana, bea] = f.says(1, "/join #general", [1, 2]);
        assert_eq!(ana, ["*** now talking in #general"]);
        assert!(bea.is_empty());
        let [ana] = f.says(2, "still green", [1]);
        assert_eq!(ana, ["#dev <bea> still green"]);
        let [carl] = f.says(1, "yes, lunch", [3]);
        assert_eq!(carl, ["<ana> yes, lunch"]);
    }

    #[test]
    fn parting_moves_to_the_latest_room_left_and_then_to_none() {
        let mut f = two_rooms();
        let [ana, bea, carl] = f.says(1, "/part", [1, 2, 3]);
        assert_eq!(ana, ["*** you left #dev", "*** now talking in #general"]);
        assert_eq!(bea, ["*** ana left (parted)"]);
        assert!(carl.is_empty());
        let [ana, bea, carl] = f.says(1, "/part #GENERAL see you", [1, 2, 3]);
        assert_eq!(
            ana,
            [
                "*** you left #general",
                "*** you are in no room; /join #ROOM to talk"
            ]
        );
        assert_eq!(bea, ["#general *** ana left (see you)"]);
        assert_eq!(carl, ["*** ana left (see you)"]);
        let [ana, carl] = f.says(1, "anyone?", [1, 3]);
        assert_eq!(ana, ["! you are in no room; /join #ROOM"]);
        assert!(carl.is_empty());
        assert_eq!(
            f.says(1, "/part", [1])[0],
            ["! you are in no room; /join #ROOM"]
        );
        assert_eq!(f.says(1, "/part #nope", [1])[0], ["! no such room: #nope"]);
        assert_eq!(f.says(1, "/part #dev", [1])[0], ["! you are not in #dev"]);
        assert_eq!(
            f.says(1, "/list", [1])[0],
            ["! you are in no room; /join #ROOM"]
        );
        // A private message needs no room.
        assert_eq!(f.says(1, "/msg carl hi", [3])[0], ["[ana -> you] hi"]);
    }

    #[test]
    fn a_room_goes_when_its_last_member_leaves_but_the_default_room_stays() {
        let mut f = two_rooms();
        f.say(1, "/part #dev");
        f.say(2, "/part #dev");
        assert_eq!(
            f.says(3, "/rooms", [3])[0],
            ["*** rooms (1): #general (3, current)"]
        );
        f.say(1, "/join #dev"); // A new #dev, with no memory of the old one.
        f.say(1, "/part #general");
        f.say(2, "/part #general");
        f.say(3, "/part #general");
        assert_eq!(
            f.says(1, "/rooms", [1])[0],
            ["*** rooms (2): #dev (1, current), #general (0)"]
        );
    }

    #[test]
    fn rooms_lists_every_room_marking_ones_own() {
        let mut f = two_rooms();
        f.say(3, "/join #random");
        f.say(3, "/join #general");
        assert_eq!(
            f.says(1, "/rooms", [1])[0],
            ["*** rooms (3): #dev (2, current), #general (3, joined), #random (1)"]
        );
    }

    #[test]
    fn the_topic_is_shown_set_for_all_and_shown_on_joining() {
        let mut f = two_rooms();
        assert_eq!(
            f.says(1, "/topic", [1])[0],
            ["*** no topic; /topic TEXT sets one"]
        );
        let [ana, bea, carl] = f.says(1, "/topic release on Friday", [1, 2, 3]);
        assert_eq!(ana, ["*** ana set the topic: release on Friday"]);
        assert_eq!(bea, ["*** ana set the topic: release on Friday"]);
        assert!(carl.is_empty());
        assert_eq!(
            f.says(2, "/topic", [2])[0],
            ["*** topic: release on Friday"]
        );
        let [carl] = f.says(3, "/join #dev", [3]);
        assert_eq!(
            carl,
            [
                "*** you joined #dev",
                "*** topic: release on Friday",
                "*** online (3): ana, bea, carl"
            ]
        );
    }

    #[test]
    fn each_room_has_its_own_history() {
        let mut f = two_rooms();
        f.say(1, "in dev");
        f.say(3, "in general");
        f.connect(4);
        let out = f.say(4, "dan");
        assert_eq!(
            f.seen_by(&out, 4),
            [
                "*** you are dan",
                "*** recent messages (1):",
                "<carl> in general",
                // (Four is a big room in this fixture: --announce-limit 3.)
                "*** 4 online (/list to see them)"
            ]
        );
        let [dan] = f.says(4, "/join #dev", [4]);
        assert_eq!(
            dan,
            [
                "*** you joined #dev",
                "*** recent messages (1):",
                "<ana> in dev",
                "*** online (3): ana, bea, dan"
            ]
        );
    }

    #[test]
    fn a_quit_and_a_rename_are_announced_once_in_each_room() {
        let mut f = two_rooms();
        f.say(3, "/join #dev"); // carl: in both, #dev current.
        let [bea, carl] = f.says(1, "/name anita", [2, 3]);
        assert_eq!(
            bea,
            ["#general *** ana is now anita", "*** ana is now anita"]
        );
        assert_eq!(
            carl,
            ["#general *** ana is now anita", "*** ana is now anita"]
        );
        let out = f.event(Event::Disconnect {
            id: 1,
            reason: "quit",
        });
        assert_eq!(
            f.seen_by(&out, 3),
            ["#general *** anita left (quit)", "*** anita left (quit)"]
        );
        // And the rooms counted it out.
        assert_eq!(
            f.says(3, "/rooms", [3])[0],
            ["*** rooms (2): #dev (2, current), #general (2, joined)"]
        );
    }

    #[test]
    fn list_names_the_current_room_or_another() {
        let mut f = two_rooms();
        assert_eq!(f.says(1, "/list", [1])[0], ["*** online (2): ana, bea"]);
        assert_eq!(
            f.says(1, "/list #general", [1])[0],
            ["#general *** online (3): ana, bea, carl"]
        );
        assert_eq!(
            f.says(3, "/list #dev", [3])[0],
            ["#dev *** online (2): ana, bea"]
        );
        assert_eq!(f.says(3, "/list #nope", [3])[0], ["! no such room: #nope"]);
    }

    #[test]
    fn room_names_and_limits_are_checked() {
        let mut f = Fixture::new(20); // At most 4 rooms, 3 per user.
        f.join(1, "ana");
        f.join(2, "bea");
        let bad = "! a room name is # and 1 to 32 letters, digits, '_', '-' or '.'";
        assert_eq!(f.says(1, "/join dev", [1])[0], [bad]);
        assert_eq!(f.says(1, "/join #a b", [1])[0], ["! usage: /join #ROOM"]);
        assert_eq!(f.says(1, "/join #a", [1])[0][0], "*** you joined #a");
        assert_eq!(f.says(1, "/join", [1])[0], ["! usage: /join #ROOM"]);
        f.say(1, "/join #b");
        assert_eq!(
            f.says(1, "/join #c", [1])[0],
            ["! you are in 3 rooms, the most allowed; /part one first"]
        );
        f.say(2, "/join #c");
        assert_eq!(
            f.says(2, "/join #d", [2])[0],
            ["! the server has 4 rooms, the most allowed"]
        );
        // An existing room can still be joined when the server is full of rooms.
        assert_eq!(f.says(2, "/join #A", [2])[0][0], "*** you joined #a");
    }

    #[test]
    fn connect_greets_and_asks_for_a_name() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        let out = f.connect(2);
        assert_eq!(out.len(), 2);
        assert!(
            matches!(&out[0], Delivery::To { id: 2, notice } if notice.line().ends_with("; 1 online"))
        );
        assert_eq!(out[1], to_(2, "*** your name?"));
    }

    #[test]
    fn joining_acknowledges_lists_and_announces() {
        let mut f = Fixture::new(20);
        f.join(1, "bea");
        f.connect(2);
        assert_eq!(
            f.say(2, "ana"),
            vec![
                to_(2, "*** you are ana"),
                to_(2, "*** online (2): ana, bea"),
                all_but(2, "*** ana joined"),
            ]
        );
        assert_eq!(f.room.online(), 2);
    }

    #[test]
    fn bad_and_taken_names_are_refused_with_the_prompt_again() {
        let mut f = Fixture::new(20);
        f.join(1, "Ana");
        f.connect(2);
        assert_eq!(
            f.say(2, "ANA"),
            vec![to_(2, "! the name ANA is taken"), to_(2, "*** your name?")]
        );
        let out = f.say(2, "a b");
        assert!(
            matches!(&out[0], Delivery::To { id: 2, notice } if notice.line().starts_with("! a name cannot contain a space"))
        );
        assert_eq!(out[1], to_(2, "*** your name?"));
        let out = f.say(2, &"x".repeat(33));
        assert_eq!(out[0], to_(2, "! a name has at most 32 characters"));
        assert_eq!(f.say(2, "bea")[0], to_(2, "*** you are bea"));
    }

    #[test]
    fn names_are_trimmed_and_blank_lines_ignored() {
        let mut f = Fixture::new(20);
        f.connect(1);
        assert!(f.say(1, "   ").is_empty());
        assert!(f.say(1, "\u{1b}[0m").is_empty());
        assert_eq!(f.say(1, "  ana \r")[0], to_(1, "*** you are ana"));
        assert!(f.say(1, " \t ").is_empty());
    }

    #[test]
    fn chat_goes_to_everyone_else_cleaned() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        assert_eq!(
            f.say(1, "hola\t\u{1b}[31mmundo\u{202e}"),
            vec![all_but(1, "<ana> hola mundo")]
        );
        assert_eq!(
            f.say(1, "//etc/passwd"),
            vec![all_but(1, "<ana> /etc/passwd")]
        );
    }

    #[test]
    fn history_is_shown_to_newcomers_and_capped() {
        let mut f = Fixture::new(2);
        f.join(1, "ana");
        f.say(1, "one");
        f.say(1, "/me waves");
        f.say(1, "three");
        let out = f.join(2, "bea");
        assert_eq!(
            &out[..4],
            &[
                to_(2, "*** you are bea"),
                to_(2, "*** recent messages (2):"),
                to_(2, "* ana waves"),
                to_(2, "<ana> three"),
            ]
        );
    }

    #[test]
    fn history_zero_turns_it_off() {
        let mut f = Fixture::new(0);
        f.join(1, "ana");
        f.say(1, "one");
        let out = f.join(2, "bea");
        assert_eq!(out[1], to_(2, "*** online (2): ana, bea"));
    }

    #[test]
    fn list_and_its_aliases() {
        let mut f = Fixture::new(20);
        f.join(1, "bea");
        f.join(2, "Ana");
        for command in ["/list", "/users", "/who", "/listar", "/LIST"] {
            assert_eq!(f.say(1, command), vec![to_(1, "*** online (2): Ana, bea")]);
        }
    }

    #[test]
    fn rename_checks_and_announces() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        f.join(2, "bea");
        assert_eq!(
            f.say(1, "/name BEA"),
            vec![to_(1, "! the name BEA is taken")]
        );
        assert_eq!(f.say(1, "/name ana"), vec![to_(1, "! you are already ana")]);
        assert_eq!(f.say(1, "/name"), vec![to_(1, "! usage: /name NEW")]);
        assert_eq!(
            f.say(1, "/name Anita"),
            vec![
                to_(1, "*** you are Anita"),
                all_but(1, "*** ana is now Anita")
            ]
        );
        // The old name is free again, and a change of case alone is a rename.
        f.join(3, "ana");
        assert_eq!(f.say(1, "/name anita")[0], to_(1, "*** you are anita"));
    }

    #[test]
    fn me_is_an_action() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        assert_eq!(f.say(1, "/me waves"), vec![all_but(1, "* ana waves")]);
        assert_eq!(f.say(1, "/me"), vec![to_(1, "! usage: /me ACTION")]);
    }

    #[test]
    fn private_messages() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        f.join(2, "Bea");
        assert_eq!(
            f.say(1, "/msg bea  hi  there"),
            vec![
                to_(2, "[ana -> you] hi  there"),
                to_(1, "[you -> Bea] hi  there")
            ]
        );
        assert_eq!(f.say(1, "/msg bob hi"), vec![to_(1, "! no such user: bob")]);
        assert_eq!(
            f.say(1, "/msg bea"),
            vec![to_(1, "! usage: /msg NAME TEXT")]
        );
        assert_eq!(f.say(1, "/msg"), vec![to_(1, "! usage: /msg NAME TEXT")]);
    }

    #[test]
    fn quit_says_goodbye_announces_and_closes() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        f.join(2, "bea");
        assert_eq!(
            f.say(1, "/quit see you"),
            vec![
                to_(1, "*** bye"),
                all_but(1, "*** ana left (see you)"),
                Delivery::Close { id: 1 }
            ]
        );
        for alias in ["/quitar", "/exit"] {
            f.join(1, "ana");
            assert_eq!(f.say(1, alias)[1], all_but(1, "*** ana left (quit)"));
        }
        assert_eq!(f.room.online(), 1);
        assert!(f.say(1, "still there?").is_empty());
    }

    #[test]
    fn quit_before_a_name_closes_quietly() {
        let mut f = Fixture::new(20);
        f.connect(1);
        assert_eq!(
            f.say(1, "/quit"),
            vec![to_(1, "*** bye"), Delivery::Close { id: 1 }]
        );
    }

    #[test]
    fn unknown_commands_and_help_go_to_the_author_only() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        assert_eq!(
            f.say(1, "/dance now"),
            vec![to_(1, "! unknown command: /dance (try /help)")]
        );
        let help = f.say(1, "/help");
        assert_eq!(help.len(), protocol::HELP.len());
        assert!(help.iter().all(|d| matches!(d, Delivery::To { id: 1, .. })));
    }

    #[test]
    fn disconnect_announces_joined_users_only() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        f.connect(2);
        let lost = protocol::REASON_LOST;
        assert!(
            f.event(Event::Disconnect {
                id: 2,
                reason: lost
            })
            .is_empty()
        );
        assert_eq!(
            f.event(Event::Disconnect {
                id: 1,
                reason: lost
            }),
            vec![all_but(1, "*** ana left (connection lost)")]
        );
        assert!(
            f.event(Event::Disconnect {
                id: 1,
                reason: lost
            })
            .is_empty()
        );
        assert_eq!(f.room.members().count(), 0);
    }

    #[test]
    fn silent_connections_expire_but_joined_and_reused_ids_do_not() {
        let mut f = Fixture::new(20);
        f.connect(1);
        f.join(2, "ana");
        f.connect(3);
        f.event(Event::Disconnect { id: 3, reason: "x" });
        f.now += Duration::from_secs(30);
        f.connect(3); // The same id, reused by a newer connection with a later deadline.
        let at = |secs| f.now + Duration::from_secs(secs);
        let (t_first, t_second) = (at(30), at(60));
        assert!(f.event(Event::Tick { now: at(29) }).is_empty());
        assert_eq!(
            f.event(Event::Tick { now: t_first }),
            vec![
                to_(1, "! no name given within 60 s; closing"),
                Delivery::Close { id: 1 }
            ]
        );
        assert_eq!(f.event(Event::Tick { now: t_second }).len(), 2);
        assert_eq!(f.room.online(), 1);
    }

    #[test]
    fn shutdown_tells_and_closes_everyone() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        f.connect(2);
        let mut out = f.event(Event::Shutdown);
        out.sort_by_key(|d| format!("{d:?}"));
        assert_eq!(
            out,
            vec![
                Delivery::Close { id: 1 },
                Delivery::Close { id: 2 },
                to_(1, "*** server shutting down"),
                to_(2, "*** server shutting down"),
            ]
        );
        assert_eq!(f.room.online(), 0);
    }

    #[test]
    fn a_big_room_summarises_joins_and_leaves_once_a_second() {
        let mut f = Fixture::new(0); // The fixture's announce limit is 3.
        for (id, name) in [(1, "a"), (2, "b"), (3, "c")] {
            f.join(id, name);
        }
        let out = f.join(4, "d");
        assert_eq!(
            out,
            vec![
                to_(4, "*** you are d"),
                to_(4, "*** 4 online (/list to see them)")
            ]
        );
        f.join(5, "e");
        assert!(f.event(Event::Disconnect { id: 2, reason: "x" }).is_empty());
        let now = f.now + Duration::from_millis(250);
        let summary = Delivery::Room {
            room: 0,
            except: None,
            notice: "*** 2 joined, 1 left".into(),
        };
        assert_eq!(f.event(Event::Tick { now }), vec![summary]);
        assert!(f.event(Event::Tick { now }).is_empty());
        // Within the second, a new join waits for the next summary.
        f.join(6, "f");
        assert!(
            f.event(Event::Tick {
                now: now + Duration::from_millis(500)
            })
            .is_empty()
        );
        let later = now + SUMMARY_INTERVAL;
        let summary = Delivery::Room {
            room: 0,
            except: None,
            notice: "*** 1 joined".into(),
        };
        assert_eq!(f.event(Event::Tick { now: later }), vec![summary]);
    }

    #[test]
    fn a_big_room_serves_list_at_most_every_two_seconds_per_user() {
        let mut f = Fixture::new(0);
        for (id, name) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
            f.join(id, name);
        }
        assert_eq!(
            f.say(1, "/list"),
            vec![to_(1, "*** online (4): a, b, c, d")]
        );
        let refused = "! the room is big: /list is served once every 2 s; try again shortly";
        assert_eq!(f.say(1, "/who"), vec![to_(1, refused)]);
        assert_eq!(f.say(2, "/list").len(), 1); // Another user is not affected.
        let now = f.now + LIST_INTERVAL;
        f.event(Event::Tick { now });
        assert_eq!(
            f.say(1, "/list"),
            vec![to_(1, "*** online (4): a, b, c, d")]
        );
    }

    // ---- the notices themselves: what happened, as a face other than lines reads it ----------

    impl Fixture {
        fn room_id(&self, name: &str) -> RoomId {
            self.room.rooms.find(name).expect("the room exists")
        }

        /// `id` says `text` in `room` ([`Event::InRoom`]); the deliveries as lines.
        fn say_in(&mut self, id: ClientId, room: &str, text: &str) -> Vec<Delivery> {
            self.event(Event::InRoom { id, room, text })
        }
    }

    fn room_notice(room: RoomId, except: Option<ClientId>, notice: Notice) -> Delivery {
        Delivery::Room {
            room,
            except,
            notice,
        }
    }

    /// The refusals IRC has numerics for (405, 263) are kinds of their own, naming the room.
    #[test]
    fn room_limits_and_a_list_too_soon_are_their_own_kinds() {
        let mut f = Fixture::new(20); // At most 4 rooms, 3 per user; big over 3 members.
        f.join(1, "ana");
        f.join(2, "bea");
        f.say(1, "/join #a");
        f.say(1, "/join #b");
        let full = Notice::TooManyRooms {
            room: "#c".into(),
            max: 3,
        };
        assert_eq!(f.notices(line_event(1, "/join #c")), [to_notice(1, full)]);
        f.say(2, "/join #c");
        let server_full = Notice::RoomsFull {
            room: "#d".into(),
            max: 4,
        };
        assert_eq!(
            f.notices(line_event(2, "/join #d")),
            [to_notice(2, server_full)]
        );
        f.join(3, "carl");
        f.join(4, "dan"); // #general is big now.
        f.say(3, "/list #general");
        let too_often = Notice::ListTooOften {
            room: "#general".into(),
            secs: LIST_INTERVAL.as_secs(),
        };
        assert_eq!(
            f.notices(line_event(3, "/list #general")),
            [to_notice(3, too_often)]
        );
    }

    #[test]
    fn rooms_carry_their_topics() {
        let mut f = two_rooms();
        f.say(1, "/topic ship it");
        let out = f.notices(line_event(3, "/rooms"));
        let [
            Delivery::To {
                notice: Notice::Rooms { rooms },
                ..
            },
        ] = &out[..]
        else {
            panic!("{out:?}");
        };
        let topics: Vec<(&str, Option<&str>)> = rooms
            .iter()
            .map(|r| (r.name.as_str(), r.topic.as_deref()))
            .collect();
        assert_eq!(topics, [("#dev", Some("ship it")), ("#general", None)]);
    }

    fn line_event(id: ClientId, text: &str) -> Event<'_> {
        Event::Line { id, text }
    }

    fn to_notice(id: ClientId, notice: Notice) -> Delivery {
        Delivery::To { id, notice }
    }

    #[test]
    fn chat_and_actions_are_said_in_their_room_by_their_author() {
        let mut f = two_rooms();
        let dev = f.room_id("#dev");
        let out = f.notices(Event::Line { id: 1, text: "hi" });
        assert_eq!(
            out,
            [room_notice(dev, Some(1), Notice::said("#dev", "ana", "hi"))]
        );
        let [Delivery::Room { notice, .. }] = &out[..] else {
            unreachable!()
        };
        assert_eq!((notice.author(), notice.words()), (Some("ana"), Some("hi")));
        let out = f.notices(Event::Line {
            id: 1,
            text: "/me waves",
        });
        assert_eq!(
            out,
            [room_notice(
                dev,
                Some(1),
                Notice::action("#dev", "ana", "waves")
            )]
        );
        let out = f.notices(Event::Line { id: 1, text: "//x" });
        assert_eq!(
            out,
            [room_notice(dev, Some(1), Notice::said("#dev", "ana", "/x"))]
        );
    }

    #[test]
    fn joins_parts_quits_renames_and_topics_say_what_happened() {
        let mut f = two_rooms();
        let (general, dev) = (f.room_id("#general"), f.room_id("#dev"));
        let out = f.notices(Event::Line {
            id: 3,
            text: "/join #dev",
        });
        assert!(out.contains(&room_notice(dev, Some(3), Notice::joined("carl"))));
        let out = f.notices(Event::Line {
            id: 1,
            text: "/part #dev gone fishing",
        });
        let parted = Notice::left("ana", "gone fishing", Leaving::Parted);
        assert!(out.contains(&room_notice(dev, Some(1), parted)), "{out:?}");
        let out = f.notices(Event::Line {
            id: 2,
            text: "/name bee",
        });
        for room in [general, dev] {
            let renamed = Notice::renamed("bea", "bee");
            assert!(out.contains(&room_notice(room, Some(2), renamed)));
        }
        let out = f.notices(Event::Line {
            id: 2,
            text: "/topic ship it",
        });
        let topic = Notice::topic_set("bee", "ship it");
        assert_eq!(out, [room_notice(dev, None, topic)]);
        // A quit is a quit in each room, whatever its reason says.
        let out = f.notices(Event::Line {
            id: 2,
            text: "/quit parted",
        });
        for room in [general, dev] {
            let quit = Notice::left("bee", "parted", Leaving::Quit);
            assert!(out.contains(&room_notice(room, Some(2), quit)), "{out:?}");
        }
        let out = f.notices(Event::Disconnect {
            id: 3,
            reason: protocol::REASON_LOST,
        });
        let lost = Notice::left("carl", "connection lost", Leaving::Quit);
        assert_eq!(out, [room_notice(general, Some(3), lost)]);
    }

    #[test]
    fn private_messages_and_history_say_who_and_where() {
        let mut f = two_rooms();
        let out = f.notices(Event::Line {
            id: 1,
            text: "/msg BEA psst",
        });
        assert_eq!(
            out,
            [
                Delivery::To {
                    id: 2,
                    notice: Notice::private_in("ana", "psst")
                },
                Delivery::To {
                    id: 1,
                    notice: Notice::private_out("bea", "psst")
                },
            ]
        );
        f.say(1, "in dev");
        f.say(2, "/me nods");
        let out = f.notices(Event::Line {
            id: 3,
            text: "/join #dev",
        });
        let history: Vec<&Notice> = out
            .iter()
            .filter_map(|d| match d {
                Delivery::To {
                    id: 3,
                    notice: Notice::History { said, .. },
                } => Some(&**said),
                _ => None,
            })
            .collect();
        assert_eq!(
            history,
            [
                &Notice::said("#dev", "ana", "in dev"),
                &Notice::action("#dev", "bea", "nods")
            ]
        );
    }

    #[test]
    fn in_room_says_a_line_in_a_room_without_making_it_current() {
        let mut f = two_rooms(); // ana and bea talk in #dev; all three are in #general.
        let general = f.room_id("#general");
        let out = f.notices(Event::InRoom {
            id: 1,
            room: "#GENERAL",
            text: "lunch?",
        });
        assert_eq!(
            out,
            [room_notice(
                general,
                Some(1),
                Notice::said("#general", "ana", "lunch?")
            )]
        );
        assert_eq!(f.seen_by(&as_lines(out.clone()), 3), ["<ana> lunch?"]);
        assert_eq!(f.seen_by(&as_lines(out), 2), ["#general <ana> lunch?"]);
        // ana's current room is still #dev.
        let [bea, carl] = f.says(1, "back to work", [2, 3]);
        assert_eq!(bea, ["<ana> back to work"]);
        assert!(carl.is_empty());
        // The line is in #general's history.
        f.connect(4);
        let out = f.say(4, "dan");
        assert!(out.contains(&to_(4, "<ana> lunch?")), "{out:?}");
    }

    #[test]
    fn in_room_commands_are_about_that_room() {
        let mut f = two_rooms();
        let general = f.room_id("#general");
        let out = f.notices(Event::InRoom {
            id: 1,
            room: "#general",
            text: "/me waves",
        });
        let waves = Notice::action("#general", "ana", "waves");
        assert_eq!(out, [room_notice(general, Some(1), waves)]);
        let out = f.notices(Event::InRoom {
            id: 1,
            room: "#general",
            text: "/topic lunch at one",
        });
        let topic = Notice::topic_set("ana", "lunch at one");
        assert_eq!(out, [room_notice(general, None, topic)]);
        assert_eq!(
            f.say_in(2, "#general", "/topic"),
            [to_(2, "*** topic: lunch at one")]
        );
        // Not ana's current room: the list is prefixed, as `/list #general` is.
        assert_eq!(
            f.say_in(1, "#general", "/list"),
            [to_(1, "#general *** online (3): ana, bea, carl")]
        );
        // `/part` leaves that room; #dev stays current, so nothing is said about switching.
        let out = f.say_in(1, "#general", "/part bye");
        assert_eq!(
            out,
            [
                to_(1, "*** you left #general"),
                all_but(1, "*** ana left (bye)")
            ]
        );
        let [bea] = f.says(1, "still in dev", [2]);
        assert_eq!(bea, ["<ana> still in dev"]);
    }

    #[test]
    fn in_room_refuses_a_room_one_is_not_in_as_part_does() {
        let mut f = two_rooms();
        f.say(3, "/join #ops");
        let bad = "! a room name is # and 1 to 32 letters, digits, '_', '-' or '.'";
        for (room, refusal) in [
            ("#ops", "! you are not in #ops"),
            ("#nope", "! no such room: #nope"),
            ("ops", bad),
            ("", bad),
        ] {
            assert_eq!(f.say_in(1, room, "hi"), [to_(1, refusal)], "{room:?}");
            assert_eq!(f.say_in(1, room, "/me hi"), [to_(1, refusal)], "{room:?}");
        }
        // The same lines as `/part` of such a room.
        for room in ["#ops", "#nope"] {
            assert_eq!(f.say_in(1, room, "x"), f.say(1, &format!("/part {room}")));
        }
        // Blank lines are ignored; so is a connection that has no name yet.
        assert!(f.say_in(1, "#dev", " \t").is_empty());
        f.connect(4);
        assert!(f.say_in(4, "#general", "hi").is_empty());
        assert!(f.say_in(4, "#general", "/quit").is_empty());
    }
}

#[cfg(test)]
/// The rooms' books under random traffic: whatever users do (join, switch, part, rename, quit,
/// in any case and past the limits), each room's count of members whose current room it is stays
/// right (`room_recipients` trusts it to skip looking anyone up), member lists and users' room
/// lists agree, and no empty room is kept. Deterministic: seeded, no clock.
mod room_invariants {
    use super::*;
    use std::collections::HashSet;

    fn check(chat: &Chat, step: usize, what: &str) {
        for (room, r) in chat.rooms.iter() {
            let members: HashSet<u32> = r.members.iter().copied().collect();
            assert_eq!(
                members.len(),
                r.members.len(),
                "step {step} {what}: duplicate member in {}",
                r.name
            );
            let current = r
                .members
                .iter()
                .filter(|&&m| chat.current_room(m as ClientId) == Some(room))
                .count();
            assert_eq!(
                r.current_of, current,
                "step {step} {what}: current_of of {}",
                r.name
            );
            // Everyone whose list has the room is a member, and every member is joined with it.
            for &m in &r.members {
                assert!(
                    chat.rooms_of(m as ClientId).contains(&room),
                    "step {step} {what}: member {m} of {} not in its list",
                    r.name
                );
            }
            if room != chat.rooms.default_room() {
                assert!(
                    !r.members.is_empty(),
                    "step {step} {what}: empty room {} kept",
                    r.name
                );
            }
            // The fast path and a slow recomputation agree.
            let mut seen = Vec::new();
            chat.room_recipients(room, None, |id, front| seen.push((id, front)));
            for (id, front) in seen {
                assert_eq!(
                    front,
                    chat.current_room(id) != Some(room),
                    "step {step} {what}: prefix for {id} in {}",
                    r.name
                );
            }
        }
        for id in 0..10 {
            if chat.has_joined(id) {
                for &room in chat.rooms_of(id) {
                    assert!(
                        chat.rooms.exists(room),
                        "step {step} {what}: {id} lists a gone room"
                    );
                    assert!(
                        chat.rooms.get(room).members.contains(&(id as u32)),
                        "step {step} {what}: {id} lists a room without it"
                    );
                }
                if let Some(c) = chat.current_room(id) {
                    assert!(chat.rooms_of(id).contains(&c));
                }
            } else {
                assert!(
                    !chat.room_lists.contains_key(&id),
                    "step {step} {what}: stale list for {id}"
                );
            }
        }
    }

    #[test]
    fn current_of_counts_stay_right_under_random_traffic() {
        for seed in 1..400u64 {
            let mut s = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut rnd = |n: u64| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 33) % n
            };
            let mut chat = Chat::new(ChatConfig {
                history: 2,
                name_timeout: Duration::from_secs(60),
                announce_limit: 3,
                default_room: "#general".to_string(),
                max_rooms: 5,
                max_rooms_per_user: 3,
                cluster: false,
                ids: 0,
            });
            let now = Instant::now();
            let rooms = ["#general", "#GENERAL", "#a", "#b", "#c", "#d", "#e", "#A"];
            let names = ["ana", "bea", "carl", "dan", "eve", "fay"];
            let mut out: Vec<Delivery> = Vec::new();
            let mut connected = [false; 8];
            for step in 0..400 {
                let id = rnd(8) as ClientId;
                if !connected[id] {
                    connected[id] = true;
                    chat.handle(Event::Connect { id, now }, &mut out);
                    out.clear();
                    check(&chat, step, "connect");
                    continue;
                }
                let text: String = match rnd(12) {
                    0 => {
                        chat.handle(Event::Tick { now }, &mut out);
                        out.clear();
                        check(&chat, step, "tick");
                        continue;
                    }
                    1 => {
                        chat.handle(Event::Disconnect { id, reason: "x" }, &mut out);
                        connected[id] = false;
                        out.clear();
                        check(&chat, step, "disconnect");
                        continue;
                    }
                    2 => names[rnd(6) as usize].to_string(),
                    3..=5 => format!("/join {}", rooms[rnd(8) as usize]),
                    6 | 7 => match rnd(3) {
                        0 => "/part".to_string(),
                        1 => format!("/part {}", rooms[rnd(8) as usize]),
                        _ => format!("/part {} bye now", rooms[rnd(8) as usize]),
                    },
                    8 => "/quit".to_string(),
                    9 => format!("/name {}", names[rnd(6) as usize]),
                    10 => "hello".to_string(),
                    _ => "/topic hi".to_string(),
                };
                chat.handle(Event::Line { id, text: &text }, &mut out);
                for d in out.drain(..) {
                    if let Delivery::Close { id: closed } = d {
                        connected[closed] = false;
                        let mut more = Vec::new();
                        chat.handle(
                            Event::Disconnect {
                                id: closed,
                                reason: "x",
                            },
                            &mut more,
                        );
                    }
                }
                check(&chat, step, &text);
            }
        }
    }
}
