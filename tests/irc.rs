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
    irc.expect(":irc.pollchat CAP * LS :");
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
    ana.expect(":ana!ana@pollchat PART #dev");
    bea.expect("#dev *** ana left (bye all)");
    // Not in it any more: the core's refusal, as the numeric clients know.
    ana.send("PRIVMSG #dev :hello?");
    ana.expect(":irc.pollchat 442 ana #dev :You're not on that channel");
}

#[test]
fn a_quit_reaches_line_users_and_the_irc_client_gets_error() {
    let server = server();
    let mut bea = server.join("bea");
    let mut ana = Irc::register(&server, "ana");
    bea.expect("*** ana joined");
    ana.send("QUIT :see you");
    ana.expect(":irc.pollchat ERROR :Closing link (quit)");
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
    // And the connection goes on.
    assert_eq!(ana.lines_before_pong(), Vec::<String>::new());
}

#[test]
fn list_is_a_channel_list() {
    let server = server();
    let mut ana = Irc::register(&server, "ana");
    ana.send("JOIN #dev");
    ana.skip_until(":irc.pollchat 366 ana #dev ");
    ana.send("LIST");
    ana.expect(":irc.pollchat 321 ana Channel :Users  Name");
    ana.expect(":irc.pollchat 322 ana #dev 1 :");
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
