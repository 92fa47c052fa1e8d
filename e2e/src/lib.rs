//! tether end-to-end harness: `tether-sim`, an in-process Kubernetes API double, and
//! (later) the backends the scenario suite runs on.

pub mod sim;
