//! Just enough RESP (the Redis protocol) for pub/sub: writing a command (with `crate::resp`), and
//! reading replies in place, the way the generator reads chat lines. A reply is parsed where it
//! lies in the read buffer; the payload of a `message` comes back as a slice of it, never copied.
//!
//! Replies that matter: `*3 $9 subscribe $CHANNEL :N` (a subscription is confirmed), `*3 $7 message
//! $CHANNEL $PAYLOAD` (a delivery), `:N` (a PUBLISH's count of receivers) and `-ERR …` (an error).
//! RESP3 push frames (`>3 …`) are read like arrays.

/// Commands are written by the server's own encoder: `*N\r\n` then each argument as
/// `$LEN\r\nARG\r\n`.
pub use crate::resp::command;

/// One reply, as the generator cares about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A subscription is confirmed.
    Subscribed,
    /// A message published on a channel the connection subscribed to.
    Message(&'a [u8]),
    /// An integer, such as PUBLISH's count of receivers.
    Integer(i64),
    /// An error reply, its text.
    Error(&'a [u8]),
    /// Anything else (a simple string, a null, an array of another kind).
    Other,
}

/// Bytes that are not RESP (the server's type: one parser's refusal is like the other's).
pub use crate::resp::Malformed;
use crate::resp::integer;

/// The reply at the start of `bytes` and how many bytes it takes; `None` if it is not complete yet.
pub fn parse(bytes: &[u8]) -> Result<Option<(Reply<'_>, usize)>, Malformed> {
    let Some((first, mut at)) = element(bytes, 0)? else {
        return Ok(None);
    };
    let Element::Array(len) = first else {
        let reply = match first {
            Element::Integer(n) => Reply::Integer(n),
            Element::Error(text) => Reply::Error(text),
            _ => Reply::Other,
        };
        return Ok(Some((reply, at)));
    };
    // A flat array: pub/sub replies never nest. Keep its first and third elements.
    let (mut kind, mut third) = (None, None);
    for i in 0..len {
        let Some((item, next)) = element(bytes, at)? else {
            return Ok(None);
        };
        at = next;
        match (i, item) {
            (_, Element::Array(_)) => return Err(Malformed),
            (0, Element::Bulk(text)) => kind = Some(text),
            (2, Element::Bulk(text)) => third = Some(text),
            _ => {}
        }
    }
    let reply = match (kind, third) {
        (Some(b"message"), Some(payload)) => Reply::Message(payload),
        (Some(b"subscribe"), _) => Reply::Subscribed,
        _ => Reply::Other,
    };
    Ok(Some((reply, at)))
}

/// One RESP element; an array is only its length (its items follow it).
enum Element<'a> {
    Bulk(&'a [u8]),
    Simple,
    Null,
    Integer(i64),
    Error(&'a [u8]),
    Array(usize),
}

/// The element at `at` and where the next one starts; `None` if not all there yet.
fn element(bytes: &[u8], at: usize) -> Result<Option<(Element<'_>, usize)>, Malformed> {
    // The element's first line ends at the next `\n`, which must follow a `\r`.
    let Some(newline) = memchr::memchr(b'\n', &bytes[at..]).map(|i| at + i) else {
        return Ok(None);
    };
    if newline < at + 2 || bytes[newline - 1] != b'\r' {
        return Err(Malformed);
    }
    let kind = bytes[at];
    let text = &bytes[at + 1..newline - 1];
    let after = newline + 1;
    let element = match kind {
        b'+' => Element::Simple,
        b'-' => Element::Error(text),
        b':' => Element::Integer(integer(text)?),
        b'*' | b'>' => match integer(text)? {
            n if n < 0 => Element::Null,
            n => Element::Array(n as usize),
        },
        b'$' => {
            let len = integer(text)?;
            if len < 0 {
                Element::Null
            } else {
                // The string, then its own `\r\n`.
                let len = len as usize;
                if bytes.len() < after + len + 2 {
                    return Ok(None);
                }
                if &bytes[after + len..after + len + 2] != b"\r\n" {
                    return Err(Malformed);
                }
                return Ok(Some((
                    Element::Bulk(&bytes[after..after + len]),
                    after + len + 2,
                )));
            }
        }
        _ => return Err(Malformed),
    };
    Ok(Some((element, after)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&["PUBLISH", "bench", "~B 0 1 2"], &mut out);
        assert_eq!(
            out,
            b"*3\r\n$7\r\nPUBLISH\r\n$5\r\nbench\r\n$8\r\n~B 0 1 2\r\n"
        );
    }

    #[test]
    fn replies_are_read_in_place_and_only_when_complete() {
        let stream = b"*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n\
                       *3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$8\r\n~B 0 1 2\r\n\
                       :100\r\n-ERR wrong\r\n+OK\r\n";
        let mut at = 0;
        let mut replies = Vec::new();
        while let Some((reply, used)) = parse(&stream[at..]).unwrap() {
            replies.push(reply);
            at += used;
        }
        assert_eq!(at, stream.len());
        assert_eq!(
            replies,
            [
                Reply::Subscribed,
                Reply::Message(b"~B 0 1 2"),
                Reply::Integer(100),
                Reply::Error(b"ERR wrong"),
                Reply::Other
            ]
        );
        // Every cut short of the end of the first reply is incomplete, not malformed.
        for cut in 0..34 {
            assert_eq!(parse(&stream[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(parse(b"hello\r\n"), Err(Malformed));
        assert_eq!(parse(b"$3\r\nabcd\r\n"), Err(Malformed));
    }
}
