//! RESP, the Redis protocol, as the cluster edge needs it: commands written as arrays of bulk
//! strings, and replies parsed from a byte buffer without any I/O.
//!
//! Why not a crate: the whole of what a node sends is `*N` arrays of `$LEN` bulk strings, and what it
//! reads is the five RESP2 reply types (plus RESP3's `>` push, read as an array). That is the 120
//! lines below, over the same plain `Vec<u8>` buffers as every client connection, with a hard limit on
//! how deep and how long a reply may be. A codec crate (`redis-protocol`) would bring `bytes` and its
//! own buffer type for the same work.
//!
//! The parser is incremental in the simplest way: [`parse`] looks at the start of the buffer and
//! either returns one whole reply and how many bytes it took, or `None` if the reply is not all there
//! yet; the caller keeps the bytes and tries again when more arrive.

/// A reply from Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`: the command failed; the text says why.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3 abc`, binary safe.
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`: no value (a missing key, a `SET NX` that did not set).
    Nil,
    /// `*N` followed by N values (also RESP3's `>N` push, how some servers send pub/sub messages).
    Array(Vec<Value>),
}

impl Value {
    /// The value as text, if it is a bulk or simple string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Bulk(bytes) => std::str::from_utf8(bytes).ok(),
            Value::Simple(text) => Some(text),
            _ => None,
        }
    }

    /// The value as an integer, if it is one (or a string holding one, as Lua scripts return).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => self.as_str()?.parse().ok(),
        }
    }
}

/// Bytes that are not RESP, or a reply over the limits: the connection cannot be trusted further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed;

/// The deepest nesting accepted. Our scripts return at most two levels.
const MAX_DEPTH: usize = 4;
/// The most elements in one array, and the longest bulk string: bounds what one reply can make us
/// allocate before its bytes have even arrived (an array's vector grows only as its items do arrive,
/// and the link bounds the bytes it holds). Every name in a cluster is two items of `HGETALL`.
const MAX_ITEMS: usize = 1 << 26;
const MAX_BULK: usize = 64 << 20;

/// Appends `args` as one command: `*N\r\n` then each argument as `$LEN\r\nARG\r\n`.
pub fn command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    header(b'*', args.len(), out);
    for arg in args {
        let arg = arg.as_ref();
        header(b'$', arg.len(), out);
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn header(kind: u8, len: usize, out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The reply at the start of `bytes` and how many bytes it takes; `None` if it is not complete yet.
pub fn parse(bytes: &[u8]) -> Result<Option<(Value, usize)>, Malformed> {
    value(bytes, 0, 0)
}

fn value(bytes: &[u8], at: usize, depth: usize) -> Result<Option<(Value, usize)>, Malformed> {
    let Some((kind, text, after)) = first_line(bytes, at)? else {
        return Ok(None);
    };
    let text_str = || std::str::from_utf8(text).map_err(|_| Malformed);
    let value = match kind {
        b'+' => Value::Simple(text_str()?.to_string()),
        b'-' => Value::Error(text_str()?.to_string()),
        b':' => Value::Integer(integer(text)?),
        b'$' => {
            let len = integer(text)?;
            if len < 0 {
                return Ok(Some((Value::Nil, after)));
            }
            let len = len as usize;
            if len > MAX_BULK {
                return Err(Malformed);
            }
            if bytes.len() < after + len + 2 {
                return Ok(None);
            }
            if &bytes[after + len..after + len + 2] != b"\r\n" {
                return Err(Malformed);
            }
            let bulk = bytes[after..after + len].to_vec();
            return Ok(Some((Value::Bulk(bulk), after + len + 2)));
        }
        b'*' | b'>' => {
            let len = integer(text)?;
            if len < 0 {
                return Ok(Some((Value::Nil, after)));
            }
            if len as usize > MAX_ITEMS || depth >= MAX_DEPTH {
                return Err(Malformed);
            }
            let mut items = Vec::with_capacity((len as usize).min(1024));
            let mut at = after;
            for _ in 0..len {
                let Some((item, next)) = value(bytes, at, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                at = next;
            }
            return Ok(Some((Value::Array(items), at)));
        }
        b'_' => Value::Nil, // RESP3 null
        _ => return Err(Malformed),
    };
    Ok(Some((value, after)))
}

/// An element's first line: its type byte, the rest of the line, and where what follows starts.
type FirstLine<'a> = (u8, &'a [u8], usize);

/// The first line of the element at `at`; `None` if not all there yet.
fn first_line(bytes: &[u8], at: usize) -> Result<Option<FirstLine<'_>>, Malformed> {
    let rest = bytes.get(at..).unwrap_or(&[]);
    let Some(newline) = memchr::memchr(b'\n', rest) else {
        // A line of a reply is short (a number, an error message): a long one without its end is
        // not RESP.
        return if rest.len() > 64 * 1024 {
            Err(Malformed)
        } else {
            Ok(None)
        };
    };
    if newline < 1 || rest[newline - 1] != b'\r' {
        return Err(Malformed);
    }
    Ok(Some((rest[0], &rest[1..newline - 1], at + newline + 1)))
}

/// A RESP integer (`:12`, an array's or a bulk string's length).
pub(crate) fn integer(text: &[u8]) -> Result<i64, Malformed> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or(Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8]) -> (Value, usize) {
        parse(bytes).unwrap().unwrap()
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&["SET", "k", "välue"], &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\nv\xc3\xa4lue\r\n");
    }

    #[test]
    fn every_reply_type_is_read() {
        assert_eq!(parsed(b"+OK\r\n"), (Value::Simple("OK".into()), 5));
        assert_eq!(parsed(b"-ERR no\r\n").0, Value::Error("ERR no".into()));
        assert_eq!(parsed(b":-7\r\n").0, Value::Integer(-7));
        assert_eq!(parsed(b"$-1\r\n").0, Value::Nil);
        assert_eq!(parsed(b"*-1\r\n").0, Value::Nil);
        assert_eq!(parsed(b"$0\r\n\r\n").0, Value::Bulk(vec![]));
        let (nested, used) = parsed(b"*2\r\n:1\r\n*1\r\n$2\r\nab\r\n+extra");
        assert_eq!(
            nested,
            Value::Array(vec![
                Value::Integer(1),
                Value::Array(vec![Value::Bulk(b"ab".to_vec())])
            ])
        );
        assert_eq!(used, 20);
    }

    #[test]
    fn a_reply_cut_anywhere_is_incomplete_not_wrong() {
        let whole = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhe\r\nl\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(parsed(whole).1, whole.len());
    }

    #[test]
    fn garbage_and_excess_are_malformed() {
        assert_eq!(parse(b"hello\r\n"), Err(Malformed));
        assert_eq!(parse(b":12\n"), Err(Malformed));
        assert_eq!(parse(b":x\r\n"), Err(Malformed));
        assert_eq!(parse(b"$3\r\nabcd\r\n"), Err(Malformed));
        assert_eq!(parse(b"$99999999999\r\n"), Err(Malformed));
        assert_eq!(
            parse(b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"),
            Err(Malformed)
        );
        assert_eq!(parse(&[b'+'; 70_000]), Err(Malformed));
    }

    #[test]
    fn numbers_in_strings_are_read_as_numbers() {
        assert_eq!(Value::Bulk(b"12".to_vec()).as_int(), Some(12));
        assert_eq!(Value::Integer(3).as_int(), Some(3));
        assert_eq!(Value::Nil.as_int(), None);
    }
}
