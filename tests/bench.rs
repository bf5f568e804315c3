//! Smoke tests of `pollchat-bench` against the real server: a second of load, checked for zero loss;
//! clients in rooms, to prove that a line is expected at its room's members only; and clients spread
//! over two servers, to prove that every address is used and that the figures are split and summed
//! by node. (Speed is proven by the benchmark and written in docs/performance.md, never asserted
//! here.)

mod common;

use std::process::Command;

use common::Server;

/// Runs a second of load with 20 clients, `ws_share` of them over WebSocket; returns the JSON.
fn run_bench(ws_share: &str) -> String {
    // Load tests run without flood control, as every benchmark does.
    let server = Server::start(&["--web", "127.0.0.1:0", "--flood-rate", "0"]);
    let (addr, pid, web) = (
        server.addr.to_string(),
        server.pid().to_string(),
        server.web.unwrap(),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat-bench"))
        .args([
            "--addr",
            &addr,
            "--pid",
            &pid,
            "--web-addr",
            &web.to_string(),
        ])
        .args([
            "--ws-share",
            ws_share,
            "--clients",
            "20",
            "--senders",
            "2",
            "--window",
            "4",
        ])
        .args(["--duration", "1", "--settle-ms", "200", "--json"])
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{json}\n{stderr}");
    json
}

/// A number from the one-line JSON report.
fn field(json: &str, name: &str) -> f64 {
    let at = json
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("{name} in {json}"));
    let rest = &json[at + name.len() + 3..];
    rest[..rest.find([',', '}']).unwrap()].parse().unwrap()
}

#[test]
fn the_bench_drives_the_server_and_counts_every_delivery() {
    let json = run_bench("0");
    assert_eq!(field(&json, "websocket_clients"), 0.0, "{json}");
    for clean in ["lost", "duplicates", "reordered", "disconnected"] {
        assert_eq!(field(&json, clean), 0.0, "{clean} in {json}");
    }
    assert!(field(&json, "received") > 0.0, "{json}");
    assert_eq!(field(&json, "recipients_per_line"), 19.0);
    assert!(field(&json, "server_cpu_seconds") >= 0.0);
}

#[test]
fn half_the_clients_can_be_browsers() {
    let json = run_bench("0.5");
    assert_eq!(field(&json, "websocket_clients"), 10.0, "{json}");
    for clean in ["lost", "duplicates", "reordered", "disconnected"] {
        assert_eq!(field(&json, clean), 0.0, "{clean} in {json}");
    }
    assert!(field(&json, "received") > 0.0, "{json}");
}

/// Runs half a second of load with 40 clients in 4 rooms, 4 senders (one per room), `flags` added;
/// returns the JSON of a clean run.
fn run_rooms(flags: &[&str]) -> String {
    let server = Server::start(&["--flood-rate", "0"]);
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat-bench"))
        .args(["--addr", &server.addr.to_string()])
        .args(["--pid", &server.pid().to_string()])
        .args(["--clients", "40", "--rooms", "4", "--senders", "4"])
        .args(["--duration", "0.5", "--settle-ms", "200", "--json"])
        .args(flags)
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{json}\n{stderr}");
    for clean in [
        "lost",
        "duplicates",
        "reordered",
        "misdelivered",
        "disconnected",
    ] {
        assert_eq!(field(&json, clean), 0.0, "{clean} in {json}");
    }
    json
}

/// 40 clients in 4 rooms of 10: each line reaches the 9 others of its room, not the 39 others of the
/// server.
#[test]
fn a_line_reaches_its_room_only() {
    let json = run_rooms(&["--window", "4"]);
    assert_eq!(field(&json, "rooms"), 4.0, "{json}");
    assert_eq!(field(&json, "recipients_per_line"), 9.0, "{json}");
    let sent = field(&json, "sent");
    assert!(sent > 0.0, "{json}");
    assert_eq!(field(&json, "expected"), 9.0 * sent, "{json}");
    assert_eq!(field(&json, "received"), 9.0 * sent, "{json}");
}

/// Each client also in the next room: a room has 20 members, 10 for whom it is current and 10 who
/// get its lines prefixed with its name, which the bench must read through (and check).
#[test]
fn lines_of_other_rooms_arrive_prefixed_and_are_counted() {
    let json = run_rooms(&["--extra-rooms", "1", "--rate", "50"]);
    assert_eq!(field(&json, "recipients_per_line"), 19.0, "{json}");
    let sent = field(&json, "sent");
    assert!(sent > 0.0, "{json}");
    assert_eq!(field(&json, "received"), 19.0 * sent, "{json}");
}

/// Two independent servers are not one cluster: a line reaches only the clients on its sender's
/// node. The bench must see exactly that loss (and say so with status 1), find no cross-node
/// delivery, and sum the two processes' figures.
#[test]
fn clients_are_spread_over_every_address() {
    let (a, b) = (
        Server::start(&["--flood-rate", "0"]),
        Server::start(&["--flood-rate", "0"]),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat-bench"))
        .args(["--addr", &a.addr.to_string(), "--addr", &b.addr.to_string()])
        .args(["--pid", &a.pid().to_string(), "--pid", &b.pid().to_string()])
        .args(["--also-pid", &format!("tester={}", std::process::id())])
        .args(["--clients", "20", "--senders", "2", "--window", "4"])
        .args(["--duration", "0.5", "--settle-ms", "100", "--json"])
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{json}\n{stderr}");
    assert_eq!(field(&json, "nodes"), 2.0, "{json}");
    // Ten clients per node: each line reaches the 9 others on its node and misses the 10 elsewhere.
    let sent = field(&json, "sent");
    assert!(sent > 0.0, "{json}");
    assert_eq!(field(&json, "received"), 9.0 * sent, "{json}");
    assert_eq!(field(&json, "lost"), 10.0 * sent, "{json}");
    assert_eq!(field(&json, "deliveries_same_node"), 9.0 * sent, "{json}");
    assert_eq!(field(&json, "deliveries_cross_node"), 0.0, "{json}");
    assert!(field(&json, "latency_same_node_p50_ns") > 0.0, "{json}");
    assert_eq!(field(&json, "server_processes"), 2.0, "{json}");
    assert!(field(&json, "server_cpu_seconds") >= 0.0, "{json}");
    assert!(field(&json, "server_rss_joined") > 0.0, "{json}");
    assert!(field(&json, "tester") >= 0.0, "{json}");
}

/// Over TLS: the bench starts the server itself, reads `tls://ADDR` and the certificate's
/// fingerprint from its start-up line, pins it, and every line still arrives.
#[test]
fn the_bench_speaks_tls_to_a_tls_listener() {
    let server = format!(
        "{} --listen tls://127.0.0.1:0 --tls-self-signed --web off --irc off --flood-rate 0",
        env!("CARGO_BIN_EXE_pollchat")
    );
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat-bench"))
        .args(["--exec", &server, "--tls"])
        .args(["--clients", "20", "--senders", "2", "--window", "4"])
        .args(["--duration", "0.5", "--settle-ms", "200", "--json"])
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{json}\n{stderr}");
    assert!(json.contains("\"tls\":\"TLS 1."), "{json}");
    for clean in ["lost", "duplicates", "reordered", "disconnected"] {
        assert_eq!(field(&json, clean), 0.0, "{clean} in {json}");
    }
    assert!(field(&json, "received") > 0.0, "{json}");
    assert!(field(&json, "server_join_cpu_seconds") >= 0.0, "{json}");
}
