//! TLS on the same loop, with the clients people use: `openssl s_client` and Python's `ssl`, next
//! to a plain TCP user, against a server with a self-signed certificate made at start-up. Without
//! `openssl` the s_client test is skipped with a message, except under CI, where `.ci/run` installs
//! it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{READ_TIMEOUT, Server};

fn tls_server(args: &[&str]) -> Server {
    let mut all = vec!["--listen", "tls://127.0.0.1:0", "--tls-self-signed"];
    all.extend_from_slice(args);
    let server = Server::start(&all);
    assert_eq!(
        server.tls_addrs.len(),
        1,
        "no tls:// address on the start-up line"
    );
    server
}

/// Runs a Python program with `ssl` against `addr`: `script` gets `sock`, a connected TLS socket
/// that does not verify the certificate but pins it (the test checks the fingerprint it prints),
/// and `lines()`, an iterator over received lines. Returns its standard output.
fn python_tls(addr: SocketAddr, script: &str) -> String {
    let program = format!(
        r#"
import hashlib, socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(("{ip}", {port}), timeout={timeout})
sock = ctx.wrap_socket(raw, suppress_ragged_eofs=False)
der = sock.getpeercert(binary_form=True)
print("fingerprint", ":".join("%02X" % b for b in hashlib.sha256(der).digest()), flush=True)
f = sock.makefile("r", encoding="utf-8", newline="\n")
def lines():
    for line in f:
        yield line.rstrip("\n")
{script}
"#,
        ip = addr.ip(),
        port = addr.port(),
        timeout = READ_TIMEOUT.as_secs(),
    );
    let output = Command::new("python3")
        .args(["-c", &program])
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_python_ssl_client_chats_with_a_plain_user_and_pins_the_certificate() {
    let server = tls_server(&["--listen", "127.0.0.1:0"]);
    let plain_addr = server.addrs[0];
    let mut bea = common::Client::connect(plain_addr);
    bea.skip_until(|l| l == "*** your name?");
    bea.send("bea");
    bea.skip_until(|l| l.starts_with("*** online ("));
    let tls_addr = server.tls_addrs[0];
    // The Python user joins, says hello, waits for bea's answer, then quits: the server's close
    // must come with TLS's close_notify (`suppress_ragged_eofs=False` makes a bare FIN an error).
    let waiting = std::thread::spawn(move || {
        python_tls(
            tls_addr,
            r#"
it = lines()
assert next(it).startswith("*** welcome"), "greeting"
assert next(it) == "*** your name?"
sock.sendall(b"ana\nhello over tls\n")
for line in it:
    if line == "<bea> hi ana":
        break
sock.sendall(b"/quit\n")
for line in it:
    print(line)
print("closed cleanly")
"#,
        )
    });
    bea.expect("*** ana joined");
    bea.expect("<ana> hello over tls");
    bea.send("hi ana");
    bea.expect("*** ana left (quit)");
    let out = waiting.join().unwrap();
    assert!(out.contains("*** bye"), "{out}");
    assert!(out.contains("closed cleanly"), "{out}");
    let fingerprint = server.fingerprint.as_deref().expect("a fingerprint");
    assert!(out.contains(&format!("fingerprint {fingerprint}")), "{out}");
}

#[test]
fn openssl_s_client_joins() {
    let server = tls_server(&["--listen", "127.0.0.1:0"]);
    if Command::new("openssl").arg("version").output().is_err() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the TLS test needs openssl (.ci/run installs it)");
        }
        eprintln!("\n!!! SKIPPED openssl_s_client_joins: no openssl (apt-get install openssl)\n");
        return;
    }
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(server.tls_addrs[0].to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"carla\nhola desde openssl\n/quit\n")
        .unwrap();
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    // s_client exits when the server closes; bounded by the server's own close deadline.
    stdout.read_to_string(&mut out).unwrap();
    let _ = child.wait();
    assert!(out.contains("*** you are carla"), "{out}");
    assert!(out.contains("*** bye"), "{out}");
    // A plain user who joins next finds carla's line in the history.
    let mut dan = server.connect_prompted();
    dan.send("dan");
    dan.expect("*** you are dan");
    dan.expect("*** recent messages (1):");
    dan.expect_history("<carla> hola desde openssl");
}

