//! `LineReader`: turns the bytes of a TCP stream into lines, with a hard limit on line length.
//!
//! TCP delivers a stream, not messages: one `read` may return half a line, or ten lines and a half.
//! The reader keeps the unfinished tail of the stream between reads (and nothing else), hands out each
//! complete line, and refuses to buffer more than `max_line` bytes of one line, so a client that never
//! sends a newline cannot make the server hold more than that for it.
//!
//! The reader can also stop in the middle of what it was fed: when the edge stops taking lines from a
//! connection (flood control, or a wait for the cluster), the lines not yet handed out stay in the
//! reader, in order, until [`LineReader::resume`]. Nothing is dropped, and the socket is not read
//! meanwhile, so this holds at most one read's worth.
//!
//! It also removes Telnet negotiation (`IAC` sequences, RFC 854), so that `telnet host port` works:
//! a Telnet client may open with `IAC DO ...` bytes, and byte 255 (`IAC`) never occurs in UTF-8 text.

use std::ops::ControlFlow;

/// What the reader found in the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A complete line without its `\n` or `\r\n`. Not checked for UTF-8: that is the caller's call.
    Line(&'a [u8]),
    /// A line went past the limit. It is dropped, and so is the rest of it up to the next `\n`.
    TooLong,
}

/// Splits a byte stream into lines. One per connection.
#[derive(Debug)]
pub struct LineReader {
    /// The start of a line whose end has not arrived yet. Empty (no allocation) between lines. After
    /// a stop (`kept`), everything fed and not yet handed out, Telnet commands already removed.
    partial: Vec<u8>,
    /// `u32` (the flag's own limit is 16 MiB): with it the reader is 32 bytes, and every TCP user has
    /// one.
    max_line: u32,
    /// True while dropping the rest of an overlong line.
    discarding: bool,
    /// The caller stopped the reading: `partial` may hold whole lines, to be handed out by `resume`.
    kept: bool,
    telnet: Telnet,
}

/// Where we are in a Telnet command (RFC 854): `IAC` (255) starts one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    Data,
    /// After `IAC`.
    Command,
    /// After `IAC WILL|WONT|DO|DONT`: one option byte follows.
    Option,
    /// Inside `IAC SB ... IAC SE`.
    Subnegotiation,
    /// After `IAC` inside a subnegotiation.
    SubnegotiationCommand,
    /// Not Telnet at all (the IRC face): byte 255 is data, `ÿ` to a Latin-1 client.
    Off,
}

const IAC: u8 = 255;

/// An empty reader with a limit of zero: a placeholder left in a connection while its reader is taken
/// out to be fed (see `Server::received`).
impl Default for LineReader {
    fn default() -> LineReader {
        LineReader::new(0)
    }
}

impl LineReader {
    pub fn new(max_line: usize) -> LineReader {
        LineReader {
            partial: Vec::new(),
            max_line: u32::try_from(max_line).unwrap_or(u32::MAX),
            discarding: false,
            kept: false,
            telnet: Telnet::Data,
        }
    }

    /// A reader that leaves Telnet bytes alone: for a protocol that is not Telnet's (IRC).
    pub fn without_telnet(max_line: usize) -> LineReader {
        LineReader {
            telnet: Telnet::Off,
            ..LineReader::new(max_line)
        }
    }

