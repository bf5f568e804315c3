//! The console client, `pollchat-client`, against the real server over loopback: piped input, files,
//! `/dev/null`, reconnecting after a restart or a dead link, giving up, TLS (a pinned fingerprint, a
//! wrong one, a CA, a restart), and a real terminal (tmux).

mod common;

use std::cell::RefCell;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{READ_TIMEOUT, Server};

/// A running `pollchat-client` with piped standard input and output.
struct ChatClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every line of standard output read so far.
    seen: RefCell<Vec<String>>,
    stderr: PathBuf,
}

fn temp_path(what: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("client-{}-{n}.{what}", std::process::id()))
}

impl ChatClient {
    fn start(args: &[&str], stdin: Stdio) -> ChatClient {
        ChatClient::start_with_env(args, stdin, &[])
    }

    /// Starts the client with these environment variables set as well.
    fn start_with_env(args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> ChatClient {
        let stderr = temp_path("stderr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pollchat-client"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start pollchat-client");
        // Standard output is read by a thread, so that waiting for a line can time out.
        let (send, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        ChatClient {
            child,
            stdin,
            lines,
            seen: RefCell::default(),
            stderr,
        }
    }

    /// Writes lines to the client's standard input.
    fn type_lines(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for a line on the client's standard output that matches.
    fn expect_output(&self, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.borrow_mut().push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "expected output never came ({e}); stderr: {}",
                    self.stderr()
                ),
            }
        }
    }

    /// Every line the client wrote, once it has exited.
    fn all_output(&self) -> Vec<String> {
        let deadline = Instant::now() + READ_TIMEOUT;
        let mut lines = self.seen.borrow().clone();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => return lines,
                Err(e) => panic!("standard output not closed ({e})"),
            }
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until the client's standard error contains `text`.
    fn wait_for_stderr(&self, text: &str) {
        let deadline = Instant::now() + READ_TIMEOUT;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "stderr never said {text:?}: {}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20)); // A file has no readiness to wait on.
        }
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "client still running; stderr: {}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20)); // Polling a process, not a socket.
        }
    }
}

impl Drop for ChatClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port with nothing listening on it (the kernel just gave it out and took it back).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn piped_input_delivers_every_line_then_quits_cleanly() {
    // Flood control off: 200 lines at the default 2 a second would take 95 s.
    let server = Server::start(&["--flood-rate", "0"]);
    let mut watcher = server.join("watcher");
    let mut client =
        ChatClient::start(&[&server.addr.to_string(), "--name", "bot"], Stdio::piped());
    let lines: String = (0..200).map(|i| format!("line {i}\n")).collect();
    client.type_lines(&lines);
    client.close_stdin(); // End of input: the client quits once everything is sent.
    watcher.expect("*** bot joined");
    for i in 0..200 {
        watcher.expect(&format!("<bot> line {i}"));
    }
    watcher.expect("*** bot left (quit)");
    assert_eq!(client.wait().code(), Some(0));
    client.expect_output(|l| l == "*** you are bot");
}

#[test]
fn without_a_name_a_scripts_first_line_is_the_name() {
    let server = Server::start(&[]);
    let mut watcher = server.join("watcher");
    let mut client = ChatClient::start(&[&server.addr.to_string()], Stdio::piped());
    client.type_lines("robot\nhello\n/quit\n");
    watcher.expect("*** robot joined");
    watcher.expect("<robot> hello");
    watcher.expect("*** robot left (quit)");
    assert_eq!(client.wait().code(), Some(0));
}

#[test]
fn standard_input_from_a_regular_file_works() {
    let server = Server::start(&[]);
    let mut watcher = server.join("watcher");
    let path = temp_path("input");
    let text: String = (0..50).map(|i| format!("from file {i}\n")).collect();
    fs::write(&path, text).unwrap();
    let stdin = Stdio::from(fs::File::open(&path).unwrap());
    let mut client = ChatClient::start(&[&server.addr.to_string(), "--name", "filer"], stdin);
    watcher.expect("*** filer joined");
    for i in 0..50 {
        watcher.expect(&format!("<filer> from file {i}"));
    }
    watcher.expect("*** filer left (quit)");
    assert_eq!(client.wait().code(), Some(0));
}

