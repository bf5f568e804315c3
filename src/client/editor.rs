//! `Editor`: the console client's one-line editor, fed the raw bytes of a terminal in raw mode.
//!
//! In raw mode the terminal hands over every key as bytes and does no editing of its own, so the
//! client can print a line that arrives from the server *above* the line being typed and redraw the
//! half-typed text intact below it. This file turns key bytes into edits and draws the line; it does no
//! I/O itself.
//!
//! Keys: printable text (any UTF-8), Backspace, Delete, Left/Right (also Ctrl+B/Ctrl+F), Home/End
//! (also Ctrl+A/Ctrl+E), Ctrl+U (delete to the start), Ctrl+K (delete to the end), Ctrl+W (delete a
//! word), Enter, Ctrl+C, and Ctrl+D (end of input on an empty line).

use unicode_width::UnicodeWidthChar;

/// What a key did, beyond editing the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Enter: this line is done.
    Submit(String),
    /// Ctrl+C.
    Interrupt,
    /// Ctrl+D on an empty line.
    EndOfInput,
}

/// Where we are in a multi-byte key: an escape sequence (arrows...) or a UTF-8 character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// After `ESC [`: parameters until a final byte.
    Csi,
    /// After `ESC O`: one more byte.
    Ss3,
}

/// The line being typed.
#[derive(Debug, Default)]
pub struct Editor {
    text: Vec<char>,
    /// Where the next character goes: an index into `text`.
    cursor: usize,
    /// The first character shown, when the line is wider than the terminal.
    scroll: usize,
    /// An unfinished UTF-8 character.
    utf8: Vec<u8>,
    escape: Option<Escape>,
    /// The parameter bytes of a CSI sequence (`3` in `ESC [ 3 ~`).
    params: Vec<u8>,
}

impl Editor {
    pub fn new() -> Editor {
        Editor::default()
    }

    pub fn text(&self) -> String {
        self.text.iter().collect()
    }

    /// Feeds key bytes; edits the line and returns what else happened, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Edit> {
        let mut edits = Vec::new();
        for &byte in bytes {
            match self.escape.unwrap_or(Escape::None) {
                Escape::None => self.key(byte, &mut edits),
                Escape::Start => {
                    self.escape = match byte {
                        b'[' => Some(Escape::Csi),
                        b'O' => Some(Escape::Ss3),
                        _ => None, // Alt+key and the like: ignored.
                    };
                    self.params.clear();
                }
                Escape::Csi => match byte {
                    0x20..=0x3f => self.params.push(byte), // Parameters and intermediates.
                    _ => {
                        self.escape = None;
                        self.csi(byte);
                    }
                },
                Escape::Ss3 => {
                    self.escape = None;
                    self.csi(byte);
                }
            }
        }
        edits
    }

    fn key(&mut self, byte: u8, edits: &mut Vec<Edit>) {
        match byte {
            0x1b => self.escape = Some(Escape::Start),
            b'\r' | b'\n' => {
                let line = self.text();
                self.clear();
                edits.push(Edit::Submit(line));
            }
            0x03 => edits.push(Edit::Interrupt),
            0x04 if self.text.is_empty() => edits.push(Edit::EndOfInput),
            0x04 => self.delete(),
            0x7f | 0x08 => self.backspace(),
            0x01 => self.cursor = 0,
            0x05 => self.cursor = self.text.len(),
            0x02 => self.cursor = self.cursor.saturating_sub(1),
            0x06 => self.cursor = (self.cursor + 1).min(self.text.len()),
            0x15 => {
                self.text.drain(..self.cursor);
                self.cursor = 0;
            }
            0x0b => self.text.truncate(self.cursor),
            0x17 => self.delete_word(),
            b'\t' => self.insert(' '),
            0x00..=0x1f => {}
            _ => self.utf8_byte(byte),
        }
    }

    /// The final byte of an escape sequence, with `self.params` holding its parameters.
    fn csi(&mut self, last: u8) {
        match (last, self.params.as_slice()) {
            (b'C', _) => self.cursor = (self.cursor + 1).min(self.text.len()),
            (b'D', _) => self.cursor = self.cursor.saturating_sub(1),
            (b'H', _) | (b'~', b"1" | b"7") => self.cursor = 0,
            (b'F', _) | (b'~', b"4" | b"8") => self.cursor = self.text.len(),
            (b'~', b"3") => self.delete(),
            _ => {} // Up, Down, function keys...: nothing to do.
        }
    }

    fn utf8_byte(&mut self, byte: u8) {
        self.utf8.push(byte);
        match std::str::from_utf8(&self.utf8) {
            Ok(s) => {
                let chars: Vec<char> = s.chars().collect();
                self.utf8.clear();
                chars.into_iter().for_each(|c| self.insert(c));
            }
            // An incomplete character: wait for its other bytes.
            Err(e) if e.error_len().is_none() && self.utf8.len() < 4 => {}
            Err(_) => self.utf8.clear(),
        }
    }

    fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += 1;
    }

    fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.text.remove(self.cursor);
        }
    }

    fn delete(&mut self) {
        if self.cursor < self.text.len() {
            self.text.remove(self.cursor);
        }
    }

    fn delete_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.text[start - 1] == ' ' {
            start -= 1;
        }
        while start > 0 && self.text[start - 1] != ' ' {
            start -= 1;
        }
        self.text.drain(start..self.cursor);
        self.cursor = start;
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.scroll = 0;
    }

    /// The part of the line that fits in `cols` columns after `prompt`, and the column of the cursor.
    /// A line wider than the terminal scrolls sideways so the cursor is always in view.
    pub fn view(&mut self, prompt: &str, cols: usize) -> (String, usize) {
        let prompt_width: usize = prompt.chars().map(width).sum();
        let room = cols.saturating_sub(prompt_width + 1).max(1);
        self.scroll = self.scroll.min(self.cursor);
        while self.text[self.scroll..self.cursor]
            .iter()
            .copied()
            .map(width)
            .sum::<usize>()
            > room
        {
            self.scroll += 1;
        }
        let mut shown = String::from(prompt);
        let mut used = 0;
        for &c in &self.text[self.scroll..] {
            if used + width(c) > room {
                break;
            }
            used += width(c);
            shown.push(c);
        }
        let cursor: usize = self.text[self.scroll..self.cursor]
            .iter()
            .copied()
            .map(width)
            .sum();
        (shown, prompt_width + cursor)
    }
}

