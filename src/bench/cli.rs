//! The command line of `pollchat-bench`: its flags, the named scenarios they can start from, and the
//! checks that turn them into [`Options`]. Flags given explicitly override a scenario.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use super::{Companion, Load, Node, Options, Protocol, Rooms, Tls};

/// Load generator for chat servers: N clients join, S of them send lines carrying a sender id, a
/// sequence number and a timestamp; every receiver checks what it gets (loss, duplicates,
/// reordering) and times it.
///
/// A cluster: give --addr once per node (and --pid once per node process) and the clients are dealt
/// to the nodes in turn, client i to the (i mod nodes)-th address. Every line must still reach every
/// client, whichever node it is on; latency is also reported apart for deliveries within a node and
/// across nodes. The server's CPU and memory are summed over every --pid; --also-pid reports the CPU
/// of another process the cluster needs, such as Redis, on its own.
///
/// Rooms: --rooms N deals the clients in turn into rooms #r0..#r{N-1} (client i to #r{i mod N}); each
/// sends `/join` for its room once named and talks there, so a line must reach the other members of
/// its sender's room and nobody else. --extra-rooms M has each client join the M rooms after its own
/// too, whose lines it gets prefixed with the room's name (`#r4 <b4> ...`). Every client stays in the
/// server's default room as well, which counts in the server's --max-rooms: give the server
/// --max-rooms N+1 or more. Senders are the first clients, so with as many senders as rooms each room
/// has one.
///
/// Scenarios (explicit flags override them): fanout100 = 100 clients, 10 senders, closed loop with 4
/// lines in flight each; fanout1k = 1,000 clients, 4 senders at 50 lines/s; idle10k = 10,000 clients,
/// 1 sender at 10 lines/s; c19k = as many clients as the open-file limit allows (limit − 1,000, about
/// 19,000 under a limit of 20,000), 1 sender at 10 lines/s; slow = fanout100 plus 10 clients that
/// join and never read; rooms10k = 10,000 clients in 1,000 rooms of 10 (--rooms 1000), one sender
/// per room (1,000) at 1 line/s, spread evenly over each second; bigroom5k = 5,000 clients in one
/// room, 50 senders at 2 lines/s, spread. Idle clients in 5 rooms each:
/// --scenario idle10k --rooms 1000 --extra-rooms 3 (the default room, their own, 3 more).
///
/// Exit status: 0 for a clean run, 1 if lines were lost, duplicated, reordered or delivered outside
/// their room (or clients disconnected), 2 for a usage or connection error.
#[derive(Debug, Parser)]
#[command(name = "pollchat-bench", version)]
pub struct Args {
    /// The server's address (with --exec, read from its start-up line when not given). Repeat it
    /// for each node of a cluster: client i connects to the (i mod n)-th of the n addresses.
    #[arg(long, value_name = "ADDR:PORT")]
    pub addr: Vec<SocketAddr>,
    /// Start the server with this command (split on spaces), measure it, and stop it at the end with
    /// SIGINT.
    #[arg(long, value_name = "COMMAND")]
    pub exec: Option<String>,
    /// The server's PID, for its CPU and memory (implied by --exec). Repeat it for each process of
    /// a cluster: their CPU seconds and memory are summed.
    #[arg(long)]
    pub pid: Vec<u32>,
    /// Another process the cluster needs, such as the Redis server between the nodes: its CPU over
    /// the window is reported under NAME, apart from the server's. Repeatable.
    #[arg(long, value_name = "NAME=PID")]
    pub also_pid: Vec<Companion>,
    /// fanout100, fanout1k, idle10k, c19k, slow, rooms10k or bigroom5k [default: fanout100]. The flags below
    /// that say "the scenario's" take their default from it.
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
    /// Clients (all recipients: of every line, or with rooms of their rooms' lines) [default: the
    /// scenario's; fanout100: 100].
    #[arg(long, value_name = "N")]
    pub clients: Option<usize>,
    /// Deal the clients in turn into N rooms, #r0..#r{N-1}, each talking in its own (0: none, all
    /// talk in the server's default room).
    #[arg(long, value_name = "N")]
    pub rooms: Option<usize>,
    /// With --rooms: each client also joins the M rooms after its own (fewer than N).
    #[arg(long, value_name = "M", default_value_t = 0)]
    pub extra_rooms: usize,
    /// How many of them send [default: the scenario's; fanout100: 10].
    #[arg(long, value_name = "S")]
    pub senders: Option<usize>,
    /// Extra clients that join and then never read again (not recipients) [default: the
    /// scenario's; slow: 10, the others 0].
    #[arg(long, value_name = "K")]
    pub sleepers: Option<usize>,
    /// Closed loop: lines in flight per sender (a line is in flight until all its recipients have
    /// it) [default: the scenario's; fanout100: 4].
    #[arg(long, value_name = "W", conflicts_with = "rate", value_parser = clap::value_parser!(u64).range(1..))]
    pub window: Option<u64>,
    /// Open loop: lines per second per sender [default: the scenario's; fanout1k: 50, idle10k: 10].
    #[arg(long, value_name = "MSGS_PER_SEC_PER_SENDER")]
    pub rate: Option<f64>,
    /// Open loop: spread the senders' lines evenly over each period instead of sending them all at
    /// once (`--spread=false` for together; rooms10k spreads by default).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub spread: Option<bool>,
    /// An idle room: 1 sender at 10 lines/s, open loop (what idle10k does with 10,000 clients).
    #[arg(long)]
    pub idle: bool,
    /// Seconds of measured window.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub duration: f64,
    /// How long nothing must arrive (the join notices are over) before the window, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub settle_ms: u64,
    /// Bytes per line sent, newline included (a line is never shorter than its stamp).
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub payload: usize,
    /// The first line a client sends (`{name}` becomes its name, b0, b1, ...), or `none`.
    #[arg(long, value_name = "FMT", default_value = "{name}")]
    pub join_line: String,
    /// A client has joined when a line starting with this arrives (empty or `none`: as soon as
    /// connected).
    #[arg(long, value_name = "P", default_value = "*** you are ")]
    pub joined_prefix: String,
    /// Drive Redis pub/sub: every client SUBSCRIBEs, each sender PUBLISHes on a connection of its own.
    #[arg(long)]
    pub redis: bool,
    /// Speak IRC (pollchat's --irc, ngircd, inspircd...): each client registers (NICK, USER), joins
    /// #general, and has joined at the end of its names list (366); lines are PRIVMSG #general.
    /// Give --addr the IRC port.
    #[arg(long, conflicts_with = "redis")]
    pub irc: bool,
    /// With --irc and --exec: write this IRC daemon's configuration (a listener on --addr's port,
    /// its flood limits lifted, as pollchat runs with --flood-rate 0) to a temporary file, and put
    /// the file's path where --exec says `{config}`, e.g. --exec "ngircd -n -f {config}".
    #[arg(long, value_name = "DAEMON", requires_all = ["irc", "exec", "addr"])]
    pub irc_config: Option<crate::bench::irc_daemons::Daemon>,
    /// Most connects in flight at once (started, not joined yet).
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub connecting: usize,
    /// The share of clients (0 to 1) that join over WebSocket, through --web-addr.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    pub ws_share: f64,
    /// The server's web address (with --exec, read from its start-up line when not given). With
    /// several --addr, give it once per node in the same order, or not at all.
    #[arg(long, value_name = "ADDR:PORT")]
    pub web_addr: Vec<SocketAddr>,
    /// Connect with TLS (rustls). With --exec, implied when the start-up line's address is
    /// `tls://ADDR`, and the certificate is pinned to the `tls sha256` it prints; otherwise any
    /// certificate is accepted. Every client makes a full handshake (no session resumption).
    #[arg(long)]
    pub tls: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// A named scenario's clients, senders, sleepers, load and rooms.
struct Scenario {
    clients: usize,
    senders: usize,
    sleepers: usize,
    load: Load,
    rooms: usize,
    spread: bool,
}

/// File descriptors kept back from c19k's clients: the generator's own (poll, standard streams, the
/// pipe of --exec) and headroom, since the server on the same machine under the same limit needs a
/// few beyond its clients too.
const FD_RESERVE: u64 = 1000;

impl Scenario {
    fn named(name: &str, open_files: u64) -> Option<Scenario> {
        let closed = Load::Closed { window: 4 };
        let idle = Load::Open { rate: 10.0 };
        let (clients, senders, sleepers, load) = match name {
            "fanout100" => (100, 10, 0, closed),
            "fanout1k" => (1000, 4, 0, Load::Open { rate: 50.0 }),
            "idle10k" => (10_000, 1, 0, idle),
            "c19k" => (
                open_files.saturating_sub(FD_RESERVE).max(2) as usize,
                1,
                0,
                idle,
            ),
            "slow" => (100, 10, 10, closed),
            "bigroom5k" => {
                // One big room (a lecture hall's chat): 5,000 people, 50 of them talking at 2 lines
                // a second each, not all in the same microsecond.
                return Some(Scenario {
                    clients: 5000,
                    senders: 50,
                    sleepers: 0,
                    load: Load::Open { rate: 2.0 },
                    rooms: 0,
                    spread: true,
                });
            }
            "rooms10k" => {
                // 1,000 people in 1,000 rooms do not speak in the same microsecond: spread.
                return Some(Scenario {
                    clients: 10_000,
                    senders: 1000,
                    sleepers: 0,
                    load: Load::Open { rate: 1.0 },
                    rooms: 1000,
                    spread: true,
                });
            }
            _ => return None,
        };
        Some(Scenario {
            clients,
            senders,
            sleepers,
            load,
            rooms: 0,
            spread: false,
        })
    }
}

impl Args {
    /// The run these flags ask for. `open_files` is the generator's open-file limit (after raising
    /// it). The addresses and PIDs are those given; `--exec` fills them in later.
    pub fn options(&self, open_files: u64) -> Result<Options, String> {
        let base = match &self.scenario {
            Some(name) => Scenario::named(name, open_files).ok_or_else(|| {
                format!(
                    "unknown scenario {name:?} (fanout100, fanout1k, idle10k, c19k, slow, rooms10k, bigroom5k)"
                )
            })?,
            None => Scenario::named("fanout100", open_files).expect("a known scenario"),
        };
        let idle = self.idle.then_some(Load::Open { rate: 10.0 });
        let load = match (self.window, self.rate) {
            (Some(window), _) => Load::Closed { window },
            (_, Some(rate)) => Load::Open { rate },
            _ => idle.unwrap_or(base.load),
        };
        let options = Options {
            nodes: self.nodes()?,
            clients: self.clients.unwrap_or(base.clients),
            senders: self
                .senders
                .unwrap_or(if self.idle { 1 } else { base.senders }),
            sleepers: self.sleepers.unwrap_or(base.sleepers),
            load,
            spread: self.spread.unwrap_or(base.spread),
            rooms: Rooms {
                count: self.rooms.unwrap_or(base.rooms),
                extra: self.extra_rooms,
            },
            duration: seconds(self.duration, "--duration")?,
            settle: Duration::from_millis(self.settle_ms),
            payload: self.payload,
            protocol: self.protocol(),
            server_pids: self.pid.clone(),
            companions: self.also_pid.clone(),
            connecting: self.connecting,
            websocket_share: self.ws_share,
            tls: self.tls.then_some(Tls::default()),
        };
        check(&options, open_files)?;
        if options.websocket_share > 0.0 && options.nodes[0].web.is_none() && self.exec.is_none() {
            return Err("--ws-share needs the server's web address (--web-addr)".into());
        }
        Ok(options)
    }

