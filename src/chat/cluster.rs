//! The room as one node of a cluster: still plain data in, plain data out.
//!
//! Several pollchat processes share one room through Redis (docs/cluster.md). The room does not talk
//! to Redis; it asks, with a [`Request`] in its deliveries, and is told, with an [`Answer`] or a
//! [`Remote`] event. The edge (`cluster/` at the top of the crate) turns those into Redis commands
//! and messages and back. What this file adds to the room:
//!
//! - the users of the other nodes, by name, for `/list`, `/msg` and unique names;
//! - claims: a name is reserved here while Redis is asked for it, so two local users cannot race
//!   for one name, and the user waits (the edge holds back its next lines) until the answer;
//! - history without gaps or repeats: Redis numbers every chat line (a sequence number). The answer
//!   to a join carries the history up to number S. Lines that arrive while a user is claiming are
//!   kept for it, and it joins only once this node has seen the cluster reach S; then it gets the
//!   history, then the kept lines numbered above S (and this node's own lines, which Redis numbers
//!   after S, since this node asked for the name first).
//! - rooms other than the default: a join asks Redis (which answers with the room's members on
//!   other nodes, its topic and history, read at one place among the room's messages), lines, parts
//!   and topics are told to the other nodes, and their users' joins, parts and lines in the rooms
//!   this node has members in come back as [`Remote`] events. A node hears a room only while it has
//!   a member there ([`Request::Unsubscribe`] says when that ends).

use std::collections::{HashMap, HashSet};
use std::mem;

use log::warn;

use super::{
    Chat, Client, ClientId, Clients, Delivery, Leaving, ListedRoom, Notice, RoomId, sort_rooms, to,
};
use crate::protocol;
use crate::text::folded;
use crate::text::name_key;

/// A line of the default room's history in a cluster: its number, when it was said (Unix seconds),
/// and the line.
pub type Numbered = (u64, u64, String);

/// What the room asks of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Claim `name` for connection `id` on every node; answered with [`Answer::Joined`] or
    /// [`Answer::Refused`]. On success every other node hears that `name` joined.
    Claim {
        id: ClientId,
        ticket: u64,
        name: String,
    },
    /// Rename a user; answered with [`Answer::Renamed`] or [`Answer::Refused`].
    Rename {
        id: ClientId,
        ticket: u64,
        old: String,
        new: String,
        /// The user's rooms besides the default one, whose member lists hold the name too.
        rooms: Vec<String>,
    },
    /// A private message to a user of another node; answered with [`Answer::Sent`] or
    /// [`Answer::Refused`] (no such user).
    Private {
        id: ClientId,
        ticket: u64,
        from: String,
        to: String,
        text: String,
    },
    /// A chat or action line of the default room, for every other node and the cluster's history.
    Line(String),
    /// A user of this node left: release the name and its `rooms` (besides the default one), and
    /// tell the other nodes.
    Leave {
        name: String,
        reason: String,
        rooms: Vec<String>,
    },
    /// Join a room other than the default one; answered with [`Answer::RoomJoined`], or
    /// [`Answer::Refused`] if the cluster has `--max-rooms` rooms already.
    RoomJoin {
        id: ClientId,
        ticket: u64,
        room: String,
        name: String,
    },
    /// A user of this node left a room (not the default one).
    RoomPart {
        room: String,
        name: String,
        reason: String,
    },
    /// A chat or action line said in a room other than the default one.
    RoomLine { room: String, line: String },
    /// A room's topic is set.
    Topic {
        room: String,
        name: String,
        text: String,
    },
    /// `/rooms`: answered with [`Answer::Rooms`].
    RoomList { id: ClientId, ticket: u64 },
    /// `/list #ROOM` of a room with no member here: answered with [`Answer::Members`], or
    /// [`Answer::Refused`] if there is no such room.
    Members {
        id: ClientId,
        ticket: u64,
        room: String,
    },
    /// This node has no member left in `room`: it need not hear the room any more.
    Unsubscribe { room: String },
    /// A kick or a ban for the other nodes (`moderation.rs`).
    Moderation(super::ModAction),
}

/// The cluster's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The name is claimed. `seq` is the number of the cluster's latest chat line at that moment, and
    /// `history` the last lines up to it, oldest first, each with its number and when it was said
    /// (Unix seconds).
    Joined {
        name: String,
        seq: u64,
        history: Vec<Numbered>,
        /// The default room's topic.
        topic: Option<String>,
    },
    /// The user is in `room` (as Redis spells it), whose `members` on other nodes, `topic` and
    /// last lines are these, as they were at one place among the room's messages: those after it
    /// follow as [`Remote`] events.
    RoomJoined {
        room: String,
        topic: Option<String>,
        members: Vec<String>,
        /// The room's last lines, each with when it was said (Unix seconds).
        history: Vec<(u64, String)>,
    },
    /// Every room but the default one, with its number of members and its topic; and the number
    /// of users of the cluster, who are all in the default room.
    Rooms {
        users: usize,
        rooms: Vec<(String, usize, Option<String>)>,
    },
    /// Everyone in `room`, on every node.
    Members { room: String, names: Vec<String> },
    /// The rename is done.
    Renamed { new: String },
    /// The private message went to the node of its recipient, whose name is spelled `to`.
    Sent { to: String },
    /// The name is taken (a join, a rename), or there is no such user (a private message).
    Refused,
    /// The cluster could not be asked: its link is down.
    Unavailable,
}

/// What another node did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Joined {
        name: String,
    },
    Left {
        name: String,
        reason: String,
    },
    Renamed {
        old: String,
        new: String,
    },
    /// A chat or action line from another node, with its number in the cluster. The edge follows it
    /// with `Seen` for the same number.
    Line {
        seq: u64,
        line: String,
    },
    /// The cluster has reached number `seq`: every line up to it has arrived here.
    Seen {
        seq: u64,
    },
    /// A private message for a user who may be here.
    Private {
        to: String,
        from: String,
        text: String,
    },
    /// A local user's name was claimed by another node while this node's link was down (a Redis that
    /// restarted empty was filled by that node first): the local user must go.
    Taken {
        name: String,
    },
    /// The names of every other node's users, as Redis holds them. `complete`: names known here but
    /// missing from the list are gone; otherwise only new names are taken from it.
    Users {
        names: Vec<String>,
        complete: bool,
    },
    /// A user of another node joined a room.
    RoomJoined {
        room: String,
        name: String,
    },
    /// A user of another node left a room.
    RoomLeft {
        room: String,
        name: String,
        reason: String,
    },
    /// A line said in a room (not the default one) on another node.
    RoomLine {
        room: String,
        line: String,
    },
    /// A user of another node set a room's topic.
    Topic {
        room: String,
        name: String,
        text: String,
    },
    /// A room's members on other nodes and its topic, read again after the link came back;
    /// `complete` as for [`Remote::Users`].
    RoomMembers {
        room: String,
        names: Vec<String>,
        topic: Option<String>,
        complete: bool,
    },
    /// A kick or a ban from another node (`moderation.rs`).
    Moderation(super::ModAction),
}

/// The most lines kept for one user while its name is claimed (a round trip to Redis, normally well
/// under a millisecond). Past it the join fails as if the cluster were unavailable.
const KEPT_MAX: usize = 10_000;

