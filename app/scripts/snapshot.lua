-- The whole live state of a site and the id of the last event it includes, read in one
-- atomic step so a screen's snapshot and the stream line up exactly.
local queue_state, room_status, room_visit, active_key, events_key = unpack(KEYS)
local visit_prefix, waiting_prefix, calls_prefix, limit = unpack(ARGV)
-- `limit` caps the visits listed per queue (the screens' snapshot); -1 lists them all.

local function hash(key)
  local flat = redis.call("HGETALL", key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function visits(ids)
  local out = {}
  for i, id in ipairs(ids) do out[i] = hash(visit_prefix .. id) end
  return out
end

local last = redis.call("XREVRANGE", events_key, "+", "-", "COUNT", 1)
local event_id = "0-0"
if #last > 0 then event_id = last[1][1] end

local queues = hash(queue_state)
local waiting, totals, calls = {}, {}, {}
for q, _ in pairs(queues) do
  waiting[q] = visits(redis.call("ZRANGE", waiting_prefix .. q, 0, tonumber(limit)))
  totals[q] = redis.call("ZCARD", waiting_prefix .. q)
  calls[q] = redis.call("LRANGE", calls_prefix .. q, 0, -1)
end

return cjson.encode({
  event_id = event_id,
  queues = queues,
  waiting = waiting,
  totals = totals,
  calls = calls,
  active = visits(redis.call("ZRANGE", active_key, 0, -1)),
  rooms = hash(room_status),
  room_visits = hash(room_visit),
})
