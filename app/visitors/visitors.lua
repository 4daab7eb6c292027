-- Every change to the unknown visitors, each one atomic (app/visitors/store.py).
-- ARGV[1] key prefix, ARGV[2] log cap, ARGV[3] command, then the command's arguments.
-- Keys are built from the prefix, so this runs on one Redis (not a cluster), as the gallery does.
local P, LOGMAX, CMD = ARGV[1], tonumber(ARGV[2]), ARGV[3]

local function logged(op, sid, vid, vec)
  redis.call('INCR', P .. 'visitors:version')
  redis.call('XADD', P .. 'visitors:log', 'MAXLEN', '~', LOGMAX, '*', 'op', op, 'sid', sid, 'vid', vid, 'vec', vec)
end

-- a visitor's last sighting orders the list; a visitor without sightings is gone
local function refresh(vid)
  local last = redis.call('ZRANGE', P .. 'visitor:' .. vid, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('ZREM', P .. 'visitors', vid)
  else
    redis.call('ZADD', P .. 'visitors', last[2], vid)
  end
end

local function remove(sid)
  local vid = redis.call('HGET', P .. 'visitors:of', sid)
  if not vid then return 0 end
  for _, hash in ipairs({'vec', 'thumb', 'meta', 'of'}) do redis.call('HDEL', P .. 'visitors:' .. hash, sid) end
  redis.call('ZREM', P .. 'visitors:seen', sid)
  redis.call('ZREM', P .. 'visitor:' .. vid, sid)
  refresh(vid)
  logged('remove', sid, vid, '')
  return 1
end

-- the caps: sightings older than the cutoff, then the oldest beyond the count; at most 64
-- per call so that no call blocks Redis for long (each sighting added removes one when full)
local function trim(cutoff, maxcount)
  local n = 0
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'visitors:seen', '-inf', '(' .. cutoff, 'LIMIT', 0, 64)) do
    n = n + remove(sid)
  end
  local over = redis.call('ZCARD', P .. 'visitors:seen') - maxcount
  if over > 0 then
    for _, sid in ipairs(redis.call('ZRANGE', P .. 'visitors:seen', 0, math.min(over, 64) - 1)) do
      n = n + remove(sid)
    end
  end
  return n
end

-- whether vec is within `within` of most (more than half) of the visitor's `last` newest
-- sightings (leaving out sighting `skip`): a face near one sighting only (a chain through
-- look-alikes) does not join
local function near_most(vid, vec, within, last, skip)
  local members = {}
  for _, sid in ipairs(redis.call('ZREVRANGE', P .. 'visitor:' .. vid, 0, last)) do
    if sid ~= skip and #members < last then members[#members + 1] = sid end
  end
  if #members == 0 then return false end
  local vecs = redis.call('HMGET', P .. 'visitors:vec', unpack(members))
  local dim = #vec / 4
  local fmt = '<' .. string.rep('f', dim)
  local x = {struct.unpack(fmt, vec)}
  local limit, near, n = within * within, 0, 0
  for i = 1, #vecs do
    local other = vecs[i]
    if other and #other == #vec then
      n = n + 1
      local y = {struct.unpack(fmt, other)}
      local d = 0
      for j = 1, dim do
        local t = x[j] - y[j]
        d = d + t * t
      end
      if d <= limit then near = near + 1 end
    end
  end
  return 2 * near > n
end

if CMD == 'add' then
  -- sid, vid, new ('1': start visitor vid), vec, thumb, meta, time, cutoff, max count, then to
  -- join (new '0'): the distance within which the face must be of most of the visitor's newest
  -- sightings, and how many of them are looked at (distance 0: no check)
  local sid, vid, new, vec, time = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[10]
  local exists = redis.call('EXISTS', P .. 'visitor:' .. vid) == 1
  if exists ~= (new == '0') then return -1 end  -- joined a visitor merged or forgotten meanwhile
  local within = tonumber(ARGV[13] or '0')
  if new == '0' and within > 0 and not near_most(vid, vec, within, tonumber(ARGV[14]), '') then
    return -2  -- the visitor changed meanwhile, and the face is no longer near most of it
  end
  redis.call('HSET', P .. 'visitors:vec', sid, vec)
  redis.call('HSET', P .. 'visitors:thumb', sid, ARGV[8])
  redis.call('HSET', P .. 'visitors:meta', sid, ARGV[9])
  redis.call('HSET', P .. 'visitors:of', sid, vid)
  redis.call('ZADD', P .. 'visitors:seen', time, sid)
  redis.call('ZADD', P .. 'visitor:' .. vid, time, sid)
  refresh(vid)
  logged('add', sid, vid, vec)
  return trim(ARGV[11], tonumber(ARGV[12]))