/// A join under way: the name is reserved here and asked of Redis.
pub(super) struct Claim {
    ticket: u64,
    name: String,
    /// Chat lines that arrived meanwhile, with their cluster number (`None` for this node's own,
    /// which Redis numbers after the claim).
    kept: Vec<(Option<u64>, String)>,
    /// Redis has answered yes; the join completes once the cluster is seen to reach `seq`.
    answer: Option<(u64, Vec<Numbered>)>,
    /// More than `KEPT_MAX` lines arrived meanwhile: the join fails.
    overflowed: bool,
}

/// A joined user's request under way.
pub(super) enum Wait {
    Rename {
        old: String,
        new: String,
        rooms: Vec<String>,
    },
    Private {
        from: String,
        to: String,
        text: String,
    },
    /// A join of `room`, by the user called `name`. `kept`: lines said in the room here meanwhile
    /// (Redis has them after the join's read, and this node does not hear its own lines back).
    Join {
        room: String,
        name: String,
        kept: Vec<String>,
    },
    Rooms,
    Members {
        room: String,
    },
}

impl Wait {
    pub(super) fn rename(old: &str, new: &str, rooms: Vec<String>) -> Wait {
        Wait::Rename {
            old: old.to_string(),
            new: new.to_string(),
            rooms,
        }
    }

    pub(super) fn join(room: &str, name: &str) -> Wait {
        Wait::Join {
            room: room.to_string(),
            name: name.to_string(),
            kept: Vec::new(),
        }
    }

    pub(super) fn private(from: &str, to: &str, text: &str) -> Wait {
        Wait::Private {
            from: from.to_string(),
            to: to.to_string(),
            text: text.to_string(),
        }
    }
}

/// A name asked of Redis for a local user (a join or a rename under way).
struct Reservation {
    /// The connection that asked; `None` once it is gone and the answer has not come yet (the name
    /// stays reserved until then, or a second local user could take it, and the late answer's
    /// release would then free it under them).
    holder: Option<ClientId>,
    /// The name as spelled.
    name: String,
}

/// What the room knows of the rest of the cluster.
#[derive(Default)]
pub(super) struct ClusterState {
    /// Whether Redis can be reached. Until the first [`super::Event::ClusterUp`], it cannot.
    up: bool,
    /// The link has been up before: the next `ClusterUp` is a restoration, and says so.
    was_up: bool,
    /// The users of the other nodes: name key → name as spelled.
    remote: HashMap<Box<str>, String>,
    /// Names reserved by a local claim or rename under way, by name key.
    reserved: HashMap<Box<str>, Reservation>,
    /// The requests whose connection has gone before the answer: ticket → the name key reserved.
    orphans: HashMap<u64, Box<str>>,
    /// Room joins whose connection has gone before the answer: ticket → (room, name), to be undone.
    orphan_joins: HashMap<u64, (String, String)>,
    /// Joined users with a request under way, and its ticket.
    waiting: HashMap<ClientId, (u64, Wait)>,
    /// Connections in `Client::Claiming`.
    claiming: Vec<ClientId>,
    /// The highest cluster line number seen since the link came up.
    seen: u64,
    /// The other nodes' users have been read since the link came up (`Remote::Users`). A join
    /// finishes only then: its member list must name them, not announce them as joining after.
    users_known: bool,
    next_ticket: u64,
}

impl ClusterState {
    pub(super) fn is_up(&self) -> bool {
        self.up
    }

    pub(super) fn remote_users(&self) -> usize {
        self.remote.len()
    }

    pub(super) fn is_waiting(&self, id: ClientId) -> bool {
        self.waiting.contains_key(&id)
    }

    /// The name of the other nodes' user with this key, as spelled.
    pub(super) fn remote_name(&self, key: &str) -> Option<&str> {
        self.remote.get(key).map(String::as_str)
    }

    pub(super) fn is_remote(&self, key: &str) -> bool {
        self.remote.contains_key(key)
    }

    /// Who holds the name with this key, if it is not a local user: a local claim (its connection),
    /// or a user of another node or a request whose connection is gone (no connection here:
    /// `usize::MAX`, which is nobody's id).
    pub(super) fn holder(&self, key: &str) -> Option<ClientId> {
        let reserved = self
            .reserved
            .get(key)
            .map(|r| r.holder.unwrap_or(usize::MAX));
        reserved.or_else(|| self.remote.contains_key(key).then_some(usize::MAX))
    }

    /// The names this node has asked Redis for, besides its joined users': they must survive a
    /// reclaim (see `Cluster::reclaim`).
    pub(super) fn reserved_names(&self) -> impl Iterator<Item = &str> {
        self.reserved.values().map(|r| r.name.as_str())
    }

    fn reserve(&mut self, name: &str, id: ClientId) {
        let reservation = Reservation {
            holder: Some(id),
            name: name.to_string(),
        };
        self.reserved.insert(name_key(name), reservation);
    }

    /// The connection of request `ticket`, which reserved `name`, is gone: the reservation waits
    /// for the answer.
    fn orphan(&mut self, ticket: u64, name: &str) {
        let key = name_key(name);
        if let Some(reservation) = self.reserved.get_mut(&key) {
            reservation.holder = None;
            self.orphans.insert(ticket, key);
        }
    }

    /// The names of the users of the other nodes.
    pub(super) fn remote_names(&self) -> impl Iterator<Item = &str> {
        self.remote.values().map(String::as_str)
    }

    fn ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    /// A local chat line: to the other nodes, and kept for the users still claiming their names.
    pub(super) fn said(&mut self, clients: &mut Clients, line: &str, out: &mut Vec<Delivery>) {
        if self.up {
            out.push(Delivery::Cluster(Request::Line(line.to_string())));
        }
        self.keep(clients, None, line);
    }

    /// A local chat line in `room` (not the default one): to the other nodes, and kept for the
    /// users of this node joining the room.
    pub(super) fn said_in(&mut self, room: &str, line: &str, out: &mut Vec<Delivery>) {
        if self.up {
            let (room, line) = (room.to_string(), line.to_string());
            out.push(Delivery::Cluster(Request::RoomLine { room, line }));
        }
        if self.waiting.is_empty() {
            return;
        }
        let key = name_key(room);
        for (_, wait) in self.waiting.values_mut() {
            if let Wait::Join { room, kept, .. } = wait
                && name_key(room) == key
                && kept.len() < KEPT_MAX
            {
                kept.push(line.to_string());
            }
        }
    }

    /// Whether a user of this node is joining the room with this key.
    pub(super) fn is_joining(&self, key: &str) -> bool {
        let joining =
            |wait: &Wait| matches!(wait, Wait::Join { room, .. } if *name_key(room) == *key);
        self.waiting.values().any(|(_, wait)| joining(wait))
            || self
                .orphan_joins
                .values()
                .any(|(room, _)| *name_key(room) == *key)
    }

    fn keep(&mut self, clients: &mut Clients, seq: Option<u64>, line: &str) {
        for id in &self.claiming {
            if let Some(Client::Claiming(claim)) = clients.get_mut(id) {
                if claim.kept.len() < KEPT_MAX {
                    claim.kept.push((seq, line.to_string()));
                } else {
                    claim.overflowed = true;
                }
            }
        }
    }

