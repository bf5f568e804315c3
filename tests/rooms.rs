//! Rooms over real sockets: who sees what, with which prefix; a user who never types `/join` sees
//! exactly the one-room chat; limits and errors.

mod common;

use common::Server;

#[test]
fn three_users_in_two_rooms_see_what_they_should_with_the_right_prefix() {
    let server = Server::start(&[]);
    let [mut ana, mut bea, mut carl] = server.join_all(["ana", "bea", "carl"]);
    ana.send("/join #dev");
    ana.expect("*** you joined #dev");
    ana.expect("*** online (1): ana");
    bea.send("/join #dev");
    bea.expect("*** you joined #dev");
    bea.expect("*** online (2): ana, bea");
    ana.expect("*** bea joined");

    bea.send("the build is green");
    ana.expect("<bea> the build is green");
    carl.send("lunch?");
    ana.expect("#general <carl> lunch?");
    bea.expect("#general <carl> lunch?");
    // carl, who never typed /join, saw nothing of #dev: exactly the one-room chat.
    assert!(carl.lines_before_sync().is_empty());

    ana.send("/join #general");
    ana.expect("*** now talking in #general");
    ana.send("yes, lunch");
    carl.expect("<ana> yes, lunch");
    bea.expect("#general <ana> yes, lunch");
    bea.send("/me is hungry too");
    ana.expect("#dev * bea is hungry too");

    // A quit is announced once in each room, prefixed where that room is not current.
    drop(bea);
    ana.expect("*** bea left (connection lost)");
    ana.expect("#dev *** bea left (connection lost)");
    carl.expect("*** bea left (connection lost)");
    ana.send("/rooms");
    ana.expect("*** rooms (2): #dev (1, joined), #general (2, current)");
}

#[test]
fn a_nc_user_who_never_joins_sees_the_same_chat_as_before_rooms() {
    let server = Server::start(&["--history", "5"]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    ana.send("hola");
    bea.expect("<ana> hola");
    let mut cai = server.connect_prompted();
    cai.send("cai");
    cai.expect("*** you are cai");
    cai.expect("*** recent messages (1):");
    // History lines carry the time they were said (docs/protocol.md): the one change an nc user
    // sees, and only in the history.
    cai.expect_history("<ana> hola");
    cai.expect("*** online (3): ana, bea, cai");
    ana.expect("*** cai joined");
    bea.expect("*** cai joined");
}

#[test]
fn browser_and_tcp_users_share_rooms() {
    let server = Server::start(&["--web", "127.0.0.1:0"]);
    let mut tcp = server.join("tcp");
    let mut ws = websocket_join(&server, "webby");
    tcp.expect("*** webby joined");
    tcp.send("/join #dev");
    tcp.skip_until(|l| l.starts_with("*** online ("));
    ws.send("/join #dev");
    ws.expect("*** you joined #dev");
    ws.expect("*** online (2): tcp, webby");
    tcp.expect("*** webby joined");
    ws.send("hello from the browser");
    tcp.expect("<webby> hello from the browser");
    tcp.send("/join #general");
    tcp.expect("*** now talking in #general");
    ws.send("in dev still");
    tcp.expect("#dev <webby> in dev still");
}

#[test]
fn room_errors_are_lines_and_the_connection_goes_on() {
    let server = Server::start(&["--max-rooms", "2", "--max-rooms-per-user", "2"]);
    let [mut ana, mut bea] = server.join_all(["ana", "bea"]);
    ana.send("/join dev");
    ana.expect("! a room name is # and 1 to 32 letters, digits, '_', '-' or '.'");
    ana.send("/join #dev");
    ana.skip_until(|l| l.starts_with("*** online ("));
    ana.send("/join #ops");
    ana.expect("! you are in 2 rooms, the most allowed; /part one first");
    bea.send("/join #ops");
    bea.expect("! the server has 2 rooms, the most allowed");
    ana.send("/part #ops");
    ana.expect("! no such room: #ops");
    bea.send("/part #dev");
    bea.expect("! you are not in #dev");
    bea.send("/part");
    bea.expect("*** you left #general");
    bea.expect("*** you are in no room; /join #ROOM to talk");
    ana.expect("#general *** bea left (parted)");
    bea.send("hello?");
    bea.expect("! you are in no room; /join #ROOM");
    bea.send("/join #general");
    bea.expect("*** you joined #general");
}

#[test]
fn the_default_room_is_set_by_a_flag() {
    let server = Server::start(&["--default-room", "#clase"]);
    let mut ana = server.join("ana");
    ana.send("/rooms");
    ana.expect("*** rooms (1): #clase (1, current)");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_pollchat"))
        .args(["--default-room", "general", "--web", "off", "--irc", "off"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("a room name is #"));
}

/// A WebSocket user joined as `name`, seen through a line client: `common::Client` over the frames.
fn websocket_join(server: &Server, name: &str) -> WsLines {
    let mut ws = WsLines::connect(server.web.expect("a web address"));
    ws.skip_until_ending("your name?");
    ws.send(name);
    ws.skip_until_starting("*** online (");
    ws
}

/// A minimal WebSocket client that reads text messages as lines (tests/web.rs has the full one).
struct WsLines {
    stream: std::net::TcpStream,
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl WsLines {
    fn connect(addr: std::net::SocketAddr) -> WsLines {
        use std::io::{BufRead, Write};
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream.try_clone().unwrap();
        write!(
            writer,
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Origin: http://{addr}\r\n\r\n"
        )
        .unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                return WsLines { stream, reader };
            }
        }
    }

    fn send(&mut self, text: &str) {
        use std::io::Write;
        let mut frame = Vec::new();
        pollchat::websocket::client_frame(0x81, text.as_bytes(), Some([9, 8, 7, 6]), &mut frame);
        self.stream.write_all(&frame).unwrap();
    }

    /// The next text message (control frames skipped).
    fn line(&mut self) -> String {
        use std::io::Read;
        loop {
            let mut head = [0u8; 2];
            self.reader.read_exact(&mut head).expect("a frame");
            let len = match head[1] & 0x7f {
                126 => {
                    let mut n = [0u8; 2];
                    self.reader.read_exact(&mut n).unwrap();
                    u16::from_be_bytes(n) as usize
                }
                127 => {
                    let mut n = [0u8; 8];
                    self.reader.read_exact(&mut n).unwrap();
                    u64::from_be_bytes(n) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0; len];
            self.reader.read_exact(&mut payload).unwrap();
            if head[0] & 0x0f == 1 {
                return String::from_utf8(payload).unwrap();
            }
        }
    }

    fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    fn skip_until_ending(&mut self, end: &str) {
        while !self.line().ends_with(end) {}
    }

    fn skip_until_starting(&mut self, start: &str) {
        while !self.line().starts_with(start) {}
    }
}
