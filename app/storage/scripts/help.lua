-- A kiosk calls the front desk for help, or the desk answers that call; either is announced.
-- KEYS help, events, audit; a: op ("ask" or "answer"), kiosk, name, ttl_ms.
-- Asking again while a call is open keeps the first (and writes nothing); answering a call
-- that is not open (answered meanwhile at another board) answers false.
if a.op == "ask" then
  local body = cjson.encode({kiosk = a.kiosk, name = a.name, at = a.now,
                             at_ms = tonumber(a.now_ms)})
  if redis.call("HSETNX", K.help, a.kiosk, body) == 0 then return false end
  redis.call("PEXPIRE", K.help, a.ttl_ms)
  return emit("kiosk.help", "help", body, {kiosk = a.kiosk})
end
local body = redis.call("HGET", K.help, a.kiosk)
if not body then return false end
redis.call("HDEL", K.help, a.kiosk)
return emit("kiosk.help_answered", "help", body, {kiosk = a.kiosk})
