//! The IRC face (`--irc`, issue 18) over raw sockets: IRC conversations with the real binary on
//! loopback, beside line (`nc`-style) users in the same rooms. Every read has a timeout; nothing
//! sleeps: each step waits for the line it expects (a `PING` and its `PONG` mark where the
//! server's answers to a step end).

mod common;

use common::Server;
use common::irc::Irc;

fn server() -> Server {
    Server::start(&["--irc", "127.0.0.1:0"])
}

#[test]
fn the_start_up_line_names_the_irc_face() {
    let server = server();
    assert!(server.irc.is_some());
    let off = Server::start(&[]);
    assert!(off.irc.is_none());
}

#[test]
fn registration_without_cap_welcomes_and_joins_the_default_room() {
    let server = server();
    let mut irc = Irc::connect(&server);
    irc.send("NICK ana");
    irc.send("USER ana 0 * :Ana Real");
    irc.expect(":irc.pollchat 001 ana :Welcome to the pollchat IRC network, ana!ana@pollchat");
    for numeric in ["002", "003", "004", "005", "422"] {
        assert!(
            irc.line()
                .starts_with(&format!(":irc.pollchat {numeric} ana "))
        );
    }
    irc.expect(":ana!ana@pollchat JOIN #general");
    irc.expect(":irc.pollchat 353 ana = #general ana");
    irc.expect(":irc.pollchat 366 ana #general :End of /NAMES list");
}

#[test]
fn registration_with_cap_waits_for_cap_end() {
    let server = server();
    let mut irc = Irc::connect(&server);
    irc.send("CAP LS 302");
    irc.expect(":irc.pollchat CAP * LS server-time");
    irc.send("NICK ana");
    irc.send("USER ana 0 * :Ana");
    irc.send("CAP REQ :multi-prefix");
    irc.expect(":irc.pollchat CAP ana NAK multi-prefix");
    // Not welcomed yet: only the PONG comes.
    assert_eq!(irc.lines_before_pong(), Vec::<String>::new());
    irc.send("CAP END");
    irc.skip_until(":irc.pollchat 001 ana ");
    irc.skip_until(":ana!ana@pollchat JOIN #general");
}

/// What HexChat sends by itself (read in its source, `proto-irc.c`, `inbound.c`, `notify.c`: it
/// cannot run here), each answered, none with 421, and the connection goes on: the login, `CAP END`
/// after an empty `CAP LS`, `MODE` and `WHO` of each channel it is put in or joins, its lag `PING`,
/// ISON for its notify list (with a trailing space), USERHOST of its own nick.
#[test]
fn what_hexchat_sends_by_itself_is_answered() {
    let server = server();
    let _bob = server.join("bob");
    let mut hexa = Irc::connect(&server);
    hexa.send("CAP LS 302");
    hexa.send("NICK hexa");
    hexa.send("USER hexa 0 * :HexChat user");
    hexa.expect(":irc.pollchat CAP * LS server-time");
    // HexChat asks for server-time whenever it is offered.
    hexa.send("CAP REQ :server-time");
    hexa.expect(":irc.pollchat CAP hexa ACK server-time");
    hexa.send("CAP END");
    hexa.skip_until(":irc.pollchat 422 hexa ");
    hexa.skip_until(":irc.pollchat 366 hexa #general ");
    for line in [
        "MODE #general",
        "WHO #general",
        "JOIN #dev",
        "MODE #dev",
        "WHO #dev",
        "PING LAG1796543610",
        "ISON bob zed ",
        "USERHOST hexa",
    ] {
        hexa.send(line);
    }
    let answers = hexa.lines_before_pong();
    for want in [
        ":irc.pollchat 324 hexa #general +n",
        ":irc.pollchat 352 hexa #general bob pollchat irc.pollchat bob H :0 bob",
        ":irc.pollchat 315 hexa #general :End of WHO list",
        ":hexa!hexa@pollchat JOIN #dev",
        ":irc.pollchat 366 hexa #dev :End of /NAMES list",
        ":irc.pollchat 324 hexa #dev +n",
        ":irc.pollchat 315 hexa #dev :End of WHO list",
        ":irc.pollchat PONG irc.pollchat LAG1796543610",
        // HexChat reads these two as if the last parameter always had its `:`.
        ":irc.pollchat 303 hexa :bob",
        ":irc.pollchat 302 hexa :hexa=+hexa@pollchat",
    ] {
        assert!(
            answers.iter().any(|a| a == want),
            "{want} not in {answers:#?}"
        );
    }
    assert!(!answers.iter().any(|a| a.contains(" 421 ")), "{answers:#?}");
}

