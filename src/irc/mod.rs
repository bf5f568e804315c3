//! The IRC face, sans IO: what an IRC client (irssi, WeeChat, HexChat) says, and what it is told.
//!
//! A third face beside the line protocol and the web page (issue 18; the design is docs/irc.md).
//! Like the chat core, nothing here touches a socket: the edge (`server/irc.rs`) hands in lines and
//! carries out what comes back. `message.rs` parses and writes messages, `registration.rs` takes a
//! connection to the welcome, `session.rs` turns a registered client's commands into the core's
//! events, and `format.rs` words the core's notices as IRC messages.
//!
//! The chat core learns nothing about IRC: an IRC nick is a pollchat name, a channel is a room, and
//! what an IRC client does becomes the events a line client's lines become.

pub mod format;
pub mod message;
pub mod registration;
pub mod session;

/// The source of the server's own messages. It has a dot, as server names do, so that clients do
/// not take it for a user's nick.
pub const SERVER_NAME: &str = "irc.pollchat";

/// The host part of every user's source, `ana!ana@pollchat`, whatever their face or node. pollchat
/// never shows addresses, and users have no ident: the user part is the name again.
pub const USER_HOST: &str = "pollchat";

/// `name!name@pollchat`: the source of what user `name` does, as IRC clients expect it.
pub fn user_source(name: &str) -> String {
    let mut source = String::with_capacity(2 * name.len() + USER_HOST.len() + 2);
    for part in [name, "!", name, "@", USER_HOST] {
        source.push_str(part);
    }
    source
}

/// The numeric replies the face sends, by their names in the modern documents.
pub mod numeric {
    pub const RPL_WELCOME: &str = "001";
    pub const RPL_YOURHOST: &str = "002";
    pub const RPL_CREATED: &str = "003";
    pub const RPL_MYINFO: &str = "004";
    pub const RPL_ISUPPORT: &str = "005";
    pub const RPL_UMODEIS: &str = "221";
    pub const RPL_TRYAGAIN: &str = "263";
    pub const RPL_USERHOST: &str = "302";
    pub const RPL_ISON: &str = "303";
    pub const RPL_UNAWAY: &str = "305";
    pub const RPL_NOWAWAY: &str = "306";
    pub const RPL_ENDOFWHO: &str = "315";
    pub const RPL_ENDOFWHOIS: &str = "318";
    pub const RPL_LISTSTART: &str = "321";
    pub const RPL_LISTEND: &str = "323";
    pub const RPL_CHANNELMODEIS: &str = "324";
    pub const RPL_NOTOPIC: &str = "331";
    pub const RPL_TOPIC: &str = "332";
    pub const RPL_NAMREPLY: &str = "353";
    pub const RPL_ENDOFNAMES: &str = "366";
    pub const RPL_ENDOFBANLIST: &str = "368";
    pub const RPL_MOTD: &str = "372";
    pub const RPL_MOTDSTART: &str = "375";
    pub const RPL_ENDOFMOTD: &str = "376";
    pub const RPL_LIST: &str = "322";
    pub const RPL_WHOISUSER: &str = "311";
    pub const RPL_WHOREPLY: &str = "352";
    pub const RPL_VERSION: &str = "351";
    pub const RPL_YOUREOPER: &str = "381";
    pub const RPL_TIME: &str = "391";
    pub const ERR_NOSUCHNICK: &str = "401";
    pub const ERR_PASSWDMISMATCH: &str = "464";
    pub const ERR_NOPRIVILEGES: &str = "481";
    pub const ERR_NOOPERHOST: &str = "491";
    pub const ERR_NOSUCHCHANNEL: &str = "403";
    pub const ERR_TOOMANYTARGETS: &str = "407";
    pub const ERR_BADCHANNAME: &str = "479";
    pub const ERR_TOOMANYCHANNELS: &str = "405";
    pub const ERR_NOTONCHANNEL: &str = "442";
    pub const ERR_INVALIDCAPCMD: &str = "410";
    pub const ERR_INPUTTOOLONG: &str = "417";
    pub const ERR_UNKNOWNCOMMAND: &str = "421";
    pub const ERR_NOMOTD: &str = "422";
    pub const ERR_NONICKNAMEGIVEN: &str = "431";
    pub const ERR_ERRONEUSNICKNAME: &str = "432";
    pub const ERR_NICKNAMEINUSE: &str = "433";
    pub const ERR_NOTREGISTERED: &str = "451";
    pub const ERR_NEEDMOREPARAMS: &str = "461";
    pub const ERR_ALREADYREGISTERED: &str = "462";
    pub const ERR_NORECIPIENT: &str = "411";
    pub const ERR_NOTEXTTOSEND: &str = "412";
    pub const ERR_USERSDONTMATCH: &str = "502";
}
