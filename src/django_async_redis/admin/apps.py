"""The app config: its own label, so it never clashes with ``django.contrib.admin``."""

from __future__ import annotations

from django.apps import AppConfig


class CacheAdminConfig(AppConfig):
    name = "django_async_redis.admin"
    # The package is called "admin", as is Django's: the label must differ.
    label = "django_async_redis_admin"
    verbose_name = "Cache"
    default_auto_field = "django.db.models.AutoField"
