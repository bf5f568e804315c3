//! Just enough HTTP/1.1 for the web face: `GET /` serves the page, `GET /ws` becomes a WebSocket.
//!
//! A connection on the web listener starts here. Its bytes are collected until the request's headers
//! are complete (at most [`MAX_HEAD`] bytes), parsed with `httparse`, and answered with one response;
//! then the connection either closes (every plain response says `Connection: close`) or, after a
//! valid upgrade, carries WebSocket frames (`websocket.rs`). Like the other protocol files this one
//! does no I/O: bytes in, a decision out.

use tungstenite::handshake::derive_accept_key;

/// The most a request's head (request line and headers) may take; more gets 431.
pub const MAX_HEAD: usize = 8 * 1024;

/// The page, built into the binary: no CDN, no build step, works on a LAN with no internet.
pub const PAGE: &str = include_str!("web/index.html");

/// What to do with the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The head is not complete yet.
    Incomplete,
    /// Send this response, then close.
    Respond(Vec<u8>),
    /// Send this `101 Switching Protocols`; from now on the connection speaks WebSocket. `used` bytes
    /// were the request: anything after them is already WebSocket.
    Upgrade { response: Vec<u8>, used: usize },
}

/// What the server tells the request handler about itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The room cannot take another user: an upgrade gets 503.
    pub full: bool,
    /// Origins allowed besides the page's own (`--web-origin`).
    pub origins: &'a [String],
}

/// Looks at the bytes received so far on an HTTP connection.
pub fn handle(bytes: &[u8], context: Context<'_>) -> Outcome {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let used = match request.parse(bytes) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if bytes.len() <= MAX_HEAD => return Outcome::Incomplete,
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            return Outcome::Respond(status(431, "Request Header Fields Too Large", &[]));
        }
        Err(_) => return Outcome::Respond(status(400, "Bad Request", &[])),
    };
    if used > MAX_HEAD {
        return Outcome::Respond(status(431, "Request Header Fields Too Large", &[]));
    }
    let method = request.method.unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return Outcome::Respond(status(405, "Method Not Allowed", &[("Allow", "GET, HEAD")]));
    }
    match request.path.unwrap_or("").split('?').next() {
        Some("/") => Outcome::Respond(page(method == "HEAD")),
        Some("/ws") => upgrade(&request, used, context),
        _ => Outcome::Respond(status(404, "Not Found", &[])),
    }
}

/// `GET /ws`: the checks of RFC 6455 §4.2.1, then the handshake.
fn upgrade(request: &httparse::Request<'_, '_>, used: usize, context: Context<'_>) -> Outcome {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    // `Connection` is a list of tokens: Firefox sends `keep-alive, Upgrade`.
    let connection_upgrade = header("Connection").is_some_and(|v| {
        v.split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
    });
    let upgrade_websocket =
        header("Upgrade").is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !connection_upgrade || !upgrade_websocket || request.method != Some("GET") {
        return Outcome::Respond(status(426, "Upgrade Required", &[("Upgrade", "websocket")]));
    }
    if header("Sec-WebSocket-Version").map(str::trim) != Some("13") {
        return Outcome::Respond(status(
            426,
            "Upgrade Required",
            &[("Sec-WebSocket-Version", "13")],
        ));
    }
    let Some(key) = header("Sec-WebSocket-Key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
    else {
        return Outcome::Respond(status(400, "Bad Request", &[]));
    };
    if !origin_allowed(header("Origin"), header("Host"), context.origins) {
        return Outcome::Respond(status(403, "Forbidden", &[]));
    }
    if context.full {
        return Outcome::Respond(status(503, "Service Unavailable", &[]));
    }
    let accept = derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    Outcome::Upgrade {
        response: response.into_bytes(),
        used,
    }
}

/// Cross-site WebSocket hijacking (RFC 6455 §10.2): any web page a participant visits could open a
/// WebSocket to a server on their LAN from their browser, which sends the page's `Origin`. So an
/// upgrade is accepted only without an `Origin` (not a browser), from the page's own origin (the same
/// host and port it asked for), or from an origin listed with `--web-origin`.
fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else { return true };
    let origin = origin.trim().trim_end_matches('/');
    let own = host.is_some_and(|host| {
        let host = host.trim();
        origin.eq_ignore_ascii_case(&format!("http://{host}"))
            || origin.eq_ignore_ascii_case(&format!("https://{host}"))
    });
    own || allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// 503, for a web connection refused because too many are already waiting in HTTP.
pub fn unavailable() -> Vec<u8> {
    status(503, "Service Unavailable", &[])
}

/// 408, for a connection that did not finish its request within `--web-deadline-secs`.
pub fn timed_out() -> Vec<u8> {
    status(408, "Request Timeout", &[])
}

fn page(head_only: bool) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; \
         style-src 'unsafe-inline'; connect-src 'self'; img-src data:\r\n\
         Connection: close\r\n\r\n",
        PAGE.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(PAGE.as_bytes());
    }
    response
}

