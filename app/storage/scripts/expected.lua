-- Read today's appointments for the board in one reply (parsing one JSON string costs the
-- app far less than a reply per appointment). Writes nothing.
-- KEYS "appt:<id>" for each id the caller found in the day's list, in its order.
-- a: fields. Answers a JSON list of {field: value}; an appointment gone meanwhile is skipped.
local out = {}
for _, name in ipairs(a.keys) do
  local values = redis.call("HMGET", K[name], unpack(a.fields))
  if values[1] then
    local row = {}
    for j, f in ipairs(a.fields) do row[f] = values[j] or "" end
    out[#out + 1] = row
  end
end
return list_json(out)
