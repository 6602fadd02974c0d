"""django-debug-toolbar's cache panel records our sync and our async calls.

The real toolbar (its middleware, its store, its render_panel view) on a
site whose sync view calls ``get``/``set`` and whose async view, served
through the async client, calls ``aget``/``aset``/``aget_many``/``aget_or_set``,
with ``django_async_redis.toolbar.CachePanel`` in place of the stock panel.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import AsyncClient, Client

# The apps around the backend: one leg per Django version carries them (noxfile's MATRIX).
pytestmark = pytest.mark.apps

PANEL = "django_async_redis.toolbar.CachePanel"


@pytest.fixture
def toolbar_site(settings: Any, flushed_redis: Any) -> Iterator[None]:
    # The panels first: the toolbar's app calls their ready() when it is installed.
    settings.DEBUG_TOOLBAR_PANELS = [PANEL]
    settings.DEBUG_TOOLBAR_CONFIG = {
        "SHOW_TOOLBAR_CALLBACK": lambda request: True,
        "IS_RUNNING_TESTS": False,
    }
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "debug_toolbar"]
    settings.DEBUG = True
    settings.ROOT_URLCONF = "tests.toolbar_site"
    settings.MIDDLEWARE = ["debug_toolbar.middleware.DebugToolbarMiddleware"]
    settings.TEMPLATES = [
        {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}
    ]
    yield


def panel_of(response: Any) -> tuple[Any, str]:
    # Imported once the app is installed: the toolbar's store has a model.
    from debug_toolbar.toolbar import DebugToolbar

    found = re.search(r'data-request-id="([0-9a-f]+)"', response.content.decode())
    assert found, "the toolbar is not on the page"
    toolbar = DebugToolbar.fetch(found[1], "CachePanel")
    assert toolbar is not None
    return toolbar.get_panel_by_id("CachePanel"), found[1]


def test_sync_calls_are_recorded(toolbar_site: None) -> None:
    response = Client().get("/sync/")
    assert response.status_code == 200
    panel, _ = panel_of(response)
    stats = panel.get_stats()
    assert [call["name"] for call in stats["calls"]] == ["set", "get", "get"]
    assert (stats["hits"], stats["misses"]) == (1, 1)
    assert all("RedisCache" in call["backend"] for call in stats["calls"])


def test_async_calls_are_recorded(toolbar_site: None) -> None:
    asyncio.run(_async_calls_are_recorded())


async def _async_calls_are_recorded() -> None:
    response = await AsyncClient().get("/async/")
    assert response.status_code == 200
    panel, request_id = panel_of(response)
    stats = panel.get_stats()
    names = [call["name"] for call in stats["calls"]]
    assert names == ["aset", "aget", "aget", "aget_many", "aget_or_set"]
    assert all(call["backend"] == "default (RedisCache, async)" for call in stats["calls"])
    # aget: 1 hit, 1 miss; aget_many: 1 hit, 1 miss; aget_or_set answered a value.
    assert (stats["hits"], stats["misses"]) == (3, 2)
    assert stats["counts"]["get"] == 2 and stats["counts"]["set"] == 1
    # The panel itself renders them, through the toolbar's own view.
    rendered = await AsyncClient().get(
        "/__debug__/render_panel/", {"request_id": request_id, "panel_id": "CachePanel"}
    )
    content = rendered.json()["content"]
    assert "aget_many" in content and "aget_or_set" in content
