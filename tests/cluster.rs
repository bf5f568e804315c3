//! Several real pollchat nodes joined through a real `redis-server` (Debian's package), each on its own
//! loopback port. Without redis-server the tests are skipped with a loud message, except under CI
//! (`CI=true`), where that is a failure: `.ci/run` installs it.
//!
//! Timers are set small by flags (heartbeat 100 ms, node timeout 1 s), so a lost node is noticed in
//! about a second; every wait is a read with a timeout, never a sleep.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::irc::Irc;
use common::redis::Redis;
use common::ws::Ws;
use common::{Client, Server};

/// A node of the cluster on `redis`, named `node`, with small timers.
fn node(redis: &Redis, node: &str, extra: &[&str]) -> Server {
    let url = redis.url();
    let mut args = vec!["--cluster", &url, "--node", node];
    args.extend([
        "--cluster-heartbeat-ms",
        "100",
        "--cluster-timeout-ms",
        "1000",
    ]);
    // These tests send hundreds of lines at once to check order across nodes: no flood control.
    args.extend(["--flood-rate", "0"]);
    args.extend_from_slice(extra);
    Server::start(&args)
}

#[test]
fn chat_crosses_nodes_both_ways_in_order_and_names_are_unique() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (node(&redis, "a", &[]), node(&redis, "b", &[]));
    let mut ana = a.join("ana");
    let mut taken = b.connect_prompted();
    taken.send("ANA");
    taken.expect("! the name ANA is taken");
    taken.expect("*** your name?");
    let mut bea = b.join("bea");
    ana.expect("*** bea joined");

    ana.send("hello from a");
    bea.expect("<ana> hello from a");
    bea.send("/me waves from b");
    ana.expect("* bea waves from b");
    for i in 0..300 {
        ana.send(&format!("line {i}"));
    }
    for i in 0..300 {
        bea.expect(&format!("<ana> line {i}"));
    }
    // The line is not echoed back to its author through the other node.
    assert!(ana.lines_before_sync().is_empty());
}

#[test]
fn list_msg_and_rename_work_across_nodes_and_keep_order() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (node(&redis, "a", &[]), node(&redis, "b", &[]));
    let mut ana = a.join("ana");
    let mut bea = b.join("bea");
    ana.expect("*** bea joined");

    ana.send("/list");
    ana.expect("*** online (2): ana, bea");
    bea.send("/list");
    bea.expect("*** online (2): ana, bea");

    // A private message waits for Redis; the line after it must not overtake it.
    ana.send("/msg BEA psst\nright after");
    ana.expect("[you -> bea] psst");
    bea.expect("[ana -> you] psst");
    bea.expect("<ana> right after");
    ana.send("/msg nobody hi");
    ana.expect("! no such user: nobody");

    ana.send("/name Anita\nas anita");
    ana.expect("*** you are Anita");
    bea.expect("*** ana is now Anita");
    bea.expect("<Anita> as anita");
    bea.send("/name anita");
    bea.expect("! the name anita is taken");
    // The old name is free again, on either node.
    let mut other = b.join("ana");
    other.send("/list");
    other.expect("*** online (3): ana, Anita, bea");
}

#[test]
fn a_newcomer_gets_history_then_live_lines_never_twice_or_missing() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (
        node(&redis, "a", &["--history", "50"]),
        node(&redis, "b", &["--history", "50"]),
    );
    let mut ana = a.join("ana");
    for i in 0..10 {
        ana.send(&format!("{i}"));
    }
    // Lines keep coming while a newcomer joins on the other node: whatever the timing, what the
    // newcomer sees (history, then live) must be consecutive numbers up to the last.
    let mut newcomer = None;
    for i in 10..400 {
        ana.send(&format!("{i}"));
        if i == 200 {
            let mut cid = b.connect_prompted();
            cid.send("cid");
            newcomer = Some(cid);
        }
    }
    let mut cid = newcomer.expect("a newcomer");
    cid.expect("*** you are cid");
    history_then_live_up_to(&mut cid, 399);
}

