//! Command-line settings, parsed by `clap` (which gives `--help`, `--version` and clear errors).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::cluster::{self, ClusterConfig};

/// A chat room that any TCP client can join: one thread, one readiness-polling event loop.
///
/// Connect with `nc 127.0.0.1 7878` or `telnet 127.0.0.1 7878`, give a name, and chat. Type /help in
/// the chat for the commands. RUST_LOG=debug (or warn, ...) sets how much is logged to standard error.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Address to listen on; repeat for more than one (e.g. 0.0.0.0:7878 for a LAN, [::]:7878 for
    /// IPv6). tls://ADDR:PORT listens for chat over TLS (see --tls-cert, --tls-self-signed).
    #[arg(long, value_name = "[tls://]ADDR:PORT", default_value = "127.0.0.1:7878", value_parser = parse_listen)]
    pub listen: Vec<ListenArg>,

    /// The TLS certificate (PEM; a chain is fine) for tls://, https:// and ircs:// listeners.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The TLS certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Make a self-signed certificate at start-up (for localhost, the host name and the addresses
    /// listened on) instead of --tls-cert: for trying TLS out. Its SHA-256 fingerprint is printed on
    /// the start-up line, for clients to pin.
    #[arg(long, conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,

    /// Where browsers find the web page and its WebSocket (`off` for none; https://ADDR:PORT for
    /// HTTPS, the page then using wss://). By default 127.0.0.1:8080, and if that port is taken the
    /// server runs without it; an address given here that cannot be bound is an error.
    #[arg(long, value_name = "[https://]ADDR:PORT|off")]
    pub web: Option<String>,

    /// Where IRC clients (irssi, WeeChat, HexChat) connect (`off` for none; ircs://ADDR[:PORT] for
    /// IRC over TLS, port 6697 if left out). By default 127.0.0.1:6667, and if that port is taken
    /// the server runs without it; an address given here that cannot be bound is an error.
    #[arg(long, value_name = "[ircs://]ADDR:PORT|off")]
    pub irc: Option<String>,

    /// An IRC client silent this long, in seconds, is sent a PING; silent as long again, it is
    /// dropped (`ping timeout`), and its nick is free again.
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub irc_ping_secs: u64,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (plain HTTP; port 7880 if left out).
    /// Off by default (`off` says so too). An address that cannot be bound is an error. Anyone who
    /// can reach it can read the counts: keep it on loopback or a private network.
    #[arg(long, value_name = "ADDR[:PORT]|off")]
    pub metrics: Option<String>,

    /// Another origin (e.g. https://chat.example.org) whose pages may open the WebSocket, besides the
    /// page's own; repeatable.
    #[arg(long, value_name = "ORIGIN")]
    pub web_origin: Vec<String>,

    /// How long a web connection has to finish its HTTP request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub web_deadline_secs: u64,

    /// Most web connections still in HTTP (not yet chatting) at once.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_http: u32,

    /// Most connections at once; one more is told `! server full` and closed. Lowered to what the
    /// open-file limit allows.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,

    /// Longest line a client may send, in bytes; a longer one is refused with an error line.
    #[arg(long, value_name = "BYTES", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(16..=1 << 24))]
    pub max_line: u32,

    /// Most output queued for one client that is not reading; past it the client is disconnected.
    /// At most 1 GiB.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1024..=1 << 30))]
    pub max_queue: u64,

    /// The room every user is in once named; it always exists. A room's name is # and 1 to 32
    /// letters, digits, '_', '-' or '.'.
    #[arg(long, value_name = "#ROOM", default_value = "#general", value_parser = parse_room)]
    pub default_room: String,

    /// Most rooms on the server, the default one included.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_rooms: u32,

    /// Most rooms one user may be in at once.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_rooms_per_user: u32,

    /// How many recent chat lines a newcomer to a room is shown (per room); 0 turns history off.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(..=100_000))]
    pub history: u32,

    /// How often timed work runs (signals, deadlines), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub tick_ms: u64,

    /// How long the clients' output waits for more lines to join it before it is written, in
    /// microseconds: `auto` sizes it from what writing costs (100 µs, up to 25 ms when thousands of
    /// recipients get a line each), or a fixed number (0: write at the end of every pass; at most
    /// 100000). A write costs about the same for one line or forty, so in a busy room this saves CPU.
    #[arg(long, value_name = "US|auto", default_value = "auto", value_parser = parse_coalesce)]
    pub coalesce_us: Coalesce,

    /// How long a shutdown waits for queued output to reach the clients, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub grace_ms: u64,

    /// Above this many users, joins and leaves are announced as one summary line a second, newcomers
    /// get the number online instead of every name, and /list is served at most every 2 s per user.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub announce_limit: u32,

    /// Join the nodes that use this Redis (6 or later, or Valkey) into one room: redis://HOST:PORT,
    /// rediss://HOST:PORT for TLS, redis://:PASSWORD@HOST:PORT (or USER:PASSWORD@) for a Redis
    /// with a password (percent-escape a '@', ':' or '/' in it: %40, %3A, %2F). Off by default: a
    /// single node needs no Redis. See docs/cluster.md.
    #[arg(long, value_name = "redis[s]://HOST:PORT")]
    pub cluster: Option<String>,

    /// The Redis password, from the first line of this file (kept out of `ps`, unlike one in the
    /// URL).
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub cluster_password_file: Option<PathBuf>,

    /// For rediss://: trust this CA (PEM) instead of the system's.
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub cluster_ca: Option<PathBuf>,

    /// This node's name in the cluster, unique among the live nodes (default: host name and PID).
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub node: Option<String>,

    /// Let several nodes on this machine listen on the same ports (SO_REUSEPORT): the kernel spreads
    /// new connections among them.
    #[arg(long)]
    pub reuseport: bool,

    /// How often a cluster node refreshes its heartbeat and checks the others', in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub cluster_heartbeat_ms: u64,

    /// How long a node (or Redis) may be silent before it counts as lost, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(50..=600_000))]
    pub cluster_timeout_ms: u64,

    /// Flood control: how many lines a user may send at once before the rate below applies.
    #[arg(long, value_name = "LINES", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub flood_burst: u32,

    /// Flood control: how many lines a second a user may send after the burst (fractions allowed,
    /// e.g. 0.5). Past it the server stops reading that user until the next line is due: nothing is
    /// lost, it only arrives slower. 0 turns flood control off (benchmarks and load tests use it).
    #[arg(long, value_name = "LINES_PER_SEC", default_value_t = 2.0, value_parser = parse_rate)]
    pub flood_rate: f64,

    /// Flood control: a user held back this long without a break, with input still waiting, is
    /// disconnected (`! flooding; disconnected`). 0: never.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(..=86_400))]
    pub flood_kick_secs: u64,

    /// Most connections at once from one address (IPv6: one /64), so that one host cannot take every
    /// --max-clients slot. 0: no limit. Loopback addresses are exempt unless --limit-loopback.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_per_ip: u32,

    /// Apply --max-per-ip to loopback addresses (127.0.0.0/8, ::1) too. They are exempt by default:
    /// behind a local proxy, or in a local test, every client comes from loopback.
    #[arg(long)]
    pub limit_loopback: bool,

    /// The operators' password, from the first line of this file (never a flag's value, which `ps`
    /// would show). `/oper PASSWORD` makes a connection an operator: /kick, /ban, /unban, /bans.
    /// Without it the server has no operators.
    #[arg(long, value_name = "FILE")]
    pub oper_password_file: Option<PathBuf>,

    /// Keep bans across restarts in this file (read at start-up, rewritten atomically on every
    /// change; one `ADDRESS EXPIRY_UNIX_SECS` a line). Without it bans last until the server stops.
    #[arg(long, value_name = "FILE")]
    pub ban_file: Option<PathBuf>,

    /// How long a new connection has to give a name, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub name_timeout: u64,
}

