//! `Link`: one non-blocking connection to Redis, registered in the server's `Poll` like a client.
//!
//! It has the same parts as a client [`Connection`](crate::connection::Connection): an output buffer
//! written when the socket allows, an input buffer read until `WouldBlock`, and hard limits on both,
//! so a Redis that stops reading (or a flood of messages we cannot parse) costs a bounded amount of
//! memory before the link is dropped and made again.

use std::io::{self, Read};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ClientConnection;

use super::RedisTarget;
use crate::client::tls as client_tls;
use crate::connection::Output;
use crate::resp::{self, Value};

/// The most output queued for Redis. Past it Redis is not keeping up (or not reading at all): the
/// link is dropped and made again, and what was queued is lost, as a client's would be.
pub const OUTPUT_MAX: usize = 64 << 20;
/// The most input held unparsed: one reply larger than this is not one of ours.
const INPUT_MAX: usize = 128 << 20;
const READ_CHUNK: usize = 64 * 1024;

pub struct Link {
    stream: TcpStream,
    /// `rediss://`: TLS between the socket and RESP, driven as the console client drives it.
    tls: Option<Box<ClientConnection>>,
    input: Vec<u8>,
    output: Output,
    /// Where the next command is encoded before it joins `output`.
    scratch: Vec<u8>,
    /// The non-blocking connect has finished.
    connected: bool,
    /// Commands queued on this link (`--metrics`).
    pub sent: u64,
}

impl Link {
    /// Starts connecting. The connect finishes later: the socket then reports writable.
    pub fn connect(target: &RedisTarget, registry: &Registry, token: Token) -> io::Result<Link> {
        let tls = match &target.tls {
            Some((config, name)) => Some(Box::new(
                ClientConnection::new(config.clone(), name.clone()).map_err(io::Error::other)?,
            )),
            None => None,
        };
        let mut stream = TcpStream::connect(target.addr)?;
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Link {
            stream,
            tls,
            input: Vec::new(),
            output: Output::default(),
            scratch: Vec::new(),
            connected: false,
            sent: 0,
        })
    }

    /// Queues one command; it is written by [`Link::flush`].
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.scratch.clear();
        resp::command(args, &mut self.scratch);
        self.output.push(&self.scratch);
        self.sent += 1;
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The socket is ready. Finishes the connect if it was under way, reads everything there is,
    /// writes what is queued, and appends the complete replies to `replies`.
    pub fn ready(&mut self, replies: &mut Vec<Value>) -> io::Result<()> {
        if !self.connected {
            // A writable (or error) event ends a non-blocking connect; whether it worked is told by
            // SO_ERROR, and a socket that is not connected yet has no peer address.
            if let Some(e) = self.stream.take_error()? {
                return Err(e);
            }
            match self.stream.peer_addr() {
                Ok(_) => self.connected = true,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.read()?;
        self.parse(replies)?;
        self.flush()
    }

    /// Writes what is queued, as far as the socket takes it.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.connected {
            return Ok(());
        }
        if self.output.queued() > OUTPUT_MAX {
            return Err(io::Error::other("Redis is not reading what we send"));
        }
        match &mut self.tls {
            None => self.output.write_to(&mut self.stream).map(|_| ()),
            Some(tls) => client_tls::write(tls, &mut self.stream, &mut self.output).map(|_| ()),
        }
    }

    /// Reads until `WouldBlock`: the socket is edge-triggered, like every client's.
    fn read(&mut self) -> io::Result<()> {
        loop {
            let len = self.input.len();
            if len > INPUT_MAX {
                return Err(io::Error::other("a reply from Redis is too large"));
            }
            self.input.resize(len + READ_CHUNK, 0);
            let result = match &mut self.tls {
                None => self.stream.read(&mut self.input[len..]),
                Some(tls) => client_tls::read(tls, &mut self.stream, &mut self.input[len..]),
            };
            let got = *result.as_ref().unwrap_or(&0);
            self.input.truncate(len + got);
            match result {
                Ok(0) => return Err(io::Error::other("Redis closed the connection")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn parse(&mut self, replies: &mut Vec<Value>) -> io::Result<()> {
        let mut at = 0;
        while let Some((value, used)) = resp::parse(&self.input[at..])
            .map_err(|_| io::Error::other("Redis sent something that is not RESP"))?
        {
            replies.push(value);
            at += used;
        }
        self.input.drain(..at);
        if self.input.is_empty() && self.input.capacity() > READ_CHUNK * 4 {
            self.input = Vec::new(); // A large reply is done: give its memory back.
        }
        Ok(())
    }

    /// Takes the socket out of the `Poll` before the link is dropped.
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}
