//! The console client: one thread, one `mio::Poll` over the server socket and standard input.
//!
//! The seeds' clients read the keyboard on one thread and the socket on another. Here both are sources
//! in one `Poll`, exactly like the server's sockets: the loop waits for either to be ready, reads what
//! is there, and writes what is queued. [`Session`] decides what to say; this file only moves bytes,
//! keeps time (reconnect backoff, giving up, waiting for the server to close after `/quit`) and draws.
//!
//! Standard input comes in three kinds:
//! - a terminal or a pipe can be registered with `epoll`, so it is one more source in the `Poll`;
//! - a regular file (or `/dev/null`) cannot: `epoll` refuses it with EPERM, because a file is always
//!   "ready". So it is read directly, a bounded amount per pass, as long as the client can take lines;
//! - a closed standard input is end of input at once (Rust's runtime reopens a closed descriptor 0 as
//!   `/dev/null`, which reads as end of file).
//!
//! Over TLS (`tls://HOST:PORT`), a rustls session sits between the socket and the lines, driven by
//! the same readiness events: see `tls.rs`.

pub mod display;
pub mod editor;
pub mod session;
pub mod terminal;
pub mod tls;

use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use rustls::ClientConnection;

use crate::connection::Output;
use crate::line_reader::{LineReader, Piece};
use display::Style;
use editor::{Edit, Editor};
use session::{Action, Place, QUEUE_MAX, Session, is_quit};
use tls::TlsOptions;

const SERVER: Token = Token(0);
const STDIN: Token = Token(1);

/// How often the loop wakes with nothing to do, to look at signal flags and deadlines.
const TICK: Duration = Duration::from_millis(100);
/// After `/quit`, how long to wait for the server to close the connection.
const QUIT_WAIT: Duration = Duration::from_secs(3);
/// The first wait before reconnecting, and the longest.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// The longest line the server sends that we accept (a `/list` of a big room is long).
const SERVER_LINE_MAX: usize = 4 << 20;
/// The longest line read from standard input in line mode.
const INPUT_LINE_MAX: usize = 64 << 10;
/// How much of standard input is read in one pass, so the socket is served in between.
const STDIN_BUDGET: usize = 64 << 10;
/// Standard input is not read while this much is waiting to go to the server: a big file piped in is
/// sent at the pace the server takes it, never held whole in memory.
const OUTPUT_HIGH_WATER: usize = 256 << 10;

/// The exit status when the server's certificate is refused (not the pinned one, or not signed by a
/// trusted CA for the address's host). The client does not retry: another try gets the same
/// certificate. (0: quit; 1: gave up, or the name was refused; 2: bad arguments.)
pub const EXIT_CERTIFICATE_REFUSED: u8 = 3;

/// What the client was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub addr: SocketAddr,
    /// The name to join with; without one, the client asks (or a script's first line is the name).
    pub name: Option<String>,
    /// When standard input is not a terminal: give up after this long without a connection.
    pub retry: Duration,
    /// How long to keep trying a name that is still taken after a reconnect.
    pub reclaim: Duration,
    /// Speak TLS to the server (`tls://`), trusting it as these settings say.
    pub tls: Option<TlsOptions>,
}

/// How standard input is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StdinKind {
    /// Registered in the `Poll` (a terminal, a pipe, a socket).
    Polled,
    /// A regular file or `/dev/null`: always ready, read directly.
    Direct,
}

/// The connection to the server.
struct Link {
    stream: TcpStream,
    /// The non-blocking `connect` has completed.
    connected: bool,
    reader: LineReader,
    output: Output,
    /// The TLS session, for a `tls://` server: a new one for each connection attempt.
    tls: Option<ClientConnection>,
}

