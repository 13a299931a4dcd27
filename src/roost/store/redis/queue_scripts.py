"""Key layout and Lua scripts of ``RedisQueueStore``.

Every mutation of a queue is one script, so it is atomic on the server; the
caller passes its clock reading (``now_ms``) in, which keeps the scripts free
of ``TIME`` and lets tests drive them with a fake clock. Each script starts
with ``#!lua`` so that Redis refuses it up front when out of memory instead of
failing halfway through its writes (a script that fails halfway keeps what it
wrote); the scripts check their arguments before writing for the same reason.

Per queue (``{ns}:queue:{<name>}:...``; the hash tag keeps one queue's keys in
one Cluster slot):

- ``meta``: hash, message member -> ``"<id> <sent_ms> <count> <first_ms> <token>"``
  (``first_ms`` 0 and an empty token until the first receive);
- ``body``: hash, message member -> body;
- ``visible``: sorted set, member scored by when it is next visible (ms): the
  oldest-first order, and hidden/visible bookkeeping;
- ``sent``: sorted set, member scored by its sequence: the newest-first order
  and the oldest message;
- ``delayed``: sorted set of the messages sent with a delay and never received,
  scored like ``visible``: depth tells delayed from in-flight with it.

A member is the message's sequence (one counter for every queue) zero-padded
to 16 digits, so equal visibility scores sort in send order. Beside them, a set
of the names of non-empty queues and the wake channel (see ``queue_wakeups``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from roost.store.redis.connection import RedisConnection

# Wide enough for every sequence a double holds exactly (2**53 has 16 digits).
MEMBER_DIGITS = 16


def member(sequence: int) -> str:
    """The sorted-set member and hash field naming message ``sequence``."""
    return f"{sequence:0{MEMBER_DIGITS}d}"


@dataclass(frozen=True)
class QueueKeys:
    """The Redis keys of one queue, in the order the scripts take them."""

    meta: str
    body: str
    visible: str
    sent: str
    delayed: str

    @classmethod
    def of(cls, connection: RedisConnection, queue: str) -> QueueKeys:
        """The keys of ``queue`` under ``connection``'s namespace."""
        tag = "{" + queue + "}"
        return cls(
            *(
                connection.key("queue", tag, part)
                for part in ("meta", "body", "visible", "sent", "delayed")
            )
        )

    def all(self) -> list[str]:
        """Every key, in script order."""
        return [self.meta, self.body, self.visible, self.sent, self.delayed]


# Message ids are uuid4 hex: a group's ids travel as one string of them.
MESSAGE_ID_CHARS = 32
# Messages per multi-member HSET/ZADD in SEND (Lua's stack bounds ``unpack``).
_SEND_CHUNK = 1000


def pack_bodies(bodies: Sequence[bytes]) -> bytes:
    """Bodies as one SEND argument: each one preceded by its length (4 bytes, big-endian).

    One argument per group, not one per message: encoding thousands of
    arguments is most of a large call's cost in redis-py.
    """
    return b"".join(part for body in bodies for part in (len(body).to_bytes(4, "big"), body))


# KEYS: index, sequence, then 5 keys per group (QueueKeys order).
# ARGV: now_ms, wake channel, total messages, then per group:
#       queue, delay_ms, count, message ids (concatenated), pack_bodies(bodies).
# Several sends (to one queue or several) share a call; every group is stored.
SEND = """#!lua
local function call_chunked(command, key, items)
  for i = 1, #items, 2 * __CHUNK__ do
    redis.call(command, key, unpack(items, i, math.min(i + 2 * __CHUNK__ - 1, #items)))
  end
end
local now = ARGV[1]
local total = tonumber(ARGV[3])
local sequence = redis.call('INCRBY', KEYS[2], total) - total
local woken = {}
local a = 4
local k = 3
while a <= #ARGV do
  local queue, delay, count = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local ids, bodies = ARGV[a + 3], ARGV[a + 4]
  local visible_at = tonumber(now) + delay
  local metas, texts, visible, sent = {}, {}, {}, {}
  local at = 1
  for i = 1, count do
    sequence = sequence + 1
    local m = string.format('%016d', sequence)
    local length
    length, at = struct.unpack('>I4', bodies, at)
    local id = string.sub(ids, __ID_CHARS__ * (i - 1) + 1, __ID_CHARS__ * i)
    metas[#metas + 1] = m
    metas[#metas + 1] = id .. ' ' .. now .. ' 0 0 '
    texts[#texts + 1] = m
    texts[#texts + 1] = string.sub(bodies, at, at + length - 1)
    visible[#visible + 1] = visible_at
    visible[#visible + 1] = m
    sent[#sent + 1] = sequence
    sent[#sent + 1] = m
    at = at + length
  end
  call_chunked('HSET', KEYS[k], metas)
  call_chunked('HSET', KEYS[k + 1], texts)
  call_chunked('ZADD', KEYS[k + 2], visible)
  call_chunked('ZADD', KEYS[k + 3], sent)
  if delay > 0 then
    call_chunked('ZADD', KEYS[k + 4], visible)
  end
  if count > 0 then
    redis.call('SADD', KEYS[1], queue)
    if delay == 0 and not woken[queue] then
      woken[queue] = true
      redis.call('PUBLISH', ARGV[2], queue)
    end
  end
  a = a + 5
  k = k + 5
end
return sequence
""".replace("__CHUNK__", str(_SEND_CHUNK)).replace("__ID_CHARS__", str(MESSAGE_ID_CHARS))