/// Reads ana's numbered lines (history first, then live) up to `last`, and checks they are
/// consecutive and begin with a full history of 50.
fn history_then_live_up_to(newcomer: &mut Client, last: u32) {
    let mut seen: Vec<u32> = Vec::new();
    while seen.last() != Some(&last) {
        let line = newcomer.line();
        // History lines carry the time they were said: each must have one that reads right.
        let line = common::history_line(&line).unwrap_or(&line);
        if let Some(n) = line.strip_prefix("<ana> ") {
            seen.push(n.parse().expect("a number"));
        }
    }
    let first = seen[0];
    let want: Vec<u32> = (first..=last).collect();
    assert_eq!(seen, want, "history and live lines, joined at {first}");
    assert!(
        seen.len() >= 50,
        "a full history, then live lines: {first}.."
    );
}

#[test]
fn a_killed_node_is_noticed_and_its_users_leave_everywhere() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (node(&redis, "a", &[]), node(&redis, "b", &[]));
    let mut ana = a.join("ana");
    let _bea = b.join("bea");
    let _bo = b.join("bo");
    ana.expect("*** bea joined");
    ana.expect("*** bo joined");
    b.signal("KILL");
    let mut gone = vec![ana.line(), ana.line()];
    gone.sort();
    assert_eq!(
        gone,
        ["*** bea left (node lost)", "*** bo left (node lost)"]
    );
    // Their names are free again.
    a.join("bea");
}

#[test]
fn a_node_that_shuts_down_says_goodbye_for_its_users() {
    let Some(redis) = Redis::start() else { return };
    let (a, mut b) = (node(&redis, "a", &[]), node(&redis, "b", &[]));
    let mut ana = a.join("ana");
    let _bea = b.join("bea");
    ana.expect("*** bea joined");
    b.signal("TERM");
    ana.expect("*** bea left (server shutting down)");
    assert!(b.wait(std::time::Duration::from_secs(10)).success());
    a.join("bea");
    // b left nothing behind: no name, no membership, no heartbeat (so no "node lost" later).
    assert!(!redis.cli(&["HGETALL", "pollchat:names"]).contains("b "));
    assert_eq!(redis.cli(&["SMEMBERS", "pollchat:nodes"]).trim(), "a");
    assert_eq!(redis.cli(&["EXISTS", "pollchat:node:b"]).trim(), "0");
}

#[test]
fn redis_going_away_keeps_local_chat_and_the_cluster_heals_after() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b) = (node(&redis, "a", &[]), node(&redis, "b", &[]));
    let [mut ana, mut ann, mut cal] = a.join_all(["ana", "ann", "cal"]);
    let mut bea = b.join("bea");
    for client in [&mut ana, &mut ann, &mut cal] {
        client.expect("*** bea joined");
    }

    redis.stop();
    for client in [&mut ana, &mut ann, &mut cal, &mut bea] {
        client.expect("*** cluster link lost; local users only");
    }
    // Local chat goes on.
    ana.send("still here");
    ann.expect("<ana> still here");
    // Someone leaves meanwhile; the other node hears it once the cluster heals.
    cal.send("/quit");
    ana.skip_until(|l| l == "*** cal left (quit)");
    ann.skip_until(|l| l == "*** cal left (quit)");
    // New joins are refused, and the connection closed so that clients retry by themselves.
    let mut newcomer = a.connect_prompted();
    newcomer.send("zed");
    assert_eq!(
        newcomer.expect_closed(),
        ["! cluster unavailable, try again shortly"]
    );
    // Renames and private messages to other nodes cannot be done either.
    ana.send("/msg bea hello?");
    ana.expect("! cluster unavailable, try again shortly");

    redis.restart(); // Empty: the nodes fill it again.
    for client in [&mut ana, &mut ann, &mut bea] {
        client.skip_until(|l| l == "*** cluster link restored");
    }
    bea.skip_until(|l| l == "*** cal left (while the cluster link was down)");
    ana.send("back again");
    bea.skip_until(|l| l == "<ana> back again");
    bea.send("/list");
    bea.skip_until(|l| l == "*** online (3): ana, ann, bea");
    // Names are still unique across the cluster: each node claimed its users' names again.
    let mut copy = b.connect_prompted();
    copy.send("ana");
    copy.expect("! the name ana is taken");
    let mut copy = a.connect_prompted();
    copy.send("Bea");
    copy.expect("! the name Bea is taken");
}

