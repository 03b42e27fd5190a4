//! Random streams and draws of the simulator.
//!
//! Every user has its own generator, seeded from (run seed, user ordinal), and
//! arrivals have theirs: a user's events then depend on nothing but the seed and
//! the user, so sharding users over threads cannot change the output.
//! SplitMix64 keeps that state at 8 bytes a user.

use rand::{Rng, RngCore, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::SplitMix64;

pub type UserRng = SplitMix64;

/// Stream ids that can never be user ordinals (those are below 2^32).
pub const ARRIVALS_STREAM: u64 = 1 << 40;

/// A finaliser of MurmurHash3 / SplitMix64: spreads (seed, stream) over the
/// whole state space so that neighbouring users get unrelated streams.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator of stream `stream` of run `seed`.
pub fn stream(seed: u64, stream: u64) -> UserRng {
    SplitMix64::seed_from_u64(mix(mix(seed) ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

/// Exponential draw with this mean.
#[inline]
pub fn exp<R: RngCore>(rng: &mut R, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// Log-normal factor with mean 1: exp(Z)/sqrt(e), Z standard normal.
pub fn lognormal_factor<R: RngCore>(rng: &mut R) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    (z - 0.5).exp()
}

/// Picks from cumulative weights (the last is the total) with one draw.
#[inline]
pub fn pick<R: RngCore>(rng: &mut R, cum: &[(f64, usize)]) -> Option<usize> {
    let total = cum.last()?.0;
    let x = rng.random::<f64>() * total;
    cum.iter().find(|(c, _)| x < *c).or(cum.last()).map(|x| x.1)
}

/// Walker's alias table: a weighted draw in O(1) with one 64-bit random number,
/// for the large catalogues (10 k songs, 30 k first names) drawn on the hot path.
#[derive(Debug, Clone, Default)]
pub struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    /// Builds from non-negative weights; all-zero or empty weights give an empty
    /// table whose draws return 0.
    pub fn new(weights: &[f64]) -> Alias {
        let n = weights.len();
        let total: f64 = weights.iter().map(|w| w.max(0.0)).sum();
        if n == 0 || total.is_nan() || total <= 0.0 || !total.is_finite() {
            return Alias {
                prob: vec![1.0; n],
                alias: (0..n as u32).collect(),
            };
        }
        let mut prob: Vec<f64> = weights
            .iter()
            .map(|w| w.max(0.0) * n as f64 / total)
            .collect();
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l as u32;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in large.into_iter().chain(small) {
            prob[i] = 1.0;
        }
        Alias { prob, alias }
    }

    pub fn len(&self) -> usize {
        self.prob.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prob.is_empty()
    }

    /// One draw: the high 32 bits choose a column, the low 32 bits the side.
    #[inline]
    pub fn draw<R: RngCore>(&self, rng: &mut R) -> usize {
        let n = self.prob.len();
        if n == 0 {
            return 0;
        }
        let r = rng.next_u64();
        let i = (((r >> 32) * n as u64) >> 32) as usize;
        let u = (r & 0xffff_ffff) as f64 * (1.0 / 4_294_967_296.0);
        if u < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_draws_follow_weights() {
        let w = [1.0, 0.0, 3.0, 6.0];
        let a = Alias::new(&w);
        let mut rng = stream(1, 2);
        let mut c = [0u32; 4];
        let n = 400_000;
        for _ in 0..n {
            c[a.draw(&mut rng)] += 1;
        }
        assert_eq!(c[1], 0);
        for (i, wi) in w.iter().enumerate() {
            let want = wi / 10.0;
            let got = c[i] as f64 / n as f64;
            assert!((got - want).abs() < 0.005, "{i}: {got} vs {want}");
        }
    }

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4).map(|_| stream(7, 1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(stream(7, 1).next_u64(), stream(7, 2).next_u64());
        assert_ne!(stream(7, 1).next_u64(), stream(8, 1).next_u64());
    }

    #[test]
    fn lognormal_factor_has_mean_one() {
        let mut rng = stream(3, 3);
        let n = 200_000;
        let m: f64 = (0..n).map(|_| lognormal_factor(&mut rng)).sum::<f64>() / n as f64;
        assert!((m - 1.0).abs() < 0.02, "{m}");
    }
}