#[test]
fn irc_and_line_users_chat_in_the_same_room() {
    let server = server();
    let mut bea = server.join("bea");
    let mut ana = Irc::register(&server, "ana");
    bea.expect("*** ana joined");

    ana.send("PRIVMSG #general :hola bea");
    bea.expect("<ana> hola bea");
    ana.send("PRIVMSG #general :\x01ACTION waves\x01");
    bea.expect("* ana waves");
    ana.send("PRIVMSG #general :/shrug");
    bea.expect("<ana> /shrug");

    bea.send("hola ana");
    ana.expect(":bea!bea@pollchat PRIVMSG #general :hola ana");
    bea.send("/me smiles");
    ana.expect(":bea!bea@pollchat PRIVMSG #general :\x01ACTION smiles\x01");

    // Private messages, both ways.
    bea.send("/msg ana psst");
    ana.expect(":bea!bea@pollchat PRIVMSG ana psst");
    bea.expect("[you -> ana] psst");
    ana.send("PRIVMSG bea :back at you");
    bea.expect("[ana -> you] back at you");
    // Not echoed to the IRC sender: its client shows what it sent.
    assert_eq!(ana.lines_before_pong(), Vec::<String>::new());
}

#[test]
fn join_names_topic_and_part() {
    let server = server();
    let mut bea = server.join("bea");
    let mut ana = Irc::register(&server, "ana");
    bea.expect("*** ana joined");
    bea.send("/join #dev");
    bea.skip_until(|l| l.starts_with("*** online ("));

    ana.send("JOIN #dev");
    ana.expect(":ana!ana@pollchat JOIN #dev");
    ana.expect(":irc.pollchat 353 ana = #dev :ana bea");
    ana.expect(":irc.pollchat 366 ana #dev :End of /NAMES list");
    bea.expect("*** ana joined");

    ana.send("NAMES #general");
    ana.expect(":irc.pollchat 353 ana = #general :ana bea");
    ana.expect(":irc.pollchat 366 ana #general :End of /NAMES list");

    ana.send("TOPIC #dev :ship it");
    ana.expect(":ana!ana@pollchat TOPIC #dev :ship it");
    bea.expect("*** ana set the topic: ship it");
    ana.send("TOPIC #dev");
    ana.expect(":irc.pollchat 332 ana #dev :ship it");

    // A line in #dev, which is not the IRC user's current room in the core.
    ana.send("PRIVMSG #dev :in dev");
    bea.expect("<ana> in dev");
    bea.send("/join #general");
    bea.expect("*** now talking in #general");
    ana.send("PRIVMSG #dev :still here");
    bea.expect("#dev <ana> still here");

    ana.send("PART #dev :bye all");
    ana.expect(":ana!ana@pollchat PART #dev :bye all");
    bea.expect("#dev *** ana left (bye all)");
    // Not in it any more: the core's refusal, as the numeric clients know.
    ana.send("PRIVMSG #dev :hello?");
    ana.expect(":irc.pollchat 442 ana #dev :You're not on that channel");

    // Back in: the topic, the history headed in the channel's own window, then the names.
    ana.send("JOIN #dev");
    ana.expect(":ana!ana@pollchat JOIN #dev");
    ana.expect(":irc.pollchat 332 ana #dev :ship it");
    ana.expect(":irc.pollchat NOTICE #dev :recent messages (2):");
    ana.expect(":ana!ana@pollchat PRIVMSG #dev :in dev");
    ana.expect(":ana!ana@pollchat PRIVMSG #dev :still here");
    ana.expect(":irc.pollchat 353 ana = #dev :ana bea");
}

