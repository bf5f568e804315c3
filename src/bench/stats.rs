//! What the load generator counts: a latency histogram and, per receiver and sender, the next
//! sequence number expected, so loss, duplicates and reordering are caught line by line. Nothing here
//! allocates per line.

/// Sub-buckets per power of two: a value is placed within 1/64 (1.6 %) of itself.
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;

/// A log-linear histogram of nanoseconds, from 1 ns to 2^63 ns, in a fixed array.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; 64 * SUB],
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, nanos: u64) {
        self.counts[bucket(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value below which `q` (0..=1) of the recorded values fall (the bucket's upper edge).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return upper_edge(i).min(self.max);
            }
        }
        self.max
    }
}

fn bucket(value: u64) -> usize {
    if value < SUB as u64 {
        return value as usize;
    }
    let power = 63 - value.leading_zeros(); // >= SUB_BITS
    let shift = power - SUB_BITS;
    let sub = ((value >> shift) as usize) & (SUB - 1);
    ((power - SUB_BITS + 1) as usize) * SUB + sub
}

fn upper_edge(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let power = (index / SUB) as u32 + SUB_BITS - 1;
    let sub = (index % SUB) as u64;
    let shift = power - SUB_BITS;
    ((SUB as u64 + sub + 1) << shift) - 1
}

/// Per receiver, per sender: the next sequence number expected.
#[derive(Debug, Default)]
pub struct Order {
    next: Vec<u64>,
}

/// What one received sequence number says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    InOrder,
    /// Later than expected: this many were skipped (lost, or late).
    Gap(u64),
    /// Earlier than expected: a duplicate or a line that overtook another.
    Old,
}

impl Order {
    pub fn new(senders: usize) -> Order {
        Order {
            next: vec![0; senders],
        }
    }

    pub fn check(&mut self, sender: usize, seq: u64) -> Seen {
        let Some(next) = self.next.get_mut(sender) else {
            return Seen::Old;
        };
        match seq.cmp(next) {
            std::cmp::Ordering::Equal => {
                *next += 1;
                Seen::InOrder
            }
            std::cmp::Ordering::Greater => {
                let gap = seq - *next;
                *next = seq + 1;
                Seen::Gap(gap)
            }
            std::cmp::Ordering::Less => Seen::Old,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_two_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        for (q, want) in [
            (0.5, 50_000_000.0),
            (0.99, 99_000_000.0),
            (0.999, 99_900_000.0),
        ] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max(), 100_000_000);
        assert_eq!(h.count(), 100_000);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        h.record(3);
        assert_eq!(h.quantile(0.5), 3);
    }

    #[test]
    fn order_finds_gaps_and_old_lines() {
        let mut o = Order::new(2);
        assert_eq!(o.check(0, 0), Seen::InOrder);
        assert_eq!(o.check(0, 3), Seen::Gap(2));
        assert_eq!(o.check(0, 2), Seen::Old);
        assert_eq!(o.check(1, 0), Seen::InOrder);
        assert_eq!(o.check(5, 0), Seen::Old);
    }
}
