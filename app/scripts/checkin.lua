-- Check a patient in: a new visit, its ticket, its place in the queue, and the event,
-- in one atomic step. Answers {"created"|"existing", visit_id, event_id, visit JSON,
-- JSON of the queue's recent call times (for the estimate)}.
local queue_state, visit_key, waiting_key, counter_key, day_key, events_key,
      idem_key, audit_key, stats_key, visit_prefix, seq_key = unpack(KEYS)
local visit_id, site, queue, name, priority, flags, appointment_id, language,
      now_iso, now_ms, prefix, retention_s, maxlen, actor, use_idem,
      audit_ttl, date, appt_key, waiting_prefix, calls_prefix = unpack(ARGV)

local function visit_json(id, key)
  local fields = redis.call("HGETALL", key)
  local visit = {}
  for i = 1, #fields, 2 do visit[fields[i]] = fields[i + 1] end
  local rank = redis.call("ZRANK", waiting_prefix .. (visit["queue"] or ""), id)
  if rank then visit["position"] = rank + 1 end
  return visit
end

local function calls_of(q)
  return cjson.encode(redis.call("LRANGE", calls_prefix .. q, 0, -1))
end

if use_idem == "1" then
  local existing = redis.call("GET", idem_key)
  if existing then
    local visit = visit_json(existing, visit_prefix .. existing)
    if visit["id"] then
      return {"existing", existing, "", cjson.encode(visit), calls_of(visit["queue"])}
    end
  end
end

local state = redis.call("HGET", queue_state, queue)
if not state then return redis.error_reply("unknown_queue") end
if state ~= "open" then return redis.error_reply("queue_closed") end

local number = redis.call("INCR", counter_key)
redis.call("EXPIRE", counter_key, 172800)
local ticket = prefix .. string.format("%03d", number)
-- The waiting sets' score: priority first (2 urgent sorts first), then the site-wide
-- arrival sequence, so two check-ins in the same millisecond still keep their order.
-- Built as a string: Lua would print a 16-digit number in exponent form.
local score = tostring(2 - tonumber(priority)) .. string.format("%015d", redis.call("INCR", seq_key))

redis.call("HSET", visit_key,
  "id", visit_id, "site", site, "ticket", ticket, "queue", queue, "status", "waiting",
  "name", name, "priority", priority, "flags", flags, "appointment_id", appointment_id,
  "language", language, "checked_in_at", now_iso, "checked_in_ms", now_ms,
  "score", score, "date", date)
redis.call("EXPIRE", visit_key, retention_s)
redis.call("ZADD", waiting_key, score, visit_id)
redis.call("SADD", day_key, visit_id)
redis.call("EXPIRE", day_key, retention_s)
if use_idem == "1" then redis.call("SET", idem_key, visit_id, "EX", 86400) end


local visit = cjson.encode(visit_json(visit_id, visit_key))
local event_id = redis.call("XADD", events_key, "MAXLEN", "~", maxlen, "*",
  "type", "visit.checked_in", "at", now_iso, "actor", actor, "visit", visit)
redis.call("RPUSH", audit_key, cjson.encode({id = event_id, type = "visit.checked_in",
  visit_id = visit_id, queue = queue, actor = actor, at = now_iso}))

-- The appointment, if any, is arrived in the same step, and says so on the stream.
if appointment_id ~= "" and redis.call("EXISTS", appt_key) == 1 then
  redis.call("HSET", appt_key, "status", "arrived", "visit_id", visit_id)
  local flat = redis.call("HGETALL", appt_key)
  local appt = {}
  for i = 1, #flat, 2 do appt[flat[i]] = flat[i + 1] end
  appt["who"] = nil
  local appt_event = redis.call("XADD", events_key, "MAXLEN", "~", maxlen, "*",
    "type", "appointment.arrived", "at", now_iso, "actor", actor,
    "appointment", cjson.encode(appt))
  redis.call("RPUSH", audit_key, cjson.encode({id = appt_event, type = "appointment.arrived",
    appointment_id = appointment_id, visit_id = visit_id, actor = actor, at = now_iso}))
end
redis.call("EXPIRE", audit_key, audit_ttl)
redis.call("HINCRBY", stats_key, "checked_in", 1)
redis.call("HINCRBY", stats_key, "checked_in:" .. queue, 1)
redis.call("EXPIRE", stats_key, audit_ttl)
return {"created", visit_id, event_id, visit, calls_of(queue)}
