//! The load generator behind `pollchat-bench` (being written).
