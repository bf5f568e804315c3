//! How long the write window is, when nobody fixed it (`--coalesce-us auto`, the default):
//! `WindowSizer`, sized from what the last flushes cost.
//!
//! The window trades a little delay for fewer `write` calls (see `write_timer.rs`). How much delay is
//! worth it depends on the load, which no flag can know in advance:
//!
//! - a quiet room, or a few recipients: a flush costs microseconds, and waiting would only delay the
//!   line. The window stays at its floor, today's 100 µs.
//! - a room of thousands where lines trickle in (5,000 people, 100 lines a second): each line costs
//!   thousands of `write` calls, one per recipient, each carrying that one line. The flush takes
//!   milliseconds, most of the loop's time goes to writing, and nearly all of it would be saved if a
//!   few lines shared each write. Here the window should grow.
//! - a busy room whose writes already carry many lines (a hundred people all talking): a longer
//!   window would save little and delay everyone. It stays short.
//!
//! So after each flush: if writing took more than a quarter of the time since the flush before
//! ([`SHARE`]) and the writes were thin (fewer than [`FULL`] lines each, on average), the window
//! doubles, up to [`CAP`]; if writing took less than an eighth, it halves, down to [`FLOOR`]. A
//! flush after a second of quiet starts again from the floor: the load has gone, and a lone line
//! should not wait for a crowd that left.
//!
//! Plain data in (the time, what a flush cost), plain data out (the window): no clock of its own, so
//! it is tested with made-up times.

use std::time::{Duration, Instant};

/// The shortest window: the fixed default before the window adapted. 100 µs is far below what a
/// person notices, and in a busy room it already lets tens of lines share a write.
pub const FLOOR: Duration = Duration::from_micros(100);

/// The longest window: 25 ms is what the window may add to a line's way at most. It is a quarter of
/// the ~100 ms from which a delay in a conversation starts to be noticed, and at 100 lines a second
/// it lets three or four lines share each write, which is where the saving flattens out (writes of
/// four lines cost a quarter as many calls; writes of eight, an eighth: little more).
pub const CAP: Duration = Duration::from_millis(25);

/// Writing may take a quarter of the loop's time before the window grows (and an eighth before it
/// shrinks, so that it settles instead of swinging between the two).
pub const SHARE: u32 = 4;

/// Writes carrying this many lines on average are full enough: a longer window would save little.
pub const FULL: u64 = 4;

/// A flush this long after the one before starts from the floor again.
pub const QUIET: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct WindowSizer {
    window: Duration,
    /// When the last flush ended.
    last_flush: Option<Instant>,
}

impl Default for WindowSizer {
    fn default() -> Self {
        WindowSizer {
            window: FLOOR,
            last_flush: None,
        }
    }
}

impl WindowSizer {
    /// The window to open at `now`: the floor after a quiet, whatever the crowd before it needed.
    pub fn window(&self, now: Instant) -> Duration {
        match self.last_flush {
            Some(last) if now.saturating_duration_since(last) >= QUIET => FLOOR,
            _ => self.window,
        }
    }

    /// A flush ended at `now`. It took `cost`, and wrote `writes` queues holding `lines` lines.
    pub fn flushed(&mut self, now: Instant, cost: Duration, writes: u64, lines: u64) {
        let since = self
            .last_flush
            .map(|last| now.saturating_duration_since(last));
        self.last_flush = Some(now);
        let Some(since) = since.filter(|&since| since < QUIET) else {
            self.window = FLOOR;
            return;
        };
        let thin = writes > 0 && lines < writes * FULL;
        if cost * SHARE > since && thin {
            self.window = (self.window * 2).min(CAP);
        } else if cost * SHARE * 2 < since {
            self.window = (self.window / 2).max(FLOOR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs flushes of `cost` each with `lines` lines to `writes` recipients, one every `every` after
    /// the window; returns the windows after each.
    fn run(
        sizer: &mut WindowSizer,
        now: &mut Instant,
        flushes: usize,
        cost: Duration,
        writes: u64,
        lines: u64,
    ) -> Vec<Duration> {
        (0..flushes)
            .map(|_| {
                *now += sizer.window(*now) + cost;
                sizer.flushed(*now, cost, writes, lines);
                sizer.window(*now)
            })
            .collect()
    }

    #[test]
    fn a_quiet_room_keeps_the_floor() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        // Ten recipients, a flush of 50 µs every 10 ms (100 lines a second).
        for _ in 0..100 {
            now += 10 * MS;
            sizer.flushed(now, Duration::from_micros(50), 10, 10);
            assert_eq!(sizer.window(now), FLOOR);
        }
    }

    #[test]
    fn steady_thin_expensive_flushes_grow_the_window_to_the_cap_and_it_stays() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        // 5,000 recipients, one line each per write, 10 ms per flush.
        let windows = run(&mut sizer, &mut now, 20, 10 * MS, 5000, 5000);
        assert_eq!(
            windows[..2],
            [FLOOR, FLOOR * 2],
            "the first flush has nothing to compare"
        );
        assert!(windows.windows(2).all(|w| w[0] <= w[1]), "{windows:?}");
        assert_eq!(*windows.last().unwrap(), CAP);
        // At the cap, writing still takes 10 of every 35 ms: it stays there.
        let windows = run(&mut sizer, &mut now, 20, 10 * MS, 5000, 5000);
        assert!(windows.iter().all(|&w| w == CAP));
    }

    #[test]
    fn writes_already_full_do_not_grow_the_window() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        // A hundred busy talkers: flushes take most of the time, but each write carries 37 lines.
        let windows = run(&mut sizer, &mut now, 50, 2 * MS, 100, 3700);
        assert!(windows.iter().all(|&w| w == FLOOR), "{windows:?}");
    }

    #[test]
    fn the_window_settles_where_writing_takes_between_an_eighth_and_a_quarter() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        // Flushes of 1 ms with thin writes: it grows past 3 ms (a quarter) and stops below 7 ms.
        let windows = run(&mut sizer, &mut now, 40, MS, 1000, 1000);
        let last = &windows[20..];
        assert!(last.iter().all(|&w| w == last[0]), "{windows:?}");
        assert!(last[0] >= 3 * MS && last[0] <= 7 * MS, "{:?}", last[0]);
    }

    #[test]
    fn a_burst_grows_it_and_it_shrinks_when_the_load_goes() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        run(&mut sizer, &mut now, 10, 10 * MS, 5000, 5000);
        assert!(sizer.window(now) > 10 * MS);
        // The crowd goes quiet: cheap flushes, far apart (but under a second): it halves each time.
        let windows = run(&mut sizer, &mut now, 10, Duration::from_micros(20), 10, 10);
        assert!(windows.windows(2).all(|w| w[0] >= w[1]), "{windows:?}");
        assert_eq!(*windows.last().unwrap(), FLOOR);
    }

    #[test]
    fn a_single_line_after_a_long_quiet_gets_the_floor() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        run(&mut sizer, &mut now, 10, 10 * MS, 5000, 5000);
        assert_eq!(sizer.window(now), CAP);
        // The next line comes five seconds later: its window is the floor, not the crowd's.
        now += Duration::from_secs(5);
        assert_eq!(sizer.window(now), FLOOR);
        // And its flush, cheap now, leaves it there.
        sizer.flushed(now, Duration::from_micros(30), 10, 10);
        assert_eq!(sizer.window(now), FLOOR);
    }
}
