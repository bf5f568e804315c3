//! The cluster edge: this node's two connections to Redis, in the same `Poll` as the clients.
//!
//! Several pollchat nodes share one room through Redis (docs/cluster.md). This file turns the room's
//! [`Request`]s into Redis commands and turns what Redis sends back into room [`Event`]s, the way
//! `server/` turns sockets into lines. The room never sees Redis; Redis never sees a socket of ours
//! but these two:
//!
//! - the *command* link: every request is one `EVALSHA` of a script (`scripts.rs`), pipelined; the
//!   replies come back in order, so a queue of what each reply answers ([`Expect`]) is all the
//!   bookkeeping there is;
//! - the *subscriber* link: `SUBSCRIBE pollchat:events`, then a stream of messages (`message.rs`);
//!   and the channel of each room other than the default one while this node has a member there.
//!   Redis sends a subscriber the messages of all its channels in the order they were published,
//!   so one link keeps every room's messages in one order.
//!
//! The link's life: `Down` → (connect both, load the scripts, say hello, subscribe) `Connecting` →
//! `Up`. Any error, a reply that does not come within `--cluster-timeout-ms`, or a Redis that stops
//! reading drops both connections and goes back to `Down`, retried with backoff. The room is told
//! [`Event::ClusterDown`] and [`Event::ClusterUp`]; on each `Up` the node claims its users' names
//! again (`reclaim`) and re-reads everyone else's.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use log::{info, warn};
use mio::{Registry, Token};

use crate::ban_list::Banned;
use crate::chat::{Answer, Event, ModAction, Remote, Request};
use crate::protocol;
use crate::resp::Value;
use crate::text::name_key;

mod link;
mod marks;
pub mod message;
pub mod scripts;
mod target;

use link::Link;
use marks::Marks;
use message::Message;
use scripts::{
    BANS, CHANNEL, HEARTBEAT_PREFIX, HISTORY, HISTORY_CAP, NAMES, NODES, ROOMS, SEQ, Script,
    room_channel, room_history, room_members, room_topic,
};
pub use target::RedisTarget;

/// The tokens of the two links. Connections use slab keys (small) and listeners `usize::MAX - i`.
pub const COMMANDS: Token = Token(usize::MAX / 2);
pub const SUBSCRIBER: Token = Token(usize::MAX / 2 + 1);

/// The first wait before connecting again, doubled after each failure up to `RETRY_MAX`.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What `--cluster` and its companions say.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub redis: RedisTarget,
    pub node: String,
    /// How often the heartbeat is refreshed and the other nodes' are checked.
    pub heartbeat: Duration,
    /// How long a heartbeat lives, and how long a reply may take: a node silent this long is lost.
    pub timeout: Duration,
    /// This node's `--history`.
    pub history: usize,
    /// `--default-room`: its lines and notices go on `pollchat:events`.
    pub default_room: String,
    /// `--max-rooms`, checked in Redis when a join would make a room.
    pub max_rooms: usize,
}

enum Phase {
    Down {
        retry_at: Instant,
    },
    /// Both connects started at `since`; `left` handshake replies (script loads, hello, subscribe)
    /// still to come.
    Connecting {
        since: Instant,
        left: usize,
    },
    Up,
}

/// What a reply on the command link answers.
enum Expect {
    Load(Script),
    Hello,
    Answer {
        id: usize,
        ticket: u64,
        asked: Asked,
    },
    Users {
        token: u64,
        complete: bool,
    },
    /// A room's members read again (see `sync_room`).
    RoomSync {
        token: u64,
        room: String,
        complete: bool,
    },
    Reclaim,
    /// `HGETALL pollchat:bans`, read when the link comes up.
    Bans,
    /// `AUTH`: an error (a wrong password) drops the link like any error, with Redis's words.
    Auth,
    Nothing,
}

/// The kind of request an answer is for, with what the answer needs of it.
enum Asked {
    Claim {
        name: String,
    },
    Rename {
        new: String,
    },
    Private,
    /// A room join, whose read is marked with `token` (see `marks.rs`).
    RoomJoin {
        token: u64,
    },
    RoomList,
    Members,
}

pub struct Cluster {
    config: ClusterConfig,
    /// Tells this process apart from an earlier one with the same `--node`.
    instance: String,
    commands: Option<Link>,
    subscriber: Option<Link>,
    phase: Phase,
    /// What each reply still to come on the command link answers, and when it was asked.
    expected: VecDeque<(Expect, Instant)>,
    /// The SHA1 of each script, as `SCRIPT LOAD` answered, in `Script::ALL` order.
    shas: Vec<String>,
    next_heartbeat: Instant,
    retry_delay: Duration,
    /// When to re-read the users of every node, and drop those no longer there (after a restore).
    resync_at: Option<Instant>,
    /// The link came up: the server must hand over the local users' names ([`Cluster::reclaim`]).
    reclaim_due: bool,
    /// Another live instance has this node's name (the hello script said so).
    name_in_use: bool,
    /// Bans and unbans made here while the link was down, for Redis when it is back.
    moderation_while_down: Vec<ModAction>,
    replies: Vec<Value>,
    /// Chat lines of this pass not yet sent, with their room (`None`: the default room): they go to
    /// Redis together, one script run per room, when the loop writes (or before any other request,
    /// which must not overtake them).
    lines: Vec<(Option<String>, String)>,
    /// Reads placed among the messages by a marker (everyone's names, a room's members).
    marks: Marks,
    next_token: u64,
    /// The rooms this node hears, by channel: the room's name.
    rooms: HashMap<String, String>,
    /// Subscriptions to rooms' channels asked for and not yet confirmed. Until they are, commands
    /// wait in `gated`: a room join's read must come after the subscription, or the node could miss
    /// what the room says between the two; and nothing may overtake the join.
    unconfirmed: usize,
    gated: VecDeque<Vec<String>>,
    /// When this node last saw its own heartbeat's `ping` come back on the subscription.
    last_ping: Instant,
    /// The node is shutting down: `bye` has been sent, no more heartbeats.
    leaving: bool,
    /// The link has been up before (the next `reclaim` follows an outage).
    linked_before: bool,
    /// Commands sent on links since dropped (`--metrics`; see [`Cluster::commands_sent`]).
    commands_sent_before: u64,
    /// What happened, for the room, in order.
    pub events: Vec<Event<'static>>,
}