#[test]
fn two_live_nodes_cannot_share_a_name() {
    let Some(redis) = Redis::start() else { return };
    let _a = node(&redis, "a", &[]);
    let output = common::pollchat_without_faces()
        .args(["--node", "a"])
        .args(["--cluster", &redis.url()])
        .output()
        .expect("run a second node");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("another live node is named a"),
        "stderr: {stderr}"
    );
}

#[test]
fn nodes_on_one_machine_can_share_a_port_with_reuseport() {
    let Some(redis) = Redis::start() else { return };
    let a = node(&redis, "a", &["--reuseport"]);
    let listen = a.addr.to_string();
    let url = redis.url();
    let b = Server::start_on(&listen, &["--cluster", &url, "--node", "b", "--reuseport"]);
    assert_eq!(a.addr, b.addr);
    // Whichever node the kernel gives each connection to, they are in one room.
    let mut ana = Client::connect(a.addr);
    ana.skip_until(|l| l == "*** your name?");
    ana.send("ana");
    ana.skip_until(|l| l.starts_with("*** online"));
    let mut bea = b.join("bea");
    ana.expect("*** bea joined");
    ana.send("hi");
    bea.expect("<ana> hi");
}

#[test]
fn a_user_who_left_while_their_node_was_cut_off_is_gone_everywhere_after() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (node(&redis, "a", &[]), node(&redis, "b", &[]));
    let [mut ana, mut ann] = a.join_all(["ana", "ann"]);
    let mut bea = b.join("bea");
    ana.expect("*** bea joined");
    ann.expect("*** bea joined");

    // Cut node a alone off: Redis keeps its data and b's links, and refuses a's new ones (a
    // password a does not have) until the test says so.
    redis.cli(&["CONFIG", "SET", "requirepass", "secret"]);
    let clients = redis.cli(&["-a", "secret", "CLIENT", "LIST"]);
    let ids: Vec<&str> = clients
        .lines()
        .filter(|l| l.contains("name=pollchat-a "))
        .filter_map(|l| l.split_whitespace().next()?.strip_prefix("id="))
        .collect();
    assert_eq!(ids.len(), 2, "a's two links in {clients}");
    for id in ids {
        redis.cli(&["-a", "secret", "CLIENT", "KILL", "ID", id]);
    }
    ana.expect("*** cluster link lost; local users only");
    ann.expect("*** cluster link lost; local users only");
    ann.send("/quit");
    ana.expect("*** ann left (quit)");

    redis.cli(&["-a", "secret", "CONFIG", "SET", "requirepass", ""]);
    ana.expect("*** cluster link restored");
    // a tells the others who left meanwhile; b never lost its link, so only a can.
    bea.expect("*** ann left (while the cluster link was down)");
    bea.send("/list");
    bea.expect("*** online (2): ana, bea");
}

#[test]
fn a_heartbeat_that_cannot_outlive_its_refresh_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat"))
        .args(["--listen", "127.0.0.1:0", "--web", "off", "--irc", "off"])
        .args(["--cluster", "redis://127.0.0.1:1", "--node", "a"])
        .args([
            "--cluster-heartbeat-ms",
            "100",
            "--cluster-timeout-ms",
            "300",
        ])
        .output()
        .expect("run pollchat");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--cluster-timeout-ms must be at least twice"),
        "{stderr}"
    );
}

