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

use std::collections::{HashMap, HashSet};
use std::mem;

use log::warn;

use super::{Chat, Client, ClientId, Clients, Delivery, to};
use crate::protocol;
use crate::text::name_key;

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
    /// A chat or action line, for every other node and the cluster's history.
    Line(String),
    /// A user of this node left: release the name, and tell the other nodes.
    Leave { name: String, reason: String },
    /// A kick or a ban for the other nodes (`moderation.rs`).
    Moderation(super::ModAction),
}

/// The cluster's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The name is claimed. `seq` is the number of the cluster's latest chat line at that moment, and
    /// `history` the last lines up to it, oldest first, each with its number.
    Joined {
        name: String,
        seq: u64,
        history: Vec<(u64, String)>,
    },
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
    answer: Option<(u64, Vec<(u64, String)>)>,
    /// More than `KEPT_MAX` lines arrived meanwhile: the join fails.
    overflowed: bool,
}

/// A joined user's request under way.
pub(super) enum Wait {
    Rename {
        old: String,
        new: String,
    },
    Private {
        from: String,
        to: String,
        text: String,
    },
}

impl Wait {
    pub(super) fn rename(old: &str, new: &str) -> Wait {
        Wait::Rename {
            old: old.to_string(),
            new: new.to_string(),
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
    /// Joined users with a request under way, and its ticket.
    waiting: HashMap<ClientId, (u64, Wait)>,
    /// Connections in `Client::Claiming`.
    claiming: Vec<ClientId>,
    /// The highest cluster line number seen since the link came up.
    seen: u64,
    next_ticket: u64,
}

impl ClusterState {
    pub(super) fn remote_users(&self) -> usize {
        self.remote.len()
    }

    pub(super) fn is_waiting(&self, id: ClientId) -> bool {
        self.waiting.contains_key(&id)
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
        let ticket = self.ticket();
        let request = match &wait {
            Wait::Rename { old, new } => {
                self.reserve(new, id);
                Request::Rename {
                    id,
                    ticket,
                    old: old.clone(),
                    new: new.clone(),
                }
            }
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

    /// A joined local user left: the other nodes are told (if they can be).
    pub(super) fn left(&mut self, id: ClientId, name: &str, reason: &str, out: &mut Vec<Delivery>) {
        if let Some((ticket, Wait::Rename { new, .. })) = self.waiting.remove(&id) {
            self.orphan(ticket, &new);
        }
        if self.up {
            let (name, reason) = (name.to_string(), reason.to_string());
            out.push(Delivery::Cluster(Request::Leave { name, reason }));
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
                    refused_line(&refusal, || protocol::name_taken(&new)),
                );
            }
            (Wait::Private { text, .. }, Answer::Sent { to: spelled }) => {
                to(out, id, protocol::private_out(&spelled, &text));
            }
            (Wait::Private { to: name, .. }, refusal) => {
                to(
                    out,
                    id,
                    refused_line(&refusal, || protocol::no_such_user(&name)),
                );
            }
        }
    }

    /// An answer for a connection that is gone (or whose id a new connection now has): the name it
    /// reserved is free here again, and whatever it won in Redis is given back, so no name stays
    /// claimed by nobody.
    fn orphan_answered(&mut self, ticket: u64, answer: Answer, out: &mut Vec<Delivery>) {
        if let Some(cluster) = &mut self.cluster
            && let Some(key) = cluster.orphans.remove(&ticket)
        {
            cluster.reserved.remove(&key);
        }
        match answer {
            Answer::Joined { name, .. } | Answer::Renamed { new: name } => release(name, out),
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
            Answer::Joined { seq, history, .. } => {
                claim.answer = Some((seq, history));
                if seq <= cluster.seen {
                    self.finish_claim(id, out);
                }
            }
            refusal => {
                let name = mem::take(&mut claim.name);
                cluster.reserved.remove(&name_key(&name));
                cluster.claiming.retain(|&c| c != id);
                if refusal == Answer::Refused {
                    to(out, id, protocol::name_taken(&name));
                    to(out, id, protocol::NAME_PROMPT);
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
        let history = history.filter(|(n, _)| *n <= seq).map(|(_, line)| line);
        let live = claim
            .kept
            .into_iter()
            .filter(|(n, _)| n.is_none_or(|n| n > seq));
        let live = live.map(|(_, line)| line).collect();
        self.welcome(id, &claim.name, history.collect(), live, out);
    }

    /// The cluster has reached number `seq`: joins waiting for it can finish.
    fn seen(&mut self, seq: u64, out: &mut Vec<Delivery>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        cluster.seen = cluster.seen.max(seq);
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
                    self.announce(protocol::joined(&name), true, out);
                }
            }
            Remote::Left { name, reason } => {
                if cluster.remote.remove(&name_key(&name)).is_some() {
                    self.announce(protocol::left(&name, &reason), false, out);
                }
            }
            Remote::Renamed { old, new } => {
                let known = cluster.remote.remove(&name_key(&old)).is_some();
                cluster.remote.insert(name_key(&new), new.clone());
                if known {
                    let line = protocol::renamed(&old, &new);
                    let room = self.rooms.default_room();
                    out.push(Delivery::Room {
                        room,
                        except: None,
                        line,
                    });
                } else {
                    // Its join was missed (the link was down): it is news here.
                    self.announce(protocol::joined(&new), true, out);
                }
            }
            // Joins that wait for this line's number finish on the `Seen` that follows it, as a
            // separate event: the line is delivered first, to the users joined before it.
            Remote::Line { seq, line } => {
                cluster.keep(&mut self.clients, Some(seq), &line);
                let room = self.rooms.default_room();
                out.push(Delivery::Room {
                    room,
                    except: None,
                    line,
                });
            }
            Remote::Seen { seq } => self.seen(seq, out),
            Remote::Private {
                to: name,
                from,
                text,
            } => {
                if let Some(id) = self.names.get(&name, |id| self.clients.name(id)) {
                    to(out, id, protocol::private_in(&from, &text));
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
        for name in came {
            self.announce(protocol::joined(&name), true, out);
        }
        for name in went {
            self.announce(protocol::left(&name, protocol::REASON_UNSEEN), false, out);
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
            line: protocol::CLUSTER_LOST.to_string(),
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
        if mem::replace(&mut cluster.was_up, true) {
            out.push(Delivery::Everyone {
                except: None,
                line: protocol::CLUSTER_RESTORED.to_string(),
            });
        }
    }
}

/// Gives a name won in Redis back: the other nodes hear that its user left.
fn release(name: String, out: &mut Vec<Delivery>) {
    let reason = protocol::REASON_LOST.to_string();
    out.push(Delivery::Cluster(Request::Leave { name, reason }));
}

/// The error line for a refused request: `Refused` says `refused()`, `Unavailable` that the cluster
/// cannot be asked.
fn refused_line(answer: &Answer, refused: impl FnOnce() -> String) -> String {
    match answer {
        Answer::Unavailable => protocol::CLUSTER_UNAVAILABLE.to_string(),
        _ => refused(),
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
        room
    }

    fn handle(room: &mut Chat, event: Event<'_>) -> Vec<Delivery> {
        let mut out = Vec::new();
        room.handle(event, &mut out);
        out
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
        Answer::Joined { name, seq, history }
    }

    /// Redis's answer to the request `ticket` of connection `id`.
    fn answer(room: &mut Chat, id: ClientId, ticket: u64, answer: Answer) -> Vec<Delivery> {
        handle(room, Event::Answer { id, ticket, answer })
    }

    fn lines_to(out: &[Delivery], who: ClientId) -> Vec<&str> {
        out.iter()
            .filter_map(|d| match d {
                Delivery::To { id, line } if *id == who => Some(line.as_str()),
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
                line: "*** Bea joined".into()
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
                line: "*** Bea left (node lost)".into()
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
            line: "*** cluster link lost; local users only".into()
        }));
        // Local chat goes on, and is not sent to a cluster that cannot be reached.
        let out = handle(&mut room, line(1, "hello"));
        assert_eq!(
            out,
            [Delivery::Room {
                room: 0,
                except: Some(1),
                line: "<ana> hello".into()
            }]
        );
        let out = handle(&mut room, Event::ClusterUp);
        assert_eq!(
            out,
            [Delivery::Everyone {
                except: None,
                line: "*** cluster link restored".into()
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
                    line: "*** dan joined".into()
                },
                Delivery::Room {
                    room: 0,
                    except: None,
                    line: "*** bea left (while the cluster link was down)".into()
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
                reason: "connection lost".into()
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
}
