//! The WebSocket side of a generator client, for rooms where some clients are browsers
//! (`--ws-share`): the upgrade request, masked text frames out, and server frames read in place.
//! pollchat's web face carries one chat line per text frame.

use std::net::SocketAddr;
use std::ops::Range;

/// The mask of every frame the generator sends (a client must mask; the server does not care how).
const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// Text frame opcode.
pub const TEXT: u8 = 0x1;

/// The `GET /ws` upgrade request for a server whose web face is at `host`.
pub fn upgrade_request(host: SocketAddr) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: cG9sbGNoYXQtYmVuY2gtMQ==\r\n\r\n"
    )
}

/// The end of the upgrade response's head in `bytes` (just past its blank line), and whether it
/// accepted the upgrade; `None` until the head is complete.
pub fn upgrade_response(bytes: &[u8]) -> Option<(usize, bool)> {
    let end = memchr::memmem::find(bytes, b"\r\n\r\n")? + 4;
    Some((end, bytes.starts_with(b"HTTP/1.1 101")))
}

/// Appends `payload` as one masked text frame.
pub fn text_frame(payload: &[u8], out: &mut Vec<u8>) {
    crate::websocket::client_frame(0x80 | TEXT, payload, Some(MASK), out);
}

/// A server frame at the start of `bytes`: (opcode, payload range, length used), if all there.
pub fn server_frame(bytes: &[u8]) -> Option<(u8, Range<usize>, usize)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let (len, at): (usize, usize) = match second & 0x7f {
        126 => (
            u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?)).ok()?,
            10,
        ),
        n => (n as usize, 2),
    };
    let end = at.checked_add(len)?;
    (bytes.len() >= end).then_some((first & 0x0f, at..end, end))
}

/// Whether client `index` joins over WebSocket: `share` (0 to 1) of the clients, spread evenly.
pub fn is_websocket(index: usize, share: f64) -> bool {
    ((index + 1) as f64 * share).floor() > (index as f64 * share).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_spread_evenly() {
        let picked: Vec<usize> = (0..10).filter(|&i| is_websocket(i, 0.5)).collect();
        assert_eq!(picked, [1, 3, 5, 7, 9]);
        assert!((0..100).all(|i| !is_websocket(i, 0.0)));
        assert!((0..100).all(|i| is_websocket(i, 1.0)));
    }

    #[test]
    fn server_frames_are_read_only_when_complete() {
        let frame = [0x81, 3, b'a', b'b', b'c', 0x81];
        assert_eq!(server_frame(&frame), Some((TEXT, 2..5, 5)));
        assert_eq!(server_frame(&frame[..4]), None);
        assert_eq!(server_frame(&frame[5..]), None);
        let mut long = vec![0x81, 126, 0x01, 0x00];
        long.resize(4 + 256, b'x');
        assert_eq!(server_frame(&long), Some((TEXT, 4..260, 260)));
    }

    #[test]
    fn the_upgrade_head_ends_at_its_blank_line() {
        let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x01a";
        assert_eq!(upgrade_response(response), Some((56, true)));
        assert_eq!(
            upgrade_response(b"HTTP/1.1 403 No\r\n\r\n"),
            Some((19, false))
        );
        assert_eq!(upgrade_response(b"HTTP/1.1 101 Sw"), None);
    }
}
