-- Close a local day: every visit still open (waiting, called, in a room, at check-out)
-- and checked in before a.before_ms becomes `left` with the reason "day closed", leaves its queue or the active set, and
-- frees its room; ids whose visit has expired are dropped from those sets on the way.
-- Marks the day closed, so the scheduled run happens once however many processes try.
-- KEYS active, rooms, room_visit, events, audit, stats, closed; "waiting:<q>" for each of
--      a.queue_ids; "visit:<id>" for each id the caller found in those sets just before.
-- a: queue_ids, desks, clean_after_use, reason, only_once, before_ms (a visit checked in
--    at or after it stays open: it arrived after the closing time).
-- Answers {"closed", n}, {"already"} (only_once and the day was closed), or {"retry"}
-- when a set lists an id the caller did not declare.
if a.only_once and redis.call("EXISTS", K.closed) == 1 then return {"already"} end

local sets = {K.active}
for _, q in ipairs(a.queue_ids) do sets[#sets + 1] = K["waiting:" .. q] end
for _, set_key in ipairs(sets) do
  for _, id in ipairs(redis.call("ZRANGE", set_key, 0, -1)) do
    if not K["visit:" .. id] then return {"retry"} end
  end
end

local desks = {}
for _, d in ipairs(a.desks) do desks[d] = true end
local closed, rooms_changed = 0, {}
local before = tonumber(a.before_ms)

for _, set_key in ipairs(sets) do
  for _, id in ipairs(redis.call("ZRANGE", set_key, 0, -1)) do
    local key = K["visit:" .. id]
    local visit = hash(key)
    if not visit.id then
      redis.call("ZREM", set_key, id)  -- expired
    elseif (tonumber(visit.checked_in_ms) or 0) < before then
      redis.call("ZREM", set_key, id)
      local room = visit.room or ""
      if room ~= "" and redis.call("HGET", K.room_visit, room) == id then
        redis.call("HDEL", K.room_visit, room)
        local after = "available"
        if a.clean_after_use and not desks[room] and
            (visit.status == "in_room" or visit.status == "checkout") then
          after = "needs_cleaning"
        end
        redis.call("HSET", K.rooms, room, after)
        rooms_changed[#rooms_changed + 1] = room
      end
      redis.call("HSET", key, "status", "left", "left_reason", a.reason, "room", "",
                 "done_at", a.now, "updated_at", a.now)
      revise(key)
      emit("visit.left", "visit", cjson.encode(hash(key)),
           {visit_id = id, ticket = visit.ticket, queue = visit.queue, reason = a.reason,
            was = visit.status})
      closed = closed + 1
    end
  end
end

-- A room still held by a visit that has expired is free.
for room, id in pairs(hash(K.room_visit)) do
  local key = K["visit:" .. id]
  if key and redis.call("EXISTS", key) == 0 then
    redis.call("HDEL", K.room_visit, room)
    redis.call("HSET", K.rooms, room, "available")
    rooms_changed[#rooms_changed + 1] = room
  end
end
for _, r in ipairs(rooms_changed) do
  emit("room.updated", "room", cjson.encode({id = r, status = redis.call("HGET", K.rooms, r),
    visit_id = redis.call("HGET", K.room_visit, r) or ""}), {room = r})
end

redis.call("HINCRBY", K.stats, "left", closed)
redis.call("HINCRBY", K.stats, "day_closed", closed)
redis.call("EXPIRE", K.stats, a.audit_ttl)
redis.call("SET", K.closed, a.now, "EX", 172800)
if closed > 0 or #rooms_changed > 0 then  -- a close that changed nothing is no news
  emit("day.closed", "day", cjson.encode({closed = closed}), {closed = closed})
end
return {"closed", closed}