#[test]
fn standard_input_from_dev_null_joins_and_leaves() {
    let server = Server::start(&[]);
    let mut watcher = server.join("watcher");
    let mut client = ChatClient::start(
        &[&server.addr.to_string(), "--name", "nobody"],
        Stdio::null(),
    );
    watcher.expect("*** nobody joined");
    watcher.expect("*** nobody left (quit)");
    assert_eq!(client.wait().code(), Some(0));
}

#[test]
fn quit_exits_zero_after_the_server_closes() {
    let server = Server::start(&[]);
    let mut watcher = server.join("watcher");
    let mut client = ChatClient::start(&[&server.addr.to_string(), "--name", "q"], Stdio::piped());
    client.type_lines("/quit see you\n"); // Standard input stays open.
    watcher.expect("*** q joined");
    watcher.expect("*** q left (see you)");
    assert_eq!(client.wait().code(), Some(0));
    client.expect_output(|l| l == "*** bye");
}

#[test]
fn after_a_server_restart_it_rejoins_with_the_same_name_and_sends_what_was_typed_meanwhile() {
    let mut first = Server::start(&[]);
    let addr = first.addr.to_string();
    let mut watcher = first.join("watcher");
    let mut client = ChatClient::start(&[&addr, "--name", "ana"], Stdio::piped());
    watcher.expect("*** ana joined");
    client.type_lines("/name anita\n");
    watcher.expect("*** ana is now anita");

    first.signal("INT");
    assert_eq!(first.wait(READ_TIMEOUT).code(), Some(0));
    client.wait_for_stderr("connection lost");
    client.type_lines("typed while away\n");

    let second = Server::start_on(&addr, &[]);
    let mut watcher = second.join("watcher");
    // Whether anita rejoins before or after the watcher, the line typed offline arrives: live, or in
    // the history shown on joining.
    watcher.skip_until(|l| l == "<anita> typed while away");
    client.type_lines("after the restart\n");
    watcher.skip_until(|l| l == "<anita> after the restart");
    client.close_stdin();
    assert_eq!(client.wait().code(), Some(0));
}