/// The client's state: the sockets, the session, the clock.
pub struct Client {
    poll: Poll,
    options: Options,
    style: Style,
    session: Session,
    link: Option<Link>,
    stdin_kind: StdinKind,
    /// A person is typing: retry for ever rather than give up after `--retry-secs`.
    stdin_is_terminal: bool,
    /// Standard input may have bytes to read (edge-triggered: until a read says `WouldBlock`).
    stdin_ready: bool,
    stdin_ended: bool,
    /// Line mode: standard input cut into lines.
    stdin_lines: LineReader,
    /// Interactive mode: the line editor (standard input and output are terminals in raw mode).
    editor: Option<Editor>,
    /// The editor is asking for a name rather than a chat line.
    asking_name: bool,
    backoff: Duration,
    next_attempt: Option<Instant>,
    /// When the connection was lost (or first tried): a script gives up `retry` after this.
    offline_since: Option<Instant>,
    last_error: String,
    /// When a rejoin first found our name still taken.
    taken_since: Option<Instant>,
    /// A quit command was sent; the client exits when the server closes, or at this deadline.
    quit_deadline: Option<Instant>,
    /// A quit command has been typed; end of input adds no second one.
    quit_typed: bool,
    stop: Arc<AtomicBool>,
    resized: Arc<AtomicBool>,
    actions: Vec<Action>,
    /// Set when the client must end with this status.
    exit_code: Option<u8>,
}

impl Client {
    /// Prepares the loop. `interactive` means standard input and output are terminals and the caller
    /// has put the terminal in raw mode.
    pub fn new(
        options: Options,
        interactive: bool,
        style: Style,
        stop: Arc<AtomicBool>,
        resized: Arc<AtomicBool>,
    ) -> io::Result<Client> {
        let poll = Poll::new()?;
        let stdin = io::stdin();
        let fd = stdin.as_fd().as_raw_fd();
        let stdin_kind =
            match poll
                .registry()
                .register(&mut SourceFd(&fd), STDIN, Interest::READABLE)
            {
                Ok(()) => StdinKind::Polled,
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => StdinKind::Direct,
                Err(e) => return Err(e),
            };
        let asking_name = interactive && options.name.is_none();
        Ok(Client {
            poll,
            session: Session::new(options.name.clone()),
            options,
            style,
            link: None,
            stdin_kind,
            stdin_is_terminal: rustix::termios::isatty(stdin.as_fd()),
            stdin_ready: true,
            stdin_ended: false,
            stdin_lines: LineReader::new(INPUT_LINE_MAX),
            editor: interactive.then(Editor::new),
            asking_name,
            backoff: BACKOFF_FIRST,
            next_attempt: Some(Instant::now()),
            offline_since: None,
            last_error: String::new(),
            taken_since: None,
            quit_deadline: None,
            quit_typed: false,
            stop,
            resized,
            actions: Vec::new(),
            exit_code: None,
        })
    }

