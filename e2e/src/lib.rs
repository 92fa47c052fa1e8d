//! tether's end-to-end harness.
//!
//! Backends bring up a cluster of edge nodes with tether installed and let the scenarios in
//! `e2e/tests/` cut nodes off and read what happened. This branch carries the `kind` backend's
//! plan and executor ([`kind`]): a real Kind cluster with OpenYurt and yurthub, built from the
//! pinned versions in `hack/versions.env`.

pub mod kind;
