//! `--metrics`: what the server counts, and the page a Prometheus scrape gets, without any I/O.
//!
//! The loop keeps a [`Metrics`] (plain `u64` counters, bumped where the events already happen: an
//! integer add each, no allocation, no hashing) and, on a scrape, measures the gauges ([`Gauges`]) and
//! calls [`render`]. The page is the Prometheus text exposition format 0.0.4, written by hand: a dozen
//! series do not need a crate. [`request`] reads a scrape's HTTP request, like `http::handle` does for
//! the web face. `server/metrics.rs` connects the two to the loop. Every series is listed in the
//! README (*Metrics*).

use std::fmt::Write;

use crate::http;

/// The port `--metrics` listens on when the address gives none. Not Prometheus's own 9090: the
/// Prometheus that scrapes a small machine often runs on it too. 7880 sits beside the chat's 7878
/// and 7879.
pub const DEFAULT_PORT: u16 = 7880;

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The counters: each only ever grows, from 0 at start-up. They count chat and web connections; the
/// metrics listener's own connections and bytes are not counted, so a scrape changes nothing it reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// Connections taken in on a chat or web listener (refused ones are not).
    pub accepted: u64,
    /// Connections turned away, by reason (see [`REFUSALS`]).
    pub refused: [u64; REFUSALS.len()],
    /// Lines handed to the chat core: names, commands and chat alike.
    pub lines_received: u64,
    /// Lines queued for a recipient: each copy of a room's line counts once.
    pub deliveries: u64,
    /// Bytes read from chat and web connections (after TLS).
    pub bytes_in: u64,
    /// Bytes written to chat and web connections (before TLS).
    pub bytes_out: u64,
    /// Connections dropped for not reading their output (`--max-queue`).
    pub slow_consumers: u64,
    /// Times flood control stopped reading a connection.
    pub flood_throttles: u64,
    /// Connections disconnected for flooding (`--flood-kick-secs`).
    pub flood_kicks: u64,
}

/// Why a connection was turned away: the `reason` label of `pollchat_connections_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `--max-clients` (or `--max-http` on the web face) taken.
    Full = 0,
    /// `--max-per-ip` taken for its address.
    PerIp = 1,
    /// The process ran out of file descriptors.
    OutOfFds = 2,
    /// So many refusals were already closing that it was dropped without a word.
    Overflow = 3,
}

/// The `reason` label of each [`Refused`], in its order.
pub const REFUSALS: [&str; 4] = ["full", "per_ip", "out_of_fds", "overflow"];

impl Metrics {
    pub fn refused(&mut self, why: Refused) {
        self.refused[why as usize] += 1;
    }
}

/// How a connection is carried: the `transport` label of `pollchat_connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// Line chat (`nc`, the console client).
    Tcp = 0,
    /// Line chat over TLS (`tls://`).
    Tls = 1,
    /// A web request not (yet) upgraded.
    Http = 2,
    /// A web request over TLS (`https://`).
    Https = 3,
    /// The web page's chat, a WebSocket.
    Ws = 4,
    /// A WebSocket over TLS (`wss://`).
    Wss = 5,
    /// An IRC client (`--irc`).
    Irc = 6,
    /// An IRC client over TLS (`--irc ircs://`).
    Ircs = 7,
}

/// The `transport` label of each [`Carried`], in its order.
pub const TRANSPORTS: [&str; 8] = ["tcp", "tls", "http", "https", "ws", "wss", "irc", "ircs"];

/// What is measured at the moment of a scrape rather than counted as it happens.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Gauges {
    /// Open connections (not those being closed), by [`Carried`].
    pub connections: [u64; TRANSPORTS.len()],
    /// Users who have joined on this node.
    pub users: u64,
    /// Rooms on this node, the default one included.
    pub rooms: u64,
    /// With `--cluster` only: the link to Redis, and the commands sent to it. Without, the two
    /// cluster series are left out of the page.
    pub cluster: Option<ClusterGauges>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClusterGauges {
    /// The link is up (both Redis connections, scripts loaded, subscribed).
    pub up: bool,
    /// Commands queued for Redis since start-up, over every link made.
    pub redis_commands: u64,
}

