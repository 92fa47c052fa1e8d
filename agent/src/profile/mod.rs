//! NetworkProfiles and the rule that picks one for a pod: the custom resource as the API
//! server stores it, the agent's own validation of it, and resolution.
//!
//! Read in this order: [`crd`] (what a profile says), [`compile`] (checked and turned into wire
//! units, with [`quantity`] and [`selector`]), [`resolve`] (which valid profile wins).

pub mod compile;
pub mod crd;
pub mod quantity;
pub mod resolve;
pub mod selector;
