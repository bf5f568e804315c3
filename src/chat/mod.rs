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
//! A room can be one node of a cluster (`cluster.rs` in this folder): then some of its users are on
//! other nodes, names are claimed across the cluster before a join is confirmed, and chat lines also
//! go out as [`Request`]s. The cluster is still only events in and deliveries out: what another node
//! did arrives as [`Event::Remote`], Redis's answers as [`Event::Answer`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use compact_str::CompactString;
use log::info;

use crate::protocol;
use crate::text::{self, check_name, folded, name_key};

mod cluster;
mod names;

pub use cluster::{Answer, Remote, Request};
use cluster::{ClusterState, Wait};
use names::NameIndex;

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
    /// One complete line of text from a connection, without its terminator. It may still hold any
    /// character at all; the room cleans it (see [`text::clean`]). While [`Chat::is_waiting`] is true
    /// for a connection, the edge holds its lines back and hands them over once it is not.
    Line { id: ClientId, text: &'a str },
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

/// What the room wants done. Lines carry no terminator: framing is the edge's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// One line to one connection.
    To { id: ClientId, line: String },
    /// One line to every user who has joined, except `except`.
    Everyone {
        except: Option<ClientId>,
        line: String,
    },
    /// Close the connection gracefully once what was queued for it has been sent. The room has
    /// already forgotten it.
    Close { id: ClientId },
    /// Something for the cluster to do (only in a room made with `cluster: true`).
    Cluster(Request),
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
    /// In the room under this name.
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
            Some(Client::Joined { name }) => name,
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
    /// The last `config.history` chat and action lines, oldest first. (In a cluster, history is kept
    /// in Redis instead, and comes with the answer to a join.)
    history: VecDeque<String>,
    /// The ids of connections still giving a name (the deadline is in `Client::Naming`). Each tick
    /// drops those that have joined or left, so this holds only the few naming right now, not an entry
    /// per user for a minute after a crowd joins.
    naming: Vec<ClientId>,
    /// The latest time the room was told (by [`Event::Connect`] or [`Event::Tick`]).
    clock: Instant,
    /// Joins and leaves in a big room not yet announced, and when the next summary may go out.
    joins_untold: usize,
    leaves_untold: usize,
    next_summary: Instant,
    /// The users of other nodes and the requests under way, when the room is one node of a cluster.
    cluster: Option<ClusterState>,
    /// In a big room, when each user who asked in the last [`LIST_INTERVAL`] last had `/list`. Kept
    /// apart from the users' entries: few users have one at any time, and every user has an entry.
    listed: HashMap<ClientId, Instant>,
}

