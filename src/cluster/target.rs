//! `RedisTarget`: where the cluster's Redis is, and how to reach it: its address (resolved once, at
//! start-up), TLS or not (`rediss://`, Redis 6 and later), and the password, if any. A Redis on
//! another machine must be neither open nor read on the wire: `redis://:PASSWORD@HOST:PORT` (or
//! `USER:PASSWORD@` for a Redis 6 ACL user, or `--cluster-password-file`, which keeps the password
//! out of `ps`), and `rediss://` to encrypt the link, checked against the system's CAs or
//! `--cluster-ca FILE`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;

/// The cluster's Redis. (Its `Debug` leaves the password out, like its `Display`.)
#[derive(Clone)]
pub struct RedisTarget {
    pub addr: SocketAddr,
    /// For TLS: the settings, and the name the certificate must be for (the host in the URL).
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    /// `AUTH`'s arguments: `[PASSWORD]` or `[USER, PASSWORD]`.
    pub auth: Vec<String>,
}

/// Shown in logs: the scheme and address, never the password.
impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        write!(f, "{scheme}://{}", self.addr)
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTarget")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.len())
            .finish()
    }
}

impl RedisTarget {
    /// Reads `--cluster URL` (port 6379 if none), resolving the host once, here.
    /// `password_file` (its first line) overrides a password in the URL; `ca_file` is the CA for
    /// `rediss://` instead of the system's.
    pub fn parse(
        url: &str,
        password_file: Option<&Path>,
        ca_file: Option<&Path>,
    ) -> io::Result<RedisTarget> {
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "--cluster {}: want redis[s]://[[USER]:PASSWORD@]HOST[:PORT]",
                    hide(url)
                ),
            )
        };
        let (tls, rest) = match (url.strip_prefix("rediss://"), url.strip_prefix("redis://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(bad()),
        };
        let rest = rest.trim_end_matches('/');
        let (credentials, host_port) = match rest.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, rest),
        };
        if host_port.is_empty() || host_port.contains('/') {
            return Err(bad());
        }
        // As in any URL, a `@`, `:` or `/` in the user or the password is percent-escaped
        // (`%40`, `%3A`, `%2F`), and decoded here before it reaches AUTH.
        let decoded = |part: &str| percent_decoded(part).ok_or_else(bad);
        let mut auth = match credentials {
            None => Vec::new(),
            Some(credentials) => match credentials.split_once(':') {
                Some(("", password)) => vec![decoded(password)?],
                Some((user, password)) => vec![decoded(user)?, decoded(password)?],
                None => return Err(bad()),
            },
        };
        if let Some(path) = password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                io::Error::other(format!("--cluster-password-file {}: {e}", path.display()))
            })?;
            let password = text.lines().next().unwrap_or("").to_string();
            match auth.len() {
                2 => auth[1] = password,
                _ => auth = vec![password],
            }
        }
        let with_port = if host_port.ends_with(']') || !host_port.contains(':') {
            format!("{host_port}:6379")
        } else {
            host_port.to_string()
        };
        let addr = with_port.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::other(format!("--cluster {}: no address found", hide(url)))
        })?;
        let tls = if tls {
            Some(client_config(host_port, ca_file).map_err(io::Error::other)?)
        } else {
            None
        };
        Ok(RedisTarget { addr, tls, auth })
    }
}

/// The TLS settings for `rediss://HOST...`: the system's CAs, or those of `ca_file`.
fn client_config(
    host_port: &str,
    ca_file: Option<&Path>,
) -> Result<(Arc<ClientConfig>, ServerName<'static>), String> {
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("--cluster: {host:?} is not a name a certificate can be for"))?;
    let roots = match ca_file {
        Some(path) => crate::client::tls::ca_file("--cluster-ca", path)?,
        None => crate::client::tls::system_roots("--cluster-ca FILE")?,
    };
    // rustls marks its ring provider deprecated (see `crate::tls`); the same provider everywhere.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((Arc::new(config), name))
}

/// `text` with each `%XX` replaced by the byte it stands for; `None` if an escape is cut short or not
/// hexadecimal, or if the bytes are not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, after)) = rest.split_first() {
        if first == b'%' {
            let hex = after.get(..2).and_then(|h| std::str::from_utf8(h).ok())?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &after[2..];
        } else {
            bytes.push(first);
            rest = after;
        }
    }
    String::from_utf8(bytes).ok()
}

/// A URL as it may be shown: without its password.
fn hide(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((before, after)) => {
            let scheme_end = before.find("://").map_or(0, |i| i + 3);
            format!("{}***@{after}", &before[..scheme_end])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_with_the_default_port_and_credentials() {
        let target = RedisTarget::parse("redis://127.0.0.1", None, None).unwrap();
        assert_eq!(target.addr, "127.0.0.1:6379".parse().unwrap());
        assert!(target.tls.is_none() && target.auth.is_empty());
        let target = RedisTarget::parse("redis://127.0.0.1:7000/", None, None).unwrap();
        assert_eq!(target.addr, "127.0.0.1:7000".parse().unwrap());
        let target = RedisTarget::parse("redis://[::1]", None, None).unwrap();
        assert_eq!(target.addr, "[::1]:6379".parse().unwrap());
        let target = RedisTarget::parse("redis://:s3cret@127.0.0.1:7000", None, None).unwrap();
        assert_eq!(target.auth, ["s3cret"]);
        assert_eq!(target.to_string(), "redis://127.0.0.1:7000");
        let target = RedisTarget::parse("redis://bob:pw@127.0.0.1", None, None).unwrap();
        assert_eq!(target.auth, ["bob", "pw"]);
        for bad in [
            "127.0.0.1:6379",
            "redis://",
            "redis://h:1/0",
            "redis://nopassword@h",
        ] {
            let error = RedisTarget::parse(bad, None, None).unwrap_err().to_string();
            assert!(error.contains("want redis"), "{bad}: {error}");
        }
    }

    #[test]
    fn escaped_credentials_are_decoded() {
        let url = "redis://b%40b:p%3Aw%2F%40%25@127.0.0.1";
        let target = RedisTarget::parse(url, None, None).unwrap();
        assert_eq!(target.auth, ["b@b", "p:w/@%"]);
        for bad in [
            "redis://:p%4@h",
            "redis://:p%zz@h",
            "redis://:p%ff@h",
            "redis://:%@h",
        ] {
            let error = RedisTarget::parse(bad, None, None).unwrap_err().to_string();
            assert!(error.contains("want redis"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_password_never_shows_in_an_error() {
        let error = RedisTarget::parse("redis://:s3cret@/x", None, None)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn a_password_file_gives_the_password() {
        let dir = std::env::temp_dir().join(format!("pollchat-redis-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "from-file\n").unwrap();
        let target = RedisTarget::parse("redis://127.0.0.1", Some(&file), None).unwrap();
        assert_eq!(target.auth, ["from-file"]);
        let target = RedisTarget::parse("redis://bob:x@127.0.0.1", Some(&file), None).unwrap();
        assert_eq!(target.auth, ["bob", "from-file"]);
    }
}
