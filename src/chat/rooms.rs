//! `Rooms`: the chat's rooms (`#general`, `#dev`), who is in each, and each user's list of rooms.
//!
//! A line to a room must reach its members and no one else, at a cost that does not grow with the
//! number of rooms or of rooms per user: so each room keeps the plain list of its members, and a
//! delivery walks that list and nothing else. Leaving a room scans its list to find the member (a
//! leave is announced to every member anyway, so it costs the same order of work as the notice).
//!
//! Each user has a `RoomList`: the rooms they are in, most recently joined last, and the current
//! one (where their chat goes). Nearly every user is in the default room alone; that list is not
//! even stored.
//!
//! Like the rest of the chat core this knows no sockets; the rules of joining and leaving (limits,
//! notices) are in `mod.rs`, this file only keeps the books.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use compact_str::CompactString;
use slab::Slab;

use super::ClientId;
use crate::text::{check_name, name_key};

/// The member list a room starts with room for. Rooms are few next to users (at most `--max-rooms`,
/// 1,000 by default: 256 KB at most up front), and a list grown from one entry through 2, 4, 8 ...
/// while a crowd joins leaves each generation among that crowd's join notices, where the last one
/// keeps a page of the heap in use after the notices are freed: in idle10k with every client in
/// five rooms, 780-805 B per client with lists grown from empty, 367-376 B with this.
const MEMBERS_AT_FIRST: usize = 64;

/// A room, by its slab key. Stable for the room's life; reused after it is gone.
pub type RoomId = u32;

/// One room.
pub struct ChatRoom {
    /// As its creator spelled it, `#` included.
    pub name: CompactString,
    /// Its members, in no order.
    pub members: Vec<u32>,
    /// How many members have it as their current room: when that is all of them, a line to the room
    /// needs no prefix for anyone, and nobody's current room has to be looked up.
    pub current_of: usize,
    pub topic: Option<String>,
    /// In a cluster, the members on other nodes, by name as spelled (empty on a single node, and for
    /// the default room, whose other nodes' users are the cluster's remote users).
    pub remote: Vec<String>,
    /// The last `--history` chat and action lines, oldest first, each with when it was said (Unix
    /// seconds; 0 if the chat was not told the time).
    pub history: VecDeque<(u64, String)>,
    /// In a big room, joins and leaves not yet announced, and when the next summary may go out.
    pub joins_untold: usize,
    pub leaves_untold: usize,
    pub next_summary: Instant,
}

impl ChatRoom {
    fn new(name: &str, now: Instant) -> ChatRoom {
        ChatRoom {
            name: CompactString::new(name),
            members: Vec::with_capacity(MEMBERS_AT_FIRST),
            current_of: 0,
            topic: None,
            remote: Vec::new(),
            history: VecDeque::new(),
            joins_untold: 0,
            leaves_untold: 0,
            next_summary: now,
        }
    }

    /// Adds a line said at `at` to the history, keeping at most `max` lines.
    pub fn remember(&mut self, at: u64, line: &str, max: usize) {
        if max == 0 {
            return;
        }
        if self.history.len() == max {
            self.history.pop_front();
        }
        self.history.push_back((at, line.to_string()));
    }
}

/// Every room, found by key or by name without regard to case.
pub struct Rooms {
    rooms: Slab<ChatRoom>,
    by_name: HashMap<Box<str>, RoomId>,
    default: RoomId,
}

impl Rooms {
    /// The rooms of a new chat: only the default one, `default_name` (a valid room name).
    pub fn new(default_name: &str, now: Instant) -> Rooms {
        let mut rooms = Rooms {
            rooms: Slab::new(),
            by_name: HashMap::new(),
            default: 0,
        };
        rooms.default = rooms.create(default_name, now);
        debug_assert_eq!(rooms.default, DEFAULT_ROOM);
        rooms
    }

    pub fn default_room(&self) -> RoomId {
        self.default
    }

    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    pub fn get(&self, room: RoomId) -> &ChatRoom {
        &self.rooms[room as usize]
    }

    pub fn get_mut(&mut self, room: RoomId) -> &mut ChatRoom {
        &mut self.rooms[room as usize]
    }

    /// The room called `name` (in any case), if it exists.
    pub fn find(&self, name: &str) -> Option<RoomId> {
        self.by_name.get(&name_key(name)).copied()
    }

