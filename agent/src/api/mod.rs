//! Everything that talks to the Kubernetes API server (through yurthub on an edge node): the
//! client and its limits, the three watches that fill the store, and the reports (Events,
//! status entries) delivered from the outbox.

pub mod client;
pub mod note;
pub mod ratelimit;
pub mod report;
pub mod upstream;
pub mod watches;
