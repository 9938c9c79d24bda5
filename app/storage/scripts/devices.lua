-- Pair a device or revoke one, and announce it; the audit entry names the device, never
-- a person.
-- KEYS devices, seen, events, audit; a: action ("pair" | "revoke"), device_id, and for
-- "pair" the device's record as JSON.
-- Answers the event id; "not_found" when revoking a device that is not paired.
if a.action == "pair" then
  redis.call("HSET", K.devices, a.device_id, a.record)
  local record = cjson.decode(a.record)
  return emit("device.paired", "device", cjson.encode({id = a.device_id, role = record.role}),
              {device = a.device_id, role = record.role, name = record.name or ""})
end
local raw = redis.call("HGET", K.devices, a.device_id)
if not raw then return redis.error_reply("not_found") end
local role = cjson.decode(raw).role
redis.call("HDEL", K.devices, a.device_id)
redis.call("HDEL", K.seen, a.device_id)
return emit("device.revoked", "device", cjson.encode({id = a.device_id, role = role}),
            {device = a.device_id, role = role})
