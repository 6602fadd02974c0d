"""Pickle: any picklable Python object, at the protocol PICKLE_VERSION names."""

from __future__ import annotations

import pickle
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_async_redis.serializers.base import BaseSerializer


class PickleSerializer(BaseSerializer):
    """The default serializer: round-trips anything picklable.

    OPTIONS["PICKLE_VERSION"] picks the protocol; -1 means the highest this
    Python supports. The default is pickle.DEFAULT_PROTOCOL, as in django-redis:
    set and sorted-set members are matched by their bytes, so only the same
    protocol finds (SISMEMBER, SREM, ZSCORE) a member django-redis wrote.
    Pin a lower one while processes running an older Python still read the
    same cache.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.protocol = _protocol(options.get("PICKLE_VERSION", pickle.DEFAULT_PROTOCOL))

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, self.protocol)

    def loads(self, value: bytes) -> Any:
        return pickle.loads(value)


def _protocol(value: Any) -> int:
    # django-redis passed the option through int(), so a digit string (from an
    # environment variable, say) is accepted too; bools and floats are not.
    if isinstance(value, str):
        try:
            protocol = int(value)
        except ValueError:
            protocol = None
    elif isinstance(value, int) and not isinstance(value, bool):
        protocol = value
    else:
        protocol = None
    if protocol is None or not -1 <= protocol <= pickle.HIGHEST_PROTOCOL:
        raise ImproperlyConfigured(
            f"PICKLE_VERSION must be an integer from -1 to {pickle.HIGHEST_PROTOCOL} "
            f"(-1 means the highest), not {value!r}"
        )
    return protocol
