//! The write window: output queued for the clients waits a moment for more before it is written.
//!
//! A `write` to a socket costs the kernel nearly the same whether it carries one chat line or forty:
//! on the machines here a small loopback TCP send costs 6-9 µs of CPU, nearly all of it TCP and IP
//! work (on loopback, the receiver's too), not copying bytes (docs/performance.md counts the sends).
//! And a busy room's lines do not arrive all at once: they trickle in over a few hundred
//! microseconds. Writing at the end of every pass would send each recipient a trickle of small writes;
//! holding the output for a short window after the first of it lets the lines that arrive meanwhile
//! leave in the same `write`. 100 µs is far below what a person can notice, and in fanout100 it took
//! writes from 18–33 lines to 34–37 and the server's CPU per delivery from 320 to 231 ns (means of
//! five runs each).
//!
//! How long the window is: fixed by `--coalesce-us N`, or, by default, sized after each flush by
//! [`WindowSizer`] (`window_sizer.rs`): 100 µs while flushing is cheap, up to 25 ms when thousands of
//! thin writes take most of the loop's time.
//!
//! `poll`'s timeout counts whole milliseconds (that is all `epoll_wait` takes), far too coarse for a
//! 100 µs window, so the window is a `timerfd` registered with the same `Poll` as the sockets: when it
//! expires, `poll` wakes with [`WriteTimer`]'s token like it does for a ready socket.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::window_sizer::WindowSizer;
use log::warn;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

/// How long the window is.
#[derive(Debug)]
pub enum Window {
    /// `--coalesce-us N`: always N µs (0: no window, every pass writes).
    Fixed(Duration),
    /// The default: sized from what the last flushes cost.
    Auto(WindowSizer),
}

/// Says when the output queued since the last write is to be written: at once when the window is
/// zero, otherwise when the window that opened with the first of it has passed.
pub struct WriteTimer {
    /// `None` when the window is zero: every pass writes, and there is nothing to wake for.
    timer: Option<OwnedFd>,
    window: Window,
    /// When the open window ends; `None` when no output is waiting.
    deadline: Option<Instant>,
}

impl WriteTimer {
    /// A write timer with this window, its timer registered under `token`.
    pub fn new(registry: &Registry, token: Token, window: Window) -> io::Result<WriteTimer> {
        let timer = if matches!(window, Window::Fixed(fixed) if fixed.is_zero()) {
            None
        } else {
            let flags = TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC;
            let timer = timerfd_create(TimerfdClockId::Monotonic, flags)?;
            registry.register(&mut SourceFd(&timer.as_raw_fd()), token, Interest::READABLE)?;
            Some(timer)
        };
        Ok(WriteTimer {
            timer,
            window,
            deadline: None,
        })
    }

    /// Whether to write now, given whether any output is waiting. The first call with output waiting
    /// opens a window (and arms the timer that ends it); calls before it ends say no.
    pub fn is_due(&mut self, now: Instant, pending: bool) -> bool {
        if !pending {
            self.deadline = None;
            return true;
        }
        let Some(timer) = &self.timer else {
            return true;
        };
        match self.deadline {
            Some(deadline) if now >= deadline => {
                self.deadline = None;
                true
            }
            Some(_) => false,
            None => {
                // Arming a timerfd also clears an expiry not yet read, so an old window's wake-up
                // cannot end this one early (and if one still comes, the check above says "not yet").
                let window = match &self.window {
                    Window::Fixed(fixed) => *fixed,
                    Window::Auto(sizer) => sizer.window(now),
                };
                let value = Timespec::try_from(window).unwrap_or(Timespec {
                    tv_sec: 1,
                    tv_nsec: 0,
                });
                let zero = Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                let spec = Itimerspec {
                    it_interval: zero,
                    it_value: value,
                };
                match timerfd_settime(timer, TimerfdTimerFlags::empty(), &spec) {
                    Ok(_) => {
                        self.deadline = Some(now + window);
                        false
                    }
                    // Cannot happen with a valid time; if it did, write now rather than never.
                    Err(e) => {
                        warn!("cannot arm the write timer ({e}); writing at once");
                        true
                    }
                }
            }
        }
    }

    /// Everything queued was written (the window's end, or a write that could not wait): no window
    /// is open. A timer still armed will wake `poll` once for nothing, which is harmless. The flush
    /// ended at `now` and took `cost` to write `writes` queues holding `lines` lines: what the next
    /// window is sized from.
    pub fn written(&mut self, now: Instant, cost: Duration, writes: u64, lines: u64) {
        self.deadline = None;
        if let Window::Auto(sizer) = &mut self.window
            && writes > 0
        {
            sizer.flushed(now, cost, writes, lines);
        }
    }

    /// When the open window ends, for `poll`'s timeout: a fallback should the timer's wake-up be
    /// missed, since the timeout rounds up to whole milliseconds.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The timer expired (its token came from `poll`): read the expiry count so the descriptor is
    /// not left readable. The loop then finds the window over when it asks [`WriteTimer::is_due`].
    pub fn expired(&mut self) {
        if let Some(timer) = &self.timer {
            let mut count = [0u8; 8];
            // Nothing to handle on failure: `WouldBlock` means a re-arm already cleared the expiry.
            let _ = rustix::io::read(timer, &mut count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};

    const TOKEN: Token = Token(7);

    #[test]
    fn no_window_writes_every_pass() {
        let poll = Poll::new().unwrap();
        let mut timer =
            WriteTimer::new(poll.registry(), TOKEN, Window::Fixed(Duration::ZERO)).unwrap();
        assert!(timer.is_due(Instant::now(), true));
        assert!(timer.is_due(Instant::now(), true));
        assert_eq!(timer.deadline(), None);
    }

    #[test]
    fn nothing_waiting_is_always_due_and_closes_the_window() {
        let poll = Poll::new().unwrap();
        let mut timer = WriteTimer::new(
            poll.registry(),
            TOKEN,
            Window::Fixed(Duration::from_secs(60)),
        )
        .unwrap();
        let now = Instant::now();
        assert!(!timer.is_due(now, true));
        assert!(timer.is_due(now, false));
        assert_eq!(timer.deadline(), None);
    }

    /// Output waits until the window ends, and the timer wakes a sleeping `poll` when it does.
    #[test]
    fn output_waits_for_the_window_and_poll_wakes_for_it() {
        let mut poll = Poll::new().unwrap();
        let window = Duration::from_millis(20);
        let mut timer = WriteTimer::new(poll.registry(), TOKEN, Window::Fixed(window)).unwrap();
        let opened = Instant::now();
        assert!(
            !timer.is_due(opened, true),
            "the first output opens a window"
        );
        assert!(!timer.is_due(opened, true), "and waits while it is open");
        let deadline = timer.deadline().expect("an open window has an end");
        assert_eq!(deadline, opened + window);

        // Sleep in `poll` far longer than the window: the timer's event must end the wait.
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_secs(30)))
            .unwrap();
        let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
        assert_eq!(tokens, [TOKEN]);
        timer.expired();
        let woke = Instant::now();
        assert!(woke >= deadline, "woke before the window ended");
        assert!(timer.is_due(woke, true));
        assert_eq!(timer.deadline(), None);

        // The next output opens a new window, and the read expiry does not end it.
        assert!(!timer.is_due(woke, true));
        poll.poll(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty(), "an expiry already read woke poll again");
    }
}