#[test]
fn ncat_ssl_joins() {
    let server = tls_server(&[]);
    if Command::new("ncat").arg("--version").output().is_err() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the TLS test needs ncat (.ci/run installs it)");
        }
        eprintln!("\n!!! SKIPPED ncat_ssl_joins: no ncat (apt-get install ncat)\n");
        return;
    }
    let mut bea = server.join("bea");
    let mut child = Command::new("ncat")
        .args(["--ssl", "127.0.0.1"])
        .arg(server.tls_addrs[0].port().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ncat");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"dora\nhola desde ncat\n").unwrap();
    bea.expect("*** dora joined");
    bea.expect("<dora> hola desde ncat");
    bea.send("hola dora");
    stdin.write_all(b"/quit\n").unwrap();
    drop(stdin); // ncat exits once its input has ended and the server has closed.
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let _ = child.wait();
    assert!(out.contains("<bea> hola dora"), "{out}");
    assert!(out.contains("*** bye"), "{out}");
}

#[test]
fn plain_text_to_a_tls_port_gets_an_alert_and_a_close_and_no_log_above_debug() {
    let server = tls_server(&["--listen", "127.0.0.1:0"]);
    let mut plain = TcpStream::connect(server.tls_addrs[0]).unwrap();
    plain.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    plain.write_all(b"ana\nhello\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    // A TLS alert record (content type 21), then the close: no chat line.
    assert_eq!(answer.first(), Some(&21), "{answer:?}");
    assert!(!String::from_utf8_lossy(&answer).contains("***"));
    // The server goes on, and said nothing about it above debug.
    let _bea = server.join("bea");
    let log = server.log();
    let noisy: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("TLS") && !l.contains("DEBUG"))
        .collect();
    assert!(noisy.is_empty(), "{noisy:?}");
    assert!(log.contains("TLS failed"), "{log}");
}

#[test]
fn a_handshake_that_stalls_is_closed_on_the_name_deadline() {
    let server = tls_server(&["--name-timeout", "1", "--tick-ms", "50"]);
    let mut stalled = TcpStream::connect(server.tls_addrs[0]).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Says nothing at all: no ClientHello. The server gives up after the name timeout.
    let mut rest = Vec::new();
    let closed = stalled.read_to_end(&mut rest);
    assert!(closed.is_ok(), "{closed:?}");
    server.wait_for_log("gave no name in time");
}

#[test]
fn a_tls_listener_without_a_certificate_is_a_start_up_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat"))
        .args([
            "--listen",
            "tls://127.0.0.1:0",
            "--web",
            "off",
            "--irc",
            "off",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls-cert"), "{stderr}");
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat"))
        .args([
            "--listen",
            "tls://127.0.0.1:0",
            "--web",
            "off",
            "--irc",
            "off",
        ])
        .args([
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.pem",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent.pem"), "{stderr}");
}

/// Writes a new self-signed certificate and its key, as PEM, to `cert` and `key`.
fn write_pair(cert: &std::path::Path, key: &std::path::Path) {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(cert, pair.cert.pem()).unwrap();
    std::fs::write(key, pair.signing_key.serialize_pem()).unwrap();
}

#[test]
fn sighup_reloads_the_certificate_and_nobody_is_dropped() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tls-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    write_pair(&cert, &key);
    let (cert_arg, key_arg) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = Server::start(&[
        "--listen",
        "tls://127.0.0.1:0",
        "--tls-cert",
        cert_arg,
        "--tls-key",
        key_arg,
        "--tick-ms",
        "50",
    ]);
    let first = server.fingerprint.clone().unwrap();
    let tls_addr = server.tls_addrs[0];
    let mut bea = server.join("bea");
    // One TLS user stays connected across the reload, and must still hear bea afterwards.
    let staying = std::thread::spawn(move || {
        python_tls(
            tls_addr,
            r#"
it = lines()
sock.sendall(b"one\n")
for line in it:
    if line == "<bea> after the reload":
        print(line)
        break
"#,
        )
    });
    bea.expect("*** one joined");
    write_pair(&cert, &key);
    server.signal("HUP");
    server.wait_for_log("TLS certificate reloaded");
    let out = python_tls(tls_addr, "pass");
    assert!(!out.contains(&first), "the old certificate is still served");
    bea.send("after the reload");
    let stayed = staying.join().unwrap();
    assert!(stayed.contains(&format!("fingerprint {first}")), "{stayed}");
    assert!(stayed.contains("<bea> after the reload"), "{stayed}");
    // A pair that fails to load is logged, and the one in use is kept.
    std::fs::write(&cert, "broken\n").unwrap();
    let served = out.lines().next().unwrap().to_string();
    server.signal("HUP");
    server.wait_for_log("not reloaded");
    let again = python_tls(tls_addr, "pass");
    assert_eq!(again.lines().next(), Some(served.as_str()));
}