    /// A joined user asks something of the cluster and waits for the answer.
    pub(super) fn ask(&mut self, id: ClientId, wait: Wait, out: &mut Vec<Delivery>) {
        if !self.up {
            return to(out, id, protocol::CLUSTER_UNAVAILABLE);
        }
        // One request at a time: a line face cannot send another (its input waits), but one IRC
        // line can hold several commands (`JOIN #a,#b`); a second request would overwrite the
        // first's wait, and its answer would find no owner.
        if self.waiting.contains_key(&id) {
            return to(out, id, protocol::ONE_REQUEST_AT_A_TIME);
        }
        let ticket = self.ticket();
        let request = match &wait {
            Wait::Rename { old, new, rooms } => {
                self.reserve(new, id);
                Request::Rename {
                    id,
                    ticket,
                    old: old.clone(),
                    new: new.clone(),
                    rooms: rooms.clone(),
                }
            }
            Wait::Join { room, name, .. } => Request::RoomJoin {
                id,
                ticket,
                room: room.clone(),
                name: name.clone(),
            },
            Wait::Rooms => Request::RoomList { id, ticket },
            Wait::Members { room } => Request::Members {
                id,
                ticket,
                room: room.clone(),
            },
            Wait::Private { from, to, text } => Request::Private {
                id,
                ticket,
                from: from.clone(),
                to: to.clone(),
                text: text.clone(),
            },
        };
        self.waiting.insert(id, (ticket, wait));
        out.push(Delivery::Cluster(request));
    }

    /// A joined local user left, from `rooms` besides the default: the other nodes are told (if
    /// they can be).
    pub(super) fn left(
        &mut self,
        id: ClientId,
        name: &str,
        reason: &str,
        rooms: Vec<String>,
        out: &mut Vec<Delivery>,
    ) {
        match self.waiting.remove(&id) {
            Some((ticket, Wait::Rename { new, .. })) => self.orphan(ticket, &new),
            Some((ticket, Wait::Join { room, name, .. })) => {
                self.orphan_joins.insert(ticket, (room, name));
            }
            _ => {}
        }
        if self.up {
            let (name, reason) = (name.to_string(), reason.to_string());
            out.push(Delivery::Cluster(Request::Leave {
                name,
                reason,
                rooms,
            }));
        }
    }

    /// A connection went while its name was being claimed. The answer will find no claim with its
    /// ticket; the name is released then if Redis said yes (see `Chat::orphan_answered`).
    pub(super) fn claim_abandoned(&mut self, id: ClientId, claim: &Claim) {
        self.orphan(claim.ticket, &claim.name);
        self.claiming.retain(|&c| c != id);
    }
}

impl Chat {
    /// `name` is free as far as this node knows: reserve it and ask the cluster.
    pub(super) fn claim(&mut self, id: ClientId, name: &str, out: &mut Vec<Delivery>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if !cluster.up {
            self.clients.remove(&id);
            to(out, id, protocol::CLUSTER_UNAVAILABLE);
            return out.push(Delivery::Close { id });
        }
        let ticket = cluster.ticket();
        cluster.reserve(name, id);
        cluster.claiming.push(id);
        let claim = Claim {
            ticket,
            name: name.to_string(),
            kept: Vec::new(),
            answer: None,
            overflowed: false,
        };
        self.clients.insert(id, Client::Claiming(Box::new(claim)));
        let name = name.to_string();
        out.push(Delivery::Cluster(Request::Claim { id, ticket, name }));
    }

