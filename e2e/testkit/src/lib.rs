//! What the tests of several tether crates share, so that each fact is written once:
//!
//! - [`repo`]: where the checkout is, and deploy/'s documents as `kubectl apply -k` sends them;
//! - [`demo`]: the one demo NetworkProfile (the sim demo, the kind demo, the scenarios);
//! - [`kernel`]: what to run to read a node's kernel (tc, ip, sysctl) and how to parse it;
//! - [`netns`]: network namespaces made and removed by a test;
//! - [`require`]: what a test needs (root, Docker, a program): skipped locally, failed in CI;
//! - [`cni_runtime`]: a CNI runtime, as containerd's libcni runs a network list.

pub mod cni_runtime;
pub mod demo;
pub mod kernel;
pub mod netns;
pub mod repo;
pub mod require;
