//! IRC messages, sans IO: one line of the IRC client protocol parsed into its parts, and messages
//! formatted back into lines that can never smuggle in a second line.
//!
//! The grammar is the one of the modern IRC client protocol documents (modern.ircdocs.horse):
//!
//! ```text
//! message  ::= ['@' tags SPACE] [':' source SPACE] command params
//! params   ::= *( SPACE middle ) [ SPACE ':' trailing ]
//! ```
//!
//! where SPACE is one or more spaces, a command is letters or a three-digit numeric, a middle
//! parameter is a word that does not start with `:`, and the trailing parameter is the rest of the
//! line, spaces included. A line from a client ends in `\r\n` or a bare `\n`; the edge's
//! `LineReader` finds the ends, and [`parse`] takes one line with or without them.
//!
//! **Limits.** The part after the tags is at most [`MAX_BODY`] bytes (512 with the `\r\n`); the tags
//! a client may send are at most [`MAX_CLIENT_TAGS`] bytes with their `@` and space (the
//! message-tags specification). A line over either limit is refused whole, with
//! [`ParseError::TooLong`] or [`ParseError::TagsTooLong`], for which the edge replies
//! `417 ERR_INPUTTOOLONG` and goes on. It is not truncated: a cut `PRIVMSG` would relay words the
//! user did not send as if whole, a cut `JOIN #a,#bcd` would join `#b`, and the tags specification
//! forbids truncating tags outright. Real clients split long input into lines that fit (they must,
//! since the server adds a source to what it relays), so the error reaches only broken clients,
//! and tells them. pollchat does the same for its line protocol (`! line too long ...`).
//!
//! The limits count the bytes of the line as the edge decoded it (invalid UTF-8 becomes U+FFFD,
//! three bytes), the same rule as `--max-line` for the line protocol: they hold for what is
//! relayed.
//!
//! **Never a panic.** Every byte sequence a peer can send parses to a message or an error; a
//! randomized test below feeds the parser arbitrary bytes. Nothing is allocated by parsing: a
//! [`Message`] borrows the line, with its (at most 15) parameters in a fixed array; tag values are
//! unescaped only when asked for.
//!
//! **The writer** ([`Outgoing`]) formats a message and refuses (never escapes, never truncates)
//! any part that would break the line: CR, LF and NUL anywhere, a space in a word, a middle
//! parameter starting with `:`, a message over 512 bytes. A user's text reaches it already cleaned
//! of control characters (`text::clean`), so a refusal means a bug upstream, and refusing loudly is
//! what keeps one user's text from ever being read as a second IRC line. Long text is split
//! beforehand, at character boundaries, with [`split_text`] and a budget from [`text_budget`].

use std::borrow::Cow;
use std::fmt;

/// The most bytes of a line after its tags, without the `\r\n` (512 with it).
pub const MAX_BODY: usize = 510;
/// The most bytes of the tags a client may send, with the leading `@` and the space after them:
/// 4094 bytes of tag data (message-tags specification).
pub const MAX_CLIENT_TAGS: usize = 4096;
/// The most bytes of tag data a server may add to a message (without `@` and the space).
pub const MAX_SERVER_TAG_DATA: usize = 4094;
/// The most parameters a message has. A fifteenth parameter takes the rest of the line, spaces
/// included, whether or not it starts with `:` (RFC 1459 and 2812, which every client follows).
pub const MAX_PARAMS: usize = 15;

/// One parsed message, borrowing the line it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The tag data, without the `@` and the space; `None` when the line has no tags.
    tag_data: Option<&'a str>,
    /// The source (formerly prefix), without its `:`. Clients must not send one; servers ignore it.
    pub source: Option<&'a str>,
    /// The command as sent: letters in any case, or three digits. Compare with [`Message::is`].
    pub command: &'a str,
    params: [&'a str; MAX_PARAMS],
    count: u8,
}

/// Why a line is not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// Nothing but spaces, or tags and a source with no command: ignored without a reply (the
    /// modern documents: "servers SHOULD ignore empty lines").
    Empty,
    /// Over [`MAX_BODY`] bytes after the tags: answered with 417 `ERR_INPUTTOOLONG`.
    TooLong,
    /// Tags over [`MAX_CLIENT_TAGS`] bytes: answered with 417 `ERR_INPUTTOOLONG`.
    TagsTooLong,
    /// The command is neither letters nor three digits (the word as sent): answered with 421
    /// `ERR_UNKNOWNCOMMAND`, like any command the server does not know.
    BadCommand(&'a str),
}

