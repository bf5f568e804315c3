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
//! - the *subscriber* link: `SUBSCRIBE pollchat:events`, then a stream of messages (`message.rs`).
//!
//! The link's life: `Down` → (connect both, load the scripts, say hello, subscribe) `Connecting` →
//! `Up`. Any error, a reply that does not come within `--cluster-timeout-ms`, or a Redis that stops
//! reading drops both connections and goes back to `Down`, retried with backoff. The room is told
//! [`Event::ClusterDown`] and [`Event::ClusterUp`]; on each `Up` the node claims its users' names
//! again (`reclaim`) and re-reads everyone else's.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use log::{info, warn};
use mio::{Registry, Token};

use crate::ban_list::Banned;
use crate::chat::{Answer, Event, ModAction, Remote, Request};
use crate::protocol;
use crate::resp::Value;
use crate::text::name_key;

mod link;
pub mod message;
pub mod scripts;
mod target;

use link::Link;
use message::Message;
use scripts::{CHANNEL, HEARTBEAT_PREFIX, HISTORY, HISTORY_CAP, NAMES, NODES, SEQ, Script};
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
    },
    Reclaim,
    /// `AUTH`: an error (a wrong password) drops the link like any error, with Redis's words.
    Auth,
    Nothing,
}

/// A read of everyone's names under way. Its reply comes on the command link and its marker on the
/// subscription, in no fixed order; the names are applied at the marker's place among the messages,
/// so that a join or leave published just before or after the read is neither undone nor applied
/// twice. Messages after the marker wait (in `Cluster::held`) until the reply has come.
struct Snapshot {
    token: u64,
    complete: bool,
    /// The reply, once it has come: the names held by other nodes.
    names: Option<Vec<String>>,
    /// The marker has come.
    marked: bool,
}

