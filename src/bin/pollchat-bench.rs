//! `pollchat-bench`: a load generator for pollchat and other line-based chat servers (being written).

fn main() {}
