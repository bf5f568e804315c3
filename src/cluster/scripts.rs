//! The Lua scripts a node runs in Redis, and the keys they use.
//!
//! Each script is one atomic step: Redis runs it whole, with nothing in between. That is what makes a
//! name claim and its announcement one event, a chat line's number, its place in the history and its
//! publication one event, and what lets a node release a name only if it still owns it. They are
//! loaded with `SCRIPT LOAD` each time the link comes up and run with `EVALSHA`, so a chat line
//! costs Redis its text, not the script's.
//!
//! The keys (one room per Redis database):
//!
//! | key                     | type   | holds                                                   |
//! |-------------------------|--------|---------------------------------------------------------|
//! | `pollchat:names`        | hash   | name key (lower case) → `NODE NAME`: who holds each name |
//! | `pollchat:nodes`        | set    | the nodes that have said hello                          |
//! | `pollchat:node:NODE`    | string | NODE's heartbeat: its instance id, expiring after `--cluster-timeout-ms` |
//! | `pollchat:seq`          | string | the number of the cluster's latest chat line            |
//! | `pollchat:history`      | list   | `SEQ TIME LINE`, the last lines, oldest first (TIME: when said, Unix seconds) |
//! | `pollchat:history-cap`  | string | the longest `--history` of any node (at most 1000): the list's length |
//! | `pollchat:rooms`        | hash   | room key (lower case) → room name as spelled: every room but the default one |
//! | `pollchat:room:KEY:members` | hash | name key → `NODE NAME`: who is in room KEY, and on which node |
//! | `pollchat:room:KEY:history` | list | `TIME LINE`, the room's last lines, oldest first (capped like the default room's) |
//! | `pollchat:room:KEY:topic`   | string | the room's topic (the default room's too)             |
//! | `pollchat:bans`         | hash   | banned address (or /64) → when the ban runs out, Unix seconds |
//!
//! A room other than the default one exists in Redis while its members hash does: the scripts that
//! take a member out drop the room's keys with its last member (`drop_if_empty` below).
//!
//! Scripts reach the heartbeat keys of other nodes by name (the reaper), so the room's keys must be on
//! one Redis server: Redis Cluster's key slots are not supported.

pub const NAMES: &str = "pollchat:names";
pub const NODES: &str = "pollchat:nodes";
pub const HEARTBEAT_PREFIX: &str = "pollchat:node:";
pub const SEQ: &str = "pollchat:seq";
pub const HISTORY: &str = "pollchat:history";
pub const HISTORY_CAP: &str = "pollchat:history-cap";
/// The pub/sub channel every node subscribes to (see `message.rs`).
pub const CHANNEL: &str = "pollchat:events";
pub const ROOMS: &str = "pollchat:rooms";
/// The bans (`/ban`), address → expiry in Unix seconds: a node that starts, or comes back, reads
/// them; expired ones are dropped by whoever reads them.
pub const BANS: &str = "pollchat:bans";

/// The start of every room's keys and of its channel; the scripts' Lua has it too (`lua_prelude!`).
macro_rules! room_prefix {
    () => {
        "pollchat:room:"
    };
}
pub const ROOM_PREFIX: &str = room_prefix!();

/// The channel of a room other than the default one (`key`: its name in lower case).
pub fn room_channel(key: &str) -> String {
    format!("{ROOM_PREFIX}{key}")
}

/// The hash of a room's members.
pub fn room_members(key: &str) -> String {
    format!("{ROOM_PREFIX}{key}:members")
}

pub fn room_history(key: &str) -> String {
    format!("{ROOM_PREFIX}{key}:history")
}

pub fn room_topic(key: &str) -> String {
    format!("{ROOM_PREFIX}{key}:topic")
}

