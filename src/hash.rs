//! FNV-1a over bytes: a hash that is the same across runs, builds and
//! platforms (std's hashers are seeded per process), for choosing a partition's
//! decoder and for the warehouse's file fingerprints.

/// FNV-1a (64 bit) of `bytes`.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_published_fnv1a_vectors() {
        assert_eq!(super::fnv1a(*b""), 0xcbf29ce484222325);
        assert_eq!(super::fnv1a(*b"a"), 0xaf63dc4c8601ec8c);
    }
}
