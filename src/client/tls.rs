//! TLS for the console client (`pollchat-client tls://HOST:PORT`): which servers to trust, and how
//! a rustls `ClientConnection` is driven on the loop's non-blocking socket.
//!
//! rustls does no I/O of its own. A `ClientConnection` is a state machine: it is handed the bytes
//! read from the socket (`read_tls`), decrypts and checks them (`process_new_packets`), and gives
//! back plaintext (`reader`); it takes plaintext (`writer`) and gives back records to send
//! (`write_tls`). So TLS needs no thread and changes nothing in the loop's shape: the socket is
//! still read until it says `WouldBlock` and written while it takes bytes, with rustls in between.
//! The server drives its `ServerConnection`s the same way (`src/connection.rs`); this file is the
//! client's copy of that plumbing, plus the client's side of trust:
//!
//! - by default, the system's root certificates, as the operating system keeps them (read with
//!   `rustls-native-certs`: on Debian, `/etc/ssl/certs` from the `ca-certificates` package; the
//!   `SSL_CERT_FILE` and `SSL_CERT_DIR` variables point elsewhere);
//! - `--tls-ca FILE`: the CA certificates in a PEM file instead, for a private CA;
//! - `--tls-fingerprint SHA256`: exactly one certificate, the one with that SHA-256, for a
//!   self-signed server (`pollchat --tls-self-signed` prints it on its start-up line). Like an SSH
//!   host key: its names and dates are not looked at, only that it is that certificate and that
//!   the server proves, in the handshake, that it holds its key.
//!
//! Everything that reads files (the roots, the CA file) happens once, before the loop starts, in
//! [`TlsOptions::new`]; each connection attempt then gets a fresh `ClientConnection` from the shared
//! `ClientConfig` ([`TlsOptions::start`]).

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, OtherError, RootCertStore};

use crate::connection::Output;
use crate::tls::{NotPinned, PinnedCertificate};

/// The port of `tls://HOST` when none is given (the plain chat port is 7878).
pub const DEFAULT_PORT: u16 = 7879;

/// Whom the client trusts to be the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// A certificate that chains to one of the system's root certificates.
    System,
    /// A certificate that chains to a CA certificate in this PEM file (`--tls-ca`).
    Ca(PathBuf),
    /// Exactly the certificate with this SHA-256 (`--tls-fingerprint`).
    Fingerprint([u8; 32]),
}

/// The client's TLS settings, made once before the loop starts.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    config: Arc<ClientConfig>,
    /// The name the certificate must be for (and, for a DNS name, the SNI sent): the host part of
    /// the address as typed. An IP address is checked against the certificate's IP addresses.
    server_name: ServerName<'static>,
    trust: Trust,
}

impl TlsOptions {
    /// The settings for a server at `host_port` (as typed after `tls://`), trusted as `trust` says.
    /// Reads the root certificates now: an unreadable `--tls-ca` file, or a system with no root
    /// certificates at all, is an error here rather than a refused server later.
    pub fn new(host_port: &str, trust: Trust) -> Result<TlsOptions, String> {
        let server_name = server_name(host_port)?;
        // The ring provider, as the server uses: see `src/tls.rs` for why (no cmake, no nasm).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let config = match &trust {
            Trust::Fingerprint(sha256) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCertificate::new(
                    Some(*sha256),
                    &provider,
                )))
                .with_no_client_auth(),
            Trust::Ca(path) => builder
                .with_root_certificates(ca_file("--tls-ca", path)?)
                .with_no_client_auth(),
            Trust::System => builder
                .with_root_certificates(system_roots("--tls-ca FILE or --tls-fingerprint SHA256")?)
                .with_no_client_auth(),
        };
        Ok(TlsOptions {
            config: Arc::new(config),
            server_name,
            trust,
        })
    }

    /// A new TLS session, for one connection attempt. It has its ClientHello ready to send.
    pub fn start(&self) -> io::Result<ClientConnection> {
        ClientConnection::new(Arc::clone(&self.config), self.server_name.clone())
            .map_err(io::Error::other)
    }

    /// If `error` (from [`read`] or [`write`]) is the server's certificate being refused, the line
    /// that says so. Retrying cannot fix that: the client stops.
    pub fn refused(&self, error: &io::Error) -> Option<String> {
        let rustls::Error::InvalidCertificate(why) = error.get_ref()?.downcast_ref()? else {
            return None;
        };
        if let CertificateError::Other(OtherError(other)) = why
            && let Some(NotPinned(seen)) = other.downcast_ref()
        {
            return Some(format!(
                "the server's certificate does not match --tls-fingerprint (it is {seen})"
            ));
        }
        let why = match why {
            CertificateError::UnknownIssuer => "no trusted CA signed it".to_string(),
            other => other.to_string(),
        };
        Some(match &self.trust {
            Trust::Ca(path) => format!(
                "the server's certificate was refused: {why} (checked against --tls-ca {})",
                path.display()
            ),
            Trust::System => format!(
                "the server's certificate was refused: {why} (checked against the system's root \
                 certificates; a private CA needs --tls-ca FILE, a self-signed server \
                 --tls-fingerprint SHA256)"
            ),
            // The pinned certificate, but the handshake's signature did not verify with its key.
            Trust::Fingerprint(_) => format!("the server's certificate was refused: {why}"),
        })
    }
}

