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
