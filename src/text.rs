//! Text hygiene: what may be relayed from one user to another, and what makes a valid name.
//!
//! Everything a user types ends up on other people's terminals. A terminal obeys escape sequences, so
//! a relayed `ESC [ 2 J` would clear every screen in the room, and an OSC sequence could set window
//! titles or write to the clipboard. Bidirectional overrides (U+202E) can make `gnp.exe` read as
//! `exe.png`. This module removes all of that from a line before the chat core looks at it.
//!
//! The functions here work on `&str`: turning arbitrary bytes into text (lossily) is the job of the
//! edge that received them, which is the only place that knows where a line ends.

use std::borrow::Cow;
use std::iter::Peekable;
use std::str::Chars;

/// The longest name, counted in Unicode scalar values (`char`s), not bytes.
pub const MAX_NAME_CHARS: usize = 32;

/// Returns `line` with every escape sequence, control character and bidirectional override or isolate
/// removed, and tabs turned into spaces.
///
/// Whole sequences are removed, not just the `ESC` byte: stripping only `ESC` from `ESC[31m` would
/// leave a stray `[31m` in the text.
pub fn clean(line: &str) -> Cow<'_, str> {
    // Most lines are printable ASCII, with nothing to remove: no copy for them.
    if line.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push(' '),
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI: the same as `ESC [`.
            '\u{9b}' => skip_csi(&mut chars),
            // C1 string introducers: DCS, SOS, OSC, PM, APC. Their bodies run up to a terminator.
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if is_forbidden(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// True for the characters that are never relayed: C0 and C1 controls, DEL, and the bidirectional
/// embeddings, overrides (U+202A..=U+202E) and isolates (U+2066..=U+2069).
fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Skips what follows an `ESC` (ECMA-48): a control sequence, a control string, or a short escape.
fn skip_escape(chars: &mut Peekable<Chars<'_>>) {
    match chars.peek().copied() {
        Some('[') => {
            chars.next();
            skip_csi(chars);
        }
        // OSC, DCS, SOS, PM, APC: a string up to BEL or ST.
        Some(']' | 'P' | 'X' | '^' | '_') => {
            chars.next();
            skip_string(chars);
        }
        // nF escapes: intermediate bytes, then one final byte (e.g. `ESC ( B`).
        Some(' '..='/') => {
            while chars.next_if(|c| matches!(c, ' '..='/')).is_some() {}
            chars.next_if(|c| matches!(c, '0'..='~'));
        }
        // Two-character escapes such as `ESC c` (reset) or `ESC 7`.
        Some('0'..='~') => {
            chars.next();
        }
        // A lone ESC: it alone is dropped.
        _ => {}
    }
}

/// Skips the rest of a control sequence: parameter and intermediate bytes, then the final byte.
/// A sequence cut short by any other character ends there, and that character is kept for the caller.
fn skip_csi(chars: &mut Peekable<Chars<'_>>) {
    while chars.next_if(|c| matches!(c, ' '..='?')).is_some() {}
    chars.next_if(|c| matches!(c, '@'..='~'));
}

/// Skips a control string up to and including its terminator: BEL, `ESC \` or C1 ST (U+009C).
/// An unterminated string runs to the end of the line, which ends it.
fn skip_string(chars: &mut Peekable<Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    BadCharacter(char),
}

/// Checks a name: 1 to [`MAX_NAME_CHARS`] characters, each a letter or digit (any script, by
/// [`char::is_alphanumeric`]) or one of `_`, `-`, `.`.
///
/// Because a name can never contain a space, `<`, `>`, `*`, `[` or `!`, no chat line can pose as a line
/// of another class (see docs/protocol.md).
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(NameError::BadCharacter(c));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// A name's characters, case-folded: two names whose foldings are equal are the same name.
/// Character by character, so that the room's index (which folds on the fly, `room/names.rs`) and
/// the keys in Redis (`name_key`) agree on every name.
///
/// Lower case, and the final sigma `ς` as `σ` (as Unicode case folding does), so that `ΣΊΣΥΦΟΣ` and
/// `Σίσυφος` are one name.
pub fn folded(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
}

/// The folded form of a name, as a key (in Redis, and for the users of other nodes).
pub fn name_key(name: &str) -> Box<str> {
    folded(name).collect::<String>().into_boxed_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_untouched() {
        assert_eq!(clean("hola, ¿qué tal? 👋"), "hola, ¿qué tal? 👋");
    }

    #[test]
    fn tabs_become_spaces() {
        assert_eq!(clean("a\tb"), "a b");
    }

    #[test]
    fn whole_csi_sequences_are_removed() {
        assert_eq!(clean("\u{1b}[31mred\u{1b}[0m"), "red");
        assert_eq!(clean("\u{1b}[2J\u{1b}[1;1Hclear"), "clear");
        assert_eq!(clean("\u{9b}31mred"), "red");
    }

    #[test]
    fn osc_sequences_are_removed_with_either_terminator() {
        assert_eq!(clean("a\u{1b}]0;title\u{7}b"), "ab");
        assert_eq!(clean("a\u{1b}]52;c;ZXZpbA==\u{1b}\\b"), "ab");
        assert_eq!(clean("a\u{9d}8;;http://x\u{9c}b"), "ab");
        assert_eq!(clean("a\u{1b}]0;unterminated"), "a");
    }

    #[test]
    fn short_escapes_and_lone_esc_are_removed() {
        assert_eq!(clean("a\u{1b}cb"), "ab");
        assert_eq!(clean("a\u{1b}(Bb"), "ab");
        assert_eq!(clean("a\u{1b}"), "a");
    }

    #[test]
    fn controls_are_removed() {
        assert_eq!(clean("a\u{0}b\u{7}c\u{8}d\re\u{7f}f\u{85}g"), "abcdefg");
    }

    #[test]
    fn bidi_overrides_and_isolates_are_removed() {
        assert_eq!(clean("gnp\u{202e}.exe"), "gnp.exe");
        assert_eq!(clean("\u{2066}x\u{2069}\u{202a}y\u{202c}"), "xy");
    }

    #[test]
    fn names_follow_the_rules() {
        assert_eq!(check_name("ana"), Ok(()));
        assert_eq!(check_name("José_1.-"), Ok(()));
        assert_eq!(check_name("李"), Ok(()));
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name("a b"), Err(NameError::BadCharacter(' ')));
        assert_eq!(check_name("<ana>"), Err(NameError::BadCharacter('<')));
        assert_eq!(check_name(&"ñ".repeat(32)), Ok(()));
        assert_eq!(check_name(&"ñ".repeat(33)), Err(NameError::TooLong));
    }

    #[test]
    fn name_keys_ignore_case() {
        assert_eq!(name_key("Ana"), name_key("aNA"));
        assert_eq!(name_key("ÉLODIE"), name_key("élodie"));
    }
}