/// Parses one line from a client. A trailing `\r\n`, `\n` or `\r` is ignored; a CR or NUL inside
/// the line is kept as an ordinary byte (text is cleaned later, and a nick holding one is refused).
pub fn parse(line: &str) -> Result<Message<'_>, ParseError<'_>> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);

    let (tag_data, body) = match line.strip_prefix('@') {
        Some(tagged) => {
            let (tags, body) = tagged.split_once(' ').unwrap_or((tagged, ""));
            // `@`, the data and one space.
            if tags.len() + 2 > MAX_CLIENT_TAGS {
                return Err(ParseError::TagsTooLong);
            }
            (Some(tags), body.trim_start_matches(' '))
        }
        None => (None, line),
    };
    if body.len() > MAX_BODY {
        return Err(ParseError::TooLong);
    }
    let mut rest = body.trim_start_matches(' ');
    let mut source = None;
    if let Some(tail) = rest.strip_prefix(':') {
        let (word, after) = next_word(tail);
        source = Some(word);
        rest = after;
    }
    let (command, mut rest) = next_word(rest.trim_start_matches(' '));
    if command.is_empty() {
        return Err(ParseError::Empty);
    }
    if !is_command(command) {
        return Err(ParseError::BadCommand(command));
    }
    let mut message = Message {
        tag_data,
        source,
        command,
        params: [""; MAX_PARAMS],
        count: 0,
    };
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        let last = usize::from(message.count) == MAX_PARAMS - 1;
        if let Some(trailing) = rest.strip_prefix(':') {
            message.push(trailing);
            break;
        }
        if last {
            message.push(rest);
            break;
        }
        let (word, after) = next_word(rest);
        message.push(word);
        rest = after;
    }
    Ok(message)
}

/// The word at the start of `text` (up to a space) and what follows it.
fn next_word(text: &str) -> (&str, &str) {
    match text.split_once(' ') {
        Some((word, rest)) => (word, rest),
        None => (text, ""),
    }
}

/// A command is one or more ASCII letters, or exactly three ASCII digits.
fn is_command(word: &str) -> bool {
    let bytes = word.as_bytes();
    (!bytes.is_empty() && bytes.iter().all(u8::is_ascii_alphabetic))
        || (bytes.len() == 3 && bytes.iter().all(u8::is_ascii_digit))
}

impl<'a> Message<'a> {
    fn push(&mut self, param: &'a str) {
        // `parse` stops at MAX_PARAMS; the check keeps this total anyway.
        if let Some(slot) = self.params.get_mut(usize::from(self.count)) {
            *slot = param;
            self.count += 1;
        }
    }

    /// Whether the command is `name`, without regard to ASCII case (`privmsg` is `PRIVMSG`).
    pub fn is(&self, name: &str) -> bool {
        self.command.eq_ignore_ascii_case(name)
    }

    /// The parameters, the trailing one included (without its `:`), in order.
    pub fn params(&self) -> &[&'a str] {
        &self.params[..usize::from(self.count)]
    }

    /// Parameter `i`, if there is one.
    pub fn param(&self, i: usize) -> Option<&'a str> {
        self.params().get(i).copied()
    }

    /// The message's tags, in order, empty ones skipped. Values are unescaped when read
    /// ([`Tag::value`]); a line with no tags has none.
    pub fn tags(&self) -> impl Iterator<Item = Tag<'a>> + 'a {
        self.tag_data
            .unwrap_or("")
            .split(';')
            .filter(|tag| !tag.is_empty())
            .map(|tag| match tag.split_once('=') {
                Some((key, escaped)) => Tag { key, escaped },
                None => Tag {
                    key: tag,
                    escaped: "",
                },
            })
    }
}

/// One tag of a message: `key` or `key=value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    /// As sent, with its client-only `+` and vendor prefix if any.
    pub key: &'a str,
    /// The value still escaped; empty for a tag without one (the two mean the same).
    escaped: &'a str,
}

