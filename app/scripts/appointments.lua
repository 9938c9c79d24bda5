-- Appointments: store one imported appointment, or mark a day's no-shows (an arrival is
-- checkin.lua's, in the check-in's own step). ARGV[1] names the move; each is one atomic step with its event, so two
-- processes importing or sweeping at once never count or mark anything twice.
--
-- upsert  KEYS appt, events, audit
--         ARGV op, id, fields JSON, status, given code, candidate codes, day, who digest,
--              expire-at (epoch s), now, actor, maxlen, audit ttl, and the prefixes of the
--              code, who, day and stats keys
--         -> {"created"|"updated"|"unchanged", id, code, event id}; error "code_taken <code>"
-- noshow  KEYS day, events, audit, stats
--         ARGV op, cutoff (epoch ms, exclusive), appointment key prefix, now, actor, maxlen,
--              audit ttl
--         -> the ids marked noshow
local op = ARGV[1]

local function hash_of(key)
  local flat = redis.call("HGETALL", key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function emit(events_key, audit_key, maxlen, audit_ttl, event_type, now_iso, actor, id,
                    appt_key)
  local appt = hash_of(appt_key)
  appt["who"] = nil
  local event_id = redis.call("XADD", events_key, "MAXLEN", "~", maxlen, "*",
    "type", event_type, "at", now_iso, "actor", actor, "appointment", cjson.encode(appt))
  -- The audit log outlives personal fields, so it holds ids only.
  redis.call("RPUSH", audit_key, cjson.encode({id = event_id, type = event_type,
    appointment_id = id, actor = actor, at = now_iso}))
  redis.call("EXPIRE", audit_key, audit_ttl)
  return event_id
end

local function count(stats_prefix, day, status, delta, audit_ttl)
  if not day or day == "" then return end
  local key = stats_prefix .. day
  redis.call("HINCRBY", key, "appointments", delta)
  if status == "cancelled" or status == "noshow" then
    redis.call("HINCRBY", key, "appointments_" .. status, delta)
  end
  redis.call("EXPIRE", key, audit_ttl)
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

if op == "upsert" then
  local appt_key, events_key, audit_key = KEYS[1], KEYS[2], KEYS[3]
  local _, id, fields_json, status_in, code_given, candidates, day, who, expire_at, now_iso,
        actor, maxlen, audit_ttl, codes_prefix, who_prefix, day_prefix,
        stats_prefix = unpack(ARGV)

  local cur = hash_of(appt_key)
  local exists = cur["id"] ~= nil
  local new = cjson.decode(fields_json)
  local codes_key = codes_prefix .. day

  local function free(c)
    local holder = redis.call("HGET", codes_key, c)
    return (not holder) or holder == id
  end

  local code = nil
  if code_given ~= "" then
    if not free(code_given) then return redis.error_reply("code_taken " .. code_given) end
    code = code_given
  elseif exists and (cur["code"] or "") ~= "" and free(cur["code"]) then
    code = cur["code"]
  else
    for c in string.gmatch(candidates, "%S+") do
      if free(c) then code = c break end
    end
  end
  if not code then return redis.error_reply("code_taken") end

  new["code"] = code
  new["status"] = resolve(cur["status"], status_in, exists and cur["start_ms"] ~= new["start_ms"])
  new["date"] = day
  new["who"] = who

  if exists then
    local same = true
    for k, v in pairs(new) do
      if cur[k] ~= v then same = false break end
    end
    if same then return {"unchanged", id, code, ""} end
    local old_day = cur["date"] or ""
    if old_day ~= "" then
      local old_codes = codes_prefix .. old_day
      if (old_day ~= day or cur["code"] ~= code) and cur["code"]
          and redis.call("HGET", old_codes, cur["code"]) == id then
        redis.call("HDEL", old_codes, cur["code"])
      end
      if cur["who"] then redis.call("SREM", who_prefix .. old_day .. ":" .. cur["who"], id) end
      if old_day ~= day then redis.call("ZREM", day_prefix .. old_day, id) end
    end
    count(stats_prefix, old_day, cur["status"], -1, audit_ttl)
  end

  local flat = {}
  for k, v in pairs(new) do
    flat[#flat + 1] = k
    flat[#flat + 1] = v
  end
  redis.call("HSET", appt_key, unpack(flat))
  redis.call("EXPIREAT", appt_key, expire_at)
  redis.call("HSET", codes_key, code, id)
  redis.call("EXPIREAT", codes_key, expire_at)
  local who_key = who_prefix .. day .. ":" .. who
  redis.call("SADD", who_key, id)
  redis.call("EXPIREAT", who_key, expire_at)
  local day_key = day_prefix .. day
  redis.call("ZADD", day_key, new["start_ms"], id)
  redis.call("EXPIREAT", day_key, expire_at)
  count(stats_prefix, day, new["status"], 1, audit_ttl)

  local event_type = "appointment.imported"
  if exists and new["status"] == "cancelled" and cur["status"] ~= "cancelled" then
    event_type = "appointment.cancelled"
  end
  local event_id = emit(events_key, audit_key, maxlen, audit_ttl, event_type, now_iso, actor,
                        id, appt_key)
  local outcome = "created"
  if exists then outcome = "updated" end
  return {outcome, id, code, event_id}
end

if op == "noshow" then
  local day_key, events_key, audit_key, stats_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
  local _, cutoff_ms, appt_prefix, now_iso, actor, maxlen, audit_ttl = unpack(ARGV)
  local marked = {}
  for _, id in ipairs(redis.call("ZRANGEBYSCORE", day_key, "-inf", "(" .. cutoff_ms)) do
    local appt_key = appt_prefix .. id
    if redis.call("HGET", appt_key, "status") == "booked" then
      redis.call("HSET", appt_key, "status", "noshow", "noshow_at", now_iso)
      redis.call("HINCRBY", stats_key, "appointments_noshow", 1)
      redis.call("EXPIRE", stats_key, audit_ttl)
      emit(events_key, audit_key, maxlen, audit_ttl, "appointment.no_show", now_iso, actor, id,
           appt_key)
      marked[#marked + 1] = id
    end
  end
  return marked
end

return redis.error_reply("unknown_op " .. tostring(op))
