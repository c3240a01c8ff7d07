//! The simulator's random generator: xoshiro256++ seeded through SplitMix64.
//!
//! Chosen over `rand`'s `StdRng` because `StdRng`'s algorithm may change between `rand`
//! releases, and a seed printed by a failing simulation must replay the same run after a
//! dependency upgrade. xoshiro256++ is small, fast and statistically strong for simulation; it
//! is **not** cryptographically secure, so it implements [`rand::TryRng`] (hence [`rand::Rng`])
//! but not `CryptoRng`.
//!
//! Every link of a simulation gets its own stream ([`SimRng::stream`]), so traffic on one link
//! never changes the randomness another link sees.

use core::convert::Infallible;

/// SplitMix64's finalizer: a bijective mix of 64 bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One step of SplitMix64 over `state`.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mix64(*state)
}

/// xoshiro256++ (Blackman and Vigna), deterministic for a given seed on every platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRng {
    s: [u64; 4],
}

impl SimRng {
    /// The generator for `seed`: the state is four SplitMix64 outputs from `seed`, as the
    /// xoshiro authors recommend (never all zero).
    pub fn seed_from_u64(seed: u64) -> SimRng {
        let mut sm = seed;
        SimRng { s: [splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm)] }
    }

    /// The independent stream number `stream` derived from `seed` (the simulator uses one per
    /// link: `2 * path + direction`).
    pub fn stream(seed: u64, stream: u64) -> SimRng {
        SimRng::seed_from_u64(seed ^ mix64(stream.wrapping_add(0x5851_f42d_4c95_7f2d)))
    }

    /// The generator with exactly this state (for reference vectors). An all-zero state is
    /// replaced by `seed_from_u64(0)`'s, since xoshiro would emit zeros forever.
    pub fn from_state(s: [u64; 4]) -> SimRng {
        if s == [0; 4] { SimRng::seed_from_u64(0) } else { SimRng { s } }
    }

    /// The next 64 random bits (public through [`rand::Rng::next_u64`]).
    fn step(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

impl rand::TryRng for SimRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.step() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.step())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.step().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    #[test]
    fn xoshiro256plusplus_reference_vector() {
        // From the reference implementation, state [1, 2, 3, 4].
        let mut rng = SimRng::from_state([1, 2, 3, 4]);
        let expected = [41943041, 58720359, 3588806011781223, 3591011842654386, 9228616714210784205];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
    }

    #[test]
    fn splitmix_seeding_reference_vector() {
        // SplitMix64 from 0 first yields 0xe220a8397b1dcdaf.
        let mut sm = 0;
        assert_eq!(splitmix64(&mut sm), 0xe220_a839_7b1d_cdaf);
        assert_eq!(SimRng::seed_from_u64(7), SimRng::seed_from_u64(7));
        assert_ne!(SimRng::seed_from_u64(7), SimRng::seed_from_u64(8));
        assert_ne!(SimRng::stream(7, 0), SimRng::stream(7, 1));
    }
}
