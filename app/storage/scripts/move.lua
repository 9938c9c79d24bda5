-- Move a visit (call, recall, room, return, transfer, checkout, done, no-show, left), or call the
-- head of a queue when no visit id is given. Which statuses a move is allowed from comes
-- from app/visits/__init__.py with every call, so the table lives in one place.
-- KEYS active, rooms, room_visit, events, audit, stats, queues, seq, lobby_calls; waiting
--      and service of the visit's queue (as the caller read it: a.queue) and
--      target_waiting, target_service
--      of a transfer's queue; durations and durations_before (the visit's queue's history
--      of the current and the previous local hour, a.hour_start_ms being when the current
--      began) and target_durations (the transfer's queue's, current hour); staffing and
--      target_staffing (the same queues' servers by hour of day);
--      appt (the visit's appointment, if any); "visit:<id>" for the
--      visit, or for each of the first ids of the queue on a call-next, and for the visit
--      holding a.room.
-- a.seen: the newest entry of the transfer's queue's service record the caller holds, or "".
-- Answers {"moved", visit_id, event_id, visit JSON, JSON of what the estimate of a visit now
-- waiting is made from (lib.lua's estimate_inputs for the queue it waits in: the record,
-- history and staffing false when the record's newest entry is a.seen), else false},
-- {"empty"}, or {"retry"} when what the caller read has changed; refusals are error replies.
local visit_id = a.visit_id

if visit_id == "" then
  -- The head whose record still exists; an id whose visit expired is dropped on the way.
  while visit_id == "" do
    local head = redis.call("ZRANGE", K.waiting, 0, 0)
    if #head == 0 then return {"empty"} end
    local key = K["visit:" .. head[1]]
    if not key then return {"retry"} end
    if redis.call("EXISTS", key) == 1 then
      visit_id = head[1]
    else
      redis.call("ZREM", K.waiting, head[1])
    end
  end
end

local visit_key = K["visit:" .. visit_id]
local status = redis.call("HGET", visit_key, "status")
if not status then
  redis.call("ZREM", K.active, visit_id)
  return redis.error_reply("not_found")
end
local queue = redis.call("HGET", visit_key, "queue")
if queue ~= a.queue then return {"retry"} end
if a.visit_id ~= "" and
    (redis.call("HGET", visit_key, "appointment_id") or "") ~= a.appointment_id then
  return {"retry"}
end

local ok = false
for _, s in ipairs(a.allowed_from) do
  if s == status then ok = true end
end
if not ok then return redis.error_reply("conflict " .. status) end

local current_room = redis.call("HGET", visit_key, "room") or ""
local changed_rooms = {}

if a.room ~= "" then
  local room_state = redis.call("HGET", K.rooms, a.room)
  if not room_state then return redis.error_reply("unknown_room") end
  local holder = redis.call("HGET", K.room_visit, a.room) or ""
  if holder ~= a.holder_seen then return {"retry"} end
  if holder ~= "" and holder ~= visit_id then
    -- A room held by a visit whose record expired is free.
    if redis.call("EXISTS", K["visit:" .. holder]) == 1 then
      return redis.error_reply("room_occupied " .. holder)
    end
    redis.call("HDEL", K.room_visit, a.room)
  end
  if room_state == "closed" then return redis.error_reply("room_closed") end
end
if a.target_queue ~= "" and not redis.call("HGET", K.queues, a.target_queue) then
  return redis.error_reply("unknown_queue")
end

local desks = {}
for _, d in ipairs(a.desks) do desks[d] = true end

-- A room the patient was in needs cleaning; one they were only called to does not.
local function release(r)
  if r == "" or redis.call("HGET", K.room_visit, r) ~= visit_id then return end
  redis.call("HDEL", K.room_visit, r)
  local after = "available"
  if a.clean_after_use and not desks[r] and (status == "in_room" or status == "checkout") then
    after = "needs_cleaning"
  end
  redis.call("HSET", K.rooms, r, after)
  changed_rooms[#changed_rooms + 1] = r
end

local function occupy(r)
  redis.call("HSET", K.rooms, r, "occupied")
  redis.call("HSET", K.room_visit, r, visit_id)
  changed_rooms[#changed_rooms + 1] = r
end

redis.call("ZREM", K.waiting, visit_id)
redis.call("ZREM", K.active, visit_id)

-- The queue's service record (app/visits/estimates.py): a service starts when a waiting patient
-- is called or roomed, at the room or desk named (else the caller's), and ends when they
-- leave the called or in-room state ("x": sent back to wait, not a service to learn from).
if (status == "called" or status == "in_room") and a.action ~= "recall" and
    a.action ~= "room" and a.action ~= "call" then
  local served_ms = redis.call("HGET", visit_key, "served_ms")
  if served_ms then
    local kind = a.action == "return" and "x" or "e"
    redis.call("LPUSH", K.service, table.concat({kind, served_ms, a.now_ms,
      redis.call("HGET", visit_key, "served_by") or "", visit_id}, "|"))
    redis.call("LTRIM", K.service, 0, a.record_max - 1)
    -- The queue's history by hour of day (the hour the service started) keeps its length.
    local history = tonumber(served_ms) >= tonumber(a.hour_start_ms) and K.durations or
      K.durations_before
    if kind == "e" and history then
      local seconds = math.floor((tonumber(a.now_ms) - tonumber(served_ms)) / 1000)
      redis.call("LPUSH", history, math.max(seconds, 0))
      redis.call("LTRIM", history, 0, a.history_max - 1)
      redis.call("EXPIRE", history, a.history_ttl)
    end
  end
end

if status == "waiting" and (a.action == "call" or a.action == "room") then
  local server = a.room ~= "" and a.room or (current_room ~= "" and current_room or a.actor)
  redis.call("LPUSH", K.service, table.concat({"s", a.now_ms, server, visit_id}, "|"))
  redis.call("LTRIM", K.service, 0, a.record_max - 1)
  redis.call("HSET", visit_key, "served_ms", a.now_ms, "served_by", server)
  if K.staffing then
    -- "HH|server" -> the last two local dates it started a service in that hour, newest
    -- first: today's own does not hide the last earlier day's.
    local field = a.hour .. "|" .. server
    local last = (redis.call("HGET", K.staffing, field) or ""):match("^[^,]*")
    if last ~= a.date then redis.call("HSET", K.staffing, field, a.date .. "," .. last) end
    redis.call("EXPIRE", K.staffing, a.history_ttl)
  end
  local waited = tonumber(a.now_ms) - tonumber(redis.call("HGET", visit_key, "checked_in_ms"))
  redis.call("HINCRBY", K.stats, "served:" .. queue, 1)
  redis.call("HINCRBY", K.stats, "wait_ms:" .. queue, waited)
end

-- The lobby's list of calls: every call, and every rooming of a patient who is not already
-- in that room (straight from waiting, or after a call to a desk), which the lobby shows
-- as a call too; a return or a transfer withdraws the visit's call from the list.
local function lobby_call(kind, room)
  if not K.lobby_calls then return end
  redis.call("LPUSH", K.lobby_calls, cjson.encode({
    visit = visit_id, ticket = redis.call("HGET", visit_key, "ticket"),
    queue = queue, room = room, kind = kind, ms = a.now_ms, at = a.now,
    lang = redis.call("HGET", visit_key, "language") or ""}))
  redis.call("LTRIM", K.lobby_calls, 0, a.lobby_calls_kept - 1)
  redis.call("PEXPIRE", K.lobby_calls, 3600000)
end
if a.action == "call" or a.action == "recall" then
  local room = a.room
  if a.action == "recall" or room == "" then room = current_room end
  lobby_call(a.action, room)
elseif a.action == "room" and (status == "waiting" or current_room ~= a.room) then
  lobby_call("room", a.room)
elseif a.action == "return" or a.action == "transfer" then
  lobby_call("withdrawn", "")
end

local waiting_key, service_key, history_key = K.waiting, K.service, K.durations
local staffing_key = K.staffing
if a.action == "call" then
  redis.call("HSET", visit_key, "called_at", a.now, "called_ms", a.now_ms)
  if a.room ~= "" then
    release(current_room)
    occupy(a.room)
    redis.call("HSET", visit_key, "room", a.room)
  end
elseif a.action == "recall" then
  redis.call("HSET", visit_key, "called_at", a.now, "called_ms", a.now_ms)
elseif a.action == "room" then
  if current_room ~= a.room then release(current_room) end
  occupy(a.room)
  redis.call("HSET", visit_key, "room", a.room, "last_room", a.room, "roomed_at", a.now)
else
  release(current_room)
  redis.call("HSET", visit_key, "room", "")
  if a.action == "transfer" then
    local priority = redis.call("HGET", visit_key, "priority")
    -- Same score as checkin.lua's: the transferred patient queues from now.
    local score = tostring(2 - tonumber(priority)) ..
      string.format("%015d", redis.call("INCR", K.seq))
    redis.call("HSET", visit_key, "queue", a.target_queue, "score", score,
               "transferred_from", queue)
    queue, waiting_key, service_key = a.target_queue, K.target_waiting, K.target_service
    history_key, staffing_key = K.target_durations, K.target_staffing
  end
end

redis.call("HSET", visit_key, "status", a.to, "updated_at", a.now)
revise(visit_key)
if a.to == "done" or a.to == "no_show" or a.to == "left" then
  redis.call("HSET", visit_key, "done_at", a.now)
  local appt_status = ({done = "fulfilled", no_show = "noshow"})[a.to]
  if a.appointment_id ~= "" and appt_status and redis.call("EXISTS", K.appt) == 1 then
    redis.call("HSET", K.appt, "status", appt_status)
  end
end

local visit = hash(visit_key)
if a.to == "waiting" then
  redis.call("ZADD", waiting_key, visit.score, visit_id)
  visit.position = redis.call("ZRANK", waiting_key, visit_id) + 1
elseif a.to == "called" or a.to == "in_room" or a.to == "checkout" then
  redis.call("ZADD", K.active, a.now_ms, visit_id)
end

local visit_json = cjson.encode(visit)
local event_id = emit(a.event, "visit", visit_json,
                      {visit_id = visit_id, ticket = visit.ticket, queue = queue,
                       room = a.room})
for _, r in ipairs(changed_rooms) do
  local room_json = cjson.encode({id = r, status = redis.call("HGET", K.rooms, r),
    visit_id = redis.call("HGET", K.room_visit, r) or ""})
  emit("room.updated", "room", room_json,
       {room = r, ticket = visit.ticket, visit_id = visit_id,
        status = redis.call("HGET", K.rooms, r)})
end
redis.call("HINCRBY", K.stats, a.action, 1)
redis.call("EXPIRE", K.stats, a.audit_ttl)
-- Only a visit waiting has a position in line, and so an estimate.
return {"moved", visit_id, event_id, visit_json, a.to == "waiting" and
  estimate_inputs(service_key, history_key, staffing_key, a.seen) or "false"}