/// The kind of request an answer is for, with what the answer needs of it.
enum Asked {
    Claim { name: String },
    Rename { new: String },
    Private,
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
    replies: Vec<Value>,
    /// Chat lines of this pass not yet sent: they go to Redis together, in one script run, when the
    /// loop writes (or before any other request, which must not overtake them).
    lines: Vec<String>,
    /// The read of everyone's names under way, and whether another (complete or not) was asked for
    /// meanwhile; one at a time keeps the bookkeeping to one marker.
    snapshot: Option<Snapshot>,
    snapshot_again: Option<bool>,
    next_token: u64,
    /// Events from messages after a snapshot's marker, waiting for its reply.
    held: Vec<Event<'static>>,
    /// When this node last saw its own heartbeat's `ping` come back on the subscription.
    last_ping: Instant,
    /// The node is shutting down: `bye` has been sent, no more heartbeats.
    leaving: bool,
    /// The link has been up before (the next `reclaim` follows an outage).
    linked_before: bool,
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
            name_in_use: false,
            replies: Vec::new(),
            lines: Vec::new(),
            snapshot: None,
            snapshot_again: None,
            next_token: 0,
            held: Vec::new(),
            last_ping: now,
            leaving: false,
            linked_before: false,
            events: Vec::new(),
        }
    }

    pub fn node(&self) -> &str {
        &self.config.node
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
                // Each script's load, the hello, and the subscription.
                let left = Script::ALL.len() + 2;
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
        let Some(link) = &mut self.commands else {
            return;
        };
        // Not loaded yet (a message on the subscription can ask for a read before the command link
        // has even connected): the script's text goes instead.
        let sha = self.shas.get(script as usize).map_or("", String::as_str);
        let keys = keys.to_string();
        let mut command: Vec<&str> = Vec::with_capacity(args.len() + 3);
        if sha.is_empty() {
            command.extend(["EVAL", script.source()]);
        } else {
            command.extend(["EVALSHA", sha]);
        }
        command.push(&keys);
        command.extend_from_slice(args);
        link.send(&command);
        self.expected.push_back((expect, now));
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
            if let Request::Claim { id, ticket, .. }
            | Request::Rename { id, ticket, .. }
            | Request::Private { id, ticket, .. } = request
            {
                let answer = Answer::Unavailable;
                self.events.push(Event::Answer { id, ticket, answer });
            }
            return;
        }
        if let Request::Line(line) = request {
            self.lines.push(line);
            if self.lines.len() >= scripts::LINES_MAX {
                self.send_lines(now);
            }
            return;
        }
        self.send_lines(now);
        let node = self.config.node.clone();
        match request {
            Request::Claim { id, ticket, name } => {
                let history = self.config.history.min(scripts::HISTORY_MAX).to_string();
                let asked = Asked::Claim { name: name.clone() };
                let args = [
                    NAMES,
                    SEQ,
                    HISTORY,
                    &name_key(&name),
                    &node,
                    &name,
                    CHANNEL,
                    &history,
                ];
                let expect = Expect::Answer { id, ticket, asked };
                self.run(Script::Claim, 3, &args, expect, now);
            }
            Request::Rename {
                id,
                ticket,
                old,
                new,
            } => {
                let published = message::rename(&node, &old, &new);
                let (new_key, old_key) = (name_key(&new), name_key(&old));
                let asked = Asked::Rename { new: new.clone() };
                let args = [NAMES, &new_key, &node, &new, &old_key, CHANNEL, &published];
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
            Request::Line(_) => {} // Batched above.
            Request::Leave { name, reason } => {
                let published = message::leave(&node, &name, &reason);
                let args = [NAMES, &name_key(&name), &node, CHANNEL, &published];
                self.run(Script::Release, 1, &args, Expect::Nothing, now);
            }
            Request::Moderation(action) => self.publish_moderation(&node, action, now),
        }
    }

    /// A kick or a ban for the other nodes: one plain `PUBLISH` (no state in Redis: a node that
    /// starts later does not learn the bans made before, see docs/cluster.md).
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
                let until = crate::ban_list::unix_now() + left;
                message::ban(node, &banned.to_string(), until)
            }
            ModAction::Unban { banned } => message::unban(node, &banned.to_string()),
        };
        if let Some(link) = &mut self.commands {
            link.send(&["PUBLISH", CHANNEL, &payload]);
            self.expected.push_back((Expect::Nothing, now));
        }
    }

    /// Sends the chat lines of this pass in one run of the chat script.
    fn send_lines(&mut self, now: Instant) {
        if self.lines.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.lines);
        let node = self.config.node.clone();
        let mut args = vec![SEQ, HISTORY, HISTORY_CAP, &node, CHANNEL];
        args.extend(lines.iter().map(String::as_str));
        self.run(Script::Chat, 3, &args, Expect::Nothing, now);
        self.lines = lines;
        self.lines.clear();
    }

    /// After the link comes up: make Redis hold exactly this node's users (`names`), then read
    /// everyone else's, now and again once every node has had time to reclaim its own.
    pub fn reclaim(&mut self, names: Vec<String>, now: Instant) {
        let node = self.config.node.clone();
        let pairs: Vec<String> = names
            .iter()
            .flat_map(|n| [name_key(n).into_string(), n.clone()])
            .collect();
        let mut args = vec![NAMES, &node, CHANNEL, protocol::REASON_UNSEEN];
        args.extend(pairs.iter().map(String::as_str));
        self.run(Script::Reclaim, 1, &args, Expect::Reclaim, now);
        self.read_users(false, now);
        // After an outage, names this node still knows may have gone meanwhile; once every node has
        // had time to reclaim its own, a complete read drops the rest. (At start there are none.)
        if self.linked_before {
            self.resync_at = Some(now + self.config.timeout);
        }
        self.linked_before = true;
    }

    /// Reads everyone's names (see [`Snapshot`]); `complete`: names not in the list are gone.
    fn read_users(&mut self, complete: bool, now: Instant) {
        if self.snapshot.is_some() {
            self.snapshot_again = Some(self.snapshot_again.unwrap_or(false) || complete);
            return;
        }
        self.next_token += 1;
        let token = self.next_token;
        self.snapshot = Some(Snapshot {
            token,
            complete,
            names: None,
            marked: false,
        });
        let (node, token_text) = (self.config.node.clone(), token.to_string());
        let args = [NAMES, &node, CHANNEL, &token_text];
        self.run(Script::Users, 1, &args, Expect::Users { token }, now);
    }

    /// Applies the snapshot once both its reply and its marker have come, then the messages that
    /// waited behind it.
    fn apply_snapshot(&mut self) {
        let Some(snapshot) = self.snapshot.take_if(|s| s.marked && s.names.is_some()) else {
            return;
        };
        let (names, complete) = (snapshot.names.unwrap_or_default(), snapshot.complete);
        self.events
            .push(Event::Remote(Remote::Users { names, complete }));
        self.events.append(&mut self.held);
        if let Some(complete) = self.snapshot_again.take() {
            self.read_users(complete, Instant::now());
        }
    }

    /// An event from a message: to the room, unless a snapshot's marker came before it and its
    /// reply has not come yet.
    fn emit(&mut self, remote: Remote) {
        let event = Event::Remote(remote);
        if self.snapshot.as_ref().is_some_and(|s| s.marked) {
            self.held.push(event);
        } else {
            self.events.push(event);
        }
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
            link.deregister(registry);
        }
        self.expected.clear();
        self.lines.clear();
        // A Redis that restarted has forgotten the scripts: run them by their text until loaded.
        self.shas.clear();
        self.resync_at = None;
        // A read of the names that will never be answered; the messages held behind it are still
        // news, in order.
        self.snapshot = None;
        self.snapshot_again = None;
        self.events.append(&mut self.held);
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
            Expect::Answer { id, ticket, asked } => {
                let answer = answer(asked, reply);
                self.events.push(Event::Answer { id, ticket, answer });
            }
            Expect::Users { token } => {
                let names = self.other_nodes_users(reply);
                if let Some(snapshot) = self.snapshot.as_mut().filter(|s| s.token == token) {
                    snapshot.names = Some(names);
                    self.apply_snapshot();
                }
            }
            Expect::Reclaim => {
                for name in strings(reply) {
                    warn!("cluster: {name} was claimed on another node while the link was down");
                    self.events.push(Event::Remote(Remote::Taken { name }));
                }
            }
            Expect::Auth | Expect::Nothing => {}
        }
    }

    /// `HGETALL pollchat:names` is name key, `NODE NAME`, ...: the names held by other nodes.
    fn other_nodes_users(&self, reply: Value) -> Vec<String> {
        let mine = format!("{} ", self.config.node);
        let all = strings(reply);
        let holders = all.into_iter().skip(1).step_by(2);
        holders
            .filter(|holder| !holder.starts_with(&mine))
            .filter_map(|holder| Some(holder.split_once(' ')?.1.to_string()))
            .collect()
    }

    /// A push on the subscriber link: the subscription's confirmation, or a message.
    fn published(&mut self, reply: Value) {
        let Value::Array(items) = reply else {
            return;
        };
        match items.first().and_then(Value::as_str) {
            Some("subscribe") => self.handshake_step(),
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
            Message::Ping | Message::Users { .. } => {} // Another node's business.
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
            Message::Ban { address, until } => {
                let unix_now = crate::ban_list::unix_now();
                if let Some(banned) = Banned::parse(address)
                    && until > unix_now
                {
                    let until = Instant::now() + Duration::from_secs(until - unix_now);
                    self.emit(Remote::Moderation(ModAction::Ban { banned, until }));
                }
            }
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
            Message::Users { token } => {
                if let Some(snapshot) = self.snapshot.as_mut().filter(|s| s.token == token) {
                    snapshot.marked = true;
                    self.apply_snapshot();
                }
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
            let history = strings(items.pop().unwrap_or(Value::Nil))
                .into_iter()
                .filter_map(|entry| {
                    let (n, line) = entry.split_once(' ')?;
                    Some((n.parse().ok()?, line.to_string()))
                })
                .collect();
            Answer::Joined { name, seq, history }
        }
        Asked::Rename { new } if reply.as_int() == Some(1) => Answer::Renamed { new },
        Asked::Private => match reply.as_str() {
            Some(to) => Answer::Sent { to: to.to_string() },
            None => Answer::Refused,
        },
        Asked::Rename { .. } => Answer::Refused,
    }
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
            Value::Array(vec![Value::Bulk(b"8 <bea> hi there".to_vec())]),
        ]);
        assert_eq!(
            answer(Asked::Claim { name: name.clone() }, yes),
            Answer::Joined {
                name: name.clone(),
                seq: 9,
                history: vec![(8, "<bea> hi there".to_string())]
            }
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