    /// Runs until the user quits or the client gives up; returns the exit status.
    pub fn run(&mut self) -> u8 {
        let mut events = Events::with_capacity(16);
        self.redraw();
        loop {
            let timeout = self.timeout();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                self.note(&format!("poll failed: {e}"));
                return 1;
            }
            for event in events.iter() {
                match event.token() {
                    SERVER => self.server_ready(),
                    _ => self.stdin_ready = true,
                }
            }
            if let Some(code) = self.pass() {
                if self.link.is_some() {
                    self.drop_link(); // Over TLS, says goodbye with a close_notify.
                }
                self.finish_screen();
                return code;
            }
        }
    }

    /// How long `poll` may sleep: until the next reconnect attempt or tick, or not at all while a
    /// file on standard input has more to give.
    fn timeout(&self) -> Duration {
        if self.stdin_kind == StdinKind::Direct && self.stdin_ready && self.may_read_stdin() {
            return Duration::ZERO;
        }
        let until_attempt = self
            .next_attempt
            .map_or(TICK, |at| at.saturating_duration_since(Instant::now()));
        until_attempt.min(TICK)
    }

    /// Everything but waiting: signals, input, connecting, writing, deadlines. `Some(status)` ends
    /// the client.
    fn pass(&mut self) -> Option<u8> {
        if self.stop.swap(false, Ordering::Relaxed) {
            if self.quit_deadline.is_some() {
                return Some(130); // A second Ctrl+C or signal: stop waiting.
            }
            self.quit();
        }
        if self.resized.swap(false, Ordering::Relaxed) {
            self.redraw();
        }
        self.read_stdin();
        let now = Instant::now();
        if self.exit_code.is_none() && self.next_attempt.is_some_and(|at| at <= now) {
            self.next_attempt = None;
            self.connect();
        }
        self.flush();
        if let Some(code) = self.exit_code {
            return Some(code);
        }
        if self.quit_deadline.is_some_and(|at| at <= now) {
            return Some(0);
        }
        self.give_up_check(now)
    }

    // ---- the server connection --------------------------------------------------------------

    fn connect(&mut self) {
        let attempt = TcpStream::connect(self.options.addr).and_then(|mut stream| {
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.poll
                .registry()
                .register(&mut stream, SERVER, interest)?;
            let tls = self
                .options
                .tls
                .as_ref()
                .map(TlsOptions::start)
                .transpose()?;
            Ok((stream, tls))
        });
        match attempt {
            Ok((stream, tls)) => {
                let (reader, output) = (LineReader::new(SERVER_LINE_MAX), Output::default());
                self.link = Some(Link {
                    stream,
                    connected: false,
                    reader,
                    output,
                    tls,
                });
            }
            Err(e) => self.connection_failed(&e),
        }
    }

    /// The socket is ready: finish connecting, read what the server sent, write what is queued.
    fn server_ready(&mut self) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if !link.connected {
            // A non-blocking connect reports completion as writability. It may also be a spurious
            // event: `peer_addr` tells whether we really are connected.
            if let Ok(Some(e)) | Err(e) = link.stream.take_error() {
                return self.connection_failed(&e);
            }
            match link.stream.peer_addr() {
                Ok(_) => {
                    link.connected = true;
                    let _ = link.stream.set_nodelay(true);
                    self.session.connected();
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => return self.connection_failed(&e),
            }
        }
        self.read_server();
    }

    fn read_server(&mut self) {
        let mut buf = [0u8; 16 << 10];
        loop {
            let Some(link) = self.link.as_mut() else {
                return;
            };
            let read = match link.tls.as_mut() {
                None => link.stream.read(&mut buf),
                Some(tls) => tls::read(tls, &mut link.stream, &mut buf),
            };
            match read {
                Ok(0) if link.tls.as_ref().is_some_and(|tls| tls.is_handshaking()) => {
                    let why = "the server closed the connection during the TLS handshake";
                    return self.connection_failed(&why);
                }
                Ok(0) => return self.lost("the server closed the connection".to_string()),
                Ok(n) => {
                    let mut lines = Vec::new();
                    let _ = link.reader.feed(&buf[..n], |piece| {
                        if let Piece::Line(bytes) = piece {
                            lines.push(String::from_utf8_lossy(bytes).into_owned());
                        }
                        std::ops::ControlFlow::Continue(())
                    });
                    for line in lines {
                        self.session.server_line(&line, &mut self.actions);
                        self.act();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.broken(e),
            }
        }
    }

    /// Writes what is queued for the server (over TLS, with any records rustls has waiting).
    fn flush(&mut self) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if !link.connected {
            return;
        }
        let written = match link.tls.as_mut() {
            Some(tls) => tls::write(tls, &mut link.stream, &mut link.output),
            None if link.output.is_empty() => return,
            None => link.output.write_to(&mut link.stream),
        };
        if let Err(e) = written {
            self.broken(e);
        }
    }

    /// The TLS handshake has not finished (always false for a plain connection).
    fn handshaking(&self) -> bool {
        let tls = self.link.as_ref().and_then(|link| link.tls.as_ref());
        tls.is_some_and(|tls| tls.is_handshaking())
    }

    /// Reading or writing failed. A refused certificate ends the client; a TLS handshake that
    /// failed otherwise is retried like a connection that could not be made; any other failure is
    /// a lost connection.
    fn broken(&mut self, error: io::Error) {
        let options = self.options.tls.as_ref();
        if let Some(refused) = options.and_then(|tls| tls.refused(&error)) {
            self.drop_link();
            self.error(&refused);
            self.exit_code = Some(EXIT_CERTIFICATE_REFUSED);
        } else if self.handshaking() {
            self.connection_failed(&tls::handshake_failed(&error));
        } else {
            self.lost(error.to_string());
        }
    }

    fn drop_link(&mut self) {
        if let Some(mut link) = self.link.take() {
            if let Some(tls) = link.tls.as_mut()
                && !tls.is_handshaking()
            {
                tls::close(tls, &mut link.stream);
            }
            let _ = self.poll.registry().deregister(&mut link.stream);
        }
        self.session.disconnected();
    }

    fn connection_failed(&mut self, error: &dyn fmt::Display) {
        self.drop_link();
        self.last_error = format!("cannot connect to {}: {error}", self.options.addr);
        let wait = self.schedule_retry();
        self.note(&format!(
            "{}; retrying in {:.1} s",
            self.last_error,
            wait.as_secs_f64()
        ));
    }

    fn lost(&mut self, why: String) {
        self.drop_link();
        if self.quit_deadline.is_some() {
            // We asked to leave; the server closing is the answer.
            self.quit_deadline = Some(Instant::now());
            return;
        }
        self.last_error = format!("connection lost: {why}");
        self.backoff = BACKOFF_FIRST;
        let wait = self.schedule_retry();
        self.note(&format!(
            "{}; reconnecting in {:.1} s",
            self.last_error,
            wait.as_secs_f64()
        ));
    }

    /// Plans the next attempt with exponential backoff and jitter: the wait doubles up to
    /// [`BACKOFF_MAX`], and each is randomised by ±25% so that many clients cut off at once do not
    /// all come back at the same instant.
    fn schedule_retry(&mut self) -> Duration {
        let now = Instant::now();
        self.offline_since.get_or_insert(now);
        let jitter = 0.75 + fastrand::f64() * 0.5;
        let wait = self
            .backoff
            .mul_f64(jitter)
            .clamp(BACKOFF_FIRST, BACKOFF_MAX);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.next_attempt = Some(now + wait);
        wait
    }

    /// A script (standard input not a terminal) gives up after `--retry-secs` without a connection,
    /// so it never hangs forever; an interactive user retries until Ctrl+C.
    fn give_up_check(&mut self, now: Instant) -> Option<u8> {
        let since = self.offline_since?;
        if self.stdin_is_terminal || self.session.is_joined() {
            return None;
        }
        if now.duration_since(since) >= self.options.retry {
            let secs = self.options.retry.as_secs();
            self.error(&format!("{}; gave up after {secs} s", self.last_error));
            return Some(1);
        }
        None
    }

    // ---- what the session asks for ----------------------------------------------------------

    fn act(&mut self) {
        let actions = std::mem::take(&mut self.actions);
        for action in &actions {
            match action {
                Action::Send(line) => self.send(line),
                Action::Show(line) => self.show(line),
                Action::Note(text) => self.note(text),
                Action::Joined => {
                    self.backoff = BACKOFF_FIRST;
                    self.offline_since = None;
                    self.taken_since = None;
                }
                Action::NameRefused(reason) => self.name_refused(reason),
                Action::NameStillTaken => self.name_still_taken(),
            }
        }
        self.actions = actions;
        self.actions.clear();
        self.redraw();
    }

    fn send(&mut self, line: &str) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        link.output.push_line(line);
        if is_quit(line) {
            self.quit_deadline = Some(Instant::now() + QUIT_WAIT);
        }
        // The server does not echo a line to its sender. In a terminal, show it the way the others
        // see it, since the editor has just cleared it; a script's output holds server lines only.
        // In no room, a chat line only gets an error back.
        if self.editor.is_some()
            && self.session.is_joined()
            && self.session.place() != Place::Nowhere
            && let Some(name) = self.session.name()
            && let Some(echo) = echo(name, line)
        {
            self.show(&echo);
        }
    }

    fn name_refused(&mut self, reason: &str) {
        self.show(reason);
        if self.editor.is_some() {
            self.asking_name = true;
            self.taken_since = None;
        } else {
            let why = reason.strip_prefix("! ").unwrap_or(reason);
            self.error(&format!("name refused: {why}"));
            self.exit_code = Some(1);
        }
    }

    fn name_still_taken(&mut self) {
        let now = Instant::now();
        let since = *self.taken_since.get_or_insert(now);
        let name = self.session.name().unwrap_or("").to_string();
        if now.duration_since(since) < self.options.reclaim {
            self.note(&format!(
                "the name {name} is still taken (the server may not have noticed the old connection \
                 is gone); trying again"
            ));
            self.drop_link();
            self.schedule_retry();
        } else if self.editor.is_some() {
            self.note(&format!("the name {name} stayed taken; choose another"));
            self.session.forget_name();
            self.asking_name = true;
        } else {
            self.error(&format!(
                "the name {name} stayed taken for {} s",
                self.options.reclaim.as_secs()
            ));
            self.exit_code = Some(1);
        }
    }
}

