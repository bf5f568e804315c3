//! Starting and stopping: the start-up line, --help and --version, SIGINT and SIGTERM.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Server;

#[test]
fn sigint_tells_everyone_then_exits_zero() {
    let mut server = Server::start(&[]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    let mut naming = server.connect_prompted();
    server.signal("INT");
    assert_eq!(ana.expect_closed(), ["*** server shutting down"]);
    assert_eq!(bea.expect_closed(), ["*** server shutting down"]);
    assert_eq!(naming.expect_closed(), ["*** server shutting down"]);
    let status = server.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
}

#[test]
fn sigterm_shuts_down_too_and_stops_accepting() {
    let mut server = Server::start(&[]);
    let mut ana = server.join("ana");
    server.signal("TERM");
    assert_eq!(ana.expect_closed(), ["*** server shutting down"]);
    assert_eq!(server.wait(Duration::from_secs(10)).code(), Some(0));
    assert!(
        std::net::TcpStream::connect(server.addr).is_err(),
        "still accepting"
    );
}

#[test]
fn a_second_signal_exits_at_once_with_130() {
    // A client that never closes its side keeps a graceful shutdown waiting for the whole grace period.
    let mut server = Server::start(&["--grace-ms", "60000"]);
    let mut ana = server.join("ana");
    server.signal("INT");
    ana.expect("*** server shutting down");
    server.signal("INT");
    assert_eq!(server.wait(Duration::from_secs(10)).code(), Some(130));
    assert!(
        server
            .log()
            .contains("pollchat: second signal, exiting now"),
        "{}",
        server.log()
    );
}

#[test]
fn a_cluster_node_names_itself_in_every_log_line() {
    // No Redis is needed to see it: the node logs its attempts to reach one before it gives up.
    let output = common::pollchat_without_faces()
        .args(["--node", "east"])
        .args(["--cluster", "redis://127.0.0.1:1"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert!(!lines.is_empty(), "{stderr}");
    assert!(lines.iter().all(|l| l.contains("node=east]")), "{stderr}");
}

#[test]
fn shutdown_waits_at_most_the_grace_period() {
    let mut server = Server::start(&["--grace-ms", "300", "--tick-ms", "50"]);
    let mut ana = server.join("ana");
    server.signal("INT");
    ana.expect("*** server shutting down");
    // ana never closes; the server gives up on it after the grace period and exits cleanly.
    assert_eq!(server.wait(Duration::from_secs(10)).code(), Some(0));
}

/// With no grace at all, the shutdown notice is still written before the server exits: a shutdown
/// does not leave it waiting for the write window (the longest window here, to make that plain).
#[test]
fn a_shutdown_without_grace_still_says_so() {
    let mut server = Server::start(&["--grace-ms", "0", "--coalesce-us", "100000"]);
    let mut ana = server.join("ana");
    server.signal("TERM");
    ana.expect("*** server shutting down");
    assert_eq!(server.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn the_startup_line_names_every_address() {
    let server = Server::start(&["--listen", "[::1]:0"]);
    assert_eq!(server.addrs.len(), 2);
    assert!(server.addrs[0].is_ipv4() && server.addrs[1].is_ipv6());
    let mut ana = server.join("ana");
    let mut bea = common::Client::connect(server.addrs[1]);
    assert!(bea.line().starts_with("*** welcome to pollchat"));
    bea.expect("*** your name?");
    bea.send("bea");
    bea.expect("*** you are bea");
    ana.expect("*** bea joined");
}

#[test]
fn help_and_version() {
    let help = Command::new(env!("CARGO_BIN_EXE_pollchat"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--listen",
        "--max-clients",
        "--max-line",
        "--max-queue",
        "--history",
        "--tick-ms",
        "--grace-ms",
        "--name-timeout",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
    let version = Command::new(env!("CARGO_BIN_EXE_pollchat"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        "pollchat 0.1.0"
    );
}

#[test]
fn a_bad_flag_is_one_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat"))
        .args(["--max-clients", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--max-clients"), "{stderr}");
}

#[test]
fn every_usage_error_exits_2_with_one_line() {
    for args in [
        &["--web", "garbage"][..],
        &["--cluster", "garbage"],
        &["--listen", "tls://127.0.0.1:0"],
        &["--default-room", "general"],
        &["--flood-rate", "-1"],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pollchat"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    }
    // `off` in any case.
    let server = Server::start_on("127.0.0.1:0", &["--web", "OFF"]);
    assert!(server.web.is_none());
    // The client names itself.
    let version = std::process::Command::new(env!("CARGO_BIN_EXE_pollchat-client"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("pollchat-client "));
}

#[test]
fn a_host_name_is_listened_on_at_each_of_its_addresses() {
    let server = Server::start_on("localhost:0", &[]);
    assert!(
        server.addrs.iter().any(|a| a.ip().is_loopback()),
        "{:?}",
        server.addrs
    );
    for addr in &server.addrs {
        let mut client = common::Client::connect(*addr);
        assert!(client.line().starts_with("*** welcome"));
    }
}
