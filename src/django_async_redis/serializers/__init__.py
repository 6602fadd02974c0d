"""Serializers turn cache values into bytes and back.

Choose one with OPTIONS["SERIALIZER"], a dotted path:

- ``django_async_redis.serializers.pickle.PickleSerializer`` (default)
- ``django_async_redis.serializers.json.JSONSerializer``
- ``django_async_redis.serializers.msgpack.MSGPackSerializer`` (extra ``[msgpack]``)

A custom serializer subclasses :class:`BaseSerializer`; classes written for
django-redis work unchanged, since the interface is the same.
"""

from __future__ import annotations

from django_async_redis.serializers.base import BaseSerializer

__all__ = ["BaseSerializer"]
