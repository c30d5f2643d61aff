//! The follower's retry schedule: exponential backoff with full jitter.

use std::time::Duration;

/// The retry schedule of [`SharedRegistry::follow`](super::SharedRegistry::follow) after
/// store errors: the `n`-th consecutive failure (from 0) waits a uniformly random time in
/// `[0, min(max, base * 2^n)]` ("full jitter", so nodes that failed together do not retry
/// together); a successful sync starts again at `n = 0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A schedule starting at `base` and doubling up to `max` (a `max` below `base` is
    /// taken as `base`).
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max: max.max(base),
            failures: 0,
        }
    }

    /// The consecutive failures counted so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The upper bound of the next delay: `min(max, base * 2^failures)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// Counts a failure and returns the delay before the next try: `random` (any `u64`,
    /// e.g. from the OS) picks it uniformly in `[0, ceiling]` at millisecond resolution.
    pub fn next_delay(&mut self, random: u64) -> Duration {
        let ceiling = u64::try_from(self.ceiling().as_millis()).unwrap_or(u64::MAX);
        self.failures = self.failures.saturating_add(1);
        Duration::from_millis(random % ceiling.saturating_add(1))
    }

    /// Starts the schedule again (after a success).
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let mut b = Backoff::new(S, Duration::from_secs(60));
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            ceilings.push(b.ceiling().as_secs());
            b.next_delay(0);
        }
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(b.failures(), 10);
    }

    #[test]
    fn delays_stay_within_zero_and_the_ceiling() {
        let mut b = Backoff::new(S, Duration::from_secs(60));
        for n in 0..40u32 {
            let ceiling = b.ceiling();
            let random = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let d = b.next_delay(random);
            assert!(d <= ceiling, "{d:?} > {ceiling:?} at failure {n}");
        }
        // The extremes: a random value of 0 waits nothing, the largest one the ceiling.
        let mut b = Backoff::new(S, Duration::from_secs(60));
        assert_eq!(b.next_delay(0), Duration::ZERO);
        assert_eq!(b.next_delay(2000), Duration::from_secs(2));
        assert_eq!(
            b.next_delay(u64::MAX),
            Duration::from_millis(u64::MAX % 4001)
        );
    }

    #[test]
    fn no_overflow_after_many_failures() {
        let mut b = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        for _ in 0..100 {
            b.next_delay(u64::MAX);
        }
        assert_eq!(b.failures(), 100);
        assert!(b.ceiling() <= Duration::MAX);
        let mut b = Backoff::new(S, Duration::from_secs(60));
        for _ in 0..1000 {
            assert!(b.next_delay(u64::MAX) <= Duration::from_secs(60));
        }
    }

    #[test]
    fn reset_starts_again_at_base() {
        let mut b = Backoff::new(S, Duration::from_secs(60));
        for _ in 0..8 {
            b.next_delay(7);
        }
        assert_eq!(b.ceiling(), Duration::from_secs(60));
        b.reset();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.ceiling(), S);
        assert!(b.next_delay(u64::MAX) <= S);
    }

    #[test]
    fn a_cap_below_base_is_base() {
        let b = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(b.ceiling(), Duration::from_secs(5));
    }
}
