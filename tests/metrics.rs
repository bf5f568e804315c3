//! `--metrics` over real loopback sockets: the real binary is scraped before and after a scripted
//! chat, and the counters must have moved by exactly what the session did; scrapes are refused
//! nothing a chat user is refused, and cost them no place; the HTTP errors; and the whole page
//! passes Prometheus's own text-format parser (Python's `prometheus_client`). That last test is
//! skipped with a loud message when the module is missing, except under CI (`CI=true`), where it
//! fails: `.ci/run` installs it.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

use common::{Client, READ_TIMEOUT, Server};

fn metrics_server(args: &[&str]) -> Server {
    let mut all = vec!["--metrics", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let server = Server::start(&all);
    assert!(
        server.metrics.is_some(),
        "no metrics address on the start-up line"
    );
    server
}

/// Sends `request` and returns the whole response (the server closes after it).
fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics listener");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    stream.write_all(request).expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the response");
    String::from_utf8(response).expect("a UTF-8 response")
}

/// `GET /metrics`: checks the status and content type, and returns the page.
fn scrape_page(server: &Server) -> String {
    let addr = server.metrics.expect("a metrics address");
    let response = http(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
        "{head}"
    );
    body.to_string()
}

/// Every sample of a scrape, by series (name and labels as written), e.g.
/// `pollchat_connections{transport="tcp"}`.
fn scrape(server: &Server) -> HashMap<String, u64> {
    scrape_page(server)
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            (series.to_string(), value.parse().expect("an integer value"))
        })
        .collect()
}

/// How much each series of `changes` moved from `before` to `after`, checked all at once so that a
/// failure shows every difference.
fn assert_moved(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
    changes: &[(&str, u64)],
) {
    let got: Vec<(&str, u64)> = changes
        .iter()
        .map(|&(series, _)| {
            let (Some(a), Some(b)) = (before.get(series), after.get(series)) else {
                panic!("no series {series} in {after:?}");
            };
            (series, b - a)
        })
        .collect();
    assert_eq!(got, changes);
}

fn value(scrape: &HashMap<String, u64>, series: &str) -> u64 {
    *scrape
        .get(series)
        .unwrap_or_else(|| panic!("no series {series} in {scrape:?}"))
}

const TCP: &str = "pollchat_connections{transport=\"tcp\"}";
const ACCEPTED: &str = "pollchat_connections_accepted_total";
const USERS: &str = "pollchat_users";
const LINES: &str = "pollchat_lines_received_total";
const DELIVERIES: &str = "pollchat_deliveries_total";
const BYTES_IN: &str = "pollchat_received_bytes_total";
const BYTES_OUT: &str = "pollchat_sent_bytes_total";

#[test]
fn counters_move_as_a_scripted_session_runs() {
    let server = metrics_server(&[]);
    let start = scrape(&server);
    assert_eq!(value(&start, ACCEPTED), 0);
    assert_eq!(value(&start, USERS), 0);
    assert_eq!(value(&start, "pollchat_rooms"), 1);
    assert!(
        !start.contains_key("pollchat_cluster_up"),
        "no cluster series without --cluster"
    );
    // A scrape changes nothing it reads: its own connection and bytes are not counted.
    assert_eq!(scrape(&server), start);

    // Two users join: two connections taken in, two names received.
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    let joined = scrape(&server);
    assert_moved(
        &start,
        &joined,
        &[
            (ACCEPTED, 2),
            (TCP, 2),
            (USERS, 2),
            (LINES, 2),
            (BYTES_IN, "ana\nbea\n".len() as u64),
        ],
    );
    assert!(value(&joined, BYTES_OUT) >= (ana.received + bea.received) as u64);

    // Ana says three lines: each is one delivery, to Bea (the author gets no echo).
    let said = ["hola", "¿qué tal?", "adiós"];
    let (ana_before, bea_before) = (ana.received, bea.received);
    for line in said {
        ana.send(line);
    }
    for line in said {
        bea.expect(&format!("<ana> {line}"));
    }
    let chatted = scrape(&server);
    let sent_in: usize = said.iter().map(|line| line.len() + 1).sum();
    assert_moved(
        &joined,
        &chatted,
        &[
            (ACCEPTED, 0),
            (TCP, 0),
            (USERS, 0),
            (LINES, 3),
            (DELIVERIES, 3),
            (BYTES_IN, sent_in as u64),
            (BYTES_OUT, (bea.received - bea_before) as u64),
        ],
    );
    assert_eq!(ana.received, ana_before);

    // Bea quits: one line received, two delivered (her `*** bye`, Ana's notice); one user fewer.
    bea.send("/quit");
    let goodbye = bea.expect_closed();
    assert_eq!(goodbye, ["*** bye"]);
    ana.expect("*** bea left (quit)");
    let quit = scrape(&server);
    let mut moved = value(&quit, TCP) as i64 - value(&chatted, TCP) as i64;
    moved += value(&quit, USERS) as i64 - value(&chatted, USERS) as i64;
    assert_eq!(moved, -2, "one connection and one user fewer");
    assert_moved(
        &chatted,
        &quit,
        &[
            (ACCEPTED, 0),
            (LINES, 1),
            (DELIVERIES, 2),
            (BYTES_IN, "/quit\n".len() as u64),
            (
                BYTES_OUT,
                (ana.received - ana_before + "*** bye\n".len()) as u64,
            ),
        ],
    );
    assert_eq!(value(&quit, USERS), 1);
}

