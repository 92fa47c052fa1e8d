//! `tether-cni`: placeholder while the commands are being written.
fn main() {}