# KEYS: QueueKeys. ARGV: now_ms, max_messages, hide_ms, "newest" or "oldest", token.
# Returns {next_visible_ms or false, {member, id, body, sent_ms, count, first_ms}...}.
RECEIVE = """#!lua
local now = tonumber(ARGV[1])
local wanted = tonumber(ARGV[2])
local hidden_until = now + tonumber(ARGV[3])
local token = ARGV[5]
local members
if ARGV[4] == 'newest' then
  -- Newest sent first, stepping over the hidden ones sent after them.
  members = {}
  local start = 0
  local chunk = math.max(wanted, 64)
  while #members < wanted do
    local candidates = redis.call('ZREVRANGE', KEYS[4], start, start + chunk - 1)
    if #candidates == 0 then break end
    for _, m in ipairs(candidates) do
      if tonumber(redis.call('ZSCORE', KEYS[3], m)) <= now then
        members[#members + 1] = m
        if #members == wanted then break end
      end
    end
    start = start + chunk
  end
else
  -- Ties (equal scores) come in member order, which is send order.
  members = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, wanted)
end
if #members == 0 then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {first[2] or false}
end
local delayed = redis.call('EXISTS', KEYS[5]) == 1
local out = {false}
for _, m in ipairs(members) do
  local id, sent, count, first = string.match(
    redis.call('HGET', KEYS[1], m), '^(%S+) (%d+) (%d+) (%d+) ')
  count = tonumber(count) + 1
  if first == '0' then first = ARGV[1] end
  redis.call('HSET', KEYS[1], m, id .. ' ' .. sent .. ' ' .. count .. ' ' .. first .. ' ' .. token)
  redis.call('ZADD', KEYS[3], hidden_until, m)
  if delayed then redis.call('ZREM', KEYS[5], m) end
  out[#out + 1] = {m, id, redis.call('HGET', KEYS[2], m), sent, count, first}
end
return out
"""

# Shared by DELETE and HIDE: the message's metadata if ARGV[1]'s receipt token
# (ARGV[2]) is its latest, else nil.
_FIND = """
local function find()
  local meta = redis.call('HGET', KEYS[1], ARGV[1])
  if meta and string.match(meta, ' (%S*)$') == ARGV[2] then return meta end
  return nil
end
"""

# KEYS: QueueKeys, index. ARGV: member, token, queue. Returns 1 if deleted.
DELETE = (
    "#!lua\n"
    + _FIND
    + """
if not find() then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[6], ARGV[3])
end
return 1
"""
)

# KEYS: QueueKeys. ARGV: member, token, visible_at_ms, now_ms, queue, wake channel.
# Returns 1 if changed; a message visible at once wakes the queue's long polls.
HIDE = (
    "#!lua\n"
    + _FIND
    + """
if not find() then return 0 end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if tonumber(ARGV[3]) <= tonumber(ARGV[4]) then
  redis.call('PUBLISH', ARGV[6], ARGV[5])
end
return 1
"""
)

# KEYS: QueueKeys. ARGV: now_ms. Returns {visible, hidden, delayed (still hidden)}.
DEPTH = """#!lua flags=no-writes
local now = ARGV[1]
return {
  redis.call('ZCOUNT', KEYS[3], '-inf', now),
  redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf'),
  redis.call('ZCOUNT', KEYS[5], '(' .. now, '+inf'),
}
"""

# KEYS: QueueKeys. Returns the first-sent message's send time (ms), or false.
OLDEST_SENT = """#!lua flags=no-writes
local first = redis.call('ZRANGE', KEYS[4], 0, 0)
if #first == 0 then return false end
return string.match(redis.call('HGET', KEYS[1], first[1]), '^%S+ (%d+) ')
"""