    pub(super) fn answered(
        &mut self,
        id: ClientId,
        ticket: u64,
        answer: Answer,
        out: &mut Vec<Delivery>,
    ) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let claiming = match self.clients.get(&id) {
            Some(Client::Claiming(claim)) if claim.ticket == ticket => true,
            _ if cluster.waiting.get(&id).is_some_and(|(t, _)| *t == ticket) => false,
            _ => return self.orphan_answered(ticket, answer, out),
        };
        if claiming {
            return self.claim_answered(id, answer, out);
        }
        let Some((_, wait)) = cluster.waiting.remove(&id) else {
            return;
        };
        match (wait, answer) {
            (Wait::Rename { new, .. }, Answer::Renamed { .. }) => {
                cluster.reserved.remove(&name_key(&new));
                if let Some(Client::Joined { name, .. }) = self.clients.get(&id) {
                    let old = name.to_string();
                    self.renamed(id, &old, &new, out);
                }
            }
            (Wait::Rename { new, .. }, refusal) => {
                cluster.reserved.remove(&name_key(&new));
                to(
                    out,
                    id,
                    refused(&refusal, || Notice::NameTaken { name: new.into() }),
                );
            }
            (Wait::Private { text, .. }, Answer::Sent { to: spelled }) => {
                to(out, id, Notice::private_out(&spelled, &text));
            }
            (Wait::Private { to: name, .. }, refusal) => {
                to(
                    out,
                    id,
                    refused(&refusal, || Notice::NoSuchUser { name: name.into() }),
                );
            }
            (
                Wait::Join { name, kept, .. },
                Answer::RoomJoined {
                    room,
                    topic,
                    members,
                    history,
                },
            ) => {
                let joined = RoomJoined {
                    room,
                    topic,
                    members,
                    history,
                    kept,
                };
                self.room_joined(id, &name, joined, out);
            }
            (Wait::Join { room, .. }, refusal) => {
                let max = self.config.max_rooms;
                let full = || Notice::RoomsFull {
                    room: room.as_str().into(),
                    max,
                };
                to(out, id, refused(&refusal, full));
                self.unsubscribe_unless_needed(&room, out);
            }
            (Wait::Rooms, Answer::Rooms { users, rooms }) => {
                self.cluster_rooms(id, users, rooms, out)
            }
            (Wait::Members { .. }, Answer::Members { room, names }) => {
                let names = sorted(&names).into_iter().map(Into::into).collect();
                let room = room.into();
                let in_front = true;
                to(
                    out,
                    id,
                    Notice::Members {
                        room,
                        names,
                        in_front,
                    },
                );
            }
            (Wait::Members { room }, refusal) => {
                to(
                    out,
                    id,
                    refused(&refusal, || Notice::NoSuchRoom { room: room.into() }),
                );
            }
            (Wait::Rooms, refusal) => {
                to(
                    out,
                    id,
                    refused(&refusal, || protocol::CLUSTER_UNAVAILABLE.into()),
                );
            }
        }
    }

    /// A user of this node joined a room in Redis: it is in the room here too, and hears its topic,
    /// history, members (here and on other nodes) and the lines said here meanwhile.
    fn room_joined(
        &mut self,
        id: ClientId,
        name: &str,
        joined: RoomJoined,
        out: &mut Vec<Delivery>,
    ) {
        let room = match self.rooms.find(&joined.room) {
            Some(room) => room,
            None => self.rooms.create(&joined.room, self.clock),
        };
        let chat_room = self.rooms.get_mut(room);
        chat_room.remote = joined.members;
        if joined.topic.is_some() {
            chat_room.topic = joined.topic;
        }
        self.change_rooms(id, |rooms| rooms.join(room));
        let room_name = self.room_name(room).into();
        to(out, id, Notice::YouJoined { room: room_name });
        self.enter(id, name, room, joined.history, out);
        for line in joined.kept {
            to(out, id, Notice::from_chat_line(self.room_name(room), line));
        }
    }

    /// No user of this node is in `room` (any more) nor joining it: it need not be heard.
    pub(super) fn unsubscribe_unless_needed(&mut self, room: &str, out: &mut Vec<Delivery>) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let here = self.rooms.find(room);
        if here.is_none() && !cluster.is_joining(&name_key(room)) {
            let room = room.to_string();
            out.push(Delivery::Cluster(Request::Unsubscribe { room }));
        }
    }

    /// `/rooms` on a cluster: the rooms Redis has, with their topics, marking `id`'s own. The
    /// default room's topic is this node's: every node hears the default room.
    fn cluster_rooms(
        &mut self,
        id: ClientId,
        users: usize,
        rooms: Vec<(String, usize, Option<String>)>,
        out: &mut Vec<Delivery>,
    ) {
        let default = self.rooms.default_room();
        let default_topic = self.rooms.get(default).topic.clone();
        let mut all = vec![(self.room_name(default).to_string(), users, default_topic)];
        all.extend(rooms);
        let current = self.current_room(id);
        let mine = self.rooms_of(id);
        let mut listed: Vec<ListedRoom> = all
            .into_iter()
            .map(|(name, members, topic)| {
                let mark = match self.rooms.find(&name) {
                    Some(room) if Some(room) == current => "current",
                    Some(room) if mine.contains(&room) => "joined",
                    _ => "",
                };
                let name = name.into();
                ListedRoom {
                    name,
                    members,
                    mark,
                    topic,
                }
            })
            .collect();
        sort_rooms(&mut listed);
        to(out, id, Notice::Rooms { rooms: listed });
    }

    /// An answer for a connection that is gone (or whose id a new connection now has): the name it
    /// reserved is free here again, and whatever it won in Redis is given back, so no name stays
    /// claimed by nobody.
    fn orphan_answered(&mut self, ticket: u64, answer: Answer, out: &mut Vec<Delivery>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if let Some(key) = cluster.orphans.remove(&ticket) {
            cluster.reserved.remove(&key);
        }
        let join = cluster.orphan_joins.remove(&ticket);
        match (answer, join) {
            (Answer::Joined { name, .. } | Answer::Renamed { new: name }, _) => release(name, out),
            (Answer::RoomJoined { room, .. }, Some((_, name))) => {
                let reason = protocol::REASON_LOST.to_string();
                let part = Request::RoomPart {
                    room: room.clone(),
                    name,
                    reason,
                };
                out.push(Delivery::Cluster(part));
                self.unsubscribe_unless_needed(&room, out);
            }
            (_, Some((room, _))) => self.unsubscribe_unless_needed(&room, out),
            _ => {}
        }
    }

    fn claim_answered(&mut self, id: ClientId, answer: Answer, out: &mut Vec<Delivery>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let Some(Client::Claiming(claim)) = self.clients.get_mut(&id) else {
            return;
        };
        match answer {
            Answer::Joined {
                seq,
                history,
                topic,
                ..
            } => {
                // A topic set since is news that will come as a message; the first one is not.
                let default = self.rooms.default_room();
                let default_topic = &mut self.rooms.get_mut(default).topic;
                if default_topic.is_none() {
                    *default_topic = topic;
                }
                claim.answer = Some((seq, history));
                if seq <= cluster.seen && cluster.users_known {
                    self.finish_claim(id, out);
                }
            }
            refusal => {
                let name = mem::take(&mut claim.name);
                cluster.reserved.remove(&name_key(&name));
                cluster.claiming.retain(|&c| c != id);
                if refusal == Answer::Refused {
                    to(out, id, Notice::NameTaken { name: name.into() });
                    to(out, id, Notice::NamePrompt);
                    self.ask_name(id);
                } else {
                    self.clients.remove(&id);
                    to(out, id, protocol::CLUSTER_UNAVAILABLE);
                    out.push(Delivery::Close { id });
                }
            }
        }
    }

    /// The cluster has answered yes and this node has seen every line numbered up to the answer:
    /// join, with the history up to that number and the kept lines after it.
    fn finish_claim(&mut self, id: ClientId, out: &mut Vec<Delivery>) {
        let Some(Client::Claiming(claim)) = self.clients.remove(&id) else {
            return;
        };
        let Some((seq, history)) = claim.answer else {
            return;
        };
        if let Some(cluster) = &mut self.cluster {
            cluster.reserved.remove(&name_key(&claim.name));
            cluster.claiming.retain(|&c| c != id);
        }
        if claim.overflowed {
            to(out, id, protocol::CLUSTER_UNAVAILABLE);
            out.push(Delivery::Close { id });
            return release(claim.name, out);
        }
        let skip = history.len().saturating_sub(self.config.history);
        let history = history.into_iter().skip(skip);
        let history = history
            .filter(|(n, _, _)| *n <= seq)
            .map(|(_, at, line)| (at, line));
        let live = claim
            .kept
            .into_iter()
            .filter(|(n, _)| n.is_none_or(|n| n > seq));
        let live = live.map(|(_, line)| line).collect();
        self.welcome(id, &claim.name, history.collect(), live, out);
    }

    /// The cluster has reached number `seq`: joins waiting for it can finish (once the other
    /// nodes' users are known).
    fn seen(&mut self, seq: u64, out: &mut Vec<Delivery>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        cluster.seen = cluster.seen.max(seq);
        if !cluster.users_known {
            return;
        }
        let seen = cluster.seen;
        let ready: Vec<ClientId> = cluster
            .claiming
            .iter()
            .copied()
            .filter(|id| match self.clients.get(id) {
                Some(Client::Claiming(claim)) => claim.answer.as_ref().is_some_and(|a| a.0 <= seen),
                _ => false,
            })
            .collect();
        for id in ready {
            self.finish_claim(id, out);
        }
    }

    pub(super) fn remote(&mut self, remote: Remote, out: &mut Vec<Delivery>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        match remote {
            Remote::Joined { name } => {
                let key = name_key(&name);
                if self.names.get(&name, |id| self.clients.name(id)).is_some() {
                    return warn!("{name} joined on another node but is a user here");
                }
                if cluster.remote.insert(key, name.clone()).is_none() {
                    let default = self.rooms.default_room();
                    self.announce(default, Notice::joined(&name), true, out);
                }
            }
            Remote::Left { name, reason } => {
                if cluster.remote.remove(&name_key(&name)).is_some() {
                    let default = self.rooms.default_room();
                    self.announce(
                        default,
                        Notice::left(&name, &reason, Leaving::Quit),
                        false,
                        out,
                    );
                }
                self.gone_from_rooms(&name, &reason, out);
            }
            Remote::Renamed { old, new } => {
                let known = cluster.remote.remove(&name_key(&old)).is_some();
                cluster.remote.insert(name_key(&new), new.clone());
                let default = self.rooms.default_room();
                if known {
                    out.push(Delivery::Room {
                        room: default,
                        except: None,
                        notice: Notice::renamed(&old, &new),
                    });
                } else {
                    // Its join was missed (the link was down): it is news here.
                    self.announce(default, Notice::joined(&new), true, out);
                }
                self.renamed_in_rooms(&old, &new, out);
            }
            Remote::RoomJoined { room, name } => {
                let Some(room) = self.rooms.find(&room) else {
                    return; // Not a room of this node's (any more, or yet).
                };
                if self.local(&name).is_some()
                    || position(&self.rooms.get(room).remote, &name).is_some()
                {
                    return;
                }
                self.rooms.get_mut(room).remote.push(name.clone());
                self.announce(room, Notice::joined(&name), true, out);
            }
            Remote::RoomLeft { room, name, reason } => {
                let Some(room) = self.rooms.find(&room) else {
                    return;
                };
                let remote = &mut self.rooms.get_mut(room).remote;
                if let Some(at) = position(remote, &name) {
                    remote.swap_remove(at);
                    self.announce(
                        room,
                        Notice::left(&name, &reason, Leaving::Parted),
                        false,
                        out,
                    );
                }
            }
            Remote::RoomLine { room, line } => {
                if let Some(room) = self.rooms.find(&room) {
                    let notice = Notice::from_chat_line(self.room_name(room), line);
                    out.push(Delivery::Room {
                        room,
                        except: None,
                        notice,
                    });
                }
            }
            Remote::Topic { room, name, text } => {
                if let Some(room) = self.rooms.find(&room) {
                    self.rooms.get_mut(room).topic = Some(text.clone());
                    out.push(Delivery::Room {
                        room,
                        except: None,
                        notice: Notice::topic_set(&name, &text),
                    });
                }
            }
            Remote::RoomMembers {
                room,
                names,
                topic,
                complete,
            } => self.room_members(&room, names, topic, complete, out),
            // Joins that wait for this line's number finish on the `Seen` that follows it, as a
            // separate event: the line is delivered first, to the users joined before it.
            Remote::Line { seq, line } => {
                cluster.keep(&mut self.clients, Some(seq), &line);
                let room = self.rooms.default_room();
                let notice = Notice::from_chat_line(self.room_name(room), line);
                out.push(Delivery::Room {
                    room,
                    except: None,
                    notice,
                });
            }
            Remote::Seen { seq } => self.seen(seq, out),
            Remote::Private {
                to: name,
                from,
                text,
            } => {
                if let Some(id) = self.names.get(&name, |id| self.clients.name(id)) {
                    to(out, id, Notice::private_in(&from, &text));
                }
            }
            Remote::Users { names, complete } => self.users(names, complete, out),
            Remote::Moderation(action) => self.moderated_remotely(action, out),
            Remote::Taken { name } => {
                if let Some(id) = self.names.get(&name, |id| self.clients.name(id)) {
                    to(out, id, protocol::name_taken_meanwhile(&name));
                    self.leave(id, protocol::REASON_QUIT, out);
                    out.push(Delivery::Close { id });
                }
            }
        }
    }

    /// The other nodes' users as Redis has them: announce who came (and, if `complete`, who went)
    /// while this node could not hear of it.
    fn users(&mut self, names: Vec<String>, complete: bool, out: &mut Vec<Delivery>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let mut came = Vec::new();
        let mut listed = HashSet::new();
        for name in names {
            let key = name_key(&name);
            let local = self.names.get(&name, |id| self.clients.name(id));
            if local.is_some() || cluster.reserved.contains_key(&key) {
                continue;
            }
            if !cluster.remote.contains_key(&key) {
                cluster.remote.insert(key.clone(), name.clone());
                came.push(name);
            }
            listed.insert(key);
        }
        let mut went = Vec::new();
        if complete {
            cluster.remote.retain(|key, name| {
                listed.contains(key) || {
                    went.push(mem::take(name));
                    false
                }
            });
        }
        let default = self.rooms.default_room();
        for name in came {
            self.announce(default, Notice::joined(&name), true, out);
        }
        for name in went {
            let reason = protocol::REASON_UNSEEN;
            let gone = Notice::left(&name, reason, Leaving::Quit);
            self.announce(default, gone, false, out);
            self.gone_from_rooms(&name, reason, out);
        }
        // Joins answered before the others' users were known can finish now (their member list
        // names everyone), if the cluster has reached their number.
        if let Some(cluster) = &mut self.cluster
            && !mem::replace(&mut cluster.users_known, true)
        {
            let seen = cluster.seen;
            self.seen(seen, out);
        }
    }

    /// A user of another node is gone: out of every room of this node's it was in, announced.
    fn gone_from_rooms(&mut self, name: &str, reason: &str, out: &mut Vec<Delivery>) {
        let rooms: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, r)| position(&r.remote, name).is_some())
            .map(|(room, _)| room)
            .collect();
        for room in rooms {
            let remote = &mut self.rooms.get_mut(room).remote;
            if let Some(at) = position(remote, name) {
                remote.swap_remove(at);
            }
            self.announce(room, Notice::left(name, reason, Leaving::Quit), false, out);
        }
    }

    /// A user of another node is now called `new`, in every room of this node's it is in.
    fn renamed_in_rooms(&mut self, old: &str, new: &str, out: &mut Vec<Delivery>) {
        let rooms: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, r)| position(&r.remote, old).is_some())
            .map(|(room, _)| room)
            .collect();
        for room in rooms {
            let remote = &mut self.rooms.get_mut(room).remote;
            if let Some(at) = position(remote, old) {
                remote[at] = new.to_string();
            }
            out.push(Delivery::Room {
                room,
                except: None,
                notice: Notice::renamed(old, new),
            });
        }
    }

    /// A room's members on other nodes as Redis has them, after the link came back: who came and
    /// (if `complete`) who went meanwhile is announced.
    fn room_members(
        &mut self,
        room: &str,
        names: Vec<String>,
        topic: Option<String>,
        complete: bool,
        out: &mut Vec<Delivery>,
    ) {
        let Some(room) = self.rooms.find(room) else {
            return;
        };
        if topic.is_some() {
            self.rooms.get_mut(room).topic = topic;
        }
        let known = self.rooms.get(room).remote.clone();
        for name in &names {
            if position(&known, name).is_none() && self.local(name).is_none() {
                self.rooms.get_mut(room).remote.push(name.clone());
                self.announce(room, Notice::joined(name), true, out);
            }
        }
        if complete {
            for name in known.iter().filter(|n| position(&names, n).is_none()) {
                let remote = &mut self.rooms.get_mut(room).remote;
                if let Some(at) = position(remote, name) {
                    remote.swap_remove(at);
                }
                // Parted or quit, nobody here knows: out of this room is what is certain.
                let gone = Notice::left(name, protocol::REASON_UNSEEN, Leaving::Parted);
                self.announce(room, gone, false, out);
            }
        }
    }

    /// The link to Redis broke: local users are told once; whoever waits for an answer gets the
    /// refusal now.
    pub(super) fn cluster_down(&mut self, out: &mut Vec<Delivery>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if !cluster.up {
            return;
        }
        cluster.up = false;
        let waiting: Vec<_> = cluster.waiting.keys().copied().collect();
        let claiming = cluster.claiming.clone();
        out.push(Delivery::Everyone {
            except: None,
            notice: protocol::CLUSTER_LOST.into(),
        });
        for id in waiting.into_iter().chain(claiming) {
            let ticket = self.ticket_of(id);
            let answer = Answer::Unavailable;
            self.answered(id, ticket, answer, out);
        }
        // The answers for connections already gone will never come either; once the link is back,
        // `reclaim` leaves Redis holding exactly this node's users.
        if let Some(cluster) = &mut self.cluster {
            for (_, key) in cluster.orphans.drain() {
                cluster.reserved.remove(&key);
            }
            cluster.orphan_joins.clear();
        }
    }

    fn ticket_of(&self, id: ClientId) -> u64 {
        match (self.clients.get(&id), &self.cluster) {
            (Some(Client::Claiming(claim)), _) => claim.ticket,
            (_, Some(cluster)) => cluster.waiting.get(&id).map_or(0, |(t, _)| *t),
            _ => 0,
        }
    }

    /// The link to Redis is up, for the first time or again.
    pub(super) fn cluster_up(&mut self, out: &mut Vec<Delivery>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        cluster.up = true;
        // A Redis that restarted numbers lines from 1 again: count afresh. A join waits until its own
        // announcement comes back (`Remote::Seen`), so nothing is missed meanwhile.
        cluster.seen = 0;
        cluster.users_known = false;
        if mem::replace(&mut cluster.was_up, true) {
            out.push(Delivery::Everyone {
                except: None,
                notice: protocol::CLUSTER_RESTORED.into(),
            });
        }
    }
}

