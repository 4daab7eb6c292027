"""Unknown visitors: strangers seen by the cameras, each with a persistent id. `store` keeps
their sightings in Redis (every change one Lua script, logged); `index` is one worker's copy,
kept in step from that log, that finds the visitor nearest to a new unknown face; `clustering`
merges and splits visitors off the request path."""
