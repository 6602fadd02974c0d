"""The Django cache backend: keys, timeouts and the error policy, nothing more.

Each public method makes its keys with Django's own helpers, turns the timeout
into milliseconds, builds the operation (``ops``) and hands it to the client's
sync or async runner. The semantics of every operation live in ``ops``, once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import (
    Callable,
    Iterable,
    Mapping,
)
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.cache.backends.base import (
    DEFAULT_TIMEOUT,
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    default_key_func,
)
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from redis import exceptions as redis_errors

from . import ops
from .client.herd import ValueOps, parse_herd_options, value_ops
from .client.routing import command_keys
from .client_cache.client import tier_for, with_client_cache
from .client_cache.options import parse_client_cache
from .codec import build_codec, decode_policy
from .config import parse_config
from .construction import remember, snapshot, snapshot_key
from .exceptions import DecodeError
from .keyspace import KeySpaceMixin
from .metrics import alias_of, build_client, stats_of
from .structures import HashesMixin, ListsMixin, SetsMixin, SortedSetsMixin

if TYPE_CHECKING:
    from .client.base import BaseClient

# An operation's answer, as the facades' _run and _arun pass it through.
T = TypeVar("T")

# Failures IGNORE_EXCEPTIONS may swallow: the server is unreachable or slow.
# Reply errors (WRONGTYPE, a bad script, ...) are bugs and always surface.
TRANSIENT_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError)


def default_reverse_key(key: str) -> str:
    """The caller's key from a key built by Django's default key function."""
    return key.split(":", 2)[2]


class _LazyDefault:
    """get_or_set's fallback: the default, computed only when it is really needed."""

    def __init__(self, default: Any) -> None:
        self._default = default

    @property
    def value(self) -> Any:
        return self._default() if callable(self._default) else self._default


# Redis keys already made from (KEY_PREFIX, version, key) by the stock key
# function: the same few keys are asked for again and again, and making one
# costs several times a lookup. Shared by every backend instance (Django builds
# one per request context under ASGI, so a memo of each would start cold on
# every request); cleared when full. Only str keys with an int version that
# need no CacheKeyWarning are kept, so what a lookup answers is exactly what
# making the key would have.
_made_keys: dict[tuple[str, int, str], bytes] = {}
_MADE_KEYS_LIMIT = 10_000


