//! The latency histogram: a fixed array of log-linear buckets, so that recording a delivery is an
//! index computation and an increment, never an allocation, and quantiles come out within 1 %.
//!
//! Log-linear: each power of two is cut into 128 equal buckets, so a bucket is at most 1/128 (0.8 %)
//! of the values in it wide. Below 128 ns every value has its own bucket. The array covers all of
//! `u64` nanoseconds (58 × 128 buckets, 58 KiB), which includes the 1 µs – 60 s that matters.

/// log2 of the buckets per power of two.
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// One group below `SUB` (exact values), then one group per power of two from `SUB_BITS` to 63.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// Counts of nanosecond values.
#[derive(Debug, Clone)]
pub struct Histogram {
    /// Boxed so that a `Histogram` is cheap to move; allocated once, when it is made.
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: Box::new([0; BUCKETS]),
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

    /// The value that `q` (0..=1) of the recorded values do not exceed: the upper edge of the bucket
    /// where that rank falls (never above the largest value recorded). 0 when empty.
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

/// The bucket of `value`: its power of two picks a group of `SUB` buckets, and the `SUB_BITS` bits
/// below its leading one pick the bucket in that group.
fn bucket(value: u64) -> usize {
    if value < SUB as u64 {
        return value as usize;
    }
    let power = 63 - value.leading_zeros(); // at least SUB_BITS
    let shift = power - SUB_BITS;
    let sub = ((value >> shift) as usize) & (SUB - 1);
    (shift as usize + 1) * SUB + sub
}

/// The largest value that falls in bucket `index`.
fn upper_edge(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let shift = (index / SUB - 1) as u32;
    let sub = (index % SUB) as u64;
    // The bucket holds [(SUB + sub) << shift, (SUB + sub + 1) << shift); for the very top bucket the
    // end is 2^64, so compute in u128.
    ((u128::from(SUB as u64 + sub + 1) << shift) - 1).min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_percent() {
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
            assert!((got - want).abs() / want < 0.01, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max(), 100_000_000);
        assert_eq!(h.count(), 100_000);
    }

    #[test]
    fn small_values_are_exact_and_the_extremes_fit() {
        let mut h = Histogram::default();
        h.record(3);
        assert_eq!(h.quantile(0.5), 3);
        h.record(u64::MAX);
        assert_eq!(h.quantile(1.0), u64::MAX);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn every_value_is_at_most_its_buckets_upper_edge() {
        for value in [
            128,
            129,
            255,
            256,
            1000,
            60_000_000_000,
            1 << 40,
            (1 << 40) - 1,
        ] {
            let b = bucket(value);
            assert!(value <= upper_edge(b), "{value}");
            assert!(b == 0 || value > upper_edge(b - 1), "{value}");
        }
    }
}
