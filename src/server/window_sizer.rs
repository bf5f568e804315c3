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
//! So after each flush, the window doubles (up to [`CAP`]) when all of these hold:
//!
//! - writing took more than two thirds of the loop's recent time ([`GROW_SHARE`]; the time spent
//!   writing, each flush's cost decaying over [`HORIZON`], so that a burst of a few flushes in a row
//!   is not a load): below that the loop has time to spare, and a longer window would only add delay
//!   for CPU nobody needs (a room of 1,000 with 200 lines a second writes 40 % of the time: there a
//!   threshold of a half grew the window, doubling p50 from 4.5 to 10–20 ms for 5–10 % less CPU);
//! - the writes were thin, under [`FULL`] lines each on average;
//! - lines come often enough that a longer window would gather more of them: at least one line per
//!   recipient per [`CAP`] (a room of 10,000 that hears 10 lines a second gets one line per write
//!   whatever the window, so it would only wait).
//!
//! It halves (down to [`FLOOR`]) when the writes were full, lines were too rare to share a write,
//! or writing took under a third of the time ([`SHRINK_SHARE`]); otherwise it stays, so that it settles instead of swinging. A flush after a
//! second of quiet starts again from the floor: the load has gone, and a lone line should not wait
//! for a crowd that left.
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

/// The share of the loop's time writing may take before the window grows, and under which it
/// shrinks.
pub const GROW_SHARE: f64 = 2.0 / 3.0;
pub const SHRINK_SHARE: f64 = 1.0 / 3.0;

/// Writes carrying this many lines on average are full enough: a longer window would save little
/// (an eighth of the calls; more lines per write save less and less), so it shrinks instead.
pub const FULL: u64 = 8;

/// A flush this long after the one before starts from the floor again.
pub const QUIET: Duration = Duration::from_secs(1);

/// The recent time over which writing's share is counted: a flush's cost weighs less the older it
/// is, by e^(-age / HORIZON). 100 ms spans several windows even at the cap, yet follows a load that
/// comes or goes within a fraction of a second.
pub const HORIZON: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct WindowSizer {
    window: Duration,
    /// When the last flush ended.
    last_flush: Option<Instant>,
    /// Recent time spent writing, in seconds, each flush's cost decayed by its age (see
    /// [`HORIZON`]): divided by the horizon, the share of the loop's time that writing takes.
    writing: f64,
}

impl Default for WindowSizer {
    fn default() -> Self {
        WindowSizer {
            window: FLOOR,
            last_flush: None,
            writing: 0.0,
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
            self.writing = cost.as_secs_f64();
            return;
        };
        let horizon = HORIZON.as_secs_f64();
        let decay = (-since.as_secs_f64() / horizon).exp();
        self.writing = self.writing * decay + cost.as_secs_f64();
        let share = self.writing / horizon;
        let thin = writes > 0 && lines < writes * FULL;
        // Lines per recipient over the time since the last flush, against one per CAP.
        let frequent = lines as f64 * CAP.as_secs_f64() >= writes as f64 * since.as_secs_f64();
        if share > GROW_SHARE && thin && frequent {
            self.window = (self.window * 2).min(CAP);
        } else if !thin || !frequent || share < SHRINK_SHARE {
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
        // 5,000 recipients, 30 ms per flush, four lines per write (those that came while it wrote).
        let windows = run(&mut sizer, &mut now, 20, 30 * MS, 5000, 20_000);
        assert_eq!(windows[0], FLOOR, "the first flush has nothing to compare");
        assert!(windows.windows(2).all(|w| w[0] <= w[1]), "{windows:?}");
        assert_eq!(*windows.last().unwrap(), CAP);
        // At the cap, writing still takes 30 of every 55 ms: it stays there.
        let windows = run(&mut sizer, &mut now, 20, 30 * MS, 5000, 20_000);
        assert!(windows.iter().all(|&w| w == CAP));
    }

    #[test]
    fn writes_already_full_bring_the_window_down() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        // A hundred busy talkers: flushes take most of the time, but each write carries 37 lines.
        let windows = run(&mut sizer, &mut now, 50, 2 * MS, 100, 3700);
        assert!(windows.iter().all(|&w| w == FLOOR), "{windows:?}");
        // Even after something had grown it (a crowd joining, one line each).
        run(&mut sizer, &mut now, 10, 30 * MS, 5000, 20_000);
        let windows = run(&mut sizer, &mut now, 10, 2 * MS, 100, 3700);
        assert_eq!(*windows.last().unwrap(), FLOOR, "{windows:?}");
    }

