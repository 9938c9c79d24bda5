-- The whole live state of a site and the id of the last event it includes, read in one
-- atomic step so a screen's snapshot and the stream line up exactly.
-- KEYS queues, rooms, room_visit, active, events, message, help, lobby_calls; "waiting:<q>",
--      "service:<q>", "durations:<q>" (its history of the current hour) and "staffing:<q>"
--      for each of a.queue_ids; "visit:<id>" for each visit the caller found listed just
--      before.
-- a: queue_ids, limit (the last index listed per queue; -1 lists them all), lenient, seen
--    (queue id -> the newest entry of its record the caller holds with that history and
--    staffing: then none has changed and the answer has false for each, not them again),
--    held (visit id -> the revision of its record the caller holds: a record still at
--    that revision is answered as its id alone; see revise() in lib.lua).
-- A visit listed now that the caller did not declare arrived in between: the answer is
-- {"retry": true} — or, when lenient, the state without it (the caller then gives the
-- snapshot the event id it read first, so the skipped change comes as a delta).
-- An id whose visit has expired is dropped from its set here, and a room it held is freed.
local missing = false
local held = a.held or {}

local function visits(set_key, ids)
  local out = {}
  for _, id in ipairs(ids) do
    local key = K["visit:" .. id]
    if not key then
      missing = true
    elseif held[id] and redis.call("HGET", key, "rev") == held[id] then
      out[#out + 1] = id
    else
      local visit = hash(key)
      if visit.id then out[#out + 1] = visit else redis.call("ZREM", set_key, id) end
    end
  end
  return out
end

local queues = hash(K.queues)
local waiting, totals, service, history, staffing = {}, {}, {}, {}, {}
local seen = a.seen or {}
for _, q in ipairs(a.queue_ids) do
  if queues[q] then
    local key = K["waiting:" .. q]
    waiting[q] = visits(key, redis.call("ZRANGE", key, 0, a.limit))
    totals[q] = redis.call("ZCARD", key)
    service[q], history[q], staffing[q] = service_record(K["service:" .. q],
      K["durations:" .. q], K["staffing:" .. q], seen[q])
  end
end
local active = visits(K.active, redis.call("ZRANGE", K.active, 0, -1))

local room_visits = hash(K.room_visit)
for r, id in pairs(room_visits) do
  local key = K["visit:" .. id]
  if not key then
    missing = true
  elseif redis.call("EXISTS", key) == 0 then
    redis.call("HDEL", K.room_visit, r)
    redis.call("HSET", K.rooms, r, "available")
    room_visits[r] = nil
  end
end
if missing and not a.lenient then return cjson.encode({retry = true}) end

local last = redis.call("XREVRANGE", K.events, "+", "-", "COUNT", 1)
local event_id = "0-0"
if #last > 0 then event_id = last[1][1] end

return cjson.encode({
  event_id = event_id,
  queues = queues,
  waiting = waiting,
  totals = totals,
  service = service,
  history = history,
  staffing = staffing,
  active = active,
  rooms = hash(K.rooms),
  room_visits = room_visits,
  message = K.message and redis.call("GET", K.message) or false,
  help = K.help and hash(K.help) or false,
  lobby_calls = K.lobby_calls and redis.call("LRANGE", K.lobby_calls, 0, -1) or false,
})
