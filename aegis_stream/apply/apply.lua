-- Apply one pre-aggregated batch to a partition's views, atomically with the
-- checkpoint advance and the XACK of every entry in the batch.
--
-- KEYS[1] stream  KEYS[2] checkpoint hash  KEYS[3] lease  KEYS[4] dead-letter stream
-- KEYS[5..] view keys, referenced by 1-based index from the ops below
-- ARGV[1] group  ARGV[2] lease token ("" = no lease check)
-- ARGV[3] first id in batch  ARGV[4] last id in batch  ARGV[5] now (ms)
-- ARGV[6] msgpack ops: {h = {ki, field, delta, ...}, n = {ki, field, value, ...},
--                       x = {ki, at_ms, ...}, d = {id, reason, payload, ...},
--                       z = {ki, score, member, ...} (event ids seen), zt = {ki, floor},
--                       t = minid (trim the stream below it, "" = keep),
--                       c = {events, dead, late, duplicates},
--                       cm = {map ki, first-seen ki, profile ki, overflow field, value, delta, id,
--                             order list ki, ...},
--                       cap = most values a capped map may hold,
--                       lo / hi = {ki, field, fixed-width value, ...} (keep the least / greatest),
--                       g = {ki, start s, start us, end s, end us, ...} (activity clusters),
--                       r = {numbers ki, order key, ...} (audit log rows, in stream order),
--                       l = {ki, n, row 1..n, ...} (audit log index lists, appended; a row is
--                            its 0-based position among the order keys of r),
--                       k = {id, ...} (entries to acknowledge)}
--
-- Returns {"ok", last} | {"stale", checkpoint} | {"lease", holder}.
-- The fence: a batch whose first id is not above the checkpoint was applied
-- before (redelivery, rewound group, a second process); it changes nothing.

local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

