"""Gallery snapshots: `file` is the format (one file a worker maps read-only), `builder` writes
one from Redis or from a worker's copy, `shelf` keeps them on this host and publishes one in
Redis for the workers to come."""
