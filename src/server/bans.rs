//! `--ban-file`: the bans the chat holds, read at start-up and written out whenever they change
//! ([`Delivery::BansChanged`](crate::chat::Delivery)). The format and the atomic write are in
//! `ban_list.rs`; this is only where the loop meets the file. A write is a few hundred bytes and an
//! fsync, done in the loop: it happens only when an operator bans or unbans someone.

use std::io;
use std::path::Path;
use std::time::Instant;

use log::{info, warn};

use super::Server;
use crate::ban_list::{self, BanList};
use crate::chat::Chat;
use crate::config;

/// Reads the bans of `--ban-file` into `chat`. No file yet is no bans; a file that cannot be read is
/// a usage error; a malformed line is logged and skipped.
pub(super) fn load(chat: &mut Chat, path: Option<&Path>) -> io::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let text = ban_list::read(path)
        .map_err(|e| config::usage(format!("--ban-file {}: {e}", path.display())))?;
    let (bans, errors) = BanList::from_file(&text, Instant::now(), ban_list::unix_now());
    for error in errors {
        warn!("--ban-file {}: skipped {error}", path.display());
    }
    let count = bans.list(Instant::now()).len();
    if count > 0 {
        info!("{count} bans read from {}", path.display());
    }
    chat.load_bans(bans);
    Ok(())
}

impl Server {
    /// The bans changed: write them out, if they are kept.
    pub(super) fn save_bans(&mut self) {
        let Some(path) = &self.config.ban_file else {
            return;
        };
        let text = self
            .chat
            .bans()
            .to_file(Instant::now(), ban_list::unix_now());
        if let Err(e) = ban_list::write_atomically(path, &text) {
            warn!("cannot write the bans to {}: {e}", path.display());
        }
    }
}
