"""The client cache: hot reads answered from the process, kept exact by invalidations.

``OPTIONS["CLIENT_CACHE"]`` turns it on (options.py); a client built with it
(client.py) answers reads from the local tier (tier.py), which the servers'
invalidations, read from one tracking connection per node (tracking.py), keep
exact. docs/client-cache.md is the contract a reader may rely on.
"""
