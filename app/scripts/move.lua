-- Move a visit (call, room, return, transfer, checkout, done, no-show, left), or call the
-- head of a queue when no visit id is given. Which statuses a move is allowed from comes
-- from app/visits.py with every call, so the table lives in one place.
-- Answers {"moved", visit_id, event_id, visit JSON, JSON of the queue's recent call
-- times} or {"empty"}; refusals are error replies.
local active_key, room_status, room_visit, events_key, audit_key, stats_key,
      queue_state, seq_key = unpack(KEYS)
local visit_id, action, allowed_from, to_status, event_type, now_iso, now_ms, actor,
      room, target_queue, next_queue, visit_prefix, waiting_prefix, calls_prefix,
      maxlen, clean_after_use, desks, audit_ttl, appt_prefix = unpack(ARGV)

if visit_id == "" then
  local head = redis.call("ZRANGE", waiting_prefix .. next_queue, 0, 0)
  if #head == 0 then return {"empty"} end
  visit_id = head[1]
end

local visit_key = visit_prefix .. visit_id
local status = redis.call("HGET", visit_key, "status")
if not status then return redis.error_reply("not_found") end

local ok = false
for s in string.gmatch(allowed_from, "%S+") do
  if s == status then ok = true end
end
if not ok then return redis.error_reply("conflict " .. status) end

local queue = redis.call("HGET", visit_key, "queue")
local current_room = redis.call("HGET", visit_key, "room") or ""
local changed_rooms = {}

if room ~= "" then
  local room_state = redis.call("HGET", room_status, room)
  if not room_state then return redis.error_reply("unknown_room") end
  local holder = redis.call("HGET", room_visit, room)
  if holder and holder ~= visit_id then return redis.error_reply("room_occupied " .. holder) end
  if room_state == "closed" then return redis.error_reply("room_closed") end
end
if target_queue ~= "" and not redis.call("HGET", queue_state, target_queue) then
  return redis.error_reply("unknown_queue")
end

local function is_desk(r)
  for d in string.gmatch(desks, "%S+") do
    if d == r then return true end
  end
  return false
end

-- A room the patient was in needs cleaning; one they were only called to does not.
local function release(r)
  if r == "" or redis.call("HGET", room_visit, r) ~= visit_id then return end
  redis.call("HDEL", room_visit, r)
  local after = "available"
  if clean_after_use == "1" and not is_desk(r) and (status == "in_room" or status == "checkout") then
    after = "needs_cleaning"
  end
  redis.call("HSET", room_status, r, after)
  changed_rooms[#changed_rooms + 1] = r
end

local function occupy(r)
  redis.call("HSET", room_status, r, "occupied")
  redis.call("HSET", room_visit, r, visit_id)
  changed_rooms[#changed_rooms + 1] = r
end

redis.call("ZREM", waiting_prefix .. queue, visit_id)
redis.call("ZREM", active_key, visit_id)

if status == "waiting" and (action == "call" or action == "room") then
  redis.call("LPUSH", calls_prefix .. queue, now_ms)
  redis.call("LTRIM", calls_prefix .. queue, 0, 19)
  local waited = tonumber(now_ms) - tonumber(redis.call("HGET", visit_key, "checked_in_ms"))
  redis.call("HINCRBY", stats_key, "served:" .. queue, 1)
  redis.call("HINCRBY", stats_key, "wait_ms:" .. queue, waited)
end

if action == "call" then
  redis.call("HSET", visit_key, "called_at", now_iso, "called_ms", now_ms)
  if room ~= "" then
    release(current_room)
    occupy(room)
    redis.call("HSET", visit_key, "room", room)
  end
elseif action == "room" then
  if current_room ~= room then release(current_room) end
  occupy(room)
  redis.call("HSET", visit_key, "room", room, "last_room", room, "roomed_at", now_iso)
elseif to_status == "waiting" then
  release(current_room)
  redis.call("HSET", visit_key, "room", "")
  if action == "transfer" then
    local priority = redis.call("HGET", visit_key, "priority")
    -- Same score as checkin.lua's: the transferred patient queues from now.
    local score = tostring(2 - tonumber(priority)) ..
      string.format("%015d", redis.call("INCR", seq_key))
    redis.call("HSET", visit_key, "queue", target_queue, "score", score,
               "transferred_from", queue)
    queue = target_queue
  end
else
  release(current_room)
  redis.call("HSET", visit_key, "room", "")
end

redis.call("HSET", visit_key, "status", to_status, "updated_at", now_iso)
if to_status == "done" or to_status == "no_show" or to_status == "left" then
  redis.call("HSET", visit_key, "done_at", now_iso)
  local appointment_id = redis.call("HGET", visit_key, "appointment_id") or ""
  local appt_key = appt_prefix .. appointment_id
  local appt_status = ({done = "fulfilled", no_show = "noshow"})[to_status]
  if appointment_id ~= "" and appt_status and redis.call("EXISTS", appt_key) == 1 then
    redis.call("HSET", appt_key, "status", appt_status)
  end
end

local position = nil
if to_status == "waiting" then
  local score = redis.call("HGET", visit_key, "score")
  redis.call("ZADD", waiting_prefix .. queue, score, visit_id)
  position = redis.call("ZRANK", waiting_prefix .. queue, visit_id) + 1
elseif to_status == "called" or to_status == "in_room" or to_status == "checkout" then
  redis.call("ZADD", active_key, now_ms, visit_id)
end

local fields = redis.call("HGETALL", visit_key)
local visit = {}
for i = 1, #fields, 2 do visit[fields[i]] = fields[i + 1] end
if position then visit["position"] = position end

local visit_json = cjson.encode(visit)
local event_id = redis.call("XADD", events_key, "MAXLEN", "~", maxlen, "*",
  "type", event_type, "at", now_iso, "actor", actor, "visit", visit_json)
redis.call("RPUSH", audit_key, cjson.encode({id = event_id, type = event_type,
  visit_id = visit_id, queue = queue, actor = actor, at = now_iso, room = room}))
for _, r in ipairs(changed_rooms) do
  local room_json = cjson.encode({id = r, status = redis.call("HGET", room_status, r),
    visit_id = redis.call("HGET", room_visit, r) or ""})
  local rid = redis.call("XADD", events_key, "MAXLEN", "~", maxlen, "*",
    "type", "room.updated", "at", now_iso, "actor", actor, "room", room_json)
  redis.call("RPUSH", audit_key, cjson.encode({id = rid, type = "room.updated",
    room = r, actor = actor, at = now_iso}))
end
redis.call("EXPIRE", audit_key, audit_ttl)
redis.call("HINCRBY", stats_key, action, 1)
redis.call("EXPIRE", stats_key, audit_ttl)
return {"moved", visit_id, event_id, visit_json,
  cjson.encode(redis.call("LRANGE", calls_prefix .. queue, 0, -1))}
