//! Socket set-up that `mio` and `std` leave to us: the listen backlog, and the options every accepted
//! connection gets. Both go through `socket2`, which exposes the system calls without `unsafe` here.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

/// How many fully established connections the kernel may hold for us before we `accept` them. mio's
/// own `bind` picks a fixed value (1024); a crowd connecting at once (a class, a benchmark's 10,000
/// clients) needs all the system allows, which is `net.core.somaxconn`: Linux silently caps any larger
/// backlog to it, so we ask for exactly that.
fn listen_backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(4096)
}

/// A peer is probed after this much silence...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
/// ...then every `KEEPALIVE_INTERVAL`, and declared dead after `KEEPALIVE_PROBES` unanswered probes:
/// 60 s + 6 × 10 s, so a peer that vanished (a laptop that slept) is noticed in about two minutes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 6;
/// When data we sent stays unacknowledged this long, the kernel gives up on the connection. Keepalive
/// only probes idle connections; this covers the ones with output in flight (otherwise TCP retransmits
/// for about 15 minutes).
const USER_TIMEOUT: Duration = Duration::from_secs(120);

/// Opens a non-blocking listening socket on `addr` with our own backlog. With `reuse_port`, other
/// processes that also ask for it may listen on the same port, and the kernel spreads new connections
/// among them (`--reuseport`: several cluster nodes on one machine, one per core).
pub fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Lets a restarted server bind at once while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(listen_backlog())?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Sets the options every client connection gets.
///
/// TCP_NODELAY: a chat line is small and should leave now. With Nagle's algorithm on, a second small
/// write waits for the ACK of the first, and the peer delays that ACK by up to 40 ms: a room would
/// stall whenever two lines go out back to back. We batch writes ourselves (one `write` per client per
/// pass of the loop), so Nagle has nothing left to add.
pub fn configure(stream: &TcpStream) -> io::Result<()> {
    let socket = SockRef::from(stream);
    socket.set_tcp_nodelay(true)?;
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    socket.set_tcp_keepalive(&keepalive)?;
    socket.set_tcp_user_timeout(Some(USER_TIMEOUT))?;
    Ok(())
}