/// The page: every series with its `# HELP` and `# TYPE`, in the text exposition format 0.0.4.
/// Every label value is written even at 0, so that a series exists from the first scrape.
pub fn render(metrics: &Metrics, gauges: &Gauges) -> String {
    let mut page = String::with_capacity(2048);
    let out = &mut page;
    family(
        out,
        "connections",
        "gauge",
        "Open connections, by transport: tcp and tls are line chat, ws and wss the web page's \
         chat, http and https web requests not yet upgraded, irc and ircs IRC clients.",
    );
    for (label, value) in TRANSPORTS.iter().zip(gauges.connections) {
        sample(out, "connections", Some(("transport", label)), value);
    }
    counter(
        out,
        "connections_accepted_total",
        "Connections taken in on the chat and web listeners.",
        metrics.accepted,
    );
    family(
        out,
        "connections_refused_total",
        "counter",
        "Connections turned away, by reason: full (--max-clients, --max-http), per_ip \
         (--max-per-ip), out_of_fds, overflow (dropped without a word).",
    );
    for (label, value) in REFUSALS.iter().zip(metrics.refused) {
        sample(
            out,
            "connections_refused_total",
            Some(("reason", label)),
            value,
        );
    }
    gauge(
        out,
        "users",
        "Users who have joined on this node.",
        gauges.users,
    );
    gauge(
        out,
        "rooms",
        "Rooms, the default one included.",
        gauges.rooms,
    );
    counter(
        out,
        "lines_received_total",
        "Lines handed to the chat from clients: names, commands and chat.",
        metrics.lines_received,
    );
    counter(
        out,
        "deliveries_total",
        "Lines queued for a recipient (a line to a room of ten counts nine).",
        metrics.deliveries,
    );
    counter(
        out,
        "received_bytes_total",
        "Bytes read from chat and web connections, after TLS.",
        metrics.bytes_in,
    );
    counter(
        out,
        "sent_bytes_total",
        "Bytes written to chat and web connections, before TLS.",
        metrics.bytes_out,
    );
    counter(
        out,
        "slow_consumers_dropped_total",
        "Connections dropped for not reading their output (--max-queue).",
        metrics.slow_consumers,
    );
    counter(
        out,
        "flood_throttles_total",
        "Times flood control stopped reading a connection.",
        metrics.flood_throttles,
    );
    counter(
        out,
        "flood_kicks_total",
        "Connections disconnected for flooding (--flood-kick-secs).",
        metrics.flood_kicks,
    );
    if let Some(cluster) = gauges.cluster {
        gauge(
            out,
            "cluster_up",
            "1 while the link to the cluster's Redis is up, 0 while it is down or connecting.",
            u64::from(cluster.up),
        );
        counter(
            out,
            "redis_commands_total",
            "Commands sent to the cluster's Redis.",
            cluster.redis_commands,
        );
    }
    page
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    sample(out, name, None, value);
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "gauge", help);
    sample(out, name, None, value);
}

/// `# HELP` and `# TYPE`. The help texts are ours: none has a `\` or a newline to escape.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    debug_assert!(!help.contains(['\\', '\n']));
    // Writing to a `String` cannot fail.
    let _ = writeln!(out, "# HELP pollchat_{name} {help}");
    let _ = writeln!(out, "# TYPE pollchat_{name} {kind}");
}

/// One sample line. Label values are ours (constants), so they need no escaping either.
fn sample(out: &mut String, name: &str, label: Option<(&str, &str)>, value: u64) {
    let _ = match label {
        Some((key, value_of)) => writeln!(out, "pollchat_{name}{{{key}=\"{value_of}\"}} {value}"),
        None => writeln!(out, "pollchat_{name} {value}"),
    };
}

/// What to do with the bytes of a request to the metrics listener received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// The head is not complete yet.
    Incomplete,
    /// Send this (an error status), then close.
    Respond(Vec<u8>),
    /// `GET /metrics` (`HEAD` when `head_only`): render the page and send it with [`response`].
    Scrape { head_only: bool },
}

/// Reads a request to the metrics listener: `GET /metrics` (any query string is ignored) is a scrape;
/// another path is 404, another method 405, a request that is not HTTP 400, and one whose head is over
/// `http::MAX_HEAD` (8 KiB) 431. A body, if any, is never read: the connection closes after the answer.
pub fn request(bytes: &[u8]) -> Request {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    let used = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if bytes.len() <= http::MAX_HEAD => {
            return Request::Incomplete;
        }
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            return Request::Respond(http::status(431, "Request Header Fields Too Large", &[]));
        }
        Err(_) => return Request::Respond(http::status(400, "Bad Request", &[])),
    };
    if used > http::MAX_HEAD {
        return Request::Respond(http::status(431, "Request Header Fields Too Large", &[]));
    }
    let method = parsed.method.unwrap_or("");
    if method != "GET" && method != "HEAD" {
        let allow = [("Allow", "GET, HEAD")];
        return Request::Respond(http::status(405, "Method Not Allowed", &allow));
    }
    match parsed.path.unwrap_or("").split('?').next() {
        Some("/metrics") => Request::Scrape {
            head_only: method == "HEAD",
        },
        _ => Request::Respond(http::status(404, "Not Found", &[])),
    }
}

