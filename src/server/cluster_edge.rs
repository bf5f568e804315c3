//! The loop's side of the cluster (`--cluster`): the two Redis links are sources in the same `Poll`
//! as the clients, and what they bring is handed to the room as events, like a line from a client.
//! `cluster/` speaks to Redis; this file only connects it to the loop: readiness, the tick, writing,
//! and the connections that wait for an answer.

use std::io;
use std::time::{Duration, Instant};

use mio::{Events, Token};

use super::Server;
use crate::cluster;

/// How long start-up waits for the cluster link before giving up.
const LINK_AT_START: Duration = Duration::from_secs(5);

impl Server {
    /// At start-up, before any client is accepted: brings the cluster link up, driving the same
    /// non-blocking code the loop runs, so a node starts as a member of the cluster or not at all
    /// (Redis unreachable, or another live node with this `--node` name).
    pub(super) fn link_cluster(&mut self) -> io::Result<()> {
        let Some(cluster) = &mut self.cluster else {
            return Ok(());
        };
        let deadline = Instant::now() + LINK_AT_START;
        let mut events = Events::with_capacity(16);
        cluster.tick(self.poll.registry(), Instant::now());
        while !cluster.is_up() {
            let now = Instant::now();
            if cluster.name_in_use() {
                let node = cluster.node();
                return Err(io::Error::other(format!(
                    "another live node is named {node} (give each node its own --node)"
                )));
            }
            if now >= deadline {
                return Err(io::Error::other(format!(
                    "cannot link to the cluster's Redis in {} s",
                    LINK_AT_START.as_secs()
                )));
            }
            cluster.flush(self.poll.registry(), now);
            let wait = Duration::from_millis(50).min(deadline - now);
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                // The listeners are registered already; their events are not ours to use up here.
                if matches!(event.token(), cluster::COMMANDS | cluster::SUBSCRIBER) {
                    cluster.ready(event.token(), self.poll.registry(), Instant::now());
                }
            }
            cluster.tick(self.poll.registry(), Instant::now());
        }
        self.cluster_events();
        // Connections that arrived meanwhile (with --reuseport the kernel sends them as soon as we
        // listen) raised an edge-triggered event that will not come again: accept them now.
        self.accept_all();
        Ok(())
    }

    /// A Redis link is ready.
    pub(super) fn cluster_ready(&mut self, token: Token) {
        if let Some(cluster) = &mut self.cluster {
            cluster.ready(token, self.poll.registry(), Instant::now());
        }
        self.cluster_events();
    }

    pub(super) fn cluster_tick(&mut self, now: Instant) {
        if let Some(cluster) = &mut self.cluster {
            cluster.tick(self.poll.registry(), now);
        }
        self.cluster_events();
    }

    pub(super) fn flush_cluster(&mut self) {
        if let Some(cluster) = &mut self.cluster {
            cluster.flush(self.poll.registry(), Instant::now());
        }
        self.cluster_events();
    }

    /// Hands what the cluster brought to the room, and carries out what the room answers. When the
    /// link has just come up, the node's users are claimed again in Redis.
    pub(super) fn cluster_events(&mut self) {
        loop {
            let Some(cluster) = &mut self.cluster else {
                return;
            };
            if cluster.take_reclaim_due() {
                let (names, rooms) = (self.chat.claimed_names(), self.chat.memberships());
                cluster.reclaim(names, rooms, self.chat.topics(), Instant::now());
            }
            if cluster.events.is_empty() {
                return;
            }
            let events = std::mem::take(&mut cluster.events);
            for event in events {
                // Carried out event by event: a delivery to "everyone" means everyone in the room
                // as that event left it, not as a later event (a join) leaves it.
                self.chat.handle(event, &mut self.deliveries);
                self.deliver();
            }
        }
    }
}
