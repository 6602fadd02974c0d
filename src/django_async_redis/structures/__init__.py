"""Redis data structures on the cache: sets, hashes, sorted sets, lists.

Each family is a mixin of :class:`~django_async_redis.cache.RedisCache`. A
public method and its ``a``-prefixed twin share one builder (``_sadd`` makes
the Step, ``sadd`` runs it blocking, ``asadd`` on the event loop); the
semantics are the Steps in ``ops.sets``, ``ops.hashes``, ``ops.sorted_sets``
and ``ops.lists``. Keys are made and versioned as every other cache key;
members and values go through the cache's codec, so any Python value
round-trips, and a structure written by django-redis reads back here.
"""

from .hashes import HashesMixin
from .lists import ListsMixin
from .sets import SetsMixin
from .sorted_sets import SortedSetsMixin

__all__ = ["HashesMixin", "ListsMixin", "SetsMixin", "SortedSetsMixin"]
