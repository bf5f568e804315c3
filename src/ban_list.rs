//! `BanList`: addresses an operator has banned (`/ban`), each until a moment, and the `--ban-file`
//! they are kept in across restarts.
//!
//! An address is banned the way `--max-per-ip` counts it (`host_limit.rs`): an IPv4 address alone, an
//! IPv6 address by its /64, since one machine is usually given a whole /64 and can pick any address
//! in it. Loopback is *not* exempt: a ban is an operator's explicit decision (and tests run on
//! loopback). Like the chat core that owns it, the list knows no clock: it is told `now`.
//!
//! The file is plain text, one ban a line: `ADDRESS EXPIRY_UNIX_SECS`, e.g.
//!
//! ```text
//! 192.0.2.7 1767225600
//! 2001:db8:1:2::/64 1767229200
//! ```
//!
//! Blank lines and lines starting with `#` are ignored; a malformed line is reported and skipped.
//! The list keeps `Instant`s; the file keeps Unix seconds, converted with one reading of both clocks
//! at the moment it is read or written. It is written whole on every change, atomically: to
//! `FILE.tmp`, synced, then renamed over `FILE`, so a crash leaves the old file or the new one.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What one ban covers: an IPv4 address, or an IPv6 /64 (its first 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Banned {
    V4(Ipv4Addr),
    V6Net(u64),
}

impl Banned {
    /// The ban that covers `ip` (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(ip: IpAddr) -> Banned {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Banned::V4(v4),
            IpAddr::V6(v6) => Banned::V6Net((u128::from(v6) >> 64) as u64),
        }
    }

    /// An address as an operator or the file writes it: `192.0.2.7`, `2001:db8::5` (its /64), or
    /// `2001:db8::/64`.
    pub fn parse(text: &str) -> Option<Banned> {
        let text = text.trim();
        let bare = text.strip_suffix("/64").unwrap_or(text);
        let bare = bare.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = bare.parse().ok()?;
        if bare.len() != text.len() && !ip.is_ipv6() {
            return None; // `192.0.2.7/64` means nothing.
        }
        Some(Banned::of(ip))
    }
}

impl fmt::Display for Banned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Banned::V4(v4) => write!(f, "{v4}"),
            Banned::V6Net(prefix) => {
                write!(f, "{}/64", Ipv6Addr::from(u128::from(*prefix) << 64))
            }
        }
    }
}

/// The bans in force, each until an `Instant`.
#[derive(Debug, Default, Clone)]
pub struct BanList {
    bans: HashMap<Banned, Instant>,
}

impl BanList {
    /// Bans `who` until `until` (replacing an earlier ban of it).
    pub fn ban(&mut self, who: Banned, until: Instant) {
        self.bans.insert(who, until);
    }

    /// When the ban of `who` runs out, if it is banned.
    pub fn until(&self, who: &Banned) -> Option<Instant> {
        self.bans.get(who).copied()
    }

    /// Lifts the ban of `who`; false if there was none.
    pub fn unban(&mut self, who: Banned) -> bool {
        self.bans.remove(&who).is_some()
    }

    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.bans
            .get(&Banned::of(ip))
            .is_some_and(|&until| now < until)
    }

    /// Forgets the bans that have run out.
    pub fn expire(&mut self, now: Instant) {
        if !self.bans.is_empty() {
            self.bans.retain(|_, until| now < *until);
        }
    }

    /// The bans in force at `now`, sorted by address, each with the time it has left.
    pub fn list(&self, now: Instant) -> Vec<(Banned, Duration)> {
        let mut list: Vec<(Banned, Duration)> = self
            .bans
            .iter()
            .filter(|(_, until)| now < **until)
            .map(|(who, until)| (*who, until.duration_since(now)))
            .collect();
        list.sort();
        list
    }

    /// The file's text for the bans in force; `now` and `unix_now` are the same moment on each clock.
    pub fn to_file(&self, now: Instant, unix_now: u64) -> String {
        let mut text = String::new();
        for (who, left) in self.list(now) {
            text.push_str(&format!("{who} {}\n", unix_now + left.as_secs().max(1)));
        }
        text
    }

    /// Reads a file's text: the bans still in force at `now` (`unix_now` on the Unix clock), and
    /// a description of each malformed line, for the log.
    pub fn from_file(text: &str, now: Instant, unix_now: u64) -> (BanList, Vec<String>) {
        let mut list = BanList::default();
        let mut errors = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line
                .split_once(char::is_whitespace)
                .and_then(|(who, until)| {
                    Some((Banned::parse(who)?, until.trim().parse::<u64>().ok()?))
                });
            match parsed {
                Some((who, until)) if until > unix_now => {
                    list.ban(who, now + Duration::from_secs(until - unix_now));
                }
                Some(_) => {} // Run out while the server was down.
                None => errors.push(format!(
                    "line {}: {line:.80}: want ADDRESS EXPIRY_UNIX_SECS",
                    n + 1
                )),
            }
        }
        (list, errors)
    }
}