#[test]
fn rooms_are_shown_with_their_name_and_a_restart_restores_them_and_the_current_one() {
    let mut first = Server::start(&[]);
    let addr = first.addr.to_string();
    let mut client = ChatClient::start(&[&addr, "--name", "ana"], Stdio::piped());
    client.expect_output(|l| l == "*** you are ana");
    // In #general (everyone is), #dev and #ops, talking in #dev.
    client.type_lines("/join #dev\n/join #ops\n/join #dev\n");
    client.expect_output(|l| l == "*** you joined #dev");
    client.expect_output(|l| l == "*** you joined #ops");
    client.expect_output(|l| l == "*** now talking in #dev");

    // A line of another of ana's rooms is shown with its room.
    let mut bea = first.join("bea");
    bea.send("/join #ops");
    bea.skip_until(|l| l.starts_with("*** online ("));
    bea.send("busy in ops");
    client.expect_output(|l| l == "#ops <bea> busy in ops");

    first.signal("INT");
    assert_eq!(first.wait(READ_TIMEOUT).code(), Some(0));
    client.wait_for_stderr("connection lost");
    client.type_lines("typed while away\n");

    let second = Server::start_on(&addr, &[]);
    let mut carl = second.join("carl");
    carl.send("/join #dev");
    // Whether ana rejoins before or after carl's join, the line she typed offline arrives in #dev
    // (in its history, or live), not in #general, where carl was until then.
    let line = carl.skip_until(|l| l == "*** you joined #dev" || l.contains("typed while away"));
    assert_eq!(
        line, "*** you joined #dev",
        "the offline line went to #general"
    );
    carl.skip_until(|l| l == "<ana> typed while away");
    // ana's next line, sent after her rejoin commands, arrives in #dev: carl's current room, so
    // without prefix.
    client.type_lines("back in dev\n");
    let line = carl.skip_until(|l| l.ends_with("<ana> back in dev"));
    assert_eq!(line, "<ana> back in dev");
    // She is in #general and #ops too.
    carl.send("/list #general");
    let general = carl.skip_until(|l| l.starts_with("#general *** online ("));
    assert_eq!(general, "#general *** online (2): ana, carl");
    carl.send("/list #ops");
    let ops = carl.skip_until(|l| l.starts_with("#ops *** online ("));
    assert_eq!(ops, "#ops *** online (1): ana");

    // And ana sees #ops's lines with its name again.
    carl.send("/join #ops");
    carl.skip_until(|l| l.starts_with("*** online ("));
    carl.send("hi ops");
    client.expect_output(|l| l == "#ops <carl> hi ops");

    client.close_stdin();
    assert_eq!(client.wait().code(), Some(0));
    let output = client.all_output();
    assert!(
        !output.iter().any(|l| l.starts_with("*** rooms (")),
        "the answer to the client's own /rooms was shown: {output:?}"
    );
    let stderr = client.stderr();
    assert!(stderr.contains("-- rejoining #ops, #dev"), "{stderr}");
}

#[test]
fn a_refused_connection_is_retried_until_the_server_starts() {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut client = ChatClient::start(&[&addr, "--name", "early"], Stdio::piped());
    client.wait_for_stderr("Connection refused");
    let server = Server::start_on(&addr, &[]);
    client.expect_output(|l| l == "*** you are early");
    client.type_lines("made it\n");
    let mut watcher = server.join("watcher");
    watcher.send("/list");
    // "made it" comes before the list: in the history shown on joining, or live if the watcher
    // joined first.
    let list = watcher.skip_until(|l| l.starts_with("*** online ("));
    assert_eq!(list, "*** online (2): early, watcher");
    client.close_stdin();
    assert_eq!(client.wait().code(), Some(0));
}

#[test]
fn a_script_gives_up_after_retry_secs() {
    let addr = format!("127.0.0.1:{}", free_port());
    let start = Instant::now();
    let mut client =
        ChatClient::start(&[&addr, "--name", "x", "--retry-secs", "1"], Stdio::piped());
    assert_eq!(client.wait().code(), Some(1));
    assert!(start.elapsed() >= Duration::from_secs(1));
    let stderr = client.stderr();
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("pollchat-client: cannot connect to")
            && last.ends_with("gave up after 1 s"),
        "{stderr}"
    );
}

#[test]
fn a_script_whose_name_is_refused_exits_1_with_the_reason() {
    let server = Server::start(&[]);
    let _holder = server.join("taken");
    let mut client = ChatClient::start(
        &[&server.addr.to_string(), "--name", "TAKEN"],
        Stdio::piped(),
    );
    assert_eq!(client.wait().code(), Some(1));
    assert!(
        client
            .stderr()
            .contains("pollchat-client: name refused: the name TAKEN is taken"),
        "{}",
        client.stderr()
    );
    let mut client =
        ChatClient::start(&[&server.addr.to_string(), "--name", "a b"], Stdio::piped());
    assert_eq!(client.wait().code(), Some(1));
    assert!(
        client
            .stderr()
            .contains("name refused: a name cannot contain a space"),
        "{}",
        client.stderr()
    );
}

