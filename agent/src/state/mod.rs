//! What the agent knows and keeps: the in-memory store the socket answers from, the disk cache
//! that lets it answer without the cloud, the outbox of writes owed to the API server, and the
//! checksummed file format both files use.

pub mod cache;
pub mod framed;
pub mod journal;
pub mod outbox;
pub mod records;
pub mod store;
