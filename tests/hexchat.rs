//! A real IRC client against the IRC face (`--irc`, issue 18), as tests/irssi.rs and
//! tests/weechat.rs do with terminal clients: Debian's HexChat, a GTK program, runs headless on an
//! X server of the test's own (Xvfb). It is never typed into: a throwaway config makes it connect
//! at start-up, join `#general` and say a line and an action (its network's connect commands),
//! which the line (`nc`-style) user reads from its socket. What HexChat receives is read from its
//! own logs (`irc_logging`), polled until a deadline: the line user's line and action in
//! `#general`, and a private message in the query HexChat opens for it.
//! Without HexChat or Xvfb the test is skipped with a loud message, except under CI (`CI=true`),
//! where that is a failure: `.ci/run` installs both.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{READ_TIMEOUT, Server};

/// Whether `program ARGS` can be started: the program is installed.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().is_ok()
}

/// The nick HexChat is given, and the network name its logs are filed under.
const NICK: &str = "hex";
const NETWORK: &str = "pollchat";

/// The user HexChat runs as when the test runs as root: `nobody`. As root, HexChat opens a modal
/// "Running IRC as root is stupid!" dialog before it does anything else, and waits for a click
/// that never comes (CI runs as root).
const NOBODY: u32 = 65534;

/// Whether this process runs as root: `/proc/self` belongs to the process's effective user.
fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A child process stopped and reaped when dropped, so that a failing test leaves neither HexChat
/// nor Xvfb behind: SIGTERM first (Xvfb then removes its socket and lock file in /tmp), SIGKILL
/// if it has not exited within 2 s.
struct Killed {
    child: Child,
    what: &'static str,
    /// Where its output goes, shown if the test fails.
    output: Option<PathBuf>,
}

impl Drop for Killed {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        // Polled: a child's exit raises nothing to wait on with a timeout.
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking()
            && let Some(output) = &self.output
        {
            let text = fs::read_to_string(output).unwrap_or_default();
            eprintln!("--- {} said:\n{text}---", self.what);
        }
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Starts Xvfb on a display it picks itself (`-displayfd`: it takes the first free number, with
/// the lock files X servers use, and writes it to our pipe once it accepts clients). Returns the
/// guard and the display, `:N`.
fn start_xvfb() -> (Killed, String) {
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "800x600x24",
            "-nolisten",
            "tcp",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let stdout = child.stdout.take().expect("Xvfb's stdout");
    let xvfb = Killed {
        child,
        what: "Xvfb",
        output: None,
    };
    // A pipe read has no timeout of its own: a thread reads it, and the test waits on a channel.
    let (sent, display) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sent.send(line);
    });
    let number = display
        .recv_timeout(READ_TIMEOUT)
        .expect("Xvfb says its display within the timeout");
    let number = number.trim();
    assert!(
        !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()),
        "Xvfb's display: {number:?}"
    );
    (xvfb, format!(":{number}"))
}

/// HexChat's network list: one network, `pollchat`, on the test server, connected at start-up
/// (flag 8, auto-connect; not 2, so its own nick is used; not 4, no TLS). Its connect commands run
/// when the MOTD ends (422 here): a line and an action in `#general`, where the server has put
/// it. The action is sent with `ctcp`, since `me` needs a channel tab, and at that moment
/// HexChat has only its server tab (pollchat's JOIN comes after 422). `J` is HexChat's auto-join,
/// which asks for `#general` again: the server answers that with nothing.
fn servlist(irc: SocketAddr) -> String {
    format!(
        "v=2.16.1\n\n\
         N={NETWORK}\nI={NICK}\ni={NICK}_\nU={NICK}\nR=HexChat test\nE=UTF-8\nF=8\nD=0\n\
         S={}/{}\n\
         C=msg #general hello from hexchat\n\
         C=ctcp #general ACTION waves\n\
         J=#general\n\n",
        irc.ip(),
        irc.port()
    )
}

/// HexChat's settings (names from its cfgfiles.c): no network list at start-up, no dialogs, no
/// tray icon, logging on (`logs/NETWORK/CHANNEL.log`, the default mask spelt out), and none of
/// HexChat's own delays: its send queue (`net_throttle`, a line every second or two) and the
/// wait between connect commands and auto-join (`irc_join_delay`, 5 s).
const SETTINGS: &str = "\
gui_slist_skip = 1
gui_join_dialog = 0
gui_quit_dialog = 0
gui_tray = 0
irc_nick1 = hex
irc_nick2 = hex_
irc_nick3 = hex__
irc_user_name = hex
irc_real_name = HexChat test
irc_join_delay = 0
irc_logging = 1
irc_logmask = %n/%c.log
net_throttle = 0
";

