//! placeholder during bring-up
fn main() {}
