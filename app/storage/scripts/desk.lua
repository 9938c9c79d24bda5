-- What a PSR records on a visit without moving it: clear a flag, a copay collected, a
-- staff note, a new priority. Each is an event with its actor and an audit entry without
-- personal fields (a copay's amount and method are kept there: the day's money must
-- outlive the visit's personal fields; a note's text is not).
-- KEYS visit, waiting (of the visit's queue as the caller read it: a.queue), events,
--      audit, stats.
-- a: op (flag, copay, note, priority), flag, amount_cents, method, note, priority, final.
-- Answers the visit's JSON, or {"retry"} when its queue changed since the caller read it;
-- refusals (not_found, flag_not_set, final <status>) are error replies.
local visit = hash(K.visit)
if not visit.id then return redis.error_reply("not_found") end
if (visit.queue or "") ~= a.queue then return {"retry"} end

local audit = {visit_id = visit.id, ticket = visit.ticket, queue = visit.queue}
local event_type

if a.op == "flag" then
  local flags, kept, found = cjson.decode(visit.flags or "[]"), {}, false
  for _, f in ipairs(flags) do
    if f == a.flag then found = true else kept[#kept + 1] = f end
  end
  if not found then return redis.error_reply("flag_not_set") end
  redis.call("HSET", K.visit, "flags", list_json(kept))
  audit.flag = a.flag
  event_type = "visit.flag_cleared"
elseif a.op == "copay" then
  local flags, kept = cjson.decode(visit.flags or "[]"), {}
  for _, f in ipairs(flags) do if f ~= "copay_due" then kept[#kept + 1] = f end end
  redis.call("HINCRBY", K.visit, "copay_cents", a.amount_cents)
  redis.call("HSET", K.visit, "flags", list_json(kept), "copay_method", a.method,
             "last_copay_cents", tostring(a.amount_cents))
  redis.call("HINCRBY", K.stats, "copay_cents:" .. a.method, a.amount_cents)
  redis.call("HINCRBY", K.stats, "copays", 1)
  redis.call("EXPIRE", K.stats, a.audit_ttl)
  audit.amount_cents, audit.method = a.amount_cents, a.method
  event_type = "visit.copay_recorded"
elseif a.op == "note" then
  redis.call("HSET", K.visit, "note", a.note)
  event_type = "visit.noted"
elseif a.op == "priority" then
  for _, s in ipairs(a.final) do
    if s == visit.status then return redis.error_reply("final " .. visit.status) end
  end
  redis.call("HSET", K.visit, "priority", tostring(a.priority))
  if visit.status == "waiting" and visit.score then
    -- Same score shape as checkin.lua's: the priority digit, then the arrival sequence,
    -- so the patient keeps their place among equals.
    local score = tostring(2 - a.priority) .. string.sub(visit.score, 2)
    redis.call("HSET", K.visit, "score", score)
    if redis.call("ZSCORE", K.waiting, visit.id) then
      redis.call("ZADD", K.waiting, score, visit.id)
    end
  end
  audit.priority = a.priority
  event_type = "visit.priority_changed"
else
  return redis.error_reply("unknown_op")
end

redis.call("HSET", K.visit, "updated_at", a.now)
revise(K.visit)
local fresh = hash(K.visit)
if fresh.status == "waiting" then
  local rank = redis.call("ZRANK", K.waiting, fresh.id)
  if rank then fresh.position = rank + 1 end
end
local out = cjson.encode(fresh)
emit(event_type, "visit", out, audit)
return out
