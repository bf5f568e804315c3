//! The chat as users see it: names, broadcast, history, commands, leaving. Each test starts the real
//! server and talks to it over loopback.

mod common;

use std::time::{Duration, Instant};

use common::Server;

#[test]
fn the_name_flow_refuses_bad_and_taken_names_then_joins() {
    let server = Server::start(&[]);
    let _ana = server.join("Ana");
    let mut bea = server.connect();
    let greeting = bea.line();
    assert_eq!(greeting, "*** welcome to pollchat 0.1.0; 1 online");
    bea.expect("*** your name?");
    bea.send("ANA");
    bea.expect("! the name ANA is taken");
    bea.expect("*** your name?");
    bea.send("b e a");
    bea.expect("! a name cannot contain a space; use letters, digits, '_', '-' and '.'");
    bea.expect("*** your name?");
    bea.send(&"b".repeat(33));
    bea.expect("! a name has at most 32 characters");
    bea.expect("*** your name?");
    bea.send("");
    bea.send("Beá_2.0");
    bea.expect("*** you are Beá_2.0");
    bea.expect("*** online (2): Ana, Beá_2.0");
}

#[test]
fn a_line_goes_to_everyone_else_and_not_back_to_its_sender() {
    let server = Server::start(&[]);
    let [mut ana, mut bea, mut cai] = server.join_all(["ana", "bea", "cai"]);
    ana.send("hola a todos");
    bea.expect("<ana> hola a todos");
    cai.expect("<ana> hola a todos");
    assert!(
        ana.lines_before_sync().is_empty(),
        "the sender got its own line back"
    );
}

#[test]
fn joining_shows_the_last_lines_then_who_is_online() {
    let server = Server::start(&["--history", "2"]);
    let mut ana = server.join("ana");
    ana.send("one");
    ana.send("/me two");
    ana.send("three");
    ana.lines_before_sync();
    let mut bea = server.connect_prompted();
    bea.send("bea");
    bea.expect("*** you are bea");
    bea.expect("*** recent messages (2):");
    bea.expect_history("* ana two");
    bea.expect_history("<ana> three");
    bea.expect("*** online (2): ana, bea");
    ana.expect("*** bea joined");
}

#[test]
fn history_zero_shows_none() {
    let server = Server::start(&["--history", "0"]);
    let mut ana = server.join("ana");
    ana.send("one");
    ana.lines_before_sync();
    let mut bea = server.connect_prompted();
    bea.send("bea");
    bea.expect("*** you are bea");
    bea.expect("*** online (2): ana, bea");
}

#[test]
fn list_and_its_aliases() {
    let server = Server::start(&[]);
    let _bea = server.join("bea");
    let mut ana = server.join("ana");
    for command in ["/list", "/users", "/who", "/listar"] {
        ana.send(command);
        ana.expect("*** online (2): ana, bea");
    }
}

#[test]
fn help_lists_the_commands() {
    let server = Server::start(&[]);
    let mut ana = server.join("ana");
    ana.send("/help");
    ana.expect("*** commands:");
    let rest: Vec<String> = (0..13).map(|_| ana.line()).collect();
    assert!(rest.iter().all(|l| l.starts_with("***   /")), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("/msg NAME TEXT")));
    assert!(rest.iter().any(|l| l.contains("/join #ROOM")));
    assert!(rest.iter().any(|l| l.contains("/oper PASSWORD")));
    assert!(rest.iter().any(|l| l.contains("/kick NAME")));
    assert!(ana.lines_before_sync().is_empty());
}

