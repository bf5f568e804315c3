//! `HostLimit`: at most `--max-per-ip` connections from one address, so that one host (one script,
//! one user opening tabs) cannot take every `--max-clients` slot.
//!
//! An IPv4 address counts alone; an IPv6 address counts by its /64, since one machine is usually given
//! a whole /64 and can pick any address in it. Loopback is exempt unless asked otherwise: behind a
//! local proxy, or in a test, every client comes from 127.0.0.1. Like the room, this knows no
//! sockets: the loop asks it at `accept` and tells it when a connection's socket is closed. It
//! remembers the host of each counted connection itself, so a connection costs nothing for this
//! (and an exempt one, nothing at all).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// At most one "too many connections" log line per address in this long.
pub const WARNING_EVERY: Duration = Duration::from_secs(10);

/// The unit an address is counted in: an IPv4 address, or an IPv6 /64, in 8 bytes: an IPv4 address
/// in the low 32 bits, an IPv6 /64 as its prefix. (The two could only meet for IPv6 prefixes in
/// `::/32`, which is reserved and never a peer.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Host(u64);

impl Host {
    fn of(ip: IpAddr) -> Host {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Host(u64::from(u32::from(v4))),
            IpAddr::V6(v6) => Host((u128::from(v6) >> 64) as u64),
        }
    }
}

#[derive(Debug)]
pub struct HostLimit {
    /// 0: no limit.
    max: u32,
    limit_loopback: bool,
    /// Open connections per host; a host with none has no entry.
    open: HashMap<Host, u32>,
    /// The host of each counted connection, by the connection's key.
    hosts: HashMap<usize, Host>,
    /// When each recently refused host was last logged.
    logged: HashMap<Host, Instant>,
}

impl HostLimit {
    pub fn new(max: u32, limit_loopback: bool) -> HostLimit {
        HostLimit {
            max,
            limit_loopback,
            open: HashMap::new(),
            hosts: HashMap::new(),
            logged: HashMap::new(),
        }
    }

    /// Connection `key` arrived from `ip`. `Ok` if it may stay (call [`HostLimit::release`] when its
    /// socket is closed), `Err` if its host has its fill; the `bool` says whether to log that (at
    /// most once per [`WARNING_EVERY`] per host).
    pub fn admit(&mut self, key: usize, ip: IpAddr, now: Instant) -> Result<(), bool> {
        if self.max == 0 || (ip.to_canonical().is_loopback() && !self.limit_loopback) {
            return Ok(());
        }
        let host = Host::of(ip);
        let open = self.open.entry(host).or_insert(0);
        if *open < self.max {
            *open += 1;
            self.hosts.insert(key, host);
            return Ok(());
        }
        if self.logged.len() > 1024 {
            self.logged
                .retain(|_, at| now.duration_since(*at) < WARNING_EVERY);
        }
        let log = match self.logged.get(&host) {
            Some(at) if now.duration_since(*at) < WARNING_EVERY => false,
            _ => {
                self.logged.insert(host, now);
                true
            }
        };
        Err(log)
    }

    /// The socket of connection `key` is closed (whether it was counted or not).
    pub fn release(&mut self, key: usize) {
        let Some(host) = self.hosts.remove(&key) else {
            return;
        };
        if let Some(open) = self.open.get_mut(&host) {
            *open -= 1;
            if *open == 0 {
                self.open.remove(&host);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_host_gets_its_share_and_a_slot_back_when_one_closes() {
        let now = Instant::now();
        let mut limit = HostLimit::new(2, false);
        limit.admit(1, ip("192.0.2.1"), now).unwrap();
        limit.admit(2, ip("192.0.2.1"), now).unwrap();
        assert_eq!(limit.admit(3, ip("192.0.2.1"), now), Err(true));
        limit.release(3); // Refused, so never counted: nothing changes.
        // Another address is not affected.
        assert!(limit.admit(4, ip("192.0.2.2"), now).is_ok());
        limit.release(1);
        assert!(limit.admit(5, ip("192.0.2.1"), now).is_ok());
        assert_eq!(limit.admit(6, ip("192.0.2.1"), now), Err(false));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let now = Instant::now();
        let mut limit = HostLimit::new(1, false);
        assert!(limit.admit(0, ip("2001:db8:1:2::1"), now).is_ok());
        assert!(limit.admit(0, ip("2001:db8:1:2:ffff::9"), now).is_err());
        assert!(limit.admit(0, ip("2001:db8:1:3::1"), now).is_ok());
        assert!(limit.admit(0, ip("198.51.100.7"), now).is_ok());
        assert!(limit.admit(0, ip("::ffff:198.51.100.7"), now).is_err());
    }

    #[test]
    fn loopback_is_exempt_unless_limited_and_zero_is_no_limit() {
        let now = Instant::now();
        let mut exempt = HostLimit::new(1, false);
        for _ in 0..5 {
            assert_eq!(exempt.admit(1, ip("127.0.0.1"), now), Ok(()));
            assert_eq!(exempt.admit(2, ip("::1"), now), Ok(()));
        }
        let mut limited = HostLimit::new(1, true);
        assert!(limited.admit(0, ip("127.0.0.1"), now).is_ok());
        assert!(limited.admit(0, ip("127.0.0.1"), now).is_err());
        let mut none = HostLimit::new(0, true);
        for _ in 0..100 {
            assert!(none.admit(0, ip("192.0.2.1"), now).is_ok());
        }
    }

    #[test]
    fn refusals_are_logged_once_per_host_per_interval() {
        let now = Instant::now();
        let mut limit = HostLimit::new(1, false);
        limit.admit(0, ip("192.0.2.1"), now).unwrap();
        limit.admit(0, ip("192.0.2.2"), now).unwrap();
        assert_eq!(limit.admit(0, ip("192.0.2.1"), now), Err(true));
        assert_eq!(
            limit.admit(0, ip("192.0.2.1"), now + Duration::from_secs(9)),
            Err(false)
        );
        assert_eq!(
            limit.admit(0, ip("192.0.2.2"), now + Duration::from_secs(9)),
            Err(true)
        );
        assert_eq!(
            limit.admit(0, ip("192.0.2.1"), now + WARNING_EVERY),
            Err(true)
        );
    }
}
