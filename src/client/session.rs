//! `Session`: what the console client says to the server and when, with no I/O.
//!
//! The client's loop (`client/mod.rs`) owns the socket, standard input and the clock; it tells the
//! session what happened (connected, a line from the server, a line typed, the connection lost) and
//! carries out the [`Action`]s it gets back. The rules live here and are unit-tested without sockets:
//!
//! - nothing typed is sent before the server's join acknowledgement (`*** you are NAME`), so a chat line
//!   can never be taken for a name; lines typed meanwhile wait in a bounded queue;
//! - after a reconnect the client rejoins under the same name (or the name it was renamed to);
//! - the history the server replays on a rejoin is shown only from where the user's screen left off.

use std::collections::VecDeque;

/// How many typed lines may wait for a (re)join.
pub const QUEUE_MAX: usize = 1000;
/// How many recent chat lines are remembered to recognise the replayed history on a rejoin.
const RECENT_MAX: usize = 1000;

/// What the loop is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this line to the server.
    Send(String),
    /// Show a line from the server.
    Show(String),
    /// Show a message of the client's own (not from the server).
    Note(String),
    /// The server refused the name (the `!` line says why): an interactive user is asked for
    /// another one, a script gives up.
    NameRefused(String),
    /// The name is taken, but it was ours before the connection was lost: the server has probably
    /// not yet noticed the old connection is dead. Retry the same name later.
    NameStillTaken,
    /// Joined (or rejoined): the connection is usable.
    Joined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No connection.
    Offline,
    /// Connected; waiting for the name prompt, or for the answer to the name we sent.
    Joining { name_sent: bool },
    /// In the room.
    Joined,
}

/// Lines after a join acknowledgement, until the list of who is online, are the replayed history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    None,
    /// Collecting the history block of a join.
    Collecting,
}

/// The client's side of the protocol.
#[derive(Debug)]
pub struct Session {
    name: Option<String>,
    phase: Phase,
    /// True once a join has succeeded: later joins are rejoins.
    has_joined: bool,
    /// Typed lines waiting for a join.
    queue: VecDeque<String>,
    /// The server asked for a name that we have not sent yet.
    prompted: bool,
    /// The current join follows a lost connection.
    rejoining: bool,
    recent: VecDeque<String>,
    replay: Replay,
    replayed: Vec<String>,
}