/// What to say about a handshake that failed otherwise than by a refused certificate (the client
/// retries those, as it retries a connection that could not be made).
pub fn handshake_failed(error: &io::Error) -> String {
    let inner = error.get_ref().and_then(|e| e.downcast_ref());
    if let Some(rustls::Error::InvalidMessage(_)) = inner {
        // Most likely a plain chat port: it answered the ClientHello with a line of text.
        return format!("TLS handshake failed: {error} (is the server's port TLS?)");
    }
    format!("TLS handshake failed: {error}")
}

/// The certificate's name from `HOST:PORT`, `[IPV6]:PORT` or `HOST`.
fn server_name(host_port: &str) -> Result<ServerName<'static>, String> {
    let host = match host_port.rsplit_once(':') {
        Some((host, _port)) => host,
        None => host_port,
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string())
        .map_err(|_| format!("{host:?} is not a name a certificate can be for"))
}

/// The CA certificates of a PEM file (given with `flag`, for the messages).
pub fn ca_file(flag: &str, path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("{flag} {shown}: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "{flag} {shown}: no usable certificate in it (want PEM: -----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(roots)
}

/// The system's root certificates. A file among them that cannot be read or parsed is skipped;
/// none at all is an error that says what to do (`other_ways`: the flags that avoid needing them).
pub fn system_roots(other_ways: &str) -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "no root certificates found on this system{why}: install them (Debian: apt-get \
             install ca-certificates), or give {other_ways}"
        ));
    }
    Ok(roots)
}

/// `--tls-fingerprint`'s value: 64 hex digits, in either case, with or without colons between
/// the bytes (`AB:CD:...`, as the server prints it and `openssl x509 -fingerprint -sha256` too).
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let digits: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
    let bad = || {
        format!(
            "--tls-fingerprint {text}: want a SHA-256, 64 hex digits (colons between bytes optional)"
        )
    };
    // (Checked here, not left to `from_str_radix`, which would take a `+` too.)
    if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let mut sha256 = [0u8; 32];
    for (byte, pair) in sha256.iter_mut().zip(digits.chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(sha256)
}

// ---- moving bytes ---------------------------------------------------------------------------------