impl Cluster {
    pub fn new(config: ClusterConfig) -> Cluster {
        let now = Instant::now();
        Cluster {
            instance: format!("{}-{}", std::process::id(), fastrand::u64(..)),
            config,
            commands: None,
            subscriber: None,
            phase: Phase::Down { retry_at: now },
            expected: VecDeque::new(),
            shas: Vec::new(),
            next_heartbeat: now,
            retry_delay: RETRY_FIRST,
            resync_at: None,
            reclaim_due: false,
            moderation_while_down: Vec::new(),
            name_in_use: false,
            replies: Vec::new(),
            lines: Vec::new(),
            marks: Marks::default(),
            next_token: 0,
            rooms: HashMap::new(),
            unconfirmed: 0,
            gated: VecDeque::new(),
            last_ping: now,
            leaving: false,
            linked_before: false,
            commands_sent_before: 0,
            events: Vec::new(),
        }
    }

    pub fn node(&self) -> &str {
        &self.config.node
    }

    /// Commands queued for Redis since start-up, on every link made.
    pub fn commands_sent(&self) -> u64 {
        let current = [&self.commands, &self.subscriber]
            .into_iter()
            .flatten()
            .map(|link| link.sent);
        self.commands_sent_before + current.sum::<u64>()
    }

    pub fn is_up(&self) -> bool {
        matches!(self.phase, Phase::Up)
    }

    /// True once the hello script has found another live node with this node's name.
    pub fn name_in_use(&self) -> bool {
        self.name_in_use
    }

    /// True (once) after the link came up: call [`Cluster::reclaim`].
    pub fn take_reclaim_due(&mut self) -> bool {
        std::mem::take(&mut self.reclaim_due)
    }

    /// The goodbye has been answered (or cannot be): a shutdown waits for this.
    pub fn is_flushed(&self) -> bool {
        !self.is_up() || (self.leaving && self.expected.is_empty())
    }

    /// Starts connecting both links.
    fn connect(&mut self, registry: &Registry, now: Instant) {
        let target = &self.config.redis;
        let links = Link::connect(target, registry, COMMANDS)
            .and_then(|c| Ok((c, Link::connect(target, registry, SUBSCRIBER)?)));
        match links {
            Ok((commands, subscriber)) => {
                self.commands = Some(commands);
                self.subscriber = Some(subscriber);
                // Each script's load, the hello, the subscription, and the bans.
                let left = Script::ALL.len() + 3;
                self.phase = Phase::Connecting { since: now, left };
            }
            Err(e) => {
                let why = format!("cannot connect to {}: {e}", self.config.redis);
                self.lost(registry, now, &why)
            }
        }
    }

    /// One of the links is ready.
    pub fn ready(&mut self, token: Token, registry: &Registry, now: Instant) {
        let link = match token {
            COMMANDS => self.commands.as_mut(),
            _ => self.subscriber.as_mut(),
        };
        let Some(link) = link else {
            return; // A stale event for a link already dropped.
        };
        let was_connected = link.is_connected();
        let mut replies = std::mem::take(&mut self.replies);
        let result = link.ready(&mut replies);
        let connected = !was_connected && link.is_connected();
        if connected {
            self.connected(token);
        }
        for reply in replies.drain(..) {
            if token == COMMANDS {
                self.answered(reply, registry, now);
            } else {
                self.published(reply);
            }
        }
        self.replies = replies;
        if let Err(e) = result {
            self.lost(
                registry,
                now,
                &format!("Redis at {}: {e}", self.config.redis),
            );
        }
    }

    /// A link's connect finished: start its handshake.
    fn connected(&mut self, token: Token) {
        let now = Instant::now();
        // Named, so that `CLIENT LIST` in Redis shows which node each connection is.
        let name = format!("pollchat-{}", self.config.node);
        let auth = &self.config.redis.auth;
        if token == SUBSCRIBER {
            if let Some(link) = &mut self.subscriber {
                if !auth.is_empty() {
                    let mut command = vec!["AUTH"];
                    command.extend(auth.iter().map(String::as_str));
                    link.send(&command);
                }
                // Its `+OK` comes on the subscription, where anything but a push is ignored.
                link.send(&["CLIENT", "SETNAME", &name]);
                link.send(&["SUBSCRIBE", CHANNEL]);
            }
            return;
        }
        let Some(link) = &mut self.commands else {
            return;
        };
        if !auth.is_empty() {
            // First, before anything else: a Redis with a password answers nothing else until then.
            let mut command = vec!["AUTH"];
            command.extend(auth.iter().map(String::as_str));
            link.send(&command);
            self.expected.push_back((Expect::Auth, now));
        }
        link.send(&["CLIENT", "SETNAME", &name]);
        self.expected.push_back((Expect::Nothing, now));
        for script in Script::ALL {
            link.send(&["SCRIPT", "LOAD", script.source()]);
            self.expected.push_back((Expect::Load(script), now));
        }
        self.shas = vec![String::new(); Script::ALL.len()];
        self.hello(now);
        self.sync_bans(now);
    }

    /// Part of the handshake: the bans and unbans made here while the link was down go to Redis
    /// (and to the other nodes) first, then the expired bans are dropped and the rest read, so a
    /// node that starts, or comes back, turns away whoever the cluster has banned before it lets
    /// anyone in. The link is up once they are read.
    fn sync_bans(&mut self, now: Instant) {
        let node = self.config.node.clone();
        // Kept until the bans are read: a handshake that times out (Redis paused, say) is tried
        // again, with them again.
        for action in self.moderation_while_down.clone() {
            self.publish_moderation(&node, action, now);
        }
        self.run(Script::BansPrune, 1, &[BANS], Expect::Nothing, now);
        self.send(&["HGETALL", BANS], Expect::Bans, now);
    }

