//! The console client's hold on its standard streams: raw mode for the terminal, non-blocking mode
//! for standard input, and putting both back exactly as they were on every way out.
//!
//! Both settings belong to the terminal or pipe, not to this process: a shell that gets its terminal
//! back in raw mode, or its standard input non-blocking, misbehaves until reset. So each change is
//! recorded in a [`StdinGuard`] and undone when it is dropped (normal exit, error, panic unwinding),
//! and a panic hook undoes it before the panic message is printed. Signals do not kill the client: they
//! set a flag the loop reads, so the guard's `Drop` runs for them too.

use std::io::{self, Stdin};
use std::os::fd::AsFd;
use std::sync::Mutex;

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
use rustix::termios::{OptionalActions, Termios, isatty, tcgetattr, tcgetwinsize, tcsetattr};

/// What to put back: the terminal's settings (if raw mode was turned on) and standard input's flags.
#[derive(Debug, Clone)]
struct Saved {
    termios: Option<Termios>,
    flags: Option<OFlags>,
}

/// A copy for the panic hook, which cannot reach the guard.
static SAVED: Mutex<Option<Saved>> = Mutex::new(None);

/// Undoes the changes to standard input when dropped.
#[derive(Debug)]
pub struct StdinGuard {
    saved: Saved,
}

/// True if standard input and standard output are both terminals: then the client edits lines itself.
pub fn is_interactive() -> bool {
    isatty(io::stdin().as_fd()) && isatty(io::stdout().as_fd())
}

/// The terminal's width in columns (80 if it cannot be told).
pub fn columns() -> usize {
    match tcgetwinsize(io::stdout().as_fd()) {
        Ok(size) if size.ws_col > 0 => usize::from(size.ws_col),
        _ => 80,
    }
}

impl StdinGuard {
    /// Makes standard input non-blocking, and puts the terminal in raw mode if `raw`.
    ///
    /// Non-blocking, because the loop is edge-triggered: on a readiness event it reads until
    /// `WouldBlock`, and a blocking descriptor would hang the whole loop on the last read instead.
    pub fn new(stdin: &Stdin, raw: bool) -> io::Result<StdinGuard> {
        let fd = stdin.as_fd();
        let mut saved = Saved {
            termios: None,
            flags: None,
        };
        if raw {
            let original = tcgetattr(fd)?;
            let mut raw_mode = original.clone();
            // No echo, no line buffering, no signals from keys (Ctrl+C arrives as byte 3), no output
            // processing (we write `\r\n` ourselves).
            raw_mode.make_raw();
            tcsetattr(fd, OptionalActions::Flush, &raw_mode)?;
            saved.termios = Some(original);
        }
        let flags = fcntl_getfl(fd)?;
        if !flags.contains(OFlags::NONBLOCK) {
            fcntl_setfl(fd, flags | OFlags::NONBLOCK)?;
            saved.flags = Some(flags);
        }
        if let Ok(mut slot) = SAVED.lock() {
            *slot = Some(saved.clone());
        }
        install_panic_hook();
        Ok(StdinGuard { saved })
    }
}

impl Drop for StdinGuard {
    fn drop(&mut self) {
        restore(&self.saved);
        if let Ok(mut slot) = SAVED.lock() {
            *slot = None;
        }
    }
}

fn restore(saved: &Saved) {
    let stdin = io::stdin();
    let fd = stdin.as_fd();
    if let Some(termios) = &saved.termios {
        let _ = tcsetattr(fd, OptionalActions::Now, termios);
    }
    if let Some(flags) = saved.flags {
        let _ = fcntl_setfl(fd, flags);
    }
}

/// Restores the terminal before the default hook prints the panic, so the message is readable.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(slot) = SAVED.lock()
            && let Some(saved) = slot.as_ref()
        {
            restore(saved);
        }
        default(info);
    }));
}

/// True if standard output is a terminal (colour is used only then).
pub fn is_stdout_terminal() -> bool {
    isatty(io::stdout().as_fd())
}
