//! The load generator behind `pollchat-bench`: many clients on one thread and one `mio::Poll`, like
//! the server it measures.
//!
//! A chat server is a fan-out machine, so a run measures fan-out. It goes through phases: connect
//! every client (a bounded number of connects in flight) and join them; wait until nothing has arrived
//! for a while (the join notices are over); then the measured window, during which the senders send
//! lines carrying their sender id, a sequence number and the send time, either at a fixed rate (open
//! loop) or as fast as a window of lines in flight allows (closed loop); then a drain, waiting for the
//! lines still in flight. Every receiver checks each line against what it has seen from that sender,
//! so loss, duplicates and reordering are counted, and records the latency. Nothing on the per-line
//! path allocates.
//!
//! It drives pollchat, any newline-delimited chat server (the join line and the joined marker are
//! flags), and Redis pub/sub (SUBSCRIBE and PUBLISH in RESP), so one tool compares them.
//!
//! A room may span several server nodes of one cluster (several `--addr`): the clients are dealt to
//! the nodes in turn, and a line said on one node must reach the clients on every node. The
//! generator knows nothing of how the nodes share the room; it only counts what arrives where.
//!
//! The clients may be spread over rooms (`--rooms`): each talks in a room of its own and may sit in
//! more (`--extra-rooms`), and a line must reach the members of its sender's room and nobody else.
//!
//! The files: `generator` is the event loop and its phases; `payload`, `order` and `histogram` are
//! what it writes into lines and what it counts; `rooms` is who is in which room; `resp` and
//! `ws_client` are the other wire formats; `tls` puts rustls between a client and its socket (`--tls`); `procfs` reads CPU and memory; `report` prints the result;
//! `cli` and `server_process` are the command line and the server it may start, and `irc_daemons`
//! the configurations it writes for the IRC daemons it is compared with.

pub mod cli;
pub mod generator;
pub mod histogram;
pub mod irc_daemons;
pub mod order;
pub mod payload;
pub mod procfs;
pub mod report;
pub mod resp;
pub mod rooms;
pub mod server_process;
pub mod tls;
pub mod ws_client;

use std::net::SocketAddr;
use std::time::Duration;

pub use generator::run;
pub use report::{Report, ServerFigures};
pub use rooms::Rooms;

/// How the senders send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// As fast as a window of lines in flight per sender allows: a line is in flight until every
    /// recipient has it. Measures throughput.
    Closed { window: u64 },
    /// A fixed rate per sender, in lines per second, whatever the server does. Measures latency at
    /// a given load.
    Open { rate: f64 },
}

/// How to speak to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// A newline-delimited chat server. `join` is the first line sent (`{name}` is replaced by the
    /// client's name), none if `None`; a client has joined when a line starting with `joined`
    /// arrives, or at once if `None`.
    Chat {
        join: Option<String>,
        joined: Option<String>,
        /// IRC: lines are `PRIVMSG #general :LINE`; the join is `NICK` and `USER`, then `JOIN
        /// #general` once welcomed (`001`: some servers refuse a JOIN before), and a client has
        /// joined when the end of the channel's names list (`366`) arrives, whatever the server's
        /// name in front of it.
        irc: bool,
    },
    /// Redis pub/sub: every client subscribes to one channel; each sender publishes on a connection
    /// of its own, so every client is a recipient.
    Redis,
}

/// One server node: a process of the cluster, with an address of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Where its clients connect.
    pub addr: SocketAddr,
    /// Its web face, for the clients that join over WebSocket.
    pub web: Option<SocketAddr>,
}

/// A process the cluster needs besides its nodes (a Redis server, a proxy), named on the command
/// line (`--also-pid redis=1234`). Its CPU over the window is reported on its own, never in the
/// server's figures, so a reader sees both what the nodes cost and what their go-between costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Companion {
    /// A short name for the table and the JSON: letters, digits, `-`, `_` and `.` only.
    pub name: String,
    pub pid: u32,
}

impl std::str::FromStr for Companion {
    type Err = String;

