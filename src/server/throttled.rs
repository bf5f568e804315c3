//! `Throttled`: the connections that flood control stopped reading, and when to come back to each.
//!
//! With edge-triggered readiness, input that is already waiting raises no new event: once the loop
//! stops reading a connection, nothing will ever tell it to start again. So each connection held back
//! gets a wake-up time (its next token, or its kick), kept in a min-heap: the loop's `poll` sleeps no
//! longer than the earliest one, and each pass pops only those that are due. Nothing here scans the
//! connections, however many there are.
//!
//! A hold can last several wake-ups: a flooder is read again for one line each time a token comes, and
//! held back again at once. `since` remembers when the hold began, for the kick, until the
//! connection's input runs dry (or it goes).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

#[derive(Debug, Default)]
pub struct Throttled {
    /// Wake-up times, earliest first. An entry may be stale (the connection left, or was woken
    /// already): the loop checks the connection's state before acting on one.
    wakes: BinaryHeap<Reverse<(Instant, usize)>>,
    /// When each connection's current hold began.
    since: HashMap<usize, Instant>,
}

impl Throttled {
    /// Holds connection `key` back until `wake`. Returns when its hold began: `now`, unless it was
    /// already being held back.
    pub fn hold(&mut self, key: usize, now: Instant, wake: Instant) -> Instant {
        self.wakes.push(Reverse((wake, key)));
        *self.since.entry(key).or_insert(now)
    }

    /// When the hold of connection `key` began, if it is being held back.
    pub fn since(&self, key: usize) -> Option<Instant> {
        self.since.get(&key).copied()
    }

    /// The hold of `key` is over: its input ran dry, or it is gone.
    pub fn end(&mut self, key: usize) {
        self.since.remove(&key);
    }

    /// The earliest wake-up, for `poll`'s timeout.
    pub fn next_wake(&self) -> Option<Instant> {
        self.wakes.peek().map(|Reverse((wake, _))| *wake)
    }

    /// The keys whose wake-up time has come, earliest first, into `due` (cleared first).
    pub fn due(&mut self, now: Instant, due: &mut Vec<usize>) {
        due.clear();
        while let Some(&Reverse((wake, key))) = self.wakes.peek() {
            if wake > now {
                break;
            }
            self.wakes.pop();
            due.push(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wakes_come_in_time_order_and_only_when_due() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut throttled = Throttled::default();
        throttled.hold(3, t0, t0 + 2 * s);
        throttled.hold(1, t0, t0 + s);
        throttled.hold(2, t0, t0 + 5 * s);
        assert_eq!(throttled.next_wake(), Some(t0 + s));
        let mut due = Vec::new();
        throttled.due(t0, &mut due);
        assert!(due.is_empty());
        throttled.due(t0 + 3 * s, &mut due);
        assert_eq!(due, [1, 3]);
        assert_eq!(throttled.next_wake(), Some(t0 + 5 * s));
    }

    #[test]
    fn a_hold_keeps_its_start_until_it_ends() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut throttled = Throttled::default();
        assert_eq!(throttled.hold(7, t0, t0 + s), t0);
        assert_eq!(throttled.hold(7, t0 + s, t0 + 2 * s), t0);
        assert_eq!(throttled.since(7), Some(t0));
        throttled.end(7);
        assert_eq!(throttled.since(7), None);
        assert_eq!(throttled.hold(7, t0 + 9 * s, t0 + 10 * s), t0 + 9 * s);
    }
}
