//! Per receiver and sender, what has arrived of that sender's sequence: the next number expected and
//! which of the 64 before it were seen. That is enough to tell, line by line, an in-order delivery
//! from a duplicate and from a late one (reordered), with 16 bytes per pair and no allocation.
//!
//! Loss is not judged here: a skipped number may still arrive late. The generator counts unique
//! deliveries, and loss is what is missing from them once the run has drained.

/// How many numbers below the next expected one are remembered.
const REMEMBERED: u64 = 64;

/// What one received sequence number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The next one expected.
    InOrder,
    /// Later than the next one expected: the ones between are missing so far.
    Ahead,
    /// Earlier than the next one expected, and not seen before: it was overtaken (reordered).
    Late,
    /// Seen before; or so old (over 64 behind) that it cannot be told from a duplicate, and is
    /// counted as one so that it cannot hide a loss.
    Duplicate,
    /// From no sender of this run.
    Foreign,
}

#[derive(Debug, Clone, Copy, Default)]
struct Track {
    next: u64,
    /// Bit `k` is set if `next - 1 - k` has arrived.
    below: u64,
}

/// One receiver's view of every sender.
#[derive(Debug, Default)]
pub struct Order {
    tracks: Vec<Track>,
}

impl Order {
    pub fn new(senders: usize) -> Order {
        Order {
            tracks: vec![Track::default(); senders],
        }
    }

    pub fn check(&mut self, sender: usize, seq: u64) -> Seen {
        let Some(track) = self.tracks.get_mut(sender) else {
            return Seen::Foreign;
        };
        if seq >= track.next {
            // Shift the window up to `seq` (the skipped numbers enter it unseen), and mark `seq`.
            let shift = seq - track.next + 1;
            track.below = if shift >= REMEMBERED {
                0
            } else {
                track.below << shift
            } | 1;
            let in_order = seq == track.next;
            track.next = seq + 1;
            return if in_order { Seen::InOrder } else { Seen::Ahead };
        }
        let back = track.next - 1 - seq;
        if back >= REMEMBERED || track.below & (1 << back) != 0 {
            return Seen::Duplicate;
        }
        track.below |= 1 << back;
        Seen::Late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_late_lines_and_duplicates_are_told_apart() {
        let mut o = Order::new(2);
        assert_eq!(o.check(0, 0), Seen::InOrder);
        assert_eq!(o.check(0, 1), Seen::InOrder);
        assert_eq!(o.check(0, 1), Seen::Duplicate);
        assert_eq!(o.check(0, 4), Seen::Ahead);
        assert_eq!(o.check(0, 3), Seen::Late);
        assert_eq!(o.check(0, 3), Seen::Duplicate);
        assert_eq!(o.check(0, 2), Seen::Late);
        assert_eq!(o.check(0, 5), Seen::InOrder);
        assert_eq!(o.check(1, 0), Seen::InOrder);
        assert_eq!(o.check(2, 0), Seen::Foreign);
    }

    #[test]
    fn far_behind_counts_as_a_duplicate() {
        let mut o = Order::new(1);
        assert_eq!(o.check(0, 1000), Seen::Ahead);
        assert_eq!(o.check(0, 999), Seen::Late);
        assert_eq!(o.check(0, 937), Seen::Late);
        assert_eq!(o.check(0, 935), Seen::Duplicate);
    }
}
