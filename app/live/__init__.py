"""The live path: how a change reaches every screen, in one place.

    HTTP request (app/api.py, the screens' routes)
      │  one Lua script per move (app/storage/store.py, app/storage/scripts/*.lua)
      ▼
    Redis: the script writes the state, XADDs the event to the site's stream
      │    `lq:{site}:events` and PUBLISHes it, with the id before it, on the channel of
      │    the same name (SPUBLISH on a Cluster): emit() in app/storage/scripts/lib.lua,
      │    atomic with the write
      ▼
    reader.py: ONE pub/sub connection per process (per master of a Cluster), subscribed
      │  to the channels of the sites this process has sockets for; hands each message,
      │  or a (re)subscribe, to the site's hub
      ▼
    hub.py: per site, takes the event a message carries when it follows on from its last
      │  id, else XRANGE from that id (so a lost wake-up costs latency, never an event);
      │  JSON clients get each event; screens are redrawn once per batch of changes: one
      │  snapshot read, one render per audience that has a socket
      ▼
    fanout.py: each audience's changed fragments, merged per socket, written without
      │  letting a slow socket hold up the rest (in_flight.py: turn the event loop more
      │  often while requests wait)
      ▼
    protocol.py: uvicorn's sans-I/O WebSocket protocol, writing a frame encoded once
      │  straight to the transport (the standard ASGI send where it is absent)
      ▼
    ws.py: the sockets' endpoints (admission, resume with `after`, session checks)

docs/architecture.md tells the why of each step and the figures behind it.
"""