impl<'a> Tag<'a> {
    /// The value, unescaped by the message-tags rules: `\:` is `;`, `\s` a space, `\\` a
    /// backslash, `\r` CR and `\n` LF; a backslash before any other character is dropped, and so is
    /// one at the very end. Borrowed when there is nothing to unescape.
    pub fn value(&self) -> Cow<'a, str> {
        if !self.escaped.contains('\\') {
            return Cow::Borrowed(self.escaped);
        }
        let mut value = String::with_capacity(self.escaped.len());
        let mut chars = self.escaped.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            match chars.next() {
                Some(':') => value.push(';'),
                Some('s') => value.push(' '),
                Some('r') => value.push('\r'),
                Some('n') => value.push('\n'),
                Some(other) => value.push(other), // `\\` included
                None => {}
            }
        }
        Cow::Owned(value)
    }
}

/// Why a message was not written. Every case is a bug in the caller, never the user's doing: words
/// (sources, commands, targets) are names pollchat validated, and text was cleaned of controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// A part holds CR, LF or NUL: written, it would end the line early and start another.
    LineBreak,
    /// A source, command, tag key or middle parameter is empty, holds a space, or (a middle
    /// parameter) starts with `:`.
    NotAWord,
    /// More than [`MAX_PARAMS`] parameters.
    TooManyParams,
    /// Over [`MAX_BODY`] bytes after the tags, or over [`MAX_SERVER_TAG_DATA`] of tags: split the
    /// text first ([`split_text`]).
    TooLong,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteError::LineBreak => "a part holds CR, LF or NUL",
            WriteError::NotAWord => "a word is empty, holds a space or starts with ':'",
            WriteError::TooManyParams => "more than 15 parameters",
            WriteError::TooLong => "the message is over 512 bytes",
        })
    }
}

/// A message to send, to be formatted by [`Outgoing::write`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Outgoing<'a> {
    /// `(key, value)` pairs; values are escaped on the way out, an empty value writes the key alone.
    pub tags: &'a [(&'a str, &'a str)],
    /// Who it is from: the server's name, or `nick!user@host`.
    pub source: Option<&'a str>,
    pub command: &'a str,
    /// The last one is written as a trailing parameter (`:text`) when it must be: when it is empty,
    /// holds a space or starts with `:`.
    pub params: &'a [&'a str],
}

impl Outgoing<'_> {
    /// A message from `source` with `params`, without tags.
    pub fn new<'a>(
        source: Option<&'a str>,
        command: &'a str,
        params: &'a [&'a str],
    ) -> Outgoing<'a> {
        Outgoing {
            tags: &[],
            source,
            command,
            params,
        }
    }

    /// Appends the message to `out`, without a line terminator (the edge frames it, `\r\n`). On an
    /// error `out` is left as it was.
    pub fn write(&self, out: &mut String) -> Result<(), WriteError> {
        self.write_as(out, Last::AsNeeded)
    }

    /// As [`Outgoing::write`], but the last parameter is always a trailing one (`:text`), even when a
    /// single word. The modern documents say it makes no difference, but HexChat drops the first
    /// character of some replies' last parameter without looking (303's names, 322's topic).
    pub fn write_trailing(&self, out: &mut String) -> Result<(), WriteError> {
        self.write_as(out, Last::Trailing)
    }

    fn write_as(&self, out: &mut String, last: Last) -> Result<(), WriteError> {
        let start = out.len();
        let written = self.write_unchecked(out, last).and_then(|body_start| {
            let body = out.len() - body_start;
            let tags = body_start - start;
            if body > MAX_BODY || tags > MAX_SERVER_TAG_DATA + 2 {
                Err(WriteError::TooLong)
            } else {
                Ok(())
            }
        });
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    /// The message as a new line (see [`Outgoing::write`]).
    pub fn to_line(&self) -> Result<String, WriteError> {
        let mut line = String::new();
        self.write(&mut line)?;
        Ok(line)
    }

    /// Writes everything but the length checks; returns where the body (after the tags) starts.
    fn write_unchecked(&self, out: &mut String, trailing: Last) -> Result<usize, WriteError> {
        if !self.tags.is_empty() {
            out.push('@');
            for (i, (key, value)) in self.tags.iter().enumerate() {
                check_word(key)?;
                if key.contains([';', '=']) {
                    return Err(WriteError::NotAWord);
                }
                if i > 0 {
                    out.push(';');
                }
                out.push_str(key);
                if !value.is_empty() {
                    out.push('=');
                    escape_tag_value(value, out)?;
                }
            }
            out.push(' ');
        }
        let body_start = out.len();
        if let Some(source) = self.source {
            check_word(source)?;
            out.push(':');
            out.push_str(source);
            out.push(' ');
        }
        check_word(self.command)?;
        out.push_str(self.command);
        if self.params.len() > MAX_PARAMS {
            return Err(WriteError::TooManyParams);
        }
        let Some((last, middle)) = self.params.split_last() else {
            return Ok(body_start);
        };
        for param in middle {
            check_middle(param)?;
            out.push(' ');
            out.push_str(param);
        }
        if has_line_break(last) {
            return Err(WriteError::LineBreak);
        }
        out.push(' ');
        let needed = last.is_empty() || last.contains(' ') || last.starts_with(':');
        if needed || trailing == Last::Trailing {
            out.push(':');
        }
        out.push_str(last);
        Ok(body_start)
    }
}

