//! TLS on the generator's connections (`--tls`): a rustls `ClientConnection` between each socket and
//! the framing, driven on the one `Poll` like everything else.
//!
//! rustls does no I/O of its own: it is handed what the socket read (`read_tls`), gives back
//! plaintext (`reader`), takes plaintext (`writer`) and gives back records to write (`write_tls`).
//! [`Stream`] wraps that into `Read` and `Write` with the semantics of a non-blocking socket, so the
//! generator reads and writes a TLS connection as it does a plain one:
//!
//! - `read` returns fewer bytes than asked for only once the socket said `WouldBlock` (or at its
//!   end), as a plain socket's short read does: the generator skips the read that would only say
//!   `WouldBlock` after a short one, which edge-triggered polling allows only if the socket is empty;
//! - `write` takes plaintext only while the socket takes the records of the last: rustls would
//!   otherwise encrypt and hold everything, and the generator's own backlog limit would see nothing;
//! - `flush` sends the records rustls has waiting (the ClientHello, the handshake's Finished, a
//!   write's tail), and says `WouldBlock` while some remain.
//!
//! Trust: the server is a test server with a self-signed certificate, so no CA is consulted. With
//! `--exec` the server's start-up line gives its certificate's SHA-256 (`tls sha256 AB:...`) and
//! only that certificate is accepted (pinned, as `pollchat-client --tls-fingerprint` does); without
//! it any certificate is. Either way the server must prove in the handshake that it holds the
//! certificate's key, so each handshake costs what a real client's does. Session resumption is off:
//! every client makes a full handshake, as thousands of different people would.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::tls::PinnedCertificate;

/// The settings every TLS connection of a run shares, made once.
#[derive(Debug, Clone)]
pub struct Connector {
    config: Arc<ClientConfig>,
}

impl Connector {
    /// Accepts only the certificate whose SHA-256 is `pin`, or with `None` any certificate.
    pub fn new(pin: Option<[u8; 32]>) -> io::Result<Connector> {
        // rustls 0.23.48 marks the ring provider deprecated (no post-quantum key exchange); the
        // server uses it too (src/tls.rs), so both ends do the same classical X25519 handshake.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Any certificate, or only the pinned one; the handshake's signature is checked either way.
        let verifier = Arc::new(PinnedCertificate::new(pin, &provider));
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.resumption = Resumption::disabled();
        Ok(Connector {
            config: Arc::new(config),
        })
    }

    /// A TLS connection over `tcp` (just connecting) to `target`. Its ClientHello goes out with the
    /// first write or flush once the socket is connected.
    pub fn start(&self, tcp: TcpStream, target: SocketAddr) -> io::Result<Stream> {
        let name = ServerName::IpAddress(target.ip().into());
        let tls = ClientConnection::new(self.config.clone(), name).map_err(io::Error::other)?;
        Ok(Stream::Tls(Box::new(TlsStream { tcp, tls })))
    }
}

/// `AB:CD:...` (either case, colons optional) as 32 bytes (the console client's reading of it).
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    crate::client::tls::parse_fingerprint(text).ok()
}

/// A connection of the run: a plain socket, or TLS over one.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// A socket with a rustls client in front of it.
pub struct TlsStream {
    tcp: TcpStream,
    tls: ClientConnection,
}

impl Stream {
    /// The socket underneath (for its connect state, its address, TCP_NODELAY).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &tls.tcp,
        }
    }

    /// `TLS 1.3, TLS13_AES_256_GCM_SHA384`: what was agreed, once the handshake is over.
    pub fn negotiated(&self) -> Option<String> {
        let Stream::Tls(stream) = self else {
            return None;
        };
        let version = stream.tls.protocol_version()?;
        let suite = stream.tls.negotiated_cipher_suite()?;
        let version = match version {
            rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_string(),
            rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_string(),
            other => format!("{other:?}"),
        };
        Some(format!("{version}, {:?}", suite.suite()))
    }
}

impl TlsStream {
    /// Sends the records rustls has ready (see `tls::send_records`).
    fn send(&mut self) -> io::Result<bool> {
        crate::tls::send_records::<rustls::client::ClientConnectionData>(
            &mut self.tls,
            &mut self.tcp,
        )
    }

    /// Fills `buf` with plaintext, reading the socket until it is empty or `buf` is full.
    fn read_plain(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            while filled < buf.len() {
                match self.tls.reader().read(&mut buf[filled..]) {
                    // The server's close_notify: the end, after what came before it.
                    Ok(0) => return Ok(filled),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // A TCP end without close_notify (UnexpectedEof): reported on the next read.
                    Err(_) if filled > 0 => return Ok(filled),
                    Err(e) => return Err(e),
                }
            }
            if filled == buf.len() {
                return Ok(filled);
            }
            match self.tls.read_tls(&mut self.tcp) {
                // The end of the socket: rustls notes it, and its reader says how it ended.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && filled > 0 => return Ok(filled),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                let _ = self.send(); // rustls's alert, best effort.
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // What the handshake must answer (its Finished) goes at once; what the socket does not
            // take now goes on its next writable edge (`flush`).
            self.send()?;
        }
    }
}

impl TlsStream {
    /// Takes plaintext while the socket takes the records of the last.
    fn write_plain(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Records from before go first; while the socket will not take them, no more plaintext.
        if !self.send()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.tls.writer().write(buf)? {
            // rustls's limit on what it holds (plaintext during the handshake, records after).
            0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => {
                self.send()?;
                Ok(n)
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read_plain(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(stream) => stream.write_plain(buf),
        }
    }

    /// Sends the records rustls holds; `WouldBlock` while some remain.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(stream) => match stream.send()? {
                true => Ok(()),
                false => Err(io::ErrorKind::WouldBlock.into()),
            },
        }
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.tcp_mut().register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.tcp_mut().reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tcp_mut().deregister(registry)
    }
}

impl Stream {
    fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &mut tls.tcp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_with_or_without_colons() {
        let text = "AB:".repeat(31) + "0f";
        let mut want = [0xab; 32];
        want[31] = 0x0f;
        assert_eq!(parse_fingerprint(&text), Some(want));
        assert_eq!(parse_fingerprint(&text.replace(':', "")), Some(want));
        assert_eq!(parse_fingerprint("AB:CD"), None);
        assert_eq!(parse_fingerprint(&("G".to_string() + &text[1..])), None);
    }
}