#[test]
fn a_bad_address_is_one_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat-client"))
        .arg("no such host:99999")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("pollchat-client: bad address no such host:99999: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

/// A server with a `tls://` listener (first) and a plain one, for a plain watcher: `tls_args` say
/// where its certificate comes from.
fn tls_server(tls_listen: &str, tls_args: &[&str]) -> Server {
    let mut args = vec!["--listen", "127.0.0.1:0"];
    args.extend_from_slice(tls_args);
    let server = Server::start_on(tls_listen, &args);
    assert_eq!(server.tls_addrs.len(), 1, "no tls:// address");
    assert_eq!(server.addrs.len(), 1, "no plain address");
    server
}

/// The client's address for the server's TLS listener.
fn tls_target(server: &Server) -> String {
    format!("tls://{}", server.tls_addrs[0])
}

/// A self-signed certificate for 127.0.0.1 and its key, written to PEM files: a server started
/// with them again keeps its fingerprint, which `--tls-self-signed` would not.
fn certificate_files() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (temp_path("cert.pem"), temp_path("key.pem"));
    fs::write(&cert, made.cert.pem()).unwrap();
    fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let path = |p: PathBuf| p.to_str().unwrap().to_string();
    (path(cert), path(key))
}

#[test]
fn over_tls_with_a_pinned_fingerprint_lines_go_both_ways_with_a_plain_user() {
    // Flood control off: 100 lines at the default 2 a second would take 50 s.
    let server = tls_server(
        "tls://127.0.0.1:0",
        &["--tls-self-signed", "--flood-rate", "0"],
    );
    let mut watcher = server.join("watcher");
    // The fingerprint as printed (AB:CD:...), but lower case and without colons: both are accepted.
    let printed = server.fingerprint.clone().expect("a fingerprint");
    let pin = printed.replace(':', "").to_lowercase();
    let mut client = ChatClient::start(
        &[
            &tls_target(&server),
            "--tls-fingerprint",
            &pin,
            "--name",
            "ana",
        ],
        Stdio::piped(),
    );
    watcher.expect("*** ana joined");
    client.expect_output(|l| l == "*** you are ana");
    client.type_lines("hello over tls\n");
    watcher.expect("<ana> hello over tls");
    watcher.send("hi ana, in plain text");
    client.expect_output(|l| l == "<watcher> hi ana, in plain text");
    let lines: String = (0..100).map(|i| format!("line {i}\n")).collect();
    client.type_lines(&lines);
    client.close_stdin();
    for i in 0..100 {
        watcher.expect(&format!("<ana> line {i}"));
    }
    watcher.expect("*** ana left (quit)");
    assert_eq!(client.wait().code(), Some(0));
    client.expect_output(|l| l == "*** bye");
    assert_eq!(client.stderr(), "");
}

#[test]
fn a_wrong_fingerprint_is_refused_with_exit_3_and_one_line_and_nothing_is_sent() {
    let server = tls_server("tls://127.0.0.1:0", &["--tls-self-signed"]);
    let mut watcher = server.join("watcher");
    let real = server.fingerprint.clone().expect("a fingerprint");
    // The real fingerprint with its first digit changed.
    let first = if real.starts_with('0') { "1" } else { "0" };
    let wrong = format!("{first}{}", &real[1..]);
    let mut client = ChatClient::start(
        &[
            &tls_target(&server),
            "--tls-fingerprint",
            &wrong,
            "--name",
            "eve",
        ],
        Stdio::piped(),
    );
    // A line waits on standard input; it must never reach the server. (The client may have exited
    // already: a closed pipe is fine.)
    let _ = client
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"not for that server\n");
    assert_eq!(client.wait().code(), Some(3));
    assert_eq!(
        client.stderr(),
        format!(
            "pollchat-client: the server's certificate does not match --tls-fingerprint (it is \
             {real})\n"
        ),
        "one line, and no retry"
    );
    assert!(client.all_output().is_empty());
    // The client broke the handshake off with an alert; eve never joined, nothing was said.
    server.wait_for_log("TLS failed");
    assert!(watcher.lines_before_sync().is_empty());
}

