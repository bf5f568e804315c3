//! A real IRC client against the IRC face (`--irc`, issue 18), as tests/irssi.rs does with irssi:
//! Debian's WeeChat in a tmux window connects, joins `#general`, chats both ways with a line
//! (`nc`-style) user, privately too, sees the line user's action and rename (in its member list as
//! well), asks whether the user is online (`/notify`, which WeeChat asks with ISON), and quits.
//! What WeeChat shows is read from the screen (`tmux capture-pane`), polled until a deadline; what
//! the line user sees is read from its socket with a timeout. Without WeeChat or tmux the test is
//! skipped with a loud message, except under CI (`CI=true`), where that is a failure: `.ci/run`
//! installs both.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::Server;
use common::tmux::Tmux;

/// Whether `program --version`-style `args` run: the program is installed.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().is_ok()
}

/// A row of WeeChat's chat area holds `text` (rows are `TIME PREFIX | MESSAGE`, the member list
/// after them on the right).
fn shows(screen: &[String], text: &str) -> bool {
    screen.iter().any(|row| row.contains(text))
}

/// The member list (WeeChat's nicklist, at the right of the chat area, after the separator the test
/// sets, `¦`) lists `nick`.
fn lists(screen: &[String], nick: &str) -> bool {
    let entry = format!("{NICKLIST_SEPARATOR} {nick}");
    screen.iter().any(|row| row.ends_with(&entry))
}

/// The vertical separator the test gives WeeChat instead of its line-drawing character, which a
/// screen capture shows as `x`: a member list entry is then `¦ NICK` at the end of a row.
const NICKLIST_SEPARATOR: &str = "¦";

/// The WeeChat commands the test starts with: its settings, then the server and the connection.
fn startup_commands(address: std::net::SocketAddr) -> String {
    let commands = [
        // WeeChat's own flood protection sends one message every 2 s after the first; the test's
        // deadlines measure the server, not WeeChat's queue. WeeChat 3 has two settings for it,
        // WeeChat 4 one (in milliseconds): the other's `/set` is only an error on the screen.
        "/set irc.server_default.anti_flood_prio_high 0",
        "/set irc.server_default.anti_flood_prio_low 0",
        "/set irc.server_default.anti_flood 0",
        // Two keys pressed close together must never look like a paste to confirm.
        "/set weechat.look.paste_max_lines -1",
        &format!("/set weechat.look.separator_vertical {NICKLIST_SEPARATOR}"),
        // The buffer list would take the left of every row.
        "/bar hide buflist",
        // `-notls`: WeeChat 4 connects with TLS unless told not to (WeeChat 3 never did).
        &format!(
            "/server add pollchat {}/{} -notls",
            address.ip(),
            address.port()
        ),
        "/set irc.server.pollchat.nicks weeby",
        "/connect pollchat",
    ];
    commands.join(";")
}

#[test]
fn weechat_joins_general_and_chats_with_a_line_user() {
    let (weechat, tmux) = (runs("weechat", &["--version"]), Tmux::installed());
    if !weechat || !tmux {
        let what = format!("WeeChat installed: {weechat}, tmux installed: {tmux}");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the WeeChat test needs WeeChat and tmux ({what}; .ci/run installs them)");
        }
        eprintln!("\n!!! SKIPPED the WeeChat test ({what}): apt-get install weechat-curses tmux\n");
        return;
    }
    let server = Server::start(&["--irc", "127.0.0.1:0"]);
    let irc = server.irc.expect("the IRC address on the start-up line");
    let mut bob = server.join("bob");

    // A home of its own (`--dir`), so the user's own WeeChat settings are never read or touched.
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("weechat-home-{}", std::process::id()));
    let _ = fs::remove_dir_all(&home);
    fs::create_dir_all(&home).unwrap();
    let command = format!(
        "LANG=C.UTF-8 weechat --dir '{}' --run-command '{}'",
        home.display(),
        startup_commands(irc)
    );
    let tmux = Tmux::start(&command, 120, 30);

    // Registered: the line user sees the join. The server has put WeeChat in #general already;
    // `/join` of it makes its buffer current, and the status bar names it.
    bob.expect("*** weeby joined");
    tmux.type_line("/join #general");
    tmux.wait_for("#general as the current buffer", |s| {
        s.iter()
            .any(|r| r.starts_with('[') && r.contains("[irc/pollchat]") && r.contains(":#general"))
    });
    tmux.wait_for("its own join and both members", |s| {
        shows(s, "weeby (weeby@pollchat) has joined #general")
            && lists(s, "bob")
            && lists(s, "weeby")
    });

    // WeeChat to the line user, and back.
    tmux.type_line("hello from weechat");
    bob.expect("<weeby> hello from weechat");
    bob.send("hello from a line user");
    tmux.wait_for("the line user's line", |s| {
        shows(s, "bob | hello from a line user")
    });
    bob.send("/me waves");
    tmux.wait_for("the line user's action", |s| shows(s, "bob waves"));

    // Privately, both ways: the line user's message opens a query buffer in WeeChat.
    tmux.type_line("/msg bob psst");
    bob.expect("[weeby -> you] psst");
    bob.send("/msg weeby psst back");
    bob.expect("[you -> weeby] psst back");
    tmux.type_line("/query bob");
    tmux.wait_for("the private line in bob's buffer", |s| {
        shows(s, "bob | psst back")
    });
    tmux.type_line("/buffer #general");
    tmux.wait_for("#general again", |s| {
        shows(s, "bob | hello from a line user")
    });

    // The line user's rename reaches WeeChat as a NICK: the line and the member list follow it.
    bob.send("/name robert");
    bob.expect("*** you are robert");
    tmux.wait_for("the rename, in the member list too", |s| {
        shows(s, "bob is now known as robert") && lists(s, "robert") && !lists(s, "bob")
    });
    bob.send("still me");
    tmux.wait_for("a line under the new name", |s| {
        shows(s, "robert | still me")
    });

    // `/notify` asks with ISON, answered in the server's buffer (WeeChat's first).
    tmux.type_line("/notify add robert");
    tmux.type_line("/buffer 1");
    tmux.wait_for("robert online", |s| shows(s, "notify: robert is connected"));

    // WeeChat leaves; the line user sees it go with WeeChat's reason.
    tmux.type_line("/quit see you");
    bob.expect("*** weeby left (see you)");
    drop(tmux);
    let _ = fs::remove_dir_all(&home);
}