/// An error in what the command line says: `main` exits 2 for it, as for clap's own.
pub fn usage(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why.into())
}

/// One address to listen on: plain TCP chat, or chat over TLS (`tls://ADDR:PORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// One `--listen`: a host name may stand for several addresses (`localhost`: 127.0.0.1 and ::1),
/// and each is bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenArg {
    pub addrs: Vec<SocketAddr>,
    pub tls: bool,
}

/// The chat port when `--listen` gives none; `TLS_PORT` for `tls://`.
pub const CHAT_PORT: u16 = 7878;
pub const TLS_PORT: u16 = 7879;

fn parse_listen(text: &str) -> Result<ListenArg, String> {
    let (tls, rest) = match text.strip_prefix("tls://") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let port = if tls { TLS_PORT } else { CHAT_PORT };
    let addrs = resolve(rest, port).map_err(|e| format!("{e} (want [tls://]HOST[:PORT])"))?;
    Ok(ListenArg { addrs, tls })
}

/// The addresses of `HOST[:PORT]` (`default_port` if none): an IP address as it is, a name as the
/// system resolves it, here, at start-up, never inside the loop.
pub fn resolve(text: &str, default_port: u16) -> Result<Vec<SocketAddr>, String> {
    use std::net::{IpAddr, ToSocketAddrs};
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, default_port)]);
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            let port = port
                .parse()
                .map_err(|_| format!("{text}: bad port {port:?}"))?;
            (host, port)
        }
        _ => (text, default_port),
    };
    if host.is_empty() || host.contains('/') {
        return Err(format!("{text}: no host"));
    }
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .collect();
    addrs.sort();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("{host}: no address found"));
    }
    Ok(addrs)
}

