-- Save a site's configuration: new queues open, new rooms available; queues and rooms
-- that already exist keep their live state, and ones no longer configured are removed
-- unless a patient is in them. Emits site.updated so screens redraw. The index of all
-- sites (lq:sites) is global, in another cluster slot: the store adds the site to it first.
-- KEYS site, queues, rooms, room_visit, events; a: site (JSON), site_id, queue_ids, room_ids.
redis.call("SET", K.site, a.site)
local wanted = {}
for _, q in ipairs(a.queue_ids) do
  wanted[q] = true
  redis.call("HSETNX", K.queues, q, "open")
end
for _, q in ipairs(redis.call("HKEYS", K.queues)) do
  if not wanted[q] then redis.call("HDEL", K.queues, q) end
end
wanted = {}
for _, r in ipairs(a.room_ids) do
  wanted[r] = true
  redis.call("HSETNX", K.rooms, r, "available")
end
for _, r in ipairs(redis.call("HKEYS", K.rooms)) do
  if not wanted[r] and not redis.call("HGET", K.room_visit, r) then
    redis.call("HDEL", K.rooms, r)
  end
end
return emit("site.updated", "site", a.site_id)