/// What a room join brings (see [`Answer::RoomJoined`]), with the lines kept meanwhile.
struct RoomJoined {
    room: String,
    topic: Option<String>,
    members: Vec<String>,
    history: Vec<(u64, String)>,
    kept: Vec<String>,
}

/// Gives a name won in Redis back: the other nodes hear that its user left.
fn release(name: String, out: &mut Vec<Delivery>) {
    let reason = protocol::REASON_LOST.to_string();
    let rooms = Vec::new();
    out.push(Delivery::Cluster(Request::Leave {
        name,
        reason,
        rooms,
    }));
}

/// Where `name` is in `names`, without regard to case.
fn position(names: &[String], name: &str) -> Option<usize> {
    let key = name_key(name);
    names.iter().position(|n| name_key(n) == key)
}

/// Names sorted without regard to case, as `/list` shows them.
fn sorted(names: &[String]) -> Vec<&str> {
    let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
    names.sort_unstable_by(|a, b| folded(a).cmp(folded(b)).then_with(|| a.cmp(b)));
    names
}

/// What a refused request is told: `Refused` is the refusal `refusal()` says (a kind of its own
/// where IRC has a numeric for it: 401, 403, 405, 433), `Unavailable` that the cluster cannot be
/// asked.
fn refused(answer: &Answer, refusal: impl FnOnce() -> Notice) -> Notice {
    match answer {
        Answer::Unavailable => protocol::CLUSTER_UNAVAILABLE.into(),
        _ => refusal(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::chat::{ChatConfig, Event};

    /// A room that is one node of a cluster whose link is up.
    fn room() -> Chat {
        let mut room = Chat::new(ChatConfig {
            history: 3,
            name_timeout: Duration::from_secs(60),
            announce_limit: 100,
            default_room: "#general".to_string(),
            max_rooms: 4,
            max_rooms_per_user: 3,
            cluster: true,
            ids: 0,
        });
        room.handle(Event::ClusterUp, &mut Vec::new());
        // The first read of the other nodes' users, which the edge asks for as the link comes up.
        let (names, complete) = (Vec::new(), false);
        let users = Event::Remote(Remote::Users { names, complete });
        room.handle(users, &mut Vec::new());
        room
    }

    /// What `event` delivered, each notice as the line it is worded as.
    fn handle(room: &mut Chat, event: Event<'_>) -> Vec<Delivery> {
        let mut out = Vec::new();
        room.handle(event, &mut out);
        crate::chat::tests::as_lines(out)
    }

    fn line(id: ClientId, text: &str) -> Event<'_> {
        Event::Line { id, text }
    }

    /// Connects `id` and gives `name`, returning the claim's ticket.
    fn ask(room: &mut Chat, id: ClientId, name: &str) -> u64 {
        connect(room, id);
        let out = handle(room, line(id, name));
        assert!(room.is_waiting(id));
        match &out[..] {
            [
                Delivery::Cluster(Request::Claim {
                    ticket, name: n, ..
                }),
            ] if n == name => *ticket,
            other => panic!("no claim: {other:?}"),
        }
    }

    /// Connects `id` and has Redis say yes to `name` at once, in a cluster without lines yet.
    fn joined(room: &mut Chat, id: ClientId, name: &str) {
        let ticket = ask(room, id, name);
        answer(room, id, ticket, joined_as(name, 0, vec![]));
        assert!(!room.is_waiting(id));
    }

    /// Redis's yes to a claim of `name`, made when the cluster's last line was `seq`.
    fn joined_as(name: &str, seq: u64, history: Vec<(u64, String)>) -> Answer {
        let name = name.into();
        let history = history.into_iter().map(|(n, line)| (n, 0, line)).collect();
        let topic = None;
        Answer::Joined {
            name,
            seq,
            history,
            topic,
        }
    }

    /// Redis's answer to the request `ticket` of connection `id`.
    fn answer(room: &mut Chat, id: ClientId, ticket: u64, answer: Answer) -> Vec<Delivery> {
        handle(room, Event::Answer { id, ticket, answer })
    }

    fn lines_to(out: &[Delivery], who: ClientId) -> Vec<std::borrow::Cow<'_, str>> {
        out.iter()
            .filter_map(|d| match d {
                Delivery::To { id, notice } if *id == who => Some(notice.line()),
                _ => None,
            })
            .collect()
    }

    fn remote(room: &mut Chat, remote: Remote) -> Vec<Delivery> {
        handle(room, Event::Remote(remote))
    }

    fn remote_line(room: &mut Chat, seq: u64, line: &str) -> Vec<Delivery> {
        let line = line.to_string();
        remote(room, Remote::Line { seq, line })
    }

    fn connect(room: &mut Chat, id: ClientId) -> Vec<Delivery> {
        handle(
            room,
            Event::Connect {
                id,
                now: Instant::now(),
            },
        )
    }

    #[test]
    fn a_join_waits_for_redis_and_its_lines_in_between_are_kept_once() {
        let mut room = room();
        let ticket = ask(&mut room, 1, "ana");
        // Before the answer: line 5 comes (it is in the history of the answer, below), and line 6.
        remote_line(&mut room, 5, "<bea> five");
        remote_line(&mut room, 6, "<bea> six");
        // As the edge does: each line from another node is followed by its number, seen.
        remote(&mut room, Remote::Seen { seq: 6 });
        let history = vec![(4, "<bea> four".into()), (5, "<bea> five".into())];
        let out = answer(&mut room, 1, ticket, joined_as("ana", 5, history));
        assert_eq!(
            lines_to(&out, 1),
            [
                "*** you are ana",
                "*** recent messages (2):",
                "<bea> four",
                "<bea> five",
                "*** online (1): ana",
                "<bea> six"
            ]
        );
        assert!(!room.is_waiting(1));
    }

    /// On a node whose link has just come up, a join answered before the other nodes' users are
    /// read waits for them: its member list names them, rather than announcing them as joining.
    #[test]
    fn a_join_right_after_the_link_comes_up_waits_for_the_other_nodes_users() {
        let mut room = room();
        room.handle(Event::ClusterUp, &mut Vec::new());
        let ticket = ask(&mut room, 1, "dan");
        remote(&mut room, Remote::Seen { seq: 3 });
        assert!(answer(&mut room, 1, ticket, joined_as("dan", 3, Vec::new())).is_empty());
        let names = vec!["ana".to_string(), "bea".to_string()];
        let out = remote(
            &mut room,
            Remote::Users {
                names,
                complete: false,
            },
        );
        assert_eq!(
            lines_to(&out, 1),
            ["*** you are dan", "*** online (3): ana, bea, dan"]
        );
    }

    #[test]
    fn a_join_answered_ahead_of_the_lines_before_it_waits_for_them() {
        let mut room = room();
        let ticket = ask(&mut room, 1, "ana");
        let history = vec![(7, "<bea> seven".into())];
        assert!(answer(&mut room, 1, ticket, joined_as("ana", 7, history)).is_empty());
        assert!(room.is_waiting(1));
        // Line 7 arrives after the answer: it is in the history, so it is not shown twice.
        let out = remote_line(&mut room, 7, "<bea> seven");
        assert!(lines_to(&out, 1).is_empty());
        let out = remote(&mut room, Remote::Seen { seq: 7 });
        assert_eq!(
            lines_to(&out, 1),
            [
                "*** you are ana",
                "*** recent messages (1):",
                "<bea> seven",
                "*** online (1): ana"
            ]
        );
    }

    #[test]
    fn a_refused_name_asks_again_and_a_name_being_claimed_is_reserved() {
        let mut room = room();
        let ticket = ask(&mut room, 1, "ana");
        connect(&mut room, 2);
        let out = handle(&mut room, line(2, "ANA"));
        assert_eq!(
            lines_to(&out, 2),
            ["! the name ANA is taken", "*** your name?"]
        );
        let out = answer(&mut room, 1, ticket, Answer::Refused);
        assert_eq!(
            lines_to(&out, 1),
            ["! the name ana is taken", "*** your name?"]
        );
        assert!(!room.is_waiting(1));
        ask(&mut room, 2, "ana"); // Free again here.
    }

    #[test]
    fn other_nodes_users_are_listed_announced_and_reachable() {
        let mut room = room();
        joined(&mut room, 1, "ana");
        let out = remote(&mut room, Remote::Joined { name: "Bea".into() });
        assert_eq!(
            out,
            [Delivery::Room {
                room: 0,
                except: None,
                notice: "*** Bea joined".into()
            }]
        );
        let out = handle(&mut room, line(1, "/list"));
        assert_eq!(lines_to(&out, 1), ["*** online (2): ana, Bea"]);
        let out = handle(&mut room, line(1, "/msg bea hi"));
        assert!(
            matches!(&out[..], [Delivery::Cluster(Request::Private { to, text, .. })] if to == "bea" && text == "hi")
        );
        assert!(room.is_waiting(1));
        let out = remote(
            &mut room,
            Remote::Private {
                to: "ANA".into(),
                from: "Bea".into(),
                text: "yo".into(),
            },
        );
        assert_eq!(lines_to(&out, 1), ["[Bea -> you] yo"]);
        let out = remote(
            &mut room,
            Remote::Left {
                name: "Bea".into(),
                reason: "node lost".into(),
            },
        );
        assert_eq!(
            out,
            [Delivery::Room {
                room: 0,
                except: None,
                notice: "*** Bea left (node lost)".into()
            }]
        );
    }

    #[test]
    fn a_lost_link_answers_whoever_waits_and_refuses_joins() {
        let mut room = room();
        joined(&mut room, 1, "ana");
        ask(&mut room, 2, "cid");
        remote(&mut room, Remote::Joined { name: "bea".into() });
        handle(&mut room, line(1, "/name anita"));
        let out = handle(&mut room, Event::ClusterDown);
        assert_eq!(
            lines_to(&out, 1),
            ["! cluster unavailable, try again shortly"]
        );
        assert_eq!(
            lines_to(&out, 2),
            ["! cluster unavailable, try again shortly"]
        );
        assert!(out.contains(&Delivery::Close { id: 2 }));
        assert!(out.contains(&Delivery::Everyone {
            except: None,
            notice: "*** cluster link lost; local users only".into()
        }));
        // Local chat goes on, and is not sent to a cluster that cannot be reached.
        let out = handle(&mut room, line(1, "hello"));
        assert_eq!(
            out,
            [Delivery::Room {
                room: 0,
                except: Some(1),
                notice: "<ana> hello".into()
            }]
        );
        let out = handle(&mut room, Event::ClusterUp);
        assert_eq!(
            out,
            [Delivery::Everyone {
                except: None,
                notice: "*** cluster link restored".into()
            }]
        );
        // Back up, the users of other nodes are re-read: who went meanwhile is announced.
        let out = remote(
            &mut room,
            Remote::Users {
                names: vec!["dan".into()],
                complete: true,
            },
        );
        assert_eq!(
            out,
            [
                Delivery::Room {
                    room: 0,
                    except: None,
                    notice: "*** dan joined".into()
                },
                Delivery::Room {
                    room: 0,
                    except: None,
                    notice: "*** bea left (while the cluster link was down)".into()
                },
            ]
        );
    }

    #[test]
    fn a_name_stays_reserved_until_the_answer_for_a_connection_gone() {
        let mut room = room();
        let ticket = ask(&mut room, 1, "ana");
        handle(
            &mut room,
            Event::Disconnect {
                id: 1,
                reason: "connection lost",
            },
        );
        // A second user here cannot take the name while Redis may still be giving it to the first.
        connect(&mut room, 2);
        let out = handle(&mut room, line(2, "ana"));
        assert_eq!(
            lines_to(&out, 2),
            ["! the name ana is taken", "*** your name?"]
        );
        assert_eq!(room.claimed_names(), ["ana"]);
        // Redis said yes to the first: the name is given back, and then free here.
        let out = answer(&mut room, 1, ticket, joined_as("ana", 0, vec![]));
        assert_eq!(
            out,
            [Delivery::Cluster(Request::Leave {
                name: "ana".into(),
                reason: "connection lost".into(),
                rooms: vec![]
            })]
        );
        assert!(room.claimed_names().is_empty());
        ask(&mut room, 2, "ana");
    }

    #[test]
    fn names_asked_for_are_claimed_again_with_the_joined_ones() {
        let mut room = room();
        joined(&mut room, 1, "ana");
        ask(&mut room, 2, "bea");
        handle(&mut room, line(1, "/name anita"));
        let mut names = room.claimed_names();
        names.sort();
        assert_eq!(names, ["ana", "anita", "bea"]);
    }

    /// `id` asks to join `room`; returns the request's ticket.
    fn ask_room(room: &mut Chat, id: ClientId, wanted: &str) -> u64 {
        let out = handle(room, line(id, &format!("/join {wanted}")));
        assert!(room.is_waiting(id));
        match &out[..] {
            [
                Delivery::Cluster(Request::RoomJoin {
                    ticket, room: r, ..
                }),
            ] if r == wanted => *ticket,
            other => panic!("no room join: {other:?}"),
        }
    }

    fn room_joined(name: &str, members: &[&str], history: &[&str]) -> Answer {
        Answer::RoomJoined {
            room: name.into(),
            topic: Some("ship it".into()),
            members: members.iter().map(|m| m.to_string()).collect(),
            history: history.iter().map(|h| (0, h.to_string())).collect(),
        }
    }

    #[test]
    fn a_room_join_asks_redis_and_gets_the_rooms_members_topic_history_and_lines_meanwhile() {
        let mut room = room();
        joined(&mut room, 1, "ana");
        joined(&mut room, 2, "bo");
        let bo_ticket = ask_room(&mut room, 2, "#dev");
        answer(&mut room, 2, bo_ticket, room_joined("#dev", &["cy"], &[]));
        let ticket = ask_room(&mut room, 1, "#dev");
        // While ana waits, bo speaks in #dev: Redis will have the line after ana's read.
        let out = handle(&mut room, line(2, "hello dev"));
        assert!(out.contains(&Delivery::Cluster(Request::RoomLine {
            room: "#dev".into(),
            line: "<bo> hello dev".into()
        })));
        let out = answer(
            &mut room,
            1,
            ticket,
            room_joined("#dev", &["cy"], &["<cy> old"]),
        );
        assert_eq!(
            lines_to(&out, 1),
            [
                "*** you joined #dev",
                "*** topic: ship it",
                "*** recent messages (1):",
                "<cy> old",
                "*** online (3): ana, bo, cy",
                "<bo> hello dev"
            ]
        );
        // A line from another node's user in #dev reaches both; so do its part and a quit.
        let out = remote(
            &mut room,
            Remote::RoomLine {
                room: "#DEV".into(),
                line: "<cy> hi".into(),
            },
        );
        assert!(
            matches!(&out[..], [Delivery::Room { except: None, notice, .. }] if notice.line() == "<cy> hi")
        );
        let out = remote(
            &mut room,
            Remote::Left {
                name: "cy".into(),
                reason: "quit".into(),
            },
        );
        assert_eq!(
            out.iter()
                .filter(
                    |d| matches!(d, Delivery::Room { notice, .. } if notice.line() == "*** cy left (quit)")
                )
                .count(),
            1,
            "{out:?}"
        );
        let out = handle(&mut room, line(1, "/list"));
        assert_eq!(lines_to(&out, 1), ["*** online (2): ana, bo"]);
    }

    #[test]
    fn the_last_member_here_parting_stops_hearing_the_room_but_the_default_room_stays() {
        let mut room = room();
        joined(&mut room, 1, "ana");
        let ticket = ask_room(&mut room, 1, "#dev");
        answer(&mut room, 1, ticket, room_joined("#dev", &[], &[]));
        let out = handle(&mut room, line(1, "/part #general"));
        assert_eq!(
            lines_to(&out, 1),
            ["! on a cluster #general cannot be left; /join another room to talk there"]
        );
        let out = handle(&mut room, line(1, "/part"));
        assert!(out.contains(&Delivery::Cluster(Request::RoomPart {
            room: "#dev".into(),
            name: "ana".into(),
            reason: "parted".into()
        })));
        assert!(out.contains(&Delivery::Cluster(Request::Unsubscribe {
            room: "#dev".into()
        })));
        // A refused join (too many rooms in the cluster) stops hearing the room too.
        let ticket = ask_room(&mut room, 1, "#ops");
        let out = answer(&mut room, 1, ticket, Answer::Refused);
        assert_eq!(
            lines_to(&out, 1),
            ["! the server has 4 rooms, the most allowed"]
        );
        assert!(out.contains(&Delivery::Cluster(Request::Unsubscribe {
            room: "#ops".into()
        })));
    }

    #[test]
    fn a_user_leaving_takes_its_rooms_and_a_join_answered_after_it_left_is_undone() {
        let mut room = room();
        joined(&mut room, 1, "ana");
        let ticket = ask_room(&mut room, 1, "#dev");
        answer(&mut room, 1, ticket, room_joined("#Dev", &[], &[]));
        let ticket = ask_room(&mut room, 1, "#ops");
        let out = handle(
            &mut room,
            Event::Disconnect {
                id: 1,
                reason: "connection lost",
            },
        );
        assert!(out.contains(&Delivery::Cluster(Request::Leave {
            name: "ana".into(),
            reason: "connection lost".into(),
            rooms: vec!["#Dev".into()]
        })));
        assert!(out.contains(&Delivery::Cluster(Request::Unsubscribe {
            room: "#Dev".into()
        })));
        // #ops's join was under way: it is still heard until its answer, which is undone.
        assert!(!out.contains(&Delivery::Cluster(Request::Unsubscribe {
            room: "#ops".into()
        })));
        let out = answer(&mut room, 1, ticket, room_joined("#ops", &[], &[]));
        assert_eq!(
            out,
            [
                Delivery::Cluster(Request::RoomPart {
                    room: "#ops".into(),
                    name: "ana".into(),
                    reason: "connection lost".into()
                }),
                Delivery::Cluster(Request::Unsubscribe {
                    room: "#ops".into()
                })
            ]
        );
    }

    #[test]
    fn rooms_and_list_of_a_room_with_nobody_here_ask_redis() {
        let mut room = room();
        joined(&mut room, 1, "ana");
        let out = handle(&mut room, line(1, "/rooms"));
        let ticket = match &out[..] {
            [Delivery::Cluster(Request::RoomList { ticket, .. })] => *ticket,
            other => panic!("{other:?}"),
        };
        let rooms = Answer::Rooms {
            users: 3,
            rooms: vec![("#ops".into(), 2, Some("on call".into()))],
        };
        let mut out = Vec::new();
        let event = Event::Answer {
            id: 1,
            ticket,
            answer: rooms,
        };
        room.handle(event, &mut out);
        assert_eq!(
            lines_to(&out, 1),
            ["*** rooms (2): #general (3, current), #ops (2)"]
        );
        // The topics are in the list for the IRC face's LIST, not in the line: Redis's for the
        // rooms elsewhere, this node's for the default room (none here).
        let topics: Vec<Option<&str>> = match &out[..] {
            [
                Delivery::To {
                    notice: Notice::Rooms { rooms },
                    ..
                },
            ] => rooms.iter().map(|r| r.topic.as_deref()).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(topics, [None, Some("on call")]);
        let out = handle(&mut room, line(1, "/list #ops"));
        let ticket = match &out[..] {
            [Delivery::Cluster(Request::Members { ticket, .. })] => *ticket,
            other => panic!("{other:?}"),
        };
        let members = Answer::Members {
            room: "#ops".into(),
            names: vec!["zed".into(), "bea".into()],
        };
        let out = answer(&mut room, 1, ticket, members);
        assert_eq!(lines_to(&out, 1), ["#ops *** online (2): bea, zed"]);
    }

    #[test]
    fn other_nodes_lines_and_leaves_arrive_as_notices() {
        let mut room = room();
        joined(&mut room, 1, "ana");
        let ticket = ask_room(&mut room, 1, "#dev");
        answer(&mut room, 1, ticket, room_joined("#dev", &["cy"], &[]));
        let dev = room.rooms.find("#dev").expect("#dev is here");
        let raw = |room: &mut Chat, event| {
            let mut out = Vec::new();
            room.handle(Event::Remote(event), &mut out);
            out
        };
        let notices = |out: Vec<Delivery>| -> Vec<Notice> {
            out.into_iter()
                .filter_map(|d| match d {
                    Delivery::Room { notice, .. } => Some(notice),
                    _ => None,
                })
                .collect()
        };
        let line = "* cy waves".to_string();
        let out = raw(&mut room, Remote::Line { seq: 1, line });
        assert_eq!(notices(out), [Notice::action("#general", "cy", "waves")]);
        let (room_name, line) = ("#DEV".to_string(), "<cy> hi".to_string());
        let out = raw(
            &mut room,
            Remote::RoomLine {
                room: room_name,
                line,
            },
        );
        assert!(matches!(&out[..], [Delivery::Room { room: r, .. }] if *r == dev));
        assert_eq!(notices(out), [Notice::said("#dev", "cy", "hi")]);
        // A line that is nobody's words (a node's bug) is still shown, as text.
        let line = "<not a name> hi".to_string();
        let out = raw(&mut room, Remote::Line { seq: 2, line });
        assert_eq!(notices(out), [Notice::Text("<not a name> hi".into())]);
        let out = raw(
            &mut room,
            Remote::RoomLeft {
                room: "#dev".into(),
                name: "cy".into(),
                reason: "parted".into(),
            },
        );
        let parted = Notice::left("cy", "parted", Leaving::Parted);
        assert_eq!(notices(out), [parted]);
        let (name, reason) = ("bo".to_string(), "node lost".to_string());
        raw(&mut room, Remote::Joined { name: name.clone() });
        let out = raw(&mut room, Remote::Left { name, reason });
        assert_eq!(
            notices(out),
            [Notice::left("bo", "node lost", Leaving::Quit)]
        );
    }

    #[test]
    fn a_second_request_while_one_is_asked_is_refused_not_lost() {
        let mut room = room();
        joined(&mut room, 1, "ana");
        ask_room(&mut room, 1, "#a");
        // An IRC line can carry two joins at once (`JOIN #a,#b`): the second must not take the
        // first's place.
        let out = handle(&mut room, line(1, "/join #b"));
        assert_eq!(
            lines_to(&out, 1),
            ["! one request at a time on a cluster: send it again once the last one is answered"]
        );
        assert!(room.is_waiting(1));
    }
}
