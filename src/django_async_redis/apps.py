"""``INSTALLED_APPS += ["django_async_redis"]``: the system checks and ``manage.py redis_cache``."""

from __future__ import annotations

from django.apps import AppConfig


class DjangoAsyncRedisConfig(AppConfig):
    name = "django_async_redis"
    verbose_name = "django-async-redis"

    def ready(self) -> None:
        from .checks import register_checks

        register_checks()
