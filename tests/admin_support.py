"""What the admin tests share: the site's settings, users by permission, URLs, command counts.

The admin's Cache section runs under Django's own admin site (``tests/admin_urls.py``).
Users are made with exactly the permissions a test names, so a denial is
the permission's doing and not a missing staff flag.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import pytest
import redis
from django.contrib.auth.models import Permission, User
from django.test import Client

from tests import topologies

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
SITE_SETTINGS = {
    "ROOT_URLCONF": "tests.admin_urls",
    "MIDDLEWARE": MIDDLEWARE,
    "TEMPLATES": TEMPLATES,
    "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
}
# Every topology the admin is tested on: the session server, then the multi-server ones.
TOPOLOGIES = [
    "single",
    *(pytest.param(name, marks=pytest.mark.topology) for name in topologies.TOPOLOGIES),
]
BASE = "/admin/django_async_redis_admin/cache/"
PASSWORD = "a-test-password"


def token(key: bytes | str) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def keys_url(alias: str = "default") -> str:
    return f"{BASE}{alias}/keys/"


def key_url(key: bytes | str, alias: str = "default", action: str = "") -> str:
    return f"{BASE}{alias}/keys/{token(key)}/" + (f"{action}/" if action else "")


def user(name: str, *codenames: str, staff: bool = True) -> User:
    """A staff user holding exactly ``codenames`` of the Cache model (view_cache...)."""
    made = User.objects.create_user(name, password=PASSWORD, is_staff=staff)
    for codename in codenames:
        made.user_permissions.add(
            Permission.objects.get(
                content_type__app_label="django_async_redis_admin", codename=codename
            )
        )
    return made


def signed_in(made: User, **client_options: Any) -> Client:
    client = Client(**client_options)
    client.force_login(made)
    return client


def command_calls(raw: redis.Redis, names: Iterable[str]) -> dict[str, int]:
    """How often the server has run each command so far (INFO commandstats)."""
    stats = raw.info("commandstats")
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in names}


def admin_cache_settings(
    topology: str, redis_server: Any, prefix: str, admin: dict[str, Any]
) -> dict[str, Any]:
    """The admin site's settings with one cache on ``topology`` ("single" or tests/topologies')."""
    if topology == "single":
        entry: dict[str, Any] = {"BACKEND": topologies.BACKEND, "LOCATION": redis_server.url()}
    else:
        entry = topologies.cache_settings(topology)
    return {
        **SITE_SETTINGS,
        "CACHES": {"default": {**entry, "KEY_PREFIX": prefix}},
        "DJANGO_ASYNC_REDIS_ADMIN": admin,
    }


def node_clients(cache: Any) -> dict[str, redis.Redis]:
    """A raw client per node the alias's key space is spread over, by address."""
    from django_async_redis.admin.nodes import parts
    from django_async_redis.management import inspect

    found = {}
    for target in parts(cache.client):
        address = inspect.address_of(cache.client, target.node)
        host, _, port = address.rpartition(":")
        found[address] = redis.Redis(host=host, port=int(port))
    return found
