"""MessagePack: compact and cross-language, for plain data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_async_redis.serializers.base import BaseSerializer


class MSGPackSerializer(BaseSerializer):
    """MessagePack via the ``msgpack`` package (``pip install django-async-redis[msgpack]``).

    Stores None, bools, numbers, str, bytes, lists and dicts; tuples read back
    as lists.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        # Imported here so that a missing extra is reported when the cache is
        # built, naming the fix, rather than on the first request.
        try:
            import msgpack
        except ImportError as exc:
            raise ImproperlyConfigured(
                "MSGPackSerializer needs the msgpack package: "
                "pip install django-async-redis[msgpack]"
            ) from exc
        # msgpack ships no type information: say what these answer.
        self._packb: Callable[..., bytes] = msgpack.packb
        self._unpackb: Callable[..., Any] = msgpack.unpackb

    def dumps(self, value: Any) -> bytes:
        return self._packb(value, use_bin_type=True)

    def loads(self, value: bytes) -> Any:
        # strict_map_key guards against hash flooding by untrusted input; cache
        # entries are our own writes, and without it {1: "a"} would not read back.
        return self._unpackb(value, raw=False, strict_map_key=False)