local function above(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am > bm end
  return as > bs
end

if ARGV[2] ~= '' then
  local holder = redis.call('GET', KEYS[3])
  if holder ~= ARGV[2] then
    return {'lease', holder or ''}
  end
end

local checkpoint = redis.call('HGET', KEYS[2], 'id')
if checkpoint and not above(ARGV[3], checkpoint) then
  return {'stale', checkpoint}
end

local ops = cmsgpack.unpack(ARGV[6])
local h = ops['h'] or {}
for i = 1, #h, 3 do
  redis.call('HINCRBY', KEYS[4 + h[i]], h[i + 1], h[i + 2])
end
local n = ops['n'] or {}
for i = 1, #n, 3 do
  redis.call('HSETNX', KEYS[4 + n[i]], n[i + 1], n[i + 2])
end
-- A capped map admits new values, in the order given (first occurrence in the
-- stream), until it holds `cap` of them; later new values count as overflow.
-- The order makes the admitted set the same however the log is batched.
-- Each admitted value is also appended to the map's order list, so readers get
-- first-seen order without sorting.
local cm = ops['cm'] or {}
local cap = tonumber(ops['cap']) or 0
for i = 1, #cm, 8 do
  local map = KEYS[4 + cm[i]]
  if redis.call('HEXISTS', map, cm[i + 4]) == 1 then
    redis.call('HINCRBY', map, cm[i + 4], cm[i + 5])
  elseif redis.call('HLEN', map) < cap then
    redis.call('HSET', map, cm[i + 4], cm[i + 5])
    redis.call('HSET', KEYS[4 + cm[i + 1]], cm[i + 4], cm[i + 6])
    redis.call('RPUSH', KEYS[4 + cm[i + 7]], cm[i + 4])
  else
    redis.call('HINCRBY', KEYS[4 + cm[i + 2]], cm[i + 3], cm[i + 5])
  end
end
local lo = ops['lo'] or {}
for i = 1, #lo, 3 do
  local current = redis.call('HGET', KEYS[4 + lo[i]], lo[i + 1])
  if not current or lo[i + 2] < current then
    redis.call('HSET', KEYS[4 + lo[i]], lo[i + 1], lo[i + 2])
  end
end
local hi = ops['hi'] or {}
for i = 1, #hi, 3 do
  local current = redis.call('HGET', KEYS[4 + hi[i]], hi[i + 1])
  if not current or hi[i + 2] > current then
    redis.call('HSET', KEYS[4 + hi[i]], hi[i + 1], hi[i + 2])
  end
end
-- Activity clusters (see project/activity.py): merge each of the batch's clusters
-- with every stored one within an hour of it. Stored clusters are disjoint and more
-- than an hour apart, and scored by their start second. Of those starting in an
-- earlier second than the new cluster, only the last can reach it; of the rest,
-- those starting up to an hour after its end (one of them may start in the same
-- second, before or after it). Times travel as (seconds, microseconds) so that
-- Lua's doubles stay exact.
local GAP_US = 3600000000
local function minus(as, au, bs, bu) return (as - bs) * 1000000 + (au - bu) end
local g = ops['g'] or {}
for i = 1, #g, 5 do
  local key = KEYS[4 + g[i]]
  local s1, u1, s2, u2 = g[i + 1], g[i + 2], g[i + 3], g[i + 4]
  local near = redis.call('ZREVRANGEBYSCORE', key, '(' .. s1, '-inf', 'LIMIT', 0, 1)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, s1, s2 + 3601)) do
    near[#near + 1] = m
  end
  for _, m in ipairs(near) do
    local cs1, cu1, cs2, cu2 = string.match(m, '^(%d+):(%d+):(%d+):(%d+)$')
    cs1, cu1, cs2, cu2 = tonumber(cs1), tonumber(cu1), tonumber(cs2), tonumber(cu2)
    if minus(cs1, cu1, s2, u2) <= GAP_US and minus(s1, u1, cs2, cu2) <= GAP_US then
      redis.call('ZREM', key, m)
      if minus(cs1, cu1, s1, u1) < 0 then s1, u1 = cs1, cu1 end
      if minus(cs2, cu2, s2, u2) > 0 then s2, u2 = cs2, cu2 end
    end
  end
  redis.call('ZADD', key, s1, string.format('%d:%d:%d:%d', s1, u1, s2, u2))
end
-- Audit log rows (written before this script, by stream position) are numbered on
-- from the events already applied (the checkpoint's counter, advanced below), so the
-- numbers follow the stream order and a replay gives the same ones. Numbers and index
-- lists are written only here, past the fence: RPUSH is not idempotent, and the fence
-- is what makes it exactly once.
local r = ops['r'] or {}
if #r > 1 then
  local seq = tonumber(redis.call('HGET', KEYS[2], 'events') or '0')
  local seqs = KEYS[4 + r[1]]
  for i = 2, #r, 250 do
    local args = {}
    for j = i, math.min(i + 249, #r) do
      seq = seq + 1
      args[#args + 1] = r[j]
      args[#args + 1] = string.format('%d', seq)
    end
    redis.call('HSET', seqs, unpack(args))
  end
end
-- the rows themselves: payload j + 1 of w is the row of order key j + 1 of r
local w = ops['w'] or {}
if #w > 1 then
  local rows = KEYS[4 + w[1]]
  for i = 2, #w, 250 do
    local args = {}
    for j = i, math.min(i + 249, #w) do
      args[#args + 1] = r[j]
      args[#args + 1] = w[j]
    end
    redis.call('HSET', rows, unpack(args))
  end
end
local l = ops['l'] or {}
local i = 1
while i <= #l do
  local key, n = KEYS[4 + l[i]], l[i + 1]
  for j = i + 2, i + 1 + n, 500 do
    local members = {}
    for m = j, math.min(j + 499, i + 1 + n) do
      members[#members + 1] = r[l[m] + 2]  -- a position in the batch's rows: its order key
    end
    redis.call('RPUSH', key, unpack(members))
  end
  i = i + 2 + n
end
local x = ops['x'] or {}
for i = 1, #x, 2 do
  redis.call('PEXPIREAT', KEYS[4 + x[i]], x[i + 1])
end
local d = ops['d'] or {}
for i = 1, #d, 3 do
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '100000', '*',
    'id', d[i], 'reason', d[i + 1], 'payload', d[i + 2])
end

local z = ops['z'] or {}
for i = 1, #z, 3 do
  redis.call('ZADD', KEYS[4 + z[i]], z[i + 1], z[i + 2])
end
local zt = ops['zt'] or {}
if #zt == 2 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4 + zt[1]], '-inf', '(' .. zt[2])
end
-- Trim only below what this batch has applied (the caller passes min(last, now - retention)).
if ops['t'] and ops['t'] ~= '' then
  redis.call('XTRIM', KEYS[1], 'MINID', '~', ops['t'])
end

local c = ops['c'] or {0, 0, 0, 0}
redis.call('HSET', KEYS[2], 'id', ARGV[4], 'applied_ms', ARGV[5])
redis.call('HINCRBY', KEYS[2], 'events', c[1])
redis.call('HINCRBY', KEYS[2], 'dead', c[2])
redis.call('HINCRBY', KEYS[2], 'late', c[3])
redis.call('HINCRBY', KEYS[2], 'duplicates', c[4] or 0)
-- acknowledge in chunks: unpack() of thousands of ids would overflow Lua's C stack
local k = ops['k'] or {}
for i = 1, #k, 500 do
  redis.call('XACK', KEYS[1], ARGV[1], unpack(k, i, math.min(i + 499, #k)))
end
return {'ok', ARGV[4]}