/// `--default-room`: a valid room name.
fn parse_room(text: &str) -> Result<String, String> {
    if crate::chat::is_room_name(text) {
        Ok(text.to_string())
    } else {
        Err("a room name is # and 1 to 32 letters, digits, '_', '-' or '.'".to_string())
    }
}

/// `--coalesce-us`: sized as the load goes, or fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coalesce {
    Auto,
    /// Microseconds.
    Fixed(u64),
}

fn parse_coalesce(text: &str) -> Result<Coalesce, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(Coalesce::Auto);
    }
    match text.parse::<u64>() {
        Ok(us) if us <= COALESCE_MAX_US => Ok(Coalesce::Fixed(us)),
        _ => Err(format!("auto, or 0 to {COALESCE_MAX_US} microseconds")),
    }
}

/// `--flood-rate`: 0 (off), or a rate from one line in 1000 s to a million lines a second.
fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of lines per second"))?;
    if rate == 0.0 || (0.001..=1e6).contains(&rate) {
        Ok(rate)
    } else {
        Err("want 0 (off) or from 0.001 to 1000000 lines per second".to_string())
    }
}

/// The longest write window `--coalesce-us` allows, in microseconds: a tenth of the second a closing
/// connection is given (`CLOSE_LINGER`), so its last lines are written well before it is cut off.
pub const COALESCE_MAX_US: u64 = 100_000;

/// The default `--web` address.
pub const DEFAULT_WEB: &str = "127.0.0.1:8080";

/// The default `--irc` address.
pub const DEFAULT_IRC: &str = "127.0.0.1:6667";

/// The IRC port when `--irc` gives none; `IRCS_PORT` for `ircs://` (the ports IRC networks use).
pub const IRC_PORT: u16 = 6667;
pub const IRCS_PORT: u16 = 6697;

/// Where the web face listens, as `--web` says (and the IRC face, as `--irc` says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Web {
    Off,
    /// The default address: if it cannot be bound, warn and go on without it.
    Default(SocketAddr),
    /// An address given on the command line (`https://` or `ircs://` first for TLS), or a host name's
    /// addresses: failing to bind one is fatal.
    Given {
        addrs: Vec<SocketAddr>,
        tls: bool,
    },
}

impl Config {
    /// The cluster settings, if `--cluster` was given; the Redis address is resolved here, once.
    pub fn cluster(&self) -> io::Result<Option<ClusterConfig>> {
        let Some(url) = &self.cluster else {
            return Ok(None);
        };
        let node = self.node.clone().unwrap_or_else(cluster::default_node_name);
        cluster::check_node_name(&node).map_err(usage)?;
        let heartbeat = Duration::from_millis(self.cluster_heartbeat_ms);
        let timeout = Duration::from_millis(self.cluster_timeout_ms);
        // The heartbeat runs on the loop's tick, so it is no more frequent than --tick-ms.
        if timeout < heartbeat.max(self.tick()) * 2 {
            return Err(usage(
                "--cluster-timeout-ms must be at least twice --cluster-heartbeat-ms and --tick-ms \
                 (a heartbeat must be refreshed before it expires)",
            ));
        }
        Ok(Some(ClusterConfig {
            redis: cluster::RedisTarget::parse(
                url,
                self.cluster_password_file.as_deref(),
                self.cluster_ca.as_deref(),
            )?,
            node,
            heartbeat,
            timeout,
            history: self.history as usize,
            default_room: self.default_room.clone(),
            max_rooms: self.max_rooms as usize,
        }))
    }