/// A TLS stream from a rustls client that trusts one certificate: as a browser does with a test CA.
type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(
    addr: SocketAddr,
    trusted: &rustls::pki_types::CertificateDer<'static>,
) -> TlsStream {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::from(addr.ip());
    let client = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    rustls::StreamOwned::new(client, stream)
}

/// The next frame from the server: its first byte (FIN and opcode) and its payload.
fn read_frame(from: &mut impl Read) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    from.read_exact(&mut head).expect("a frame from the server");
    assert_eq!(head[1] & 0x80, 0, "server frames must not be masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            from.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            from.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    from.read_exact(&mut payload).unwrap();
    (head[0], payload)
}

/// Text frames until one equals `want`; any other kind of frame on the way fails the test.
fn skip_to_text(from: &mut impl Read, want: &str) {
    loop {
        match read_frame(from) {
            (0x81, text) if text == want.as_bytes() => return,
            (0x81, _) => {}
            (first, payload) => panic!("frame {first:#x} {payload:?} while waiting for {want:?}"),
        }
    }
}

fn send_frame(to: &mut impl Write, first: u8, payload: &[u8]) {
    let mut out = Vec::new();
    pollchat::websocket::client_frame(first, payload, Some([0x37, 0xfa, 0x21, 0x3d]), &mut out);
    to.write_all(&out).unwrap();
}

