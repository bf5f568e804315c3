//! The configurations `pollchat-bench --irc-config` writes for the IRC daemons it compares pollchat's
//! IRC face with (Debian's `ngircd` and `inspircd`), so that a comparison needs no hand-made file.
//!
//! A daemon as shipped would measure its flood protection, not its fan-out: ngircd delays a client
//! that sends faster than one command per two seconds, inspircd disconnects it ("Excess flood").
//! pollchat is measured with `--flood-rate 0`, so each daemon gets the same: its per-client limits
//! lifted, everything else left at the daemon's defaults. The one listener is on 127.0.0.1 at the
//! port of `--addr`.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// An IRC daemon the bench can write a configuration for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Daemon {
    /// ngIRCd (Debian's `ngircd`), run as `ngircd -n -f {config}`.
    Ngircd,
    /// InspIRCd 3 (Debian's `inspircd`), run as `inspircd --nofork --config {config}`.
    Inspircd,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Ngircd => "ngircd",
            Daemon::Inspircd => "inspircd",
        }
    }

    /// The configuration text: a listener on 127.0.0.1:`port`, flood limits lifted. `dir` holds
    /// whatever else the daemon writes (inspircd's PID file).
    pub fn config(self, port: u16, dir: &Path) -> String {
        match self {
            Daemon::Ngircd => ngircd(port),
            Daemon::Inspircd => inspircd(port, dir),
        }
    }

    /// Writes the configuration into a directory of its own under the system's temporary one
    /// (`/tmp/pollchat-bench-PID/ngircd.conf`) and returns the file's path.
    pub fn write_config(self, port: u16) -> io::Result<PathBuf> {
        let dir = std::env::temp_dir().join(format!("pollchat-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.conf", self.name()));
        std::fs::write(&path, self.config(port, &dir))?;
        Ok(path)
    }
}

/// `--exec`'s command with `{config}` replaced by the configuration's path; an error if the command
/// does not say where the configuration goes.
pub fn command_with_config(command: &str, config: &Path) -> Result<String, String> {
    if !command.contains("{config}") {
        return Err(
            "--irc-config: write {config} in --exec where the daemon takes its \
                    configuration file, e.g. \"ngircd -n -f {config}\""
                .into(),
        );
    }
    Ok(command.replace("{config}", &config.to_string_lossy()))
}

/// ngIRCd: no connection, join or penalty limits (`MaxPenaltyTime = 0` turns its per-command delay
/// off), long ping times so that quiet benchmark clients are never pinged out, no DNS or ident
/// lookups (each would delay every registration).
///
/// One limit cannot be lifted here: ngircd's listen backlog is 10, compiled in, so the bench must
/// connect at most about that many clients at once (`--connecting 8`), or the kernel drops the
/// handshakes that overflow the accept queue and those clients wait seconds for a retransmission.
fn ngircd(port: u16) -> String {
    let mut text = String::new();
    let _ = write!(
        text,
        "[Global]\n\
         \tName = irc.ngircd\n\
         \tInfo = pollchat bench\n\
         \tListen = 127.0.0.1\n\
         \tPorts = {port}\n\
         \tMotdPhrase = bench\n\
         [Limits]\n\
         \tMaxConnections = 0\n\
         \tMaxConnectionsIP = 0\n\
         \tMaxJoins = 0\n\
         \tMaxNickLength = 31\n\
         \tMaxPenaltyTime = 0\n\
         \tPingTimeout = 600\n\
         \tPongTimeout = 600\n\
         [Options]\n\
         \tPAM = no\n\
         \tIdent = no\n\
         \tDNS = no\n"
    );
    text
}

/// InspIRCd 3: one connect class with no command rate (`commandrate`, `threshold`, `fakelag` off),
/// send and receive queues far above what a run queues, no per-address or global client limits,
/// and long ping times.
fn inspircd(port: u16, dir: &Path) -> String {
    let pid = dir.join("inspircd.pid");
    let mut text = String::new();
    let _ = write!(
        text,
        "<server name=\"irc.inspircd\" description=\"pollchat bench\" network=\"bench\">\n\
         <admin name=\"bench\" nick=\"bench\" email=\"bench@localhost\">\n\
         <bind address=\"127.0.0.1\" port=\"{port}\" type=\"clients\">\n\
         <connect name=\"main\" allow=\"*\" maxchans=\"20\" timeout=\"60\" pingfreq=\"600\" \
         hardsendq=\"16777216\" softsendq=\"16777216\" recvq=\"65536\" threshold=\"1000000\" \
         commandrate=\"100000000\" fakelag=\"no\" localmax=\"100000\" globalmax=\"100000\" \
         maxconnwarn=\"no\" useident=\"no\" limit=\"100000\" resolvehostnames=\"no\">\n\
         <pid file=\"{pid}\">\n\
         <limits maxnick=\"32\" maxchan=\"64\">\n\
         <performance netbuffersize=\"10240\" somaxconn=\"4096\" softlimit=\"100000\" \
         clonesonconnect=\"no\" quietbursts=\"yes\">\n\
         <security hidesplits=\"yes\" hideulines=\"yes\" flatlinks=\"no\" hidewhois=\"\" \
         maxtargets=\"20\" customversion=\"\" operspywhois=\"no\" restrictbannedusers=\"yes\" \
         genericoper=\"no\" userstats=\"\">\n\
         <options prefixquit=\"\" suffixquit=\"\" fixedquit=\"\" syntaxhints=\"no\" \
         cyclehosts=\"no\" cyclehostsfromuser=\"no\" ircumsgprefix=\"no\" announcets=\"no\" \
         allowmismatched=\"no\" defaultbind=\"auto\" hostintopic=\"no\" pingwarning=\"15\" \
         serverpingfreq=\"600\" splitwhois=\"no\" defaultmodes=\"nt\" xlinemessage=\"banned\" \
         exemptchanops=\"\" invitebypassmodes=\"yes\" nosnoticestack=\"no\">\n\
         <dns timeout=\"1\">\n",
        pid = pid.display()
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_config_listens_on_the_given_port_with_flood_limits_lifted() {
        let dir = Path::new("/tmp/x");
        let ngircd = Daemon::Ngircd.config(6698, dir);
        assert!(ngircd.contains("\tPorts = 6698\n"));
        assert!(ngircd.contains("\tMaxPenaltyTime = 0\n"));
        let inspircd = Daemon::Inspircd.config(6699, dir);
        assert!(inspircd.contains("port=\"6699\""));
        assert!(inspircd.contains("fakelag=\"no\""));
        assert!(inspircd.contains("<pid file=\"/tmp/x/inspircd.pid\">"));
    }

    #[test]
    fn the_command_must_say_where_the_config_goes() {
        let path = Path::new("/tmp/b/ngircd.conf");
        assert_eq!(
            command_with_config("taskset -c 0 ngircd -n -f {config}", path).unwrap(),
            "taskset -c 0 ngircd -n -f /tmp/b/ngircd.conf"
        );
        assert!(command_with_config("ngircd -n", path).is_err());
    }
}