/// Reads what the server sent, decrypted. Like a socket's `read`: `Ok(0)` is the end of the stream
/// (the server's `close_notify`, or its FIN), `WouldBlock` means the socket has nothing more
/// (edge-triggered readiness is then satisfied). The handshake happens in here too: its records
/// are read like any others, and rustls's answers are sent at once (or, if the socket is full, by
/// the next [`write`]). A TLS failure, a refused certificate included, is an `InvalidData` error
/// carrying rustls's error (after rustls's alert is sent, best effort); see
/// [`TlsOptions::refused`].
pub fn read(
    tls: &mut ClientConnection,
    stream: &mut TcpStream,
    buf: &mut [u8],
) -> io::Result<usize> {
    loop {
        // Plaintext already decrypted comes first: a record may hold more than `buf` takes.
        match tls.reader().read(buf) {
            Ok(n) => return Ok(n), // 0: the server's close_notify.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if tls.read_tls(stream)? == 0 {
            return Ok(0);
        }
        if let Err(e) = tls.process_new_packets() {
            let _ = send(tls, stream);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        match send(tls, stream) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes what is queued, encrypted, and any records rustls has waiting (the ClientHello, say).
/// `Ok(true)` once everything has left, `Ok(false)` when the socket is full.
///
/// Plaintext goes into rustls only while the socket takes the records: rustls would otherwise
/// encrypt and hold everything queued, and the client's own limit on what waits for the server
/// (`OUTPUT_HIGH_WATER` in `mod.rs`, which pauses reading standard input) would see nothing.
pub fn write(
    tls: &mut ClientConnection,
    stream: &mut TcpStream,
    output: &mut Output,
) -> io::Result<bool> {
    if !output.is_empty() && !output.write_to(&mut Writer { tls, stream })? {
        return Ok(false);
    }
    send(tls, stream)
}

/// Says goodbye within TLS (`close_notify`), best effort, before the socket is closed: so the
/// server can tell the client's close from a cut connection.
pub fn close(tls: &mut ClientConnection, stream: &mut TcpStream) {
    tls.send_close_notify();
    let _ = send(tls, stream);
}

/// Sends the records rustls has ready (see `tls::send_records`).
fn send(tls: &mut ClientConnection, stream: &mut TcpStream) -> io::Result<bool> {
    crate::tls::send_records::<rustls::client::ClientConnectionData>(tls, stream)
}

/// What `Output::write_to` writes to: rustls in front of the socket.
struct Writer<'a> {
    tls: &'a mut ClientConnection,
    stream: &'a mut TcpStream,
}

impl Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Records from before go first; while the socket will not take them, no more plaintext.
        if !send(self.tls, self.stream)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.tls.writer().write(buf)? {
            // rustls holds plaintext written during the handshake up to a limit: wait with the rest.
            0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => {
                send(self.tls, self.stream)?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::{ServerConfig, ServerConnection};

    #[test]
    fn fingerprints_are_read_in_either_case_with_or_without_colons() {
        let cert = self_signed(&["localhost"]).cert;
        let printed = crate::tls::fingerprint(&cert);
        let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
        let want: [u8; 32] = digest.as_ref().try_into().unwrap();
        assert_eq!(parse_fingerprint(&printed), Ok(want));
        assert_eq!(parse_fingerprint(&printed.to_lowercase()), Ok(want));
        assert_eq!(parse_fingerprint(&printed.replace(':', "")), Ok(want));
        for bad in [
            "",
            "AB:CD",
            &printed[3..],
            &format!("+A{}", &printed[2..]),
            &format!("G{}", &printed[1..]),
            "é",
        ] {
            let error = parse_fingerprint(bad).unwrap_err();
            assert!(error.contains("64 hex digits"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_server_name_is_the_host_part_of_the_address() {
        let ip = |text: &str| ServerName::IpAddress(text.parse::<IpAddr>().unwrap().into());
        assert_eq!(server_name("127.0.0.1:7879"), Ok(ip("127.0.0.1")));
        assert_eq!(server_name("[::1]:7879"), Ok(ip("::1")));
        let dns = ServerName::try_from("chat.example.org").unwrap();
        assert_eq!(server_name("chat.example.org:7879"), Ok(dns.clone()));
        assert_eq!(server_name("chat.example.org"), Ok(dns));
        assert!(server_name("no such host:7879").is_err());
    }

    /// A certificate and its key.
    struct Identity {
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    }

    fn self_signed(names: &[&str]) -> Identity {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let made = rcgen::generate_simple_self_signed(names).unwrap();
        Identity {
            cert: made.cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()).into(),
        }
    }

    /// A CA (its certificate in PEM) and a server certificate it signed for `names`.
    fn ca_and_server(names: &[&str]) -> (String, Identity) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // Not rcgen's default name, which every self-signed certificate it makes also has.
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pollchat test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let server = Identity {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        };
        (ca.pem(), server)
    }

    /// Runs a handshake in memory between a client with `options` and a server with `identity`,
    /// then sends a line each way. The client's error, if it fails.
    fn handshake(options: &TlsOptions, identity: &Identity) -> Result<(), io::Error> {
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())
            .unwrap();
        let mut server = ServerConnection::new(Arc::new(config)).unwrap();
        let mut client = options.start()?;
        client.writer().write_all(b"hello\n")?;
        let mut welcomed = false;
        for _ in 0..10 {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes)?;
            server.read_tls(&mut bytes.as_slice())?;
            if server.process_new_packets().is_err() {
                break; // The client's alert: its error says why.
            }
            let mut bytes = Vec::new();
            server.write_tls(&mut bytes)?;
            client.read_tls(&mut bytes.as_slice())?;
            client
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if !welcomed && !server.is_handshaking() {
                server.writer().write_all(b"welcome\n")?;
                welcomed = true;
            }
            let mut line = [0u8; 8];
            if client.reader().read_exact(&mut line).is_ok() {
                assert_eq!(&line, b"welcome\n");
                let mut line = [0u8; 6];
                server.reader().read_exact(&mut line)?;
                assert_eq!(&line, b"hello\n");
                return Ok(());
            }
        }
        Err(io::Error::other("the handshake did not finish"))
    }

    #[test]
    fn a_pinned_certificate_is_trusted_and_no_other() {
        let server = self_signed(&["localhost"]);
        let printed = crate::tls::fingerprint(&server.cert);
        // The pin says nothing of names: the address's host need not be in the certificate.
        let pinned = TlsOptions::new(
            "10.1.2.3:7879",
            Trust::Fingerprint(parse_fingerprint(&printed).unwrap()),
        )
        .unwrap();
        handshake(&pinned, &server).unwrap();

        let other = self_signed(&["localhost"]);
        let error = handshake(&pinned, &other).unwrap_err();
        assert_eq!(
            pinned.refused(&error).unwrap(),
            format!(
                "the server's certificate does not match --tls-fingerprint (it is {})",
                crate::tls::fingerprint(&other.cert)
            )
        );
        // A failure that is not about the certificate is not a refusal.
        let cut = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(pinned.refused(&cut), None);
    }

    #[test]
    fn a_ca_file_trusts_what_that_ca_signed_for_the_right_name() {
        let (ca_pem, server) = ca_and_server(&["127.0.0.1", "chat.example.org"]);
        let dir = std::env::temp_dir().join(format!("pollchat-client-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, ca_pem).unwrap();
        for addr in ["127.0.0.1:7879", "chat.example.org:7879"] {
            let options = TlsOptions::new(addr, Trust::Ca(ca.clone())).unwrap();
            handshake(&options, &server).unwrap();
        }
        // Another name, or a certificate from elsewhere, is refused.
        let options = TlsOptions::new("127.0.0.2:7879", Trust::Ca(ca.clone())).unwrap();
        let error = handshake(&options, &server).unwrap_err();
        let said = options.refused(&error).unwrap();
        assert!(said.contains("not valid for name"), "{said}");
        assert!(said.contains("--tls-ca"), "{said}");
        let options = TlsOptions::new("127.0.0.1:7879", Trust::Ca(ca.clone())).unwrap();
        let error = handshake(&options, &self_signed(&["127.0.0.1"])).unwrap_err();
        let said = options.refused(&error).unwrap();
        assert!(said.contains("no trusted CA signed it"), "{said}");
        // A file with no certificate is an error before any connection.
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let error = TlsOptions::new("127.0.0.1:7879", Trust::Ca(junk)).unwrap_err();
        assert!(error.contains("no usable certificate"), "{error}");
        let error =
            TlsOptions::new("127.0.0.1:7879", Trust::Ca(dir.join("missing.pem"))).unwrap_err();
        assert!(error.contains("missing.pem"), "{error}");
    }
}
