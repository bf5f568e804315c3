//! A smoke test of `pollchat-bench` against the real server: a second of load, checked for zero loss.
//! (Speed is proven by the benchmark and written in docs/performance.md, never asserted here.)

mod common;

use std::process::Command;

use common::Server;

#[test]
fn the_bench_drives_the_server_and_counts_every_delivery() {
    let server = Server::start(&[]);
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat-bench"))
        .args([
            "--addr",
            &server.addr.to_string(),
            "--pid",
            &server.pid().to_string(),
        ])
        .args([
            "--clients",
            "20",
            "--senders",
            "2",
            "--window",
            "4",
            "--duration",
            "1",
        ])
        .args(["--settle-ms", "200", "--json"])
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{json}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| -> f64 {
        let at = json
            .find(&format!("\"{name}\":"))
            .unwrap_or_else(|| panic!("{name} in {json}"));
        let rest = &json[at + name.len() + 3..];
        rest[..rest.find([',', '}']).unwrap()].parse().unwrap()
    };
    assert_eq!(field("lost"), 0.0, "{json}");
    assert_eq!(field("out_of_order"), 0.0, "{json}");
    assert!(field("received") > 0.0, "{json}");
    assert_eq!(field("recipients_per_line"), 19.0);
    assert!(field("server_cpu_seconds") >= 0.0);
}
