-- Save a site's configuration: new queues open, new rooms available; queues and rooms
-- that already exist keep their live state, and ones no longer configured are removed
-- unless a patient is in them. Emits site.updated so screens redraw.
local site_key, queue_state, room_status, room_visit, events_key, sites_key = unpack(KEYS)
local site_json, queue_ids, room_ids, now_iso, actor, maxlen, site_id = unpack(ARGV)

redis.call("SET", site_key, site_json)
redis.call("SADD", sites_key, site_id)
local wanted = {}
for q in string.gmatch(queue_ids, "%S+") do
  wanted[q] = true
  redis.call("HSETNX", queue_state, q, "open")
end
for _, q in ipairs(redis.call("HKEYS", queue_state)) do
  if not wanted[q] then redis.call("HDEL", queue_state, q) end
end
wanted = {}
for r in string.gmatch(room_ids, "%S+") do
  wanted[r] = true
  redis.call("HSETNX", room_status, r, "available")
end
for _, r in ipairs(redis.call("HKEYS", room_status)) do
  if not wanted[r] and not redis.call("HGET", room_visit, r) then
    redis.call("HDEL", room_status, r)
  end
end
return redis.call("XADD", events_key, "MAXLEN", "~", maxlen, "*",
  "type", "site.updated", "at", now_iso, "actor", actor, "site", site_id)