    /// Creates the room `name`, which must not exist yet.
    pub fn create(&mut self, name: &str, now: Instant) -> RoomId {
        let room = self.rooms.insert(ChatRoom::new(name, now)) as RoomId;
        self.by_name.insert(name_key(name), room);
        room
    }

    /// Every room with its key, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (RoomId, &ChatRoom)> {
        self.rooms.iter().map(|(key, room)| (key as RoomId, room))
    }

    /// `id` joins `room` (not already a member).
    pub fn add(&mut self, room: RoomId, id: ClientId) {
        self.get_mut(room).members.push(id as u32);
    }

    /// `id` leaves `room`. A room left empty is removed, unless it is the default room.
    pub fn remove(&mut self, room: RoomId, id: ClientId) {
        let members = &mut self.get_mut(room).members;
        if let Some(i) = members.iter().position(|&m| m == id as u32) {
            members.swap_remove(i);
        }
        if members.is_empty() && room != self.default {
            let gone = self.rooms.remove(room as usize);
            self.by_name.remove(&name_key(&gone.name));
        }
    }

    /// Whether `room` still exists (it may have been removed when its last member left).
    pub fn exists(&self, room: RoomId) -> bool {
        self.rooms.contains(room as usize)
    }
}

/// Whether `name` is a valid room name: `#` and then what a user name may be.
pub fn is_room_name(name: &str) -> bool {
    name.strip_prefix('#')
        .is_some_and(|rest| check_name(rest).is_ok())
}

/// The default room's key: it is made first, in an empty slab, and never removed.
pub const DEFAULT_ROOM: RoomId = 0;

/// The rooms one user is in, most recently joined last, and which one is current.
///
/// Nearly every user is in the default room alone, and talks there: that is `RoomList::default()`,
/// which the chat does not even store (`Chat::room_lists` holds only the others). A user in a few
/// rooms (up to [`FEW`]) has them inline, in the chat's one table of room lists: no allocation of
/// their own. That matters for memory more than the bytes suggest: ten thousand small allocations
/// made while a crowd joins are scattered among the join notices of the moment, and each keeps
/// its page of the heap in use after those notices are freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomList(Repr);

/// How many rooms a list holds inline.
pub const FEW: usize = 6;