#[test]
fn a_node_joins_a_redis_with_a_password_and_a_wrong_one_is_a_clear_error() {
    // A password with the characters a URL must escape: given escaped in the URL, as is in a file.
    let Some(redis) = Redis::start_with(&["--requirepass", "s3@c:ret/"]) else {
        return;
    };
    let url = format!("redis://:s3%40c%3Aret%2F@127.0.0.1:{}", redis.port);
    let (a, b) = (
        Server::start(&["--cluster", &url, "--node", "a"]),
        Server::start(&["--cluster", &url, "--node", "b"]),
    );
    let mut ana = a.join("ana");
    let mut bea = b.join("bea");
    ana.expect("*** bea joined");
    bea.send("through a Redis with a password");
    ana.expect("<bea> through a Redis with a password");
    // The password from a file; the URL's is replaced by it.
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("redis-password");
    std::fs::write(&file, "s3@c:ret/\n").unwrap();
    let wrong = format!("redis://:nope@127.0.0.1:{}", redis.port);
    let c = Server::start(&[
        "--cluster",
        &wrong,
        "--node",
        "c",
        "--cluster-password-file",
        file.to_str().unwrap(),
    ]);
    let _cai = c.join("cai");
    ana.expect("*** cai joined");
    // A wrong password: the node does not start, and says why, without the password.
    let output = common::pollchat_without_faces()
        .args(["--cluster", &wrong])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot link to the cluster"), "{stderr}");
    assert!(
        !stderr.contains("nope"),
        "the password is in the message: {stderr}"
    );
}

#[test]
fn nodes_link_to_redis_over_tls() {
    // A CA, and a certificate for 127.0.0.1 that it signed, for Redis's TLS port.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("rediss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let [cert_file, key_file, ca_file] = [
        ("cert.pem", cert.pem()),
        ("key.pem", key.serialize_pem()),
        ("ca.pem", ca.pem()),
    ]
    .map(|(name, text)| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    });
    let Some(redis) = Redis::start_with(&[
        "--tls-port",
        "{port}",
        "--tls-cert-file",
        &cert_file,
        "--tls-key-file",
        &key_file,
        "--tls-ca-cert-file",
        &ca_file,
        "--tls-auth-clients",
        "no",
    ]) else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let node =
        |name: &str| Server::start(&["--cluster", &url, "--node", name, "--cluster-ca", &ca_file]);
    let (a, b) = (node("a"), node("b"));
    let mut ana = a.join("ana");
    let mut bea = b.join("bea");
    ana.expect("*** bea joined");
    ana.send("over rediss");
    bea.expect("<ana> over rediss");
    a.wait_for_log("linked to Redis at rediss://");
    // Without the CA, the certificate is not trusted: the node does not start.
    let output = common::pollchat_without_faces()
        .args(["--cluster", &url])
        .env("SSL_CERT_FILE", &cert_file) // Some other roots than the CA.
        .output()
        .unwrap();
    assert!(!output.status.success());
}

/// How many nodes hear a room's channel (`PUBSUB NUMSUB`).
fn listeners(redis: &Redis, room: &str) -> String {
    let output = redis.cli(&["PUBSUB", "NUMSUB", &format!("pollchat:room:{room}")]);
    output.lines().nth(1).unwrap_or_default().trim().to_string()
}

