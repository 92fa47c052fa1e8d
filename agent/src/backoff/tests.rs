//! Doubling, the cap, the reset and the floor that keeps a loop from spinning.

use super::*;

#[test]
fn waits_double_up_to_the_cap_and_reset_after_a_success() {
    let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
    let waits: Vec<u64> = (0..5).map(|_| b.next_wait().as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 5, 5]);
    b.reset();
    assert_eq!(b.next_wait(), Duration::from_secs(1));
}

#[test]
fn no_wait_is_zero_whatever_it_is_configured_with() {
    let mut b = Backoff::new(Duration::ZERO, Duration::ZERO);
    assert_eq!(b.next_wait(), Duration::from_millis(1));
    assert_eq!(b.next_wait(), Duration::from_millis(1));
}

#[test]
fn jittered_waits_stay_in_the_upper_half_and_replay_with_the_seed() {
    let waits = |seed| {
        let mut b = Backoff::jittered(
            Duration::from_secs(1),
            Duration::from_secs(8),
            Jitter::seeded(seed),
        );
        (0..6).map(|_| b.next_wait()).collect::<Vec<_>>()
    };
    let nominal = [1, 2, 4, 8, 8, 8].map(Duration::from_secs);
    let first = waits(7);
    for (w, n) in first.iter().zip(nominal) {
        assert!(*w >= n / 2 && *w < n, "{w:?} outside [{:?}, {n:?})", n / 2);
    }
    assert_eq!(first, waits(7), "the same seed, the same waits");
    assert_ne!(first, waits(8), "another node, other waits");
}

#[test]
fn a_spread_covers_its_window_and_never_reaches_its_end() {
    let mut j = Jitter::seeded(42);
    let window = Duration::from_secs(10);
    let draws: Vec<Duration> = (0..1000).map(|_| j.spread(window)).collect();
    assert!(draws.iter().all(|d| *d < window));
    // Every tenth of the window gets some of a thousand draws: spread, not bunched.
    for tenth in 0..10u32 {
        let (lo, hi) = (window * tenth / 10, window * (tenth + 1) / 10);
        let n = draws.iter().filter(|d| **d >= lo && **d < hi).count();
        assert!((50..150).contains(&n), "{n} draws in tenth {tenth}");
    }
}

#[test]
fn agents_started_together_draw_different_waits() {
    let (mut a, mut b) = (Jitter::from_entropy(), Jitter::from_entropy());
    let window = Duration::from_secs(60);
    assert_ne!(
        (0..4).map(|_| a.spread(window)).collect::<Vec<_>>(),
        (0..4).map(|_| b.spread(window)).collect::<Vec<_>>()
    );
}
