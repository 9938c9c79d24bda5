-- Set or clear the desk's broadcast message for the lobby screens, and announce it.
-- KEYS message, events, audit; a: text ("" clears), expires_at, expires_ms, ttl_ms.
-- The audit entry keeps only that it changed and until when: ids, actor, time.
local body
if a.text == "" then
  redis.call("DEL", K.message)
  body = cjson.encode({text = cjson.null, expires_at = cjson.null})
else
  body = cjson.encode({text = a.text, expires_at = a.expires_at, expires_ms = a.expires_ms})
  redis.call("SET", K.message, body, "PX", a.ttl_ms)
end
return emit("site.message", "message", body,
            {cleared = a.text == "", expires_at = a.expires_at})