    #[test]
    fn the_window_settles_where_writing_takes_between_a_third_and_two_thirds() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        // Flushes of 1 ms with thin writes: once the share has built up (a few horizons), it grows
        // while writing takes over two thirds of the time and stops by 3 ms.
        let windows = run(&mut sizer, &mut now, 1000, MS, 1000, 1000);
        let last = &windows[800..];
        assert!(last.iter().all(|&w| w == last[0]), "{windows:?}");
        assert!(last[0] >= MS && last[0] <= 3 * MS, "{:?}", last[0]);
    }

    #[test]
    fn short_bursts_with_time_between_keep_the_floor() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        // Four lines at once every 20 ms to 1,000 (fanout1k): four 2 ms flushes in a row, then
        // 12 ms of nothing. Writing takes 40 % of the time: no window needed.
        for _ in 0..50 {
            for _ in 0..4 {
                now += Duration::from_micros(100) + 2 * MS;
                sizer.flushed(now, 2 * MS, 1000, 1000);
            }
            now += 12 * MS - Duration::from_micros(400);
            assert_eq!(sizer.window(now), FLOOR);
        }
    }

    #[test]
    fn lines_becoming_rare_bring_a_grown_window_down() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        run(&mut sizer, &mut now, 20, 30 * MS, 5000, 20_000);
        assert_eq!(sizer.window(now), CAP);
        // The crowd stays, but only 10 lines a second now: one line per write whatever the window.
        for _ in 0..20 {
            now += 100 * MS;
            sizer.flushed(now, 70 * MS, 10_000, 10_000);
        }
        assert_eq!(sizer.window(now), FLOOR);
    }

    #[test]
    fn lines_too_rare_to_share_a_write_keep_the_floor() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        // 10,000 recipients, 10 lines a second: each flush takes 70 ms of every 100 ms, but no
        // window up to the cap would put two lines in one write.
        for _ in 0..100 {
            now += 100 * MS;
            sizer.flushed(now, 70 * MS, 10_000, 10_000);
            assert_eq!(sizer.window(now), FLOOR);
        }
    }

    #[test]
    fn a_loop_with_time_to_spare_keeps_the_floor() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        // Writing 2 ms of every 5 ms (a room of 1,000, 200 lines a second): no window needed.
        for _ in 0..100 {
            now += 5 * MS;
            sizer.flushed(now, 2 * MS, 1000, 1000);
            assert_eq!(sizer.window(now), FLOOR);
        }
    }

    #[test]
    fn a_burst_grows_it_and_it_shrinks_when_the_load_goes() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        run(&mut sizer, &mut now, 10, 30 * MS, 5000, 20_000);
        assert!(sizer.window(now) > 10 * MS);
        // The crowd goes quiet: cheap flushes, far apart (but under a second): it comes down, as the
        // crowd's writing fades from the last horizon.
        let windows: Vec<Duration> = (0..20)
            .map(|_| {
                now += 20 * MS;
                sizer.flushed(now, Duration::from_micros(20), 10, 10);
                sizer.window(now)
            })
            .collect();
        assert!(windows.windows(2).all(|w| w[0] >= w[1]), "{windows:?}");
        assert_eq!(*windows.last().unwrap(), FLOOR);
    }

    #[test]
    fn a_single_line_after_a_long_quiet_gets_the_floor() {
        let (mut sizer, mut now) = (WindowSizer::default(), Instant::now());
        run(&mut sizer, &mut now, 10, 30 * MS, 5000, 20_000);
        assert_eq!(sizer.window(now), CAP);
        // The next line comes five seconds later: its window is the floor, not the crowd's.
        now += Duration::from_secs(5);
        assert_eq!(sizer.window(now), FLOOR);
        // And its flush, cheap now, leaves it there.
        sizer.flushed(now, Duration::from_micros(30), 10, 10);
        assert_eq!(sizer.window(now), FLOOR);
    }
}