#[test]
fn a_room_spans_two_nodes_and_a_room_on_one_node_reaches_no_other() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (node(&redis, "a", &[]), node(&redis, "b", &[]));
    let mut ana = a.join("ana");
    let mut bea = b.join("bea");
    let mut cy = b.join("cy");
    ana.skip_until(|l| l == "*** cy joined");
    bea.expect("*** cy joined");

    ana.send("/join #dev");
    ana.expect("*** you joined #dev");
    ana.expect("*** online (1): ana");
    bea.send("/join #DEV");
    bea.expect("*** you joined #dev");
    bea.expect("*** online (2): ana, bea");
    ana.expect("*** bea joined");
    ana.send("/topic ship it");
    ana.expect("*** ana set the topic: ship it");
    bea.expect("*** ana set the topic: ship it");
    bea.send("hello dev");
    ana.expect("<bea> hello dev");
    // Lines of the default room reach ana with its name in front, now that #dev is current.
    cy.send("hello general");
    ana.expect("#general <cy> hello general");
    bea.expect("#general <cy> hello general");

    // A room on node a alone: node b does not even hear its channel, so none of its lines reach b.
    ana.send("/join #solo");
    ana.expect("*** you joined #solo");
    ana.expect("*** online (1): ana");
    for i in 0..50 {
        ana.send(&format!("solo {i}"));
    }
    assert_eq!(listeners(&redis, "#solo"), "1");
    assert_eq!(listeners(&redis, "#dev"), "2");
    assert!(
        redis
            .cli(&["CLIENT", "LIST"])
            .lines()
            .any(|l| l.contains("name=pollchat-b ") && l.contains(" sub=2 ")),
        "node b hears pollchat:events and #dev only: {}",
        redis.cli(&["CLIENT", "LIST"])
    );
    // Every room is listed on every node, and anyone may ask who is in one.
    cy.send("/rooms");
    cy.expect("*** rooms (3): #dev (2), #general (3, current), #solo (1)");
    cy.send("/list #solo");
    cy.expect("#solo *** online (1): ana");
    assert!(
        cy.lines_before_sync().iter().all(|l| !l.contains("solo ")),
        "a user of node b saw a line of #solo"
    );

    // A newcomer to #dev on node b gets its topic and history, said on both nodes.
    let mut dan = b.join("dan");
    dan.send("/join #dev");
    dan.skip_until(|l| l == "*** you joined #dev");
    dan.expect("*** topic: ship it");
    dan.expect("*** recent messages (1):");
    dan.expect_history("<bea> hello dev");
    dan.expect("*** online (3): ana, bea, dan");

    // A quit is announced once in each of the user's rooms, wherever its members are.
    ana.send("/quit bye all");
    let first = bea.skip_until(|l| l.contains("*** ana left"));
    let mut both = [first, bea.line()];
    both.sort();
    assert_eq!(
        both,
        ["#general *** ana left (bye all)", "*** ana left (bye all)"]
    );
    dan.skip_until(|l| l == "*** ana left (bye all)");
    // #solo went with its last member, in Redis too; node a no longer hears #dev.
    bea.send("/rooms");
    bea.skip_until(|l| l == "*** rooms (2): #dev (2, current), #general (3, joined)");
    assert_eq!(listeners(&redis, "#dev"), "1");
    assert_eq!(
        redis
            .cli(&[
                "EXISTS",
                "pollchat:room:#solo:members",
                "pollchat:room:#solo:history"
            ])
            .trim(),
        "0"
    );
    // A part goes to the room's members on the other node too.
    bea.send("/part #dev gone fishing");
    bea.expect("*** you left #dev");
    bea.expect("*** now talking in #general");
    dan.expect("*** bea left (gone fishing)");
}

#[test]
fn rooms_and_their_topics_heal_after_redis_comes_back_empty() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b) = (node(&redis, "a", &[]), node(&redis, "b", &[]));
    let mut ana = a.join("ana");
    let mut bea = b.join("bea");
    ana.skip_until(|l| l == "*** bea joined");
    for client in [&mut ana, &mut bea] {
        client.send("/join #dev");
        client.skip_until(|l| l.starts_with("*** online ("));
    }
    ana.skip_until(|l| l == "*** bea joined");
    ana.send("/topic ship it");
    bea.skip_until(|l| l == "*** ana set the topic: ship it");
    // And the default room's, set by a user of node b who stays in it.
    let mut eve = b.join("eve");
    eve.send("/topic all hands");
    eve.skip_until(|l| l == "*** eve set the topic: all hands");
    ana.skip_until(|l| l == "#general *** eve set the topic: all hands");

    redis.restart(); // Empty: the nodes claim their users' rooms again, and the rooms' topics.
    for client in [&mut ana, &mut bea] {
        client.skip_until(|l| l == "*** cluster link restored");
    }
    ana.send("after the outage");
    bea.skip_until(|l| l == "<ana> after the outage");
    let mut cy = b.join("cy");
    cy.send("/list #dev");
    cy.expect("#dev *** online (2): ana, bea");
    cy.send("/join #dev");
    cy.skip_until(|l| l == "*** online (3): ana, bea, cy");
    ana.skip_until(|l| l == "*** cy joined");
    // A node with nobody in #dev learns its topic, and the default room's, from Redis, which had
    // lost them: the nodes that knew them gave them back.
    let c = node(&redis, "c", &[]);
    let mut dan = c.connect_prompted();
    dan.send("dan");
    dan.expect("*** you are dan");
    dan.expect("*** topic: all hands");
    dan.send("/join #dev");
    dan.skip_until(|l| l == "*** you joined #dev");
    dan.expect("*** topic: ship it");
}

