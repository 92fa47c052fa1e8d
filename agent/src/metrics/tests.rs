//! The registry renders with the `tether_agent` prefix.

use super::*;

#[test]
fn renders_registered_metrics_with_prefix() {
    let m = Metrics::default();
    m.api_retried.inc();
    m.socket_answers.get_or_create(&[("source", "cache")]).inc();
    let text = m.render();
    assert!(text.contains("tether_agent_api_retried_total 1"), "{text}");
    assert!(
        text.contains("tether_agent_socket_answers_total{source=\"cache\"} 1"),
        "{text}"
    );
}