fn width(c: char) -> usize {
    c.width().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(keys: &[u8]) -> (Editor, Vec<Edit>) {
        let mut editor = Editor::new();
        let edits = editor.feed(keys);
        (editor, edits)
    }

    #[test]
    fn typing_and_enter() {
        let (editor, edits) = typed(b"hello\r");
        assert_eq!(edits, [Edit::Submit("hello".into())]);
        assert_eq!(editor.text(), "");
    }

    #[test]
    fn utf8_split_across_reads() {
        let mut editor = Editor::new();
        let bytes = "añ€😀".as_bytes();
        for b in bytes {
            editor.feed(&[*b]);
        }
        assert_eq!(editor.text(), "añ€😀");
    }

    #[test]
    fn backspace_arrows_and_insertion() {
        // "helo", left, insert "l", end, backspace, "o!"
        let (editor, _) = typed(b"helo\x1b[Dl\x1b[F\x7fo!");
        assert_eq!(editor.text(), "hello!");
        let (editor, _) = typed("ñandú\x7f\x7fu".as_bytes());
        assert_eq!(editor.text(), "ñanu");
    }

    #[test]
    fn home_delete_and_kill_keys() {
        let (editor, _) = typed(b"world\x1b[Hhello \x1bOF");
        assert_eq!(editor.text(), "hello world");
        let (editor, _) = typed(b"abc\x01\x1b[3~");
        assert_eq!(editor.text(), "bc");
        let (editor, _) = typed(b"one two\x1b[D\x1b[D\x15");
        assert_eq!(editor.text(), "wo");
        let (editor, _) = typed(b"one two three\x17");
        assert_eq!(editor.text(), "one two ");
        let (editor, _) = typed(b"abc\x01\x06\x0b");
        assert_eq!(editor.text(), "a");
    }

    #[test]
    fn ctrl_c_and_ctrl_d() {
        assert_eq!(typed(b"x\x03").1, [Edit::Interrupt]);
        assert_eq!(typed(b"\x04").1, [Edit::EndOfInput]);
        let (editor, edits) = typed(b"ab\x01\x04");
        assert!(edits.is_empty());
        assert_eq!(editor.text(), "b");
    }

    #[test]
    fn a_paste_with_newlines_is_several_lines() {
        let (_, edits) = typed(b"one\ntwo\r");
        assert_eq!(
            edits,
            [Edit::Submit("one".into()), Edit::Submit("two".into())]
        );
    }

    #[test]
    fn unknown_sequences_and_controls_are_ignored() {
        let (editor, _) = typed(b"a\x1b[A\x1b[15~\x07\x1bxb");
        assert_eq!(editor.text(), "ab");
    }

    #[test]
    fn a_long_line_scrolls_to_keep_the_cursor_in_view() {
        let (mut editor, _) = typed(b"0123456789abcdefghij");
        let (shown, col) = editor.view("> ", 12);
        assert_eq!((shown.as_str(), col), ("> bcdefghij", 11));
        editor.feed(b"\x01");
        let (shown, col) = editor.view("> ", 12);
        assert_eq!((shown.as_str(), col), ("> 012345678", 2));
    }

    #[test]
    fn wide_characters_count_two_columns() {
        let (mut editor, _) = typed("日本語".as_bytes());
        let (shown, col) = editor.view("> ", 40);
        assert_eq!((shown.as_str(), col), ("> 日本語", 8));
    }
}