/// A response with a short text body saying what went wrong (the metrics listener's too).
pub(crate) fn status(code: u16, reason: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let body = format!("{code} {reason}\n");
    let mut head = format!("HTTP/1.1 {code} {reason}\r\n");
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    head.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Context<'static> = Context {
        full: false,
        origins: &[],
    };

    fn status_line(outcome: &Outcome) -> String {
        let bytes = match outcome {
            Outcome::Respond(bytes)
            | Outcome::Upgrade {
                response: bytes, ..
            } => bytes,
            Outcome::Incomplete => return "incomplete".into(),
        };
        String::from_utf8_lossy(bytes)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }

    fn upgrade_request(extra: &str) -> String {
        format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: keep-alive, Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        )
    }

    #[test]
    fn the_page_and_head() {
        let get = handle(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", OPEN);
        assert_eq!(status_line(&get), "HTTP/1.1 200 OK");
        let Outcome::Respond(bytes) = get else {
            panic!()
        };
        assert!(String::from_utf8_lossy(&bytes).ends_with(PAGE));
        let Outcome::Respond(head) = handle(b"HEAD / HTTP/1.1\r\n\r\n", OPEN) else {
            panic!()
        };
        assert!(String::from_utf8_lossy(&head).ends_with("\r\n\r\n"));
    }

    #[test]
    fn a_valid_upgrade_gets_the_accept_key() {
        let request =
            upgrade_request("Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8080\r\n");
        let outcome = handle(request.as_bytes(), OPEN);
        assert_eq!(status_line(&outcome), "HTTP/1.1 101 Switching Protocols");
        let Outcome::Upgrade { response, used } = outcome else {
            panic!()
        };
        // The example key and answer of RFC 6455 §1.3.
        assert!(
            String::from_utf8_lossy(&response)
                .contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        assert_eq!(used, request.len());
    }

    #[test]
    fn errors_get_their_status() {
        let cases: &[(&[u8], &str)] = &[
            (b"GET /nope HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
            (
                b"POST / HTTP/1.1\r\n\r\n",
                "HTTP/1.1 405 Method Not Allowed",
            ),
            (b"GET /ws HTTP/1.1\r\n\r\n", "HTTP/1.1 426 Upgrade Required"),
            (b"\x00\x01 garbage\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            (b"GET / HTTP/1.1\r\n", "incomplete"),
        ];
        for (request, want) in cases {
            assert_eq!(
                status_line(&handle(request, OPEN)),
                *want,
                "{:?}",
                String::from_utf8_lossy(request)
            );
        }
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(
            status_line(&handle(huge.as_bytes(), OPEN)),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }

    #[test]
    fn upgrade_checks() {
        let v12 = upgrade_request("Sec-WebSocket-Version: 12\r\n");
        let Outcome::Respond(bytes) = handle(v12.as_bytes(), OPEN) else {
            panic!()
        };
        assert!(String::from_utf8_lossy(&bytes).contains("Sec-WebSocket-Version: 13"));
        let foreign =
            upgrade_request("Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n");
        assert_eq!(
            status_line(&handle(foreign.as_bytes(), OPEN)),
            "HTTP/1.1 403 Forbidden"
        );
        let listed = Context {
            full: false,
            origins: &["http://evil.example".to_string()],
        };
        assert_eq!(
            status_line(&handle(foreign.as_bytes(), listed)),
            "HTTP/1.1 101 Switching Protocols"
        );
        let no_origin = upgrade_request("Sec-WebSocket-Version: 13\r\n");
        assert_eq!(
            status_line(&handle(no_origin.as_bytes(), OPEN)),
            "HTTP/1.1 101 Switching Protocols"
        );
        let full = Context {
            full: true,
            origins: &[],
        };
        assert_eq!(
            status_line(&handle(no_origin.as_bytes(), full)),
            "HTTP/1.1 503 Service Unavailable"
        );
    }
}
