//! Flood control and the slow-consumer rule, on real sockets: a flooder is slowed down by not being
//! read, never by losing anyone else; a paste arrives whole (from a line client or an IRC one); a
//! reader at full speed is never taken for a slow one; and the limits on connections per address
//! and on descriptors hold.

mod common;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::irc::Irc;
use common::{Client, Server};

/// Sends `line` over and over, as `yes line | nc` does, until `limit` has passed. Each write gives up
/// after a short timeout, so that a server that stopped reading (a closed TCP window) cannot block
/// this thread past the limit. Returns the bytes the kernel took.
fn yes(mut stream: TcpStream, line: &str, limit: Duration) -> usize {
    stream
        .set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let chunk = line.repeat(64 * 1024 / line.len());
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < limit {
        match stream.write(chunk.as_bytes()) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break, // Closed by the server.
        }
    }
    sent
}

#[test]
fn a_flooder_is_slowed_down_and_nobody_else_pays() {
    const FLOOD: Duration = Duration::from_secs(3);
    let server = Server::start(&[]);
    let [flooder, mut fast, mut chatter] = server.join_all(["flooder", "fast", "chatter"]);
    // A reader with a small receive buffer that reads a little at a time.
    let slow_stream = {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&server.addr.into()).unwrap();
        TcpStream::from(socket)
    };
    let mut slow = Client::from_stream(slow_stream);
    slow.skip_until(|l| l == "*** your name?");
    slow.send("slow");
    slow.skip_until(|l| l.starts_with("*** online ("));
    for client in [&mut fast, &mut chatter] {
        client.skip_until(|l| l == "*** slow joined");
    }

    let start = Instant::now();
    let stream = flooder.stream().try_clone().unwrap();
    let flood = thread::spawn(move || yes(stream, "spam\n", FLOOD));
    // The chatter talks like a person throughout the flood; each line must reach both readers at
    // once, however much the flooder has sent. (The pause paces the chatter; nothing waits on it.)
    let mut floods_seen = 0;
    for i in 0..8 {
        let line = format!("<chatter> still here {i}");
        chatter.send(&format!("still here {i}"));
        let sent = Instant::now();
        floods_seen += skip_flood_until(&mut fast, &line);
        skip_flood_until(&mut slow, &line);
        let took = sent.elapsed();
        assert!(took < Duration::from_secs(1), "line {i} took {took:?}");
        thread::sleep(Duration::from_millis(300));
    }
    let elapsed = start.elapsed().as_secs_f64();
    // At most the burst, then 2 a second.
    let most = 10 + (2.0 * elapsed).ceil() as usize;
    assert!(
        (10..=most).contains(&floods_seen),
        "{floods_seen} flood lines relayed in {elapsed:.1} s (most {most})"
    );
    let sent = flood.join().unwrap();
    assert!(sent > 1 << 20, "the flooder sent only {sent} bytes");
    // Nobody was dropped: everyone still answers, and the log names no slow consumer.
    for client in [&mut fast, &mut slow, &mut chatter] {
        client.send("/list");
        client.skip_until(|l| l.starts_with("*** online (4)"));
    }
    assert!(!server.log().contains("slow consumer"), "{}", server.log());
}

/// Reads lines up to `want`, which must come before anything but the flooder's lines; returns how
/// many of those came first.
fn skip_flood_until(client: &mut Client, want: &str) -> usize {
    let mut floods = 0;
    loop {
        let line = client.line();
        if line == want {
            return floods;
        }
        assert_eq!(line, "<flooder> spam", "waiting for {want:?}");
        floods += 1;
    }
}

#[test]
fn a_paste_arrives_whole_and_in_order_only_slower() {
    let server = Server::start(&["--flood-burst", "10", "--flood-rate", "20"]);
    let [mut paster, mut reader] = server.join_all(["paster", "reader"]);
    let paste: String = (0..60).map(|i| format!("pasted line {i}\n")).collect();
    paster.send_raw(paste.as_bytes());
    for i in 0..60 {
        reader.expect(&format!("<paster> pasted line {i}"));
    }
    // The paster was held back, not cut off.
    paster.send("done");
    reader.expect("<paster> done");
    assert!(paster.lines_before_sync().is_empty());
}