/// How [`Outgoing`] writes its last parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// As a trailing parameter only when it must be (empty, a space, a leading `:`).
    AsNeeded,
    /// Always as a trailing parameter.
    Trailing,
}

fn has_line_break(text: &str) -> bool {
    text.contains(['\r', '\n', '\0'])
}

/// A source, command or tag key: not empty, no space, no line break.
fn check_word(word: &str) -> Result<(), WriteError> {
    if has_line_break(word) {
        Err(WriteError::LineBreak)
    } else if word.is_empty() || word.contains(' ') {
        Err(WriteError::NotAWord)
    } else {
        Ok(())
    }
}

/// A parameter before the last: a word that does not start with `:`.
fn check_middle(param: &str) -> Result<(), WriteError> {
    check_word(param)?;
    if param.starts_with(':') {
        return Err(WriteError::NotAWord);
    }
    Ok(())
}

/// Whether `param` can be sent as a parameter other than the last, and echoed back to a client as
/// such (a nick or channel it sent, in an error reply).
pub fn is_middle(param: &str) -> bool {
    check_middle(param).is_ok()
}

/// Escapes a tag value by the message-tags rules. NUL has no escape: refused.
fn escape_tag_value(value: &str, out: &mut String) -> Result<(), WriteError> {
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\0' => return Err(WriteError::LineBreak),
            c => out.push(c),
        }
    }
    Ok(())
}

/// How many bytes of text fit in the trailing parameter of `:source COMMAND target :text`, within
/// [`MAX_BODY`]. Zero if even the rest does not fit.
pub fn text_budget(source: &str, command: &str, target: &str) -> usize {
    // ':' source ' ' command ' ' target ' ' ':'
    let overhead = source.len() + command.len() + target.len() + 5;
    MAX_BODY.saturating_sub(overhead)
}