#[test]
fn a_quit_reaches_line_users_and_the_irc_client_gets_error() {
    let server = server();
    let mut bea = server.join("bea");
    let mut ana = Irc::register(&server, "ana");
    bea.expect("*** ana joined");
    ana.send("QUIT :see you");
    ana.expect(":irc.pollchat ERROR :Closing link (see you)");
    bea.expect("*** ana left (see you)");
    assert_eq!(ana.0.try_line().ok().flatten(), None);
}

#[test]
fn a_line_users_quit_and_rename_reach_irc_once_though_in_two_rooms() {
    let server = server();
    let mut bea = server.join("bea");
    let mut ana = Irc::register(&server, "ana");
    bea.expect("*** ana joined");
    ana.send("JOIN #dev");
    ana.skip_until(":irc.pollchat 366 ana #dev ");
    bea.send("/join #dev");
    ana.expect(":bea!bea@pollchat JOIN #dev");
    bea.send("/name beatriz");
    ana.expect(":bea!bea@pollchat NICK beatriz");
    bea.send("/quit later");
    ana.expect(":beatriz!beatriz@pollchat QUIT later");
    assert_eq!(ana.lines_before_pong(), Vec::<String>::new());
}

#[test]
fn an_unknown_command_gets_421_and_the_connection_goes_on() {
    let server = server();
    let mut ana = Irc::register(&server, "ana");
    ana.send("FROB x y");
    ana.expect(":irc.pollchat 421 ana FROB :Unknown command");
    ana.send("MODE #general");
    ana.expect(":irc.pollchat 324 ana #general +n");
    assert_eq!(ana.lines_before_pong(), Vec::<String>::new());
}

/// One line naming many targets is capped at TARGMAX (4, repeats dropped): flood control counts
/// lines, so a line must not cost the others more than a few would.
#[test]
fn a_line_to_many_targets_reaches_four_and_says_so() {
    let server = server();
    let mut bea = server.join("bea");
    let mut ana = Irc::register(&server, "ana");
    bea.expect("*** ana joined");
    ana.send("PRIVMSG bea,BEA,zed1,zed2,zed3,zed4 :hi all");
    ana.expect(":irc.pollchat 407 ana zed4 :Too many targets: 4 at most, the rest not sent");
    bea.expect("[ana -> you] hi all");
    for zed in ["zed1", "zed2", "zed3"] {
        ana.expect(&format!(
            ":irc.pollchat 401 ana {zed} :No such nick/channel"
        ));
    }
    // Once, though named twice.
    assert!(bea.lines_before_sync().is_empty());
    // A long reason still gives the client its own PART, cut to fit.
    ana.send("JOIN #dev");
    ana.skip_until(":irc.pollchat 366 ana #dev ");
    ana.send(&format!("PART #dev :{}", "why ".repeat(110).trim_end()));
    let part = ana.line();
    assert!(
        part.starts_with(":ana!ana@pollchat PART #dev :why why "),
        "{part}"
    );
    assert!(part.len() <= 510, "{}", part.len());
}