#[test]
fn rename_is_announced_and_frees_the_old_name() {
    let server = Server::start(&[]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    ana.send("/name BEA");
    ana.expect("! the name BEA is taken");
    ana.send("/name anita");
    ana.expect("*** you are anita");
    bea.expect("*** ana is now anita");
    ana.send("hi");
    bea.expect("<anita> hi");
    let _other = server.join("ana"); // The old name is free again.
}

#[test]
fn actions_and_slash_escapes() {
    let server = Server::start(&[]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    ana.send("/me waves");
    bea.expect("* ana waves");
    ana.send("//shrug");
    bea.expect("<ana> /shrug");
    ana.send("/me");
    ana.expect("! usage: /me ACTION");
}

#[test]
fn private_messages_reach_only_their_target() {
    let server = Server::start(&[]);
    let [mut ana, mut bea, mut cai] = server.join_all(["ana", "Bea", "cai"]);
    ana.send("/msg bea see you at 5");
    bea.expect("[ana -> you] see you at 5");
    ana.expect("[you -> Bea] see you at 5");
    ana.send("/msg nobody hello");
    ana.expect("! no such user: nobody");
    ana.send("/msg bea");
    ana.expect("! usage: /msg NAME TEXT");
    assert!(
        cai.lines_before_sync().is_empty(),
        "a private message leaked"
    );
}

#[test]
fn unknown_commands_get_an_error_for_their_author_only() {
    let server = Server::start(&[]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    bea.send("/dance");
    bea.expect("! unknown command: /dance (try /help)");
    assert!(ana.lines_before_sync().is_empty());
}

#[test]
fn quit_says_goodbye_tells_the_others_and_closes() {
    let server = Server::start(&[]);
    let [mut ana, mut bea, mut cai] = server.join_all(["ana", "bea", "cai"]);
    bea.send("/quit back soon");
    assert_eq!(bea.expect_closed(), ["*** bye"]);
    ana.expect("*** bea left (back soon)");
    cai.expect("*** bea left (back soon)");
    cai.send("/quitar");
    assert_eq!(cai.expect_closed(), ["*** bye"]);
    ana.expect("*** cai left (quit)");
    ana.send("/list");
    ana.expect("*** online (1): ana");
}

#[test]
fn quit_before_giving_a_name_closes_quietly() {
    let server = Server::start(&[]);
    let mut ana = server.connect_prompted();
    ana.send("/exit");
    assert_eq!(ana.expect_closed(), ["*** bye"]);
}

#[test]
fn an_abrupt_disconnect_is_announced_at_once() {
    let server = Server::start(&[]);
    let [mut ana, bea] = server.join_all(["ana", "bea"]);
    drop(bea);
    ana.expect("*** bea left (connection lost)");
}

#[test]
fn a_last_line_without_newline_still_counts_and_is_answered_before_closing() {
    let server = Server::start(&[]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    bea.send_raw(b"/list\nlast words");
    bea.shutdown_write();
    // What bea asked for before closing its side is still delivered, then the server closes.
    assert_eq!(bea.expect_closed(), ["*** online (2): ana, bea"]);
    ana.expect("<bea> last words");
    ana.expect("*** bea left (connection lost)");
}

/// Lines that reach the server within the write window (`--coalesce-us`) wait for its end and leave
/// in one write to each recipient. The window is the longest allowed, 0.1 s: nothing can arrive before it
/// ends (a bound a slow machine cannot break), and a second sender's line sent right after the first
/// is in the same write, so a third client's one read gets both.
#[test]
fn lines_arriving_within_the_write_window_share_one_write() {
    let window = Duration::from_millis(100);
    let micros = window.as_micros().to_string();
    let server = Server::start(&["--coalesce-us", &micros]);
    let [mut ana, mut bea, mut cai] = server.join_all(["ana", "bea", "cai"]);
    assert!(cai.lines_before_sync().is_empty());
    let sent = Instant::now();
    ana.send("first");
    bea.send("second");
    assert_eq!(cai.read_once(), "<ana> first\n<bea> second\n");
    assert!(sent.elapsed() >= window, "written before the window ended");
}

#[test]
fn many_lines_in_one_write_all_arrive_in_order() {
    // Flood control off: this is about framing, not pacing (tests/flood.rs paces a paste).
    let server = Server::start(&["--flood-rate", "0"]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    let burst: String = (0..2000).map(|i| format!("line {i}\r\n")).collect();
    ana.send_raw(burst.as_bytes());
    for i in 0..2000 {
        bea.expect(&format!("<ana> line {i}"));
    }
}

#[test]
fn ipv6_loopback_works() {
    let server = Server::start_on("[::1]:0", &[]);
    assert!(server.addr.is_ipv6());
    let mut ana = server.join("ana");
    ana.send("/list");
    ana.expect("*** online (1): ana");
}
