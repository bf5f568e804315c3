//! Bad input and limits: each one sent over a real socket, and each time the others are unaffected.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{Client, Server};

#[test]
fn a_silent_connection_is_closed_after_the_name_timeout() {
    let server = Server::start(&["--name-timeout", "1", "--tick-ms", "50"]);
    let mut ana = server.join("ana");
    let mut silent = server.connect_prompted();
    assert_eq!(
        silent.expect_closed(),
        ["! no name given within 1 s; closing"]
    );
    // A user who did give a name is not affected.
    ana.send("/list");
    ana.expect("*** online (1): ana");
}

#[test]
fn an_overlong_line_is_refused_and_the_connection_goes_on() {
    let server = Server::start(&["--max-line", "64"]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    ana.send(&"x".repeat(65));
    ana.expect("! line too long (the limit is 64 bytes); it was discarded");
    // Exactly at the limit, with \r\n, is fine.
    ana.send_raw(format!("{}\r\n", "y".repeat(64)).as_bytes());
    bea.expect(&format!("<ana> {}", "y".repeat(64)));
    // A long line in many small pieces is refused once, and its tail is not taken for a new line.
    for _ in 0..100 {
        ana.send_raw(&[b'z'; 50]);
    }
    ana.send_raw(b"\nafter\n");
    ana.expect("! line too long (the limit is 64 bytes); it was discarded");
    bea.expect("<ana> after");
    assert!(ana.lines_before_sync().is_empty());
}

#[test]
fn escape_sequences_controls_and_bidi_overrides_are_stripped() {
    let server = Server::start(&[]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    let cases: &[(&[u8], &str)] = &[
        (b"\x1b[2J\x1b[31mred\x1b[0m", "<ana> red"),
        (b"title\x1b]0;pwned\x07 here", "<ana> title here"),
        (b"clip\x1b]52;c;ZXZpbA==\x1b\\board", "<ana> clipboard"),
        (b"a\x00b\x07c\x08d\x7fe\rf", "<ana> abcdef"),
        (
            "gnp\u{202e}.exe \u{2066}x\u{2069} \u{9b}31m".as_bytes(),
            "<ana> gnp.exe x ",
        ),
        (b"tab\there", "<ana> tab here"),
        (
            b"bad \xfe\xc0 utf8 \xc3",
            "<ana> bad \u{fffd}\u{fffd} utf8 \u{fffd}",
        ),
    ];
    for (input, want) in cases {
        let mut line = input.to_vec();
        line.push(b'\n');
        ana.send_raw(&line);
        bea.expect(want);
    }
}

#[test]
fn telnet_negotiation_is_removed() {
    let server = Server::start(&[]);
    let mut ana = server.join("ana");
    let mut tel = server.connect_prompted();
    // IAC DO SUPPRESS-GO-AHEAD, IAC WILL TERMINAL-TYPE, a subnegotiation, then the name.
    tel.send_raw(b"\xff\xfd\x03\xff\xfb\x18\xff\xfa\x18\x00xterm\xff\xf0tel\r\n");
    tel.expect("*** you are tel");
    tel.skip_until(|l| l.starts_with("*** online ("));
    tel.send_raw(b"hi \xff\xf1there\r\n");
    ana.expect("*** tel joined");
    ana.expect("<tel> hi there");
}

#[test]
fn blank_lines_are_ignored() {
    let server = Server::start(&[]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    ana.send_raw(b"\n\r\n   \n\t\n\x1b[0m\n");
    assert!(
        bea.lines_before_sync().is_empty(),
        "a blank line was relayed"
    );
    assert!(
        ana.lines_before_sync().is_empty(),
        "a blank line got an answer"
    );
}

#[test]
fn beyond_max_clients_a_connection_is_told_the_server_is_full() {
    let server = Server::start(&["--max-clients", "2"]);
    let mut ana = server.join("ana");
    let bea = server.join("bea");
    for _ in 0..3 {
        // Refused connections are not counted as clients: each of these is refused alike.
        let mut extra = server.connect();
        assert_eq!(extra.expect_closed(), ["! server full"]);
    }
    // The room goes on, and a freed slot can be taken again.
    drop(bea);
    ana.skip_until(|l| l == "*** bea left (connection lost)");
    let _cai = server.join("cai");
    ana.expect("*** cai joined");
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_costs_the_others_nothing() {
    const LINES: usize = 12_000;
    const PAYLOAD: usize = 1000; // 12 MB in all: more than the kernel's socket buffers can hide.
    let server = Server::start(&["--max-queue", "262144", "--flood-rate", "0"]);
    let mut sender = server.join("sender");
    let sleeper = server.join("sleeper"); // Never reads again.
    let mut reader = server.join("reader");
    sender.skip_until(|l| l == "*** reader joined");

    // The well-behaved reader reads in its own thread while the sender pushes. It must get every
    // line, in order, and also hear that the sleeper was dropped.
    const DROPPED: &str = "*** sleeper left (too slow)";
    let reading = thread::spawn(move || {
        let mut next = 0;
        let mut saw_drop = false;
        while next < LINES || !saw_drop {
            let line = reader.line();
            if let Some(body) = line.strip_prefix("<sender> ") {
                let seq: usize = body.split(':').next().unwrap().parse().unwrap();
                assert_eq!(seq, next, "lost or reordered");
                next += 1;
            } else {
                saw_drop |= line == DROPPED;
            }
        }
    });
    let filler = "x".repeat(PAYLOAD);
    let mut burst = Vec::with_capacity(LINES * (PAYLOAD + 8));
    for i in 0..LINES {
        writeln!(burst, "{i}:{filler}").unwrap();
    }
    sender.send_raw(&burst);
    reading.join().expect("the reader missed lines");
    sender.skip_until(|l| l == DROPPED);
    server.wait_for_log("slow consumer");
    // The sleeper's connection is closed: reading what the kernel still holds ends at EOF.
    let mut sleeper = sleeper;
    sleeper.drain();
}

#[test]
fn a_flooding_client_does_not_starve_the_others() {
    let server = Server::start(&[]);
    let [flooder, mut ana, mut bea] = server.join_all(["flooder", "ana", "bea"]);
    // The flooder sends 64 MB of one endless line (refused, but it has to be read) for a while, from
    // its own thread, while ana and bea chat.
    let stream = flooder.stream().try_clone().unwrap();
    let flood = thread::spawn(move || flood_for(stream, Duration::from_secs(3)));
    for i in 0..20 {
        ana.send(&format!("ping {i}"));
        bea.skip_until(|l| l == format!("<ana> ping {i}"));
        bea.send(&format!("pong {i}"));
        ana.skip_until(|l| l == format!("<bea> pong {i}"));
    }
    flood.join().unwrap();
}

fn flood_for(mut stream: TcpStream, limit: Duration) {
    let chunk = vec![b'f'; 64 * 1024];
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < limit && sent < 64 << 20 {
        if stream.write_all(&chunk).is_err() {
            return;
        }
        sent += chunk.len();
    }
}

#[test]
fn a_client_that_floods_before_giving_a_name_cannot_hold_memory() {
    let server = Server::start(&["--max-line", "1024"]);
    let mut ana = server.join("ana");
    let mut rude = server.connect_prompted();
    rude.send_raw(&vec![b'n'; 200_000]);
    rude.expect("! line too long (the limit is 1024 bytes); it was discarded");
    rude.send_raw(b"\nrude\n");
    rude.expect("*** you are rude");
    ana.expect("*** rude joined");
}

#[test]
fn a_second_server_on_the_same_port_fails_with_one_clear_line() {
    let server = Server::start(&[]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pollchat"))
        .args(["--listen", &server.addr.to_string()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("pollchat: cannot listen on {}: ", server.addr)),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "{stderr}");
    // Connecting to the first one still works.
    let mut ana = Client::connect(server.addr);
    assert!(ana.line().starts_with("*** welcome"));
}

#[test]
fn out_of_file_descriptors_refuses_with_a_line_and_recovers() {
    // Start the server with a limit of 128 open files, 120 of them (0 to 119) already taken by
    // descriptors it inherits and does not know about: after its own (epoll, listener, spare) only a
    // few are left, far below the --max-clients it computes from the limit. Some client soon
    // makes `accept` fail with EMFILE.
    let mut command = std::process::Command::new("bash");
    command
        .arg("-c")
        .arg(concat!(
            "ulimit -n 128 && exec 3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null ",
            "8</dev/null 9</dev/null && for ((i = 0; i < 110; i++)); do exec {fd}</dev/null; done ",
            r#"&& exec "$@""#
        ))
        .arg("bash")
        .arg(env!("CARGO_BIN_EXE_pollchat"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tick-ms",
            "50",
            "--web",
            "off",
            "--irc",
            "off",
            "--max-http",
            "1",
        ]);
    let server = Server::spawn(command);
    let mut joined = Vec::new();
    loop {
        assert!(
            joined.len() < 20,
            "20 clients joined: descriptors never ran out"
        );
        let mut client = server.connect();
        let first = client.line();
        if first == "! server full (out of file descriptors)" {
            client.expect_closed();
            break;
        }
        assert!(first.starts_with("*** welcome"), "{first}");
        client.expect("*** your name?");
        let name = format!("u{}", joined.len());
        client.send(&name);
        client.expect(&format!("*** you are {name}"));
        joined.push(client);
    }
    server.wait_for_log("out of file descriptors");
    assert!(joined.len() >= 2, "only {} joined", joined.len());
    // Nothing else was disturbed, and once a descriptor is free a newcomer gets in.
    let mut first = joined.remove(0);
    let online = format!("*** online ({})", joined.len() + 1);
    first.send("/list");
    first.skip_until(|l| l.starts_with(&online));
    drop(joined.pop());
    first.skip_until(|l| l.ends_with(" left (connection lost)"));
    let _newcomer = server.join("newcomer");
    first.expect("*** newcomer joined");
}

#[test]
fn a_big_room_announces_joins_and_leaves_as_a_summary_and_paces_list() {
    let server = Server::start(&["--announce-limit", "2", "--tick-ms", "50"]);
    let mut ana = server.join("ana");
    let _bea = server.join("bea");
    ana.expect("*** bea joined");
    // The third user makes the room big: they get the number online, the others a summary.
    let mut cai = server.connect_prompted();
    cai.send("cai");
    cai.expect("*** you are cai");
    cai.expect("*** 3 online (/list to see them)");
    ana.expect("*** 1 joined");
    // (cai may also see the summary of its own join, before or after the answer.)
    cai.send("/list");
    cai.skip_until(|l| l == "*** online (3): ana, bea, cai");
    cai.send("/list");
    cai.skip_until(|l| l == "! the room is big: /list is served once every 2 s; try again shortly");
    drop(cai);
    ana.expect("*** 1 left");
}

#[test]
fn a_large_answer_never_counts_as_a_slow_consumer() {
    // 40 names of 30 characters make a /list of about 1.3 KB, over the 1 KiB queue cap.
    let server = Server::start(&["--max-queue", "1024"]);
    let mut others = Vec::new();
    for i in 0..40 {
        others.push(server.join(&format!("{i:0>30}")));
    }
    let mut ana = server.join("ana");
    ana.send("/list");
    let list = ana.line();
    assert!(
        list.starts_with("*** online (41): ") && list.len() > 1024,
        "{list}"
    );
    ana.send("/list");
    assert_eq!(ana.line(), list, "ana was dropped for a large answer");
}

#[test]
fn a_client_that_provokes_errors_without_reading_them_is_a_slow_consumer() {
    let server = Server::start(&[
        "--max-line",
        "16",
        "--max-queue",
        "65536",
        "--flood-rate",
        "0",
    ]);
    let [mut ana, rude] = server.join_all(["ana", "rude"]);
    // Each 17-byte line earns a 59-byte error line; 3 MB of them ask for 10 MB of answers that rude
    // never reads.
    let line = b"xxxxxxxxxxxxxxxxx\n".repeat(1000);
    for _ in 0..170 {
        if rude.stream().write_all(&line).is_err() {
            break;
        }
    }
    ana.skip_until(|l| l == "*** rude left (too slow)");
}
