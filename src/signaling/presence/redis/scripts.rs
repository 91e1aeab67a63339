//! The Lua scripts behind Redis presence: each change to a room's members is one script, so it is
//! atomic on the Redis server however many instances race.

/// Lua: the live socket total of participant hash KEYS[1], counting only instances whose
/// heartbeat key (ARGV[1] .. instance) exists; ARGV[2] is the calling instance (always alive).
pub(super) const LIVE_TOTAL: &str = r"
local function live_total(key, hb_prefix, me)
  local total = 0
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    local f = fields[i]
    if string.sub(f, 1, 2) == 's:' then
      local inst = string.sub(f, 3)
      if inst == me or redis.call('EXISTS', hb_prefix .. inst) == 1 then
        total = total + tonumber(fields[i + 1])
      end
    end
  end
  return total
end
";

/// KEYS: participant hash, room index, rooms set. ARGV: hb prefix, instance, pid, name, role,
/// since, ttl, room.
pub(super) const ARRIVE: &str = r"
redis.call('SADD', KEYS[3], ARGV[8])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
if redis.call('EXISTS', KEYS[1]) == 1 then
  local had = live_total(KEYS[1], ARGV[1], ARGV[2])
  redis.call('HINCRBY', KEYS[1], 's:' .. ARGV[2], 1)
  redis.call('HINCRBY', KEYS[1], 'epoch', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
  return {0, had}
end
redis.call('HSET', KEYS[1], 'name', ARGV[4], 'role', ARGV[5], 'since', ARGV[6], 'hand', 0, 'audio', 1, 'video', 1, 'status', 0, 'epoch', 1, 's:' .. ARGV[2], 1)
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return {1, 0}
";

/// Puts one participant with sockets on this instance back after Redis lost or missed changes:
/// its hash (recreated with the given name, role and arrival when missing), its exact socket
/// count for this instance, its place in the room index and the room in the rooms set.
/// KEYS: participant hash, room index, rooms set. ARGV: instance, pid, name, role, since, ttl,
/// room, sockets.
pub(super) const RESYNC: &str = r"
redis.call('SADD', KEYS[3], ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
local created = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'name', ARGV[3], 'role', ARGV[4], 'since', ARGV[5], 'hand', 0, 'audio', 1, 'video', 1, 'status', 0, 'epoch', 1)
  created = 1
end
redis.call('HSET', KEYS[1], 's:' .. ARGV[1], ARGV[8])
redis.call('HDEL', KEYS[1], 'zero_since')
redis.call('ZADD', KEYS[2], 'NX', ARGV[5], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return created
";

/// KEYS: participant hash, presenter. ARGV: hb prefix, instance, pid.
pub(super) const SOCKET_CLOSED: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0} end
local n = redis.call('HINCRBY', KEYS[1], 's:' .. ARGV[2], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], 's:' .. ARGV[2]) end
local total = live_total(KEYS[1], ARGV[1], ARGV[2])
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
local stopped = 0
if total <= 0 and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
  stopped = 1
end
local last = 0
if total <= 0 then last = 1 end
return {last, epoch, stopped}
";

/// KEYS: participant hash. ARGV: hb prefix, instance, epoch.
pub(super) const STILL_GONE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if live_total(KEYS[1], ARGV[1], ARGV[2]) > 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0') ~= tonumber(ARGV[3]) then return 0 end
return 1
";

/// KEYS: participant hash, room index, presenter. ARGV: pid.
pub(super) const DEPART: &str = r"
local role = redis.call('HGET', KEYS[1], 'role')
if not role then return {0, 0, 0, ''} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local pres = 0
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
  pres = 1
end
local host = 0
if role == 'host' then host = 1 end
local succ = redis.call('ZRANGE', KEYS[2], 0, 0)
return {1, host, pres, succ[1] or ''}
";

/// A participant whose sockets all belonged to instances that died is reaped after the grace:
/// the first look records `zero_since`, a later one past the grace answers 1.
/// KEYS: participant hash. ARGV: hb prefix, instance, now, grace.
pub(super) const REAP_CHECK: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if live_total(KEYS[1], ARGV[1], ARGV[2]) > 0 then
  redis.call('HDEL', KEYS[1], 'zero_since')
  return 0
end
local since = redis.call('HGET', KEYS[1], 'zero_since')
if not since then
  redis.call('HSET', KEYS[1], 'zero_since', ARGV[3])
  return 0
end
if tonumber(ARGV[3]) - tonumber(since) >= tonumber(ARGV[4]) then return 1 end
return 0
";

/// KEYS: participant hash. ARGV: field, value, field, value…
pub(super) const SET_FLAGS: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
";

/// KEYS: presenter, participant hash. ARGV: pid, ttl.
pub(super) const START_PRESENTING: &str = r"
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// KEYS: presenter. ARGV: pid.
pub(super) const STOP_PRESENTING: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";