#[test]
fn over_tls_after_a_server_restart_it_rejoins_and_sends_what_was_typed_meanwhile() {
    let (cert, key) = certificate_files();
    let cert_args = ["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
    let mut first = tls_server("tls://127.0.0.1:0", &cert_args);
    let target = tls_target(&first);
    let pin = first.fingerprint.clone().expect("a fingerprint");
    let mut watcher = first.join("watcher");
    let mut client = ChatClient::start(
        &[&target, "--tls-fingerprint", &pin, "--name", "ana"],
        Stdio::piped(),
    );
    watcher.expect("*** ana joined");
    client.type_lines("before\n");
    watcher.expect("<ana> before");

    first.signal("INT");
    assert_eq!(first.wait(READ_TIMEOUT).code(), Some(0));
    client.wait_for_stderr("connection lost");
    client.type_lines("typed while away\n");

    // The same port and the same certificate files: the pinned fingerprint still holds.
    let second = tls_server(&target, &cert_args);
    assert_eq!(second.fingerprint.as_deref(), Some(pin.as_str()));
    let mut watcher = second.join("watcher");
    // Whether ana rejoins before or after the watcher, the line typed offline arrives: live, or in
    // the history shown on joining.
    watcher.skip_until(|l| l == "<ana> typed while away");
    client.type_lines("after the restart\n");
    watcher.skip_until(|l| l == "<ana> after the restart");
    client.close_stdin();
    assert_eq!(client.wait().code(), Some(0));
    let stderr = client.stderr();
    assert!(!stderr.contains("certificate"), "{stderr}");
}

#[test]
fn a_ca_signed_server_is_trusted_through_tls_ca_or_the_system_roots_and_refused_without() {
    // A CA, and a server certificate for 127.0.0.1 that it signed.
    let ca = |name: &str| {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertifiedIssuer::self_signed(params, key).unwrap()
    };
    let (ours, theirs) = (ca("pollchat test CA"), ca("another CA"));
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ours).unwrap();
    let files = [
        ("cert.pem", cert.pem()),
        ("key.pem", key.serialize_pem()),
        ("ca.pem", ours.pem()),
        ("other-ca.pem", theirs.pem()),
    ]
    .map(|(what, text)| {
        let path = temp_path(what);
        fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    });
    let [cert, key, ca_file, other_ca] = files.each_ref().map(String::as_str);
    let server = tls_server("tls://127.0.0.1:0", &["--tls-cert", cert, "--tls-key", key]);
    let mut watcher = server.join("watcher");
    let target = tls_target(&server);

    // --tls-ca, then the "system" roots, pointed at the CA's file with SSL_CERT_FILE (which
    // rustls-native-certs reads instead of /etc/ssl/certs; an empty SSL_CERT_DIR is none).
    let mut joins = |name: &str, flags: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![target.as_str(), "--name", name];
        args.extend_from_slice(flags);
        let mut client = ChatClient::start_with_env(&args, Stdio::null(), env);
        watcher.expect(&format!("*** {name} joined"));
        watcher.expect(&format!("*** {name} left (quit)"));
        assert_eq!(client.wait().code(), Some(0), "{}", client.stderr());
    };
    joins("by-ca-file", &["--tls-ca", ca_file], &[]);
    let system = [("SSL_CERT_FILE", ca_file), ("SSL_CERT_DIR", "")];
    joins("by-system", &[], &system);

    // System roots that do not hold the CA: refused, exit 3, with what to do about it.
    let env = [("SSL_CERT_FILE", other_ca), ("SSL_CERT_DIR", "")];
    let mut client = ChatClient::start_with_env(&[&target, "--name", "nope"], Stdio::null(), &env);
    assert_eq!(client.wait().code(), Some(3));
    let stderr = client.stderr();
    assert!(
        stderr.starts_with(
            "pollchat-client: the server's certificate was refused: no trusted CA signed it"
        ) && stderr.contains("--tls-ca FILE")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(watcher.lines_before_sync().is_empty());
}

