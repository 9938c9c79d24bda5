-- Set a room's status by hand (cleaned, closed, reopened) and announce it.
-- A room with a patient in it cannot be marked available or closed.
local room_status, room_visit, events_key, audit_key = unpack(KEYS)
local room, new_status, now_iso, actor, maxlen, audit_ttl = unpack(ARGV)

local current = redis.call("HGET", room_status, room)
if not current then return redis.error_reply("unknown_room") end
local holder = redis.call("HGET", room_visit, room)
if holder then return redis.error_reply("room_occupied " .. holder) end
redis.call("HSET", room_status, room, new_status)
local room_json = cjson.encode({id = room, status = new_status, visit_id = ""})
local event_id = redis.call("XADD", events_key, "MAXLEN", "~", maxlen, "*",
  "type", "room.updated", "at", now_iso, "actor", actor, "room", room_json)
redis.call("RPUSH", audit_key, cjson.encode({id = event_id, type = "room.updated",
  room = room, actor = actor, at = now_iso}))
redis.call("EXPIRE", audit_key, audit_ttl)
return event_id
