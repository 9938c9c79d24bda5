-- Check a patient in: a new visit, its ticket, its place in the queue, its appointment's
-- arrival, and the events, in one atomic step.
-- KEYS queues, rooms, visit (the new one), waiting, service, durations (the queue's history of
--      the current local hour), staffing (its servers by hour), ticket, day, events, audit,
--      stats, seq,
--      idem, and as the caller found them just before: appt, linked (the visit the
--      appointment already has), idem_visit (the visit the idempotency key names).
-- a: visit_id, site, queue, prefix, name, priority, flags, language, appointment_id,
--    early_ms, late_ms, use_idem, idem_seen, linked_seen, idem_ttl, retention_at (epoch
--    seconds: check-in time plus RETENTION_DAYS, so the clock a test injects decides),
--    date, seen (the newest entry of the queue's service record the caller holds, or "").
--    Optional: consented_at (when the patient acknowledged the site's consent texts) and
--    desk_reason (why the kiosk sent the patient to the desk), kept on the visit.
-- Answers {"created", visit_id, event_id, visit JSON, JSON of what its estimate is made from
-- (lib.lua's estimate_inputs: the record, history and staffing false when the record's newest
-- entry is a.seen)}, {"existing", visit_id} for a repeat, or {"retry"} when a link the
-- caller read changed in between.

if a.use_idem then
  local seen = redis.call("GET", K.idem) or ""
  if seen ~= a.idem_seen then return {"retry"} end
  if seen ~= "" and redis.call("EXISTS", K.idem_visit) == 1 then return {"existing", seen} end
end

local appt = nil
if a.appointment_id ~= "" then
  appt = hash(K.appt)
  if not appt.id then return redis.error_reply("unknown_appointment") end
  if appt.status == "cancelled" then return redis.error_reply("appointment_cancelled") end
  local linked = appt.visit_id or ""
  if linked ~= a.linked_seen then return {"retry"} end
  -- A second kiosk (or a retry) with the same appointment gets the first one's visit.
  if linked ~= "" and redis.call("EXISTS", K.linked) == 1 then
    if a.use_idem then redis.call("SET", K.idem, linked, "EX", a.idem_ttl) end
    return {"existing", linked}
  end
end

local state = redis.call("HGET", K.queues, a.queue)
if not state then return redis.error_reply("unknown_queue") end
if state ~= "open" then return redis.error_reply("queue_closed") end

local flags, name, language = a.flags, a.name, a.language
if appt then
  -- Outside the arrival window the desk may still check in; the visit says so.
  local start, now = tonumber(appt.start_ms), tonumber(a.now_ms)
  local window = nil
  if now < start - a.early_ms then window = "early" elseif now > start + a.late_ms then
    window = "late" end
  local has = false
  for _, f in ipairs(flags) do if f == window then has = true end end
  if window and not has then flags[#flags + 1] = window end
  if name == "" then
    name = ((appt.first_name or "") .. " " .. (appt.last_name or "")):match("^%s*(.-)%s*$")
  end
  if language == "" then language = appt.language or "" end
end

local number = redis.call("INCR", K.ticket)
redis.call("EXPIRE", K.ticket, 172800)
local ticket = a.prefix .. string.format("%03d", number)
-- The waiting sets' score: priority first (2 urgent sorts first), then the site-wide
-- arrival sequence, so two check-ins in the same millisecond still keep their order.
-- Built as a string: Lua would print a 16-digit number in exponent form.
local score = tostring(2 - a.priority) .. string.format("%015d", redis.call("INCR", K.seq))
local visit_id = a.visit_id

redis.call("HSET", K.visit,
  "id", visit_id, "site", a.site, "ticket", ticket, "queue", a.queue, "status", "waiting",
  "name", name, "priority", tostring(a.priority), "flags", list_json(flags),
  "appointment_id", a.appointment_id, "language", language, "checked_in_at", a.now,
  "checked_in_ms", a.now_ms, "score", score, "date", a.date)
for _, field in ipairs({"consented_at", "desk_reason"}) do
  if (a[field] or "") ~= "" then redis.call("HSET", K.visit, field, a[field]) end
end
revise(K.visit)
redis.call("ZADD", K.waiting, score, visit_id)
redis.call("SADD", K.day, visit_id)
redis.call("EXPIREAT", K.day, a.retention_at)
if a.use_idem then redis.call("SET", K.idem, visit_id, "EX", a.idem_ttl) end

local visit = hash(K.visit)
visit.position = redis.call("ZRANK", K.waiting, visit_id) + 1
visit = cjson.encode(visit)
-- After the answer is read: a check-in the caller dates far enough back (an import, a
-- test's injected time) is past its retention at once.
redis.call("EXPIREAT", K.visit, a.retention_at)
local event_id = emit("visit.checked_in", "visit", visit,
                      {visit_id = visit_id, ticket = ticket, queue = a.queue,
                       priority = tonumber(a.priority) or 0})

if appt then
  redis.call("HSET", K.appt, "status", "arrived", "visit_id", visit_id)
  local arrived = hash(K.appt)
  arrived.who = nil
  emit("appointment.arrived", "appointment", cjson.encode(arrived),
       {appointment_id = a.appointment_id, visit_id = visit_id})
end
redis.call("HINCRBY", K.stats, "checked_in", 1)
redis.call("HINCRBY", K.stats, "checked_in:" .. a.queue, 1)
redis.call("EXPIRE", K.stats, a.audit_ttl)
return {"created", visit_id, event_id, visit,
  estimate_inputs(K.service, K.durations, K.staffing, a.seen)}