#[test]
fn tls_flags_without_a_tls_address_or_a_malformed_fingerprint_are_usage_errors() {
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_pollchat-client"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        String::from_utf8(output.stderr).unwrap()
    };
    let stderr = run(&["127.0.0.1:1", "--tls-fingerprint", &"AB".repeat(32)]);
    assert!(stderr.contains("tls://127.0.0.1:1"), "{stderr}");
    let stderr = run(&["tls://127.0.0.1:1", "--tls-fingerprint", "AB:CD"]);
    assert!(stderr.contains("64 hex digits"), "{stderr}");
    let stderr = run(&["tls://127.0.0.1:1", "--tls-ca", "/nonexistent.pem"]);
    assert!(stderr.contains("/nonexistent.pem"), "{stderr}");
}

/// A TCP relay between the client and the server whose client side can be cut while its server side
/// stays open: the server then still believes the user is connected, as it does when a laptop sleeps.
struct Relay {
    port: u16,
    /// The server-side sockets of every relayed connection, oldest first.
    upstreams: Arc<Mutex<Vec<TcpStream>>>,
    /// The client-side sockets, oldest first.
    downstreams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(server: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstreams = Arc::new(Mutex::new(Vec::new()));
        let downstreams = Arc::new(Mutex::new(Vec::new()));
        let (ups, downs) = (Arc::clone(&upstreams), Arc::clone(&downstreams));
        thread::spawn(move || {
            for down in listener.incoming() {
                let Ok(down) = down else { return };
                let Ok(up) = TcpStream::connect(server) else {
                    return;
                };
                pipe(down.try_clone().unwrap(), up.try_clone().unwrap());
                pipe(up.try_clone().unwrap(), down.try_clone().unwrap());
                ups.lock().unwrap().push(up);
                downs.lock().unwrap().push(down);
            }
        });
        Relay {
            port,
            upstreams,
            downstreams,
        }
    }

    /// Cuts the client side of connection `i`, leaving its server side open and silent.
    fn cut_client_side(&self, i: usize) {
        let _ = self.downstreams.lock().unwrap()[i].shutdown(Shutdown::Both);
    }

    fn close_server_side(&self, i: usize) {
        let _ = self.upstreams.lock().unwrap()[i].shutdown(Shutdown::Both);
    }
}

/// Copies bytes one way until either side fails; does not pass the end of the stream on, so that a
/// cut client side leaves the server side open.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
}

#[test]
fn a_name_still_held_by_a_dead_connection_is_retried_until_freed() {
    let server = Server::start(&[]);
    let relay = Relay::start(server.addr);
    let mut watcher = server.join("watcher");
    let relay_addr = format!("127.0.0.1:{}", relay.port);
    let mut client = ChatClient::start(&[&relay_addr, "--name", "ana"], Stdio::piped());
    watcher.expect("*** ana joined");
    // The client itself must have seen its join: cut before that, it would take the name for a
    // first-time refusal, not one of its own still held.
    client.expect_output(|line| line == "*** you are ana");

    // The client loses its connection, but the server's side of it lives on: the name stays taken.
    relay.cut_client_side(0);
    client.wait_for_stderr("the name ana is still taken");
    // The server finally notices the old connection is gone; the client's next try gets the name.
    relay.close_server_side(0);
    watcher.expect("*** ana left (connection lost)");
    watcher.expect("*** ana joined");
    client.type_lines("back\n");
    watcher.expect("<ana> back");
    client.close_stdin();
    assert_eq!(client.wait().code(), Some(0));
}

