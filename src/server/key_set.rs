//! `KeySet`: a set of connection keys that remembers the order they were added in.
//!
//! The loop keeps several lists of connections that need something done later in the pass: output
//! to write when the write window ends (`dirty`), input left unread (`unread`), queues over the cap
//! (`slow`). Each must hold a key at most once, so a list alone is not enough: it needs a "listed"
//! flag per connection beside it, and the two must be kept in step by hand everywhere. This type
//! keeps both together: a vector of keys in the order they came, and a bitmap indexed by key (slab
//! keys are small and dense, so 10,000 connections cost 1.25 KB of bits per set).

/// Connection keys, each at most once, in the order they were added.
#[derive(Debug, Default)]
pub struct KeySet {
    /// The keys in the order they were added. A key taken out with [`KeySet::remove`] stays here
    /// until the next [`KeySet::take`], which skips it (its bit is clear).
    order: Vec<usize>,
    /// One bit per key: set while the key is in the set.
    bits: Vec<u64>,
    len: usize,
}

impl KeySet {
    /// Adds `key`; returns false if it was already in.
    pub fn insert(&mut self, key: usize) -> bool {
        let (word, bit) = (key / 64, 1u64 << (key % 64));
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & bit != 0 {
            return false;
        }
        self.bits[word] |= bit;
        self.order.push(key);
        self.len += 1;
        true
    }

    pub fn contains(&self, key: usize) -> bool {
        self.bits
            .get(key / 64)
            .is_some_and(|word| word & (1 << (key % 64)) != 0)
    }

    /// Takes `key` out, if it is in.
    pub fn remove(&mut self, key: usize) {
        if self.contains(key) {
            self.bits[key / 64] &= !(1 << (key % 64));
            self.len -= 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Gives back memory that a crowd left behind (the list of a pass that touched every
    /// connection), once the set holds far fewer keys: called on the loop's tick.
    pub fn shrink(&mut self) {
        if self.order.capacity() > 4 * self.order.len() + 1024 {
            self.order.shrink_to(2 * self.order.len());
        }
    }

    /// Empties the set into `into` (cleared first), in the order the keys were added. Taking the
    /// keys out first lets the caller handle each one while new keys are added for later.
    pub fn take(&mut self, into: &mut Vec<usize>) {
        into.clear();
        for key in self.order.drain(..) {
            let (word, bit) = (key / 64, 1u64 << (key % 64));
            if self.bits[word] & bit != 0 {
                self.bits[word] &= !bit;
                into.push(key);
            }
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(set: &mut KeySet) -> Vec<usize> {
        let mut keys = Vec::new();
        set.take(&mut keys);
        keys
    }

    #[test]
    fn keys_come_out_once_in_order() {
        let mut set = KeySet::default();
        assert!(set.insert(7));
        assert!(set.insert(200));
        assert!(!set.insert(7));
        assert!(set.insert(0));
        assert!(set.contains(200) && !set.contains(1) && !set.contains(100_000));
        assert_eq!(taken(&mut set), [7, 200, 0]);
        assert!(set.is_empty() && !set.contains(7));
        assert_eq!(taken(&mut set), [] as [usize; 0]);
    }

    #[test]
    fn a_removed_key_is_skipped_and_can_come_back() {
        let mut set = KeySet::default();
        set.insert(1);
        set.insert(2);
        set.remove(1);
        set.remove(99); // Never in: nothing happens.
        assert!(!set.contains(1));
        assert!(!set.is_empty());
        set.insert(1);
        // (Back before the set was emptied, it keeps its first place: order only matters between
        // keys added once.)
        assert_eq!(taken(&mut set), [1, 2]);
        set.insert(3);
        set.remove(3);
        assert!(set.is_empty());
        assert_eq!(taken(&mut set), [] as [usize; 0]);
    }
}
