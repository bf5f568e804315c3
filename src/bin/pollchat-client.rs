//! `pollchat-client`: the console client. This file only wires things up: arguments, the terminal,
//! signals; the loop is in `src/client/mod.rs`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Parser;
use pollchat::client::display::Style;
use pollchat::client::terminal::{self, StdinGuard};
use pollchat::client::{Client, Options};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGWINCH};

/// Console client for pollchat: joins the chat, keeps the connection through network trouble.
///
/// The prompt shows the room you talk in; lines of your other rooms start with their name. `/join
/// #ROOM`, `/part` and `/rooms` go to the server as typed. When the connection is lost it rejoins by
/// itself, with the same name and in the same rooms, the same one current; lines typed meanwhile are
/// sent after the rejoin. Piped input works for scripts: `printf 'hello\n' | pollchat-client --name bot`.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The server, as HOST:PORT.
    #[arg(default_value = "127.0.0.1:7878", value_name = "ADDR:PORT")]
    addr: String,

    /// The name to join with; without it the client asks (a script's first line is the name).
    #[arg(long)]
    name: Option<String>,

    /// When input is not a terminal: give up after this many seconds without a connection.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    retry_secs: u64,

    /// After a reconnect, how long to keep trying a name the server still thinks is taken.
    #[arg(long, value_name = "SECS", default_value_t = 150)]
    reclaim_secs: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let addr = match resolve(&args.addr) {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("pollchat-client: bad address {}: {e}", args.addr);
            return ExitCode::from(2);
        }
    };
    let options = Options {
        addr,
        name: args.name,
        retry: Duration::from_secs(args.retry_secs),
        reclaim: Duration::from_secs(args.reclaim_secs),
    };
    match run(options) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("pollchat-client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Looks the address up once, before the loop starts: a lookup blocks, and the loop never should.
fn resolve(addr: &str) -> io::Result<SocketAddr> {
    let with_port = if addr.contains(':') {
        addr.to_string()
    } else {
        format!("{addr}:7878")
    };
    with_port
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address found"))
}

fn run(options: Options) -> io::Result<u8> {
    let interactive = terminal::is_interactive();
    let stop = Arc::new(AtomicBool::new(false));
    let resized = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    signal_hook::flag::register(SIGWINCH, Arc::clone(&resized))?;
    let style = Style::detect(terminal::is_stdout_terminal());
    // Restores the terminal and standard input's flags when dropped, on every way out of here.
    let _guard = StdinGuard::new(&io::stdin(), interactive)?;
    let mut client = Client::new(options, interactive, style, stop, resized)?;
    Ok(client.run())
}