#[test]
fn the_page_and_a_websocket_over_https_chat_with_a_plain_user() {
    use std::io::BufRead;
    // The certificate for 127.0.0.1 is made here, so the client verifies it for real.
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (cert, key) = (
        dir.join(format!("wss-{}.crt", std::process::id())),
        dir.join(format!("wss-{}.key", std::process::id())),
    );
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let server = Server::start(&[
        "--web",
        "https://127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let trusted = made.cert.der().clone();
    assert_eq!(
        server.fingerprint.as_deref(),
        Some(pollchat::tls::fingerprint(&trusted).as_str())
    );
    let web = server.web.expect("a web address");

    // The page over HTTPS; the server closes after it with close_notify (a bare FIN would make
    // rustls's read_to_end fail with UnexpectedEof).
    let mut page = tls_connect(web, &trusted);
    page.write_all(format!("GET / HTTP/1.1\r\nHost: {web}\r\n\r\n").as_bytes())
        .unwrap();
    let mut response = String::new();
    page.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("<title>pollchat</title>"), "{response}");

    let mut bea = server.join("bea");
    // The upgrade, as the page sends it: from its own https:// origin.
    let mut ws = std::io::BufReader::new(tls_connect(web, &trusted));
    let upgrade = format!(
        "GET /ws HTTP/1.1\r\nHost: {web}\r\nOrigin: https://{web}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    ws.get_mut().write_all(upgrade.as_bytes()).unwrap();
    let mut line = String::new();
    ws.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 101 Switching Protocols\r\n");
    while line != "\r\n" {
        line.clear();
        ws.read_line(&mut line).unwrap();
    }
    skip_to_text(&mut ws, "*** your name?");
    send_frame(ws.get_mut(), 0x81, b"ana");
    skip_to_text(&mut ws, "*** you are ana");
    bea.expect("*** ana joined");
    send_frame(ws.get_mut(), 0x81, b"hello over wss");
    bea.expect("<ana> hello over wss");
    bea.send("hi ana");
    skip_to_text(&mut ws, "<bea> hi ana");

    // Our close frame; the server answers with its own, then close_notify, then FIN.
    send_frame(ws.get_mut(), 0x88, &1000u16.to_be_bytes());
    let (first, payload) = read_frame(&mut ws);
    assert_eq!((first, payload), (0x88, 1000u16.to_be_bytes().to_vec()));
    let mut rest = Vec::new();
    ws.read_to_end(&mut rest)
        .expect("close_notify before the end of the stream");
    assert!(rest.is_empty(), "{rest:?}");
    bea.expect("*** ana left (connection lost)");
    let _ = std::fs::remove_file(cert);
    let _ = std::fs::remove_file(key);
}

#[test]
fn a_tls_client_on_a_plain_port_is_told_and_closed_without_becoming_a_user() {
    let server = tls_server(&[]);
    let mut bea = server.join("bea");
    // A ClientHello's first bytes, then more of it, as a TLS client would send them.
    let mut wrong = common::Client::connect(server.addr);
    wrong.send_raw(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, b'\n',
    ]);
    let lines = wrong.expect_closed();
    assert_eq!(
        lines.last().map(String::as_str),
        Some("! this port speaks plain text, not TLS; use the server's tls:// port")
    );
    // Nobody joined: bea's next line is the answer to her own /list.
    assert!(bea.lines_before_sync().is_empty());
}

#[test]
fn a_tls_client_refused_for_a_full_server_reads_why() {
    let server = tls_server(&["--max-clients", "1"]);
    let _ana = server.join("ana");
    // The second user is refused while its handshake has not even begun: the line must wait for
    // the handshake, then come with close_notify.
    let out = python_tls(
        server.tls_addrs[0],
        r#"
for line in lines():
    print(line)
print("closed cleanly")
"#,
    );
    assert!(out.contains("! server full"), "{out}");
    assert!(out.contains("closed cleanly"), "{out}");
}

// The IRC face over TLS (`--irc ircs://`): the same rustls on the same loop as `tls://`.

/// Whether `program` (run with `arg`, say `version`) is installed. Without it `test` is skipped with
/// a message, except under CI, where `.ci/run` installs it and its absence is a failure.
fn installed(program: &str, arg: &str, test: &str) -> bool {
    if Command::new(program).arg(arg).output().is_ok() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs {program} (.ci/run installs it)");
    }
    eprintln!("\n!!! SKIPPED {test}: no {program}\n");
    false
}

fn ircs_server(args: &[&str]) -> Server {
    let mut all = vec!["--irc", "ircs://127.0.0.1:0", "--tls-self-signed"];
    all.extend_from_slice(args);
    let server = Server::start(&all);
    assert!(server.irc_tls, "no ircs:// address on the start-up line");
    server
}

/// An IRC client over TLS: `openssl s_client`, its input and output piped. A thread reads its
/// output into a channel, so that every read has the harness's timeout (a pipe has none).
struct OpensslIrc {
    child: std::process::Child,
    input: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl OpensslIrc {
    fn connect(addr: SocketAddr) -> OpensslIrc {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl");
        let input = child.stdin.take().unwrap();
        let output = std::io::BufReader::new(child.stdout.take().unwrap());
        let (sender, lines) = std::sync::mpsc::channel();
        // Not `lines()`, which would take the `\r` off too: the test checks it is there.
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in output.split(b'\n').map_while(Result::ok) {
                if sender
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    return;
                }
            }
        });
        OpensslIrc {
            child,
            input,
            lines,
        }
    }

    /// Connects and registers as `nick`, reading up to the end of `#general`'s member list.
    fn register(addr: SocketAddr, nick: &str) -> OpensslIrc {
        let mut irc = OpensslIrc::connect(addr);
        let (sent, awaited) = common::irc::registration(nick);
        for line in &sent {
            irc.send(line);
        }
        for start in &awaited {
            irc.skip_until(start);
        }
        irc
    }

    fn send(&mut self, line: &str) {
        self.input
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write to openssl");
    }

    /// The next line, without its `\r\n`; `None` once the server has closed (openssl exits then).
    fn line(&mut self) -> Option<String> {
        use std::sync::mpsc::RecvTimeoutError;
        match self.lines.recv_timeout(READ_TIMEOUT) {
            Ok(line) => match line.strip_suffix('\r') {
                Some(line) => Some(line.to_string()),
                None => panic!("an IRC line without \\r\\n: {line:?}"),
            },
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("no line within {READ_TIMEOUT:?}"),
        }
    }

    /// Reads until a line starting with `start`, returning it.
    fn skip_until(&mut self, start: &str) -> String {
        loop {
            match self.line() {
                Some(line) if line.starts_with(start) => return line,
                Some(_) => {}
                None => panic!("closed before a line starting with {start:?}"),
            }
        }
    }

    /// Every line up to the server's close.
    fn lines_to_close(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.line()).collect()
    }
}