/// What clients send on their own (modes, away) is answered with what they expect, and a command
/// short of its parameters gets 461: never a disconnect.
#[test]
fn modes_away_and_missing_parameters_are_answered() {
    let server = server();
    let mut ana = Irc::register(&server, "ana");
    let _bea = Irc::register(&server, "bea");
    ana.skip_until(":bea!bea@pollchat JOIN #general");
    for (send, want) in [
        (
            "MODE #general b",
            ":irc.pollchat 368 ana #general :End of channel ban list",
        ),
        (
            "MODE #general +o bea",
            ":irc.pollchat 482 ana #general :You're not channel operator",
        ),
        ("MODE ana", ":irc.pollchat 221 ana +"),
        (
            "MODE bea",
            ":irc.pollchat 502 ana :Cant change mode for other users",
        ),
        (
            "AWAY :lunch",
            ":irc.pollchat 306 ana :You have been marked as being away",
        ),
        (
            "AWAY",
            ":irc.pollchat 305 ana :You are no longer marked as being away",
        ),
        ("JOIN", ":irc.pollchat 461 ana JOIN :Not enough parameters"),
        ("PART", ":irc.pollchat 461 ana PART :Not enough parameters"),
        ("PRIVMSG", ":irc.pollchat 411 ana :No recipient given"),
    ] {
        ana.send(send);
        ana.expect(want);
    }
    // What the server is and what time it has.
    ana.send("VERSION");
    let version = format!("pollchat-{}", env!("CARGO_PKG_VERSION"));
    ana.expect(&format!(
        ":irc.pollchat 351 ana {version} irc.pollchat :one thread, one event loop"
    ));
    let before = unix_now();
    ana.send("TIME");
    let line = ana.line();
    let after = unix_now();
    let said = line
        .strip_prefix(":irc.pollchat 391 ana irc.pollchat ")
        .expect(&line);
    assert!(
        (before..=after).any(|t| pollchat::protocol::utc_time(t) == said),
        "{line}"
    );
    // `MODE ana +i`, which clients send on connecting, is taken without a word.
    ana.send("MODE ana +i");
    assert_eq!(ana.lines_before_pong(), Vec::<String>::new());
}

#[test]
fn bad_and_taken_nicks_get_432_and_433() {
    let server = server();
    let _bea = server.join("bea");
    let mut irc = Irc::connect(&server);
    irc.send("NICK [bea]");
    irc.expect(
        ":irc.pollchat 432 * [bea] :Erroneous nickname: a name cannot contain '['; use letters, \
         digits, '_', '-' and '.'",
    );
    irc.send("NICK Bea");
    irc.send("USER bea 0 * :Bea");
    irc.expect(":irc.pollchat 433 * Bea :Nickname is already in use");
    irc.send("NICK bea_");
    irc.skip_until(":irc.pollchat 366 bea_ #general ");
    irc.send("NICK ana|away");
    irc.expect(
        ":irc.pollchat 432 bea_ ana|away :Erroneous nickname: a name cannot contain '|'; use \
         letters, digits, '_', '-' and '.'",
    );
    irc.send("NICK ana");
    irc.skip_until(":bea_!bea_@pollchat NICK ana");
}

#[test]
fn before_registration_commands_get_451() {
    let server = server();
    let mut irc = Irc::connect(&server);
    irc.send("JOIN #general");
    irc.expect(":irc.pollchat 451 * :You have not registered");
}

#[test]
fn a_half_registered_connection_times_out() {
    let server = Server::start(&["--irc", "127.0.0.1:0", "--name-timeout", "1"]);
    let mut irc = Irc::connect(&server);
    irc.send("NICK ana");
    let last = irc.line();
    assert!(
        last.starts_with(":irc.pollchat ERROR :Closing link (") && last.contains("name"),
        "{last}"
    );
    assert_eq!(irc.0.try_line().ok().flatten(), None);
}

#[test]
fn an_idle_client_is_pinged_and_dropped_when_it_does_not_answer() {
    let server = Server::start(&["--irc", "127.0.0.1:0", "--irc-ping-secs", "1"]);
    let mut bea = server.join("bea");
    let mut ana = Irc::register(&server, "ana");
    bea.expect("*** ana joined");
    // Silent for a second: pinged. The answer keeps it, until the next silence.
    ana.expect(":irc.pollchat PING irc.pollchat");
    ana.send("PONG :irc.pollchat");
    ana.expect(":irc.pollchat PING irc.pollchat");
    // This time no answer: dropped a second after the PING, and the room hears why.
    ana.expect(":irc.pollchat ERROR :Closing link (ping timeout)");
    bea.expect("*** ana left (ping timeout)");
    assert_eq!(ana.0.try_line().ok().flatten(), None);
    // Line users are never pinged: the line protocol has no PING to answer.
    assert_eq!(bea.lines_before_sync(), Vec::<String>::new());
}