// ---- standard input ------------------------------------------------------------------------------

impl Client {
    /// Whether to take more input now. A script's lines are never dropped: when they cannot be sent
    /// yet (offline, or the server is slow to take them), the client stops reading and the pipe or
    /// file waits. An interactive user is always read (Ctrl+C must work); see `typed`.
    fn may_read_stdin(&self) -> bool {
        if self.stdin_ended {
            return false;
        }
        if self.editor.is_some() {
            return true;
        }
        let backlog = self.link.as_ref().map_or(0, |link| link.output.queued());
        self.session.queued() < QUEUE_MAX && backlog < OUTPUT_HIGH_WATER
    }

    fn read_stdin(&mut self) {
        let mut budget = STDIN_BUDGET;
        let mut buf = [0u8; 8 << 10];
        while self.stdin_ready && budget > 0 && self.may_read_stdin() && self.exit_code.is_none() {
            match io::stdin().lock().read(&mut buf) {
                Ok(0) => self.stdin_end(),
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    self.input(&buf[..n]);
                }
                // Nothing more for now; a readiness event will say when there is.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stdin_ready = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.note(&format!("cannot read standard input: {e}"));
                    self.stdin_end();
                }
            }
        }
    }

    /// Bytes from standard input: keys for the editor, or lines from a pipe or file.
    fn input(&mut self, bytes: &[u8]) {
        if let Some(editor) = self.editor.as_mut() {
            for edit in editor.feed(bytes) {
                match edit {
                    Edit::Submit(line) => self.submitted(line),
                    Edit::Interrupt | Edit::EndOfInput => self.quit(),
                }
            }
            self.redraw();
            return;
        }
        let mut lines = Vec::new();
        let mut lines_reader = std::mem::take(&mut self.stdin_lines);
        let _ = lines_reader.feed(bytes, |piece| {
            lines.push(piece_text(piece));
            std::ops::ControlFlow::Continue(())
        });
        self.stdin_lines = lines_reader;
        for line in lines {
            self.line_from_script(line);
        }
    }

    /// End of standard input: the same as `/quit`, once every line before it is sent.
    fn stdin_end(&mut self) {
        self.stdin_ended = true;
        self.stdin_ready = false;
        if self.editor.is_some() {
            return self.quit();
        }
        let mut last = None;
        self.stdin_lines.finish(|piece| {
            last = Some(piece_text(piece));
            std::ops::ControlFlow::Continue(())
        });
        if let Some(line) = last {
            self.line_from_script(line);
        }
        if !self.quit_typed {
            self.quit_typed = true;
            if self.session.name().is_none() {
                // Input ended before it even gave a name.
                self.error("standard input ended before a name was given");
                self.exit_code = Some(1);
                return;
            }
            self.session.typed("/quit".to_string(), &mut self.actions);
            self.act();
        }
    }

    /// A line from a pipe or file: the first is the name if none was given, then chat.
    fn line_from_script(&mut self, line: Option<String>) {
        let Some(line) = line else {
            self.note(&format!(
                "an input line longer than {INPUT_LINE_MAX} bytes was skipped"
            ));
            return;
        };
        if self.session.name().is_none() {
            if !line.trim().is_empty() {
                self.session
                    .set_name(line.trim().to_string(), &mut self.actions);
                self.act();
            }
            return;
        }
        if line.trim().is_empty() {
            return;
        }
        self.quit_typed |= is_quit(&line);
        // `may_read_stdin` stops reading before the queue is full, so this is always taken.
        self.session.typed(line, &mut self.actions);
        self.act();
    }

    /// Enter in the editor.
    fn submitted(&mut self, line: String) {
        if self.asking_name {
            let name = line.trim();
            if !name.is_empty() {
                self.asking_name = false;
                self.session.set_name(name.to_string(), &mut self.actions);
                self.act();
            }
            return;
        }
        if line.trim().is_empty() {
            return;
        }
        if is_quit(&line) && !self.session.is_joined() {
            return self.leave_offline();
        }
        if !self.session.typed(line.clone(), &mut self.actions) {
            // An interactive user's queue is full: the oldest line gives way, and they are told.
            self.session.drop_oldest();
            self.note("too many lines waiting for the server; the oldest was dropped");
            self.session.typed(line, &mut self.actions);
        } else if !self.session.is_joined() {
            self.note("not connected; the line will be sent when the connection is back");
        }
        self.act();
    }

    /// Ctrl+C, Ctrl+D, a signal, or the end of input: `/quit` if in the room, else leave at once.
    fn quit(&mut self) {
        if self.session.is_joined() {
            self.session.typed("/quit".to_string(), &mut self.actions);
            self.act();
        } else {
            self.leave_offline();
        }
    }

    fn leave_offline(&mut self) {
        let unsent = self.session.queued();
        if unsent > 0 {
            self.note(&format!("{unsent} unsent lines dropped"));
        }
        self.exit_code = Some(0);
    }
}

