"""Why the Cache section has a model: Django's permissions hang on models.

``Cache`` is unmanaged (``managed = False``): it has no table, and nothing
ever saves one. It exists so that the three permissions the section checks
exist per site and can be granted to users and groups like any other:

``django_async_redis_admin.view_cache``    the overview, key browser, key detail, server pages
``django_async_redis_admin.change_cache``  set a key's TTL, persist it (implies view)
``django_async_redis_admin.delete_cache``  delete a key, delete keys by pattern

An instance stands for one key of one alias when an action is written to the
admin's LogEntry history (its pk is ``alias:key``).
"""

from __future__ import annotations

from django.db import models


class Cache(models.Model):
    key: models.TextField[str, str] = models.TextField(primary_key=True)

    class Meta:
        managed = False
        default_permissions = ("view", "change", "delete")
        verbose_name = "cache"
        verbose_name_plural = "caches"

    def __str__(self) -> str:
        return str(self.key)
