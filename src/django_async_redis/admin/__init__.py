"""The admin's "Cache" section: ``INSTALLED_APPS += ["django_async_redis.admin"]``.

An opt-in app (nothing here runs for a site that does not install it):

``overview``  every alias of ours: topology, nodes, server figures, breakers, METRICS
``browse``    the key browser: one bounded SCAN batch per node and page, never KEYS
``detail``    one key: its value through the alias's own codec, collections paged
``actions``   TTL, persist, delete, delete by pattern: permissions, confirmation, LogEntry
``server``    INFO sections, SLOWLOG and latency of one node, secrets redacted
``admin``     the ModelAdmin whose URLs are these pages (``models``: why a model at all)

Importing this package registers nothing: Django's admin autodiscovery imports
``django_async_redis.admin`` for a site that installs ``django_async_redis``
alone, so the registration lives in ``admin/admin.py``, imported only for
this app.
"""
