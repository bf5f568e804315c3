//! `pollchat`: the chat server. This file only wires things up: settings, logging, limits, signals;
//! the event loop is in `server/mod.rs`.

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use log::warn;
use pollchat::config::Config;
use pollchat::server::{Face, REFUSING_MAX, SCRAPES_MAX, Server};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

fn main() -> ExitCode {
    let mut config = Config::parse();
    // rustls logs what peers get wrong at `warn` (an IP address sent as a TLS server name, say):
    // that is scanners' and odd clients' noise on a public port, so only its errors are shown; our
    // own `debug` lines say why a handshake failed.
    let filter = env_logger::Env::default().default_filter_or("info,rustls=error");
    let mut logger = env_logger::Builder::from_env(filter);
    // In a cluster each node numbers its connections from #0: every line names its node, so that
    // the logs of several nodes can be told apart (and merged).
    if config.cluster.is_some() {
        let node = config
            .node
            .clone()
            .unwrap_or_else(pollchat::cluster::default_node_name);
        logger.format(move |buf, record| {
            use std::io::Write;
            let time = buf.timestamp();
            let (level, target) = (record.level(), record.target());
            writeln!(
                buf,
                "[{time} {level:<5} {target} node={node}] {}",
                record.args()
            )
        });
    }
    logger.init();
    match run(&mut config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pollchat: {e}");
            // A usage error exits 2, as clap's own do; anything else (a port in use, an unreadable
            // file, Redis out of reach) exits 1.
            if e.kind() == io::ErrorKind::InvalidInput {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(config: &mut Config) -> io::Result<()> {
    fit_to_open_file_limit(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // The first signal sets `stop`, which the loop reads on its tick and shuts down gracefully.
        // A second one finds `stop` already set and ends the process at once, with status 130,
        // saying so. (Registered first, so it sees the flag before this signal sets it.)
        let second = Arc::clone(&stop);
        // SAFETY: a signal handler may only do async-signal-safe things. This one reads an atomic,
        // and then makes two system calls that are on POSIX's async-signal-safe list: `write(2)`
        // of a constant to standard error (rustix calls it directly: no lock, no allocation) and
        // `_exit(2)` (signal_hook's `exit`), which runs no destructors or atexit handlers. It is
        // needed because signal-hook's safe `register_conditional_shutdown` exits without a word.
        unsafe {
            signal_hook::low_level::register(signal, move || {
                if second.load(std::sync::atomic::Ordering::Relaxed) {
                    let stderr = rustix::stdio::stderr();
                    let _ = rustix::io::write(stderr, b"pollchat: second signal, exiting now\n");
                    signal_hook::low_level::exit(130);
                }
            })?;
        }
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let mut server = Server::bind(config.clone(), stop)?;
    // SIGHUP reloads the TLS certificate and key (the flag is read on the tick).
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGHUP, Arc::clone(&reload))?;
    server.reload_on(reload);
    let (mut chat, mut web) = (Vec::new(), Vec::new());
    for (addr, face, tls) in server.local_addrs()? {
        match (face, tls) {
            (Face::Chat, false) => chat.push(addr.to_string()),
            (Face::Chat, true) => chat.push(format!("tls://{addr}")),
            (Face::Web, false) => web.push(format!("; web http://{addr}/")),
            (Face::Web, true) => web.push(format!("; web https://{addr}/")),
            (Face::Irc, false) => web.push(format!("; irc {addr}")),
            (Face::Irc, true) => web.push(format!("; irc ircs://{addr}")),
            (Face::Metrics, _) => web.push(format!("; metrics http://{addr}/metrics")),
        }
    }
    let fingerprint = server
        .tls_fingerprint()
        .map(|f| format!("; tls sha256 {f}"))
        .unwrap_or_default();
    // Printed whatever RUST_LOG says: scripts read the bound addresses from this line, e.g.
    // `pollchat listening on 127.0.0.1:7878; web http://127.0.0.1:8080/; irc 127.0.0.1:6667`, with
    // `--metrics`
    // `...; metrics http://127.0.0.1:7880/metrics` after that, and with TLS
    // `pollchat listening on tls://127.0.0.1:7879; tls sha256 AB:CD:...` (an IRC face over TLS:
    // `; irc ircs://127.0.0.1:6697`).
    println!(
        "pollchat listening on {}{}{fingerprint}",
        chat.join(", "),
        web.concat()
    );
    server.run()
}

/// Raises the soft limit on open files to the hard limit, and lowers `--max-clients` if even that is
/// not enough. Besides one descriptor per client we need the standard streams, the `epoll` instance,
/// the listeners (chat, web and metrics), a spare (see `Server::refuse_without_fds`), the connections
/// being refused, web connections still in HTTP (`--max-http`) and scrapes (`SCRAPES_MAX`).
fn fit_to_open_file_limit(config: &mut Config) -> io::Result<()> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)?;
    let reserved = 3
        + 1
        + config.listens().len() as u64
        + 1
        + 1
        + 1
        + REFUSING_MAX as u64
        + 8
        + u64::from(config.max_http)
        + SCRAPES_MAX as u64;
    let room = limit.saturating_sub(reserved);
    if room == 0 {
        return Err(io::Error::other(format!(
            "the open-file limit ({limit}) is too low"
        )));
    }
    if u64::from(config.max_clients) > room {
        warn!(
            "--max-clients {} lowered to {room}: the open-file limit is {limit}",
            config.max_clients
        );
        config.max_clients = room as u32;
    }
    Ok(())
}
