//! The web page in a real browser: runs tests/browser.py, which drives Debian's Chromium (headless,
//! over WebDriver) against the real server: a chat with a TCP user; rooms (#dev joined from the
//! message box, each room's lines kept apart, unread counts, switching by click and by Alt+Down,
//! /part); a flood of 10,000 lines a second the page must stay responsive through; then the page
//! over HTTPS (a self-signed certificate, taken with `--ignore-certificate-errors`) chatting over
//! wss:// with a TCP user. Without Chromium the test is skipped with a loud message, except under CI
//! (`CI=true`), where a missing browser is a failure: `.ci/run` installs it.

use std::path::Path;
use std::process::Command;

#[test]
fn a_browser_joins_and_chats_with_a_tcp_user() {
    let missing: Vec<&str> = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .status();
    let has_selenium = selenium.is_ok_and(|s| s.success());
    if !missing.is_empty() || !has_selenium {
        let what = format!("missing: {missing:?}, python3 selenium: {has_selenium}");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the browser test needs Chromium, chromedriver and selenium ({what})");
        }
        eprintln!("\n!!! SKIPPED the browser test ({what}).");
        eprintln!(
            "!!! Install: apt-get install chromium chromium-driver && pip install selenium\n"
        );
        return;
    }
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web.png");
    let output = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser.py"))
        .arg(env!("CARGO_BIN_EXE_pollchat"))
        .arg(&screenshot)
        .output()
        .expect("run python3");
    // The script's figures (latency during the flood, lines a second), shown with `--nocapture`.
    print!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        output.status.success(),
        "browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
