//! A small deterministic random source for the unit tests' random and adversarial inputs
//! (xorshift64: no crate, the same sequence on every machine). Test builds only.

/// Marsaglia's xorshift64 from `seed` (nonzero): each call returns the next 64-bit value.
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