/// `current` in [`Repr::Few`] when there is none.
const NO_ROOM: RoomId = RoomId::MAX;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Repr {
    /// In the default room alone, talking there.
    #[default]
    DefaultOnly,
    /// Up to [`FEW`] rooms; the slots past `len` are 0, so that equal lists compare equal.
    Few {
        rooms: [RoomId; FEW],
        len: u8,
        current: RoomId,
    },
    /// More: on the heap.
    Many(Box<ManyRooms>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ManyRooms {
    rooms: Vec<RoomId>,
    current: Option<RoomId>,
}

impl RoomList {
    /// In the default room alone, talking there: `RoomList::default()`, as a constant.
    pub const DEFAULT_ONLY: RoomList = RoomList(Repr::DefaultOnly);

    pub fn current(&self) -> Option<RoomId> {
        match &self.0 {
            Repr::DefaultOnly => Some(DEFAULT_ROOM),
            Repr::Few { current, .. } => (*current != NO_ROOM).then_some(*current),
            Repr::Many(many) => many.current,
        }
    }

    pub fn rooms(&self) -> &[RoomId] {
        match &self.0 {
            Repr::DefaultOnly => &[DEFAULT_ROOM],
            Repr::Few { rooms, len, .. } => &rooms[..usize::from(*len)],
            Repr::Many(many) => &many.rooms,
        }
    }

    /// Joins `room` (not yet in the list) and makes it current.
    pub fn join(&mut self, room: RoomId) {
        self.change(|many| {
            many.rooms.push(room);
            many.current = Some(room);
        });
    }

    /// Makes `room`, one of the list, current.
    pub fn switch(&mut self, room: RoomId) {
        self.change(|many| many.current = Some(room));
    }

    /// Leaves `room`. If it was current, the most recently joined of those left becomes current.
    pub fn part(&mut self, room: RoomId) {
        self.change(|many| {
            many.rooms.retain(|&r| r != room);
            if many.current == Some(room) {
                many.current = many.rooms.last().copied();
            }
        });
    }

    /// Applies `change` to a working copy in the general form, then keeps the smallest form that
    /// holds the result. (A join or a part is a command, not the hot path: the copy is cheap.)
    fn change(&mut self, change: impl FnOnce(&mut ManyRooms)) {
        let mut many = ManyRooms {
            rooms: self.rooms().to_vec(),
            current: self.current(),
        };
        change(&mut many);
        self.0 = if many.rooms == [DEFAULT_ROOM] && many.current == Some(DEFAULT_ROOM) {
            Repr::DefaultOnly
        } else if many.rooms.len() <= FEW {
            let mut rooms = [0; FEW];
            rooms[..many.rooms.len()].copy_from_slice(&many.rooms);
            Repr::Few {
                rooms,
                len: many.rooms.len() as u8,
                current: many.current.unwrap_or(NO_ROOM),
            }
        } else {
            Repr::Many(Box::new(many))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_list_keeps_the_current_room_and_the_join_order() {
        let mut list = RoomList::default();
        assert_eq!((list.rooms(), list.current()), (&[0][..], Some(0)));
        list.join(5);
        list.join(7);
        assert_eq!(list.rooms(), [0, 5, 7]);
        assert_eq!(list.current(), Some(7));
        list.switch(0);
        list.part(0);
        // The current room went: the most recently joined one left is current.
        assert_eq!(list.current(), Some(7));
        list.part(7);
        assert_eq!((list.rooms(), list.current()), (&[5][..], Some(5)));
        list.part(5);
        assert_eq!((list.rooms(), list.current()), (&[][..], None));
        // Back in the default room alone, talking there: nothing is boxed any more.
        list.join(0);
        assert_eq!(list, RoomList::default());
    }

    #[test]
    fn a_long_list_spills_to_the_heap_and_comes_back() {
        let mut list = RoomList::default();
        for room in 1..=8 {
            list.join(room);
        }
        assert_eq!(list.rooms(), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(list.current(), Some(8));
        assert!(matches!(list.0, Repr::Many(_)));
        for room in [8, 7, 6] {
            list.part(room);
        }
        assert!(matches!(list.0, Repr::Few { .. }));
        assert_eq!(
            (list.rooms(), list.current()),
            (&[0, 1, 2, 3, 4, 5][..], Some(5))
        );
        // Leaving every room: no current room.
        for room in 0..=5 {
            list.part(room);
        }
        assert_eq!((list.rooms(), list.current()), (&[][..], None));
        list.join(0);
        assert_eq!(list, RoomList::default(), "back to the default room alone");
    }

    #[test]
    fn parting_a_room_that_is_not_current_keeps_the_current_one() {
        let mut list = RoomList::default();
        list.join(1);
        list.switch(0);
        list.part(1);
        assert_eq!(list, RoomList::default());
        let mut list = RoomList::default();
        list.join(1);
        list.part(0);
        assert_eq!((list.rooms(), list.current()), (&[1][..], Some(1)));
    }

    #[test]
    fn rooms_are_found_without_regard_to_case_and_go_when_empty() {
        let now = Instant::now();
        let mut rooms = Rooms::new("#general", now);
        let dev = rooms.create("#Dev", now);
        assert_eq!(rooms.find("#dev"), Some(dev));
        assert_eq!(rooms.find("#DEV"), Some(dev));
        rooms.add(dev, 4);
        rooms.add(dev, 9);
        rooms.remove(dev, 4);
        assert_eq!(rooms.get(dev).members, [9]);
        rooms.remove(dev, 9);
        assert_eq!(rooms.find("#dev"), None);
        assert!(!rooms.exists(dev));
        // The default room stays, empty.
        let general = rooms.default_room();
        rooms.add(general, 1);
        rooms.remove(general, 1);
        assert!(rooms.exists(general));
        assert_eq!(rooms.len(), 1);
    }

    #[test]
    fn room_names_are_a_hash_and_a_user_name() {
        assert!(is_room_name("#dev"));
        assert!(is_room_name("#año-2.b_c"));
        assert!(!is_room_name("dev"));
        assert!(!is_room_name("#"));
        assert!(!is_room_name("#a b"));
        assert!(!is_room_name(&format!("#{}", "x".repeat(33))));
    }
}