#[test]
fn a_room_newcomer_on_either_node_gets_history_then_live_lines_never_twice_or_missing() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (
        node(&redis, "a", &["--history", "50"]),
        node(&redis, "b", &["--history", "50"]),
    );
    let mut ana = a.join("ana");
    ana.send("/join #dev");
    ana.skip_until(|l| l.starts_with("*** online ("));
    for i in 0..10 {
        ana.send(&format!("{i}"));
    }
    // Lines keep coming in #dev while a user of the other node and one of the same node join it.
    let (mut far, mut near) = (b.join("far"), a.join("near"));
    for i in 10..400 {
        ana.send(&format!("{i}"));
        if i == 150 {
            far.send("/join #dev");
        }
        if i == 250 {
            near.send("/join #dev");
        }
    }
    for newcomer in [&mut far, &mut near] {
        newcomer.skip_until(|l| l == "*** you joined #dev");
        history_then_live_up_to(newcomer, 399);
    }
}

/// One sample of a node's `--metrics` page (its scrape over a real socket), by series name.
fn scrape(node: &Server, series: &str) -> u64 {
    use std::io::{Read, Write};
    let addr = node.metrics.expect("the node was started with --metrics");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the metrics listener");
    stream
        .set_read_timeout(Some(common::READ_TIMEOUT))
        .expect("timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
        .expect("send");
    let mut page = String::new();
    stream.read_to_string(&mut page).expect("read the page");
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{page}"))
}

#[test]
fn metrics_show_the_cluster_link_and_the_redis_commands() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let a = node(&redis, "a", &["--metrics", "127.0.0.1:0"]);
    assert_eq!(scrape(&a, "pollchat_cluster_up"), 1);
    let linked = scrape(&a, "pollchat_redis_commands_total");
    assert!(linked > 0, "the link's handshake is commands too");
    // A join is claimed in Redis, a line is sent through it: more commands.
    let mut ana = a.join("ana");
    ana.send("hello");
    ana.send("/list"); // Answered after "hello" was handed to the cluster.
    ana.skip_until(|l| l.starts_with("*** online ("));
    assert!(scrape(&a, "pollchat_redis_commands_total") >= linked + 2);

    redis.stop();
    ana.expect("*** cluster link lost; local users only");
    assert_eq!(scrape(&a, "pollchat_cluster_up"), 0);
    let before = scrape(&a, "pollchat_redis_commands_total");
    redis.restart();
    ana.skip_until(|l| l == "*** cluster link restored");
    assert_eq!(scrape(&a, "pollchat_cluster_up"), 1);
    // Counted over every link made, not only the current one.
    assert!(scrape(&a, "pollchat_redis_commands_total") > before);
}

