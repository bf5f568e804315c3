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
//! | `pollchat:history`      | list   | `SEQ LINE`, the last lines, oldest first                |
//! | `pollchat:history-cap`  | string | the longest `--history` of any node (at most 1000): the list's length |
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
}

impl Script {
    pub const ALL: [Script; 10] = [
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

/// A join. KEYS: names, seq, history. ARGV: name key, node, name, channel, history wanted. A name
/// held by another node is refused ({0}); one free or held by this node (a leftover of a user who
/// left while the link was down) is taken, announced with the current line number, and answered
/// {1, SEQ, {history}}.
const CLAIM: &str = r"
local mine = ARGV[2] .. ' '
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if holder and string.sub(holder, 1, #mine) ~= mine then return {0} end
redis.call('HSET', KEYS[1], ARGV[1], mine .. ARGV[3])
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('PUBLISH', ARGV[4], mine .. 'join ' .. seq .. ' ' .. ARGV[3])
local history = {}
if tonumber(ARGV[5]) > 0 then history = redis.call('LRANGE', KEYS[3], -tonumber(ARGV[5]), -1) end
return {1, seq, history}
";

/// A leave. KEYS: names. ARGV: name key, node, channel, message. Only the owner releases a name.
const RELEASE: &str = r"
local mine = ARGV[2] .. ' '
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if holder and string.sub(holder, 1, #mine) == mine then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return 0
";

/// A rename. KEYS: names. ARGV: new key, node, new name, old key, channel, message. Returns 1 if
/// done, 0 if another node holds the new name.
const RENAME: &str = r"
local mine = ARGV[2] .. ' '
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if holder and string.sub(holder, 1, #mine) ~= mine then return 0 end
local old = redis.call('HGET', KEYS[1], ARGV[4])
if old and string.sub(old, 1, #mine) == mine then redis.call('HDEL', KEYS[1], ARGV[4]) end
redis.call('HSET', KEYS[1], ARGV[1], mine .. ARGV[3])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
";

/// The chat lines of one pass of a node's loop: numbered, kept in the capped history, published as
/// one `lines` message. KEYS: seq, history, history cap. ARGV: node, channel, then the lines (at most
/// `LINES_MAX`: Lua's `unpack` has a limit). Returns the last line's number.
const CHAT: &str = r"
local n = #ARGV - 2
local last = redis.call('INCRBY', KEYS[1], n)
local first = last - n + 1
local cap = tonumber(redis.call('GET', KEYS[3]) or '0')
if cap > 0 then
  local entries = {}
  for i = math.max(1, n - cap + 1), n do
    entries[#entries + 1] = (first + i - 1) .. ' ' .. ARGV[i + 2]
  end
  redis.call('RPUSH', KEYS[2], unpack(entries))
  redis.call('LTRIM', KEYS[2], -cap, -1)
end
redis.call('PUBLISH', ARGV[2], ARGV[1] .. ' lines ' .. first .. '\n' .. table.concat(ARGV, '\n', 3))
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
/// node. Returns how many nodes were lost.
const REAP: &str = r"
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
    redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' lost ' .. node .. ' ' .. table.concat(names, ' '))
    lost = lost + 1
  end
end
return lost
";

/// After the link comes back: make Redis hold exactly this node's users. KEYS: names. ARGV: node,
/// channel, the reason for a leave, then name key and name for each name this node holds or has
/// asked for. Names of this node's that it no longer holds are released, and their leaves published
/// (the users left while the link was down); each name it holds is claimed again (a Redis that
/// restarted empty is filled again). Returns the names that another node claimed meanwhile.
/// Publishes `sync`.
const RECLAIM: &str = r"
local mine = ARGV[1] .. ' '
local wanted = {}
for i = 4, #ARGV, 2 do wanted[ARGV[i]] = ARGV[i + 1] end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i + 1], 1, #mine) == mine and not wanted[all[i]] then
    redis.call('HDEL', KEYS[1], all[i])
    local name = string.sub(all[i + 1], #mine + 1)
    redis.call('PUBLISH', ARGV[2], mine .. 'leave ' .. name .. ' ' .. ARGV[3])
  end
end
local taken = {}
for key, name in pairs(wanted) do
  local holder = redis.call('HGET', KEYS[1], key)
  if not holder then
    redis.call('HSET', KEYS[1], key, mine .. name)
  elseif string.sub(holder, 1, #mine) ~= mine then
    taken[#taken + 1] = name
  end
end
redis.call('PUBLISH', ARGV[2], mine .. 'sync')
return taken
";

/// A clean shutdown, after the users' leaves: the node leaves the cluster now, not when its
/// heartbeat expires, and releases any name still held in its name (a join whose answer was still
/// on its way, say), publishing `bye` with them. KEYS: heartbeat, nodes, names. ARGV: instance id,
/// node, channel.
const BYE: &str = r"
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
if #names > 0 then redis.call('PUBLISH', ARGV[3], mine .. 'bye ' .. table.concat(names, ' ')) end
return #names
";

/// Everyone's names, with a `users TOKEN` marker published in the same atomic step: the node
/// applies the list at the marker's place among the messages, so no join or leave published around
/// the read is applied twice or lost. KEYS: names. ARGV: node, channel, token. Returns HGETALL.
const USERS: &str = r"
redis.call('PUBLISH', ARGV[2], ARGV[1] .. ' users ' .. ARGV[3])
return redis.call('HGETALL', KEYS[1])
";
