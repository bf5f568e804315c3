//! Per receiver and sender, what has arrived of that sender's sequence: the next number expected and
//! which of the 64 before it were seen. That is enough to tell, line by line, an in-order delivery
//! from a duplicate and from a late one (reordered), with 16 bytes per pair and no allocation.
//!
//! Loss is not judged here: a skipped number may still arrive late. The generator counts unique
//! deliveries, and loss is what is missing from them once the run has drained.
//!
//! A receiver keeps a track only for the senders it should hear: all of them in one room, the
//! senders of its own rooms when the clients are in rooms (10,000 receivers × 1,000 senders would
//! be 160 MB of tracks; a receiver in a room of 10 needs one). A line from any other sender is
//! [`Seen::Foreign`]: it reached a receiver it was not meant for.

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
    /// From a sender this receiver should not hear (none of its rooms), or from no sender at all.
    Foreign,
}

#[derive(Debug, Clone, Copy, Default)]
struct Track {
    next: u64,
    /// Bit `k` is set if `next - 1 - k` has arrived.
    below: u64,
}

/// One receiver's view of the senders it hears.
#[derive(Debug, Default)]
pub struct Order {
    /// The senders heard, ascending; `tracks[k]` is `senders[k]`'s.
    senders: Box<[usize]>,
    tracks: Box<[Track]>,
}

impl Order {
    /// A receiver that hears `senders` (ascending, no repeats).
    pub fn new(senders: Vec<usize>) -> Order {
        debug_assert!(senders.windows(2).all(|w| w[0] < w[1]));
        Order {
            tracks: vec![Track::default(); senders.len()].into(),
            senders: senders.into(),
        }
    }

    /// A receiver that hears every one of senders `0..n`.
    pub fn all(n: usize) -> Order {
        Order::new((0..n).collect())
    }

    /// Where `sender`'s track is. When the receiver hears every sender from 0 up, sender `s` is at
    /// `s` and one comparison finds it; otherwise a binary search over the few it hears.
    fn find(&self, sender: usize) -> Option<usize> {
        if self.senders.get(sender) == Some(&sender) {
            return Some(sender);
        }
        self.senders.binary_search(&sender).ok()
    }

    pub fn check(&mut self, sender: usize, seq: u64) -> Seen {
        let Some(at) = self.find(sender) else {
            return Seen::Foreign;
        };
        let track = &mut self.tracks[at];
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
        let mut o = Order::all(2);
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
        let mut o = Order::all(1);
        assert_eq!(o.check(0, 1000), Seen::Ahead);
        assert_eq!(o.check(0, 999), Seen::Late);
        assert_eq!(o.check(0, 937), Seen::Late);
        assert_eq!(o.check(0, 935), Seen::Duplicate);
    }

    #[test]
    fn a_receiver_in_rooms_tracks_only_the_senders_it_hears() {
        let mut o = Order::new(vec![3, 13, 1003]);
        assert_eq!(o.check(13, 0), Seen::InOrder);
        assert_eq!(o.check(1003, 1), Seen::Ahead);
        assert_eq!(o.check(3, 0), Seen::InOrder);
        assert_eq!(o.check(13, 0), Seen::Duplicate);
        for stranger in [0, 1, 4, 12, 1002, 5000] {
            assert_eq!(o.check(stranger, 0), Seen::Foreign, "{stranger}");
        }
    }
}
