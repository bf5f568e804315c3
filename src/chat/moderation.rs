//! Moderators: `/oper`, `/kick`, `/ban`, `/unban`, `/bans`. Still plain data in, plain data out.
//!
//! - An **operator** is a connection that gave the password of `--oper-password-file` with
//!   `/oper PASSWORD`. It stays one until it goes (a rename keeps it); `/list` marks it `@ana`. A
//!   wrong password is answered, logged with the peer's address, and makes every `/oper` from that
//!   address in the next [`OPER_RETRY`] refused without being checked, so guessing is slow. The
//!   password is compared in constant time (both sides hashed, the digests compared whole).
//! - **`/kick NAME [REASON]`**: the user is told why and closed; each of its rooms hears
//!   `*** ana was removed by teacher (REASON)` instead of the ordinary leave line. An operator may
//!   remove anyone, other operators included, but itself.
//! - **`/ban NAME|ADDRESS [MINUTES]`** bans the address (IPv6 per /64, loopback too: see
//!   `ban_list.rs`) and, given a name, removes that user. Others already connected from the address
//!   stay; new connections from it get `! you are banned` and are closed before the name prompt. The
//!   chat learns each connection's address from [`super::Event::ConnectFrom`].
//! - In a cluster, kicks and bans go to the other nodes as [`ModAction`]s: a kick of a user of
//!   another node is carried out by that node; a ban is applied by every node.
//!
//! Time is the chat's clock (the last [`super::Event::Tick`] or connect), as for everything else.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use log::{info, warn};
use ring::digest::{SHA256, digest};

use super::{Chat, ClientId, Delivery, Leaving, Notice, OperAnswer, Request, to};
use crate::ban_list::{BanList, Banned};
use crate::protocol;
use crate::text::name_key;

/// After a wrong `/oper` password, how long every `/oper` from the same address is refused.
pub const OPER_RETRY: Duration = Duration::from_secs(2);
/// `/ban` without a number of minutes: an hour.
pub const BAN_MINUTES_DEFAULT: u64 = 60;
/// The longest ban: about ten years.
pub const BAN_MINUTES_MAX: u64 = 10 * 365 * 24 * 60;

/// A kick or a ban, for the other nodes of a cluster (in [`Request::Moderation`]) or from one (in
/// [`super::Remote::Moderation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModAction {
    /// Remove `name`, a user of another node, on behalf of operator `by`. `ban_minutes` > 0: ban its
    /// address too (the node that has the user knows it), and tell every node.
    Kick {
        name: String,
        by: String,
        reason: String,
        ban_minutes: u64,
    },
    Ban {
        banned: Banned,
        until: Instant,
    },
    Unban {
        banned: Banned,
    },
}

/// What the chat knows for moderation.
#[derive(Default)]
pub(super) struct Moderation {
    /// The SHA-256 of the operator password; `None`: this server has no operators.
    password: Option<[u8; 32]>,
    operators: HashSet<ClientId>,
    /// The peer address of each connection, by id (overwritten when an id is reused), if the edge
    /// said it. A vector, like the chat's clients: ids are small and dense.
    addrs: Vec<Option<IpAddr>>,
    /// When the last wrong password came from each address.
    failures: HashMap<Option<Banned>, Instant>,
    pub(super) bans: BanList,
}

impl Moderation {
    /// Room for the addresses of ids below `ids`, reserved once like the chat's clients.
    pub(super) fn new(ids: usize) -> Moderation {
        Moderation {
            addrs: Vec::with_capacity(ids),
            ..Moderation::default()
        }
    }

    fn addr(&self, id: ClientId) -> Option<IpAddr> {
        self.addrs.get(id).copied().flatten()
    }

    pub(super) fn is_operator(&self, id: ClientId) -> bool {
        !self.operators.is_empty() && self.operators.contains(&id)
    }

    /// A new connection with this id (perhaps a reused one): no operator, and its address.
    pub(super) fn connected(&mut self, id: ClientId, addr: Option<IpAddr>) {
        self.operators.remove(&id);
        if addr.is_some() && id >= self.addrs.len() {
            self.addrs.resize(id + 1, None);
        }
        if let Some(slot) = self.addrs.get_mut(id) {
            *slot = addr;
        }
    }

