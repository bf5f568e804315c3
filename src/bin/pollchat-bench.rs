//! `pollchat-bench`: a load generator for pollchat, other line-based chat servers and Redis pub/sub.
//! This file only wires things up: the flags, the open-file limit, the server if it is to be started
//! (with the IRC daemon configuration it may write), the report and the exit status. The generator
//! is `src/bench/`.

use std::process::ExitCode;

use clap::Parser;
use pollchat::bench::cli::Args;
use pollchat::bench::irc_daemons::command_with_config;
use pollchat::bench::server_process::ServerProcess;

fn main() -> ExitCode {
    let args = Args::parse();
    // One descriptor per client: raise the soft limit to the hard one before counting on it.
    let open_files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let mut options = match args.options(open_files) {
        Ok(options) => options,
        Err(e) => return fail(&e),
    };
    let exec = match exec_command(&args) {
        Ok(exec) => exec,
        Err(e) => return fail(&e),
    };
    let server = match &exec {
        Some(command) => match ServerProcess::start(command, args.addr.first().copied()) {
            Ok(server) => {
                // --exec starts one server: the one node (the flags were checked for that).
                let node = &mut options.nodes[0];
                node.addr = server.addr;
                node.web = node.web.or(server.web);
                options.server_pids = vec![server.pid()];
                // A `tls://` address needs TLS; its printed fingerprint pins the certificate.
                if server.tls {
                    options.tls = Some(pollchat::bench::Tls {
                        pin: server.fingerprint,
                    });
                } else if options.tls.is_some() && args.addr.is_empty() {
                    server.stop();
                    return fail("--tls, but the server's start-up line names no tls:// address");
                }
                Some(server)
            }
            Err(e) => return fail(&e),
        },
        None if args.addr.is_empty() => {
            return fail("give --addr, or --exec to start the server");
        }
        None => None,
    };
    let result = match server_ready(&options) {
        Ok(()) => pollchat::bench::run(&options).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Some(server) = server {
        server.stop();
    }
    let report = match result {
        Ok(report) => report,
        Err(e) => return fail(&e),
    };
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The command --exec starts, with the configuration --irc-config wrote put in its place.
fn exec_command(args: &Args) -> Result<Option<String>, String> {
    let (Some(command), Some(daemon)) = (&args.exec, args.irc_config) else {
        return Ok(args.exec.clone());
    };
    // clap has checked that --addr is given with --irc-config.
    let port = args.addr.first().map_or(0, |addr| addr.port());
    let config = daemon
        .write_config(port)
        .map_err(|e| format!("--irc-config: writing the configuration: {e}"))?;
    eprintln!(
        "pollchat-bench: {} configuration written to {}",
        daemon.name(),
        config.display()
    );
    command_with_config(command, &config).map(Some)
}

/// What only a started server can settle: a web address for the WebSocket clients.
fn server_ready(options: &pollchat::bench::Options) -> Result<(), String> {
    if options.websocket_share > 0.0 && options.nodes[0].web.is_none() {
        return Err("--ws-share needs the server's web address (--web-addr)".into());
    }
    Ok(())
}

/// A usage or connection error: one line, status 2.
fn fail(message: &str) -> ExitCode {
    eprintln!("pollchat-bench: {message}");
    ExitCode::from(2)
}
