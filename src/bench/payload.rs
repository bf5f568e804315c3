//! The benchmark's payload, `~B SENDER SEQ SENT_NS RUN xxxx…`: written by a sender, and found again
//! inside whatever line the server delivers, wherever the server's prefix leaves it (`<b3> ~B 3 17 …`,
//! ncat's `<user5> ~B …`, a Redis bulk string). Writing and finding it allocate nothing.
//!
//! `RUN` is a random number per run: a line from an earlier run, which a server may replay (pollchat
//! shows newcomers its recent history), is not taken for one of this run's.

/// The marker that starts a payload.
pub const MARK: &[u8] = b"~B ";

/// What a payload carries: who sent it, its place in that sender's sequence, when it left (in
/// nanoseconds since the generator started), and which run it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sender: usize,
    pub seq: u64,
    pub sent_ns: u64,
    pub run: u64,
}

/// Replaces `out` with the payload for `stamp`, padded with `x` to `size` bytes (a stamp longer than
/// that is not cut). `out` keeps its capacity, so a reused buffer is never reallocated.
pub fn write(stamp: Stamp, size: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(MARK);
    push_number(stamp.sender as u64, out);
    out.push(b' ');
    push_number(stamp.seq, out);
    out.push(b' ');
    push_number(stamp.sent_ns, out);
    out.push(b' ');
    push_number(stamp.run, out);
    out.push(b' ');
    if out.len() < size {
        out.resize(size, b'x');
    }
}

/// Appends `n` in decimal (what `write!` does, without its formatting machinery).
fn push_number(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The stamp of run `run`'s first payload in `line`, if any. The scan looks for the marker's first
/// byte (`memchr`, many bytes at a time) and checks the rest only there.
pub fn find(line: &[u8], run: u64) -> Option<Stamp> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(MARK[0], &line[from..]) {
        let at = from + i;
        if let Some(stamp) = line[at..].strip_prefix(MARK).and_then(parse)
            && stamp.run == run
        {
            return Some(stamp);
        }
        from = at + 1;
    }
    None
}

/// `SENDER SEQ SENT_NS RUN` followed by a space or the end.
fn parse(bytes: &[u8]) -> Option<Stamp> {
    let (sender, rest) = number(bytes)?;
    let (seq, rest) = number(rest.strip_prefix(b" ")?)?;
    let (sent_ns, rest) = number(rest.strip_prefix(b" ")?)?;
    let (run, rest) = number(rest.strip_prefix(b" ")?)?;
    (rest.is_empty() || rest[0] == b' ').then_some(Stamp {
        sender: usize::try_from(sender).ok()?,
        seq,
        sent_ns,
        run,
    })
}

/// A decimal number at the start of `bytes` (1 to 19 digits, so that it fits a `u64` without a check
/// per digit), and what follows it. One pass: this runs for every delivery.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    const MAX_DIGITS: usize = 19;
    let mut value: u64 = 0;
    let mut len = 0;
    for &byte in bytes.iter().take(MAX_DIGITS) {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = value * 10 + u64::from(digit);
        len += 1;
    }
    let too_long = bytes.get(len).is_some_and(u8::is_ascii_digit);
    (len > 0 && !too_long).then(|| (value, &bytes[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: u64 = 4_242;
    const STAMP: Stamp = Stamp {
        sender: 3,
        seq: 17,
        sent_ns: 123_456,
        run: RUN,
    };

    #[test]
    fn a_payload_is_padded_to_its_size() {
        let mut out = Vec::new();
        write(STAMP, 40, &mut out);
        assert_eq!(out.len(), 40);
        assert!(out.starts_with(b"~B 3 17 123456 4242 xxx"));
        write(STAMP, 4, &mut out);
        assert_eq!(out, b"~B 3 17 123456 4242 ");
    }

    #[test]
    fn the_stamp_is_found_wherever_the_server_puts_it() {
        let mut payload = Vec::new();
        write(STAMP, 64, &mut payload);
        for prefix in [&b""[..], b"<b1> ", b"<user5> ~x ", b"~B nonsense "] {
            let line = [prefix, &payload[..]].concat();
            let text = String::from_utf8_lossy(&line);
            assert_eq!(find(&line, RUN), Some(STAMP), "{text}");
        }
        assert_eq!(find(b"~B 3 17 123456 4242", RUN), Some(STAMP));
    }

    #[test]
    fn another_runs_stamp_is_not_found() {
        let mut payload = Vec::new();
        write(STAMP, 64, &mut payload);
        assert_eq!(find(&payload, RUN + 1), None);
        let mut line = payload.clone();
        line.extend_from_slice(b" ~B 1 2 3 4243");
        assert_eq!(find(&line, 4_243).map(|s| s.seq), Some(2));
    }

    #[test]
    fn anything_else_is_no_stamp() {
        for line in [
            &b"*** b1 joined"[..],
            b"~B 3 x 1 4242",
            b"~B 3 17 123456",
            b"~B 3 17 12x 4242",
            b"~B 3 17 99999999999999999999 4242",
        ] {
            assert_eq!(find(line, RUN), None, "{}", String::from_utf8_lossy(line));
        }
        let longest = b"~B 3 17 9999999999999999999 4242";
        assert_eq!(
            find(longest, RUN).map(|s| s.sent_ns),
            Some(9_999_999_999_999_999_999)
        );
    }
}