    pub(super) fn left(&mut self, id: ClientId) {
        self.operators.remove(&id);
    }

    pub(super) fn tick(&mut self, now: Instant) {
        if !self.failures.is_empty() {
            self.failures.retain(|_, at| now < *at + OPER_RETRY);
        }
        self.bans.expire(now);
    }
}

/// Compares two secrets in constant time: their SHA-256 digests are compared whole, so neither
/// where they differ nor (beyond a hash) their lengths shows in the time taken.
fn same_secret(digest_a: &[u8; 32], b: &str) -> bool {
    let digest_b = digest(&SHA256, b.as_bytes());
    let diff = digest_a
        .iter()
        .zip(digest_b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0
}

/// `/ban`'s arguments: the name or address, and the minutes.
fn ban_args(rest: &str) -> Option<(&str, u64)> {
    let mut words = rest.split_whitespace();
    let target = words.next()?;
    let minutes = match words.next() {
        None => BAN_MINUTES_DEFAULT,
        Some(n) => n
            .parse()
            .ok()
            .filter(|m| (1..=BAN_MINUTES_MAX).contains(m))?,
    };
    words.next().is_none().then_some((target, minutes))
}

impl Chat {
    /// The password of `--oper-password-file`; `None` (the default): no operators.
    pub fn set_oper_password(&mut self, password: Option<&str>) {
        self.moderation.password = password.map(|p| {
            let mut d = [0; 32];
            d.copy_from_slice(digest(&SHA256, p.as_bytes()).as_ref());
            d
        });
    }

    /// The bans in force (to write `--ban-file` after a [`Delivery::BansChanged`]).
    pub fn bans(&self) -> &BanList {
        &self.moderation.bans
    }

    /// Bans read from `--ban-file` at start-up.
    pub fn load_bans(&mut self, bans: BanList) {
        self.moderation.bans = bans;
    }

    /// Whether connection `id` is an operator.
    pub fn is_operator(&self, id: ClientId) -> bool {
        self.moderation.is_operator(id)
    }

    /// A moderation command from joined user `id`, called `name`; false if `command` is none.
    pub(super) fn moderate(
        &mut self,
        id: ClientId,
        name: &str,
        command: &str,
        rest: &str,
        out: &mut Vec<Delivery>,
    ) -> bool {
        match command {
            "oper" => self.oper(id, name, rest, out),
            "kick" | "ban" | "unban" | "bans" if !self.moderation.is_operator(id) => {
                let command = match command {
                    "kick" => "kick",
                    "ban" => "ban",
                    "unban" => "unban",
                    _ => "bans",
                };
                to(out, id, Notice::Oper(OperAnswer::OperatorsOnly { command }))
            }
            "kick" => self.kick(id, name, rest, out),
            "ban" => self.ban(id, name, rest, out),
            "unban" => self.unban(id, name, rest, out),
            "bans" => self.list_bans(id, out),
            _ => return false,
        }
        true
    }

    fn oper(&mut self, id: ClientId, name: &str, password: &str, out: &mut Vec<Delivery>) {
        let Some(digest) = &self.moderation.password else {
            return to(out, id, Notice::Oper(OperAnswer::NoOperators));
        };
        if password.is_empty() {
            return to(out, id, protocol::usage("/oper PASSWORD"));
        }
        let addr = self.moderation.addr(id);
        let from = addr.map(Banned::of);
        let now = self.clock;
        if let Some(&at) = self.moderation.failures.get(&from)
            && now < at + OPER_RETRY
        {
            let secs = OPER_RETRY.as_secs();
            return to(out, id, Notice::Oper(OperAnswer::TooSoon { secs }));
        }
        if !same_secret(digest, password) {
            self.moderation.failures.insert(from, now);
            let addr = addr.map_or("an unknown address".to_string(), |a| a.to_string());
            warn!("#{id} {name} from {addr}: wrong /oper password");
            return to(out, id, Notice::Oper(OperAnswer::WrongPassword));
        }
        self.moderation.operators.insert(id);
        info!("#{id} {name} is now an operator");
        to(out, id, Notice::Oper(OperAnswer::Granted));
    }

    fn kick(&mut self, id: ClientId, by: &str, rest: &str, out: &mut Vec<Delivery>) {
        let (target, reason) = match rest.split_once(char::is_whitespace) {
            Some((target, reason)) => (target, reason.trim()),
            None => (rest, ""),
        };
        if target.is_empty() {
            return to(out, id, protocol::usage("/kick NAME [REASON]"));
        }
        match self.local_user(target) {
            Some(target_id) if target_id == id => to(out, id, protocol::CANNOT_REMOVE_YOURSELF),
            Some(target_id) => self.remove(target_id, Some(id), by, reason, out),
            None if self.is_remote_user(target) => self.ask_remote_kick(target, by, reason, 0, out),
            None => to(out, id, protocol::no_such_user(target)),
        }
    }

    fn ban(&mut self, id: ClientId, by: &str, rest: &str, out: &mut Vec<Delivery>) {
        let Some((target, minutes)) = ban_args(rest) else {
            return to(out, id, protocol::usage("/ban NAME|ADDRESS [MINUTES]"));
        };
        let until = self.clock + Duration::from_secs(minutes * 60);
        match self.local_user(target) {
            Some(target_id) if target_id == id => to(out, id, protocol::CANNOT_REMOVE_YOURSELF),
            Some(target_id) => {
                if let Some(addr) = self.moderation.addr(target_id) {
                    let banned = Banned::of(addr);
                    self.add_ban(banned, until, by, out);
                    to(out, id, protocol::banned(&banned.to_string(), minutes));
                }
                let reason = protocol::banned_for(minutes);
                self.remove(target_id, Some(id), by, &reason, out);
            }
            None if self.is_remote_user(target) => {
                self.ask_remote_kick(target, by, &protocol::banned_for(minutes), minutes, out)
            }
            None => match Banned::parse(target) {
                Some(banned) => {
                    self.add_ban(banned, until, by, out);
                    to(out, id, protocol::banned(&banned.to_string(), minutes));
                }
                None => to(out, id, protocol::not_an_address(target)),
            },
        }
    }

    fn unban(&mut self, id: ClientId, by: &str, rest: &str, out: &mut Vec<Delivery>) {
        let Some(banned) = Banned::parse(rest) else {
            return match rest {
                "" => to(out, id, protocol::usage("/unban ADDRESS")),
                _ => to(out, id, protocol::not_an_address(rest)),
            };
        };
        if !self.moderation.bans.unban(banned) {
            return to(out, id, protocol::not_banned(&banned.to_string()));
        }
        info!("{banned} unbanned by {by}");
        out.push(Delivery::BansChanged);
        self.tell_cluster(ModAction::Unban { banned }, out);
        to(out, id, protocol::unbanned(&banned.to_string()));
    }

    fn list_bans(&mut self, id: ClientId, out: &mut Vec<Delivery>) {
        let list: Vec<(String, u64)> = self
            .moderation
            .bans
            .list(self.clock)
            .into_iter()
            .map(|(banned, left)| (banned.to_string(), left.as_secs().div_ceil(60)))
            .collect();
        to(out, id, protocol::bans(&list));
    }

    /// Bans `banned` here, and on every other node of a cluster.
    fn add_ban(&mut self, banned: Banned, until: Instant, by: &str, out: &mut Vec<Delivery>) {
        info!("{banned} banned by {by}");
        self.moderation.bans.ban(banned, until);
        out.push(Delivery::BansChanged);
        self.tell_cluster(ModAction::Ban { banned, until }, out);
    }

    fn tell_cluster(&mut self, action: ModAction, out: &mut Vec<Delivery>) {
        if self.cluster.is_some() {
            out.push(Delivery::Cluster(Request::Moderation(action)));
        }
    }

    fn ask_remote_kick(
        &mut self,
        name: &str,
        by: &str,
        reason: &str,
        ban_minutes: u64,
        out: &mut Vec<Delivery>,
    ) {
        let action = ModAction::Kick {
            name: name.to_string(),
            by: by.to_string(),
            reason: reason.to_string(),
            ban_minutes,
        };
        self.tell_cluster(action, out);
    }

    /// The local joined user called `name` (in any case).
    fn local_user(&self, name: &str) -> Option<ClientId> {
        self.local(name).filter(|&target| self.has_joined(target))
    }

    fn is_remote_user(&self, name: &str) -> bool {
        self.cluster
            .as_ref()
            .is_some_and(|cluster| cluster.is_remote(&name_key(name)))
    }

    /// Removes joined user `target` on behalf of operator `by` (connection `operator`, if local):
    /// it is told why and closed, and each of its rooms hears it was removed. The operator is told
    /// too if it shares none of those rooms.
    fn remove(
        &mut self,
        target: ClientId,
        operator: Option<ClientId>,
        by: &str,
        reason: &str,
        out: &mut Vec<Delivery>,
    ) {
        let name = self.clients.name(target).to_string();
        let line = protocol::removed(&name, by, reason);
        if let Some(operator) = operator {
            let theirs = self.rooms_of(target);
            if !self.rooms_of(operator).iter().any(|r| theirs.contains(r)) {
                to(out, operator, line.clone());
            }
        }
        info!("#{target} {name} removed by {by} ({reason})");
        let (by_whom, why) = (by.into(), reason.to_string());
        let removed = Notice::YouWereRemoved {
            by: by_whom,
            reason: why,
        };
        to(out, target, removed);
        let cluster_reason = protocol::removed_reason(by, reason);
        self.leave_announcing(target, &cluster_reason, Leaving::Removed, out);
        out.push(Delivery::Close { id: target });
    }

    /// A kick or a ban from another node of the cluster.
    pub(super) fn moderated_remotely(&mut self, action: ModAction, out: &mut Vec<Delivery>) {
        match action {
            ModAction::Kick {
                name,
                by,
                reason,
                ban_minutes,
            } => {
                let Some(target) = self.local_user(&name) else {
                    return; // Not here (or gone meanwhile).
                };
                if ban_minutes > 0
                    && let Some(addr) = self.moderation.addr(target)
                {
                    // Another node's number: bounded as a ban typed here is.
                    let minutes = ban_minutes.min(BAN_MINUTES_MAX);
                    let until = self.clock + Duration::from_secs(minutes * 60);
                    self.add_ban(Banned::of(addr), until, &by, out);
                }
                self.remove(target, None, &by, &reason, out);
            }
            ModAction::Ban { banned, until } => {
                // The same ban read again (a link coming back), or a shorter one, changes nothing
                // here: the ban file is not rewritten. (A second of slack: a time that crossed the
                // cluster as Unix seconds comes back a little later each time.)
                let known = self.moderation.bans.until(&banned);
                if known.is_some_and(|known| known + Duration::from_secs(1) >= until) {
                    return;
                }
                self.moderation.bans.ban(banned, until);
                out.push(Delivery::BansChanged);
            }
            ModAction::Unban { banned } => {
                if self.moderation.bans.unban(banned) {
                    out.push(Delivery::BansChanged);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ChatConfig, Event};
    use super::*;

    struct Fixture {
        chat: Chat,
        now: Instant,
    }

    fn to_(id: ClientId, line: &str) -> Delivery {
        Delivery::To {
            id,
            notice: line.into(),
        }
    }

    fn room(except: ClientId, line: &str) -> Delivery {
        Delivery::Room {
            room: 0,
            except: Some(except),
            notice: line.into(),
        }
    }

    impl Fixture {
        fn new() -> Fixture {
            let mut chat = Chat::new(ChatConfig {
                history: 0,
                name_timeout: Duration::from_secs(60),
                announce_limit: 100,
                default_room: "#general".to_string(),
                max_rooms: 10,
                max_rooms_per_user: 5,
                cluster: false,
                ids: 0,
            });
            chat.set_oper_password(Some("s3cret"));
            Fixture {
                chat,
                now: Instant::now(),
            }
        }

        /// What `event` delivered, each notice as the line it is worded as.
        fn event(&mut self, event: Event<'_>) -> Vec<Delivery> {
            let mut out = Vec::new();
            self.chat.handle(event, &mut out);
            super::super::tests::as_lines(out)
        }

        fn say(&mut self, id: ClientId, text: &str) -> Vec<Delivery> {
            self.event(Event::Line { id, text })
        }

        fn join(&mut self, id: ClientId, name: &str, addr: &str) -> Vec<Delivery> {
            let (now, addr) = (self.now, addr.parse().unwrap());
            let mut out = self.event(Event::ConnectFrom { id, now, addr });
            out.extend(self.say(id, name));
            out
        }

        fn tick(&mut self, secs: u64) {
            self.now += Duration::from_secs(secs);
            let now = self.now;
            self.event(Event::Tick { now });
        }
    }

    /// teacher (1, an operator), ana (2), bea (3), all in #general.
    fn class() -> Fixture {
        let mut f = Fixture::new();
        f.join(1, "teacher", "192.0.2.1");
        f.join(2, "ana", "192.0.2.2");
        f.join(3, "bea", "2001:db8:1:2::3");
        assert_eq!(
            f.say(1, "/oper s3cret"),
            [to_(1, "*** you are now an operator")]
        );
        f
    }

    #[test]
    fn oper_right_wrong_and_the_delay_after_a_wrong_one() {
        let mut f = Fixture::new();
        f.join(1, "ana", "192.0.2.2");
        f.join(2, "bob", "192.0.2.2");
        f.join(3, "eve", "192.0.2.9");
        assert_eq!(f.say(1, "/oper"), [to_(1, "! usage: /oper PASSWORD")]);
        assert_eq!(f.say(1, "/oper guess"), [to_(1, "! wrong password")]);
        // Within 2 s nobody from that address is checked, not even with the right password.
        let soon = "! too soon after a wrong password; try again in 2 s";
        assert_eq!(f.say(1, "/oper s3cret"), [to_(1, soon)]);
        assert_eq!(f.say(2, "/OPER s3cret"), [to_(2, soon)]);
        // Another address is not held back.
        assert_eq!(
            f.say(3, "/oper s3cret"),
            [to_(3, "*** you are now an operator")]
        );
        f.tick(1);
        assert_eq!(f.say(1, "/oper s3cret"), [to_(1, soon)]);
        f.tick(1);
        assert_eq!(
            f.say(1, "/oper s3cret"),
            [to_(1, "*** you are now an operator")]
        );
        assert!(f.chat.is_operator(1) && !f.chat.is_operator(2));
    }

    #[test]
    fn without_a_password_there_are_no_operators() {
        let mut f = Fixture::new();
        f.chat.set_oper_password(None);
        f.join(1, "ana", "192.0.2.2");
        assert_eq!(
            f.say(1, "/oper s3cret"),
            [to_(1, "! there are no operators on this server")]
        );
    }

    #[test]
    fn operators_are_marked_in_list_and_lose_it_when_they_go() {
        let mut f = class();
        assert_eq!(
            f.say(2, "/list"),
            [to_(2, "*** online (3): ana, bea, @teacher")]
        );
        f.say(1, "/name Teach");
        assert_eq!(
            f.say(2, "/list")[0],
            to_(2, "*** online (3): ana, bea, @Teach")
        );
        f.event(Event::Disconnect { id: 1, reason: "x" });
        f.join(1, "carl", "192.0.2.1"); // The same id, a new connection: no operator.
        assert!(!f.chat.is_operator(1));
        assert_eq!(
            f.say(2, "/list")[0],
            to_(2, "*** online (3): ana, bea, carl")
        );
    }

    #[test]
    fn non_operators_are_refused() {
        let mut f = class();
        for (command, name) in [
            ("/kick bea", "kick"),
            ("/ban bea", "ban"),
            ("/unban 192.0.2.1", "unban"),
            ("/BANS", "bans"),
        ] {
            let line = format!("! only operators may use /{name}");
            assert_eq!(f.say(2, command), [to_(2, &line)]);
        }
    }

    #[test]
    fn a_kick_tells_the_user_closes_it_and_is_announced_once_per_room() {
        let mut f = class();
        f.say(2, "/join #dev");
        f.say(3, "/join #dev");
        assert_eq!(
            f.say(1, "/kick ANA  stop spamming "),
            [
                // teacher is not in #dev, but hears of it in #general.
                to_(2, "! you were removed by teacher (stop spamming)"),
                room(2, "*** ana was removed by teacher (stop spamming)"),
                Delivery::Room {
                    room: 1,
                    except: Some(2),
                    notice: "*** ana was removed by teacher (stop spamming)".into()
                },
                Delivery::Close { id: 2 },
            ]
        );
        assert!(!f.chat.has_joined(2));
        assert!(f.say(2, "still here?").is_empty());
        // Without a reason; and the operator, in no room with bea, is told.
        f.say(1, "/part");
        assert_eq!(
            f.say(1, "/kick bea"),
            [
                to_(1, "*** bea was removed by teacher"),
                to_(3, "! you were removed by teacher"),
                // (#dev goes with its last member: nobody there to tell.)
                room(3, "*** bea was removed by teacher"),
                Delivery::Close { id: 3 },
            ]
        );
    }

    #[test]
    fn kick_errors() {
        let mut f = class();
        assert_eq!(f.say(1, "/kick"), [to_(1, "! usage: /kick NAME [REASON]")]);
        assert_eq!(f.say(1, "/kick bob"), [to_(1, "! no such user: bob")]);
        assert_eq!(
            f.say(1, "/kick Teacher"),
            [to_(1, "! you cannot remove yourself")]
        );
    }

    #[test]
    fn ban_by_name_removes_the_user_and_refuses_its_address() {
        let mut f = class();
        let out = f.say(1, "/ban bea 30");
        assert_eq!(
            out,
            [
                Delivery::BansChanged,
                to_(1, "*** banned 2001:db8:1:2::/64 for 30 minutes"),
                to_(3, "! you were removed by teacher (banned for 30 minutes)"),
                room(3, "*** bea was removed by teacher (banned for 30 minutes)"),
                Delivery::Close { id: 3 },
            ]
        );
        // Anyone from that /64 is turned away before the name prompt.
        let (now, addr) = (f.now, "2001:db8:1:2::99".parse().unwrap());
        assert_eq!(
            f.event(Event::ConnectFrom { id: 3, now, addr }),
            [to_(3, "! you are banned"), Delivery::Close { id: 3 }]
        );
        assert_eq!(
            f.say(1, "/bans"),
            [to_(1, "*** bans (1): 2001:db8:1:2::/64 (30 min left)")]
        );
        f.tick(29 * 60 + 1);
        assert_eq!(
            f.say(1, "/bans"),
            [to_(1, "*** bans (1): 2001:db8:1:2::/64 (1 min left)")]
        );
        f.tick(60);
        assert_eq!(f.say(1, "/bans"), [to_(1, "*** no bans")]);
        let (now, addr) = (f.now, "2001:db8:1:2::99".parse().unwrap());
        assert_eq!(f.event(Event::ConnectFrom { id: 3, now, addr }).len(), 2);
        assert_eq!(f.say(3, "bea")[0], to_(3, "*** you are bea"));
    }

    #[test]
    fn ban_by_address_unban_and_the_listing() {
        let mut f = class();
        assert_eq!(
            f.say(1, "/ban 198.51.100.7"),
            [
                Delivery::BansChanged,
                to_(1, "*** banned 198.51.100.7 for 60 minutes")
            ]
        );
        f.say(1, "/ban 127.0.0.1 5");
        assert_eq!(
            f.say(1, "/bans"),
            [to_(
                1,
                "*** bans (2): 127.0.0.1 (5 min left), 198.51.100.7 (60 min left)"
            )]
        );
        // Loopback is not exempt.
        let (now, addr) = (f.now, "127.0.0.1".parse().unwrap());
        assert_eq!(f.event(Event::ConnectFrom { id: 9, now, addr }).len(), 2);
        assert_eq!(
            f.say(1, "/unban 198.51.100.7"),
            [Delivery::BansChanged, to_(1, "*** unbanned 198.51.100.7")]
        );
        assert_eq!(
            f.say(1, "/unban 198.51.100.7"),
            [to_(1, "! 198.51.100.7 is not banned")]
        );
        let usage = "! usage: /ban NAME|ADDRESS [MINUTES]";
        for bad in ["/ban", "/ban ana 0", "/ban ana soon", "/ban ana 5 now"] {
            assert_eq!(f.say(1, bad), [to_(1, usage)], "{bad}");
        }
        assert_eq!(
            f.say(1, "/ban teacher"),
            [to_(1, "! you cannot remove yourself")]
        );
        assert_eq!(
            f.say(1, "/ban nobody"),
            [to_(1, "! no such user or address: nobody")]
        );
        assert_eq!(f.say(1, "/unban"), [to_(1, "! usage: /unban ADDRESS")]);
    }
}
