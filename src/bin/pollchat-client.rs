//! `pollchat-client`: the console client. This file only wires things up: arguments, the terminal,
//! signals; the loop is in `src/client/mod.rs`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Parser;
use pollchat::client::display::Style;
use pollchat::client::terminal::{self, StdinGuard};
use pollchat::client::tls::{self as client_tls, TlsOptions, Trust};
use pollchat::client::{Client, Options};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGWINCH};

/// Console client for pollchat: joins the chat, keeps the connection through network trouble.
///
/// The prompt shows the room you talk in; lines of your other rooms start with their name. `/join
/// #ROOM`, `/part` and `/rooms` go to the server as typed. When the connection is lost it rejoins by
/// itself, with the same name and in the same rooms, the same one current; lines typed meanwhile are
/// sent after the rejoin. Piped input works for scripts: `printf 'hello\n' | pollchat-client --name bot`.
///
/// `tls://HOST:PORT` speaks TLS, trusting the system's root certificates, or --tls-ca, or
/// --tls-fingerprint. Exit status: 0 after quitting; 1 when it gave up or the name was refused; 2
/// for bad arguments (or no root certificates to check a server with); 3 when the server's
/// certificate was refused (never retried).
#[derive(Debug, Parser)]
#[command(name = "pollchat-client", version)]
struct Args {
    /// The server, as HOST:PORT (port 7878 if left out), or tls://HOST:PORT for TLS (port 7879).
    #[arg(default_value = "127.0.0.1:7878", value_name = "[tls://]HOST:PORT")]
    addr: String,

    /// With tls://: trust the CA certificates in this PEM file (a private CA) instead of the
    /// system's root certificates.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,

    /// With tls://: trust exactly the certificate with this SHA-256 fingerprint, as a self-signed
    /// server prints it on start-up (AB:CD:...; either case, colons optional).
    #[arg(long, value_name = "SHA256", conflicts_with = "tls_ca")]
    tls_fingerprint: Option<String>,

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
    let (tls, host_port) = match args.addr.strip_prefix("tls://") {
        Some(rest) => (true, rest),
        None => (false, args.addr.as_str()),
    };
    let default_port = if tls { client_tls::DEFAULT_PORT } else { 7878 };
    let addr = match resolve(host_port, default_port) {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("pollchat-client: bad address {}: {e}", args.addr);
            return ExitCode::from(2);
        }
    };
    let tls = match tls_options(&args, tls, host_port) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("pollchat-client: {e}");
            return ExitCode::from(2);
        }
    };
    let options = Options {
        addr,
        name: args.name,
        retry: Duration::from_secs(args.retry_secs),
        reclaim: Duration::from_secs(args.reclaim_secs),
        tls,
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
fn resolve(addr: &str, default_port: u16) -> io::Result<SocketAddr> {
    let with_port = if addr.contains(':') {
        addr.to_string()
    } else {
        format!("{addr}:{default_port}")
    };
    with_port
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address found"))
}

/// The TLS settings for a `tls://` address, read before the loop starts too (files block).
fn tls_options(args: &Args, tls: bool, host_port: &str) -> Result<Option<TlsOptions>, String> {
    if !tls {
        if args.tls_ca.is_some() || args.tls_fingerprint.is_some() {
            return Err(format!(
                "--tls-ca and --tls-fingerprint are for a TLS server: tls://{}",
                args.addr
            ));
        }
        return Ok(None);
    }
    let trust = match (&args.tls_ca, &args.tls_fingerprint) {
        (_, Some(fingerprint)) => Trust::Fingerprint(client_tls::parse_fingerprint(fingerprint)?),
        (Some(ca), None) => Trust::Ca(ca.clone()),
        (None, None) => Trust::System,
    };
    TlsOptions::new(host_port, trust).map(Some)
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