    /// The heartbeat; also the first command once the scripts are loaded.
    fn hello(&mut self, now: Instant) {
        let ttl = self.config.timeout.as_millis().to_string();
        let history = self.config.history.min(scripts::HISTORY_MAX).to_string();
        let heartbeat = format!("{HEARTBEAT_PREFIX}{}", self.config.node);
        let (instance, node) = (self.instance.clone(), self.config.node.clone());
        let args = [
            &heartbeat,
            NODES,
            HISTORY_CAP,
            &instance,
            &ttl,
            &node,
            &history,
            CHANNEL,
        ];
        self.run(Script::Hello, 3, &args, Expect::Hello, now);
    }

    /// Queues `EVALSHA script numkeys args...` (or `EVAL` while the scripts are loading).
    fn run(&mut self, script: Script, keys: usize, args: &[&str], expect: Expect, now: Instant) {
        if self.commands.is_none() {
            return;
        }
        // Not loaded yet (a message on the subscription can ask for a read before the command link
        // has even connected): the script's text goes instead.
        let sha = self.shas.get(script as usize).cloned().unwrap_or_default();
        let keys = keys.to_string();
        let mut command: Vec<&str> = Vec::with_capacity(args.len() + 3);
        if sha.is_empty() {
            command.extend(["EVAL", script.source()]);
        } else {
            command.extend(["EVALSHA", &sha]);
        }
        command.push(&keys);
        command.extend_from_slice(args);
        self.send(&command, expect, now);
    }

    /// Sends a command on the command link, or holds it while a room's subscription is unconfirmed
    /// (see `gated`): every command goes this way, so none overtakes another and each reply meets
    /// the request it answers in `expected`.
    fn send(&mut self, command: &[&str], expect: Expect, now: Instant) {
        let Some(link) = &mut self.commands else {
            return;
        };
        if self.unconfirmed > 0 {
            self.gated
                .push_back(command.iter().map(|a| a.to_string()).collect());
        } else {
            link.send(command);
        }
        self.expected.push_back((expect, now));
    }

    /// Starts hearing a room (its channel is `channel`), if this node does not already.
    fn subscribe(&mut self, channel: &str, room: &str) {
        if self.rooms.contains_key(channel) {
            return;
        }
        if let Some(link) = &mut self.subscriber {
            link.send(&["SUBSCRIBE", channel]);
            self.rooms.insert(channel.to_string(), room.to_string());
            self.unconfirmed += 1;
        }
    }

    /// A room's subscription is confirmed: the commands that waited for it go.
    fn subscribed(&mut self) {
        self.unconfirmed = self.unconfirmed.saturating_sub(1);
        if self.unconfirmed > 0 {
            return;
        }
        if let Some(link) = &mut self.commands {
            for command in self.gated.drain(..) {
                link.send(&command);
            }
        }
    }

