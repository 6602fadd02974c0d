"""The section's settings: ``DJANGO_ASYNC_REDIS_ADMIN``, a dict, read on every request.

``READ_ONLY``       True: no action at all, whatever the user's permissions (default False)
``SCAN_COUNT``      SCAN's COUNT for one page, per node (default 100)
``MEMORY_SAMPLES``  MEMORY USAGE's SAMPLES for collections (default 5)
``MAX_VALUE_BYTES`` a string value larger than this is not fetched whole nor decoded,
                    only its size and first bytes are shown (default 1 MiB)
``MAX_SHOWN_CHARS`` a decoded value's text is cut after this many characters (default 20000)
``ITEMS_PER_PAGE``  fields, members or elements of a collection per page (default 50)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SETTING = "DJANGO_ASYNC_REDIS_ADMIN"


@dataclass(frozen=True)
class AdminSettings:
    read_only: bool = False
    scan_count: int = 100
    memory_samples: int = 5
    max_value_bytes: int = 1024 * 1024
    max_shown_chars: int = 20_000
    items_per_page: int = 50


_NAMES = {
    "READ_ONLY": "read_only",
    "SCAN_COUNT": "scan_count",
    "MEMORY_SAMPLES": "memory_samples",
    "MAX_VALUE_BYTES": "max_value_bytes",
    "MAX_SHOWN_CHARS": "max_shown_chars",
    "ITEMS_PER_PAGE": "items_per_page",
}


def admin_settings() -> AdminSettings:
    """The settings, validated: a wrong name or value fails naming it."""
    given: Any = getattr(settings, SETTING, None) or {}
    if not isinstance(given, dict):
        raise ImproperlyConfigured(f"{SETTING} must be a dict, not {type(given).__name__}")
    values: dict[str, Any] = {}
    for name, value in given.items():
        if name not in _NAMES:
            raise ImproperlyConfigured(
                f"{SETTING}: unknown key {name!r} (known: {', '.join(_NAMES)})"
            )
        if name == "READ_ONLY":
            if not isinstance(value, bool):
                raise ImproperlyConfigured(f"{SETTING}['READ_ONLY'] must be True or False")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ImproperlyConfigured(
                f"{SETTING}[{name!r}] must be a whole number of at least 1, not {value!r}"
            )
        values[_NAMES[name]] = value
    return AdminSettings(**values)