    pub fn web(&self) -> Result<Web, String> {
        match self.web.as_deref() {
            None => Ok(Web::Default(
                DEFAULT_WEB.parse().expect("a valid constant address"),
            )),
            Some(off) if off.eq_ignore_ascii_case("off") => Ok(Web::Off),
            Some(given) => {
                let (tls, addr) = match given.strip_prefix("https://") {
                    Some(addr) => (true, addr),
                    None => (false, given.strip_prefix("http://").unwrap_or(given)),
                };
                let port = if tls { 8443 } else { 8080 };
                resolve(addr.trim_end_matches('/'), port)
                    .map(|addrs| Web::Given { addrs, tls })
                    .map_err(|e| format!("--web {given}: {e} (want [https://]HOST[:PORT] or off)"))
            }
        }
    }

    /// Where the IRC face listens, as `--irc` says.
    pub fn irc(&self) -> Result<Web, String> {
        match self.irc.as_deref() {
            None => Ok(Web::Default(
                DEFAULT_IRC.parse().expect("a valid constant address"),
            )),
            Some(off) if off.eq_ignore_ascii_case("off") => Ok(Web::Off),
            Some(given) => {
                // `irc://` is taken too, as `--web` takes `http://`: the URL a client is given.
                let (tls, addr) = match given.strip_prefix("ircs://") {
                    Some(addr) => (true, addr),
                    None => (false, given.strip_prefix("irc://").unwrap_or(given)),
                };
                let port = if tls { IRCS_PORT } else { IRC_PORT };
                resolve(addr.trim_end_matches('/'), port)
                    .map(|addrs| Web::Given { addrs, tls })
                    .map_err(|e| format!("--irc {given}: {e} (want [ircs://]HOST[:PORT] or off)"))
            }
        }
    }

    /// Where `--metrics` listens: no address when it is off (the default). `http://` in front and
    /// `/metrics` behind are allowed, so the URL a scraper is given works here too.
    pub fn metrics(&self) -> Result<Vec<SocketAddr>, String> {
        let Some(given) = self.metrics.as_deref() else {
            return Ok(Vec::new());
        };
        if given.eq_ignore_ascii_case("off") {
            return Ok(Vec::new());
        }
        let addr = given.strip_prefix("http://").unwrap_or(given);
        let addr = addr.strip_suffix("/metrics").unwrap_or(addr);
        resolve(addr.trim_end_matches('/'), crate::metrics::DEFAULT_PORT)
            .map_err(|e| format!("--metrics {given}: {e} (want HOST[:PORT] or off)"))
    }

    /// The certificate for the TLS listeners, if any listener is TLS (`tls://`, `https://`,
    /// `ircs://`): loaded from --tls-cert and --tls-key, or made with --tls-self-signed. A TLS
    /// listener without either is an error.
    pub fn tls(&self) -> io::Result<Option<crate::tls::TlsSetup>> {
        // The web and IRC faces' TLS addresses (a bad `--web` or `--irc` is reported when bound).
        let tls_faces: Vec<SocketAddr> = [self.web(), self.irc()]
            .into_iter()
            .flat_map(|face| match face {
                Ok(Web::Given { addrs, tls: true }) => addrs,
                _ => Vec::new(),
            })
            .collect();
        if tls_faces.is_empty() && !self.listen.iter().any(|l| l.tls) {
            return Ok(None);
        }
        if self.tls_self_signed {
            let mut addrs: Vec<SocketAddr> = self.listens().iter().map(|l| l.addr).collect();
            addrs.extend(tls_faces);
            return crate::tls::self_signed(&addrs).map(Some);
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::tls::from_files(cert, key).map(Some),
            _ => Err(usage(
                "a tls://, https:// or ircs:// listener needs --tls-cert FILE and --tls-key FILE, \
                 or --tls-self-signed to try it out",
            )),
        }
    }

    /// Every address `--listen` names, each with whether it speaks TLS.
    pub fn listens(&self) -> Vec<Listen> {
        self.listen
            .iter()
            .flat_map(|arg| arg.addrs.iter().map(|&addr| Listen { addr, tls: arg.tls }))
            .collect()
    }

