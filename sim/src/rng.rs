//! A small deterministic random source, so the same `--seed` always produces the same
//! universe byte for byte (the Worker's evidence store de-duplicates by content hash, so a
//! re-run against an unchanged simulator must see identical bytes).

/// SplitMix64: tiny, fast, and good enough for varying prices and sizes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for one item of one stream: `seed` is the run's seed, `salt` names the
    /// stream (markets, books, …) and `index` the item, so items are independent of each other.
    pub fn for_item(seed: u64, salt: u64, index: u64) -> Rng {
        let mut rng = Rng(seed ^ salt.rotate_left(32));
        let mixed = rng.next_u64() ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Rng(mixed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (requires `lo <= hi`).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as i64
    }

    /// `n` lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n);
        while out.len() < n {
            let word = self.next_u64();
            for shift in (0..16).rev() {
                if out.len() == n {
                    break;
                }
                let nibble = ((word >> (shift * 4)) & 0xF) as u32;
                out.push(char::from_digit(nibble, 16).expect("nibble is a hex digit"));
            }
        }
        out
    }

    /// `n` decimal digits, the first one non-zero (Polymarket token ids are 77-digit integers).
    pub fn decimal_digits(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n);
        out.push(char::from_digit(self.range(1, 9) as u32, 10).expect("digit"));
        while out.len() < n {
            out.push(char::from_digit(self.range(0, 9) as u32, 10).expect("digit"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_items_differ() {
        let a: Vec<u64> = (0..4).map(|_| Rng::for_item(7, 1, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::for_item(7, 1, 3).next_u64(),
            Rng::for_item(7, 1, 4).next_u64()
        );
        assert_ne!(
            Rng::for_item(7, 1, 3).next_u64(),
            Rng::for_item(8, 1, 3).next_u64()
        );
    }

    #[test]
    fn range_stays_in_bounds() {
        let mut rng = Rng::for_item(1, 2, 3);
        for _ in 0..1000 {
            let v = rng.range(-3, 5);
            assert!((-3..=5).contains(&v));
        }
        assert_eq!(rng.hex(64).len(), 64);
        let d = rng.decimal_digits(77);
        assert_eq!(d.len(), 77);
        assert!(!d.starts_with('0'));
    }
}