/// A throwaway home for HexChat in the system's temporary directory (which `nobody` can reach,
/// unlike a target directory under a private home), with its config directory in it.
fn hexchat_home(irc: SocketAddr, as_nobody: bool) -> TempDir {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let home = std::env::temp_dir().join(format!("pollchat-hexchat-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&home);
    // Guarded before anything is written, so a failing write or chown leaves nothing behind.
    let dir = TempDir(home.clone());
    let config = home.join("config");
    fs::create_dir_all(&config).expect("create HexChat's home");
    fs::write(config.join("servlist.conf"), servlist(irc)).expect("write servlist.conf");
    fs::write(config.join("hexchat.conf"), SETTINGS).expect("write hexchat.conf");
    if as_nobody {
        // HexChat writes its logs and settings there, and says so in a dialog if it cannot.
        for dir in [&home, &config] {
            std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
        }
    }
    dir
}

/// Starts HexChat on `display` with the config in `home`.
fn start_hexchat(display: &str, home: &Path, as_nobody: bool) -> Killed {
    let output = home.join("hexchat.out");
    let output_file = fs::File::create(&output).expect("create HexChat's output file");
    let mut command = if as_nobody {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .args(["--clear-groups", "hexchat"]);
        command
    } else {
        Command::new("hexchat")
    };
    let child = command
        // `-n`: no plugins (none is needed, and the user's own must not run).
        .args(["-n", "-d"])
        .arg(home.join("config"))
        .env("DISPLAY", display)
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        // No session bus here: a bus address that fails at once keeps GLib from launching one.
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        // The user's runtime directory is not nobody's, and HexChat needs none.
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(Stdio::null())
        .stdout(output_file.try_clone().expect("clone a file handle"))
        .stderr(output_file)
        .spawn()
        .expect("start HexChat");
    Killed {
        child,
        what: "HexChat",
        output: Some(output),
    }
}

/// Waits until HexChat's log `name` (under `logs/pollchat/`) holds `text`; a file has no
/// readiness to wait on, so it is read every 20 ms until the usual deadline.
fn wait_for_log(home: &Path, name: &str, text: &str) {
    let path = home.join("config/logs").join(NETWORK).join(name);
    let deadline = Instant::now() + READ_TIMEOUT;
    loop {
        let log = fs::read_to_string(&path).unwrap_or_default();
        if log.contains(text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "HexChat's {} never held {text:?}; it holds:\n{log}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn hexchat_joins_general_and_chats_with_a_line_user() {
    let (hexchat, xvfb) = (runs("hexchat", &["--version"]), runs("Xvfb", &["-help"]));
    if !hexchat || !xvfb {
        let what = format!("HexChat installed: {hexchat}, Xvfb installed: {xvfb}");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the HexChat test needs HexChat and Xvfb ({what}; .ci/run installs them)");
        }
        eprintln!("\n!!! SKIPPED the HexChat test ({what}): apt-get install hexchat xvfb\n");
        return;
    }
    let server = Server::start(&["--irc", "127.0.0.1:0"]);
    let irc = server.irc.expect("the IRC address on the start-up line");
    let mut bob = server.join("bob");

    // Dropped in reverse order: HexChat is killed, then Xvfb, then the home is removed.
    let as_nobody = running_as_root();
    let home = hexchat_home(irc, as_nobody);
    let (_xvfb, display) = start_xvfb();
    let _hexchat = start_hexchat(&display, &home.0, as_nobody);

    // Registered and put in #general; its connect commands reach the line user.
    bob.expect(&format!("*** {NICK} joined"));
    bob.expect(&format!("<{NICK}> hello from hexchat"));
    bob.expect(&format!("* {NICK} waves"));

    // The line user's line and action reach HexChat's #general (its log: `<bob>\tTEXT`).
    bob.send("hi from a line user");
    bob.send("/me nods");
    wait_for_log(&home.0, "#general.log", "<bob>\thi from a line user");
    wait_for_log(&home.0, "#general.log", "*\tbob nods");

    // A private message opens a query for bob, logged under its name.
    bob.send(&format!("/msg {NICK} psst"));
    bob.expect(&format!("[you -> {NICK}] psst"));
    wait_for_log(&home.0, "bob.log", "<bob>\tpsst");

    // What HexChat sent by itself on joining (MODE and WHO #general) was answered, not met with
    // 421, which HexChat shows in the network's tab as `... Unknown command`.
    let network_log = home
        .0
        .join("config/logs")
        .join(NETWORK)
        .join("pollchat.log");
    let network_log = fs::read_to_string(&network_log).unwrap_or_default();
    assert!(
        network_log.contains("MOTD File is missing") && !network_log.contains("Unknown command"),
        "HexChat's network log:\n{network_log}"
    );
}