/// Scrapes are not chat users: a full server and an address over `--max-per-ip` still answer them,
/// and the refusals they count are the chat's.
#[test]
fn refusals_are_counted_and_scrapes_are_never_refused_for_users() {
    let server = metrics_server(&[
        "--max-clients",
        "1",
        "--max-per-ip",
        "1",
        "--limit-loopback",
    ]);
    let _ana = server.join("ana");
    // From another loopback address: over --max-clients but not --max-per-ip.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .expect("bind 127.0.0.2");
    socket.connect(&server.addr.into()).expect("connect");
    let mut full = Client::from_stream(socket.into());
    assert_eq!(full.expect_closed(), ["! server full"]);
    // From the same address as Ana: over --max-per-ip.
    let mut same = server.connect();
    assert_eq!(
        same.expect_closed(),
        ["! too many connections from your address"]
    );
    let refused = scrape(&server);
    assert_eq!(value(&refused, ACCEPTED), 1);
    assert_eq!(
        value(
            &refused,
            "pollchat_connections_refused_total{reason=\"full\"}"
        ),
        1
    );
    assert_eq!(
        value(
            &refused,
            "pollchat_connections_refused_total{reason=\"per_ip\"}"
        ),
        1
    );
    assert_eq!(value(&refused, TCP), 1);
}

