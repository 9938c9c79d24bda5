-- Open or close a queue and announce it; closing stops new check-ins, not the waiting.
-- KEYS queues, events, audit; a: queue, state.
if not redis.call("HGET", K.queues, a.queue) then return redis.error_reply("unknown_queue") end
redis.call("HSET", K.queues, a.queue, a.state)
return emit("queue.updated", "queue", cjson.encode({id = a.queue, open = a.state == "open"}),
            {queue = a.queue})
