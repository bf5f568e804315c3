//! The web face over real loopback sockets: HTTP answers, WebSocket users chatting with TCP users,
//! and every protocol error with its close code. The WebSocket client here is written by hand on a
//! plain `TcpStream`, so that tests can send frames no library would (unmasked, oversized, broken).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::ws::{Frame, Ws, upgrade_request};
use common::{READ_TIMEOUT, Server};

fn web_server(args: &[&str]) -> Server {
    let mut all = vec!["--web", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let server = Server::start(&all);
    assert!(server.web.is_some(), "no web address on the start-up line");
    server
}

/// Sends a raw HTTP request and returns the whole response (the server closes after it).
fn http(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

fn status_of(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

#[test]
fn the_page_and_http_errors() {
    let server = web_server(&[]);
    let web = server.web.unwrap();
    let page = http(web, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_of(&page), "HTTP/1.1 200 OK");
    assert!(page.contains("<title>pollchat</title>"));
    let head = http(web, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"));
    let cases = [
        (
            "GET /favicon.ico HTTP/1.1\r\n\r\n",
            "HTTP/1.1 404 Not Found",
        ),
        (
            "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (
            "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n",
            "HTTP/1.1 426 Upgrade Required",
        ),
        ("BLAH\x01 / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    ];
    for (request, want) in cases {
        assert_eq!(status_of(&http(web, request)), want, "{request:?}");
    }
    let response = http(
        web,
        &upgrade_request(web, "").replace("Version: 13", "Version: 8"),
    );
    assert_eq!(status_of(&response), "HTTP/1.1 426 Upgrade Required");
    assert!(response.contains("Sec-WebSocket-Version: 13"));
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
    assert_eq!(
        status_of(&http(web, &huge)),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
}

#[test]
fn a_foreign_origin_is_refused_and_a_listed_one_accepted() {
    let server = web_server(&["--web-origin", "http://chat.example.org"]);
    let web = server.web.unwrap();
    let evil = upgrade_request(web, "Origin: http://evil.example\r\n");
    assert_eq!(status_of(&http(web, &evil)), "HTTP/1.1 403 Forbidden");
    let _own = Ws::connect_with(web, &format!("Origin: http://{web}\r\n"));
    let _listed = Ws::connect_with(web, "Origin: http://chat.example.org\r\n");
}

#[test]
fn a_full_room_answers_503_to_an_upgrade() {
    let server = web_server(&["--max-clients", "1"]);
    let _ana = server.join("ana");
    let response = http(
        server.web.unwrap(),
        &upgrade_request(server.web.unwrap(), ""),
    );
    assert_eq!(status_of(&response), "HTTP/1.1 503 Service Unavailable");
}

#[test]
fn a_request_that_never_finishes_is_closed_after_the_deadline() {
    let server = web_server(&["--web-deadline-secs", "1", "--tick-ms", "50"]);
    let response = http(server.web.unwrap(), "GET / HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(status_of(&response), "HTTP/1.1 408 Request Timeout");
}

#[test]
fn browser_and_tcp_users_chat_both_ways() {
    let server = web_server(&[]);
    let web = server.web.unwrap();
    let mut tcp = server.join("tcp");
    let mut ws = Ws::connect(web);
    assert!(matches!(ws.read(), Frame::Text(t) if t.starts_with("*** welcome to pollchat")));
    ws.expect_text("*** your name?");
    ws.text("webby");
    ws.expect_text("*** you are webby");
    ws.expect_text("*** online (2): tcp, webby");
    tcp.expect("*** webby joined");
    ws.text("hello from the browser");
    tcp.expect("<webby> hello from the browser");
    tcp.send("hello from nc");
    ws.expect_text("<tcp> hello from nc");
    // A message with newlines is several lines, as if pasted into nc.
    ws.text("one\r\ntwo\n/me three");
    tcp.expect("<webby> one");
    tcp.expect("<webby> two");
    tcp.expect("* webby three");
    ws.text("/msg tcp psst");
    tcp.expect("[webby -> you] psst");
    ws.expect_text("[you -> tcp] psst");
}

#[test]
fn a_fragmented_message_with_a_ping_between_and_a_split_character() {
    let server = web_server(&[]);
    let mut tcp = server.join("tcp");
    let mut ws = Ws::join(server.web.unwrap(), "frag");
    tcp.expect("*** frag joined");
    let euro = "€".as_bytes();
    ws.frame(0x01, &[b'a', euro[0]], true);
    ws.frame(0x89, b"are you there", true);
    ws.frame(0x00, &euro[1..], true);
    ws.frame(0x80, b"b", true);
    assert_eq!(ws.read(), Frame::Text("*** online (2): frag, tcp".into()));
    assert_eq!(ws.read(), Frame::Pong(b"are you there".to_vec()));
    tcp.expect("<frag> a€b");
}

#[test]
fn an_oversize_message_gets_an_error_line_and_the_connection_goes_on() {
    let server = web_server(&["--max-line", "64"]);
    let mut tcp = server.join("tcp");
    let mut ws = Ws::join(server.web.unwrap(), "big");
    ws.skip_to("*** online (2): big, tcp");
    ws.text(&"x".repeat(100));
    ws.expect_text("! line too long (the limit is 64 bytes); it was discarded");
    ws.text("small");
    tcp.skip_until(|l| l == "<big> small");
}

/// Sends something a browser never would.
type BadFrame = Box<dyn Fn(&mut Ws)>;

#[test]
fn each_bad_frame_gets_its_close_code_and_the_user_leaves_at_once() {
    let server = web_server(&["--max-line", "64"]);
    let web = server.web.unwrap();
    let mut tcp = server.join("tcp");
    let cases: Vec<(&str, BadFrame, u16)> = vec![
        (
            "unmasked",
            Box::new(|ws: &mut Ws| ws.frame(0x81, b"hi", false)),
            1002,
        ),
        (
            "binary",
            Box::new(|ws: &mut Ws| ws.frame(0x82, b"hi", true)),
            1003,
        ),
        (
            "invalid UTF-8",
            Box::new(|ws: &mut Ws| ws.frame(0x81, b"\xff\xfe", true)),
            1007,
        ),
        (
            "frame over 4 x max-line",
            Box::new(|ws: &mut Ws| ws.frame(0x81, &[b'x'; 300], true)),
            1009,
        ),
        (
            "reserved bits",
            Box::new(|ws: &mut Ws| ws.frame(0xc1, b"hi", true)),
            1002,
        ),
        (
            "reserved opcode",
            Box::new(|ws: &mut Ws| ws.frame(0x83, b"hi", true)),
            1002,
        ),
        (
            "control frame over 125 bytes",
            Box::new(|ws: &mut Ws| ws.frame(0x89, &[0; 126], true)),
            1002,
        ),
        (
            "fragmented control frame",
            Box::new(|ws: &mut Ws| ws.frame(0x09, b"", true)),
            1002,
        ),
        (
            "stray continuation",
            Box::new(|ws: &mut Ws| ws.frame(0x80, b"x", true)),
            1002,
        ),
        (
            "message inside another",
            Box::new(|ws: &mut Ws| {
                ws.frame(0x01, b"a", true);
                ws.frame(0x81, b"b", true);
            }),
            1002,
        ),
        (
            "close payload of one byte",
            Box::new(|ws: &mut Ws| ws.frame(0x88, &[3], true)),
            1002,
        ),
        (
            "close code 1005",
            Box::new(|ws: &mut Ws| ws.frame(0x88, &1005u16.to_be_bytes(), true)),
            1002,
        ),
        (
            "close code 1006",
            Box::new(|ws: &mut Ws| ws.frame(0x88, &1006u16.to_be_bytes(), true)),
            1002,
        ),
        (
            "close code 1015",
            Box::new(|ws: &mut Ws| ws.frame(0x88, &1015u16.to_be_bytes(), true)),
            1002,
        ),
        (
            "close code 5000",
            Box::new(|ws: &mut Ws| ws.frame(0x88, &5000u16.to_be_bytes(), true)),
            1002,
        ),
    ];
    for (i, (what, send, code)) in cases.iter().enumerate() {
        let name = format!("w{i}");
        let mut ws = Ws::join(web, &name);
        tcp.skip_until(|l| l == format!("*** {name} joined"));
        send(&mut ws);
        assert_eq!(ws.expect_close(), Some(*code), "{what}");
        tcp.expect(&format!("*** {name} left (connection lost)"));
    }
}

#[test]
fn the_close_handshake_works_both_ways() {
    let server = web_server(&[]);
    let web = server.web.unwrap();
    let mut tcp = server.join("tcp");
    // The browser closes (a tab is closed): the server answers with a close frame, and the others
    // hear at once.
    let mut ws = Ws::join(web, "leaver");
    tcp.expect("*** leaver joined");
    ws.frame(0x88, &1001u16.to_be_bytes(), true);
    assert_eq!(ws.expect_close(), Some(1001));
    tcp.expect("*** leaver left (connection lost)");
    // The server closes (after /quit): its close frame follows the goodbye.
    let mut ws = Ws::join(web, "quitter");
    tcp.expect("*** quitter joined");
    ws.text("/quit");
    ws.skip_to("*** bye");
    assert_eq!(ws.expect_close(), Some(1000));
    tcp.expect("*** quitter left (quit)");
}

#[test]
fn shutdown_tells_browsers_and_closes_with_1001() {
    let mut server = web_server(&[]);
    let mut ws = Ws::join(server.web.unwrap(), "webby");
    ws.skip_to("*** online (1): webby");
    server.signal("INT");
    ws.expect_text("*** server shutting down");
    assert_eq!(ws.expect_close(), Some(1001));
    assert_eq!(server.wait(READ_TIMEOUT).code(), Some(0));
}

#[test]
fn the_default_web_port_being_taken_is_only_a_warning_but_a_given_one_is_fatal() {
    // Hold the default port (if something else already holds it, it is taken all the same).
    let _holder = std::net::TcpListener::bind(pollchat::config::DEFAULT_WEB);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pollchat"));
    command.args(["--listen", "127.0.0.1:0"]);
    let server = Server::spawn(command);
    assert_eq!(
        server.web, None,
        "the start-up line names a web address it cannot have"
    );
    server.wait_for_log("no web page: cannot listen on 127.0.0.1:8080");
    let mut ana = server.join("ana");
    ana.send("/list");
    ana.expect("*** online (1): ana");

    let holder = web_server(&[]);
    let taken = holder.web.unwrap().to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pollchat"))
        .args(["--listen", "127.0.0.1:0", "--web", &taken])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("pollchat: cannot listen on {taken}: ")),
        "{stderr}"
    );
}

#[test]
fn a_client_that_pings_without_reading_is_a_slow_consumer() {
    let server = web_server(&["--max-queue", "65536"]);
    let mut tcp = server.join("tcp");
    let mut ws = Ws::join(server.web.unwrap(), "pinger");
    tcp.expect("*** pinger joined");
    // 100,000 pings of 125 bytes ask for 12.7 MB of pongs, far past what the socket buffers hold;
    // the pinger never reads them. Writing them all may fail once the server drops the pinger.
    let mut ping = Vec::new();
    for _ in 0..1000 {
        pollchat::websocket::client_frame(0x89, &[b'p'; 125], Some([1, 2, 3, 4]), &mut ping);
    }
    for _ in 0..100 {
        if ws.stream.write_all(&ping).is_err() {
            break;
        }
    }
    tcp.skip_until(|l| l == "*** pinger left (too slow)");
}

#[test]
fn a_flood_over_websocket_is_held_back_like_one_over_tcp() {
    let server = web_server(&["--flood-burst", "5", "--flood-rate", "10"]);
    let mut tcp = server.join("tcp");
    let mut ws = Ws::join(server.web.unwrap(), "flood");
    tcp.expect("*** flood joined");
    // 400 lines: 20 messages of 20 lines each, all at once. Each line counts, so after the burst of
    // 5 they arrive at 10 a second, whole and in order; the rest of a message waits its turn.
    let start = std::time::Instant::now();
    for m in 0..20 {
        let message: Vec<String> = (0..20).map(|i| format!("{}", m * 20 + i)).collect();
        ws.text(&message.join("\n"));
    }
    for n in 0..30 {
        tcp.expect(&format!("<flood> {n}"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    // 30 lines took at least the time for 25 tokens: 2.5 s.
    assert!(elapsed >= 2.4, "30 lines in {elapsed:.2} s: not held back");
    // Meanwhile the TCP user is heard at once, and the WebSocket user hears it.
    tcp.send("still fine");
    ws.skip_to("<tcp> still fine");
}
