-- The schedule of one kind of periodic work (app/storage/due.py): K.due, a sorted set of
-- site ids scored by when each is next due (epoch ms). A global key: this script touches
-- no site's keys, so it runs in the schedule's own cluster slot.
-- op "claim": the ids due by a.now (at most a.count), each moved on to a.lease in the same
-- step, so that no other process takes them meanwhile.
-- op "done": a.site is next due at a.next; unless it was made due again since it was
-- claimed (its score is no longer a.lease), in which case the earlier time stays.
if a.op == "claim" then
  local ids = redis.call("ZRANGEBYSCORE", K.due, "-inf", a.now, "LIMIT", 0, a.count)
  for _, id in ipairs(ids) do redis.call("ZADD", K.due, a.lease, id) end
  return ids
end
local score = redis.call("ZSCORE", K.due, a.site)
if score and tonumber(score) == tonumber(a.lease) then
  redis.call("ZADD", K.due, a.next, a.site)
else
  redis.call("ZADD", K.due, "LT", a.next, a.site)
end
return 1
