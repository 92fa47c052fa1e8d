//! The token bucket on its own (no clock) and as a layer (on tokio's paused clock).

use super::*;

#[test]
fn burst_passes_then_requests_are_spaced_by_qps() {
    let t0 = Instant::now();
    let mut b = Bucket::new(2.0, 3, t0);
    assert_eq!(
        [b.reserve(t0), b.reserve(t0), b.reserve(t0)],
        [Duration::ZERO; 3]
    );
    assert_eq!(b.reserve(t0), Duration::from_millis(500));
    assert_eq!(b.reserve(t0), Duration::from_millis(1000));
    let later = t0 + Duration::from_secs(10);
    assert_eq!(
        b.reserve(later),
        Duration::ZERO,
        "refilled, capped at burst"
    );
    assert_eq!([b.reserve(later), b.reserve(later)], [Duration::ZERO; 2]);
    assert_eq!(b.reserve(later), Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn the_layer_delays_and_counts_requests_over_the_burst() {
    let throttled = Counter::default();
    let svc = RateLimitLayer::new(1.0, 2, throttled.clone())
        .layer(tower::service_fn(|x: u32| async move { Ok::<_, ()>(x) }));
    let start = Instant::now();
    for i in 0..3 {
        assert_eq!(svc.clone().oneshot(i).await, Ok(i));
    }
    assert_eq!(throttled.get(), 1);
    assert!(
        Instant::now() - start >= Duration::from_secs(1),
        "the third request waited for a token"
    );
}