#[test]
fn flood_control_is_counted() {
    let server = metrics_server(&["--flood-burst", "2", "--flood-rate", "1000"]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    // Five lines in one write: the burst is two, so the loop stops reading Ana at least once.
    ana.send_raw(b"1\n2\n3\n4\n5\n");
    for n in 1..=5 {
        bea.expect(&format!("<ana> {n}"));
    }
    let after = scrape(&server);
    assert!(
        value(&after, "pollchat_flood_throttles_total") >= 1,
        "{after:?}"
    );
    assert_eq!(value(&after, "pollchat_flood_kicks_total"), 0);
}

#[test]
fn anything_but_get_metrics_gets_an_error_and_a_close() {
    let server = metrics_server(&["--web-deadline-secs", "1"]);
    let addr = server.metrics.expect("a metrics address");
    let status = |request: &[u8]| http(addr, request).lines().next().unwrap_or("").to_string();
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 Not Found");
    assert_eq!(
        status(b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"),
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(status(b"nick ana\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    assert_eq!(
        status(huge.as_bytes()),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    // HEAD: the head of a scrape, without its page.
    let head = http(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    // A request that never ends is answered when --web-deadline-secs is up, and closed.
    assert_eq!(status(b"GET /metr"), "HTTP/1.1 408 Request Timeout");
    // None of that was a chat connection.
    assert_eq!(value(&scrape(&server), ACCEPTED), 0);
}

/// The whole page through `prometheus_client.parser.text_string_to_metric_families`: every family
/// with its type, its help, and its samples. Run with a cluster-less server after some traffic.
#[test]
fn prometheus_client_parses_the_whole_page() {
    let module = Command::new("python3")
        .args(["-c", "import prometheus_client.parser"])
        .status();
    if !module.is_ok_and(|s| s.success()) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("this test needs python3 with prometheus_client (.ci/run installs it)");
        }
        eprintln!("\n!!! SKIPPED the Prometheus parser test (python3 prometheus_client missing).");
        eprintln!("!!! Install: python3 -m pip install prometheus_client\n");
        return;
    }
    let server = metrics_server(&[]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    ana.send("hi");
    bea.expect("<ana> hi");
    let page = scrape_page(&server);
    // Prints one line per sample: family, type, sample name, labels, value; and refuses a family
    // without help.
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    assert family.documentation, family.name
    for sample in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
        print(family.name, family.type, sample.name, labels, int(sample.value))
"#;
    let mut python = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    python
        .stdin
        .take()
        .expect("stdin")
        .write_all(page.as_bytes())
        .expect("write the page to python3");
    let output = python.wait_with_output().expect("python3 finishes");
    let parsed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "prometheus_client refused the page:\n{}\n{page}",
        String::from_utf8_lossy(&output.stderr)
    );
    let samples: Vec<Vec<&str>> = parsed.lines().map(|l| l.split(' ').collect()).collect();
    // prometheus_client names a counter's family without `_total`, its sample with it.
    let expected = [
        (
            "pollchat_connections",
            "gauge",
            "pollchat_connections",
            "transport=tcp",
            2,
        ),
        (
            "pollchat_connections",
            "gauge",
            "pollchat_connections",
            "transport=wss",
            0,
        ),
        (
            "pollchat_connections_accepted",
            "counter",
            "pollchat_connections_accepted_total",
            "",
            2,
        ),
        (
            "pollchat_connections_refused",
            "counter",
            "pollchat_connections_refused_total",
            "reason=out_of_fds",
            0,
        ),
        ("pollchat_users", "gauge", "pollchat_users", "", 2),
        ("pollchat_rooms", "gauge", "pollchat_rooms", "", 1),
        (
            "pollchat_lines_received",
            "counter",
            "pollchat_lines_received_total",
            "",
            3,
        ),
        (
            "pollchat_deliveries",
            "counter",
            "pollchat_deliveries_total",
            "",
            0,
        ),
        (
            "pollchat_received_bytes",
            "counter",
            "pollchat_received_bytes_total",
            "",
            11,
        ),
        (
            "pollchat_sent_bytes",
            "counter",
            "pollchat_sent_bytes_total",
            "",
            0,
        ),
        (
            "pollchat_slow_consumers_dropped",
            "counter",
            "pollchat_slow_consumers_dropped_total",
            "",
            0,
        ),
        (
            "pollchat_flood_throttles",
            "counter",
            "pollchat_flood_throttles_total",
            "",
            0,
        ),
        (
            "pollchat_flood_kicks",
            "counter",
            "pollchat_flood_kicks_total",
            "",
            0,
        ),
    ];
    for (family, kind, name, labels, value) in expected {
        let found = samples
            .iter()
            .find(|s| s.len() == 5 && s[0] == family && s[2] == name && s[3] == labels)
            .unwrap_or_else(|| panic!("no {name}{{{labels}}} in what the parser read:\n{parsed}"));
        assert_eq!(found[1], kind, "{name}");
        // Deliveries and bytes out depend on the greeting's wording: only checked to be there.
        if value > 0 || !matches!(family, "pollchat_deliveries" | "pollchat_sent_bytes") {
            assert_eq!(
                found[4].parse::<u64>().ok(),
                Some(value),
                "{name}{{{labels}}}"
            );
        }
    }
    let families: std::collections::HashSet<&str> = samples.iter().map(|s| s[0]).collect();
    assert_eq!(families.len(), 12, "{parsed}");
    assert_eq!(samples.len(), 8 + 1 + 4 + 9, "{parsed}");
}
