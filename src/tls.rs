//! TLS for the listeners that ask for it (`--listen tls://...`, `--web https://...`, `--irc
//! ircs://...`): the certificate and key, and the rustls settings every TLS connection shares.
//!
//! rustls is sans-IO, like the chat core: a `ServerConnection` takes the bytes read from the socket
//! and gives back plaintext, and takes plaintext and gives back the bytes to write. So TLS needs no
//! thread and no change to the loop's shape: it sits on each TLS connection between the socket and
//! the framing (`connection.rs`, `Connection::read_plain` and `Connection::writer`). This file only
//! builds the shared `ServerConfig`. Only the `ring` crypto provider is built in (no C toolchain
//! needed beyond what `ring` brings, no cmake, no nasm); TLS 1.2 and 1.3, rustls's defaults.

use std::fmt::{self, Write as _};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, ServerConfig, SignatureScheme};

/// The settings of every TLS connection, and what to say about them on the start-up line.
pub struct TlsSetup {
    pub config: Arc<ServerConfig>,
    /// The SHA-256 fingerprint of the certificate (its first in a chain), as clients pin it:
    /// `AB:CD:...`.
    pub fingerprint: String,
}

/// Loads a certificate chain and its key from PEM files (a key of any kind rustls reads: PKCS#8,
/// PKCS#1 or SEC1). A key that does not match the certificate is an error here, at start-up.
pub fn from_files(cert: &Path, key: &Path) -> io::Result<TlsSetup> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| pem_error(cert, e))?;
    if chain.is_empty() {
        return Err(io::Error::other(format!(
            "{}: no certificate in it (want PEM: -----BEGIN CERTIFICATE-----)",
            cert.display()
        )));
    }
    check_dates(&chain[0]).map_err(|e| io::Error::other(format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
    setup(chain, key)
}

/// A certificate that has expired (or is not valid yet) is refused at start-up and on reload: every
/// client would refuse it anyway, with an error that points nowhere near the server.
fn check_dates(cert: &CertificateDer<'_>) -> Result<(), String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let validity = parsed.validity();
    if validity.is_valid() {
        Ok(())
    } else {
        Err(format!(
            "the certificate is valid from {} to {}, not now",
            validity.not_before, validity.not_after
        ))
    }
}

/// Makes a certificate for trying things out: self-signed, for `localhost`, this machine's host
/// name and the addresses listened on. Clients cannot verify it against a CA; they pin its
/// fingerprint instead (printed on the start-up line).
pub fn self_signed(addrs: &[SocketAddr]) -> io::Result<TlsSetup> {
    let mut names = vec!["localhost".to_string()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_string());
        }
    }
    // The same address may be listened on by several faces, or on several ports.
    for addr in addrs {
        let name = addr.ip().to_string();
        if !addr.ip().is_unspecified() && !names.contains(&name) {
            names.push(name);
        }
    }
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| io::Error::other(format!("cannot make a self-signed certificate: {e}")))?;
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    setup(vec![generated.cert.der().clone()], key.into())
}

fn setup(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> io::Result<TlsSetup> {
    let fingerprint = fingerprint(&chain[0]);
    // rustls 0.23.48 marks the ring provider deprecated: ring has no post-quantum key exchange.
    // The other provider, aws-lc-rs, needs cmake and a C toolchain to build; ring keeps the build
    // to what a fresh machine has. Classical X25519 and the P curves, as every browser offers.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| io::Error::other(format!("the TLS key does not fit the certificate: {e}")))?;
    Ok(TlsSetup {
        config: Arc::new(config),
        fingerprint,
    })
}

/// `AB:CD:...`, the SHA-256 of a certificate's DER bytes, as `openssl x509 -fingerprint -sha256`
/// prints it.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    let mut text = String::with_capacity(95);
    for (i, byte) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        let _ = write!(text, "{byte:02X}");
    }
    text
}

/// For clients (the console client's `--tls-fingerprint`, the load generator): trusts exactly one
/// certificate, by its SHA-256, or with `None` any certificate. rustls asks a verifier two things:
/// is this certificate the server's (`verify_server_cert`), and did the server sign the handshake
/// with its key (`verify_tls1x_signature`). The first is the pin; the second is done as for any
/// certificate, with the provider's algorithms: without it, anyone who has seen the (public)
/// certificate could present it.
#[derive(Debug)]
pub struct PinnedCertificate {
    sha256: Option<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertificate {
    pub fn new(sha256: Option<[u8; 32]>, provider: &CryptoProvider) -> PinnedCertificate {
        PinnedCertificate {
            sha256,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

/// The error a pinned verifier gives for another certificate: it carries that one's fingerprint
/// (`AB:CD:...`), for the message (the console client finds it inside rustls's error).
#[derive(Debug)]
pub struct NotPinned(pub String);

impl fmt::Display for NotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not the pinned certificate (it is {})", self.0)
    }
}

impl std::error::Error for NotPinned {}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pin) = self.sha256 else {
            return Ok(ServerCertVerified::assertion());
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if digest.as_ref() == pin {
            return Ok(ServerCertVerified::assertion());
        }
        let seen = NotPinned(fingerprint(end_entity));
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(seen)),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Sends the records rustls has ready for the socket, on either side of a connection (the server's
/// connections, the console client, the load generator): `Ok(true)` once all of them have gone,
/// `Ok(false)` when the socket is full (the rest goes when it is writable again).
pub fn send_records<Data>(
    tls: &mut rustls::ConnectionCommon<Data>,
    socket: &mut impl io::Write,
) -> io::Result<bool> {
    while tls.wants_write() {
        match tls.write_tls(socket) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn pem_error(path: &Path, error: rustls::pki_types::pem::Error) -> io::Error {
    io::Error::other(format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_loads_and_has_a_fingerprint() {
        let setup = self_signed(&["127.0.0.1:7879".parse().unwrap()]).unwrap();
        assert_eq!(setup.fingerprint.len(), 32 * 3 - 1);
        assert!(
            setup
                .fingerprint
                .chars()
                .all(|c| c == ':' || c.is_ascii_hexdigit())
        );
    }

    #[test]
    fn files_that_are_missing_or_not_pem_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("pollchat-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let missing = dir.join("missing.pem");
        let error = from_files(&missing, &missing).err().unwrap().to_string();
        assert!(error.contains("missing.pem"), "{error}");
        let error = from_files(&junk, &junk).err().unwrap().to_string();
        assert!(error.contains("no certificate"), "{error}");
    }

    #[test]
    fn an_expired_certificate_is_refused() {
        let dir = std::env::temp_dir().join(format!("pollchat-tls-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let error = from_files(&cert_file, &key_file).err().unwrap().to_string();
        assert!(
            error.contains("valid from") && error.contains("2021"),
            "{error}"
        );
    }

    #[test]
    fn a_key_that_does_not_fit_the_certificate_is_refused() {
        let one = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = PrivatePkcs8KeyDer::from(other.signing_key.serialize_der());
        let error = setup(vec![one.cert.der().clone()], key.into())
            .err()
            .unwrap();
        assert!(error.to_string().contains("does not fit"), "{error}");
    }
}
