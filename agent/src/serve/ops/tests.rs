//! The operations endpoint's routes, without a listener.

use super::*;
use crate::state::records::Origin;
use crate::test_support::pod;

fn ops() -> Ops {
    let store = Store::new("edge-1");
    store.replace_pods(vec![pod("ns", "p", "u", &[])], Origin::Disk);
    Ops {
        metrics: Arc::new(Metrics::default()),
        store,
        ready: AtomicBool::new(false),
    }
}

#[test]
fn readyz_follows_the_ready_flag_and_reports_the_store() {
    let ops = ops();
    assert_eq!(
        route("/readyz", &ops).status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    ops.ready.store(true, Ordering::Relaxed);
    assert_eq!(route("/readyz", &ops).status(), StatusCode::OK);
    assert_eq!(route("/healthz", &ops).status(), StatusCode::OK);
    assert_eq!(route("/nope", &ops).status(), StatusCode::NOT_FOUND);
}

#[test]
fn metrics_are_served_in_the_text_format() {
    let ops = ops();
    ops.metrics.socket_timeouts.inc();
    let r = route("/metrics", &ops);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert_eq!(r.status(), StatusCode::OK);
}
