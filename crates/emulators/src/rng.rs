//! A small deterministic random number generator (SplitMix64): the same seed gives the same
//! world on every machine and every version of every dependency.

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// An independent stream for item `n` of the same seed, so one customer's data does not
    /// depend on how many random numbers earlier customers used.
    pub fn derive(seed: u64, n: u64) -> Self {
        let mut rng = Rng::new(seed.wrapping_add(n.wrapping_mul(0xD1B5_4A32_D192_ED03)));
        rng.next_u64();
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(u64::try_from(len).unwrap_or(u64::MAX))).unwrap_or(0)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// A GUID in lower case, such as Partner Center uses for tenant ids.
    pub fn guid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// Digits only, such as an MPN id.
    pub fn digits(&mut self, count: u32) -> String {
        let low = 10u64.pow(count - 1);
        (low + self.below(9 * low)).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_numbers() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.guid(), b.guid());
        assert_ne!(Rng::derive(7, 1).guid(), Rng::derive(7, 2).guid());
    }

    #[test]
    fn guids_look_like_guids() {
        let guid = Rng::new(1).guid();
        assert_eq!(guid.len(), 36);
        assert_eq!(guid.matches('-').count(), 4);
        assert_eq!(&guid[14..15], "4");
    }
}