/// How a line we send will look to the others: chat and `/me` are shown, other commands are not.
fn echo(name: &str, line: &str) -> Option<String> {
    if let Some(escaped) = line.strip_prefix("//") {
        return Some(crate::protocol::chat(name, &format!("/{escaped}")));
    }
    if let Some(action) = line.strip_prefix("/me ") {
        return Some(crate::protocol::action(name, action.trim()));
    }
    (!line.starts_with('/')).then(|| crate::protocol::chat(name, line))
}

/// A piece of standard input as text: `None` for a line over the limit.
fn piece_text(piece: Piece<'_>) -> Option<String> {
    match piece {
        Piece::Line(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Piece::TooLong => None,
    }
}

// ---- the screen ----------------------------------------------------------------------------------

impl Client {
    /// A line from the server, on standard output.
    fn show(&mut self, line: &str) {
        let text = self.style.server_line(line, self.session.name());
        self.print(&text, Stream::Out);
    }

    /// A message of the client's own: above the input line in a terminal, on standard error otherwise
    /// (so that a script's standard output holds the server's lines only).
    fn note(&mut self, text: &str) {
        let text = self.style.note(text);
        self.print(&text, Stream::Err);
    }

    /// An error that ends the client.
    fn error(&mut self, text: &str) {
        self.print(&format!("pollchat-client: {text}"), Stream::Err);
    }

    fn print(&mut self, text: &str, stream: Stream) {
        if self.editor.is_some() {
            // Clear the input line, print above it; `redraw` puts the input back below.
            write_all(
                io::stdout().as_fd(),
                format!("\r\x1b[2K{text}\r\n").as_bytes(),
            );
        } else {
            let fd = match stream {
                Stream::Out => io::stdout(),
                Stream::Err => {
                    return write_all(io::stderr().as_fd(), format!("{text}\n").as_bytes());
                }
            };
            write_all(fd.as_fd(), format!("{text}\n").as_bytes());
        }
    }

    /// Draws the input line: the prompt and the visible part of what is being typed, with the cursor.
    fn redraw(&mut self) {
        let prompt = if self.asking_name {
            "your name? ".to_string()
        } else {
            display::prompt(self.session.name(), self.session.place())
        };
        let Some(editor) = self.editor.as_mut() else {
            return;
        };
        let (shown, column) = editor.view(&prompt, terminal::columns());
        let moves = if column > 0 {
            format!("\x1b[{column}C")
        } else {
            String::new()
        };
        write_all(
            io::stdout().as_fd(),
            format!("\r\x1b[2K{shown}\r{moves}").as_bytes(),
        );
    }

    /// Leaves the terminal with the input line cleared.
    fn finish_screen(&mut self) {
        if self.editor.is_some() {
            write_all(io::stdout().as_fd(), b"\r\x1b[2K");
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Stream {
    Out,
    Err,
}

/// Writes everything, waiting while the descriptor is full. Standard output may share its open file
/// with standard input (one terminal), which we made non-blocking, so a write can say `WouldBlock`
/// when the terminal is slow or paused (Ctrl+S): then we wait for it. Errors (a closed pipe) are
/// ignored: there is nowhere left to report them.
fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::AGAIN) => {
                let mut wait = [rustix::event::PollFd::new(
                    &fd,
                    rustix::event::PollFlags::OUT,
                )];
                let _ = rustix::event::poll(&mut wait, None);
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
    }
}