/// The same from an IRC client (irssi pastes as one PRIVMSG per line, sent together): one token per
/// IRC line, held back by not reading, nothing lost, nothing reordered, and the IRC reader in the
/// room gets every line as the paster's PRIVMSG.
#[test]
fn an_irc_paste_arrives_whole_and_in_order_only_slower() {
    let server = Server::start(&[
        "--flood-burst",
        "10",
        "--flood-rate",
        "20",
        "--irc",
        "127.0.0.1:0",
    ]);
    let mut paster = Irc::register(&server, "paster");
    let mut irc_reader = Irc::register(&server, "ircreader");
    let mut reader = server.join("reader");
    paster.skip_until(":reader!reader@pollchat JOIN #general");
    irc_reader.skip_until(":reader!reader@pollchat JOIN #general");
    let paste: String = (0..60)
        .map(|i| format!("PRIVMSG #general :pasted line {i}\r\n"))
        .collect();
    paster.0.send_raw(paste.as_bytes());
    for i in 0..60 {
        reader.expect(&format!("<paster> pasted line {i}"));
        irc_reader.expect(&format!(
            ":paster!paster@pollchat PRIVMSG #general :pasted line {i}"
        ));
    }
    // Held back, not cut off: a PING after the paste is answered, with nothing before it.
    assert!(paster.lines_before_pong().is_empty());
}

#[test]
fn a_flooder_held_back_too_long_is_disconnected_and_the_room_goes_on() {
    let server = Server::start(&["--flood-kick-secs", "1", "--tick-ms", "50"]);
    let [flooder, mut ana, mut bea] = server.join_all(["flooder", "ana", "bea"]);
    let stream = flooder.stream().try_clone().unwrap();
    let flood = thread::spawn(move || yes(stream, "spam\n", Duration::from_secs(3)));
    let mut flooder = flooder;
    flooder.skip_until(|l| l == "! flooding; disconnected");
    flooder.expect_closed();
    ana.skip_until(|l| l == "*** flooder left (flooding)");
    bea.skip_until(|l| l == "*** flooder left (flooding)");
    ana.send("it is quiet again");
    bea.expect("<ana> it is quiet again");
    flood.join().unwrap();
    server.wait_for_log("held back by flood control");
}

#[test]
fn someone_within_the_rate_is_never_cut_off() {
    let server = Server::start(&[
        "--flood-burst",
        "2",
        "--flood-rate",
        "20",
        "--flood-kick-secs",
        "1",
    ]);
    let [mut steady, mut reader] = server.join_all(["steady", "reader"]);
    // Twice the kick time at the rate: held back now and then (a burst of 2, then waits of 50 ms),
    // but its input runs dry between lines, so it is never kicked.
    for i in 0..40 {
        steady.send(&format!("line {i}"));
        reader.expect(&format!("<steady> line {i}"));
        thread::sleep(Duration::from_millis(50)); // Paces the sender at the rate.
    }
    assert!(steady.lines_before_sync().is_empty());
}

#[test]
fn without_flood_control_a_burst_arrives_at_once() {
    let server = Server::start(&["--flood-rate", "0"]);
    let [mut sender, mut reader] = server.join_all(["sender", "reader"]);
    let burst: String = (0..3000).map(|i| format!("{i}\n")).collect();
    sender.send_raw(burst.as_bytes());
    for i in 0..3000 {
        reader.expect(&format!("<sender> {i}"));
    }
}

#[test]
fn a_reader_at_full_speed_survives_a_paste_of_256_kib_of_short_lines() {
    // 131,072 lines of `y`, each relayed as 37 bytes with a 32-character name: 4.6 MB for each
    // reader, from one paste. The cap is judged only after the reader's socket has been tried.
    let server = Server::start(&["--flood-rate", "0"]);
    let name = "n".repeat(32);
    let [mut paster, reader] = server.join_all([name.as_str(), "reader"]);
    const LINES: usize = 131_072;
    let want = format!("<{name}> y");
    let reading = thread::spawn(move || {
        let mut reader = reader;
        for _ in 0..LINES {
            assert_eq!(reader.line(), want);
        }
        reader
    });
    paster.send_raw(&b"y\n".repeat(LINES));
    let mut reader = reading.join().expect("the reader missed lines");
    reader.send("/list");
    reader.skip_until(|l| l.starts_with("*** online (2)"));
    assert!(!server.log().contains("slow consumer"), "{}", server.log());
}

