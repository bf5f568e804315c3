//! A raw-socket IRC client for the tests of the IRC face (`--irc`): lines end in `\r\n` both ways,
//! and every read has the harness's timeout.

use super::{Client, Server};

pub struct Irc(pub Client);

impl Irc {
    pub fn connect(server: &Server) -> Irc {
        Irc(Client::connect(server.irc.expect("an IRC address")))
    }

    /// Connects and registers as `nick` (without CAP), reading up to the JOIN of the default
    /// room and the member list after it.
    pub fn register(server: &Server, nick: &str) -> Irc {
        let mut irc = Irc::connect(server);
        let (sent, awaited) = registration(nick);
        for line in &sent {
            irc.send(line);
        }
        for start in &awaited {
            irc.skip_until(start);
        }
        irc
    }

    pub fn send(&mut self, line: &str) {
        self.0.send_raw(format!("{line}\r\n").as_bytes());
    }

    pub fn line(&mut self) -> String {
        let line = self.0.line();
        match line.strip_suffix('\r') {
            Some(line) => line.to_string(),
            None => panic!("an IRC line without \\r\\n: {line:?}"),
        }
    }

    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    /// Reads until a line starting with `start`, returning it.
    pub fn skip_until(&mut self, start: &str) -> String {
        loop {
            let line = self.line();
            if line.starts_with(start) {
                return line;
            }
        }
    }

    /// Every line up to the answer to a `PING` sent now: what the server said before it.
    pub fn lines_before_pong(&mut self) -> Vec<String> {
        self.send("PING :sync");
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if line == ":irc.pollchat PONG irc.pollchat sync" {
                return lines;
            }
            lines.push(line);
        }
    }
}

/// Registering as `nick` without CAP, over any transport: the lines to send, and the starts of the
/// lines to wait for in turn, up to the end of the default room's member list.
pub fn registration(nick: &str) -> ([String; 2], [String; 3]) {
    let sent = [format!("NICK {nick}"), format!("USER {nick} 0 * :{nick}")];
    let awaited = [
        format!(":irc.pollchat 001 {nick} "),
        format!(":{nick}!{nick}@pollchat JOIN #general"),
        format!(":irc.pollchat 366 {nick} #general "),
    ];
    (sent, awaited)
}
