//! Flood control: how many lines one connection may send, and for how long it may keep trying to
//! send more.
//!
//! Every line a user sends after giving a name costs a token from that connection's bucket; the
//! bucket holds at most `burst` tokens and earns one back every `1 / rate` seconds. A person typing,
//! or a client pacing itself as IRC clients do, never empties it; a paste of sixty lines empties it
//! after the first `burst` and then goes on at `rate` lines a second, whole and in order.
//!
//! What happens when the bucket is empty is the edge's business, and on a single-threaded readiness
//! loop the answer is simple: **stop reading that connection** until the next token is due. Its input
//! stays where it is (in the kernel's receive buffer, and the few bytes already read in the
//! connection's reader), the sender's TCP window closes, and a `yes | nc` blocks in `write`. Nothing
//! is lost and nobody else pays. This file only decides; it never touches a socket, and it never
//! reads the clock: time is passed in, so the rules are tested below without waiting.
//!
//! A connection that is held back continuously for `kick_after` (its input never running dry) is
//! flooding on purpose, or is a script that cannot pace itself: the edge disconnects it.

use std::time::{Duration, Instant};

/// The limits, from `--flood-burst`, `--flood-rate` and `--flood-kick-secs`, and the instant that
/// [`LineBucket`]s count from.
#[derive(Debug, Clone, Copy)]
pub struct FloodLimit {
    /// How long it takes to earn one token back (`1 / rate`), in microseconds; `None` when flood
    /// control is off (`--flood-rate 0`).
    interval: Option<u64>,
    /// The most tokens a bucket holds: how many lines may come at once after a pause.
    burst: u64,
    /// How long a connection may be held back without a break before it is disconnected.
    kick_after: Option<Duration>,
    /// Time zero for the buckets (the server's start): a bucket keeps one 8-byte number instead of a
    /// 16-byte `Instant`, since every connection has one.
    epoch: Instant,
}

/// One connection's token bucket, kept as a single number: the moment (in microseconds after the
/// limit's epoch) at which the bucket will be full again. A bucket that is full now has that moment
/// in the past; taking a token moves it one interval later. The number of tokens in it at any time
/// follows: `burst - (full_at - now) / interval`. (This way of keeping a token bucket is known as
/// GCRA, the "generic cell rate algorithm"; it needs no refill step, because time itself refills it.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineBucket {
    full_at: u64,
}

impl FloodLimit {
    /// `rate` lines a second after a burst of `burst` lines; a `rate` of 0 turns flood control off.
    /// A `kick_after` of zero never disconnects anyone.
    pub fn new(burst: u32, rate: f64, kick_after: Duration, epoch: Instant) -> FloodLimit {
        let interval = (rate > 0.0).then(|| (1e6 / rate).round().max(1.0) as u64);
        FloodLimit {
            interval,
            burst: u64::from(burst.max(1)),
            kick_after: (!kick_after.is_zero()).then_some(kick_after),
            epoch,
        }
    }

    /// Flood control is on (a rate above zero).
    pub fn is_on(&self) -> bool {
        self.interval.is_some()
    }

    /// Whether the bucket holds a token right now.
    pub fn has_token(&self, bucket: &LineBucket, now: Instant) -> bool {
        self.next_token(bucket, now).is_none()
    }

    /// Takes one token for a line. The edge calls it only for a line it is about to hand on, after
    /// [`FloodLimit::next_token`] said a token was there; taking from an empty bucket still counts
    /// (the bucket then owes the time, and the next token comes that much later).
    pub fn take(&self, bucket: &mut LineBucket, now: Instant) {
        if let Some(interval) = self.interval {
            bucket.full_at = bucket.full_at.max(self.micros(now)) + interval;
        }
    }

    /// `None` if the bucket holds a token now; otherwise when the next one is earned. The bucket holds
    /// a token when it will be full again within `burst - 1` intervals.
    pub fn next_token(&self, bucket: &LineBucket, now: Instant) -> Option<Instant> {
        let interval = self.interval?;
        let now = self.micros(now);
        let slack = (self.burst - 1) * interval;
        let due = bucket.full_at.checked_sub(slack)?;
        (due > now).then(|| self.epoch + Duration::from_micros(due))
    }

    /// When a connection held back since `since` is to be disconnected, if ever.
    pub fn kick_at(&self, since: Instant) -> Option<Instant> {
        Some(since + self.kick_after?)
    }