#[test]
fn irc_users_on_two_nodes_share_rooms_with_each_other_and_with_line_users() {
    let Some(redis) = Redis::start() else { return };
    let faces = ["--irc", "127.0.0.1:0", "--web", "127.0.0.1:0"];
    let (a, b) = (node(&redis, "a", &faces), node(&redis, "b", &faces));
    let mut ana = Irc::register(&a, "ana");
    let mut bea = Irc::register(&b, "bea");
    let mut cid = a.join("cid");
    ana.skip_until(":bea!bea@pollchat JOIN #general");
    // An IRC user on node a and a browser's user on node b talk.
    let mut web = Ws::join(b.web.expect("node b's web address"), "webby");
    ana.skip_until(":webby!webby@pollchat JOIN #general");
    ana.send("PRIVMSG #general :hello browser");
    web.skip_to("<ana> hello browser");
    web.text("hello irc");
    ana.skip_until(":webby!webby@pollchat PRIVMSG #general :hello irc");

    // A room spanning both nodes, joined from IRC on each.
    ana.send("JOIN #dev");
    ana.skip_until(":irc.pollchat 366 ana #dev ");
    bea.send("JOIN #dev");
    bea.skip_until(":irc.pollchat 366 bea #dev ");
    ana.skip_until(":bea!bea@pollchat JOIN #dev");
    ana.send("PRIVMSG #dev :hello from node a");
    bea.skip_until(":ana!ana@pollchat PRIVMSG #dev :hello from node a");
    // An IRC user on node b talks in the default room: a line user on node a reads it.
    bea.send("PRIVMSG #general :hi cid");
    cid.skip_until(|l| l == "<bea> hi cid");
    // And a private message crosses nodes both ways.
    cid.send("/msg bea psst, bea");
    bea.skip_until(":cid!cid@pollchat PRIVMSG bea :psst, bea");
    bea.send("PRIVMSG cid :back at you");
    cid.skip_until(|l| l == "[bea -> you] back at you");
    // One JOIN, two rooms: each join waits for Redis, the second after the first.
    ana.send("JOIN #ops,#qa");
    let mut lines = vec![ana.skip_until(":irc.pollchat 366 ana #ops ")];
    loop {
        let line = ana.line();
        let done = line.starts_with(":irc.pollchat 366 ana #qa ");
        lines.push(line);
        if done {
            break;
        }
    }
    assert!(
        lines.iter().any(|l| l == ":ana!ana@pollchat JOIN #qa")
            && !lines.iter().any(|l| l.contains("request")),
        "{lines:?}"
    );
    // Both memberships are in Redis: node b, with nobody in #qa, names ana in it.
    bea.send("NAMES #qa");
    assert_eq!(
        bea.skip_until(":irc.pollchat 353 bea "),
        ":irc.pollchat 353 bea = #qa ana"
    );
    // Quitting on node b is seen on node a, in the shared room.
    bea.send("QUIT :bye all");
    ana.skip_until(":bea!bea@pollchat QUIT :bye all");
}

#[test]
fn irc_list_who_and_refusals_across_nodes() {
    let Some(redis) = Redis::start() else { return };
    let irc = ["--irc", "127.0.0.1:0", "--max-rooms", "3"];
    let (a, b) = (node(&redis, "a", &irc), node(&redis, "b", &irc));
    let mut ana = Irc::register(&a, "ana");
    let mut bea = Irc::register(&b, "bea");
    ana.skip_until(":bea!bea@pollchat JOIN #general");

    // #ops has a member on node a only: node b learns its topic from Redis.
    ana.send("JOIN #ops");
    ana.skip_until(":irc.pollchat 366 ana #ops ");
    ana.send("TOPIC #ops :on call");
    ana.expect(":ana!ana@pollchat TOPIC #ops :on call");
    // Node a's Redis commands run in order: once bea sees this one, the first is stored too.
    ana.send("TOPIC #general :welcome all");
    bea.skip_until(":ana!ana@pollchat TOPIC #general :welcome all");
    bea.send("LIST");
    bea.expect(":irc.pollchat 321 bea Channel :Users  Name");
    bea.expect(":irc.pollchat 322 bea #general 2 :welcome all");
    bea.expect(":irc.pollchat 322 bea #ops 1 :on call");
    bea.expect(":irc.pollchat 323 bea :End of /LIST");

    // WHO of a room with nobody on this node: its members come from Redis.
    bea.send("WHO #ops");
    bea.expect(":irc.pollchat 352 bea #ops ana pollchat irc.pollchat ana H :0 ana");
    bea.expect(":irc.pollchat 315 bea #ops :End of WHO list");
    bea.send("WHO ana");
    bea.expect(":irc.pollchat 352 bea * ana pollchat irc.pollchat ana H :0 ana");
    bea.expect(":irc.pollchat 315 bea ana :End of WHO list");

    // Refusals that come back from Redis are numerics too.
    bea.send("PRIVMSG zed :anyone?");
    bea.expect(":irc.pollchat 401 bea zed :No such nick/channel");
    bea.send("NAMES #nowhere");
    bea.expect(":irc.pollchat 403 bea #nowhere :No such channel");
    bea.send("JOIN #dev");
    bea.skip_until(":irc.pollchat 366 bea #dev ");
    // #general, #ops and #dev: the cluster has its three rooms.
    bea.send("JOIN #more");
    bea.expect(":irc.pollchat 405 bea #more :the server has 3 rooms, the most allowed");
}