#[test]
fn a_dropped_slow_consumer_is_told_why() {
    let server = Server::start(&["--flood-rate", "0", "--max-queue", "65536"]);
    let [sender, sleeper, watcher] = server.join_all(["sender", "sleeper", "watcher"]);
    // The sender pushes 20 MB from its own thread; the sleeper does not read.
    let filler = "z".repeat(1000);
    let burst: String = (0..20_000).map(|i| format!("{i} {filler}\n")).collect();
    let sending = thread::spawn(move || {
        let mut sender = sender;
        sender.send_raw(burst.as_bytes());
        sender
    });
    // The watcher reads all along, in its own thread, and says when the sleeper is dropped.
    let (dropped, told) = std::sync::mpsc::channel();
    let watching = thread::spawn(move || {
        let mut watcher = watcher;
        watcher.skip_until(|l| l == "*** sleeper left (too slow)");
        dropped.send(()).unwrap();
        watcher.skip_until(|l| l.starts_with("<sender> 19999 "));
    });
    told.recv().unwrap();
    // The sleeper wakes up as soon as it is dropped, and reads: the chat lines its socket held,
    // then the reason, then EOF (a close waits a second for a reader to take its last line).
    let mut sleeper = sleeper;
    let lines = sleeper.expect_closed();
    assert_eq!(
        lines.last().map(String::as_str),
        Some("! you were disconnected: not reading fast enough")
    );
    server.wait_for_log("most output this pass: #");
    // The watcher, reading all along, was never dropped.
    watching.join().expect("the watcher missed lines");
    let _sender = sending.join().unwrap();
}

#[test]
fn max_line_holds_for_the_line_as_relayed() {
    // 0x80 is not UTF-8: each becomes U+FFFD, three bytes. 100 of them are 300 bytes relayed.
    let server = Server::start(&["--max-line", "128"]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    let mut line = vec![0x80; 100];
    line.push(b'\n');
    ana.send_raw(&line);
    ana.expect("! line too long (the limit is 128 bytes); it was discarded");
    ana.send("fine");
    bea.expect("<ana> fine");
}

#[test]
fn one_address_cannot_take_every_slot() {
    let server = Server::start(&["--max-per-ip", "2", "--limit-loopback"]);
    let mut ana = server.join("ana");
    let bea = server.join("bea");
    let mut third = server.connect();
    assert_eq!(
        third.expect_closed(),
        ["! too many connections from your address"]
    );
    server.wait_for_log("too many connections from its address");
    drop(bea);
    ana.skip_until(|l| l == "*** bea left (connection lost)");
    let _cai = server.join("cai");
    ana.expect("*** cai joined");
}

#[test]
fn loopback_is_exempt_from_max_per_ip_by_default() {
    let server = Server::start(&["--max-per-ip", "1"]);
    let _clients = server.join_all(["ana", "bea", "cai"]);
}

#[test]
fn a_connection_still_closing_holds_its_slot() {
    let server = Server::start(&["--max-clients", "2", "--tick-ms", "50"]);
    let mut ana = server.join("ana");
    let mut bea = server.join("bea");
    // bea quits but does not close her socket: the server shuts down its side and waits up to a
    // second for hers, with the descriptor still open. Meanwhile the server is full.
    bea.send("/quit");
    bea.skip_until(|l| l == "*** bye");
    ana.skip_until(|l| l == "*** bea left (quit)");
    let mut early = server.connect();
    assert_eq!(early.expect_closed(), ["! server full"]);
    // Once bea closes too, her slot is free.
    drop(bea);
    server.wait_for_log("#1 disconnected (closed cleanly)");
    let _cai = server.join("cai");
    ana.expect("*** cai joined");
}
