//! What a run measured, and its two forms: a table for people and one JSON object for scripts.

use super::histogram::Histogram;
use super::{Load, Options, Protocol, Rooms};

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub redis: bool,
    /// Server nodes the clients were dealt to (1: a single server).
    pub nodes: usize,
    pub clients: usize,
    pub websocket_clients: usize,
    pub senders: usize,
    pub sleepers: usize,
    pub load: Load,
    /// Open loop: the senders' lines spread evenly over each period rather than sent together.
    pub spread: bool,
    /// The rooms the clients were spread over (none: all in the server's default room).
    pub rooms: Rooms,
    /// Bytes per line sent, newline included.
    pub payload: usize,
    /// Recipients of a line, on average over the senders (with rooms, rooms may differ in size).
    pub recipients_per_line: f64,
    /// From the first connect until every client has joined.
    pub join_seconds: f64,
    /// The generator's own CPU over the join (`join_seconds`).
    pub bench_join_cpu_seconds: f64,
    /// With `--tls`, what the first connection negotiated (`TLS 1.3, TLS13_AES_256_GCM_SHA384`); the
    /// empty string until a handshake is over. `None` without TLS.
    pub tls: Option<String>,
    pub window_seconds: f64,
    /// Lines sent in the window.
    pub sent: u64,
    /// The sum over the lines sent of their recipients (`sent` × recipients per line without rooms).
    pub expected: u64,
    /// Unique deliveries, in the window and the drain after it (duplicates are not in it).
    pub received: u64,
    /// Unique deliveries that arrived within the window: the throughput figure.
    pub received_in_window: u64,
    /// `expected - received`, judged after the drain.
    pub lost: u64,
    pub duplicates: u64,
    /// Deliveries that arrived after a later line from the same sender.
    pub reordered: u64,
    /// Deliveries to a client outside the sender's room, or showing the wrong room (not counted in
    /// `received`).
    pub misdelivered: u64,
    /// Clients the server disconnected after they joined (their missing lines are in `lost`).
    pub disconnected: u64,
    /// Sleepers found closed by the server when read at the end (it cut off clients that do not
    /// read). Not a fault: a bounded server should.
    pub sleepers_dropped: u64,
    /// Send-to-receive time of every unique delivery.
    pub latency: Histogram,
    /// With several nodes, the same split by where the line went: to a recipient on the sender's
    /// own node, or to one on another node (through whatever joins the nodes). Empty with one node.
    pub latency_same_node: Histogram,
    pub latency_cross_node: Histogram,
    /// The generator's own CPU (user + system) over the window.
    pub bench_cpu_seconds: f64,
    pub server: Option<ServerFigures>,
    /// The CPU seconds over the window of each process given with `--also-pid`, by its name.
    pub also_cpu: Vec<(String, f64)>,
}

/// The server's side, from `/proc`, when its PIDs are known. With several processes (the nodes of a
/// cluster) every figure is their sum, the peak too: the sum of each one's peak.
#[derive(Debug, Clone, Default)]
pub struct ServerFigures {
    /// How many processes the figures sum.
    pub processes: usize,
    /// User + system CPU over the window only.
    pub cpu_seconds: f64,
    /// User + system CPU from the first connect until every client had joined (with TLS, the
    /// handshakes are most of it).
    pub join_cpu_seconds: f64,
    /// Resident memory before any client connected, in bytes.
    pub rss_before: u64,
    /// Resident memory with every client joined, in bytes.
    pub rss_joined: u64,
    /// Peak resident memory (VmHWM) at the end of the window, in bytes.
    pub rss_peak: u64,
    /// The kernel's memory for all TCP sockets before connecting and with all joined, in bytes.
    pub socket_memory_before: u64,
    pub socket_memory_joined: u64,
}