/// Splits `text` into pieces of at most `budget` bytes, in order, cutting only between characters
/// and, where there is one in the second half of a piece, just after a space (the space stays at the
/// end of its piece, so no byte is lost). Each piece has at least one character, even if that one
/// alone is over the budget: the caller's budget is hundreds of bytes, and progress is guaranteed.
/// Empty text gives no pieces.
pub fn split_text(text: &str, budget: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = if rest.len() <= budget {
            rest.len()
        } else {
            let mut cut = budget;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            match rest[..cut].rfind(' ') {
                Some(space) if space + 1 > cut / 2 => space + 1,
                _ if cut == 0 => rest.chars().next().map_or(rest.len(), char::len_utf8),
                _ => cut,
            }
        };
        let (piece, after) = rest.split_at(end);
        rest = after;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(line: &str) -> Vec<&str> {
        parse(line).expect(line).params().to_vec()
    }

    #[test]
    fn the_parts_of_a_message() {
        let m = parse("@id=234AB;rose :dan!d@localhost PRIVMSG #chan :Hey what's up!\r\n").unwrap();
        assert_eq!(m.source, Some("dan!d@localhost"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params(), ["#chan", "Hey what's up!"]);
        let tags: Vec<_> = m.tags().map(|t| (t.key, t.value().into_owned())).collect();
        assert_eq!(tags, [("id", "234AB".to_string()), ("rose", String::new())]);
        let m = parse("NICK ana").unwrap();
        assert_eq!((m.source, m.command), (None, "NICK"));
        assert!(m.is("nick") && m.is("NICK") && !m.is("NICKS"));
        assert_eq!(m.param(0), Some("ana"));
        assert_eq!(m.param(1), None);
        assert_eq!(parse("001 ana :hi").unwrap().command, "001");
    }

    #[test]
    fn parameters_follow_the_modern_examples() {
        assert_eq!(params(":irc.example.com CAP * LIST :"), ["*", "LIST", ""]);
        assert_eq!(
            params("CAP * LS :multi-prefix sasl"),
            ["*", "LS", "multi-prefix sasl"]
        );
        assert_eq!(
            params("CAP REQ :sasl message-tags foo"),
            ["REQ", "sasl message-tags foo"]
        );
        assert_eq!(
            params(":dan!d@localhost PRIVMSG #chan Hey!"),
            ["#chan", "Hey!"]
        );
        assert_eq!(
            params(":dan!d@localhost PRIVMSG #chan ::-)"),
            ["#chan", ":-)"]
        );
        assert_eq!(params("PRIVMSG #chan :a: b :c"), ["#chan", "a: b :c"]);
        assert_eq!(params("PING"), Vec::<&str>::new());
    }

    #[test]
    fn runs_of_spaces_separate_like_one_and_trailing_spaces_are_kept() {
        assert_eq!(params("  PRIVMSG   #a    b  "), ["#a", "b"]);
        assert_eq!(
            params("PRIVMSG #a :  two  spaces  "),
            ["#a", "  two  spaces  "]
        );
        assert_eq!(params("@a=b   :src   JOIN   #x"), ["#x"]);
    }

    #[test]
    fn line_endings_crlf_lf_or_none() {
        for line in ["PING x\r\n", "PING x\n", "PING x\r", "PING x"] {
            assert_eq!(params(line), ["x"], "{line:?}");
        }
        // A CR inside the line is an ordinary byte; cleaning text or checking a nick deals with it.
        assert_eq!(params("PING a\rb"), ["a\rb"]);
    }

    #[test]
    fn the_fifteenth_parameter_takes_the_rest() {
        let line = "CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 :17";
        let p = params(line);
        assert_eq!(p.len(), MAX_PARAMS);
        assert_eq!(p[13], "14");
        assert_eq!(p[14], "15 16 :17");
        assert_eq!(
            params("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 :15 x")[14],
            "15 x"
        );
    }

    #[test]
    fn empty_lines_and_lines_without_a_command_are_empty() {
        for line in [
            "",
            "\r\n",
            "   ",
            "@a=b",
            "@a=b ",
            ":source",
            ":source   ",
            "@t :s",
        ] {
            assert_eq!(parse(line), Err(ParseError::Empty), "{line:?}");
        }
    }

    #[test]
    fn a_command_is_letters_or_three_digits() {
        assert_eq!(parse("PR1VMSG x"), Err(ParseError::BadCommand("PR1VMSG")));
        assert_eq!(parse("12 x"), Err(ParseError::BadCommand("12")));
        assert_eq!(parse("1234"), Err(ParseError::BadCommand("1234")));
        assert_eq!(parse(":a :b c"), Err(ParseError::BadCommand(":b")));
        assert_eq!(parse("ÑICK x"), Err(ParseError::BadCommand("ÑICK")));
        assert!(parse("privmsg #a b").is_ok());
    }

    #[test]
    fn the_limits_are_512_bytes_and_4096_of_tags() {
        let fits = format!("PRIVMSG #a :{}", "x".repeat(MAX_BODY - 12));
        assert_eq!(fits.len(), MAX_BODY);
        assert!(parse(&fits).is_ok());
        assert!(
            parse(&format!("{fits}\r\n")).is_ok(),
            "the terminator is not counted"
        );
        assert_eq!(parse(&format!("{fits}x")), Err(ParseError::TooLong));
        // Leading spaces count: they are bytes of the line.
        assert_eq!(parse(&format!(" {fits}")), Err(ParseError::TooLong));

        let tags = format!("@a={}", "v".repeat(MAX_CLIENT_TAGS - 4));
        assert_eq!(tags.len() + 1, MAX_CLIENT_TAGS);
        assert!(
            parse(&format!("{tags} {fits}")).is_ok(),
            "tags do not eat the body's bytes"
        );
        assert_eq!(
            parse(&format!("{tags}v PING x")),
            Err(ParseError::TagsTooLong)
        );
        assert_eq!(parse(&format!("{tags}vvvv")), Err(ParseError::TagsTooLong));
    }

    #[test]
    fn tag_values_are_unescaped_when_read() {
        let m = parse(r"@a=x\:y\sz\\w\r\n;b=\q\;c=end\;+vendor.example/k=v PING").unwrap();
        let tags: Vec<_> = m.tags().map(|t| (t.key, t.value().into_owned())).collect();
        assert_eq!(
            tags,
            [
                ("a", "x;y z\\w\r\n".to_string()),
                ("b", "q".to_string()),
                ("c", "end".to_string()),
                ("+vendor.example/k", "v".to_string()),
            ]
        );
        let m = parse("@;;a=;; PING").unwrap();
        let keys: Vec<_> = m.tags().map(|t| t.key).collect();
        assert_eq!(keys, ["a"]);
        assert!(matches!(
            m.tags().next().unwrap().value(),
            Cow::Borrowed("")
        ));
        assert_eq!(parse("PING").unwrap().tags().count(), 0);
    }

    #[test]
    fn the_writer_uses_a_trailing_parameter_only_when_needed() {
        let line = |source, command, params: &[&str]| {
            Outgoing::new(source, command, params).to_line().unwrap()
        };
        assert_eq!(
            line(Some("irc.pollchat"), "PONG", &["irc.pollchat", "x"]),
            ":irc.pollchat PONG irc.pollchat x"
        );
        assert_eq!(
            line(None, "PRIVMSG", &["#a", "hi there"]),
            "PRIVMSG #a :hi there"
        );
        assert_eq!(line(None, "PRIVMSG", &["#a", ":)"]), "PRIVMSG #a ::)");
        assert_eq!(line(None, "CAP", &["*", "LS", ""]), "CAP * LS :");
        assert_eq!(line(None, "QUIT", &[]), "QUIT");
        // What is written parses back to the same parts.
        let written = line(
            Some("ana!ana@pollchat"),
            "PRIVMSG",
            &["#dev", " :odd:  text "],
        );
        let m = parse(&written).unwrap();
        assert_eq!(
            (m.source, m.params()),
            (Some("ana!ana@pollchat"), &["#dev", " :odd:  text "][..])
        );
    }

    #[test]
    fn the_writer_can_always_make_the_last_parameter_trailing() {
        let trailing = |params: &[&str]| {
            let mut out = String::new();
            Outgoing::new(Some("irc.pollchat"), "303", params)
                .write_trailing(&mut out)
                .map(|()| out)
        };
        assert_eq!(
            trailing(&["ana", "bob"]).unwrap(),
            ":irc.pollchat 303 ana :bob"
        );
        assert_eq!(trailing(&["ana", ""]).unwrap(), ":irc.pollchat 303 ana :");
        // The same refusals as ever.
        assert_eq!(trailing(&["ana", "a\rb"]), Err(WriteError::LineBreak));
        let long = "x".repeat(MAX_BODY);
        assert_eq!(trailing(&["ana", &long]), Err(WriteError::TooLong));
    }

    #[test]
    fn the_writer_refuses_anything_that_would_start_a_second_line() {
        let mut out = String::from("kept");
        for text in ["hi\r\nQUIT", "hi\nQUIT", "hi\rQUIT", "nul\0"] {
            let as_text = ["#a", text];
            let m = Outgoing::new(None, "PRIVMSG", &as_text);
            assert_eq!(m.write(&mut out), Err(WriteError::LineBreak), "{text:?}");
            let m = Outgoing::new(Some(text), "PRIVMSG", &["#a", "x"]);
            assert_eq!(m.write(&mut out), Err(WriteError::LineBreak));
            let as_target = [text, "x"];
            let m = Outgoing::new(None, "PRIVMSG", &as_target);
            assert_eq!(m.write(&mut out), Err(WriteError::LineBreak));
        }
        let words: [(Option<&str>, &str, &[&str]); 5] = [
            (Some("a b"), "X", &[]),
            (Some(""), "X", &[]),
            (None, "", &[]),
            (None, "X", &["a b", "c"]),
            (None, "X", &[":a", "c"]),
        ];
        for (source, command, params) in words {
            let m = Outgoing::new(source, command, params);
            assert_eq!(m.write(&mut out), Err(WriteError::NotAWord), "{m:?}");
        }
        let sixteen = ["p"; 16];
        assert_eq!(
            Outgoing::new(None, "X", &sixteen).write(&mut out),
            Err(WriteError::TooManyParams)
        );
        let long = "x".repeat(MAX_BODY);
        assert_eq!(
            Outgoing::new(None, "X", &[&long]).write(&mut out),
            Err(WriteError::TooLong)
        );
        assert_eq!(out, "kept", "a refused message writes nothing");
    }

    #[test]
    fn tags_are_escaped_on_the_way_out() {
        let tags = [
            ("time", "2025-01-02T03:04:05.000Z"),
            ("x", "a;b c\\d\r\n"),
            ("flag", ""),
        ];
        let m = Outgoing {
            tags: &tags,
            ..Outgoing::new(Some("s"), "PING", &["t"])
        };
        let line = m.to_line().unwrap();
        assert_eq!(
            line,
            r"@time=2025-01-02T03:04:05.000Z;x=a\:b\sc\\d\r\n;flag :s PING t"
        );
        let parsed = parse(&line).unwrap();
        let back: Vec<_> = parsed
            .tags()
            .map(|t| (t.key, t.value().into_owned()))
            .collect();
        assert_eq!(back[1], ("x", "a;b c\\d\r\n".to_string()));
        let bad = [("k", "nul\0")];
        let m = Outgoing { tags: &bad, ..m };
        assert_eq!(m.to_line(), Err(WriteError::LineBreak));
        let bad = [("k=v", "")];
        let m = Outgoing { tags: &bad, ..m };
        assert_eq!(m.to_line(), Err(WriteError::NotAWord));
    }

    #[test]
    fn long_text_is_split_between_characters_preferring_spaces() {
        let pieces: Vec<_> = split_text("hello brave new world", 12).collect();
        assert_eq!(pieces, ["hello brave ", "new world"]);
        let pieces: Vec<_> = split_text("ññññ", 3).collect();
        assert_eq!(pieces, ["ñ", "ñ", "ñ", "ñ"]);
        let pieces: Vec<_> = split_text("a verylongwordwithoutspaces", 10).collect();
        assert_eq!(pieces.concat(), "a verylongwordwithoutspaces");
        assert!(pieces.iter().all(|p| p.len() <= 10));
        assert_eq!(
            pieces[0], "a verylong",
            "a space in the first half does not shorten the cut"
        );
        // A budget under one character still makes progress.
        let pieces: Vec<_> = split_text("😀x", 2).collect();
        assert_eq!(pieces, ["😀", "x"]);
        assert_eq!(split_text("", 10).count(), 0);
        assert_eq!(
            text_budget("ana!ana@pollchat", "PRIVMSG", "#dev"),
            MAX_BODY - 32
        );
        // Every piece of a budgeted split makes a message the writer takes.
        let text = "ü ".repeat(400);
        let budget = text_budget("ana!ana@pollchat", "PRIVMSG", "#dev");
        for piece in split_text(&text, budget) {
            let params = ["#dev", piece];
            let m = Outgoing::new(Some("ana!ana@pollchat"), "PRIVMSG", &params);
            assert!(m.to_line().is_ok());
        }
    }

    /// Arbitrary bytes, decoded as the edge decodes them, never panic the parser; whatever parses
    /// holds only what the grammar allows, and is within the limits.
    #[test]
    fn arbitrary_input_never_panics() {
        let mut rng = fastrand::Rng::with_seed(0x1c_2025);
        let alphabet = b"@:; =\\\r\n\0 #aZ09+/.,!\xff\xc3\xa9";
        for round in 0..20_000 {
            let len = rng.usize(0..if round % 10 == 0 { 5000 } else { 80 });
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.u8(0..4) {
                    0 => rng.u8(..),
                    _ => alphabet[rng.usize(0..alphabet.len())],
                })
                .collect();
            let line = String::from_utf8_lossy(&bytes);
            let Ok(message) = parse(&line) else { continue };
            assert!(is_command(message.command));
            assert!(message.params().len() <= MAX_PARAMS);
            for tag in message.tags() {
                let _ = tag.value();
            }
            // Every parameter but the last is a word that does not start with ':'.
            let middle = message.params().split_last().map_or(&[][..], |(_, m)| m);
            for param in middle {
                assert!(!param.contains(' ') && !param.starts_with(':'), "{param:?}");
            }
            // Writing it back either works or refuses; it never writes a line break.
            let params = message.params();
            if let Ok(written) = Outgoing::new(None, message.command, params).to_line() {
                assert!(!written.contains(['\r', '\n', '\0']));
            }
        }
    }
}