    /// The operators' password: the first line of `--oper-password-file`, without its line end or
    /// spaces around it. A file that cannot be read, or gives an empty password, is a usage error.
    pub fn oper_password(&self) -> io::Result<Option<String>> {
        let Some(path) = &self.oper_password_file else {
            return Ok(None);
        };
        let cannot = |why: String| usage(format!("--oper-password-file {}: {why}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| cannot(e.to_string()))?;
        let password = text.lines().next().unwrap_or("").trim();
        if password.is_empty() {
            return Err(cannot("the first line is empty".to_string()));
        }
        Ok(Some(password.to_string()))
    }

    pub fn web_deadline(&self) -> Duration {
        Duration::from_secs(self.web_deadline_secs)
    }

    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }

    /// The fixed write window, or `None` for one sized as the load goes (`auto`).
    pub fn coalesce(&self) -> Option<Duration> {
        match self.coalesce_us {
            Coalesce::Auto => None,
            Coalesce::Fixed(us) => Some(Duration::from_micros(us)),
        }
    }

    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }

    pub fn name_timeout(&self) -> Duration {
        Duration::from_secs(self.name_timeout)
    }

    pub fn irc_ping(&self) -> Duration {
        Duration::from_secs(self.irc_ping_secs)
    }

    pub fn flood_kick(&self) -> Duration {
        Duration::from_secs(self.flood_kick_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_host_names_and_a_missing_port() {
        let v4: SocketAddr = "127.0.0.1:7878".parse().unwrap();
        assert_eq!(resolve("127.0.0.1:7878", 1), Ok(vec![v4]));
        assert_eq!(resolve("127.0.0.1", 7878), Ok(vec![v4]));
        assert_eq!(
            resolve("[::1]", 7878),
            Ok(vec!["[::1]:7878".parse().unwrap()])
        );
        let local = resolve("localhost:7000", 1).unwrap();
        assert!(
            local.contains(&"127.0.0.1:7000".parse().unwrap()),
            "{local:?}"
        );
        assert!(resolve("localhost:http", 1).is_err());
        assert!(resolve(":7000", 1).is_err());
        let listen = parse_listen("tls://127.0.0.1").unwrap();
        assert_eq!((listen.addrs[0].port(), listen.tls), (TLS_PORT, true));
    }

    #[test]
    fn irc_address_takes_ircs_and_its_own_default_port() {
        let irc = |arg: &str| Config::parse_from(["pollchat", "--irc", arg]).irc();
        let v4 = |port, tls| {
            let addrs = vec![SocketAddr::from(([127, 0, 0, 1], port))];
            Ok(Web::Given { addrs, tls })
        };
        assert_eq!(irc("127.0.0.1"), v4(IRC_PORT, false));
        assert_eq!(irc("irc://127.0.0.1:7000"), v4(7000, false));
        assert_eq!(irc("ircs://127.0.0.1"), v4(IRCS_PORT, true));
        assert_eq!(irc("ircs://127.0.0.1:7000/"), v4(7000, true));
        assert_eq!(irc("off"), Ok(Web::Off));
        assert!(irc("ircs://").is_err());
        assert!(irc("https://127.0.0.1").is_err());
    }

    #[test]
    fn metrics_address() {
        let config = |args: &[&str]| {
            let mut all = vec!["pollchat"];
            all.extend_from_slice(args);
            Config::parse_from(all).metrics()
        };
        assert_eq!(config(&[]), Ok(vec![]));
        assert_eq!(config(&["--metrics", "OFF"]), Ok(vec![]));
        let v4 = |port| Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]);
        assert_eq!(config(&["--metrics", "127.0.0.1:9100"]), v4(9100));
        assert_eq!(config(&["--metrics", "127.0.0.1"]), v4(7880));
        assert_eq!(config(&["--metrics", "http://127.0.0.1:0/metrics"]), v4(0));
        let local = config(&["--metrics", "localhost"]).unwrap();
        assert!(
            local.contains(&"127.0.0.1:7880".parse().unwrap()),
            "{local:?}"
        );
        assert!(config(&["--metrics", "127.0.0.1:http"]).is_err());
        assert!(config(&["--metrics", "https://127.0.0.1:9100"]).is_err());
    }
}
