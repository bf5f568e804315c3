//! Readings from `/proc`: a process's CPU time and memory, and the kernel's TCP socket memory. The
//! benchmark compares servers by these, taken the same way for each, and reads its own CPU time the
//! same way so that a reader can see when the generator, not the server, was the limit.
//!
//! A reading that fails (the process has gone, or was never there) is `None`; the callers count it
//! as nothing rather than end a run that is otherwise sound.

use std::fs;
use std::sync::OnceLock;

/// `AT_PAGESZ` and `AT_CLKTCK` in the auxiliary vector (`<elf.h>`).
const AT_PAGESZ: usize = 6;
const AT_CLKTCK: usize = 17;

/// User plus system CPU seconds used so far by process `pid` ("self" for this one).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace();
    // utime and stime are fields 14 and 15 of the line, so 12 and 13 after the name.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks() as f64)
}

/// The CPU a process uses from a starting moment: [`CpuStopwatch::start`] reads its clock,
/// [`CpuStopwatch::elapsed`] how much it has used since. Each process of a cluster gets its own, so
/// that one which exits in between costs nothing afterwards instead of taking its whole past away
/// from a sum.
#[derive(Debug, Clone)]
pub struct CpuStopwatch {
    pid: String,
    start: f64,
}

impl CpuStopwatch {
    /// Starts timing process `pid` ("self" for this one).
    pub fn start(pid: &str) -> CpuStopwatch {
        CpuStopwatch {
            pid: pid.to_string(),
            start: cpu_seconds(pid).unwrap_or(0.0),
        }
    }

    /// User plus system CPU seconds used since the start; 0 if the process cannot be read now.
    pub fn elapsed(&self) -> f64 {
        cpu_seconds(&self.pid).map_or(0.0, |now| now - self.start)
    }
}

/// A field of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`).
pub fn memory(pid: &str, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The kernel's memory for all TCP sockets, in bytes: the `mem` of the `TCP:` line of
/// `/proc/net/sockstat`, which counts pages.
pub fn tcp_socket_memory() -> Option<u64> {
    let sockstat = fs::read_to_string("/proc/net/sockstat").ok()?;
    let line = sockstat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = line.split_whitespace();
    words.find(|&w| w == "mem")?;
    let pages: u64 = words.next()?.parse().ok()?;
    Some(pages * page_size())
}

/// Whether some socket on this machine listens on TCP `port` (any address), from `/proc/net/tcp` and
/// `/proc/net/tcp6`. Asking the kernel, rather than connecting, spares the server a connection that
/// closes at once (which some servers, such as `ncat --chat`, do not survive).
pub fn listening(port: u16) -> bool {
    const LISTEN: &str = "0A";
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        let Ok(text) = fs::read_to_string(table) else {
            return false;
        };
        // `sl local_address rem_address st ...`, the local address as `HEXADDR:HEXPORT`.
        text.lines().skip(1).any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let local = fields.next().unwrap_or_default();
            let state = fields.nth(1).unwrap_or_default();
            let local_port = local.rsplit(':').next().unwrap_or_default();
            state == LISTEN && u16::from_str_radix(local_port, 16) == Ok(port)
        })
    })
}

/// Clock ticks per second, the unit of `/proc/PID/stat` times: `sysconf(_SC_CLK_TCK)`, which glibc
/// takes from the auxiliary vector too. Read there rather than through libc, which would need
/// `unsafe`. Almost always 100.
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| auxiliary(AT_CLKTCK).unwrap_or(100))
}

/// The page size in bytes (`sysconf(_SC_PAGESIZE)`), from the auxiliary vector.
pub fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| auxiliary(AT_PAGESZ).unwrap_or(4096))
}

/// A value of this process's auxiliary vector (`/proc/self/auxv`: pairs of native words, key then
/// value, ending with key 0).
fn auxiliary(key: usize) -> Option<u64> {
    const WORD: usize = size_of::<usize>();
    let auxv = fs::read("/proc/self/auxv").ok()?;
    let word = |bytes: &[u8]| usize::from_ne_bytes(bytes.try_into().expect("one word"));
    auxv.chunks_exact(2 * WORD)
        .map(|pair| (word(&pair[..WORD]), word(&pair[WORD..])))
        .take_while(|&(k, _)| k != 0)
        .find(|&(k, _)| k == key)
        .map(|(_, value)| value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_read() {
        assert!(cpu_seconds("self").is_some());
        assert!(memory("self", "VmRSS").unwrap() > 0);
        assert!(memory("self", "VmHWM").unwrap() >= memory("self", "VmRSS").unwrap() / 2);
        assert!(tcp_socket_memory().is_some());
    }

    #[test]
    fn a_stopwatch_counts_only_what_was_used_since_its_start() {
        let watch = CpuStopwatch::start("self");
        let spent = watch.elapsed();
        assert!((0.0..1.0).contains(&spent), "{spent}");
        assert_eq!(CpuStopwatch::start("0").elapsed(), 0.0); // No process 0 in /proc.
    }

    #[test]
    fn a_listening_port_is_seen() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening(port));
        drop(listener);
        assert!(!listening(port));
    }

    #[test]
    fn the_auxiliary_vector_has_the_usual_values() {
        assert_eq!(auxiliary(AT_CLKTCK), Some(100));
        assert!(page_size().is_power_of_two() && page_size() >= 4096);
    }
}
