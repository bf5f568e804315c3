//! How the console client shows lines: server lines by class, in colour on a terminal.
//!
//! The marker that starts every server line (docs/protocol.md) says what it is, so colouring needs no
//! state: chat, actions, notices, private messages and errors each get their own look, and the user's
//! own name stands out wherever it appears. A line of a room other than the current one starts with the
//! room's name (`#dev <bea> hi`): the name is shown in blue, the rest as a line of its class. Colour is
//! used only when standard output is a terminal and `NO_COLOR` is not set (<https://no-color.org>).

use super::session::Place;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";

/// Whether to colour, decided once at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    /// Colour when `stdout_is_terminal` and `NO_COLOR` is unset or empty.
    pub fn detect(stdout_is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: stdout_is_terminal && !no_color,
        }
    }

    /// A server line as it should appear. `me` is the user's current name, if known.
    pub fn server_line(&self, line: &str, me: Option<&str>) -> String {
        if !self.colour {
            return line.to_string();
        }
        match line.split_once(' ') {
            Some((room, rest)) if room.len() > 1 && room.starts_with('#') => {
                format!("{BOLD}{BLUE}{room}{RESET} {}", class_line(rest, me))
            }
            _ => class_line(line, me),
        }
    }

    /// A message of the client's own (connection lost, retrying...).
    pub fn note(&self, text: &str) -> String {
        if self.colour {
            format!("{DIM}-- {text}{RESET}")
        } else {
            format!("-- {text}")
        }
    }
}

/// The input line's prompt: the current room (`#dev> `), `(no room)> ` after leaving every room, or
/// the user's name while the room is not known (just joined, or a server without rooms). Plain text:
/// the editor counts its width.
pub fn prompt(name: Option<&str>, place: Place<'_>) -> String {
    match place {
        Place::Room(room) => format!("{room}> "),
        Place::Nowhere => "(no room)> ".to_string(),
        Place::Unknown => format!("{}> ", name.unwrap_or("")),
    }
}

/// A line of one of the classes of docs/protocol.md, coloured by its class.
fn class_line(line: &str, me: Option<&str>) -> String {
    let (colour, body) = if line.starts_with("! ") {
        (RED, line)
    } else if line.starts_with("***") {
        (CYAN, line)
    } else if line.starts_with("* ") {
        (MAGENTA, line)
    } else if line.starts_with('[') {
        (YELLOW, line)
    } else if let Some(end) = line.strip_prefix('<').and_then(|rest| rest.find("> ")) {
        // `<name>` in bold, the text plain.
        let (name, text) = line.split_at(end + 2);
        return format!("{BOLD}{name}{RESET}{}", highlight(text, me, ""));
    } else {
        ("", line)
    };
    format!("{colour}{}{RESET}", highlight(body, me, colour))
}

/// `text` with every occurrence of `me` in bold green, going back to `colour` after each.
fn highlight(text: &str, me: Option<&str>, colour: &str) -> String {
    match me {
        Some(me) if !me.is_empty() && text.contains(me) => {
            text.replace(me, &format!("{BOLD}{GREEN}{me}{RESET}{colour}"))
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_colour_lines_are_unchanged() {
        let plain = Style { colour: false };
        assert_eq!(
            plain.server_line("<ana> hi bea", Some("bea")),
            "<ana> hi bea"
        );
        assert_eq!(plain.note("connection lost"), "-- connection lost");
    }

    #[test]
    fn each_class_has_its_colour_and_my_name_stands_out() {
        let style = Style { colour: true };
        assert_eq!(style.server_line("! no", None), format!("{RED}! no{RESET}"));
        assert_eq!(
            style.server_line("*** x joined", None),
            format!("{CYAN}*** x joined{RESET}")
        );
        assert_eq!(
            style.server_line("* ana waves", None),
            format!("{MAGENTA}* ana waves{RESET}")
        );
        assert_eq!(
            style.server_line("<ana> hi bea", Some("bea")),
            format!("{BOLD}<ana>{RESET} hi {BOLD}{GREEN}bea{RESET}")
        );
    }

    #[test]
    fn a_line_of_another_room_has_its_room_in_blue_and_the_rest_by_class() {
        let style = Style { colour: true };
        assert_eq!(
            style.server_line("#dev <ana> hi bea", Some("bea")),
            format!("{BOLD}{BLUE}#dev{RESET} {BOLD}<ana>{RESET} hi {BOLD}{GREEN}bea{RESET}")
        );
        assert_eq!(
            style.server_line("#dev *** carl joined", None),
            format!("{BOLD}{BLUE}#dev{RESET} {CYAN}*** carl joined{RESET}")
        );
        assert_eq!(
            style.server_line("#dev * bea waves", None),
            format!("{BOLD}{BLUE}#dev{RESET} {MAGENTA}* bea waves{RESET}")
        );
        let plain = Style { colour: false };
        assert_eq!(plain.server_line("#dev <ana> hi", None), "#dev <ana> hi");
    }

    #[test]
    fn the_prompt_shows_the_room() {
        assert_eq!(prompt(Some("ana"), Place::Room("#dev")), "#dev> ");
        assert_eq!(prompt(Some("ana"), Place::Nowhere), "(no room)> ");
        assert_eq!(prompt(Some("ana"), Place::Unknown), "ana> ");
        assert_eq!(prompt(None, Place::Unknown), "> ");
    }
}