    /// The nodes: each `--addr` with the `--web-addr` in the same place, if any. With `--exec` and no
    /// `--addr`, one node whose address the started server will give.
    fn nodes(&self) -> Result<Vec<Node>, String> {
        let mut addrs = self.addr.clone();
        if addrs.is_empty() {
            addrs.push(SocketAddr::from(([127, 0, 0, 1], 0)));
        }
        if self.exec.is_some() && addrs.len() > 1 {
            return Err("--exec starts one server: give --addr once at most".into());
        }
        let webs = self.web_addr.len();
        if webs != 0 && webs != addrs.len() {
            return Err(format!(
                "--web-addr given {webs} times for {} nodes: give it once per --addr, in the same order, or not at all",
                addrs.len()
            ));
        }
        let web = |i: usize| self.web_addr.get(i).copied();
        Ok(addrs
            .iter()
            .enumerate()
            .map(|(i, &addr)| Node { addr, web: web(i) })
            .collect())
    }

    fn protocol(&self) -> Protocol {
        if self.redis {
            return Protocol::Redis;
        }
        if self.irc {
            return Protocol::Chat {
                join: Some("NICK {name}\nUSER {name} 0 * :{name}".into()),
                joined: None,
                irc: true,
            };
        }
        let given = |s: &str| (!s.is_empty() && s != "none").then(|| s.to_string());
        Protocol::Chat {
            join: given(&self.join_line),
            joined: given(&self.joined_prefix),
            irc: false,
        }
    }
}

fn seconds(value: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs() <= 24 * 3600)
        .ok_or_else(|| format!("{flag} {value}: want a number of seconds above 0"))
}