    /// The channel of a room (`key`: its name in lower case): the default room's is the one every
    /// node hears.
    fn channel_of(&self, key: &str) -> String {
        if *key == *name_key(&self.config.default_room) {
            CHANNEL.to_string()
        } else {
            room_channel(key)
        }
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// One handshake reply has come; the link is up after the last.
    fn handshake_step(&mut self) {
        if let Phase::Connecting { left, .. } = &mut self.phase {
            *left -= 1;
            if *left == 0 {
                info!(
                    "cluster: node {} linked to Redis at {}",
                    self.config.node, self.config.redis
                );
                self.phase = Phase::Up;
                self.last_ping = Instant::now();
                self.retry_delay = RETRY_FIRST;
                self.reclaim_due = true;
                self.events.push(Event::ClusterUp);
            }
        }
    }

    /// Carries out one request of the room. While the link is not up, a request that waits for an
    /// answer gets `Unavailable` at once; the others are dropped (the room has been told the link is
    /// down, and catches up with `reclaim` when it is back).
    pub fn request(&mut self, request: Request, now: Instant) {
        if !self.is_up() {
            match request {
                Request::Claim { id, ticket, .. }
                | Request::Rename { id, ticket, .. }
                | Request::Private { id, ticket, .. } => {
                    let answer = Answer::Unavailable;
                    self.events.push(Event::Answer { id, ticket, answer });
                }
                // Kept for when the link is back (`sync_bans`): an unban made now must not be
                // undone by the bans Redis still holds.
                Request::Moderation(action @ (ModAction::Ban { .. } | ModAction::Unban { .. })) => {
                    self.moderation_while_down.push(action);
                }
                _ => {}
            }
            return;
        }
        let request = match request {
            Request::Line(line) => return self.batch(None, line, now),
            Request::RoomLine { room, line } => return self.batch(Some(room), line, now),
            other => other,
        };
        self.send_lines(now);
        let node = self.config.node.clone();
        match request {
            Request::Claim { id, ticket, name } => {
                let history = self.config.history.min(scripts::HISTORY_MAX).to_string();
                let asked = Asked::Claim { name: name.clone() };
                let topic = room_topic(&name_key(&self.config.default_room));
                let args = [
                    NAMES,
                    SEQ,
                    HISTORY,
                    &topic,
                    &name_key(&name),
                    &node,
                    &name,
                    CHANNEL,
                    &history,
                ];
                let expect = Expect::Answer { id, ticket, asked };
                self.run(Script::Claim, 4, &args, expect, now);
            }
            Request::Rename {
                id,
                ticket,
                old,
                new,
                rooms,
            } => {
                let published = message::rename(&node, &old, &new);
                let (new_key, old_key) = (name_key(&new), name_key(&old));
                let asked = Asked::Rename { new: new.clone() };
                let room_keys: Vec<Box<str>> = rooms.iter().map(|r| name_key(r)).collect();
                let mut args = vec![NAMES, &new_key, &node, &new, &old_key, CHANNEL, &published];
                args.extend(room_keys.iter().map(|k| &**k));
                let expect = Expect::Answer { id, ticket, asked };
                self.run(Script::Rename, 1, &args, expect, now);
            }
            Request::Private {
                id,
                ticket,
                from,
                to,
                text,
            } => {
                let args = [NAMES, &name_key(&to), &node, CHANNEL, &from, &text];
                let asked = Asked::Private;
                let expect = Expect::Answer { id, ticket, asked };
                self.run(Script::Private, 1, &args, expect, now);
            }
            Request::Line(_) | Request::RoomLine { .. } => {} // Batched above.
            Request::Leave {
                name,
                reason,
                rooms,
            } => {
                let published = message::leave(&node, &name, &reason);
                let room_keys: Vec<Box<str>> = rooms.iter().map(|r| name_key(r)).collect();
                let name_key = name_key(&name);
                let mut args = vec![NAMES, &name_key, &node, CHANNEL, &published];
                args.extend(room_keys.iter().map(|k| &**k));
                self.run(Script::Release, 1, &args, Expect::Nothing, now);
            }
            Request::RoomJoin {
                id,
                ticket,
                room,
                name,
            } => {
                let key = name_key(&room);
                let channel = room_channel(&key);
                self.subscribe(&channel, &room);
                let token = self.token();
                let (history, token_text) = (self.config.history.to_string(), token.to_string());
                let max_rooms = self.config.max_rooms.to_string();
                let (members, history_key, topic) =
                    (room_members(&key), room_history(&key), room_topic(&key));
                let args = [
                    ROOMS,
                    &members,
                    &history_key,
                    &topic,
                    &key,
                    &room,
                    &name_key(&name),
                    &node,
                    &name,
                    &channel,
                    &token_text,
                    &history,
                    &max_rooms,
                ];
                let expect = Expect::Answer {
                    id,
                    ticket,
                    asked: Asked::RoomJoin { token },
                };
                self.run(Script::RoomJoin, 4, &args, expect, now);
            }
            Request::RoomPart { room, name, reason } => {
                let key = name_key(&room);
                let published = message::room_part(&node, &room, &name, &reason);
                let (members, channel) = (room_members(&key), room_channel(&key));
                let name_key = name_key(&name);
                let args: [&str; 6] = [&members, &name_key, &node, &channel, &published, &key];
                self.run(Script::RoomPart, 1, &args, Expect::Nothing, now);
            }
            Request::Topic { room, name, text } => {
                let key = name_key(&room);
                let published = message::topic(&node, &room, &name, &text);
                let (topic, channel) = (room_topic(&key), self.channel_of(&key));
                let args: [&str; 4] = [&topic, &text, &channel, &published];
                self.run(Script::Topic, 1, &args, Expect::Nothing, now);
            }
            Request::RoomList { id, ticket } => {
                let asked = Asked::RoomList;
                let expect = Expect::Answer { id, ticket, asked };
                self.run(Script::RoomList, 2, &[ROOMS, NAMES], expect, now);
            }
            Request::Members { id, ticket, room } => {
                let key = name_key(&room);
                let members = room_members(&key);
                let asked = Asked::Members;
                let expect = Expect::Answer { id, ticket, asked };
                self.run(Script::Members, 2, &[ROOMS, &members, &key], expect, now);
            }
            Request::Unsubscribe { room } => {
                let channel = room_channel(&name_key(&room));
                if self.rooms.remove(&channel).is_some()
                    && let Some(link) = &mut self.subscriber
                {
                    link.send(&["UNSUBSCRIBE", &channel]);
                }
            }
            Request::Moderation(action) => self.publish_moderation(&node, action, now),
        }
    }

    /// A kick or a ban for the other nodes: a `PUBLISH`. A ban or an unban is also kept in
    /// `pollchat:bans`, so that a node that starts later, or that was cut off, learns it (read in
    /// `reclaim`).
    fn publish_moderation(&mut self, node: &str, action: ModAction, now: Instant) {
        let payload = match action {
            ModAction::Kick {
                name,
                by,
                reason,
                ban_minutes,
            } => message::kick(node, &name, &by, ban_minutes, &reason),
            ModAction::Ban { banned, until } => {
                let left = until.saturating_duration_since(now).as_secs().max(1);
                let (address, until) = (banned.to_string(), crate::ban_list::unix_now() + left);
                self.send(
                    &["HSET", BANS, &address, &until.to_string()],
                    Expect::Nothing,
                    now,
                );
                message::ban(node, &address, until)
            }
            ModAction::Unban { banned } => {
                let address = banned.to_string();
                self.send(&["HDEL", BANS, &address], Expect::Nothing, now);
                message::unban(node, &address)
            }
        };
        self.send(&["PUBLISH", CHANNEL, &payload], Expect::Nothing, now);
    }

    /// A chat line of `room` (`None`: the default room), sent with the rest of the pass's.
    fn batch(&mut self, room: Option<String>, line: String, now: Instant) {
        self.lines.push((room, line));
        if self.lines.len() >= scripts::LINES_MAX {
            self.send_lines(now);
        }
    }

    /// Sends the chat lines of this pass: one run of a chat script for each run of lines of one
    /// room, in the order they were said.
    fn send_lines(&mut self, now: Instant) {
        if self.lines.is_empty() {
            return;
        }
        let mut lines = std::mem::take(&mut self.lines);
        let node = self.config.node.clone();
        // When they were said, for the history (the lines of one pass: within a millisecond).
        let said_at = crate::ban_list::unix_now().to_string();
        let mut rest = &lines[..];
        while let Some((room, _)) = rest.first() {
            let run = rest.iter().take_while(|(r, _)| r == room).count();
            let text = rest[..run].iter().map(|(_, line)| line.as_str());
            match room {
                None => {
                    let mut args = vec![SEQ, HISTORY, HISTORY_CAP, &node, CHANNEL, &said_at];
                    args.extend(text);
                    self.run(Script::Chat, 3, &args, Expect::Nothing, now);
                }
                Some(room) => {
                    let key = name_key(room);
                    let (history, channel) = (room_history(&key), room_channel(&key));
                    let mut args = vec![ROOMS, &history, HISTORY_CAP, &key, &node, &channel, room];
                    args.push(&said_at);
                    args.extend(text);
                    self.run(Script::RoomLines, 3, &args, Expect::Nothing, now);
                }
            }
            rest = &rest[run..];
        }
        lines.clear();
        self.lines = lines;
    }

    /// After the link comes up: make Redis hold exactly this node's users (`names`) and their
    /// `memberships` (room, user) of rooms besides the default one, and those rooms' `topics`
    /// (room, text) where Redis has none (it restarted empty; a topic another node set meanwhile
    /// is newer and stays), then read everyone else's, and the members of each of those rooms, now
    /// and again once every node has had time to reclaim its own.
    pub fn reclaim(
        &mut self,
        names: Vec<String>,
        memberships: Vec<(String, String)>,
        topics: Vec<(String, String)>,
        now: Instant,
    ) {
        let node = self.config.node.clone();
        let count = names.len().to_string();
        let pairs: Vec<String> = names
            .iter()
            .flat_map(|n| [name_key(n).into_string(), n.clone()])
            .collect();
        let quads: Vec<String> = memberships
            .iter()
            .flat_map(|(room, name)| {
                let (room_key, key) = (name_key(room).into_string(), name_key(name).into_string());
                [room_key, room.clone(), key, name.clone()]
            })
            .collect();
        let mut args = vec![NAMES, &node, CHANNEL, protocol::REASON_UNSEEN, &count];
        args.extend(pairs.iter().map(String::as_str));
        args.extend(quads.iter().map(String::as_str));
        self.run(Script::Reclaim, 1, &args, Expect::Reclaim, now);
        for (room, text) in &topics {
            let key = room_topic(&name_key(room));
            self.send(&["SET", &key, text, "NX"], Expect::Nothing, now);
        }
        for (room, _) in &memberships {
            self.subscribe(&room_channel(&name_key(room)), room);
        }
        self.read_users(false, now);
        self.sync_rooms(false, now);
        // After an outage, names this node still knows may have gone meanwhile; once every node has
        // had time to reclaim its own, a complete read drops the rest. (At start there are none.)
        if self.linked_before {
            self.resync_at = Some(now + self.config.timeout);
        }
        self.linked_before = true;
    }

    /// Reads everyone's names, placed among the messages by a marker (see `marks.rs`);
    /// `complete`: names not in the list are gone.
    fn read_users(&mut self, complete: bool, now: Instant) {
        let token = self.token();
        let (node, token_text) = (self.config.node.clone(), token.to_string());
        let args = [NAMES, &node, CHANNEL, &token_text];
        let expect = Expect::Users { token, complete };
        self.run(Script::Users, 1, &args, expect, now);
    }

    /// Reads the members and topic of every room this node hears, each placed among the messages
    /// by a marker.
    fn sync_rooms(&mut self, complete: bool, now: Instant) {
        let rooms: Vec<(String, String)> = self
            .rooms
            .iter()
            .map(|(channel, room)| (channel.clone(), room.clone()))
            .collect();
        let node = self.config.node.clone();
        for (channel, room) in rooms {
            let key = name_key(&room);
            let token = self.token();
            let (members, topic, token_text) =
                (room_members(&key), room_topic(&key), token.to_string());
            let args: [&str; 6] = [&members, &topic, &channel, &node, &room, &token_text];
            let expect = Expect::RoomSync {
                token,
                room: room.clone(),
                complete,
            };
            self.run(Script::RoomSync, 2, &args, expect, now);
        }
    }

    /// An event from a message: to the room, unless it waits behind a marker.
    fn emit(&mut self, remote: Remote) {
        self.marks.event(Event::Remote(remote), &mut self.events);
    }

    /// A clean shutdown: this node leaves the cluster now rather than when its heartbeat expires,
    /// and its heartbeat stops.
    pub fn bye(&mut self, now: Instant) {
        if self.is_up() && !self.leaving {
            let heartbeat = format!("{HEARTBEAT_PREFIX}{}", self.config.node);
            let (instance, node) = (self.instance.clone(), self.config.node.clone());
            let args = [&heartbeat, NODES, NAMES, &instance, &node, CHANNEL];
            self.run(Script::Bye, 3, &args, Expect::Nothing, now);
        }
        self.leaving = true;
    }

    /// Timed work: reconnecting, the heartbeat and the check of the others', timeouts.
    pub fn tick(&mut self, registry: &Registry, now: Instant) {
        match self.phase {
            Phase::Down { retry_at } if now >= retry_at => return self.connect(registry, now),
            Phase::Down { .. } => return,
            Phase::Connecting { since, .. } if now >= since + self.config.timeout => {
                return self.lost(
                    registry,
                    now,
                    "Redis did not complete the handshake in time",
                );
            }
            Phase::Connecting { .. } => return,
            Phase::Up => {}
        }
        if let Some((_, asked)) = self.expected.front()
            && now >= *asked + self.config.timeout
        {
            let secs = self.config.timeout.as_secs_f64();
            return self.lost(registry, now, &format!("Redis did not answer in {secs} s"));
        }
        if self.leaving {
            return;
        }
        if now >= self.last_ping + self.config.timeout {
            let secs = self.config.timeout.as_secs_f64();
            let why = format!("the subscription brought nothing in {secs} s");
            return self.lost(registry, now, &why);
        }
        if now >= self.next_heartbeat {
            self.next_heartbeat = now + self.config.heartbeat;
            self.hello(now);
            let node = self.config.node.clone();
            let args = [NODES, NAMES, HEARTBEAT_PREFIX, CHANNEL, &node];
            self.run(Script::Reap, 2, &args, Expect::Nothing, now);
        }
        if self.resync_at.is_some_and(|at| now >= at) {
            self.resync_at = None;
            self.read_users(true, now);
            self.sync_rooms(true, now);
        }
        if let Some(since) = self.marks.waiting_since()
            && now >= since + self.config.timeout
        {
            let why = "a read's marker or reply did not come back";
            self.lost(registry, now, why);
        }
    }

    /// Writes what is queued for Redis.
    pub fn flush(&mut self, registry: &Registry, now: Instant) {
        self.send_lines(now);
        let mut result = Ok(());
        for link in [&mut self.commands, &mut self.subscriber]
            .into_iter()
            .flatten()
        {
            result = result.and(link.flush());
        }
        if let Err(e) = result {
            self.lost(
                registry,
                now,
                &format!("Redis at {}: {e}", self.config.redis),
            );
        }
    }

    /// The link is broken: drop both connections, tell the room, retry later.
    fn lost(&mut self, registry: &Registry, now: Instant, why: &str) {
        for mut link in [self.commands.take(), self.subscriber.take()]
            .into_iter()
            .flatten()
        {
            self.commands_sent_before += link.sent;
            link.deregister(registry);
        }
        self.expected.clear();
        self.lines.clear();
        // A Redis that restarted has forgotten the scripts: run them by their text until loaded.
        self.shas.clear();
        self.resync_at = None;
        // Reads that will never be answered; the messages held behind them are still news, in
        // order. The new link subscribes afresh.
        self.marks.clear(&mut self.events);
        self.rooms.clear();
        self.unconfirmed = 0;
        self.gated.clear();
        if self.is_up() {
            warn!("cluster link lost: {why}; serving local users only, retrying");
            self.events.push(Event::ClusterDown);
        } else {
            info!("cluster: {why}; retrying in {:?}", self.retry_delay);
        }
        self.phase = Phase::Down {
            retry_at: now + self.retry_delay,
        };
        self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
    }

    // ---- what Redis says -----------------------------------------------------------------------

    /// A reply on the command link: the answer to the oldest request still waiting.
    fn answered(&mut self, reply: Value, registry: &Registry, now: Instant) {
        let Some((expect, _)) = self.expected.pop_front() else {
            return self.lost(registry, now, "a reply nobody asked for");
        };
        if let Value::Error(e) = &reply {
            // NOSCRIPT (the scripts were flushed), OOM, a read-only replica...: a new link starts
            // from scratch.
            return self.lost(registry, now, &format!("Redis answered {e}"));
        }
        match expect {
            Expect::Load(script) => {
                if let Some(sha) = self.shas.get_mut(script as usize) {
                    *sha = reply.as_str().unwrap_or_default().to_string();
                }
                self.handshake_step();
            }
            Expect::Hello => {
                if reply.as_int() != Some(1) {
                    self.name_in_use = true;
                    let node = self.config.node.clone();
                    return self.lost(registry, now, &format!("another live node is named {node}"));
                }
                self.handshake_step();
            }
            Expect::Answer {
                id,
                ticket,
                asked: Asked::RoomJoin { token },
            } => {
                let answer = self.room_joined(reply);
                let refused = !matches!(answer, Answer::RoomJoined { .. });
                let event = Event::Answer { id, ticket, answer };
                if refused {
                    // Refused before anything was published: no marker will come.
                    self.events.push(event);
                } else {
                    self.marks.reply(token, vec![event], now, &mut self.events);
                }
            }
            Expect::Answer { id, ticket, asked } => {
                let answer = answer(asked, reply);
                self.events.push(Event::Answer { id, ticket, answer });
            }
            Expect::Users { token, complete } => {
                let names = self.other_nodes_users(reply);
                let users = Event::Remote(Remote::Users { names, complete });
                self.marks.reply(token, vec![users], now, &mut self.events);
            }
            Expect::RoomSync {
                token,
                room,
                complete,
            } => {
                let Value::Array(mut items) = reply else {
                    return;
                };
                let names = self.other_nodes_members(items.pop().unwrap_or(Value::Nil));
                let topic = non_empty(items.pop().as_ref());
                // Left meanwhile (its last member here parted): its marker may never come.
                let heard = self.rooms.contains_key(&room_channel(&name_key(&room)));
                let members = Remote::RoomMembers {
                    room,
                    names,
                    topic,
                    complete,
                };
                let events = vec![Event::Remote(members)];
                if heard {
                    self.marks.reply(token, events, now, &mut self.events);
                } else {
                    self.marks
                        .reply_maybe_unmarked(token, events, now, &mut self.events);
                }
            }
            Expect::Reclaim => {
                for name in strings(reply) {
                    warn!("cluster: {name} was claimed on another node while the link was down");
                    self.events.push(Event::Remote(Remote::Taken { name }));
                }
            }
            Expect::Bans => self.bans_read(reply),
            Expect::Auth | Expect::Nothing => {}
        }
    }

    /// The cluster's bans, read as the link comes up (the expired ones dropped just before): each
    /// is applied here as if just published. This is the handshake's last step.
    fn bans_read(&mut self, reply: Value) {
        for pair in strings(reply).chunks_exact(2) {
            match pair[1].parse::<u64>() {
                Ok(until) if Banned::parse(&pair[0]).is_some() => self.ban_until(&pair[0], until),
                _ => warn!("cluster: ignoring a malformed ban in Redis: {:?}", pair),
            }
        }
        self.moderation_while_down.clear();
        self.handshake_step();
    }

    /// A ban of `address` until `until` (Unix seconds) from another node or from Redis, bounded
    /// like a ban typed here so that no time can overflow.
    fn ban_until(&mut self, address: &str, until: u64) {
        let max_secs = crate::chat::BAN_MINUTES_MAX * 60;
        let secs = until
            .saturating_sub(crate::ban_list::unix_now())
            .min(max_secs);
        if let Some(banned) = Banned::parse(address)
            && secs > 0
        {
            let until = Instant::now() + Duration::from_secs(secs);
            self.emit(Remote::Moderation(ModAction::Ban { banned, until }));
        }
    }

    /// `HGETALL pollchat:names` is name key, `NODE NAME`, ...: the names held by other nodes.
    fn other_nodes_users(&self, reply: Value) -> Vec<String> {
        let all = strings(reply);
        let holders = all.into_iter().skip(1).step_by(2).collect();
        self.others(holders)
    }

    /// `HVALS` of a room's members is `NODE NAME`, ...: the names on other nodes.
    fn other_nodes_members(&self, reply: Value) -> Vec<String> {
        self.others(strings(reply))
    }

    /// The names of `NODE NAME` entries whose NODE is not this one.
    fn others(&self, holders: Vec<String>) -> Vec<String> {
        let mine = format!("{} ", self.config.node);
        holders
            .into_iter()
            .filter(|holder| !holder.starts_with(&mine))
            .filter_map(|holder| Some(holder.split_once(' ')?.1.to_string()))
            .collect()
    }

    /// The answer to a room join: `{1, ROOM, TOPIC, {members}, {history}}`, or `{0}` (too many
    /// rooms).
    fn room_joined(&self, reply: Value) -> Answer {
        let Value::Array(mut items) = reply else {
            return Answer::Refused;
        };
        if items.first().and_then(Value::as_int) != Some(1) || items.len() < 5 {
            return Answer::Refused;
        }
        let history = strings(items.pop().unwrap_or(Value::Nil));
        let history = history.iter().map(|entry| said_at(entry)).collect();
        let members = self.other_nodes_members(items.pop().unwrap_or(Value::Nil));
        let topic = non_empty(items.pop().as_ref());
        let room = items
            .pop()
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Answer::RoomJoined {
            room,
            topic,
            members,
            history,
        }
    }

    /// A push on the subscriber link: the subscription's confirmation, or a message.
    fn published(&mut self, reply: Value) {
        let Value::Array(items) = reply else {
            return;
        };
        match items.first().and_then(Value::as_str) {
            Some("subscribe") if items.get(1).and_then(Value::as_str) == Some(CHANNEL) => {
                self.handshake_step()
            }
            Some("subscribe") => self.subscribed(),
            Some("message") => {
                if let Some(payload) = items.get(2).and_then(Value::as_str) {
                    self.message(payload);
                }
            }
            _ => {}
        }
    }

    /// One message from a node (perhaps this one).
    fn message(&mut self, payload: &str) {
        let Some((node, message)) = message::parse(payload) else {
            return warn!("cluster: ignoring a message not understood: {payload:.80}");
        };
        if node == self.config.node {
            return self.own_message(message);
        }
        match message {
            Message::Join { seq, name } => {
                let name = name.to_string();
                self.emit(Remote::Joined { name });
                self.emit(Remote::Seen { seq });
            }
            Message::Leave { name, reason } => {
                let (name, reason) = (name.to_string(), reason.to_string());
                self.emit(Remote::Left { name, reason });
            }
            Message::Rename { old, new } => {
                let (old, new) = (old.to_string(), new.to_string());
                self.emit(Remote::Renamed { old, new });
            }
            Message::Lines { first, lines } => {
                let mut seq = first;
                for line in lines {
                    let line = line.to_string();
                    self.emit(Remote::Line { seq, line });
                    seq = seq.saturating_add(1);
                }
                self.emit(Remote::Seen {
                    seq: seq.saturating_sub(1),
                });
            }
            Message::Private { to, from, text } => {
                let (to, from, text) = (to.to_string(), from.to_string(), text.to_string());
                self.emit(Remote::Private { to, from, text });
            }
            Message::Lost { node, names } if node == self.config.node => {
                // Another node's reaper found this node's heartbeat expired (this node was too
                // slow, or cut off): its names were released. Claim them again.
                let _ = names;
                warn!("cluster: this node was declared lost; claiming its users' names again");
                self.reclaim_due = true;
            }
            Message::Lost { names, .. } => self.left(names, protocol::REASON_NODE_LOST),
            Message::Bye { names } => self.left(names, protocol::REASON_NODE_DOWN),
            Message::Sync => self.read_users(false, Instant::now()),
            Message::RoomJoin { room, name, .. } => {
                let (room, name) = (room.to_string(), name.to_string());
                self.emit(Remote::RoomJoined { room, name });
            }
            Message::RoomPart { room, name, reason } => {
                let (room, name, reason) = (room.to_string(), name.to_string(), reason.to_string());
                self.emit(Remote::RoomLeft { room, name, reason });
            }
            Message::RoomLines { room, lines } => {
                for line in lines {
                    let (room, line) = (room.to_string(), line.to_string());
                    self.emit(Remote::RoomLine { room, line });
                }
            }
            Message::Topic { room, name, text } => {
                let (room, name, text) = (room.to_string(), name.to_string(), text.to_string());
                self.emit(Remote::Topic { room, name, text });
            }
            // Another node's business.
            Message::Ping | Message::Users { .. } | Message::RoomUsers { .. } => {}
            Message::Kick {
                name,
                by,
                ban_minutes,
                reason,
            } => {
                let (name, by, reason) = (name.to_string(), by.to_string(), reason.to_string());
                self.emit(Remote::Moderation(ModAction::Kick {
                    name,
                    by,
                    reason,
                    ban_minutes,
                }));
            }
            Message::Ban { address, until } => self.ban_until(address, until),
            Message::Unban { address } => {
                if let Some(banned) = Banned::parse(address) {
                    self.emit(Remote::Moderation(ModAction::Unban { banned }));
                }
            }
        }
    }

    /// What this node published comes back: it has been delivered here already, but it tells how
    /// far the cluster has got, and that the subscription is alive.
    fn own_message(&mut self, message: Message<'_>) {
        match message {
            Message::Join { seq, .. } => self.emit(Remote::Seen { seq }),
            Message::Lines { first, lines } => {
                let seq = first.saturating_add(lines.len() as u64).saturating_sub(1);
                self.emit(Remote::Seen { seq });
            }
            Message::Ping => self.last_ping = Instant::now(),
            // Token 0: a membership claimed again after an outage, which marks no read.
            Message::Users { token }
            | Message::RoomJoin { token, .. }
            | Message::RoomUsers { token, .. }
                if token != 0 =>
            {
                self.marks.mark(token, Instant::now(), &mut self.events)
            }
            Message::Lost { node, names } if node != self.config.node => {
                // This node's reaper found another node lost: announced here like everywhere.
                self.left(names, protocol::REASON_NODE_LOST);
            }
            _ => {}
        }
    }

    /// Users of another node are gone, all for one reason.
    fn left(&mut self, names: Vec<&str>, reason: &str) {
        for name in names {
            let (name, reason) = (name.to_string(), reason.to_string());
            self.emit(Remote::Left { name, reason });
        }
    }
}

/// The room's answer, from a script's reply.
fn answer(asked: Asked, reply: Value) -> Answer {
    match asked {
        Asked::Claim { name } => {
            let Value::Array(mut items) = reply else {
                return Answer::Refused;
            };
            if items.first().and_then(Value::as_int) != Some(1) {
                return Answer::Refused;
            }
            let seq = items.get(1).and_then(Value::as_int).unwrap_or(0).max(0) as u64;
            let topic = non_empty(items.pop().as_ref());
            let history = strings(items.pop().unwrap_or(Value::Nil))
                .into_iter()
                .filter_map(|entry| {
                    let (n, rest) = entry.split_once(' ')?;
                    let (at, line) = said_at(rest);
                    Some((n.parse().ok()?, at, line))
                })
                .collect();
            Answer::Joined {
                name,
                seq,
                history,
                topic,
            }
        }
        Asked::Rename { new } if reply.as_int() == Some(1) => Answer::Renamed { new },
        Asked::Private => match reply.as_str() {
            Some(to) => Answer::Sent { to: to.to_string() },
            None => Answer::Refused,
        },
        Asked::Rename { .. } => Answer::Refused,
        Asked::RoomList => {
            let Value::Array(items) = reply else {
                return Answer::Refused;
            };
            let count = |v: Option<&Value>| v.and_then(Value::as_int).unwrap_or(0).max(0) as usize;
            let users = count(items.first());
            let rooms = items
                .get(1..)
                .unwrap_or_default()
                .chunks(3)
                .filter_map(|room| {
                    let name = room.first()?.as_str()?.to_string();
                    let topic = non_empty(room.get(2));
                    Some((name, count(room.get(1)), topic))
                })
                .collect();
            Answer::Rooms { users, rooms }
        }
        Asked::Members => {
            let Value::Array(mut items) = reply else {
                return Answer::Refused;
            };
            let members = strings(items.pop().unwrap_or(Value::Nil));
            let Some(room) = items
                .pop()
                .as_ref()
                .and_then(Value::as_str)
                .map(str::to_string)
            else {
                return Answer::Refused;
            };
            let names = members
                .into_iter()
                .filter_map(|m| Some(m.split_once(' ')?.1.to_string()))
                .collect();
            Answer::Members { room, names }
        }
        // Read by `Cluster::room_joined`, which knows this node's name.
        Asked::RoomJoin { .. } => Answer::Refused,
    }
}

/// A history entry's `TIME LINE`: when it was said (Unix seconds) and the line. An entry without
/// a time (written by an older node) is the line, said at an unknown time (0). A chat line never
/// starts with a digit, so the two cannot be confused.
fn said_at(entry: &str) -> (u64, String) {
    match entry.split_once(' ') {
        Some((at, line)) if at.bytes().all(|b| b.is_ascii_digit()) => {
            (at.parse().unwrap_or(0), line.to_string())
        }
        _ => (0, entry.to_string()),
    }
}

/// A string reply, unless it is empty or missing (a room without a topic).
fn non_empty(reply: Option<&Value>) -> Option<String> {
    let text = reply.and_then(Value::as_str)?;
    (!text.is_empty()).then(|| text.to_string())
}

/// The strings of an array reply (anything else: none).
fn strings(reply: Value) -> Vec<String> {
    match reply {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| Some(item.as_str()?.to_string()))
            .collect(),
        _ => Vec::new(),
    }
}