impl Drop for OpensslIrc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_irc_client_over_ircs_registers_and_chats_with_a_plain_line_user() {
    if !installed("openssl", "version", "the ircs:// s_client test") {
        return;
    }
    let server = ircs_server(&["--metrics", "127.0.0.1:0"]);
    let mut bea = server.join("bea");
    let mut ana = OpensslIrc::register(server.irc.unwrap(), "ana");
    bea.expect("*** ana joined");
    bea.send("hola ana, over TLS");
    ana.skip_until(":bea!bea@pollchat PRIVMSG #general :hola ana, over TLS");
    ana.send("PRIVMSG #general :hola bea");
    bea.expect("<ana> hola bea");
    // Counted as IRC over TLS, apart from plain IRC.
    let page = scrape_metrics(&server);
    assert!(
        page.contains("pollchat_connections{transport=\"ircs\"} 1\n"),
        "{page}"
    );
    assert!(
        page.contains("pollchat_connections{transport=\"irc\"} 0\n"),
        "{page}"
    );
    ana.send("QUIT :adios");
    bea.expect("*** ana left (adios)");
    let rest = ana.lines_to_close();
    assert_eq!(
        rest.last().map(String::as_str),
        Some(":irc.pollchat ERROR :Closing link (adios)")
    );
}

#[test]
fn an_idle_ircs_client_is_pinged_and_dropped_as_a_plain_one_is() {
    if !installed("openssl", "version", "the ircs:// PING test") {
        return;
    }
    let server = ircs_server(&["--irc-ping-secs", "1"]);
    let mut bea = server.join("bea");
    let mut ana = OpensslIrc::register(server.irc.unwrap(), "ana");
    bea.expect("*** ana joined");
    ana.skip_until(":irc.pollchat PING irc.pollchat");
    // No answer: dropped, and the room hears why.
    bea.expect("*** ana left (ping timeout)");
    let rest = ana.lines_to_close();
    assert_eq!(
        rest.last().map(String::as_str),
        Some(":irc.pollchat ERROR :Closing link (ping timeout)")
    );
}

#[test]
fn plain_text_irc_on_the_ircs_port_registers_nobody_and_the_server_goes_on() {
    let server = ircs_server(&[]);
    let mut bea = server.join("bea");
    let mut plain = TcpStream::connect(server.irc.unwrap()).unwrap();
    plain.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    plain
        .write_all(b"NICK ana\r\nUSER ana 0 * :ana\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    // A TLS alert record (content type 21), then the close: no welcome.
    assert_eq!(answer.first(), Some(&21), "{answer:?}");
    assert!(!String::from_utf8_lossy(&answer).contains("001"));
    // Nobody joined (bea's next line answers her own /list), and the IRC face still takes clients.
    assert!(bea.lines_before_sync().is_empty());
    server.wait_for_log("TLS failed");
    let out = python_tls(
        server.irc.unwrap(),
        r#"
sock.sendall(b"NICK cleo\r\nUSER cleo 0 * :cleo\r\n")
for line in lines():
    if line.startswith(":irc.pollchat 001 cleo "):
        print("welcomed")
        break
"#,
    );
    assert!(out.contains("welcomed"), "{out}");
    bea.expect("*** cleo joined");
}

#[test]
fn an_ircs_face_without_a_certificate_is_a_start_up_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_pollchat"))
        .args(["--listen", "127.0.0.1:0", "--web", "off"])
        .args(["--irc", "ircs://127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ircs://") && stderr.contains("--tls-cert"),
        "{stderr}"
    );
}

/// The metrics page, by a plain `GET /metrics` (the server closes after it).
fn scrape_metrics(server: &Server) -> String {
    let addr = server.metrics.expect("a metrics address");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    page
}