#[test]
fn in_a_terminal_arriving_lines_leave_the_half_typed_line_intact() {
    // Without tmux the test is skipped with a loud message, except under CI, which installs it.
    if !Tmux::installed() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "the terminal test needs tmux (.ci/run installs it)");
        eprintln!(
            "\n!!! SKIPPED the terminal test: tmux is not installed (apt-get install tmux)\n"
        );
        return;
    }
    let server = Server::start(&[]);
    let mut watcher = server.join("watcher");
    let client = env!("CARGO_BIN_EXE_pollchat-client");
    // Around the client, the shell records the terminal's settings and standard input's flags, to
    // show that the client puts both back as it found them.
    let (before, after) = (temp_path("stty-before"), temp_path("stty-after"));
    let flags =
        "python3 -c 'import fcntl, os; print(fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK)'";
    let script = format!(
        "stty -g > {b}; {flags} >> {b}; {client} {addr} --name ana; stty -g > {a}; {flags} >> {a}; sleep 60",
        b = before.display(),
        a = after.display(),
        addr = server.addr,
    );
    let tmux = Tmux::start(&format!("sh -c \"{script}\""), 80, 20);
    watcher.expect("*** ana joined");
    // The prompt shows the current room, once the client has learned the default room's name.
    tmux.wait_for("the prompt", |s| s.last().is_some_and(|r| r == "#general>"));

    // Type half a line, with a correction: "hello wor" after deleting a typo.
    tmux.keys(&["-l", "hello wox"]);
    tmux.keys(&["BSpace"]);
    tmux.keys(&["-l", "r"]);
    tmux.wait_for("the half-typed line", |s| {
        s.last().is_some_and(|r| r == "#general> hello wor")
    });

    // Lines arrive while the user is typing: they appear above, the typed text stays on the last row.
    watcher.send("a line that arrives meanwhile");
    watcher.send("/me and an action");
    let screen = tmux.wait_for("the arrived lines above the input", |s| {
        s.len() >= 3 && s[s.len() - 2] == "* watcher and an action"
    });
    assert_eq!(
        screen[screen.len() - 3],
        "<watcher> a line that arrives meanwhile"
    );
    assert_eq!(screen.last().unwrap(), "#general> hello wor");

    // Finish the line (with a non-ASCII character, and moving the cursor) and send it.
    tmux.keys(&["-l", "ld ñ"]);
    tmux.keys(&["Left", "Left"]);
    tmux.keys(&["-l", "!"]);
    tmux.keys(&["End", "Enter"]);
    watcher.expect("<ana> hello world! ñ");
    // The sent line is shown to its author as the others see it, and the input line is empty again.
    tmux.wait_for("the echo and an empty prompt", |s| {
        s.len() >= 2
            && s[s.len() - 2] == "<ana> hello world! ñ"
            && s.last().is_some_and(|r| r == "#general>")
    });

    // Joining a room makes it current: the prompt says so, and a line of the room left behind
    // shows its name.
    tmux.keys(&["-l", "/join #dev"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the new room in the prompt", |s| {
        s.last().is_some_and(|r| r == "#dev>")
    });
    watcher.send("still in general");
    tmux.wait_for("a line of #general with its room", |s| {
        s.len() >= 2 && s[s.len() - 2] == "#general <watcher> still in general"
    });

    // Ctrl+C leaves the room cleanly, and the terminal is as it was.
    tmux.keys(&["C-c"]);
    watcher.expect("*** ana left (quit)");
    let deadline = Instant::now() + READ_TIMEOUT;
    while fs::read_to_string(&after).map_or(true, |text| text.lines().count() < 2) {
        assert!(Instant::now() < deadline, "the client did not exit");
        thread::sleep(Duration::from_millis(20)); // A file has no readiness to wait on.
    }
    let (before, after) = (
        fs::read_to_string(&before).unwrap(),
        fs::read_to_string(&after).unwrap(),
    );
    assert_eq!(
        before, after,
        "terminal settings or O_NONBLOCK not restored"
    );
    assert!(
        after.ends_with("\n0\n"),
        "standard input left non-blocking: {after}"
    );
}