impl Report {
    /// An empty report for a run of `options`.
    pub fn new(options: &Options) -> Report {
        Report {
            redis: options.protocol == Protocol::Redis,
            nodes: options.nodes.len(),
            clients: options.clients,
            websocket_clients: (0..options.clients)
                .filter(|&i| options.is_websocket(i))
                .count(),
            senders: options.senders,
            sleepers: options.sleepers,
            load: options.load,
            spread: options.spread,
            rooms: options.rooms,
            payload: options.payload,
            recipients_per_line: options.mean_recipients(),
            join_seconds: 0.0,
            bench_join_cpu_seconds: 0.0,
            tls: options.tls.map(|_| String::new()),
            window_seconds: 0.0,
            sent: 0,
            expected: 0,
            received: 0,
            received_in_window: 0,
            lost: 0,
            duplicates: 0,
            reordered: 0,
            misdelivered: 0,
            disconnected: 0,
            sleepers_dropped: 0,
            latency: Histogram::default(),
            latency_same_node: Histogram::default(),
            latency_cross_node: Histogram::default(),
            bench_cpu_seconds: 0.0,
            server: None,
            also_cpu: Vec::from_iter(options.companions.iter().map(|c| (c.name.clone(), 0.0))),
        }
    }

    pub fn deliveries_per_second(&self) -> f64 {
        if self.window_seconds > 0.0 {
            self.received_in_window as f64 / self.window_seconds
        } else {
            0.0
        }
    }

    /// Connections made ready per second of the join (with TLS, handshakes per second).
    pub fn joins_per_second(&self) -> f64 {
        let connections = self.clients + self.sleepers;
        if self.join_seconds > 0.0 {
            connections as f64 / self.join_seconds
        } else {
            0.0
        }
    }

    /// Server CPU microseconds per connection over the join.
    pub fn server_us_per_join(&self) -> Option<f64> {
        let server = self.server.as_ref()?;
        let connections = (self.clients + self.sleepers).max(1) as f64;
        Some(server.join_cpu_seconds * 1e6 / connections)
    }

    /// Server CPU nanoseconds per delivery in the window.
    pub fn server_ns_per_delivery(&self) -> Option<f64> {
        let server = self.server.as_ref()?;
        (self.received_in_window > 0)
            .then(|| server.cpu_seconds * 1e9 / self.received_in_window as f64)
    }

    /// (RSS with everyone joined − RSS before) / connections joined, in bytes.
    pub fn server_bytes_per_client(&self) -> Option<f64> {
        let server = self.server.as_ref()?;
        let clients = (self.clients + self.sleepers).max(1) as f64;
        Some(server.rss_joined.saturating_sub(server.rss_before) as f64 / clients)
    }

