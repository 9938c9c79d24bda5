-- Open or close a queue and announce it; closing stops new check-ins, not the waiting.
local queue_state, events_key, audit_key = unpack(KEYS)
local queue, new_state, now_iso, actor, maxlen, audit_ttl = unpack(ARGV)

if not redis.call("HGET", queue_state, queue) then return redis.error_reply("unknown_queue") end
redis.call("HSET", queue_state, queue, new_state)
local event_id = redis.call("XADD", events_key, "MAXLEN", "~", maxlen, "*",
  "type", "queue.updated", "at", now_iso, "actor", actor,
  "queue", cjson.encode({id = queue, open = new_state == "open"}))
redis.call("RPUSH", audit_key, cjson.encode({id = event_id, type = "queue.updated",
  queue = queue, actor = actor, at = now_iso}))
redis.call("EXPIRE", audit_key, audit_ttl)
return event_id