class RedisCache(KeySpaceMixin, SetsMixin, HashesMixin, SortedSetsMixin, ListsMixin, BaseCache):
    """Redis (or Valkey) cache with a native sync and a native async API."""

    # set/aset, delete_many/adelete_many and clear/aclear answer what
    # django-redis's answer (a bool, a count) where django-stubs declares None:
    # their `type: ignore[override,unused-ignore]` stays quiet if a stubs
    # release ever declares what we return.

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        # Django builds a backend per request under ASGI: one built before from
        # equal arguments and settings is copied, not derived again (construction.py).
        key = snapshot_key(type(self), server, params)
        known = snapshot(key)
        if known is not None:
            self.__dict__.update(known)
            return
        self._build(server, params)
        remember(key, self.__dict__)

    def _build(self, server: Any, params: dict[str, Any]) -> None:
        """Everything a backend derives from its arguments and the settings."""
        super().__init__(params)
        self._config = parse_config(server, params)
        self._codec = build_codec(dict(self._config.options))
        self._encode = self._codec.encode
        self._decode = self._codec.decode
        self._miss_undecodable = decode_policy(self._config.options) == "miss"
        try:
            client_class = import_string(self._config.client_class)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"CLIENT_CLASS {self._config.client_class!r} cannot be imported: {exc}"
            ) from exc
        client_cache = parse_client_cache(
            self._config.options.get("CLIENT_CACHE"),
            self.key_prefix,
            custom_key_function=not (
                type(self).make_key is BaseCache.make_key and self.key_func is default_key_func
            ),
        )
        if client_cache is not None:
            client_class = with_client_cache(client_class)
        # The class itself, or its instrumented subclass with METRICS/TRACING (metrics.py).
        self._client: BaseClient = build_client(client_class, self._config, server, params)
        if client_cache is not None:
            self._client.tier = tier_for(  # type: ignore[attr-defined]
                self._client, client_cache, alias_of(server, params)
            )
        # The stock value operations, or the herd's / get_or_set lock's (client/herd.py).
        self._values: ValueOps = value_ops(parse_herd_options(self._config.options), self._client)
        self._custom_validation = type(self).validate_key is not BaseCache.validate_key
        self._stock_make_key = type(self).make_key is BaseCache.make_key
        self._ignore_exceptions = self._config.ignore_exceptions
        self._log_ignored = self._config.log_ignored_exceptions
        self._logger = logging.getLogger(self._config.logger_name)
        reverse = self._config.reverse_key_function
        self._reverse_key: Callable[[str], str] = (
            import_string(reverse) if isinstance(reverse, str) else reverse or default_reverse_key
        )

    @property
    def client(self) -> BaseClient:
        """The topology client: runs ``ops.Step`` objects via ``execute`` / ``aexecute``."""
        return self._client

    def stats(self) -> dict[str, Any]:
        """This alias's counters in this process (OPTIONS METRICS); {} when it is off."""
        return stats_of(self._client)

    # keys and timeouts -----------------------------------------------------

    def _key(self, key: Any, version: int | None) -> bytes:
        memo: tuple[str, int, str] | None = None
        if self._stock_make_key and self.key_func is default_key_func:
            # What make_key() and Django's default key function would build, without
            # their two calls: a key is made on every operation. %-formatting as
            # Django's, which str()s each part (format() may differ, e.g. for enums).
            version = self.version if version is None else version
            if type(key) is str and type(version) is int and not self._custom_validation:
                memo = (self.key_prefix, version, key)
                known = _made_keys.get(memo)
                if known is not None:
                    return known
            made = "%s:%s:%s" % (self.key_prefix, version, key)  # noqa: UP031
        else:
            made = self.make_key(key, version=version)
        # Django's validate_key walks the key in Python, character by character.
        # Call it only when it could warn (over 250 characters, a control
        # character, space or DEL; isprintable() is False for all of those but
        # space) or when it was overridden, so its exact CacheKeyWarning still
        # reaches the caller, at a fraction of the cost.
        if (
            self._custom_validation
            or len(made) > MEMCACHE_MAX_KEY_LENGTH
            or not made.isprintable()
            or " " in made
        ):
            self.validate_key(made)
            memo = None  # a key that may warn warns on every call: never remembered
        encoded = made.encode()
        if memo is not None:
            if len(_made_keys) >= _MADE_KEYS_LIMIT:
                _made_keys.clear()
            _made_keys[memo] = encoded
        return encoded

    def _expiry_ms(self, timeout: Any) -> int | None:
        """Django's timeout as milliseconds: None forever, <= 0 not stored."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        if type(timeout) is int:  # the usual case, and exact: no rounding to do
            return timeout * 1000 if timeout > 0 else 0
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds or None, not {timeout!r}")
        if timeout <= 0:
            return 0
        # Sub-millisecond positive timeouts round up: the caller asked to store.
        return max(1, math.ceil(timeout * 1000))

    # error policy ----------------------------------------------------------

    def _fallback(self, error: Exception, fallback: Any) -> Any:
        """The answer to a transient error: re-raise it, or log and return ``fallback``."""
        if not self._ignore_exceptions:
            raise error
        if self._log_ignored:
            # django-redis's exact record (level ERROR, this message, the error
            # in exc_info): log filters and alerts written for it keep matching.
            self._logger.exception("Exception ignored", exc_info=error)
        return fallback

    def _undecodable(self, error: DecodeError, step: ops.Operation[Any], fallback: Any) -> Any:
        """A stored value that cannot be read: raise, naming its key, or (ON_DECODE_ERROR
        "miss") log it and answer as if it were absent."""
        if not error.keys and type(step) is ops.Step and step.commands:
            # Every decoding operation reads the key(s) of its first command.
            error.keys = command_keys(step.commands[0])
        if not self._miss_undecodable:
            raise error
        self._logger.warning("Cache value read as a miss: %s", error)
        return fallback if error.partial is None else error.partial

    # ``fallback`` is untyped, as the facades' return types name only the answer
    # of a success: under IGNORE_EXCEPTIONS or ON_DECODE_ERROR "miss" a failure
    # answers the fallback instead (None unless the facade passes one).

    def _run(self, step: ops.Operation[T], fallback: Any = None) -> T:
        failed: T  # what the error policy answers instead (see above)
        try:
            return self._client.execute(step)
        except TRANSIENT_ERRORS as error:
            failed = self._fallback(error, fallback)
        except DecodeError as error:
            failed = self._undecodable(error, step, fallback)
        return failed

    async def _arun(self, step: ops.Operation[T], fallback: Any = None) -> T:
        failed: T  # what the error policy answers instead (see above)
        try:
            return await self._client.aexecute(step)
        except TRANSIENT_ERRORS as error:
            failed = self._fallback(error, fallback)
        except DecodeError as error:
            failed = self._undecodable(error, step, fallback)
        return failed

    # operation builders shared by both APIs ---------------------------------

    def _get(self, key: Any, default: Any, version: int | None) -> ops.Step[Any]:
        return self._values.get(self._key(key, version), default, self._decode)

    def _add(self, key: Any, value: Any, timeout: Any, version: int | None) -> ops.Step[bool]:
        return self._values.add(
            self._key(key, version), self._encode(value), self._expiry_ms(timeout)
        )

    def _set(
        self, key: Any, value: Any, timeout: Any, version: int | None, nx: bool, xx: bool
    ) -> ops.Step[bool]:
        return self._values.set(
            self._key(key, version), self._encode(value), self._expiry_ms(timeout), nx=nx, xx=xx
        )

    def _get_many(
        self, keys: Iterable[Any], version: int | None
    ) -> ops.Step[dict[Any, Any]] | None:
        by_redis_key = {self._key(key, version): key for key in keys}
        return self._values.get_many(by_redis_key, self._decode) if by_redis_key else None

    def _set_many(
        self, data: Mapping[Any, Any], timeout: Any, version: int | None
    ) -> ops.Step[list[Any]] | None:
        items = [(self._key(key, version), self._encode(value)) for key, value in data.items()]
        return self._values.set_many(items, self._expiry_ms(timeout)) if items else None

    def _delete_many(self, keys: Iterable[Any], version: int | None) -> ops.Step[int] | None:
        redis_keys = [self._key(key, version) for key in keys]
        return ops.delete_many(redis_keys) if redis_keys else None

    def _incr(
        self, key: Any, delta: int, version: int | None, ignore_key_check: bool
    ) -> ops.Step[int]:
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"delta must be an int, not {delta!r}")
        redis_key = self._key(key, version)
        return self._values.incr(redis_key, delta, str(key), check_key=not ignore_key_check)

    def _get_or_set(
        self, key: Any, default: Any, timeout: Any, version: int | None
    ) -> ops.Step[Any]:
        return self._values.get_or_set(
            self._key(key, version), default, self._expiry_ms(timeout), self._encode, self._decode
        )

    def _overwrite_undecodable(
        self,
        error: DecodeError,
        step: ops.Step[Any],
        key: Any,
        default: Any,
        timeout: Any,
        version: int | None,
    ) -> tuple[ops.Step[Any], Any]:
        """get_or_set over a value that cannot be read: raise, or store the default over it."""
        self._undecodable(error, step, None)
        value = default() if callable(default) else default
        store = self._set(key, value, timeout, version, False, False)
        return ops.Step(store.commands, lambda replies: value, write=True), value

    def _change_version(self, key: Any, delta: int, version: int | None) -> ops.Step[int]:
        if version is None:
            version = self.version
        old_key = self._key(key, version)
        new_key = self._key(key, version + delta)
        return ops.rename_version(old_key, new_key, str(key), version + delta)

    # Django's cache API: sync -------------------------------------------------

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return bool(self._run(self._add(key, value, timeout, version), False))

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._run(self._get(key, default, version), default)

    # set/aset/clear/aclear answer a bool (django-redis's convention, which the
    # code of users switching over relies on) where Django's stubs say None.
    def set(  # type: ignore[override,unused-ignore]
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        nx: bool = False,
        xx: bool = False,
    ) -> bool:
        """Store ``value``; with ``nx``/``xx`` only if the key is absent/present. True if stored."""
        return bool(self._run(self._set(key, value, timeout, version, nx, xx), False))

    def _touch(self, key: Any, timeout: Any, version: int | None) -> ops.Step[bool]:
        return self._values.touch(self._key(key, version), self._expiry_ms(timeout))

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return bool(self._run(self._touch(key, timeout, version), False))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return bool(self._run(ops.delete(self._key(key, version)), False))

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        step = self._get_many(keys, version)
        return self._run(step, {}) if step else {}

    def get_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> Any:
        step = self._get_or_set(key, default, timeout, version)
        try:
            return self._client.execute(step)
        except TRANSIENT_ERRORS as error:
            return self._fallback(error, _LazyDefault(default)).value
        except DecodeError as error:
            store, value = self._overwrite_undecodable(error, step, key, default, timeout, version)
        return self._run(store, value)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return bool(self._run(ops.has_key(self._key(key, version)), False))

    def incr(
        self, key: Any, delta: int = 1, version: int | None = None, ignore_key_check: bool = False
    ) -> int:
        """Add ``delta``; ValueError for a missing key unless ``ignore_key_check``."""
        return self._run(self._incr(key, delta, version, ignore_key_check))

    def decr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self.incr(key, -delta, version)

    def set_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        """Store every pair in one round trip; returns the keys that failed."""
        step = self._set_many(data, timeout, version)
        return self._run(step, list(data)) if step else []

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> int | None:  # type: ignore[override,unused-ignore]
        """Delete ``keys``; how many existed (as django-redis); None for no keys (as Django)."""
        step = self._delete_many(keys, version)
        return self._run(step) if step else None

    def clear(self) -> bool:  # type: ignore[override,unused-ignore]
        """Empty the whole Redis database (FLUSHDB), not only this cache's keys."""
        return bool(self._run(ops.clear(), False))

    def incr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._run(self._change_version(key, delta, version))

    def decr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self.incr_version(key, -delta, version)

    def close(self, **kwargs: Any) -> None:
        """Called by Django after every request: free only with CLOSE_CONNECTION."""
        if self._config.close_connection:
            self._client.close()

    # Django's cache API: async ------------------------------------------------

    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return bool(await self._arun(self._add(key, value, timeout, version), False))

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return await self._arun(self._get(key, default, version), default)

    async def aset(  # type: ignore[override,unused-ignore]
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        nx: bool = False,
        xx: bool = False,
    ) -> bool:
        """Store ``value``; with ``nx``/``xx`` only if the key is absent/present. True if stored."""
        return bool(await self._arun(self._set(key, value, timeout, version, nx, xx), False))

    async def atouch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return bool(await self._arun(self._touch(key, timeout, version), False))

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        return bool(await self._arun(ops.delete(self._key(key, version)), False))

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        step = self._get_many(keys, version)
        return await self._arun(step, {}) if step else {}

    async def aget_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> Any:
        step = self._get_or_set(key, default, timeout, version)
        try:
            return await self._client.aexecute(step)
        except TRANSIENT_ERRORS as error:
            return self._fallback(error, _LazyDefault(default)).value
        except DecodeError as error:
            store, value = self._overwrite_undecodable(error, step, key, default, timeout, version)
        return await self._arun(store, value)

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        return bool(await self._arun(ops.has_key(self._key(key, version)), False))

    async def aincr(
        self, key: Any, delta: int = 1, version: int | None = None, ignore_key_check: bool = False
    ) -> int:
        """Add ``delta``; ValueError for a missing key unless ``ignore_key_check``."""
        return await self._arun(self._incr(key, delta, version, ignore_key_check))

    async def adecr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return await self.aincr(key, -delta, version)

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        """Store every pair in one round trip; returns the keys that failed."""
        step = self._set_many(data, timeout, version)
        return await self._arun(step, list(data)) if step else []

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> int | None:  # type: ignore[override,unused-ignore]
        step = self._delete_many(keys, version)
        return await self._arun(step) if step else None

    async def aclear(self) -> bool:  # type: ignore[override,unused-ignore]
        """Empty the whole Redis database (FLUSHDB), not only this cache's keys."""
        return bool(await self._arun(ops.clear(), False))

    async def aincr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return await self._arun(self._change_version(key, delta, version))

    async def adecr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return await self.aincr_version(key, -delta, version)

    async def aclose(self, **kwargs: Any) -> None:
        if self._config.close_connection:
            await self._client.aclose()

    # Redis extras: expiry ---------------------------------------------------

    def ttl(self, key: Any, version: int | None = None) -> int | None:
        """Seconds left; None if the key never expires, 0 if it does not exist."""
        return self._run(ops.ttl(self._key(key, version)))

    async def attl(self, key: Any, version: int | None = None) -> int | None:
        return await self._arun(ops.ttl(self._key(key, version)))

    def pttl(self, key: Any, version: int | None = None) -> int | None:
        """Milliseconds left; None if the key never expires, 0 if it does not exist."""
        return self._run(ops.ttl(self._key(key, version), milliseconds=True))

    async def apttl(self, key: Any, version: int | None = None) -> int | None:
        step = ops.ttl(self._key(key, version), milliseconds=True)
        return await self._arun(step)

    def _expire(self, key: Any, amount: Any, version: int | None, ms: bool) -> ops.Step[bool]:
        if amount is DEFAULT_TIMEOUT:  # the cache's TIMEOUT, as django-redis; None: forever
            return self._values.touch(self._key(key, version), self._expiry_ms(amount))
        if isinstance(amount, timedelta):
            amount = amount.total_seconds() * (1000 if ms else 1)
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise TypeError(f"expiry must be a number or a timedelta, not {amount!r}")
        return self._values.expire(self._key(key, version), int(amount), milliseconds=ms)

    def expire(self, key: Any, timeout: int | timedelta, version: int | None = None) -> bool:
        """Set the key to expire in ``timeout`` seconds; False if it does not exist."""
        return bool(self._run(self._expire(key, timeout, version, False), False))

    async def aexpire(self, key: Any, timeout: int | timedelta, version: int | None = None) -> bool:
        return bool(await self._arun(self._expire(key, timeout, version, False), False))

    def pexpire(self, key: Any, timeout: int | timedelta, version: int | None = None) -> bool:
        """Set the key to expire in ``timeout`` milliseconds; False if it does not exist."""
        return bool(self._run(self._expire(key, timeout, version, True), False))

    async def apexpire(
        self, key: Any, timeout: int | timedelta, version: int | None = None
    ) -> bool:
        return bool(await self._arun(self._expire(key, timeout, version, True), False))

    def _expire_at(self, key: Any, when: Any, version: int | None, ms: bool) -> ops.Step[bool]:
        if isinstance(when, datetime):
            when = when.timestamp() * (1000 if ms else 1)
        if isinstance(when, bool) or not isinstance(when, (int, float)):
            raise TypeError(f"when must be a datetime or a Unix timestamp, not {when!r}")
        return self._values.expire_at(self._key(key, version), int(when), milliseconds=ms)

    def expire_at(self, key: Any, when: datetime | int, version: int | None = None) -> bool:
        """Expire the key at ``when`` (a datetime or Unix seconds)."""
        return bool(self._run(self._expire_at(key, when, version, False), False))

    async def aexpire_at(self, key: Any, when: datetime | int, version: int | None = None) -> bool:
        return bool(await self._arun(self._expire_at(key, when, version, False), False))

    def pexpire_at(self, key: Any, when: datetime | int, version: int | None = None) -> bool:
        """Expire the key at ``when`` (a datetime or Unix milliseconds)."""
        return bool(self._run(self._expire_at(key, when, version, True), False))

    async def apexpire_at(self, key: Any, when: datetime | int, version: int | None = None) -> bool:
        return bool(await self._arun(self._expire_at(key, when, version, True), False))

    def persist(self, key: Any, version: int | None = None) -> bool:
        """Remove the key's expiry; False if it does not exist or had none."""
        return bool(self._run(ops.persist(self._key(key, version)), False))

    async def apersist(self, key: Any, version: int | None = None) -> bool:
        return bool(await self._arun(ops.persist(self._key(key, version)), False))