    /// No loss, no duplicates, no reordering, nothing delivered outside its room, nobody
    /// disconnected.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.duplicates == 0
            && self.reordered == 0
            && self.misdelivered == 0
            && self.disconnected == 0
    }

    /// The generator's CPU as a share of one core over the window: near 1, it was the bottleneck.
    pub fn bench_core_share(&self) -> f64 {
        if self.window_seconds > 0.0 {
            self.bench_cpu_seconds / self.window_seconds
        } else {
            0.0
        }
    }

    fn describe_load(&self) -> String {
        match self.load {
            Load::Closed { window } => format!("closed loop, {window} lines in flight per sender"),
            Load::Open { rate } if self.spread => {
                format!("open loop, {rate} lines/s per sender, spread evenly over each period")
            }
            Load::Open { rate } => format!("open loop, {rate} lines/s per sender"),
        }
    }

    /// Recipients per line to two decimals, without trailing zeros: `9`, `12.33`.
    fn recipients_text(&self) -> String {
        let text = format!("{:.2}", self.recipients_per_line);
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }

    /// The rooms, for the table: how many, how the clients were dealt, how many rooms each is in.
    fn describe_rooms(&self) -> String {
        let Rooms { count, extra } = self.rooms;
        let last = count.saturating_sub(1);
        let mut text = format!("{count} (#r0..#r{last}), clients dealt to them in turn");
        if extra > 0 {
            text.push_str(&format!(", each also in the {extra} after its own"));
        }
        text.push_str("; and all in the server's default room");
        text
    }

    /// A table for people.
    pub fn table(&self) -> String {
        let mut rows = self.run_rows();
        rows.extend(self.delivery_rows());
        rows.extend(self.server_rows());
        rows.extend(self.companion_rows());
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:<width$}  {v}\n"))
            .collect()
    }

    /// Whether the clients were spread over several nodes, which adds the figures by node.
    fn is_cluster(&self) -> bool {
        self.nodes > 1
    }

    fn run_rows(&self) -> Vec<(&'static str, String)> {
        let recipients = if self.redis {
            "every subscriber (Redis: senders publish on connections of their own)"
        } else if self.rooms.are_on() {
            "the other members of the sender's room (on average over the senders)"
        } else {
            "every other client (the server does not echo to the sender)"
        };
        let mut rows = vec![
            (
                "server protocol",
                (if self.redis {
                    "Redis pub/sub"
                } else {
                    "chat lines"
                })
                .into(),
            ),
            (
                "clients",
                format!(
                    "{} ({} over WebSocket), {} sleepers that never read",
                    self.clients, self.websocket_clients, self.sleepers
                ),
            ),
            (
                "senders",
                format!("{}, {}", self.senders, self.describe_load()),
            ),
            ("line size", format!("{} B", self.payload)),
            (
                "recipients per line",
                format!("{}: {recipients}", self.recipients_text()),
            ),
            (
                "time for all to join",
                format!(
                    "{:.2} s ({:.0} connections joined per second; generator CPU {:.2} s)",
                    self.join_seconds,
                    self.joins_per_second(),
                    self.bench_join_cpu_seconds
                ),
            ),
            ("window", format!("{:.1} s", self.window_seconds)),
        ];
        if let Some(tls) = &self.tls {
            let tls = format!("{tls} (rustls, full handshakes; generator CPU includes its TLS)");
            rows.insert(1, ("TLS", tls));
        }
        if self.rooms.are_on() {
            rows.insert(2, ("rooms", self.describe_rooms()));
        }
        if self.is_cluster() {
            let nodes = format!("{}, clients dealt to them in turn", self.nodes);
            rows.insert(1, ("server nodes", nodes));
        }
        rows
    }

    fn delivery_rows(&self) -> Vec<(&'static str, String)> {
        let ms = |ns: u64| ns as f64 / 1e6;
        let mut bench = format!(
            "{:.2} s ({:.0} % of a core)",
            self.bench_cpu_seconds,
            100.0 * self.bench_core_share()
        );
        if self.bench_core_share() >= 0.9 {
            bench.push_str(": the generator was near its limit, so may be the bottleneck");
        }
        let mut rows = vec![
            ("lines sent", self.sent.to_string()),
            (
                "deliveries expected / received",
                format!("{} / {}", self.expected, self.received),
            ),
            (
                "lost / duplicated / reordered",
                format!("{} / {} / {}", self.lost, self.duplicates, self.reordered),
            ),
            (
                "recipients disconnected by the server",
                self.disconnected.to_string(),
            ),
            (
                "delivered outside the sender's room",
                self.misdelivered.to_string(),
            ),
            (
                "deliveries/s (in the window)",
                format!("{:.0}", self.deliveries_per_second()),
            ),
            (
                "latency p50 / p99 / p99.9 / max",
                format!(
                    "{:.3} / {:.3} / {:.3} / {:.3} ms",
                    ms(self.latency.quantile(0.5)),
                    ms(self.latency.quantile(0.99)),
                    ms(self.latency.quantile(0.999)),
                    ms(self.latency.max())
                ),
            ),
        ];
        if self.is_cluster() {
            rows.extend([
                (
                    "latency same node p50 / p99",
                    by_node(&self.latency_same_node),
                ),
                (
                    "latency cross node p50 / p99",
                    by_node(&self.latency_cross_node),
                ),
            ]);
        }
        rows.push(("bench CPU in window", bench));
        if self.sleepers > 0 {
            rows.push((
                "sleepers cut off by the server",
                format!(
                    "{} of {} (read at the end)",
                    self.sleepers_dropped, self.sleepers
                ),
            ));
        }
        rows
    }

    fn server_rows(&self) -> Vec<(&'static str, String)> {
        let Some(server) = &self.server else {
            return vec![("server", "not measured (give --pid or --exec)".into())];
        };
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let summed = if server.processes > 1 {
            format!(", summed over {} processes", server.processes)
        } else {
            String::new()
        };
        let mut rows = vec![(
            "server CPU in window",
            format!(
                "{:.2} s ({:.0} % of a core){summed}",
                server.cpu_seconds,
                100.0 * server.cpu_seconds / self.window_seconds.max(f64::MIN_POSITIVE)
            ),
        )];
        if let Some(ns) = self.server_ns_per_delivery() {
            rows.push(("server CPU per delivery", format!("{ns:.0} ns")));
        }
        if let Some(us) = self.server_us_per_join() {
            rows.push((
                "server CPU while joining",
                format!(
                    "{:.2} s ({us:.1} µs per connection){summed}",
                    server.join_cpu_seconds
                ),
            ));
        }
        rows.push((
            "server RSS before / joined / peak",
            format!(
                "{:.1} / {:.1} / {:.1} MiB{summed}",
                mib(server.rss_before),
                mib(server.rss_joined),
                mib(server.rss_peak)
            ),
        ));
        if let Some(b) = self.server_bytes_per_client() {
            rows.push(("server memory per client", format!("{b:.0} B")));
        }
        rows.push((
            "kernel TCP memory before / joined",
            format!(
                "{:.1} / {:.1} MiB (all TCP sockets, both ends)",
                mib(server.socket_memory_before),
                mib(server.socket_memory_joined)
            ),
        ));
        rows
    }

    /// The processes of `--also-pid`, all on one row.
    fn companion_rows(&self) -> Vec<(&'static str, String)> {
        if self.also_cpu.is_empty() {
            return Vec::new();
        }
        let window = self.window_seconds.max(f64::MIN_POSITIVE);
        let each: Vec<String> = self
            .also_cpu
            .iter()
            .map(|(name, cpu)| {
                format!(
                    "{name} {cpu:.2} s ({:.0} % of a core)",
                    100.0 * cpu / window
                )
            })
            .collect();
        vec![(
            "other processes' CPU in window",
            format!("{} (not in the server's figures)", each.join(", ")),
        )]
    }

    /// The JSON fields of a cluster: the node count, and deliveries and latency by where they went.
    fn node_fields(&self) -> Vec<(&'static str, String)> {
        let (same, cross) = (&self.latency_same_node, &self.latency_cross_node);
        vec![
            ("nodes", self.nodes.to_string()),
            ("deliveries_same_node", same.count().to_string()),
            ("deliveries_cross_node", cross.count().to_string()),
            ("latency_same_node_p50_ns", same.quantile(0.5).to_string()),
            ("latency_same_node_p99_ns", same.quantile(0.99).to_string()),
            ("latency_cross_node_p50_ns", cross.quantile(0.5).to_string()),
            (
                "latency_cross_node_p99_ns",
                cross.quantile(0.99).to_string(),
            ),
        ]
    }

    /// One JSON object on one line. Times are in seconds or nanoseconds, memory in bytes.
    pub fn json(&self) -> String {
        let mut fields = vec![
            (
                "protocol",
                quoted(if self.redis { "redis" } else { "chat" }),
            ),
            ("clients", self.clients.to_string()),
            ("websocket_clients", self.websocket_clients.to_string()),
            ("sleepers", self.sleepers.to_string()),
            ("senders", self.senders.to_string()),
            ("rooms", self.rooms.count.to_string()),
            ("extra_rooms", self.rooms.extra.to_string()),
        ];
        if let Some(tls) = &self.tls {
            fields.push(("tls", quoted(tls)));
        }
        fields.push(match self.load {
            Load::Closed { window } => ("window", window.to_string()),
            Load::Open { rate } => ("rate", rate.to_string()),
        });
        if self.spread && matches!(self.load, Load::Open { .. }) {
            fields.push(("spread", "true".into()));
        }
        fields.extend([
            ("payload", self.payload.to_string()),
            ("recipients_per_line", self.recipients_text()),
            ("join_seconds", format!("{:.3}", self.join_seconds)),
            (
                "joins_per_second",
                format!("{:.0}", self.joins_per_second()),
            ),
            (
                "bench_join_cpu_seconds",
                format!("{:.3}", self.bench_join_cpu_seconds),
            ),
            ("window_seconds", format!("{:.3}", self.window_seconds)),
            ("sent", self.sent.to_string()),
            ("expected", self.expected.to_string()),
            ("received", self.received.to_string()),
            ("received_in_window", self.received_in_window.to_string()),
            ("lost", self.lost.to_string()),
            ("duplicates", self.duplicates.to_string()),
            ("reordered", self.reordered.to_string()),
            ("misdelivered", self.misdelivered.to_string()),
            ("disconnected", self.disconnected.to_string()),
            ("sleepers_dropped", self.sleepers_dropped.to_string()),
            (
                "deliveries_per_second",
                format!("{:.0}", self.deliveries_per_second()),
            ),
            ("latency_p50_ns", self.latency.quantile(0.5).to_string()),
            ("latency_p99_ns", self.latency.quantile(0.99).to_string()),
            ("latency_p999_ns", self.latency.quantile(0.999).to_string()),
            ("latency_max_ns", self.latency.max().to_string()),
        ]);
        if self.is_cluster() {
            fields.extend(self.node_fields());
        }
        fields.push((
            "bench_cpu_seconds",
            format!("{:.3}", self.bench_cpu_seconds),
        ));
        if let Some(server) = &self.server {
            if server.processes > 1 {
                fields.push(("server_processes", server.processes.to_string()));
            }
            fields.push(("server_cpu_seconds", format!("{:.3}", server.cpu_seconds)));
            fields.push((
                "server_join_cpu_seconds",
                format!("{:.3}", server.join_cpu_seconds),
            ));
            if let Some(ns) = self.server_ns_per_delivery() {
                fields.push(("server_ns_per_delivery", format!("{ns:.1}")));
            }
            fields.extend([
                ("server_rss_before", server.rss_before.to_string()),
                ("server_rss_joined", server.rss_joined.to_string()),
                ("server_rss_peak", server.rss_peak.to_string()),
            ]);
            if let Some(b) = self.server_bytes_per_client() {
                fields.push(("server_bytes_per_client", format!("{b:.0}")));
            }
            fields.extend([
                (
                    "socket_memory_before",
                    server.socket_memory_before.to_string(),
                ),
                (
                    "socket_memory_joined",
                    server.socket_memory_joined.to_string(),
                ),
            ]);
        }
        if !self.also_cpu.is_empty() {
            let each: Vec<String> = self
                .also_cpu
                .iter()
                .map(|(name, cpu)| format!("{}:{cpu:.3}", quoted(name)))
                .collect();
            fields.push(("also_cpu", format!("{{{}}}", each.join(","))));
        }
        let body: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

/// A latency histogram's p50 and p99 and how many deliveries it holds, for a table row.
fn by_node(latency: &Histogram) -> String {
    if latency.count() == 0 {
        return "no deliveries".into();
    }
    let ms = |ns: u64| ns as f64 / 1e6;
    format!(
        "{:.3} / {:.3} ms ({} deliveries)",
        ms(latency.quantile(0.5)),
        ms(latency.quantile(0.99)),
        latency.count()
    )
}

/// A JSON string of text that needs no escaping (names are checked for that where they are given).
fn quoted(text: &str) -> String {
    format!("\"{text}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Node;
    use std::time::Duration;

    fn report() -> Report {
        let options = Options {
            nodes: vec![Node {
                addr: "127.0.0.1:1".parse().unwrap(),
                web: None,
            }],
            clients: 10,
            senders: 2,
            sleepers: 0,
            load: Load::Closed { window: 4 },
            spread: false,
            rooms: Rooms::default(),
            duration: Duration::from_secs(1),
            settle: Duration::from_millis(1),
            payload: 64,
            protocol: Protocol::Chat {
                join: None,
                joined: None,
                irc: false,
            },
            server_pids: Vec::new(),
            companions: Vec::new(),
            connecting: 10,
            websocket_share: 0.0,
            tls: None,
        };
        let mut report = Report::new(&options);
        report.window_seconds = 2.0;
        report.sent = 10;
        report.expected = 90;
        report.received = 90;
        report.received_in_window = 80;
        report.latency.record(1_000_000);
        report
    }

    #[test]
    fn rates_and_cleanliness() {
        let mut r = report();
        assert_eq!(r.recipients_per_line, 9.0);
        assert_eq!(r.deliveries_per_second(), 40.0);
        assert!(r.is_clean());
        r.reordered = 1;
        assert!(!r.is_clean());
        r.reordered = 0;
        r.misdelivered = 1;
        assert!(!r.is_clean());
    }

    #[test]
    fn the_json_is_one_flat_object() {
        let json = report().json();
        assert!(json.starts_with("{\"protocol\":\"chat\",") && json.ends_with('}'));
        assert!(json.contains("\"window\":4,") && json.contains("\"deliveries_per_second\":40,"));
        assert!(
            json.contains("\"rooms\":0,\"extra_rooms\":0,")
                && json.contains("\"recipients_per_line\":9,")
        );
        assert!(!json.contains('\n') && !json.contains("server_cpu"));
    }

    #[test]
    fn figures_summed_over_several_processes_say_so() {
        let mut r = report();
        r.server = Some(ServerFigures {
            processes: 1,
            cpu_seconds: 0.5,
            ..ServerFigures::default()
        });
        assert!(!r.table().contains("summed") && !r.json().contains("server_processes"));
        r.server.as_mut().unwrap().processes = 2;
        assert!(r.table().contains("summed over 2 processes"));
        assert!(
            r.json()
                .contains("\"server_processes\":2,\"server_cpu_seconds\":0.500,")
        );
    }

    #[test]
    fn other_processes_are_reported_by_name() {
        let mut r = report();
        assert!(!r.json().contains("also_cpu") && !r.table().contains("other processes"));
        r.also_cpu = vec![("redis".into(), 0.42), ("proxy".into(), 1.0)];
        assert!(
            r.json()
                .ends_with(",\"also_cpu\":{\"redis\":0.420,\"proxy\":1.000}}")
        );
        assert!(
            r.table()
                .contains("redis 0.42 s (21 % of a core), proxy 1.00 s (50 % of a core)")
        );
    }

    #[test]
    fn a_cluster_adds_latency_by_node() {
        let mut r = report();
        assert!(!r.json().contains("node") && !r.table().contains("node"));
        r.nodes = 2;
        assert!(r.table().contains("no deliveries"));
        r.latency_same_node.record(1_000_000);
        r.latency_cross_node.record(3_000_000);
        r.latency_cross_node.record(3_000_000);
        let json = r.json();
        for field in [
            "\"nodes\":2,",
            "\"deliveries_same_node\":1,",
            "\"deliveries_cross_node\":2,",
            "\"latency_same_node_p50_ns\":1000000,",
            "\"latency_cross_node_p99_ns\":3000000,",
        ] {
            assert!(json.contains(field), "{field} in {json}");
        }
        let table = r.table();
        assert!(table.contains("server nodes"), "{table}");
        assert!(table.contains("3.000 / 3.000 ms (2 deliveries)"), "{table}");
    }

    #[test]
    fn rooms_are_described_when_there_are_some() {
        let mut r = report();
        assert!(!r.table().contains("#r0"));
        r.rooms = Rooms { count: 4, extra: 1 };
        r.recipients_per_line = 37.0 / 3.0;
        r.load = Load::Open { rate: 1.0 };
        r.spread = true;
        let table = r.table();
        assert!(
            table.contains(
                "4 (#r0..#r3), clients dealt to them in turn, each also in the 1 after its own"
            ),
            "{table}"
        );
        assert!(
            table.contains("12.33: the other members of the sender's room"),
            "{table}"
        );
        assert!(table.contains("spread evenly"), "{table}");
        let json = r.json();
        assert!(
            json.contains("\"rooms\":4,\"extra_rooms\":1,\"rate\":1,\"spread\":true,"),
            "{json}"
        );
        assert!(json.contains("\"recipients_per_line\":12.33,"), "{json}");
    }

    #[test]
    fn the_table_has_every_figure() {
        let table = report().table();
        for row in [
            "deliveries/s",
            "lost / duplicated / reordered",
            "p99.9",
            "bench CPU",
        ] {
            assert!(table.contains(row), "{row} in {table}");
        }
    }
}
