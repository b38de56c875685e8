"""The Lua scripts that make a Redis session step two round trips: one takes the session's lock and
reads what this process has not seen of it, one writes the step and releases the lock. Redis runs
a script atomically, so no other client sees the lock taken but the session unread, or the turn
written but the lock still held. A step on a session this process saw last takes one: it is
computed on the session as the process left it, and written only if Redis still holds exactly
that (STEP_IF_UNCHANGED).
"""

from __future__ import annotations

# KEYS: lock, meta, turns, index. ARGV: token, lock ms, first turn to read, ttl ms, now (us), id.
# {0}: the lock is taken; {-1}: no such session; {1, meta, new turns}.
LOCK_AND_READ = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
local meta = redis.call('GET', KEYS[2])
if not meta then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[4], ARGV[6])
  return {-1}
end
local turns = redis.call('LRANGE', KEYS[3], ARGV[3], -1)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('ZADD', KEYS[4], 'XX', ARGV[5], ARGV[6])
return {1, meta, turns}
"""

# KEYS: meta, turns, index, lock. ARGV: token, meta JSON, rewrite (1/0), ttl ms, now (us), id,
# then the turns to append. -2: the lock is no longer ours (nothing written); -1: the session is
# gone (its turns and our lock removed); 1: written and unlocked.
SAVE_AND_UNLOCK = """
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return -2 end
if not redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4], 'XX') then
  redis.call('DEL', KEYS[2], KEYS[4])
  return -1
end
if ARGV[3] == '1' then redis.call('DEL', KEYS[2]) end
for i = 7, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], 'XX', ARGV[5], ARGV[6])
redis.call('DEL', KEYS[4])
return 1
"""

# KEYS: meta, turns, index, lock, a marker named by the new meta's revision. ARGV: the SHA-1 of the
# meta this process last read or wrote, the new meta JSON, ttl ms, now (us), id, a deadline (us,
# this host's clock), the marker's ttl ms, then the turns to append. {1}: written (or written by an
# earlier run of this same call: the client sends it again on a new connection when the first
# one's answer was lost, and it must not then be stepped twice). {0}: the meta is another (another
# process stepped or rewrote the session) or the lock is held: nothing written. {-1}: the session
# is gone. {-2, s, us}: Redis ran it past the deadline (it waited in a stalled server, and the
# client may have given up on it): nothing written; with Redis's clock. The meta holds the number
# of turns, their generation, usage, score and the revision of its save, so the same meta is the
# same session.
STEP_IF_UNCHANGED = """
if redis.call('EXISTS', KEYS[5]) == 1 then return {1} end
local now = redis.call('TIME')
if tonumber(now[1]) * 1000000 + tonumber(now[2]) > tonumber(ARGV[6]) then
  return {-2, now[1], now[2]}
end
if redis.call('EXISTS', KEYS[4]) == 1 then return {0} end
local meta = redis.call('GET', KEYS[1])
if not meta then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[5])
  return {-1}
end
if redis.sha1hex(meta) ~= ARGV[1] then return {0} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
for i = 8, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], 'XX', ARGV[4], ARGV[5])
redis.call('SET', KEYS[5], 1, 'PX', ARGV[7])
return {1}
"""

# KEYS: lock. ARGV: token.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lock. ARGV: token, lock ms.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