impl Session {
    pub fn new(name: Option<String>) -> Session {
        Session {
            name,
            phase: Phase::Offline,
            has_joined: false,
            queue: VecDeque::new(),
            prompted: false,
            rejoining: false,
            recent: VecDeque::new(),
            replay: Replay::None,
            replayed: Vec::new(),
        }
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn is_joined(&self) -> bool {
        self.phase == Phase::Joined
    }

    /// Typed lines not yet sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The user gave a name (at start-up, or after the server refused one). If the server is already
    /// waiting for it, it is sent at once.
    pub fn set_name(&mut self, name: String, out: &mut Vec<Action>) {
        self.name = Some(name);
        if self.phase == (Phase::Joining { name_sent: false }) && self.prompted {
            self.send_name(out);
        }
    }

    /// Gives up the current name: the next prompt waits for [`Session::set_name`].
    pub fn forget_name(&mut self) {
        self.name = None;
    }

    pub fn connected(&mut self) {
        self.phase = Phase::Joining { name_sent: false };
        self.prompted = false;
        self.replay = Replay::None;
    }

    pub fn disconnected(&mut self) {
        self.phase = Phase::Offline;
        self.replay = Replay::None;
        self.replayed.clear();
    }

    /// One line from the server.
    pub fn server_line(&mut self, line: &str, out: &mut Vec<Action>) {
        match self.phase {
            Phase::Offline => {}
            Phase::Joining { name_sent } => self.joining_line(line, name_sent, out),
            Phase::Joined => self.joined_line(line, out),
        }
    }

    fn joining_line(&mut self, line: &str, name_sent: bool, out: &mut Vec<Action>) {
        if line.ends_with("your name?") {
            self.prompted = true;
            if self.name.is_some() {
                self.send_name(out);
            }
        } else if let Some(name) = line.strip_prefix("*** you are ") {
            self.rejoining = self.has_joined;
            self.name = Some(name.to_string());
            self.phase = Phase::Joined;
            self.has_joined = true;
            if self.rejoining {
                out.push(Action::Note(format!("rejoined as {name}")));
            } else {
                out.push(Action::Show(line.to_string()));
            }
            out.push(Action::Joined);
            self.replay = Replay::Collecting;
            self.replayed.clear();
            self.flush_queue(out);
        } else if line.starts_with("! ") && name_sent {
            self.phase = Phase::Joining { name_sent: false };
            self.prompted = false;
            let ours = self
                .name
                .as_deref()
                .is_some_and(|n| line == format!("! the name {n} is taken"));
            if ours && self.has_joined {
                out.push(Action::NameStillTaken);
            } else {
                // The server asks again; the answer must be a new name, not this one once more.
                self.name = None;
                out.push(Action::NameRefused(line.to_string()));
            }
        } else if !self.has_joined {
            // The greeting: worth showing the first time, noise on every reconnect.
            out.push(Action::Show(line.to_string()));
        }
    }

    fn send_name(&mut self, out: &mut Vec<Action>) {
        if let Some(name) = &self.name {
            out.push(Action::Send(name.clone()));
            self.phase = Phase::Joining { name_sent: true };
            self.prompted = false;
        }
    }

    fn joined_line(&mut self, line: &str, out: &mut Vec<Action>) {
        if self.replay == Replay::Collecting {
            if line.starts_with("*** recent messages (") && self.replayed.is_empty() {
                if !self.rejoining {
                    out.push(Action::Show(line.to_string()));
                }
                return;
            }
            if line.starts_with("*** online (") {
                self.replay = Replay::None;
                self.show_replay(out);
                out.push(Action::Show(line.to_string()));
                return;
            }
            if is_chat(line) {
                self.replayed.push(line.to_string());
                return;
            }
            // Anything else ends the block early (a server that sends no list, say).
            self.replay = Replay::None;
            self.show_replay(out);
        }
        if let Some(name) = line.strip_prefix("*** you are ") {
            self.name = Some(name.to_string()); // A rename: rejoin under the new name.
        }
        if is_chat(line) {
            self.remember(line);
        }
        out.push(Action::Show(line.to_string()));
    }

    /// Shows the replayed history: all of it on the first join; on a rejoin only the lines after the
    /// longest stretch that ends what the user has already seen.
    fn show_replay(&mut self, out: &mut Vec<Action>) {
        let replayed = std::mem::take(&mut self.replayed);
        let skip = overlap(&self.recent, &replayed);
        if skip > 0 && skip < replayed.len() {
            out.push(Action::Note(format!(
                "{} messages while you were away:",
                replayed.len() - skip
            )));
        }
        for line in &replayed[skip..] {
            self.remember(line);
            out.push(Action::Show(line.clone()));
        }
    }

    fn remember(&mut self, line: &str) {
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back(line.to_string());
    }

    /// A line the user typed (or a script piped). Sent now if joined, else queued.
    /// Returns false if the queue is full and the line was not taken.
    pub fn typed(&mut self, line: String, out: &mut Vec<Action>) -> bool {
        if self.phase == Phase::Joined && self.queue.is_empty() {
            out.push(Action::Send(line));
            return true;
        }
        if self.queue.len() >= QUEUE_MAX {
            return false;
        }
        self.queue.push_back(line);
        true
    }

    /// Drops the oldest queued line (an interactive user's queue is full); returns it.
    pub fn drop_oldest(&mut self) -> Option<String> {
        self.queue.pop_front()
    }

    fn flush_queue(&mut self, out: &mut Vec<Action>) {
        out.extend(self.queue.drain(..).map(Action::Send));
    }
}

/// The overlap between what was seen and what is replayed: the largest `k` such that the first `k`
/// replayed lines are the last `k` lines seen.
fn overlap(seen: &VecDeque<String>, replayed: &[String]) -> usize {
    (1..=replayed.len().min(seen.len()))
        .rev()
        .find(|&k| seen.iter().skip(seen.len() - k).eq(replayed[..k].iter()))
        .unwrap_or(0)
}

/// A chat or action line: what the server keeps in its history.
fn is_chat(line: &str) -> bool {
    line.starts_with('<') || line.starts_with("* ")
}

/// The commands after which the server closes the connection.
pub fn is_quit(line: &str) -> bool {
    let command = line.split_whitespace().next().unwrap_or("");
    matches!(
        command.to_lowercase().as_str(),
        "/quit" | "/quitar" | "/exit"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(session: &mut Session, lines: &[&str]) -> Vec<Action> {
        let mut out = Vec::new();
        for line in lines {
            session.server_line(line, &mut out);
        }
        out
    }

    fn send(line: &str) -> Action {
        Action::Send(line.to_string())
    }

    fn show(line: &str) -> Action {
        Action::Show(line.to_string())
    }

    /// A session that has joined as `ana` and seen `seen`.
    fn joined(seen: &[&str]) -> Session {
        let mut s = Session::new(Some("ana".into()));
        s.connected();
        feed(
            &mut s,
            &[
                "*** welcome",
                "*** your name?",
                "*** you are ana",
                "*** online (1): ana",
            ],
        );
        feed(&mut s, seen);
        s
    }

    #[test]
    fn the_name_is_sent_only_when_asked_and_lines_wait_for_the_join() {
        let mut s = Session::new(Some("ana".into()));
        let mut out = Vec::new();
        assert!(s.typed("early line".into(), &mut out));
        assert!(out.is_empty());
        s.connected();
        assert_eq!(
            feed(&mut s, &["*** welcome to pollchat"]),
            [show("*** welcome to pollchat")]
        );
        assert_eq!(feed(&mut s, &["*** your name?"]), [send("ana")]);
        assert_eq!(
            feed(&mut s, &["*** you are ana"]),
            [show("*** you are ana"), Action::Joined, send("early line")]
        );
        assert!(s.is_joined());
        assert!(s.typed("now".into(), &mut out));
        assert_eq!(out, [send("now")]);
    }

    #[test]
    fn a_name_given_after_the_prompt_is_sent_at_once() {
        let mut s = Session::new(None);
        s.connected();
        assert!(feed(&mut s, &["*** your name?"]).is_empty());
        let mut out = Vec::new();
        s.set_name("bea".into(), &mut out);
        assert_eq!(out, [send("bea")]);
    }

    #[test]
    fn a_refused_name_is_reported() {
        let mut s = Session::new(Some("a b".into()));
        s.connected();
        let out = feed(
            &mut s,
            &[
                "*** your name?",
                "! a name cannot contain a space",
                "*** your name?",
            ],
        );
        assert_eq!(
            out,
            [
                send("a b"),
                Action::NameRefused("! a name cannot contain a space".into())
            ]
        );
        let mut out = Vec::new();
        s.set_name("ab".into(), &mut out);
        assert_eq!(out, [send("ab")]);
    }

    #[test]
    fn a_taken_name_on_the_first_join_is_refused_but_on_a_rejoin_is_retried() {
        let mut s = Session::new(Some("ana".into()));
        s.connected();
        let out = feed(&mut s, &["*** your name?", "! the name ana is taken"]);
        assert_eq!(
            out[1],
            Action::NameRefused("! the name ana is taken".into())
        );

        let mut s = joined(&[]);
        s.disconnected();
        s.connected();
        let out = feed(&mut s, &["*** your name?", "! the name ana is taken"]);
        assert_eq!(out, [send("ana"), Action::NameStillTaken]);
    }

    #[test]
    fn a_rejoin_uses_the_latest_name_and_says_so_quietly() {
        let mut s = joined(&["*** you are anita"]);
        s.disconnected();
        s.connected();
        let out = feed(
            &mut s,
            &["*** welcome again", "*** your name?", "*** you are anita"],
        );
        assert_eq!(
            out,
            [
                send("anita"),
                Action::Note("rejoined as anita".into()),
                Action::Joined
            ]
        );
    }

    #[test]
    fn the_first_join_shows_all_history() {
        let mut s = Session::new(Some("ana".into()));
        s.connected();
        let out = feed(
            &mut s,
            &[
                "*** your name?",
                "*** you are ana",
                "*** recent messages (2):",
                "<bea> one",
                "* bea two",
                "*** online (2): ana, bea",
            ],
        );
        assert_eq!(
            out[3..],
            [
                show("*** recent messages (2):"),
                show("<bea> one"),
                show("* bea two"),
                show("*** online (2): ana, bea")
            ]
        );
    }

    #[test]
    fn a_rejoin_shows_only_the_history_not_yet_seen() {
        let mut s = joined(&["<bea> one", "<bea> two"]);
        s.disconnected();
        s.connected();
        let out = feed(
            &mut s,
            &[
                "*** your name?",
                "*** you are ana",
                "*** recent messages (3):",
                "<bea> one",
                "<bea> two",
                "<bea> missed",
                "*** online (2): ana, bea",
            ],
        );
        assert_eq!(
            out[3..],
            [
                Action::Note("1 messages while you were away:".into()),
                show("<bea> missed"),
                show("*** online (2): ana, bea")
            ]
        );
        // Nothing new: nothing shown but the list.
        s.disconnected();
        s.connected();
        let out = feed(
            &mut s,
            &[
                "*** your name?",
                "*** you are ana",
                "*** recent messages (1):",
                "<bea> missed",
                "*** online (2): ana, bea",
            ],
        );
        assert_eq!(out[3..], [show("*** online (2): ana, bea")]);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut s = Session::new(Some("ana".into()));
        let mut out = Vec::new();
        for i in 0..QUEUE_MAX {
            assert!(s.typed(format!("{i}"), &mut out));
        }
        assert!(!s.typed("one too many".into(), &mut out));
        assert_eq!(s.drop_oldest().as_deref(), Some("0"));
    }

    #[test]
    fn quit_commands_are_recognised() {
        for line in ["/quit", "/quit bye", "/QUITAR", "/exit now"] {
            assert!(is_quit(line), "{line}");
        }
        for line in ["/quitter", "quit", "//quit"] {
            assert!(!is_quit(line), "{line}");
        }
    }
}
