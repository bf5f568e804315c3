//! Moderators over real sockets: `/oper`, a kick seen by the kicked user and by the room, a ban by
//! name that turns a reconnect from 127.0.0.1 away before the name prompt, `--ban-file` across a
//! restart, and the start-up errors of `--oper-password-file`.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::Server;
use common::irc::Irc;

/// A file in the tests' scratch directory, with `text` in it.
fn scratch_file(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("moderation-{}-{name}", std::process::id()));
    fs::write(&path, text).expect("write scratch file");
    path
}

fn password_file(name: &str) -> PathBuf {
    scratch_file(name, "  letmein \n# the rest is not read\n")
}

/// An IRC client keeps its member lists from JOIN, PART and QUIT: a removal must be one of them, or
/// the kicked user would stay in its channel list.
#[test]
fn an_irc_user_sees_a_removal_as_a_quit() {
    let password = password_file("kick-irc");
    let server = Server::start(&[
        "--oper-password-file",
        password.to_str().unwrap(),
        "--irc",
        "127.0.0.1:0",
    ]);
    let [mut teacher, mut ana] = server.join_all(["teacher", "ana"]);
    let mut cy = Irc::register(&server, "cy");
    teacher.expect("*** cy joined");
    ana.send("/join #dev");
    ana.skip_until(|l| l.starts_with("*** online ("));
    cy.send("JOIN #dev");
    cy.skip_until(":irc.pollchat 366 cy #dev ");
    teacher.send("/oper letmein");
    teacher.expect("*** you are now an operator");
    teacher.send("/kick ana spam");
    // One QUIT for both shared channels, with what happened as its reason.
    cy.skip_until(":ana!ana@pollchat QUIT :removed by teacher (spam)");
    let after = cy.lines_before_pong();
    assert!(
        !after.iter().any(|l| l.contains("ana")),
        "more about ana: {after:?}"
    );
    // The line face's wording is unchanged.
    teacher.expect("*** ana was removed by teacher (spam)");
}

#[test]
fn an_irc_user_becomes_an_operator_with_oper() {
    let password = password_file("oper-irc");
    let server = Server::start(&[
        "--oper-password-file",
        password.to_str().unwrap(),
        "--irc",
        "127.0.0.1:0",
    ]);
    let mut bea = server.join("bea");
    let mut cy = Irc::register(&server, "cy");
    bea.expect("*** cy joined");
    cy.send("OPER");
    cy.expect(":irc.pollchat 461 cy OPER :Not enough parameters");
    cy.send("KICK #general bea :too loud");
    cy.expect(":irc.pollchat 481 cy :only operators may use /kick");
    // A trailing list is no list of nicks: nobody is kicked for "eve".
    cy.send("KICK #general :bea eve");
    cy.expect(":irc.pollchat 401 cy * :No such nick/channel");
    cy.send("OPER cy :letmein");
    cy.expect(":irc.pollchat 381 cy :you are now an operator");
    bea.send("/list");
    bea.expect("*** online (2): bea, @cy");
    // A wrong password, and another try too soon after it: 464 with pollchat's words.
    let mut eve = Irc::register(&server, "eve");
    bea.expect("*** eve joined");
    eve.send("OPER eve guess");
    eve.expect(":irc.pollchat 464 eve :wrong password");
    eve.send("OPER eve letmein");
    eve.expect(":irc.pollchat 464 eve :too soon after a wrong password; try again in 2 s");
    // An operator's KICK is pollchat's /kick: out of the chat, everyone told.
    cy.skip_until(":eve!eve@pollchat JOIN #general");
    cy.send("KICK #general bea,eve :too loud");
    assert_eq!(bea.expect_closed(), ["! you were removed by cy (too loud)"]);
    cy.skip_until(":bea!bea@pollchat QUIT :removed by cy (too loud)");
    cy.skip_until(":eve!eve@pollchat QUIT :removed by cy (too loud)");
    let last = eve.0.expect_closed();
    assert_eq!(
        last.last().map(String::as_str),
        Some(":irc.pollchat ERROR :Closing link (removed by cy (too loud))\r")
    );
    // Operators without a password file: 491.
    let plain = Server::start(&["--irc", "127.0.0.1:0"]);
    let mut dee = Irc::register(&plain, "dee");
    dee.send("OPER dee letmein");
    dee.expect(":irc.pollchat 491 dee :there are no operators on this server");
}