elseif CMD == 'refine' then
  -- sid, vid, new, vec, thumb, meta, time, weight, within, last: the visit's sighting `sid` gets
  -- the visit's vector so far (its faces' mean over `weight` of quality) and joins visitor `vid`
  -- (new '1': starts it; '0': an existing one, checked as 'add' checks); the thumbnail and
  -- meta only when the face is better than the stored one. 0: a newer mean is stored already
  local sid, vid, new, vec, time, weight = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[10], tonumber(ARGV[11])
  local old = redis.call('HGET', P .. 'visitors:of', sid)
  if not old then return -3 end   -- named, forgotten or trimmed meanwhile
  local meta = cjson.decode(redis.call('HGET', P .. 'visitors:meta', sid))
  if (meta.weight or 0) >= weight then return 0 end
  local within, last = tonumber(ARGV[12]), tonumber(ARGV[13])
  if vid ~= old then
    local exists = redis.call('EXISTS', P .. 'visitor:' .. vid) == 1
    if exists ~= (new == '0') then return -1 end
    if new == '0' and within > 0 and not near_most(vid, vec, within, last, sid) then return -2 end
  elseif within > 0 and redis.call('ZCARD', P .. 'visitor:' .. vid) > 1 and not near_most(vid, vec, within, last, sid) then
    return -2   -- no longer near most of its own visitor's other sightings
  end
  local better = cjson.decode(ARGV[9])
  if better.quality > meta.quality then
    redis.call('HSET', P .. 'visitors:thumb', sid, ARGV[8])
    meta = better
  end
  meta.weight, meta.time = weight, tonumber(time)
  redis.call('HSET', P .. 'visitors:vec', sid, vec)
  redis.call('HSET', P .. 'visitors:meta', sid, cjson.encode(meta))
  redis.call('HSET', P .. 'visitors:of', sid, vid)
  redis.call('ZADD', P .. 'visitors:seen', time, sid)
  if vid ~= old then redis.call('ZREM', P .. 'visitor:' .. old, sid) end
  redis.call('ZADD', P .. 'visitor:' .. vid, time, sid)
  refresh(old)
  refresh(vid)
  logged('update', sid, vid, vec)
  return 1
elseif CMD == 'move' then
  -- vid, new ('1': a visitor the re-clustering starts), then the sightings that move to it;
  -- -1 when vid was forgotten or named meanwhile (or a new one exists): nothing moves
  local vid, from, moved = ARGV[4], {}, 0
  if (redis.call('EXISTS', P .. 'visitor:' .. vid) == 1) ~= (ARGV[5] == '0') then return -1 end
  for i = 6, #ARGV do
    local sid = ARGV[i]
    local old = redis.call('HGET', P .. 'visitors:of', sid)
    if old and old ~= vid then
      redis.call('ZREM', P .. 'visitor:' .. old, sid)
      redis.call('ZADD', P .. 'visitor:' .. vid, redis.call('ZSCORE', P .. 'visitors:seen', sid), sid)
      redis.call('HSET', P .. 'visitors:of', sid, vid)
      from[old] = true
      moved = moved + 1
      logged('move', sid, vid, '')
    end
  end
  for old in pairs(from) do refresh(old) end
  if moved > 0 then refresh(vid) end
  return moved
elseif CMD == 'forget' then
  -- vid: every sighting of it; then sightings to remove wherever they are now (a named visitor's
  -- enrolled faces, which a re-clustering may have moved to another visitor meanwhile)
  local n = 0
  for _, sid in ipairs(redis.call('ZRANGE', P .. 'visitor:' .. ARGV[4], 0, -1)) do n = n + remove(sid) end
  for i = 5, #ARGV do n = n + remove(ARGV[i]) end
  return n
elseif CMD == 'trim' then
  return trim(ARGV[4], tonumber(ARGV[5]))
end
return redis.error_reply('unknown command ' .. CMD)
