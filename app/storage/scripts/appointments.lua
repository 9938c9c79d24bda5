-- Appointments: store one imported appointment, or mark a day's no-shows (an arrival is
-- checkin.lua's, in the check-in's own step). a.op names the move; each is one atomic step
-- with its event, so two processes importing or sweeping at once never count or mark
-- anything twice.
--
-- upsert  KEYS appt, events, audit, and codes, who, day, stats of the appointment's day;
--              old_codes, old_who, old_day, old_stats of the day it is stored under now
--         a: id, fields, status, code (given or ""), candidates, day, who, expire_at,
--            old_date, old_who (as the caller read them just before)
--         -> {"created"|"updated"|"unchanged", id, code, event id}, {"retry"} when the
--            stored day or who changed in between; error "code_taken <code>"
-- noshow  KEYS day, events, audit, stats; "appt:<id>" for each id the caller found before
--              the cutoff
--         a: cutoff_ms (exclusive)
--         -> the ids marked noshow

local function emit_appointment(event_type, key, id)
  local appt = hash(key)
  appt.who = nil
  -- The audit log outlives personal fields, so it holds ids only.
  return emit(event_type, "appointment", cjson.encode(appt), {appointment_id = id})
end

local function count(stats_key, status, delta)
  if not stats_key then return end
  redis.call("HINCRBY", stats_key, "appointments", delta)
  if status == "cancelled" or status == "noshow" then
    redis.call("HINCRBY", stats_key, "appointments_" .. status, delta)
  end
  redis.call("EXPIRE", stats_key, a.audit_ttl)
end

-- An import may cancel or re-book; it never undoes what happened here (arrived,
-- fulfilled, a no-show), unless the appointment moved to a new time.
local function resolve(current, incoming, moved)
  if not current then return incoming end
  if incoming == "booked" then
    if current == "cancelled" or (current == "noshow" and moved) then return "booked" end
    return current
  end
  if incoming == "cancelled" and (current == "arrived" or current == "fulfilled") then
    return current
  end
  return incoming
end

if a.op == "upsert" then
  local id = a.id
  local cur = hash(K.appt)
  if (cur.date or "") ~= a.old_date or (cur.who or "") ~= a.old_who then return {"retry"} end
  local exists = cur.id ~= nil
  local new = a.fields

  local function free(c)
    local holder = redis.call("HGET", K.codes, c)
    return (not holder) or holder == id
  end

  local code = nil
  if a.code ~= "" then
    if not free(a.code) then return redis.error_reply("code_taken " .. a.code) end
    code = a.code
  elseif exists and (cur.code or "") ~= "" and free(cur.code) then
    code = cur.code
  else
    for _, c in ipairs(a.candidates) do
      if free(c) then code = c break end
    end
  end
  if not code then return redis.error_reply("code_taken") end

  new.code = code
  new.status = resolve(cur.status, a.status, exists and cur.start_ms ~= new.start_ms)
  new.date = a.day
  new.who = a.who

  if exists then
    local same = true
    for k, v in pairs(new) do
      if cur[k] ~= v then same = false break end
    end
    if same then return {"unchanged", id, code, ""} end
    if a.old_date ~= "" then
      if (a.old_date ~= a.day or cur.code ~= code) and cur.code
          and redis.call("HGET", K.old_codes, cur.code) == id then
        redis.call("HDEL", K.old_codes, cur.code)
      end
      if a.old_who ~= "" then redis.call("SREM", K.old_who, id) end
      if a.old_date ~= a.day then redis.call("ZREM", K.old_day, id) end
      count(K.old_stats, cur.status, -1)
    end
  end

  local flat = {}
  for k, v in pairs(new) do
    flat[#flat + 1] = k
    flat[#flat + 1] = v
  end
  redis.call("HSET", K.appt, unpack(flat))
  -- The indexes expire with the records they point to.
  redis.call("EXPIREAT", K.appt, a.expire_at)
  redis.call("HSET", K.codes, code, id)
  redis.call("EXPIREAT", K.codes, a.expire_at)
  redis.call("SADD", K.who, id)
  redis.call("EXPIREAT", K.who, a.expire_at)
  redis.call("ZADD", K.day, new.start_ms, id)
  redis.call("EXPIREAT", K.day, a.expire_at)
  count(K.stats, new.status, 1)

  local event_type = "appointment.imported"
  if exists and new.status == "cancelled" and cur.status ~= "cancelled" then
    event_type = "appointment.cancelled"
  end
  local event_id = emit_appointment(event_type, K.appt, id)
  local outcome = "created"
  if exists then outcome = "updated" end
  return {outcome, id, code, event_id}
end

if a.op == "noshow" then
  local marked = {}
  for _, id in ipairs(redis.call("ZRANGEBYSCORE", K.day, "-inf", "(" .. a.cutoff_ms)) do
    -- An id the caller did not declare was imported in between: the next sweep takes it.
    local key = K["appt:" .. id]
    local status = key and redis.call("HGET", key, "status")
    if key and not status then
      redis.call("ZREM", K.day, id)
    elseif status == "booked" then
      redis.call("HSET", key, "status", "noshow", "noshow_at", a.now)
      redis.call("HINCRBY", K.stats, "appointments_noshow", 1)
      redis.call("EXPIRE", K.stats, a.audit_ttl)
      emit_appointment("appointment.no_show", key, id)
      marked[#marked + 1] = id
    end
  end
  return marked
end

return redis.error_reply("unknown_op " .. tostring(a.op))
