//! `NameIndex`: the users who have joined, found by name without regard to case.
//!
//! A map from a case-folded name to an id would keep a second copy of every name, as its key: with
//! ten thousand idle users, that copy and its allocation were a fifth of what each one cost. This
//! index holds ids only. An entry's key is its user's name, which the room already keeps; it is
//! case-folded on the fly when hashed or compared, never stored. So every lookup is told how to get
//! an id's current name (`name_of`), and a user's entry must be taken out before its name changes.
//!
//! `hashbrown::HashTable` (the table inside std's `HashMap`) is what makes this possible: std's map
//! only stores keys it owns.

use std::hash::{BuildHasher, Hasher, RandomState};

use hashbrown::HashTable;

use super::ClientId;
use crate::text::folded;

pub(super) struct NameIndex {
    table: HashTable<ClientId>,
    /// Random per process, like std's maps: names chosen to collide cannot slow the table down.
    hasher: RandomState,
}

impl NameIndex {
    pub(super) fn new() -> NameIndex {
        NameIndex {
            table: HashTable::new(),
            hasher: RandomState::new(),
        }
    }

    /// The user called `name` (in any case).
    pub(super) fn get<'a>(
        &self,
        name: &str,
        name_of: impl Fn(ClientId) -> &'a str,
    ) -> Option<ClientId> {
        let hash = hash(&self.hasher, name);
        self.table
            .find(hash, |&id| same_name(name_of(id), name))
            .copied()
    }

    /// Adds `id`, whose name is `name`; `name_of` must give the name of every id already here.
    pub(super) fn insert<'a>(
        &mut self,
        id: ClientId,
        name: &str,
        name_of: impl Fn(ClientId) -> &'a str,
    ) {
        let hasher = &self.hasher;
        let hash = hash(hasher, name);
        self.table
            .insert_unique(hash, id, |&other| self::hash(hasher, name_of(other)));
    }

    /// Takes out the user called `name`, while its name is still `name`.
    pub(super) fn remove<'a>(&mut self, name: &str, name_of: impl Fn(ClientId) -> &'a str) {
        let hash = hash(&self.hasher, name);
        if let Ok(entry) = self
            .table
            .find_entry(hash, |&id| same_name(name_of(id), name))
        {
            entry.remove();
        }
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    pub(super) fn ids(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.table.iter().copied()
    }

    pub(super) fn clear(&mut self) {
        self.table.clear();
    }
}

pub fn same_name(a: &str, b: &str) -> bool {
    folded(a).eq(folded(b))
}

fn hash(hasher: &RandomState, name: &str) -> u64 {
    let mut state = hasher.build_hasher();
    for c in folded(name) {
        state.write_u32(c as u32);
    }
    state.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_in_any_case_and_removed() {
        let names = ["Ana", "bea", "ÉLODIE", "Σίσυφος"];
        let name_of = |id: ClientId| names[id];
        let mut index = NameIndex::new();
        for (id, name) in names.iter().enumerate() {
            index.insert(id, name, name_of);
        }
        assert_eq!(index.get("aNA", name_of), Some(0));
        assert_eq!(index.get("élodie", name_of), Some(2));
        assert_eq!(index.get("ΣΊΣΥΦΟΣ", name_of), Some(3));
        assert_eq!(index.get("an", name_of), None);
        index.remove("BEA", name_of);
        assert_eq!(index.get("bea", name_of), None);
        assert_eq!(index.len(), 3);
        let mut ids: Vec<_> = index.ids().collect();
        ids.sort();
        assert_eq!(ids, [0, 2, 3]);
    }

    #[test]
    fn the_table_grows_without_losing_anyone() {
        let names: Vec<String> = (0..5000).map(|i| format!("User{i}")).collect();
        let name_of = |id: ClientId| names[id].as_str();
        let mut index = NameIndex::new();
        for (id, name) in names.iter().enumerate() {
            index.insert(id, name, name_of);
        }
        for (id, name) in names.iter().enumerate() {
            assert_eq!(index.get(&name.to_uppercase(), name_of), Some(id));
        }
    }
}