impl Chat {
    pub fn new(config: ChatConfig) -> Chat {
        Chat {
            history: VecDeque::with_capacity(config.history),
            clients: Clients(Vec::with_capacity(config.ids)),
            cluster: config.cluster.then(ClusterState::default),
            listed: HashMap::new(),
            config,

            names: NameIndex::new(),
            naming: Vec::new(),
            clock: Instant::now(),
            joins_untold: 0,
            leaves_untold: 0,
            next_summary: Instant::now(),
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

    /// Whether connection `id` has joined under a name (its lines are chat, not name attempts).
    pub fn has_joined(&self, id: ClientId) -> bool {
        matches!(self.clients.get(&id), Some(Client::Joined { .. }))
    }

    /// Handles one event, appending what must be delivered to `out`, in order. The deliveries speak
    /// of the room as this event left it ([`Delivery::Everyone`] is whoever is in it now): carry
    /// them out before handing over the next event.
    pub fn handle(&mut self, event: Event<'_>, out: &mut Vec<Delivery>) {
        match event {
            Event::Connect { id, now } => self.connect(id, now, out),
            Event::Line { id, text } => self.line(id, text, out),
            Event::Disconnect { id, reason } => self.leave(id, reason, out),
            Event::Tick { now } => {
                self.clock = now;
                self.listed.retain(|_, at| now < *at + LIST_INTERVAL);
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

    fn connect(&mut self, id: ClientId, now: Instant, out: &mut Vec<Delivery>) {
        self.clock = now;
        self.ask_name(id);
        to(out, id, protocol::greeting(self.online()));
        to(out, id, protocol::NAME_PROMPT);
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
                self.said(id, &name, &cleaned, out)
            }
            // Claiming: the edge holds lines back while `is_waiting`. None: already closed, the rest
            // of its input is void.
            Some(Client::Claiming(_)) | None => {}
        }
    }

    /// The first line of a connection is its name.
    fn name_given(&mut self, id: ClientId, name: &str, out: &mut Vec<Delivery>) {
        if let Some(command) = name.strip_prefix('/')
            && is_quit(command.split_whitespace().next().unwrap_or(""))
        {
            self.clients.remove(&id);
            to(out, id, protocol::GOODBYE);
            out.push(Delivery::Close { id });
            return;
        }
        if let Err(error) = self.check_free(name, None) {
            to(out, id, error);
            to(out, id, protocol::NAME_PROMPT);
            return;
        }
        if self.cluster.is_some() {
            return self.claim(id, name, out);
        }
        let history = self.history.iter().cloned().collect();
        self.welcome(id, name, history, Vec::new(), out);
    }

    /// `name` is `id`'s: it joins, hears who is here and what was said, and the others hear of it.
    /// `live` are lines that arrived while a cluster was asked for the name.
    fn welcome(
        &mut self,
        id: ClientId,
        name: &str,
        history: Vec<String>,
        live: Vec<String>,
        out: &mut Vec<Delivery>,
    ) {
        self.clients.insert(
            id,
            Client::Joined {
                name: CompactString::new(name),
            },
        );
        self.names
            .insert(id, name, |other| self.clients.name(other));
        info!("#{id} joined as {name}");
        to(out, id, protocol::you_are(name));
        if !history.is_empty() {
            to(out, id, protocol::history_header(history.len()));
            for line in history {
                to(out, id, line);
            }
        }
        if self.is_big() {
            to(out, id, protocol::online_count(self.online()));
            self.joins_untold += 1;
        } else {
            to(out, id, self.online_line());
            everyone_but(out, id, protocol::joined(name));
        }
        for line in live {
            to(out, id, line);
        }
    }

    /// Whether the room is over `--announce-limit` users (see [`ChatConfig::announce_limit`]).
    fn is_big(&self) -> bool {
        self.online() > self.config.announce_limit
    }

    /// Checks that `name` is valid and not in use by anyone but `owner`, here or on another node,
    /// returning the error line.
    fn check_free(&self, name: &str, owner: Option<ClientId>) -> Result<(), String> {
        check_name(name).map_err(protocol::name_refused)?;
        let holder = self.local(name);
        let holder = holder.or_else(|| self.cluster.as_ref()?.holder(&name_key(name)));
        match holder {
            Some(holder) if Some(holder) != owner => Err(protocol::name_taken(name)),
            _ => Ok(()),
        }
    }

    /// A line from a user in the room: a command, or chat.
    fn said(&mut self, id: ClientId, name: &str, text: &str, out: &mut Vec<Delivery>) {
        let Some(command_line) = text.strip_prefix('/') else {
            return self.chat(id, protocol::chat(name, text), out);
        };
        if command_line.starts_with('/') {
            // `//text` sends `/text`.
            return self.chat(id, protocol::chat(name, command_line), out);
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
            "list" | "users" | "who" | "listar" => self.list(id, out),
            "name" | "nick" => self.rename(id, name, rest, out),
            "me" if rest.is_empty() => to(out, id, protocol::usage("/me ACTION")),
            "me" => self.chat(id, protocol::action(name, rest), out),
            "msg" => self.private(id, name, rest, out),
            c if is_quit(c) => {
                to(out, id, protocol::GOODBYE);
                let reason = if rest.is_empty() {
                    protocol::REASON_QUIT
                } else {
                    rest
                };
                self.leave(id, reason, out);
                out.push(Delivery::Close { id });
            }
            _ => to(out, id, protocol::unknown_command(command)),
        }
    }

    /// A chat or action line: to everyone else, and into the history (or, in a cluster, to the other
    /// nodes, and through Redis into the cluster's history).
    fn chat(&mut self, id: ClientId, line: String, out: &mut Vec<Delivery>) {
        if let Some(cluster) = &mut self.cluster {
            cluster.said(&mut self.clients, &line, out);
        } else if self.config.history > 0 {
            if self.history.len() == self.config.history {
                self.history.pop_front();
            }
            self.history.push_back(line.clone());
        }
        everyone_but(out, id, line);
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
        match &mut self.cluster {
            Some(cluster) => cluster.ask(id, Wait::rename(old, new), out),
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
        to(out, id, protocol::you_are(new));
        everyone_but(out, id, protocol::renamed(old, new));
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
            to(out, target_id, protocol::private_in(from, text));
            return to(out, id, protocol::private_out(&target_name, text));
        }
        match &mut self.cluster {
            Some(cluster) if cluster.is_remote(&key) => {
                cluster.ask(id, Wait::private(from, target, text), out)
            }
            _ => to(out, id, protocol::no_such_user(target)),
        }
    }

    fn leave(&mut self, id: ClientId, reason: &str, out: &mut Vec<Delivery>) {
        let big = self.is_big();
        self.listed.remove(&id);
        if let Some(Client::Joined { name }) = self.clients.get(&id) {
            let name = name.clone();
            self.names.remove(&name, |other| self.clients.name(other));
        }
        match self.clients.remove(&id) {
            Some(Client::Joined { name, .. }) => {
                info!("#{id} {name} left ({reason})");
                if let Some(cluster) = &mut self.cluster {
                    cluster.left(id, &name, reason, out);
                }
                if big {
                    self.leaves_untold += 1;
                } else {
                    everyone_but(out, id, protocol::left(&name, reason));
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

    /// `/list`; in a big room at most once per [`LIST_INTERVAL`] for each user.
    fn list(&mut self, id: ClientId, out: &mut Vec<Delivery>) {
        if self.is_big() {
            let now = self.clock;
            if self
                .listed
                .get(&id)
                .is_some_and(|&at| now < at + LIST_INTERVAL)
            {
                let secs = LIST_INTERVAL.as_secs();
                return to(out, id, protocol::list_too_often(secs));
            }
            self.listed.insert(id, now);
        }
        to(out, id, self.online_line());
    }

    /// A join or leave to announce: at once in a small room, in the next summary in a big one.
    fn announce(&mut self, line: String, joined: bool, out: &mut Vec<Delivery>) {
        if !self.is_big() {
            out.push(Delivery::Everyone { except: None, line });
        } else if joined {
            self.joins_untold += 1;
        } else {
            self.leaves_untold += 1;
        }
    }

    /// In a big room, the joins and leaves of the last second as one line to everyone.
    fn summarise(&mut self, now: Instant, out: &mut Vec<Delivery>) {
        if (self.joins_untold, self.leaves_untold) == (0, 0) || now < self.next_summary {
            return;
        }
        let line = protocol::summary(self.joins_untold, self.leaves_untold);
        out.push(Delivery::Everyone { except: None, line });
        (self.joins_untold, self.leaves_untold) = (0, 0);
        self.next_summary = now + SUMMARY_INTERVAL;
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
            if let (Some(cluster), Client::Joined { name, .. }) = (&mut self.cluster, client) {
                cluster.left(id, name, protocol::REASON_NODE_DOWN, out);
            }
            to(out, id, protocol::SHUTTING_DOWN);
            out.push(Delivery::Close { id });
        }
        self.clients.clear();
        self.names.clear();
        self.naming.clear();
        self.listed.clear();
    }

    /// `*** online (N): ...`, names sorted without regard to case so the list reads the same for all.
    /// In a cluster it names the users of every node.
    fn online_line(&self) -> String {
        let mut names: Vec<&str> = self.names.ids().map(|id| self.clients.name(id)).collect();
        if let Some(cluster) = &self.cluster {
            names.extend(cluster.remote_names());
        }
        names.sort_unstable_by(|a, b| folded(a).cmp(folded(b)).then_with(|| a.cmp(b)));
        protocol::online(names.into_iter())
    }

    /// The local user called `name` (in any case).
    fn local(&self, name: &str) -> Option<ClientId> {
        self.names.get(name, |id| self.clients.name(id))
    }
}

fn is_quit(command: &str) -> bool {
    matches!(command.to_lowercase().as_str(), "quit" | "quitar" | "exit")
}

fn to(out: &mut Vec<Delivery>, id: ClientId, line: impl Into<String>) {
    out.push(Delivery::To {
        id,
        line: line.into(),
    });
}

fn everyone_but(out: &mut Vec<Delivery>, id: ClientId, line: String) {
    out.push(Delivery::Everyone {
        except: Some(id),
        line,
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
                cluster: false,
                ids: 0,
            };
            Fixture {
                room: Chat::new(config),
                now: Instant::now(),
            }
        }

        fn event(&mut self, event: Event<'_>) -> Vec<Delivery> {
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
            line: line.to_string(),
        }
    }

    fn all_but(id: ClientId, line: &str) -> Delivery {
        Delivery::Everyone {
            except: Some(id),
            line: line.to_string(),
        }
    }

    #[test]
    fn connect_greets_and_asks_for_a_name() {
        let mut f = Fixture::new(20);
        f.join(1, "ana");
        let out = f.connect(2);
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[0], Delivery::To { id: 2, line } if line.ends_with("; 1 online")));
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
            matches!(&out[0], Delivery::To { id: 2, line } if line.starts_with("! a name cannot contain a space"))
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
        let summary = Delivery::Everyone {
            except: None,
            line: "*** 2 joined, 1 left".into(),
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
        let summary = Delivery::Everyone {
            except: None,
            line: "*** 1 joined".into(),
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
}