#[test]
fn refusals_come_as_the_numerics_clients_know() {
    let server = server();
    let mut ana = Irc::register(&server, "ana");
    ana.send("PRIVMSG zed :are you there");
    ana.expect(":irc.pollchat 401 ana zed :No such nick/channel");
    ana.send("PRIVMSG #nowhere :anyone");
    ana.expect(":irc.pollchat 403 ana #nowhere :No such channel");
    // A WHO of a name no room can have ends its list, and the next names list is one again.
    ana.send("WHO #a,#b");
    ana.expect(
        ":irc.pollchat 479 ana #a,#b :a room name is # and 1 to 32 letters, digits, '_', '-' or '.'",
    );
    ana.expect(":irc.pollchat 315 ana #a,#b :End of WHO list");
    ana.send("NAMES #general");
    ana.expect(":irc.pollchat 353 ana = #general ana");
    ana.expect(":irc.pollchat 366 ana #general :End of /NAMES list");
    // Two bad names in one JOIN: a 479 each, with pollchat's rule.
    ana.send("JOIN bad,#a|b");
    for room in ["bad", "#a|b"] {
        ana.expect(&format!(
            ":irc.pollchat 479 ana {room} :a room name is # and 1 to 32 letters, digits, '_', '-' \
             or '.'"
        ));
    }
    // And the connection goes on.
    assert_eq!(ana.lines_before_pong(), Vec::<String>::new());
}

#[test]
fn list_is_a_channel_list_with_topics() {
    let server = server();
    let mut ana = Irc::register(&server, "ana");
    ana.send("JOIN #dev");
    ana.skip_until(":irc.pollchat 366 ana #dev ");
    ana.send("TOPIC #dev :ship it on friday");
    ana.expect(":ana!ana@pollchat TOPIC #dev :ship it on friday");
    ana.send("LIST");
    ana.expect(":irc.pollchat 321 ana Channel :Users  Name");
    ana.expect(":irc.pollchat 322 ana #dev 1 :ship it on friday");
    ana.expect(":irc.pollchat 322 ana #general 1 :");
    ana.expect(":irc.pollchat 323 ana :End of /LIST");
}

#[test]
fn whois_names_a_user_of_any_face_or_says_there_is_none() {
    let server = server();
    let _bea = server.join("Bea");
    let mut ana = Irc::register(&server, "ana");
    ana.send("WHOIS bea");
    ana.expect(":irc.pollchat 311 ana Bea Bea pollchat * Bea");
    ana.expect(":irc.pollchat 318 ana Bea :End of /WHOIS list");
    ana.send("WHOIS zed");
    ana.expect(":irc.pollchat 401 ana zed :No such nick/channel");
    ana.expect(":irc.pollchat 318 ana zed :End of /WHOIS list");
}

/// Seconds since 1970 by this machine's clock, which is the server's.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

/// Reads what joining `room` sends after the JOIN, up to its end of names, and returns the
/// replayed history: the PRIVMSGs among it, as sent (tags included).
fn replayed_history(irc: &mut Irc, nick: &str, room: &str) -> Vec<String> {
    irc.skip_until(&format!(":{nick}!{nick}@pollchat JOIN {room}"));
    let end = format!(":irc.pollchat 366 {nick} {room} ");
    let mut history = Vec::new();
    loop {
        let line = irc.line();
        if line.starts_with(&end) {
            return history;
        }
        if line.contains(" PRIVMSG ") {
            history.push(line);
        }
    }
}

/// Splits `@time=...Z rest` into the time, to the second as the line face stamps it
/// (`2026-12-06T03:34:10Z`), and the message after the tag. Panics if the tag is not there in
/// the form the `server-time` specification requires (milliseconds included).
fn time_tagged(line: &str) -> (String, &str) {
    let tagged = line.strip_prefix("@time=");
    let (time, rest) = tagged.and_then(|t| t.split_once(' ')).expect(line);
    let seconds = time.strip_suffix(".000Z").expect(line);
    (format!("{seconds}Z"), rest)
}