    /// `NAME=PID`.
    fn from_str(text: &str) -> Result<Companion, String> {
        let (name, pid) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?}: want NAME=PID"))?;
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if name.is_empty() || !name.chars().all(plain) {
            return Err(format!(
                "{name:?}: want a name of letters, digits, '-', '_' and '.'"
            ));
        }
        let pid = pid
            .parse()
            .map_err(|_| format!("{pid:?}: want a process id"))?;
        Ok(Companion {
            name: name.to_string(),
            pid,
        })
    }
}

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server nodes, at least one. Connection `i` goes to node `i % nodes.len()` (see
    /// [`Options::node`]); with one node the cluster is a single server.
    pub nodes: Vec<Node>,
    pub clients: usize,
    pub senders: usize,
    /// Clients that join and then never read again (not recipients).
    pub sleepers: usize,
    pub load: Load,
    /// Open loop: whether the senders' lines are spread evenly over each period (sender `s` of `S`
    /// starts `s/S` of a period into the window) instead of all leaving at once.
    pub spread: bool,
    /// The rooms the clients (and sleepers) join; none by default.
    pub rooms: Rooms,
    /// The measured window.
    pub duration: Duration,
    /// How long nothing must arrive before the window starts.
    pub settle: Duration,
    /// The size of each line sent, its newline included (at least what the stamp needs).
    pub payload: usize,
    pub protocol: Protocol,
    /// The server's processes (one per node, usually), for their CPU and memory, summed; none if
    /// not measured.
    pub server_pids: Vec<u32>,
    /// Other processes whose CPU is reported on their own.
    pub companions: Vec<Companion>,
    /// The most connects in flight at once (started, not joined yet).
    pub connecting: usize,
    /// The share of clients (0 to 1, spread evenly) that join over WebSocket at `web`.
    pub websocket_share: f64,
    /// TLS on every connection (`--tls`), or none.
    pub tls: Option<Tls>,
}

/// TLS on the clients' connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tls {
    /// The SHA-256 of the server's certificate when known (`--exec`'s start-up line): only that
    /// certificate is accepted. Without it, any is.
    pub pin: Option<[u8; 32]>,
}

impl Options {
    /// How many clients receive each line of `sender`: in chat mode every client but the sender (the
    /// server does not echo), or with rooms every other member of the sender's room; in Redis mode
    /// every subscriber, since senders publish on connections of their own.
    pub fn recipients(&self, sender: usize) -> usize {
        match self.protocol {
            Protocol::Redis => self.clients,
            Protocol::Chat { .. } if self.rooms.are_on() => {
                let room = self.rooms.home(sender);
                self.rooms.members(room, self.clients).saturating_sub(1)
            }
            Protocol::Chat { .. } => self.clients.saturating_sub(1),
        }
    }

    /// The recipients of a line, on average over the senders (every sender's, without rooms).
    pub fn mean_recipients(&self) -> f64 {
        if self.senders == 0 {
            return self.recipients(0) as f64;
        }
        let total: usize = (0..self.senders).map(|s| self.recipients(s)).sum();
        total as f64 / self.senders as f64
    }

    /// The senders whose lines client `index` receives, ascending: every sender without rooms (a
    /// sender too, as before rooms: the server does not echo, so its own never arrive), those of
    /// its rooms with them.
    pub fn heard_by(&self, index: usize) -> Vec<usize> {
        if self.rooms.are_on() {
            self.rooms.heard_by(index, self.senders)
        } else {
            (0..self.senders).collect()
        }
    }

    /// Every connection the run opens: clients, sleepers, and in Redis mode one publisher per sender.
    pub fn connections(&self) -> usize {
        self.clients + self.sleepers + self.publishers()
    }

    /// Connections that only publish (Redis mode).
    pub fn publishers(&self) -> usize {
        match self.protocol {
            Protocol::Redis => self.senders,
            Protocol::Chat { .. } => 0,
        }
    }

    /// Whether client `index` joins over WebSocket.
    pub fn is_websocket(&self, index: usize) -> bool {
        index < self.clients
            && self.nodes[self.node(index)].web.is_some()
            && ws_client::is_websocket(index, self.websocket_share)
    }

    /// The node that connection `index` goes to. Clients and sleepers are dealt round-robin by their
    /// index; a Redis publisher goes where its sender's client is (sender `s` is client `s`), so that
    /// a line starts on the sender's node in either protocol.
    pub fn node(&self, index: usize) -> usize {
        let first_publisher = self.clients + self.sleepers;
        let dealt = if index < first_publisher {
            index
        } else {
            index - first_publisher
        };
        dealt % self.nodes.len()
    }
}