    fn micros(&self, now: Instant) -> u64 {
        // A u64 of microseconds lasts 584,000 years.
        now.saturating_duration_since(self.epoch).as_micros() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Takes lines as fast as the bucket allows, one attempt every `step`, for `length`; returns how
    /// many were taken.
    fn lines_taken(
        limit: &FloodLimit,
        bucket: &mut LineBucket,
        start: Instant,
        step: Duration,
        length: Duration,
    ) -> usize {
        let mut taken = 0;
        let mut now = start;
        while now <= start + length {
            while limit.has_token(bucket, now) {
                limit.take(bucket, now);
                taken += 1;
            }
            now += step;
        }
        taken
    }

    #[test]
    fn a_full_bucket_gives_a_burst_then_nothing() {
        let epoch = Instant::now();
        let limit = FloodLimit::new(10, 2.0, Duration::ZERO, epoch);
        let mut bucket = LineBucket::default();
        let now = epoch + Duration::from_secs(100);
        for _ in 0..10 {
            assert!(limit.has_token(&bucket, now));
            limit.take(&mut bucket, now);
        }
        // The eleventh line waits half a second: one interval at 2 lines a second.
        assert_eq!(limit.next_token(&bucket, now), Some(now + 500 * MS));
        assert!(!limit.has_token(&bucket, now + 499 * MS));
        assert!(limit.has_token(&bucket, now + 500 * MS));
    }

    #[test]
    fn the_bucket_refills_at_the_rate() {
        let epoch = Instant::now();
        let limit = FloodLimit::new(10, 2.0, Duration::ZERO, epoch);
        let mut bucket = LineBucket::default();
        // Over 10 s of trying every millisecond: the burst, then 2 a second.
        let taken = lines_taken(&limit, &mut bucket, epoch, MS, Duration::from_secs(10));
        assert_eq!(taken, 10 + 20);
    }

    #[test]
    fn fractional_rates_work() {
        let epoch = Instant::now();
        // One line every 4 s after a burst of 1.
        let limit = FloodLimit::new(1, 0.25, Duration::ZERO, epoch);
        let mut bucket = LineBucket::default();
        let taken = lines_taken(&limit, &mut bucket, epoch, 10 * MS, Duration::from_secs(20));
        assert_eq!(taken, 1 + 5);
        // And 2.5 a second: 25 in 10 s after the burst.
        let limit = FloodLimit::new(5, 2.5, Duration::ZERO, epoch);
        let mut bucket = LineBucket::default();
        let taken = lines_taken(&limit, &mut bucket, epoch, MS, Duration::from_secs(10));
        assert_eq!(taken, 5 + 25);
    }

    #[test]
    fn a_long_idle_fills_the_bucket_but_not_beyond_the_burst() {
        let epoch = Instant::now();
        let limit = FloodLimit::new(3, 1.0, Duration::ZERO, epoch);
        let mut bucket = LineBucket::default();
        let start = epoch + Duration::from_secs(5);
        for _ in 0..3 {
            limit.take(&mut bucket, start);
        }
        assert!(!limit.has_token(&bucket, start));
        // An hour later: exactly the burst again, not 3,600 lines.
        let later = start + Duration::from_secs(3600);
        let mut taken = 0;
        while limit.has_token(&bucket, later) {
            limit.take(&mut bucket, later);
            taken += 1;
        }
        assert_eq!(taken, 3);
    }

    #[test]
    fn someone_within_the_rate_is_never_held_back() {
        let epoch = Instant::now();
        let limit = FloodLimit::new(10, 2.0, Duration::ZERO, epoch);
        let mut bucket = LineBucket::default();
        // A line every 500 ms for an hour, and a burst of ten on top now and then.
        let mut now = epoch;
        for i in 0..7200 {
            assert!(limit.has_token(&bucket, now), "held back at line {i}");
            limit.take(&mut bucket, now);
            now += 500 * MS;
        }
        now += Duration::from_secs(5);
        for _ in 0..10 {
            assert!(limit.has_token(&bucket, now));
            limit.take(&mut bucket, now);
        }
    }

    #[test]
    fn a_rate_of_zero_is_off() {
        let epoch = Instant::now();
        let limit = FloodLimit::new(10, 0.0, Duration::from_secs(60), epoch);
        assert!(!limit.is_on());
        let mut bucket = LineBucket::default();
        for _ in 0..100_000 {
            limit.take(&mut bucket, epoch);
        }
        assert!(limit.has_token(&bucket, epoch));
    }

    #[test]
    fn taking_from_an_empty_bucket_puts_it_in_debt() {
        let epoch = Instant::now();
        let limit = FloodLimit::new(2, 1.0, Duration::ZERO, epoch);
        let mut bucket = LineBucket::default();
        for _ in 0..5 {
            limit.take(&mut bucket, epoch);
        }
        // Two were in the bucket; three more were owed: the next token comes after 4 s, not 1 s.
        assert_eq!(
            limit.next_token(&bucket, epoch),
            Some(epoch + Duration::from_secs(4))
        );
    }

    #[test]
    fn kick_time_is_counted_from_the_start_of_the_hold() {
        let epoch = Instant::now();
        let limit = FloodLimit::new(10, 2.0, Duration::from_secs(60), epoch);
        let since = epoch + Duration::from_secs(7);
        assert_eq!(limit.kick_at(since), Some(since + Duration::from_secs(60)));
        let never = FloodLimit::new(10, 2.0, Duration::ZERO, epoch);
        assert_eq!(never.kick_at(since), None);
    }
}
