"""Per-node transports: RESP on the wire, a sync pool and an async multiplexer."""
