//! A real terminal for the tests that drive an interactive program (the console client, irssi):
//! a tmux server of its own, on its own socket, running one command in a detached window.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::READ_TIMEOUT;

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Whether tmux can be run here.
    pub fn installed() -> bool {
        Command::new("tmux").arg("-V").output().is_ok()
    }

    /// Runs `command` (a shell command line) in a detached window of `columns`×`rows`.
    pub fn start(command: &str, columns: u16, rows: u16) -> Tmux {
        // Unique per process and per window, so parallel tests never share a tmux server.
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let socket = format!("pollchat-test-{}-{n}", std::process::id());
        let status = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x"])
            .arg(columns.to_string())
            .arg("-y")
            .arg(rows.to_string())
            .arg(command)
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is needed for this test (.ci/run installs it: apt-get install tmux)");
        assert!(status.success());
        Tmux { socket }
    }

    pub fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Types `text` literally, then Enter.
    pub fn type_line(&self, text: &str) {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
    }

    /// The screen's rows, trailing blank rows dropped.
    pub fn screen(&self) -> Vec<String> {
        let output = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut rows: Vec<String> = text.lines().map(|r| r.trim_end().to_string()).collect();
        while rows.last().is_some_and(|r| r.is_empty()) {
            rows.pop();
        }
        rows
    }

    /// Waits until the screen satisfies `test`; a screen has no readiness to wait on, so it is looked
    /// at every 20 ms, for at most the usual read timeout. On failure the screen is in the panic.
    pub fn wait_for(&self, what: &str, test: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            let screen = self.screen();
            if test(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {what}:\n{}",
                screen.join("\n")
            );
            thread::sleep(Duration::from_millis(20)); // A tmux screen has no readiness to wait on.
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}
