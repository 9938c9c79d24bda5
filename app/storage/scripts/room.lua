-- Set a room's status by hand (cleaned, closed, reopened) and announce it.
-- A room with a patient in it cannot be marked available or closed.
-- KEYS rooms, room_visit, events, audit; a: room, status.
if not redis.call("HGET", K.rooms, a.room) then return redis.error_reply("unknown_room") end
local holder = redis.call("HGET", K.room_visit, a.room)
if holder then return redis.error_reply("room_occupied " .. holder) end
redis.call("HSET", K.rooms, a.room, a.status)
return emit("room.updated", "room", cjson.encode({id = a.room, status = a.status, visit_id = ""}),
            {room = a.room, status = a.status})