/// The answer to a scrape: `200 OK` with the page (or, for `HEAD`, only its length).
pub fn response(page: &str, head_only: bool) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        page.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(page.as_bytes());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_value(page: &str, series: &str) -> Option<u64> {
        page.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn every_series_has_help_type_and_its_value() {
        let mut metrics = Metrics {
            accepted: 7,
            lines_received: 12,
            deliveries: 30,
            bytes_in: 100,
            bytes_out: 2000,
            slow_consumers: 1,
            flood_throttles: 4,
            flood_kicks: 2,
            ..Metrics::default()
        };
        metrics.refused(Refused::PerIp);
        metrics.refused(Refused::PerIp);
        metrics.refused(Refused::OutOfFds);
        let mut gauges = Gauges {
            users: 3,
            rooms: 2,
            ..Gauges::default()
        };
        gauges.connections[Carried::Tcp as usize] = 2;
        gauges.connections[Carried::Wss as usize] = 1;
        let page = render(&metrics, &gauges);
        let want = [
            ("pollchat_connections{transport=\"tcp\"}", 2),
            ("pollchat_connections{transport=\"tls\"}", 0),
            ("pollchat_connections{transport=\"wss\"}", 1),
            ("pollchat_connections_accepted_total", 7),
            ("pollchat_connections_refused_total{reason=\"full\"}", 0),
            ("pollchat_connections_refused_total{reason=\"per_ip\"}", 2),
            (
                "pollchat_connections_refused_total{reason=\"out_of_fds\"}",
                1,
            ),
            ("pollchat_users", 3),
            ("pollchat_rooms", 2),
            ("pollchat_lines_received_total", 12),
            ("pollchat_deliveries_total", 30),
            ("pollchat_received_bytes_total", 100),
            ("pollchat_sent_bytes_total", 2000),
            ("pollchat_slow_consumers_dropped_total", 1),
            ("pollchat_flood_throttles_total", 4),
            ("pollchat_flood_kicks_total", 2),
        ];
        for (series, value) in want {
            assert_eq!(
                sample_value(&page, series),
                Some(value),
                "{series}:\n{page}"
            );
        }
        // Each family: HELP, then TYPE, then its samples; counters end in `_total`.
        let mut families = 0;
        let lines: Vec<&str> = page.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families += 1;
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(lines[i - 1].starts_with(&format!("# HELP {name} ")));
                assert!(lines[i + 1].starts_with(name));
                assert!(name.starts_with("pollchat_"));
                assert_eq!(kind == "counter", name.ends_with("_total"), "{name} {kind}");
            }
        }
        assert_eq!(families, 12);
        assert!(page.ends_with('\n'));
        // Without --cluster there are no cluster series.
        assert!(!page.contains("cluster_up") && !page.contains("redis"));
    }

    #[test]
    fn the_cluster_series_come_with_a_cluster() {
        let gauges = Gauges {
            cluster: Some(ClusterGauges {
                up: true,
                redis_commands: 42,
            }),
            ..Gauges::default()
        };
        let page = render(&Metrics::default(), &gauges);
        assert_eq!(sample_value(&page, "pollchat_cluster_up"), Some(1));
        assert_eq!(
            sample_value(&page, "pollchat_redis_commands_total"),
            Some(42)
        );
        assert!(page.contains("# TYPE pollchat_cluster_up gauge\n"));
        assert_eq!(page.matches("# TYPE ").count(), 14);
    }

    fn status_line(request: Request) -> String {
        match request {
            Request::Respond(bytes) => String::from_utf8_lossy(&bytes)
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn requests() {
        assert_eq!(
            request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Scrape { head_only: false }
        );
        assert_eq!(
            request(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Request::Scrape { head_only: true }
        );
        assert_eq!(request(b"GET /metrics HTTP/1.1\r\n"), Request::Incomplete);
        let cases: &[(&[u8], &str)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
            (b"GET /metricsx HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
            (
                b"POST /metrics HTTP/1.1\r\n\r\n",
                "HTTP/1.1 405 Method Not Allowed",
            ),
            (b"\x16\x03\x01 hello\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            (b"hello\n\n", "HTTP/1.1 400 Bad Request"),
        ];
        for &(bytes, want) in cases {
            assert_eq!(status_line(request(bytes)), want, "{bytes:?}");
        }
        let huge = format!(
            "GET /metrics HTTP/1.1\r\nX: {}\r\n",
            "a".repeat(http::MAX_HEAD)
        );
        assert_eq!(
            status_line(request(huge.as_bytes())),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }

    #[test]
    fn the_response_says_its_format_and_length() {
        let full = String::from_utf8(response("a 1\n", false)).unwrap();
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(full.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(full.contains("\r\nContent-Length: 4\r\n"));
        assert!(full.ends_with("\r\n\r\na 1\n"));
        let head = String::from_utf8(response("a 1\n", true)).unwrap();
        assert!(head.contains("Content-Length: 4\r\n") && head.ends_with("\r\n\r\n"));
    }
}
