"""Django management commands: ``manage.py redis_cache`` (see commands/redis_cache.py)."""