/// The rooms that cannot make a run.
fn check_rooms(options: &Options) -> Result<(), String> {
    let Rooms { count, extra } = options.rooms;
    if count == 0 {
        return match extra {
            0 => Ok(()),
            _ => Err("--extra-rooms needs --rooms: the rooms to join".into()),
        };
    }
    if options.protocol == Protocol::Redis {
        return Err("--rooms is for chat servers, not --redis".into());
    }
    if count > options.clients {
        return Err(format!(
            "--rooms {count} is more than --clients {}: some rooms would be empty",
            options.clients
        ));
    }
    if extra >= count {
        return Err(format!(
            "--extra-rooms {extra}: want fewer than --rooms {count}, so that a client's rooms differ"
        ));
    }
    Ok(())
}

/// The combinations that cannot make a run.
fn check(options: &Options, open_files: u64) -> Result<(), String> {
    if options.senders > options.clients {
        // (Either number may be a scenario's default the user never typed: say both plainly.)
        return Err(format!(
            "{} senders for {} clients: --senders must be at most --clients",
            options.senders, options.clients
        ));
    }
    check_rooms(options)?;
    if let Some(s) = (0..options.senders).find(|&s| options.recipients(s) == 0) {
        return Err(match options.rooms.are_on() {
            true => format!(
                "a line needs a recipient: sender {s} is alone in #r{}",
                options.rooms.home(s)
            ),
            false => "a line needs a recipient: give at least 2 clients".into(),
        });
    }
    if let Load::Open { rate } = options.load
        && !(rate > 0.0 && rate.is_finite())
    {
        return Err(format!("--rate {rate}: want lines per second above 0"));
    }
    if !(0.0..=1.0).contains(&options.websocket_share) {
        return Err("--ws-share: want a share from 0 to 1".into());
    }
    let companions = &options.companions;
    for (i, companion) in companions.iter().enumerate() {
        if companions[..i].iter().any(|c| c.name == companion.name) {
            return Err(format!("--also-pid {}: the name is taken", companion.name));
        }
    }
    if options.websocket_share > 0.0 && options.tls.is_some() {
        return Err("--tls is for the chat address: give --ws-share 0".into());
    }
    if options.websocket_share > 0.0 && options.protocol == Protocol::Redis {
        return Err("--ws-share is for chat servers, not --redis".into());
    }
    let needed = options.connections() as u64 + 16;
    if needed > open_files {
        return Err(format!(
            "{} connections need more open files than the limit of {open_files}",
            options.connections()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Result<Options, String> {
        let args = Args::try_parse_from([&["pollchat-bench"], args].concat()).unwrap();
        args.options(20_000)
    }

    #[test]
    fn a_scenario_sets_the_defaults_and_flags_override_it() {
        let o = options(&["--scenario", "fanout1k"]).unwrap();
        assert_eq!((o.clients, o.senders), (1000, 4));
        assert_eq!(o.load, Load::Open { rate: 50.0 });
        let o = options(&["--scenario", "fanout1k", "--clients", "50", "--window", "2"]).unwrap();
        assert_eq!((o.clients, o.senders), (50, 4));
        assert_eq!(o.load, Load::Closed { window: 2 });
        let o = options(&["--scenario", "slow"]).unwrap();
        assert_eq!((o.clients, o.sleepers), (100, 10));
        assert_eq!(options(&["--scenario", "c19k"]).unwrap().clients, 19_000);
    }

    #[test]
    fn bigroom5k_is_five_thousand_in_one_room_with_fifty_talking() {
        let o = options(&["--scenario", "bigroom5k"]).unwrap();
        assert_eq!((o.clients, o.senders), (5000, 50));
        assert_eq!(o.rooms, Rooms { count: 0, extra: 0 });
        assert_eq!(o.load, Load::Open { rate: 2.0 });
        assert!(o.spread);
    }

    #[test]
    fn rooms10k_is_a_thousand_rooms_of_ten_with_one_sender_each() {
        let o = options(&["--scenario", "rooms10k"]).unwrap();
        assert_eq!((o.clients, o.senders), (10_000, 1000));
        assert_eq!(o.load, Load::Open { rate: 1.0 });
        assert_eq!(
            o.rooms,
            Rooms {
                count: 1000,
                extra: 0
            }
        );
        assert!(o.spread);
        assert_eq!(
            (o.recipients(0), o.recipients(999), o.mean_recipients()),
            (9, 9, 9.0)
        );
        // One sender per room: nobody hears two.
        assert_eq!(o.heard_by(5), Vec::<usize>::new());
        assert_eq!(o.heard_by(1005), [5]);
        let o = options(&["--scenario", "rooms10k", "--spread=false"]).unwrap();
        assert!(!o.spread);
        let o = options(&[
            "--scenario",
            "idle10k",
            "--rooms",
            "1000",
            "--extra-rooms",
            "3",
        ])
        .unwrap();
        assert_eq!((o.senders, o.recipients(0)), (1, 39));
        assert!(
            !options(&["--scenario", "fanout1k", "--spread"])
                .unwrap()
                .rooms
                .are_on()
        );
    }

    #[test]
    fn idle_is_one_slow_sender() {
        let o = options(&["--clients", "500", "--idle"]).unwrap();
        assert_eq!((o.clients, o.senders), (500, 1));
        assert_eq!(o.load, Load::Open { rate: 10.0 });
        let o = options(&["--idle", "--senders", "3", "--rate", "5"]).unwrap();
        assert_eq!((o.senders, o.load), (3, Load::Open { rate: 5.0 }));
    }

    #[test]
    fn the_protocol_flags() {
        let o = options(&["--join-line", "none", "--joined-prefix", ""]).unwrap();
        assert_eq!(
            o.protocol,
            Protocol::Chat {
                join: None,
                joined: None,
                irc: false
            }
        );
        let o = options(&["--irc"]).unwrap();
        assert!(matches!(o.protocol, Protocol::Chat { irc: true, .. }));
        let o = options(&["--redis", "--clients", "10", "--senders", "2"]).unwrap();
        assert_eq!((o.recipients(0), o.connections()), (10, 12));
    }

    #[test]
    fn impossible_runs_are_refused() {
        assert!(options(&["--scenario", "nope"]).is_err());
        assert!(options(&["--clients", "3", "--senders", "4"]).is_err());
        assert!(options(&["--clients", "1", "--senders", "1"]).is_err());
        assert!(options(&["--rate", "0"]).is_err());
        assert!(options(&["--duration", "0"]).is_err());
        assert!(options(&["--clients", "30000"]).is_err());
        assert!(options(&["--ws-share", "0.5"]).is_err());
        assert!(options(&["--extra-rooms", "2"]).is_err());
        assert!(options(&["--rooms", "4", "--extra-rooms", "4"]).is_err());
        assert!(options(&["--rooms", "101"]).is_err());
        assert!(options(&["--rooms", "50", "--redis"]).is_err());
        // 100 clients in 60 rooms: #r40..#r59 hold one client each, and sender 40 would be alone.
        assert!(options(&["--rooms", "60", "--senders", "41"]).is_err());
        assert!(options(&["--rooms", "60", "--senders", "40"]).is_ok());
    }

    #[test]
    fn each_addr_is_a_node_with_the_web_addr_in_the_same_place() {
        let o = options(&["--addr", "127.0.0.1:1"]).unwrap();
        assert_eq!(o.nodes.len(), 1);
        assert_eq!(o.nodes[0].web, None);
        let o = options(&[
            "--addr",
            "127.0.0.1:1",
            "--web-addr",
            "127.0.0.1:3",
            "--addr",
            "127.0.0.1:2",
            "--web-addr",
            "127.0.0.1:4",
        ])
        .unwrap();
        let ports: Vec<_> = o
            .nodes
            .iter()
            .map(|n| (n.addr.port(), n.web.unwrap().port()))
            .collect();
        assert_eq!(ports, [(1, 3), (2, 4)]);
    }

    #[test]
    fn also_pid_names_a_process() {
        let o = options(&["--also-pid", "redis=12", "--also-pid", "proxy.1=13"]).unwrap();
        let named: Vec<_> = o.companions.iter().map(|c| (&c.name[..], c.pid)).collect();
        assert_eq!(named, [("redis", 12), ("proxy.1", 13)]);
        for bad in ["redis", "=12", "red is=12", "redis=x", "a\"b=1"] {
            let parsed = Args::try_parse_from(["pollchat-bench", "--also-pid", bad]);
            assert!(parsed.is_err(), "{bad}");
        }
        assert!(options(&["--also-pid", "r=1", "--also-pid", "r=2"]).is_err());
    }

    #[test]
    fn clients_are_dealt_to_the_nodes_in_turn_and_publishers_follow_their_sender() {
        let two = ["--addr", "127.0.0.1:1", "--addr", "127.0.0.1:2"];
        let flags = [
            "--redis",
            "--clients",
            "5",
            "--senders",
            "2",
            "--sleepers",
            "1",
        ];
        let o = options(&[&two[..], &flags].concat()).unwrap();
        let nodes: Vec<usize> = (0..o.connections()).map(|i| o.node(i)).collect();
        // Five clients, one sleeper, then the publishers of senders 0 and 1.
        assert_eq!(nodes, [0, 1, 0, 1, 0, 1, 0, 1]);
        let one = options(&["--clients", "5", "--senders", "1", "--sleepers", "1"]).unwrap();
        assert!((0..one.connections()).all(|i| one.node(i) == 0));
    }

    #[test]
    fn nodes_that_cannot_be_told_apart_are_refused() {
        let two = ["--addr", "127.0.0.1:1", "--addr", "127.0.0.1:2"];
        assert!(options(&[&two[..], &["--web-addr", "127.0.0.1:3"]].concat()).is_err());
        assert!(options(&[&two[..], &["--exec", "pollchat"]].concat()).is_err());
        assert!(options(&["--exec", "pollchat", "--web-addr", "127.0.0.1:3"]).is_ok());
    }
}
