//! Rooms for a run's clients: which rooms each client joins, which one it talks in, and so who
//! must receive each sender's lines.
//!
//! Without rooms (`count` 0) every client stays in the server's default room and a line reaches
//! every other client, as before rooms existed. With `count` rooms, named `#r0`, `#r1`, ..., client
//! `i` is dealt to room `i mod count`, its own room; it also joins the `extra` rooms after it
//! (`#r{i+1}`, ... wrapping round), then its own again last, so that its own is its current room, the
//! one its lines go to. Dealt in turn, the first `count` clients sit in different rooms: with as
//! many senders as rooms (senders are the first clients), each room has one sender.
//!
//! A line then reaches the other members of its sender's room: those whose own room it is see it
//! as it is (`<b3> ~B ...`), those who joined it as an extra room see it prefixed with the room
//! (`#r3 <b3> ~B ...`). Both are counted, and each must show the right room.
//!
//! Every client stays in the server's default room as well (the server puts it there); nothing is
//! said there during the window.

/// How the clients are spread over rooms `#r0..#r{count-1}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rooms {
    /// How many rooms; 0: none of the bench's own, every client talks in the default room and sends
    /// no `/join`.
    pub count: usize,
    /// Rooms each client joins besides its own: the `extra` rooms after it. Fewer than `count`, so
    /// that they are distinct.
    pub extra: usize,
}

impl Rooms {
    /// Whether the clients join rooms of their own.
    pub fn are_on(&self) -> bool {
        self.count > 0
    }

    /// Client `index`'s own room, the one it talks in.
    pub fn home(&self, index: usize) -> usize {
        index % self.count
    }

    /// The rooms client `index` joins, in the order it joins them: the extra rooms first, its own
    /// last, so that its own is current once all are joined.
    pub fn joins(&self, index: usize) -> impl Iterator<Item = usize> + use<> {
        let (home, count) = (self.home(index), self.count);
        (1..=self.extra)
            .map(move |d| (home + d) % count)
            .chain(std::iter::once(home))
    }

    /// How many of the first `clients` clients are in `room`: those dealt to it, and those dealt to
    /// one of the `extra` rooms before it, which join it as an extra room.
    pub fn members(&self, room: usize, clients: usize) -> usize {
        let dealt = |r: usize| clients / self.count + usize::from(r < clients % self.count);
        (0..=self.extra)
            .map(|d| dealt((room + self.count - d) % self.count))
            .sum()
    }

    /// The senders (clients `0..senders`) whose lines client `index` receives: those whose own room
    /// is one of its rooms, itself excepted. Ascending.
    pub fn heard_by(&self, index: usize, senders: usize) -> Vec<usize> {
        let mut heard: Vec<usize> = self
            .joins(index)
            .flat_map(|room| (room..senders).step_by(self.count))
            .filter(|&sender| sender != index)
            .collect();
        heard.sort_unstable();
        heard
    }
}

/// The command that joins room `room`: `/join #r7`.
pub fn join_command(room: usize) -> String {
    format!("/join #r{room}")
}

/// The room that `*** you joined #rK` says was joined.
pub fn joined(line: &[u8]) -> Option<usize> {
    number(line.strip_prefix(b"*** you joined ")?)
}

/// A bench room's number from its name: `#r12` is 12.
pub fn number(name: &[u8]) -> Option<usize> {
    let digits = name.strip_prefix(b"#r")?;
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + usize::from(d - b'0')))
}

/// Splits a line of another room from its prefix: `#dev <bea> hi` is `(Some("#dev"), "<bea> hi")`.
/// A line of the recipient's current room has no prefix: `(None, line)`. No other line starts with
/// `#` (see docs/protocol.md, "Rooms").
pub fn split_room(line: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if line.first() == Some(&b'#')
        && let Some(space) = memchr::memchr(b' ', line)
    {
        return (Some(&line[..space]), &line[space + 1..]);
    }
    (None, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_OF_TEN: Rooms = Rooms {
        count: 10,
        extra: 0,
    };

    #[test]
    fn clients_are_dealt_in_turn_and_join_their_own_room_last() {
        assert_eq!(TEN_OF_TEN.home(0), 0);
        assert_eq!(TEN_OF_TEN.home(23), 3);
        let rooms = Rooms {
            count: 10,
            extra: 2,
        };
        assert_eq!(rooms.joins(3).collect::<Vec<_>>(), [4, 5, 3]);
        assert_eq!(rooms.joins(9).collect::<Vec<_>>(), [0, 1, 9]);
    }

    #[test]
    fn a_room_holds_its_own_clients_and_those_of_the_rooms_before_it() {
        assert_eq!(TEN_OF_TEN.members(0, 100), 10);
        // 43 clients in 10 rooms: rooms 0, 1 and 2 get a fifth.
        assert_eq!(TEN_OF_TEN.members(2, 43), 5);
        assert_eq!(TEN_OF_TEN.members(3, 43), 4);
        let rooms = Rooms {
            count: 10,
            extra: 2,
        };
        // Room 3: its own 4, and room 1's and room 2's 5 each, as their extras.
        assert_eq!(rooms.members(3, 43), 4 + 5 + 5);
        assert_eq!(rooms.members(0, 43), 5 + 4 + 4);
        let total: usize = (0..10).map(|r| rooms.members(r, 43)).sum();
        assert_eq!(total, 43 * 3);
    }

    #[test]
    fn a_client_hears_the_senders_of_its_rooms_but_not_itself() {
        // 20 senders in 10 rooms: room 3's are clients 3 and 13.
        assert_eq!(TEN_OF_TEN.heard_by(23, 20), [3, 13]);
        assert_eq!(TEN_OF_TEN.heard_by(3, 20), [13]);
        let rooms = Rooms {
            count: 10,
            extra: 1,
        };
        assert_eq!(rooms.heard_by(9, 20), [0, 10, 19]);
        // Everyone a sender hears is someone who receives its lines, and the other way round.
        for sender in 0..20 {
            let receivers = (0..50).filter(|&c| rooms.heard_by(c, 20).contains(&sender));
            let home = rooms.home(sender);
            assert_eq!(receivers.count(), rooms.members(home, 50) - 1);
        }
    }

    #[test]
    fn room_names_and_prefixes() {
        assert_eq!(join_command(7), "/join #r7");
        assert_eq!(joined(b"*** you joined #r12"), Some(12));
        assert_eq!(joined(b"*** you joined #general"), None);
        assert_eq!(joined(b"*** now talking in #r12"), None);
        assert_eq!(number(b"#r"), None);
        assert_eq!(number(b"#r1x"), None);
        assert_eq!(
            split_room(b"#r3 <b3> hi"),
            (Some(&b"#r3"[..]), &b"<b3> hi"[..])
        );
        assert_eq!(split_room(b"<b3> #r3 hi"), (None, &b"<b3> #r3 hi"[..]));
        assert_eq!(split_room(b"#nospace"), (None, &b"#nospace"[..]));
    }
}
