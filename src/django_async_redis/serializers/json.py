"""JSON: readable by any language, limited to JSON's types."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from django_async_redis.serializers.base import BaseSerializer


class JSONSerializer(BaseSerializer):
    """Compact UTF-8 JSON.

    ``encoder_class`` (DjangoJSONEncoder, as in django-redis) writes dates,
    times, decimals, UUIDs and lazy strings as strings; they read back as
    strings. Tuples read back as lists, and bytes cannot be stored at all.
    """

    encoder_class: type[json.JSONEncoder] = DjangoJSONEncoder

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        # An encoder holds no per-call state, so one instance serves every call.
        # Raw UTF-8 rather than \u escapes keeps non-ASCII text at a third of
        # the size; a lone surrogate, which UTF-8 cannot carry, fails loudly.
        self._encode = self.encoder_class(separators=(",", ":"), ensure_ascii=False).encode
        self._decode = json.JSONDecoder().decode

    def dumps(self, value: Any) -> bytes:
        return self._encode(value).encode()

    def loads(self, value: bytes) -> Any:
        return self._decode(value.decode())
