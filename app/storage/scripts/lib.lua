-- Prepended to every script (Lua on Redis has no `require`).
-- Every key a script touches arrives in KEYS; ARGV[1] is one JSON object whose `keys` names
-- them in order, so a script says K.events, or K["visit:" .. id] for a record found at run
-- time: a key the caller did not declare is nil, and the script answers "retry" instead of
-- building its name (Redis Cluster routes by the declared keys).
local a = cjson.decode(ARGV[1])
local K = {}
for i, name in ipairs(a.keys) do K[name] = KEYS[i] end

local function hash(key)
  local flat = redis.call("HGETALL", key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- A visit's record was written: it gets a new revision, so that a snapshot can leave out
-- the records its reader holds at their current revision (snapshot.lua). Every script
-- that writes a visit's record calls this once. A count alone could come round again to a
-- revision a reader holds, after Redis lost a write (a failover, a restart from an older
-- save) and the record was written anew: the time of the write tells the two apart.
local function revise(key)
  local count = tonumber((redis.call("HGET", key, "rev") or ""):match("^%d+")) or 0
  redis.call("HSET", key, "rev", (count + 1) .. "@" .. a.now)
end

-- cjson writes an empty table as {}; a list must stay a list.
local function list_json(t)
  if #t == 0 then return "[]" end
  return cjson.encode(t)
end

-- A queue's service record, its history of the current hour and its staffing, from which
-- its wait estimates are made (app/visits/estimates.py); false for all three when the
-- record's newest entry is `seen`: the caller holds them already (the history and the
-- staffing change only along with the record, in move.lua).
local function service_record(record_key, history_key, staffing_key, seen)
  if seen and seen ~= "" and redis.call("LINDEX", record_key, 0) == seen then
    return false, false, false
  end
  return redis.call("LRANGE", record_key, 0, -1),
    history_key and redis.call("LRANGE", history_key, 0, -1) or {},
    staffing_key and hash(staffing_key) or {}
end

-- What the estimate of a visit waiting in a queue is made from, as the JSON a check-in or a
-- move answers: the ids of the site's closed rooms (K.rooms; the estimates leave them out)
-- and the queue's service_record.
local function estimate_inputs(record_key, history_key, staffing_key, seen)
  local closed = {}
  local flat = redis.call("HGETALL", K.rooms)
  for i = 1, #flat, 2 do
    if flat[i + 1] == "closed" then closed[#closed + 1] = flat[i] end
  end
  local record, history, staffing = service_record(record_key, history_key, staffing_key, seen)
  return cjson.encode({closed = closed, record = record, history = history,
                       staffing = staffing})
end

-- Append an event to the site's stream and, when `audit` is given, its personal-field-free
-- copy (ids, actor, action, time) to the day's audit log, which outlives the stream.
-- The event is published on the channel named like the stream, with the id of the event
-- before it: a process following the site that has read up to that id takes the event
-- from the message, and one that has not reads the stream (app/live/hub.py). `a.publish`
-- is PUBLISH, or SPUBLISH on a Cluster (the channel shares the site's slot).
local function emit(event_type, field, value, audit)
  local last = redis.call("XREVRANGE", K.events, "+", "-", "COUNT", 1)
  local fields = {type = event_type, at = a.now, actor = a.actor}
  fields[field] = value
  local event_id = redis.call("XADD", K.events, "MAXLEN", "~", a.maxlen, "*",
    "type", event_type, "at", a.now, "actor", a.actor, field, value)
  redis.call(a.publish or "PUBLISH", K.events, cjson.encode(
    {prev = last[1] and last[1][1] or "0-0", id = event_id, fields = fields}))
  if audit then
    audit.id, audit.type, audit.actor, audit.at = event_id, event_type, a.actor, a.now
    redis.call("RPUSH", K.audit, cjson.encode(audit))
    redis.call("EXPIRE", K.audit, a.audit_ttl)
  end
  return event_id
end

