"""What the section can change: a key's TTL, its expiry removed, a key or a pattern deleted.

Each is one command routed by its key like any cache call, except deleting by
pattern, which walks every part of the key space as ``manage.py redis_cache
delete`` does (SCAN pages, each page UNLINKed on the node that returned it):
counted first, for the confirmation, and deleted in the same batches after.
There is no flush: nothing here names a database rather than keys. Every
change is written to the admin's LogEntry history by ``record``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.http import HttpRequest

from ..cache import RedisCache
from ..management import inspect
from ..ops import Step
from .models import Cache

# Deleting by pattern walks with SCAN pages this big (the command's default).
PATTERN_BATCH = 1000


def _one(cache: RedisCache, command: tuple[Any, ...]) -> Any:
    return cache.client.execute(Step((command,), lambda replies: replies[0], True))


def set_ttl(cache: RedisCache, key: bytes, seconds: int) -> bool:
    """EXPIRE: True when the key was there to get the TTL."""
    return bool(_one(cache, (b"EXPIRE", key, seconds)) == 1)


def persist(cache: RedisCache, key: bytes) -> bool:
    """PERSIST: True when the key had an expiry, now removed."""
    return bool(_one(cache, (b"PERSIST", key)) == 1)


def delete_key(cache: RedisCache, key: bytes) -> bool:
    """UNLINK: True when the key was there."""
    return bool(_one(cache, (b"UNLINK", key)) == 1)


def count_pattern(cache: RedisCache, glob: bytes) -> dict[str, int]:
    """How many keys match ``glob``, per node (every part of the key space walked)."""
    client = cache.client
    counts: dict[str, int] = {}
    for address, node in inspect.part_nodes(client):
        progress = inspect.ScanProgress(address, count=PATTERN_BATCH)
        for _page in inspect.scan(client, node, glob, PATTERN_BATCH, progress):
            pass
        counts[inspect.address_of(client, node)] = progress.matched
    return counts


def delete_pattern(cache: RedisCache, glob: bytes) -> int:
    """UNLINK every key matching ``glob``, one SCAN page at a time; how many went."""
    client = cache.client
    deleted = 0
    for _address, node in inspect.part_nodes(client):
        for page in inspect.scan(client, node, glob, PATTERN_BATCH):
            deleted += inspect.unlink(client, node, page)
    return deleted


def record(request: HttpRequest, alias: str, what: str, deletion: bool, message: str) -> None:
    """A LogEntry for the change, on the ``Cache`` stand-in for ``alias:what``."""
    entry = Cache(key=f"{alias}:{what}")
    # Every action view requires a signed-in staff user: there is a primary key.
    user_id = request.user.pk
    assert user_id is not None
    LogEntry.objects.log_actions(
        user_id=user_id,
        queryset=[entry],
        action_flag=DELETION if deletion else CHANGE,
        change_message=message,
        single_object=True,
    )