/// Lua shared by the scripts that take members out of rooms. `take_if_mine(hash, key, mine)`:
/// deletes the field if its value (`NODE NAME`) starts with `mine` (`NODE `), saying whether it did.
/// `drop_if_empty(key)`: a room whose
/// members hash has gone (Redis deletes an empty hash) goes with its history and topic.
/// `drop_node(node, keep, why)`: takes NODE's users out of every room but the memberships in
/// `keep` (`ROOMKEY NAMEKEY` → true), publishing an `rpart` for each when `why` is given.
macro_rules! lua_prelude {
    () => {
        concat!(
            "local ROOM = '",
            room_prefix!(),
            "'\n",
            r"
local function take_if_mine(hash, key, mine)
  local holder = redis.call('HGET', hash, key)
  if holder and string.sub(holder, 1, #mine) == mine then
    redis.call('HDEL', hash, key)
    return true
  end
  return false
end
local function drop_if_empty(key)
  if redis.call('EXISTS', ROOM .. key .. ':members') == 0 then
    redis.call('DEL', ROOM .. key .. ':history', ROOM .. key .. ':topic')
    redis.call('HDEL', 'pollchat:rooms', key)
  end
end
local function drop_node(node, keep, why)
  local owner = node .. ' '
  local rooms = redis.call('HGETALL', 'pollchat:rooms')
  for r = 1, #rooms, 2 do
    local key, spelled = rooms[r], rooms[r + 1]
    local members = ROOM .. key .. ':members'
    local all = redis.call('HGETALL', members)
    for i = 1, #all, 2 do
      if string.sub(all[i + 1], 1, #owner) == owner and not keep[key .. ' ' .. all[i]] then
        redis.call('HDEL', members, all[i])
        if why then
          local name = string.sub(all[i + 1], #owner + 1)
          redis.call('PUBLISH', ROOM .. key, owner .. 'rpart ' .. spelled .. ' ' .. name .. ' ' .. why)
        end
      end
    end
    drop_if_empty(key)
  end
end
"
        )
    };
}
/// The most history the cluster keeps, whatever `--history` says.
pub const HISTORY_MAX: usize = 1000;

/// The scripts, by what they do. `Script::ALL` is the order they are loaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Hello,
    Claim,
    Release,
    Rename,
    Chat,
    Private,
    Reap,
    Reclaim,
    Bye,
    Users,
    RoomJoin,
    RoomPart,
    RoomLines,
    Topic,
    RoomList,
    Members,
    RoomSync,
    BansPrune,
}

impl Script {
    pub const ALL: [Script; 18] = [
        Script::Hello,
        Script::Claim,
        Script::Release,
        Script::Rename,
        Script::Chat,
        Script::Private,
        Script::Reap,
        Script::Reclaim,
        Script::Bye,
        Script::Users,
        Script::RoomJoin,
        Script::RoomPart,
        Script::RoomLines,
        Script::Topic,
        Script::RoomList,
        Script::Members,
        Script::RoomSync,
        Script::BansPrune,
    ];

    pub fn source(self) -> &'static str {
        match self {
            Script::Hello => HELLO,
            Script::Claim => CLAIM,
            Script::Release => RELEASE,
            Script::Rename => RENAME,
            Script::Chat => CHAT,
            Script::Private => PRIVATE,
            Script::Reap => REAP,
            Script::Reclaim => RECLAIM,
            Script::Bye => BYE,
            Script::Users => USERS,
            Script::RoomJoin => ROOM_JOIN,
            Script::RoomPart => ROOM_PART,
            Script::RoomLines => ROOM_LINES,
            Script::Topic => TOPIC,
            Script::RoomList => ROOM_LIST,
            Script::Members => MEMBERS,
            Script::RoomSync => ROOM_SYNC,
            Script::BansPrune => BANS_PRUNE,
        }
    }
}

/// The heartbeat, also run when the link comes up. KEYS: heartbeat, nodes, history cap. ARGV:
/// instance id, expiry in ms, node, this node's history length, channel. Returns 0 if another live
/// instance holds this node's name (a second node started with the same `--node`), else 1. Publishes
/// a `ping`, which the node must see come back on its subscription: a subscription that has gone
/// silent (a dropped idle flow, say) is noticed like a link that broke.
const HELLO: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if tonumber(ARGV[4]) > tonumber(redis.call('GET', KEYS[3]) or '0') then
  redis.call('SET', KEYS[3], ARGV[4])
end
redis.call('PUBLISH', ARGV[5], ARGV[3] .. ' ping')
return 1
";

/// A join. KEYS: names, seq, history, the default room's topic. ARGV: name key, node, name,
/// channel, history wanted. A name held by another node is refused ({0}); one free or held by this
/// node (a leftover of a user who left while the link was down) is taken, announced with the
/// current line number, and answered {1, SEQ, {history}, TOPIC}.
const CLAIM: &str = r"
local mine = ARGV[2] .. ' '
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if holder and string.sub(holder, 1, #mine) ~= mine then return {0} end
redis.call('HSET', KEYS[1], ARGV[1], mine .. ARGV[3])
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('PUBLISH', ARGV[4], mine .. 'join ' .. seq .. ' ' .. ARGV[3])
local history = {}
if tonumber(ARGV[5]) > 0 then history = redis.call('LRANGE', KEYS[3], -tonumber(ARGV[5]), -1) end
return {1, seq, history, redis.call('GET', KEYS[4]) or ''}
";

/// A leave. KEYS: names. ARGV: name key, node, channel, message, then the keys of the user's rooms
/// (besides the default one), which it leaves too. Only the owner releases a name or a membership.
/// The other nodes take the user out of every room on the one `leave` message.
const RELEASE: &str = concat!(
    lua_prelude!(),
    r"
local mine = ARGV[2] .. ' '
if take_if_mine(KEYS[1], ARGV[1], mine) then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
for i = 5, #ARGV do
  take_if_mine(ROOM .. ARGV[i] .. ':members', ARGV[1], mine)
  drop_if_empty(ARGV[i])
end
return 0
"
);

/// A rename. KEYS: names. ARGV: new key, node, new name, old key, channel, message, then the keys
/// of the user's rooms (besides the default one), whose members hashes follow. Returns 1 if done, 0
/// if another node holds the new name.
const RENAME: &str = concat!(
    lua_prelude!(),
    r"
local mine = ARGV[2] .. ' '
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if holder and string.sub(holder, 1, #mine) ~= mine then return 0 end
local old = redis.call('HGET', KEYS[1], ARGV[4])
if old and string.sub(old, 1, #mine) == mine then redis.call('HDEL', KEYS[1], ARGV[4]) end
redis.call('HSET', KEYS[1], ARGV[1], mine .. ARGV[3])
for i = 7, #ARGV do
  local members = ROOM .. ARGV[i] .. ':members'
  redis.call('HDEL', members, ARGV[4])
  redis.call('HSET', members, ARGV[1], mine .. ARGV[3])
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"
);

/// The chat lines of one pass of a node's loop: numbered, kept in the capped history, published as
/// one `lines` message. KEYS: seq, history, history cap. ARGV: node, channel, the time they were said
/// (Unix seconds), then the lines (at most `LINES_MAX`: Lua's `unpack` has a limit). Returns the
/// last line's number.
const CHAT: &str = r"
local n = #ARGV - 3
local last = redis.call('INCRBY', KEYS[1], n)
local first = last - n + 1
local cap = tonumber(redis.call('GET', KEYS[3]) or '0')
if cap > 0 then
  local entries = {}
  for i = math.max(1, n - cap + 1), n do
    entries[#entries + 1] = (first + i - 1) .. ' ' .. ARGV[3] .. ' ' .. ARGV[i + 3]
  end
  redis.call('RPUSH', KEYS[2], unpack(entries))
  redis.call('LTRIM', KEYS[2], -cap, -1)
end
redis.call('PUBLISH', ARGV[2], ARGV[1] .. ' lines ' .. first .. '\n' .. table.concat(ARGV, '\n', 4))
return last
";

/// The most lines one run of the chat script takes.
pub const LINES_MAX: usize = 1000;

/// A private message to a user of another node. KEYS: names. ARGV: name key, node, channel, from,
/// text. Returns the recipient's name as spelled, or nil if there is no such user.
const PRIVATE: &str = r"
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if not holder then return false end
local name = string.match(holder, '^%S+ (.*)$')
redis.call('PUBLISH', ARGV[3], ARGV[2] .. ' msg ' .. name .. ' ' .. ARGV[4] .. ' ' .. ARGV[5])
return name
";

/// Run by every node once per heartbeat: a node whose heartbeat has expired is lost. Its names are
/// released and one `lost` message lists them, so every node announces them once. Atomic, so only
/// one node ever does this for a lost node. KEYS: nodes, names. ARGV: heartbeat key prefix, channel,
/// node. Returns how many nodes were lost. The lost node's users leave every room too (the `lost`
/// message tells the other nodes so).
const REAP: &str = concat!(
    lua_prelude!(),
    r"
local lost = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. node) == 0 then
    redis.call('SREM', KEYS[1], node)
    local owner = node .. ' '
    local names = {}
    local all = redis.call('HGETALL', KEYS[2])
    for i = 1, #all, 2 do
      if string.sub(all[i + 1], 1, #owner) == owner then
        redis.call('HDEL', KEYS[2], all[i])
        names[#names + 1] = string.sub(all[i + 1], #owner + 1)
      end
    end
    drop_node(node, {}, nil)
    redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' lost ' .. node .. ' ' .. table.concat(names, ' '))
    lost = lost + 1
  end
end
return lost
"
);

/// After the link comes back: make Redis hold exactly this node's users and their rooms. KEYS:
/// names. ARGV: node, channel, the reason for a leave, N, then name key and name for each of the N
/// names this node holds or has asked for, then room key, room name, name key and name for each
/// membership of its users in a room other than the default. Names of this node's that it no longer
/// holds are released, and their leaves published (the users left while the link was down); each
/// name it holds is claimed again (a Redis that restarted empty is filled again); the same for the
/// rooms, with `rpart` and `rjoin` messages. Returns the names that another node claimed meanwhile.
/// Publishes `sync`.
const RECLAIM: &str = concat!(
    lua_prelude!(),
    r"
local mine = ARGV[1] .. ' '
local wanted = {}
local last = 4 + 2 * tonumber(ARGV[4])
for i = 5, last, 2 do wanted[ARGV[i]] = ARGV[i + 1] end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i + 1], 1, #mine) == mine and not wanted[all[i]] then
    redis.call('HDEL', KEYS[1], all[i])
    local name = string.sub(all[i + 1], #mine + 1)
    redis.call('PUBLISH', ARGV[2], mine .. 'leave ' .. name .. ' ' .. ARGV[3])
  end
end
local taken = {}
local lost = {}
for key, name in pairs(wanted) do
  local holder = redis.call('HGET', KEYS[1], key)
  if not holder then
    redis.call('HSET', KEYS[1], key, mine .. name)
  elseif string.sub(holder, 1, #mine) ~= mine then
    taken[#taken + 1] = name
    lost[key] = true
  end
end
local keep = {}
for i = last + 1, #ARGV, 4 do keep[ARGV[i] .. ' ' .. ARGV[i + 2]] = true end
drop_node(ARGV[1], keep, ARGV[3])
-- A name another node took meanwhile is that node's, in its rooms too: its user here is leaving.
for i = last + 1, #ARGV, 4 do
  local key, members = ARGV[i], ROOM .. ARGV[i] .. ':members'
  local holder = redis.call('HGET', members, ARGV[i + 2])
  local free = not holder or string.sub(holder, 1, #mine) == mine
  if not lost[ARGV[i + 2]] and free and holder ~= mine .. ARGV[i + 3] then
    local spelled = redis.call('HGET', 'pollchat:rooms', key)
    if not spelled then
      spelled = ARGV[i + 1]
      redis.call('HSET', 'pollchat:rooms', key, spelled)
    end
    redis.call('HSET', members, ARGV[i + 2], mine .. ARGV[i + 3])
    redis.call('PUBLISH', ROOM .. key, mine .. 'rjoin ' .. spelled .. ' 0 ' .. ARGV[i + 3])
  end
end
redis.call('PUBLISH', ARGV[2], mine .. 'sync')
return taken
"
);

/// A clean shutdown, after the users' leaves: the node leaves the cluster now, not when its
/// heartbeat expires, and releases any name still held in its name (a join whose answer was still
/// on its way, say), publishing `bye` with them, and any membership still held in its name. KEYS:
/// heartbeat, nodes, names. ARGV: instance id, node, channel.
const BYE: &str = concat!(
    lua_prelude!(),
    r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[2], ARGV[2])
local mine = ARGV[2] .. ' '
local names = {}
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  if string.sub(all[i + 1], 1, #mine) == mine then
    redis.call('HDEL', KEYS[3], all[i])
    names[#names + 1] = string.sub(all[i + 1], #mine + 1)
  end
end
drop_node(ARGV[2], {}, nil)
if #names > 0 then redis.call('PUBLISH', ARGV[3], mine .. 'bye ' .. table.concat(names, ' ')) end
return #names
"
);

/// Everyone's names, with a `users TOKEN` marker published in the same atomic step: the node
/// applies the list at the marker's place among the messages, so no join or leave published around
/// the read is applied twice or lost. KEYS: names. ARGV: node, channel, token. Returns HGETALL.
const USERS: &str = r"
redis.call('PUBLISH', ARGV[2], ARGV[1] .. ' users ' .. ARGV[3])
return redis.call('HGETALL', KEYS[1])
";

/// A join of a room other than the default one. KEYS: rooms, the room's members, history, topic.
/// ARGV: room key, room name, name key, node, name, the room's channel, token, history wanted, the
/// most rooms there may be (the default one included). A room that does not exist is created, unless
/// there are that many already ({0}). The join is published with `token`, which tells this node
/// where among the room's messages its read took place, and answered {1, ROOM AS SPELLED, TOPIC,
/// {every member's `NODE NAME`}, {history}}.
const ROOM_JOIN: &str = r"
local spelled = redis.call('HGET', KEYS[1], ARGV[1])
if not spelled then
  if redis.call('HLEN', KEYS[1]) + 1 >= tonumber(ARGV[9]) then return {0} end
  spelled = ARGV[2]
  redis.call('HSET', KEYS[1], ARGV[1], spelled)
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4] .. ' ' .. ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[4] .. ' rjoin ' .. spelled .. ' ' .. ARGV[7] .. ' ' .. ARGV[5])
local history = {}
if tonumber(ARGV[8]) > 0 then history = redis.call('LRANGE', KEYS[3], -tonumber(ARGV[8]), -1) end
return {1, spelled, redis.call('GET', KEYS[4]) or '', redis.call('HVALS', KEYS[2]), history}
";

/// A part. KEYS: the room's members. ARGV: name key, node, the room's channel, message, room key.
/// Only the node that holds the membership takes it out; the room goes with its last member.
const ROOM_PART: &str = concat!(
    lua_prelude!(),
    r"
if take_if_mine(KEYS[1], ARGV[1], ARGV[2] .. ' ') then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
drop_if_empty(ARGV[5])
return 0
"
);

/// The chat lines of one pass said in one room other than the default: kept in the room's capped
/// history (if the room still exists) and published as one `rlines` message. KEYS: rooms, the
/// room's history, history cap. ARGV: room key, node, the room's channel, room name, the time they
/// were said (Unix seconds), then the lines.
const ROOM_LINES: &str = r"
local cap = tonumber(redis.call('GET', KEYS[3]) or '0')
if cap > 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  local entries = {}
  for i = math.max(6, #ARGV - cap + 1), #ARGV do entries[#entries + 1] = ARGV[5] .. ' ' .. ARGV[i] end
  redis.call('RPUSH', KEYS[2], unpack(entries))
  redis.call('LTRIM', KEYS[2], -cap, -1)
end
redis.call('PUBLISH', ARGV[3], ARGV[2] .. ' rlines ' .. ARGV[4] .. '\n' .. table.concat(ARGV, '\n', 6))
return 0
";

/// A topic set. KEYS: the room's topic. ARGV: text, the room's channel, message.
const TOPIC: &str = r"
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 0
";

/// `/rooms`: every room but the default one, with how many are in it and its topic ('' for none),
/// and how many users there are (all in the default room). KEYS: rooms, names. Returns {USERS,
/// NAME, COUNT, TOPIC, NAME, COUNT, TOPIC, ...}. (Each node runs the script it loaded, so nodes of
/// two versions each read the reply they asked for.)
const ROOM_LIST: &str = concat!(
    lua_prelude!(),
    r"
local out = {redis.call('HLEN', KEYS[2])}
local rooms = redis.call('HGETALL', KEYS[1])
for i = 1, #rooms, 2 do
  out[#out + 1] = rooms[i + 1]
  out[#out + 1] = redis.call('HLEN', ROOM .. rooms[i] .. ':members')
  out[#out + 1] = redis.call('GET', ROOM .. rooms[i] .. ':topic') or ''
end
return out
"
);

/// `/list #ROOM` for a room this node has no member in. KEYS: rooms, the room's members. ARGV: room
/// key. Returns {} if there is no such room, else {ROOM AS SPELLED, {`NODE NAME`, ...}}.
const MEMBERS: &str = r"
local spelled = redis.call('HGET', KEYS[1], ARGV[1])
if not spelled then return {} end
return {spelled, redis.call('HVALS', KEYS[2])}
";

/// A room's members and topic, read again after the link came back, with an `rusers` marker
/// published in the same step (as the users script does). KEYS: the room's members, topic. ARGV:
/// the room's channel, node, room name, token. Returns {TOPIC, {`NODE NAME`, ...}}.
const ROOM_SYNC: &str = r"
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' rusers ' .. ARGV[3] .. ' ' .. ARGV[4])
return {redis.call('GET', KEYS[2]) or '', redis.call('HVALS', KEYS[1])}
";

/// Drops the bans that have run out, by Redis's clock (not a node's, which may run ahead), and any
/// whose time is not a number; atomic, so a ban set again meanwhile is never dropped. KEYS: bans.
/// Returns how many went.
const BANS_PRUNE: &str = r"
local now = tonumber(redis.call('TIME')[1])
local all = redis.call('HGETALL', KEYS[1])
local gone = 0
for i = 1, #all, 2 do
  local until_ = tonumber(all[i + 1])
  if not until_ or until_ <= now then
    redis.call('HDEL', KEYS[1], all[i])
    gone = gone + 1
  end
end
return gone
";