#[test]
fn history_carries_server_time_for_clients_that_ask_and_nothing_for_others() {
    let server = server();
    let mut bea = server.join("bea");
    // The chat is told the time on each tick (--tick-ms, 250): its stamp may be a second behind.
    let said_from = unix_now();
    bea.send("hola");
    bea.send("/me waves");
    bea.send("/join #dev");
    bea.send("in dev");
    // The server has taken every line once it answers the next.
    bea.lines_before_sync();
    let said_by = unix_now();
    let said_then =
        |stamp: &str| (said_from - 1..=said_by).any(|t| pollchat::protocol::utc_time(t) == stamp);

    let mut ana = Irc::connect(&server);
    ana.send("CAP LS 302");
    ana.expect(":irc.pollchat CAP * LS server-time");
    ana.send("NICK ana");
    ana.send("USER ana 0 * :Ana");
    ana.send("CAP REQ :server-time");
    ana.expect(":irc.pollchat CAP ana ACK server-time");
    ana.send("CAP LIST");
    ana.expect(":irc.pollchat CAP ana LIST server-time");
    ana.send("CAP END");
    let general = replayed_history(&mut ana, "ana", "#general");
    let untagged: Vec<(String, &str)> = general.iter().map(|l| time_tagged(l)).collect();
    let messages: Vec<&str> = untagged.iter().map(|(_, rest)| *rest).collect();
    assert_eq!(
        messages,
        [
            ":bea!bea@pollchat PRIVMSG #general hola",
            ":bea!bea@pollchat PRIVMSG #general :\x01ACTION waves\x01",
        ]
    );
    for (stamp, _) in &untagged {
        assert!(said_then(stamp), "{stamp} not in {said_from}-1..={said_by}");
    }

    // Joining another room replays its history the same way, at the time the line face shows.
    ana.send("JOIN #dev");
    let dev = replayed_history(&mut ana, "ana", "#dev");
    assert_eq!(dev.len(), 1, "{dev:?}");
    let (stamp, message) = time_tagged(&dev[0]);
    assert_eq!(message, ":bea!bea@pollchat PRIVMSG #dev :in dev");
    let mut cai = server.join("cai");
    cai.send("/join #dev");
    let line = cai.skip_until(|l| l.ends_with(" <bea> in dev"));
    assert_eq!(line, format!("{stamp} <bea> in dev"));

    // A client that did not ask: today's bytes, no tags.
    let mut dan = Irc::connect(&server);
    dan.send("NICK dan");
    dan.send("USER dan 0 * :Dan");
    assert_eq!(
        replayed_history(&mut dan, "dan", "#general"),
        [
            ":bea!bea@pollchat PRIVMSG #general hola",
            ":bea!bea@pollchat PRIVMSG #general :\x01ACTION waves\x01",
        ]
    );
    // Live lines are untagged for both (docs/irc.md, *History on IRC*).
    cai.send("/join #general");
    cai.send("now");
    for irc in [&mut ana, &mut dan] {
        let live = std::iter::repeat_with(|| irc.line()).find(|l| l.contains(" PRIVMSG "));
        assert_eq!(
            live.as_deref(),
            Some(":cai!cai@pollchat PRIVMSG #general now")
        );
    }
}

#[test]
fn who_of_a_room_lists_its_members_of_every_face() {
    let server = server();
    let mut bea = server.join("bea");
    let mut ana = Irc::register(&server, "ana");
    bea.expect("*** ana joined");
    ana.send("WHO #general");
    ana.expect(":irc.pollchat 352 ana #general ana pollchat irc.pollchat ana H :0 ana");
    ana.expect(":irc.pollchat 352 ana #general bea pollchat irc.pollchat bea H :0 bea");
    ana.expect(":irc.pollchat 315 ana #general :End of WHO list");
    // NAMES after it is a names list again.
    ana.send("NAMES #general");
    ana.expect(":irc.pollchat 353 ana = #general :ana bea");
    ana.expect(":irc.pollchat 366 ana #general :End of /NAMES list");
    // A room that does not exist: an empty list.
    ana.send("WHO #nowhere");
    ana.expect(":irc.pollchat 315 ana #nowhere :End of WHO list");
}