#[test]
fn an_operator_kicks_and_the_kicked_user_and_the_room_are_told() {
    let password = password_file("kick");
    let server = Server::start(&["--oper-password-file", password.to_str().unwrap()]);
    let [mut teacher, mut ana, mut bea] = server.join_all(["teacher", "ana", "bea"]);

    // Not an operator yet.
    teacher.send("/kick ana");
    teacher.expect("! only operators may use /kick");
    teacher.send("/oper letmein");
    teacher.expect("*** you are now an operator");
    bea.send("/list");
    bea.expect("*** online (3): ana, bea, @teacher");

    // A wrong password: a line, and a log line with the peer's address.
    ana.send("/oper guess");
    ana.expect("! wrong password");
    server.wait_for_log("#1 ana from 127.0.0.1: wrong /oper password");

    ana.send("/join #dev");
    ana.skip_until(|l| l.starts_with("*** online ("));
    teacher.send("/kick ana stop spamming");
    // ana's last line says why; then the connection is closed.
    assert_eq!(
        ana.expect_closed(),
        ["! you were removed by teacher (stop spamming)"]
    );
    // #general hears it once, instead of the ordinary leave line (#dev had only ana).
    bea.expect("*** ana was removed by teacher (stop spamming)");
    teacher.expect("*** ana was removed by teacher (stop spamming)");
    assert!(bea.lines_before_sync().is_empty());
    teacher.send("/kick teacher");
    teacher.expect("! you cannot remove yourself");
}

#[test]
fn a_ban_by_name_turns_a_reconnect_from_loopback_away() {
    let password = password_file("ban");
    let server = Server::start(&["--oper-password-file", password.to_str().unwrap()]);
    let [mut teacher, mut troll, mut bea] = server.join_all(["teacher", "troll", "bea"]);
    teacher.send("/oper letmein");
    teacher.expect("*** you are now an operator");
    teacher.send("/ban troll 5");
    teacher.expect("*** banned 127.0.0.1 for 5 minutes");
    assert_eq!(
        troll.expect_closed(),
        ["! you were removed by teacher (banned for 5 minutes)"]
    );
    bea.expect("*** troll was removed by teacher (banned for 5 minutes)");
    teacher.expect("*** troll was removed by teacher (banned for 5 minutes)");

    // A new connection from the banned address: one line, no greeting, a graceful close.
    let mut again = server.connect();
    assert_eq!(again.expect_closed(), ["! you are banned"]);
    // Those already connected from it stay.
    bea.send("still here");
    teacher.expect("<bea> still here");

    teacher.send("/bans");
    teacher.expect("*** bans (1): 127.0.0.1 (5 min left)");
    teacher.send("/unban 127.0.0.1");
    teacher.expect("*** unbanned 127.0.0.1");
    let mut back = server.connect_prompted();
    back.send("troll");
    back.expect("*** you are troll");
}

#[test]
fn bans_survive_a_restart_through_the_ban_file() {
    let password = password_file("restart");
    let bans = scratch_file("bans", "");
    let args = [
        "--oper-password-file",
        password.to_str().unwrap(),
        "--ban-file",
        bans.to_str().unwrap(),
    ];
    {
        let server = Server::start(&args);
        let mut teacher = server.join("teacher");
        teacher.send("/oper letmein");
        teacher.expect("*** you are now an operator");
        teacher.send("/ban 2001:db8:1:2::5 120");
        teacher.expect("*** banned 2001:db8:1:2::/64 for 120 minutes");
        teacher.send("/ban 127.0.0.1");
        teacher.expect("*** banned 127.0.0.1 for 60 minutes");
        // The file is written before the answer is sent.
        let text = fs::read_to_string(&bans).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("127.0.0.1 "), "{text}");
        assert!(lines[1].starts_with("2001:db8:1:2::/64 "), "{text}");
    }
    // A line written by hand that makes no sense is logged and skipped.
    let mut text = fs::read_to_string(&bans).unwrap();
    text.push_str("not a ban\n");
    fs::write(&bans, text).unwrap();

    let server = Server::start(&args);
    let mut refused = server.connect();
    assert_eq!(refused.expect_closed(), ["! you are banned"]);
    server.wait_for_log("skipped line 3: not a ban");
    server.wait_for_log("2 bans read from");
}

#[test]
fn an_unreadable_or_empty_password_file_is_a_usage_error() {
    let empty = scratch_file("empty", "\n");
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-password-file");
    for (file, why) in [
        (&empty, "the first line is empty"),
        (&missing, "No such file"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_pollchat"))
            .args(["--listen", "127.0.0.1:0", "--web", "off", "--irc", "off"])
            .arg("--oper-password-file")
            .arg(file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--oper-password-file"), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
    }
}

#[test]
fn without_the_flag_there_are_no_operators() {
    let server = Server::start(&[]);
    let mut ana = server.join("ana");
    ana.send("/oper letmein");
    ana.expect("! there are no operators on this server");
}
