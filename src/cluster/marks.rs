//! Reads that must take their place among the messages: `Marks`.
//!
//! Some scripts read state from Redis and, in the same atomic step, publish a *marker* (`users
//! TOKEN`, `rjoin ROOM TOKEN NAME`, `rusers ROOM TOKEN`). The read's reply comes on the command link
//! and the marker on the subscription, in no fixed order. What the read says is true exactly at the
//! marker's place among the messages: messages before it are already in the read, messages after it
//! are not. So the read's events are handed to the room at the marker's place, and messages that
//! come after a marker whose reply has not come yet wait behind it. A round trip to Redis is the
//! longest anything waits.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::chat::Event;

/// Something waiting behind a marker whose reply has not come.
enum Held {
    Event(Event<'static>),
    Mark(u64),
}

#[derive(Default)]
pub struct Marks {
    /// Replies that came before their marker: their events, and when they came (`None`: a marker
    /// that may never come, see [`Marks::reply_maybe_unmarked`]).
    replied: HashMap<u64, (Vec<Event<'static>>, Option<Instant>)>,
    /// A marker has come whose reply has not (its token, and since when): what follows waits.
    blocking: Option<(u64, Instant)>,
    held: VecDeque<Held>,
}

impl Marks {
    /// An event from a message: now, unless it waits behind a marker.
    pub fn event(&mut self, event: Event<'static>, out: &mut Vec<Event<'static>>) {
        if self.blocking.is_some() {
            self.held.push_back(Held::Event(event));
        } else {
            out.push(event);
        }
    }

    /// The marker `token` has come on the subscription.
    pub fn mark(&mut self, token: u64, now: Instant, out: &mut Vec<Event<'static>>) {
        if self.blocking.is_some() {
            return self.held.push_back(Held::Mark(token));
        }
        match self.replied.remove(&token) {
            Some((events, _)) => out.extend(events),
            None => self.blocking = Some((token, now)),
        }
    }

    /// The reply of the read `token` has come, as `events`.
    pub fn reply(
        &mut self,
        token: u64,
        events: Vec<Event<'static>>,
        now: Instant,
        out: &mut Vec<Event<'static>>,
    ) {
        self.replied_at(token, events, Some(now), now, out);
    }

    /// A reply whose marker may never come: it was published on a channel this node has since
    /// left. It is handed over at its marker if that comes, but no one waits for it (a marker that
    /// does not come back is otherwise taken for a broken subscription).
    pub fn reply_maybe_unmarked(
        &mut self,
        token: u64,
        events: Vec<Event<'static>>,
        now: Instant,
        out: &mut Vec<Event<'static>>,
    ) {
        self.replied_at(token, events, None, now, out);
    }

    fn replied_at(
        &mut self,
        token: u64,
        events: Vec<Event<'static>>,
        at: Option<Instant>,
        now: Instant,
        out: &mut Vec<Event<'static>>,
    ) {
        if self.blocking.map(|(t, _)| t) != Some(token) {
            self.replied.insert(token, (events, at));
            return;
        }
        self.blocking = None;
        out.extend(events);
        while self.blocking.is_none()
            && let Some(held) = self.held.pop_front()
        {
            match held {
                Held::Event(event) => out.push(event),
                Held::Mark(token) => self.mark(token, now, out),
            }
        }
    }

    /// Since when a reply or a marker has waited for its other half, if one has: a marker that never
    /// comes back means the subscription is not what this node thinks.
    pub fn waiting_since(&self) -> Option<Instant> {
        let replied = self.replied.values().filter_map(|(_, at)| *at);
        replied.chain(self.blocking.map(|(_, at)| at)).min()
    }

    /// The link is gone: the other halves will never come. What was held is still news, in order.
    pub fn clear(&mut self, out: &mut Vec<Event<'static>>) {
        self.blocking = None;
        self.replied.clear();
        for held in self.held.drain(..) {
            if let Held::Event(event) = held {
                out.push(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Remote;

    fn seen(seq: u64) -> Event<'static> {
        Event::Remote(Remote::Seen { seq })
    }

    #[test]
    fn a_reply_before_its_marker_is_handed_over_at_the_marker() {
        let (mut marks, mut out, now) = (Marks::default(), Vec::new(), Instant::now());
        marks.reply(1, vec![seen(100)], now, &mut out);
        marks.event(seen(1), &mut out);
        marks.mark(1, now, &mut out);
        marks.event(seen(2), &mut out);
        assert_eq!(out, [seen(1), seen(100), seen(2)]);
        assert_eq!(marks.waiting_since(), None);
    }

    #[test]
    fn messages_after_a_marker_wait_for_its_reply_and_markers_queue() {
        let (mut marks, mut out, now) = (Marks::default(), Vec::new(), Instant::now());
        marks.event(seen(1), &mut out);
        marks.mark(1, now, &mut out);
        marks.event(seen(2), &mut out);
        marks.mark(2, now, &mut out);
        marks.event(seen(3), &mut out);
        assert_eq!(out, [seen(1)]);
        assert_eq!(marks.waiting_since(), Some(now));
        marks.reply(2, vec![seen(200)], now, &mut out);
        assert_eq!(out, [seen(1)]);
        marks.reply(1, vec![seen(100)], now, &mut out);
        assert_eq!(out, [seen(1), seen(100), seen(2), seen(200), seen(3)]);
        assert_eq!(marks.waiting_since(), None);
    }

    #[test]
    fn a_lost_link_hands_over_what_was_held() {
        let (mut marks, mut out, now) = (Marks::default(), Vec::new(), Instant::now());
        marks.mark(1, now, &mut out);
        marks.event(seen(2), &mut out);
        marks.clear(&mut out);
        assert_eq!(out, [seen(2)]);
        marks.event(seen(3), &mut out);
        assert_eq!(out, [seen(2), seen(3)]);
    }
}