#[test]
fn who_of_a_nick_is_that_user_or_nobody() {
    let server = server();
    let _bea = server.join("Bea");
    let mut ana = Irc::register(&server, "ana");
    ana.send("WHO bea");
    ana.expect(":irc.pollchat 352 ana * Bea pollchat irc.pollchat Bea H :0 Bea");
    ana.expect(":irc.pollchat 315 ana bea :End of WHO list");
    ana.send("WHO zed");
    ana.expect(":irc.pollchat 315 ana zed :End of WHO list");
    ana.send("WHO *");
    ana.expect(":irc.pollchat 315 ana * :End of WHO list");
}

#[test]
fn too_many_rooms_is_405() {
    let server = Server::start(&[
        "--irc",
        "127.0.0.1:0",
        "--max-rooms-per-user",
        "2",
        "--max-rooms",
        "3",
    ]);
    let mut ana = Irc::register(&server, "ana");
    ana.send("JOIN #a");
    ana.skip_until(":irc.pollchat 366 ana #a ");
    ana.send("JOIN #b");
    ana.expect(":irc.pollchat 405 ana #b :you are in 2 rooms, the most allowed; /part one first");
    // The server's own limit: #general, #a and #c are its three rooms.
    let mut bea = Irc::register(&server, "bea");
    bea.send("JOIN #c");
    bea.skip_until(":irc.pollchat 366 bea #c ");
    let mut cai = Irc::register(&server, "cai");
    cai.send("JOIN #d");
    cai.expect(":irc.pollchat 405 cai #d :the server has 3 rooms, the most allowed");
}

#[test]
fn a_big_rooms_member_list_asked_again_too_soon_is_263() {
    // Over one member, #general is big: a newcomer is told the count, WHO counts too, and the
    // member list is served once every 2 s per user.
    let server = Server::start(&["--irc", "127.0.0.1:0", "--announce-limit", "1"]);
    let _bea = server.join("bea");
    let mut ana = Irc::register(&server, "ana");
    ana.expect(":irc.pollchat NOTICE ana :2 online (/list to see them)");
    ana.send("NAMES #general");
    ana.expect(":irc.pollchat 353 ana = #general :ana bea");
    ana.expect(":irc.pollchat 366 ana #general :End of /NAMES list");
    ana.send("NAMES #general");
    ana.expect(
        ":irc.pollchat 263 ana NAMES :Please wait a while and try again: #general is big, its \
         member list is served once every 2 s",
    );
    ana.expect(":irc.pollchat 366 ana #general :End of /NAMES list");
    ana.send("WHO #general");
    ana.expect(
        ":irc.pollchat 263 ana WHO :Please wait a while and try again: #general is big, its \
         member list is served once every 2 s",
    );
    ana.expect(":irc.pollchat 315 ana #general :End of WHO list");
}

#[test]
fn who_of_a_big_room_counts_it() {
    let server = Server::start(&["--irc", "127.0.0.1:0", "--announce-limit", "1"]);
    let _bea = server.join("bea");
    let mut ana = Irc::register(&server, "ana");
    ana.expect(":irc.pollchat NOTICE ana :2 online (/list to see them)");
    ana.send("WHO #general");
    ana.expect(":irc.pollchat NOTICE ana :#general: 2 online, too many to list");
    ana.expect(":irc.pollchat 315 ana #general :End of WHO list");
}

#[test]
fn a_tls_client_on_the_plain_irc_port_is_told_and_closed_without_registering() {
    let server = server();
    let mut bea = server.join("bea");
    // A ClientHello's first bytes, as irssi's `/connect -tls` to a plain port sends them.
    let mut wrong = Irc::connect(&server);
    wrong.0.send_raw(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, b'\r', b'\n',
    ]);
    wrong.expect(
        ":irc.pollchat ERROR :Closing link (this port speaks plain text, not TLS; use the \
         server's ircs:// port)",
    );
    assert_eq!(wrong.0.try_line().ok().flatten(), None);
    // Nobody joined: bea's next line is the answer to her own /list.
    assert!(bea.lines_before_sync().is_empty());
}