/// The default `--node`: this machine's host name and the process id, e.g. `web1-4242`.
pub fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let host = if host.is_empty() { "node" } else { &host };
    format!("{host}-{}", std::process::id())
}

/// A node name is short and has no space (it is the first field of every message).
pub fn check_node_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--node {name}: use 1 to 64 of letters, digits, '-', '_' and '.'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_replies_become_answers() {
        let name = "ana".to_string();
        let yes = Value::Array(vec![
            Value::Integer(1),
            Value::Integer(9),
            Value::Array(vec![
                Value::Bulk(b"7 1796518450 <bea> hi there".to_vec()),
                Value::Bulk(b"8 <bea> from an older node".to_vec()),
            ]),
            Value::Bulk(b"exams on friday".to_vec()),
        ]);
        assert_eq!(
            answer(Asked::Claim { name: name.clone() }, yes),
            Answer::Joined {
                name: name.clone(),
                seq: 9,
                history: vec![
                    (7, 1_796_518_450, "<bea> hi there".to_string()),
                    (8, 0, "<bea> from an older node".to_string())
                ],
                topic: Some("exams on friday".into())
            }
        );
        let rooms = Value::Array(vec![
            Value::Integer(5),
            Value::Bulk(b"#dev".to_vec()),
            Value::Integer(2),
            Value::Bulk(b"ship it".to_vec()),
            Value::Bulk(b"#ops".to_vec()),
            Value::Integer(1),
            Value::Bulk(b"".to_vec()),
        ]);
        assert_eq!(
            answer(Asked::RoomList, rooms),
            Answer::Rooms {
                users: 5,
                rooms: vec![
                    ("#dev".into(), 2, Some("ship it".into())),
                    ("#ops".into(), 1, None)
                ]
            }
        );
        let members = Value::Array(vec![
            Value::Bulk(b"#Dev".to_vec()),
            Value::Array(vec![Value::Bulk(b"n1 ana".to_vec())]),
        ]);
        assert_eq!(
            answer(Asked::Members, members),
            Answer::Members {
                room: "#Dev".into(),
                names: vec!["ana".into()]
            }
        );
        assert_eq!(
            answer(Asked::Members, Value::Array(vec![])),
            Answer::Refused
        );
        let no = Value::Array(vec![Value::Integer(0)]);
        assert_eq!(answer(Asked::Claim { name }, no), Answer::Refused);
        assert_eq!(answer(Asked::Private, Value::Nil), Answer::Refused);
        assert_eq!(
            answer(Asked::Private, Value::Bulk(b"Bea".to_vec())),
            Answer::Sent { to: "Bea".into() }
        );
    }

    #[test]
    fn node_names_have_no_spaces() {
        assert!(check_node_name(&default_node_name()).is_ok());
        assert!(check_node_name("a b").is_err());
        assert!(check_node_name("").is_err());
    }
}