    /// Feeds bytes just read, calling `each` for every line completed by them, in order. `each` can
    /// stop the reading by returning `Break` (the edge takes no more lines for now): the bytes after
    /// that line are kept, and [`LineReader::resume`] goes on from there.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut each: impl FnMut(Piece<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        // The common case costs one scan: no Telnet command is under way and none starts here.
        if self.telnet == Telnet::Off || (self.telnet == Telnet::Data && !input.contains(&IAC)) {
            return self.split_after_kept(input, &mut each);
        }
        let mut data = Vec::with_capacity(input.len());
        self.strip_telnet(input, &mut data);
        self.split_after_kept(&data, &mut each)
    }

    /// Hands out the lines kept when `each` last stopped the reading, as `feed` would have.
    pub fn resume(
        &mut self,
        mut each: impl FnMut(Piece<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.split_after_kept(&[], &mut each)
    }

    /// Lines (or the start of one) are kept from before a stop: [`LineReader::resume`] has work.
    pub fn has_kept(&self) -> bool {
        self.kept
    }

    /// Drops whatever is kept: the connection is being closed and its input no longer matters.
    pub fn discard(&mut self) {
        self.partial = Vec::new();
        self.kept = false;
    }

    /// Ends the stream (the peer closed its side): an unterminated last line still counts.
    pub fn finish(&mut self, mut each: impl FnMut(Piece<'_>) -> ControlFlow<()>) {
        if self.resume(&mut each).is_break() {
            return;
        }
        if !self.discarding && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            let _ = each(Piece::Line(trim_cr(&line)));
        }
    }

    /// Splits `input`, after whatever was kept from a stop: that comes first, in order.
    fn split_after_kept(
        &mut self,
        input: &[u8],
        each: &mut impl FnMut(Piece<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if !self.kept {
            return self.split(input, each);
        }
        self.kept = false;
        let mut kept = std::mem::take(&mut self.partial);
        kept.extend_from_slice(input);
        self.split(&kept, each)
    }

    fn split(
        &mut self,
        mut input: &[u8],
        each: &mut impl FnMut(Piece<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        while let Some(end) = memchr::memchr(b'\n', input) {
            let (head, rest) = (&input[..end], &input[end + 1..]);
            input = rest;
            if self.discarding {
                self.discarding = false; // This newline ends the overlong line.
                continue;
            }
            let flow = if self.partial.is_empty() {
                self.complete(head, each)
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                self.complete(&line, each)
            };
            if flow.is_break() {
                // Keep the rest, unsplit, for `resume`: it is at most what one read brought.
                if !rest.is_empty() {
                    self.partial = rest.to_vec();
                    self.kept = true;
                }
                return flow;
            }
        }
        if self.discarding || input.is_empty() {
            return ControlFlow::Continue(());
        }
        // Room for one more byte than the limit: a line of exactly `max_line` bytes may be waiting
        // for the `\n` of its `\r\n`.
        if self.partial.len() + input.len() > self.max_line as usize + 1 {
            self.partial = Vec::new();
            self.discarding = true;
            return each(Piece::TooLong);
        }
        self.partial.extend_from_slice(input);
        ControlFlow::Continue(())
    }

    fn complete(
        &self,
        line: &[u8],
        each: &mut impl FnMut(Piece<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let line = trim_cr(line);
        if line.len() > self.max_line as usize {
            each(Piece::TooLong)
        } else {
            each(Piece::Line(line))
        }
    }

    /// Copies `input` to `data` without Telnet commands. The state carries over between reads, since a
    /// command can be split across two of them.
    fn strip_telnet(&mut self, input: &[u8], data: &mut Vec<u8>) {
        for &byte in input {
            self.telnet = match (self.telnet, byte) {
                (Telnet::Data, IAC) => Telnet::Command,
                (Telnet::Data, _) => {
                    data.push(byte);
                    Telnet::Data
                }
                (Telnet::Command, 251..=254) => Telnet::Option, // WILL, WONT, DO, DONT
                (Telnet::Command, 250) => Telnet::Subnegotiation, // SB
                // `IAC IAC` is a data byte 255, which is not text; other commands are two bytes long.
                (Telnet::Command, 240..=249 | IAC) => Telnet::Data,
                // Not a Telnet command at all: a stray 255 in binary junk. Keep the byte after it, which
                // may be the newline that ends this line.
                (Telnet::Command, _) => {
                    data.push(byte);
                    Telnet::Data
                }
                (Telnet::Option, _) => Telnet::Data,
                (Telnet::Subnegotiation, IAC) => Telnet::SubnegotiationCommand,
                (Telnet::Subnegotiation, _) => Telnet::Subnegotiation,
                (Telnet::SubnegotiationCommand, 240) => Telnet::Data, // SE
                (Telnet::SubnegotiationCommand, _) => Telnet::Subnegotiation,
                // Never reached (`feed` does not strip then); every byte is data.
                (Telnet::Off, _) => {
                    data.push(byte);
                    Telnet::Off
                }
            }
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds each chunk in turn and returns what came out, lines as strings.
    fn read(max_line: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut reader = LineReader::new(max_line);
        let mut seen = Vec::new();
        let mut record = |piece: Piece<'_>| {
            seen.push(match piece {
                Piece::Line(line) => String::from_utf8_lossy(line).into_owned(),
                Piece::TooLong => "<too long>".to_string(),
            });
            ControlFlow::Continue(())
        };
        for chunk in chunks {
            let _ = reader.feed(chunk, &mut record);
        }
        reader.finish(&mut record);
        seen
    }

    #[test]
    fn splits_on_lf_and_crlf_across_reads() {
        assert_eq!(read(100, &[b"ab", b"c\r\nde\n", b"f"]), ["abc", "de", "f"]);
        assert_eq!(read(100, &[b"a\r", b"\n\n"]), ["a", ""]);
    }

    #[test]
    fn overlong_lines_are_reported_once_and_skipped() {
        assert_eq!(read(3, &[b"abcd\nok\n"]), ["<too long>", "ok"]);
        assert_eq!(
            read(3, &[b"ab", b"cde", b"fgh", b"\nok\n"]),
            ["<too long>", "ok"]
        );
        assert_eq!(read(3, &[b"abc\r\n"]), ["abc"]);
        assert_eq!(read(3, &[b"abc", b"\r", b"\n"]), ["abc"]);
        assert_eq!(read(3, &[b"abcdef"]), ["<too long>"]);
    }

    #[test]
    fn telnet_commands_are_removed_even_when_split() {
        let will_echo = [IAC, 251, 1];
        let sub = [IAC, 250, 24, 0, b'x', b't', IAC, 240];
        assert_eq!(
            read(100, &[&will_echo, b"ana\n", &sub, b"hi\n"]),
            ["ana", "hi"]
        );
        assert_eq!(
            read(100, &[b"a", &[IAC], &[253], &[3, b'b', b'\n']]),
            ["ab"]
        );
        assert_eq!(read(100, &[&[b'a', IAC, IAC, b'b', b'\n']]), ["ab"]);
    }

    #[test]
    fn a_stray_255_does_not_swallow_the_newline() {
        assert_eq!(read(100, &[&[b'a', IAC, b'\n', b'b', b'\n']]), ["a", "b"]);
    }

    /// Takes one line from the reader (resuming it), or `None` if it has none to give now.
    fn one_line(reader: &mut LineReader) -> Option<String> {
        let mut line = None;
        let _ = reader.resume(|piece| {
            line = Some(match piece {
                Piece::Line(l) => String::from_utf8_lossy(l).into_owned(),
                Piece::TooLong => "<too long>".to_string(),
            });
            ControlFlow::Break(())
        });
        line
    }

    #[test]
    fn stopping_keeps_the_rest_in_order() {
        let mut reader = LineReader::new(5);
        let mut seen = Vec::new();
        let flow = reader.feed(b"one\ntoolong\ntwo\nthr", |piece| {
            seen.push(format!("{piece:?}"));
            ControlFlow::Break(())
        });
        assert_eq!(flow, ControlFlow::Break(()));
        assert_eq!(seen, ["Line([111, 110, 101])"]);
        assert!(reader.has_kept());
        assert_eq!(one_line(&mut reader).as_deref(), Some("<too long>"));
        assert_eq!(one_line(&mut reader).as_deref(), Some("two"));
        // Only the start of a line is left; more input, fed before the reader was resumed, comes
        // after it.
        assert_eq!(one_line(&mut reader), None);
        let mut rest = Vec::new();
        let _ = reader.feed(b"ee\nfour\n", |piece| {
            rest.push(format!("{piece:?}"));
            ControlFlow::Continue(())
        });
        assert_eq!(
            rest,
            [
                "Line([116, 104, 114, 101, 101])",
                "Line([102, 111, 117, 114])"
            ]
        );
        assert!(!reader.has_kept());
    }

    #[test]
    fn kept_lines_count_at_the_end_of_the_stream() {
        let mut reader = LineReader::new(100);
        let _ = reader.feed(b"a\nb\nc", |_| ControlFlow::Break(()));
        let mut seen = Vec::new();
        reader.finish(|piece| {
            seen.push(format!("{piece:?}"));
            ControlFlow::Continue(())
        });
        assert_eq!(seen, ["Line([98])", "Line([99])"]);
    }

    #[test]
    fn discarding_drops_what_was_kept() {
        let mut reader = LineReader::new(100);
        let _ = reader.feed(b"a\nb\n", |_| ControlFlow::Break(()));
        reader.discard();
        assert_eq!(one_line(&mut reader), None);
    }
}