/// Seconds since the Unix epoch, now (0 for a clock before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The text of a ban file; an empty one if there is no file yet.
pub fn read(path: &Path) -> io::Result<String> {
    match fs::read_to_string(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        other => other,
    }
}

/// Replaces the file at `path` with `text` atomically: `PATH.tmp` is written and synced, then
/// renamed over `path` (and the directory synced, so the rename itself survives a crash).
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let mut file = fs::File::create(tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv6_is_banned_per_64_ipv4_alone_and_loopback_too() {
        let now = Instant::now();
        let mut bans = BanList::default();
        let hour = now + Duration::from_secs(3600);
        bans.ban(Banned::of(ip("2001:db8:1:2::1")), hour);
        bans.ban(Banned::of(ip("127.0.0.1")), hour);
        assert!(bans.is_banned(ip("2001:db8:1:2:ffff::9"), now));
        assert!(!bans.is_banned(ip("2001:db8:1:3::1"), now));
        assert!(bans.is_banned(ip("127.0.0.1"), now));
        assert!(bans.is_banned(ip("::ffff:127.0.0.1"), now));
        assert!(!bans.is_banned(ip("127.0.0.2"), now));
        assert!(!bans.is_banned(ip("127.0.0.1"), hour));
        bans.expire(hour);
        assert!(bans.list(now).is_empty());
    }

    #[test]
    fn addresses_parse_and_show_as_operators_write_them() {
        let net = Banned::parse("2001:db8:1:2::5").unwrap();
        assert_eq!(net.to_string(), "2001:db8:1:2::/64");
        assert_eq!(Banned::parse("2001:db8:1:2::/64"), Some(net));
        assert_eq!(Banned::parse("[2001:db8:1:2::7]"), Some(net));
        assert_eq!(
            Banned::parse(" 192.0.2.7 ").unwrap().to_string(),
            "192.0.2.7"
        );
        for bad in ["", "ana", "192.0.2.7/64", "192.0.2.300", "2001:db8::/48"] {
            assert_eq!(Banned::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_file_round_trips_skipping_what_ran_out_and_what_is_malformed() {
        let (now, unix) = (Instant::now(), 1_000_000);
        let mut bans = BanList::default();
        bans.ban(
            Banned::parse("192.0.2.7").unwrap(),
            now + Duration::from_secs(60),
        );
        bans.ban(
            Banned::parse("2001:db8::1").unwrap(),
            now + Duration::from_secs(7200),
        );
        let text = bans.to_file(now, unix);
        assert_eq!(text, "192.0.2.7 1000060\n2001:db8::/64 1007200\n");
        let more = format!("{text}# a comment\n\n10.0.0.1 999999\nnonsense\n10.0.0.2 soon\n");
        let (read, errors) = BanList::from_file(&more, now, unix);
        assert_eq!(read.list(now), bans.list(now));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("line 6: nonsense"), "{errors:?}");
    }

    #[test]
    fn writing_is_atomic_and_a_missing_file_is_empty() {
        let dir = std::env::temp_dir().join(format!("pollchat-bans-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bans");
        let _ = fs::remove_file(&path);
        assert_eq!(read(&path).unwrap(), "");
        write_atomically(&path, "192.0.2.7 5\n").unwrap();
        write_atomically(&path, "192.0.2.8 6\n").unwrap();
        assert_eq!(read(&path).unwrap(), "192.0.2.8 6\n");
        assert!(!dir.join("bans.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
