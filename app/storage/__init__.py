"""Redis: every key name, the Store and the Lua scripts that write state, the clients
and an embedded server, and the back-off of loops that outlive an outage."""
