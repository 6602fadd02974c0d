"""Session engine: ``SESSION_ENGINE = "django_async_redis.sessions"``.

Each session is one Redis string holding the session dict serialized with
``SESSION_SERIALIZER`` (JSON by default), with a Redis TTL equal to the
session's expiry age. The cache alias named by ``SESSION_CACHE_ALIAS`` must be a
``django_async_redis.cache.RedisCache``: the engine builds its keys with that
cache's key function and sends its commands through that cache's client, so it
shares its connections and topology.

Every storage operation is a :class:`~django_async_redis.ops.Step` built once
and run either by ``client.execute`` (sync API) or ``client.aexecute`` (async
API), so both APIs have the same semantics by construction. Each operation is
one round trip, except ``cycle_key`` (two: the new key is written before the old
one is deleted, so there is never a moment where neither exists) and the rare
write or delete of a session whose owner this object does not know yet (a
second round trip takes it out of that user's index).

Beyond Django: the sessions of each authenticated user are listed in a sorted
set (member: session key, score: expiry in epoch milliseconds) so that
:func:`user_sessions` can list them and :func:`end_user_sessions` can log the
user out everywhere. See ``docs/sessions.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from django.conf import settings
from django.contrib.auth import SESSION_KEY as AUTH_USER_ID_KEY
from django.contrib.sessions.backends.base import (
    VALID_KEY_CHARS,
    CreateError,
    SessionBase,
    UpdateError,
)
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.crypto import get_random_string
from redis import exceptions as redis_errors

from django_async_redis.cache import TRANSIENT_ERRORS, RedisCache
from django_async_redis.ops import Command, Step
from django_async_redis.ops.sessions import (
    ON_PRIMARY,
    delete_step,
    exists_step,
    followed_by,
    get_step,
    leave_owner_index,
    now_ms,
    write_step,
)

__all__ = [
    "IGNORE_EXCEPTIONS_SETTING",
    "SESSION_KEY_PREFIX",
    "USER_INDEX_KEY_PREFIX",
    "LiveSession",
    "SessionStore",
    "aend_user_sessions",
    "auser_sessions",
    "end_user_sessions",
    "user_sessions",
]

logger = logging.getLogger("django_async_redis.sessions")

# Prefixes inside the cache's own key space (KEY_PREFIX and VERSION apply on
# top). Distinct prefixes keep a session key sent in a cookie from ever naming
# an index key.
SESSION_KEY_PREFIX = "django_async_redis.sessions:"
USER_INDEX_KEY_PREFIX = "django_async_redis.user_sessions:"

IGNORE_EXCEPTIONS_SETTING = "DJANGO_ASYNC_REDIS_SESSION_IGNORE_EXCEPTIONS"

# create() draws a fresh random key and relies on SET NX to prove it unused.
# With 32 characters from 36 a collision is practically impossible, so running
# out of attempts means something is wrong, not bad luck.
CREATE_ATTEMPTS = 10

T = TypeVar("T")


def _session_cache() -> RedisCache:
    alias = settings.SESSION_CACHE_ALIAS
    cache = caches[alias]
    if not isinstance(cache, RedisCache):
        raise ImproperlyConfigured(
            f"django_async_redis.sessions needs SESSION_CACHE_ALIAS ({alias!r}) to name a "
            f"django_async_redis.cache.RedisCache; CACHES[{alias!r}] is "
            f"{type(cache).__module__}.{type(cache).__qualname__}."
        )
    return cache


def _ignore_exceptions() -> bool:
    return bool(getattr(settings, IGNORE_EXCEPTIONS_SETTING, False))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _user_id_string(user: Any) -> str:
    """The user id as django.contrib.auth stores it in the session."""
    meta = getattr(user, "_meta", None)
    if meta is not None and getattr(meta, "pk", None) is not None:
        return str(meta.pk.value_to_string(user))
    if user is None:
        raise ValueError("user_sessions functions need a user or a user id, not None")
    return str(user)


def _user_of(data: dict[str, Any]) -> str | None:
    user = data.get(AUTH_USER_ID_KEY)
    return None if user is None else str(user)


def _session_redis_key(cache: RedisCache, session_key: str) -> str:
    return str(cache.make_and_validate_key(SESSION_KEY_PREFIX + session_key))


def _index_redis_key(cache: RedisCache, user_id: str) -> str:
    return str(cache.make_and_validate_key(USER_INDEX_KEY_PREFIX + user_id))


def _explained(error: redis_errors.ResponseError) -> redis_errors.ResponseError:
    """A server too old for the user index says so, instead of a bare arity error."""
    message = str(error).lower()
    if "pexpire" in message and ("wrong number" in message or "syntax" in message):
        return redis_errors.ResponseError(
            "django_async_redis.sessions keeps a per-user index whose expiry needs "
            "PEXPIRE ... NX / GT: Redis 7.0 or later, or Valkey 7.2 or later. "
            f"The server answered: {error}"
        )
    return error


class SessionStore(SessionBase):
    """A session kept in Redis, with native sync and async storage methods."""

    def __init__(self, session_key: str | None = None) -> None:
        self._cache = _session_cache()
        super().__init__(session_key)
        # The user whose index lists this session in Redis, known once this
        # object has loaded or saved it. A save under another user, or a delete,
        # then takes the session out of that index in the same round trip.
        self._indexed_user: str | None = None
        self._index_known = False
        # Set when a load failed and IGNORE_EXCEPTIONS let the request go on
        # with an empty session: saving that empty view would overwrite the real
        # session once Redis is back.
        self._load_failed = False

    if TYPE_CHECKING:
        # SessionBase's own loaders (the session dict, loaded unless no_load),
        # which some django-stubs releases declare and others do not: declared
        # here, it type-checks the same against either.
        def _get_session(self, no_load: bool = False) -> dict[str, Any]: ...
        async def _aget_session(self, no_load: bool = False) -> dict[str, Any]: ...

    # -- keys --------------------------------------------------------------

    def redis_key(self, session_key: str | None = None) -> str:
        """The full Redis key of ``session_key`` (default: this session's key)."""
        session_key = session_key if session_key is not None else self.session_key
        if session_key is None:
            raise ValueError("this session has no key yet")
        return _session_redis_key(self._cache, session_key)

    def _index_key(self, user_id: str | None) -> str | None:
        return None if user_id is None else _index_redis_key(self._cache, user_id)

    # -- running steps -----------------------------------------------------

    def _execute(self, step: Step[Any], operation: str, on_error: Callable[[], T]) -> Any:
        try:
            return self._cache.client.execute(step)
        except TRANSIENT_ERRORS:
            return self._failed(operation, on_error)
        except redis_errors.ResponseError as error:
            raise _explained(error) from error

    async def _aexecute(self, step: Step[Any], operation: str, on_error: Callable[[], T]) -> Any:
        try:
            return await self._cache.client.aexecute(step)
        except TRANSIENT_ERRORS:
            return self._failed(operation, on_error)
        except redis_errors.ResponseError as error:
            raise _explained(error) from error

    @staticmethod
    def _failed(operation: str, on_error: Callable[[], T]) -> T:
        """Called inside an except block: re-raise, unless the project opted in to ignoring."""
        if not _ignore_exceptions():
            raise  # the exception the caller is handling
        logger.exception("Session %s failed; ignored (%s)", operation, IGNORE_EXCEPTIONS_SETTING)
        return on_error()

    # -- the steps of each operation, bound to this session ------------------

    def _load_step(self) -> Step[Any]:
        session_key = self.session_key
        assert session_key is not None

        def loaded(payload: bytes | None) -> dict[str, Any]:
            data = None if payload is None else self._deserialize(payload)
            if data is None:
                # Unknown, expired or unreadable: forget the key so that a new
                # one is issued; a key sent by a client never becomes a record.
                self._session_key = None
                self._indexed_user, self._index_known = None, True
                return {}
            self._indexed_user, self._index_known = _user_of(data), True
            return data

        return followed_by(get_step(self.redis_key(session_key)), loaded)

    def _load_failed_fallback(self) -> dict[str, Any]:
        # Keep the key: the session may well still be in Redis, and dropping the
        # key would make the middleware delete the cookie, a lasting logout
        # caused by a passing outage.
        self._load_failed = True
        return {}

    def _deserialize(self, payload: bytes) -> dict[str, Any] | None:
        signer = self._cache._codec.signer
        try:
            # With the cache's SIGNING on, a session is checked like any value:
            # a forged or unsigned one is corrupt data, an empty session.
            data = self.serializer().loads(signer.unsign(payload) if signer else payload)
        except Exception:
            # Whatever a serializer raises on foreign bytes (ValueError,
            # UnicodeDecodeError, unpickling errors...) means the same thing.
            logging.getLogger("django.security.SuspiciousSession").warning("Session data corrupted")
            return None
        if not isinstance(data, dict):
            return None
        return data

    def _serialize(self, data: dict[str, Any]) -> bytes:
        payload = self.serializer().dumps(data)
        payload = payload.encode() if isinstance(payload, str) else payload
        codec = self._cache._codec
        signed = codec.signer.sign(payload) if codec.signer else payload
        return codec.check_size(signed, "the session")

    def _ttl_ms(self, data: dict[str, Any]) -> int:
        # The expiry is read from ``data`` rather than through self.get(), which
        # would touch the (possibly not yet loaded) session from sync code.
        age = self.get_expiry_age(expiry=data.get("_session_expiry"))
        return int(age * 1000)

    def _store_step(
        self, session_key: str, data: dict[str, Any], *, must_create: bool
    ) -> Step[Any]:
        user = _user_of(data)
        known = self._index_known or must_create
        previous = self._indexed_user if known and self._indexed_user != user else None
        step = write_step(
            key=self.redis_key(session_key),
            session_key=session_key,
            payload=self._serialize(data),
            ttl_ms=self._ttl_ms(data),
            must_create=must_create,
            index=self._index_key(user),
            stale_index=None if must_create else self._index_key(previous),
            # A session whose data was replaced without being loaded (clear(),
            # then save()) may still be listed under its former user.
            owner_index=None if known else self._owner_index,
        )

        def stored(ok: bool) -> bool:
            if ok:
                self._indexed_user, self._index_known = user, True
            return ok

        return followed_by(step, stored)

    def _save_step(self, data: dict[str, Any], must_create: bool) -> Step[Any]:
        session_key = self.session_key
        assert session_key is not None

        def saved(ok: bool) -> None:
            if not ok:
                raise CreateError if must_create else UpdateError

        return followed_by(self._store_step(session_key, data, must_create=must_create), saved)

    def _create_step(self, data: dict[str, Any], attempts: int = CREATE_ATTEMPTS) -> Step[Any]:
        session_key = get_random_string(32, VALID_KEY_CHARS)

        def created(ok: bool) -> Step[Any] | None:
            if ok:
                self._session_key = session_key
                self.modified = True
                return None
            if attempts <= 1:
                raise RuntimeError(
                    f"Unable to create a new session key in {CREATE_ATTEMPTS} tries."
                )
            return self._create_step(data, attempts - 1)

        return followed_by(self._store_step(session_key, data, must_create=True), created)

    def _cycle_step(self, data: dict[str, Any]) -> Step[Any]:
        old_key, known, old_user = self.session_key, self._index_known, self._indexed_user
        create = self._create_step(data)
        if old_key is None:
            return create
        # Delete the old key only once the new one is written: a failure in
        # between leaves both sessions (both indexed), never neither.
        return followed_by(
            create, lambda _: self._delete_step_for(old_key, known=known, user=old_user)
        )

    def _delete_step_for(self, session_key: str, *, known: bool, user: str | None) -> Step[Any]:
        key = self.redis_key(session_key)
        if known:
            return delete_step(key, session_key, self._index_key(user))

        # Whose session this is cannot be known without reading it (a delete by
        # key, or a flush() of a session never loaded): GETDEL deletes and
        # reads in the same round trip, and only a session that belonged to a
        # user costs a second one, to leave that user's index.
        def deleted(replies: list[Any]) -> Any:
            if replies[0] is None:
                return None
            return leave_owner_index(replies[0], self._owner_index, None, session_key, None)

        return Step([(b"GETDEL", key)], deleted, write=ON_PRIMARY)

    def _owner_index(self, payload: bytes) -> str | None:
        data = self._deserialize(payload)
        return None if data is None else self._index_key(_user_of(data))

    def _delete_step_own_or_other(self, session_key: str) -> Step[Any]:
        own = session_key == self.session_key and self._index_known
        return self._delete_step_for(
            session_key, known=own, user=self._indexed_user if own else None
        )

    def _forget_deleted(self, session_key: str) -> None:
        if session_key == self.session_key:
            self._indexed_user, self._index_known = None, True

    # -- sync API ----------------------------------------------------------

    def load(self) -> dict[str, Any]:
        if self.session_key is None:
            return {}
        result: dict[str, Any] = self._execute(
            self._load_step(), "load", self._load_failed_fallback
        )
        return result

    def exists(self, session_key: str | None) -> bool:
        if not session_key:
            return False
        return bool(self._execute(exists_step(self.redis_key(session_key)), "exists", bool))

    def create(self) -> None:
        data = self._get_session(no_load=True)
        self._execute(self._create_step(data), "create", lambda: None)

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        if self._skip_save(data):
            return None
        self._execute(self._save_step(data, must_create), "save", lambda: None)
        return None

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self._execute(self._delete_step_own_or_other(session_key), "delete", lambda: None)
        self._forget_deleted(session_key)

    def cycle_key(self) -> None:
        data = self._get_session()
        self._execute(self._cycle_step(data), "cycle_key", lambda: None)
        self._session_cache = data

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: Redis expires sessions itself."""

    # -- async API (Django calls these from its async session methods) -----

    async def aload(self) -> dict[str, Any]:
        if self.session_key is None:
            return {}
        result: dict[str, Any] = await self._aexecute(
            self._load_step(), "load", self._load_failed_fallback
        )
        return result

    async def aexists(self, session_key: str | None) -> bool:
        if not session_key:
            return False
        return bool(await self._aexecute(exists_step(self.redis_key(session_key)), "exists", bool))

    async def acreate(self) -> None:
        data = await self._aget_session(no_load=True)
        await self._aexecute(self._create_step(data), "create", lambda: None)

    async def asave(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return await self.acreate()
        data = await self._aget_session(no_load=must_create)
        if self._skip_save(data):
            return None
        await self._aexecute(self._save_step(data, must_create), "save", lambda: None)
        return None

    async def adelete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        await self._aexecute(self._delete_step_own_or_other(session_key), "delete", lambda: None)
        self._forget_deleted(session_key)

    async def acycle_key(self) -> None:
        data = await self._aget_session()
        await self._aexecute(self._cycle_step(data), "cycle_key", lambda: None)
        self._session_cache = data

    async def aflush(self) -> None:
        self.clear()
        await self.adelete()
        self._session_key = None

    @classmethod
    async def aclear_expired(cls) -> None:
        """Nothing to do: Redis expires sessions itself."""

    # -- shared checks -----------------------------------------------------

    def _skip_save(self, data: dict[str, Any]) -> bool:
        if self.session_key is None:
            # Loading (just now, for this save) found the session gone.
            raise UpdateError
        if self._load_failed:
            logger.warning(
                "Session not saved: it could not be loaded (%s is on)", IGNORE_EXCEPTIONS_SETTING
            )
            return True
        return False


# --------------------------------------------------------------------------
# "Log out everywhere": the sessions of one user.


class LiveSession(NamedTuple):
    """A live session of a user: its key and when Redis will expire it."""

    session_key: str
    # None only for a key Redis keeps forever, which this engine never writes.
    expires_at: datetime | None


def _user_sessions_step(cache: RedisCache, user_id: str) -> Step[list[LiveSession]]:
    index = _index_redis_key(cache, user_id)
    now = now_ms()

    def listed(replies: list[Any]) -> list[LiveSession] | Step[list[LiveSession]]:
        members = [_text(member) for member in replies[1]]
        if not members:
            return []
        # PTTL both proves a session exists and gives its true remaining life.
        commands: list[Command] = [
            (b"PTTL", _session_redis_key(cache, member)) for member in members
        ]

        def checked(ttls: list[Any]) -> list[LiveSession] | Step[list[LiveSession]]:
            base = timezone.now()
            remaining = list(zip(members, map(int, ttls), strict=True))
            live = [
                LiveSession(member, None if ttl == -1 else base + timedelta(milliseconds=ttl))
                for member, ttl in remaining
                if ttl != -2
            ]
            live.sort(key=lambda session: (session.expires_at is None, session.expires_at or base))
            gone = [member for member, ttl in remaining if ttl == -2]
            if not gone:
                return live
            # Sessions deleted without their owner known (delete(key) of another
            # session): prune them now that we know.
            return Step([(b"ZREM", index, *gone)], lambda _: live, write=ON_PRIMARY)

        return Step(commands, checked, write=ON_PRIMARY)

    return Step(
        [(b"ZREMRANGEBYSCORE", index, b"-inf", now), (b"ZRANGE", index, 0, -1)],
        listed,
        write=ON_PRIMARY,
    )


def _end_user_sessions_step(cache: RedisCache, user_id: str, keep: str | None) -> Step[int]:
    index = _index_redis_key(cache, user_id)

    def listed(replies: list[Any]) -> int | Step[int]:
        members = [_text(member) for member in replies[0] if _text(member) != keep]
        if not members:
            return 0
        # One DEL per key rather than one DEL of many: on a cluster the keys
        # live in different slots. Only the members read are removed from the
        # index, never the index itself, so a session created meanwhile stays
        # listed.
        commands: list[Command] = [
            (b"DEL", _session_redis_key(cache, member)) for member in members
        ]
        commands.append((b"ZREM", index, *members))
        return Step(commands, lambda deleted: sum(int(n) for n in deleted[:-1]), write=ON_PRIMARY)

    return Step([(b"ZRANGE", index, 0, -1)], listed, write=ON_PRIMARY)


def user_sessions(user: Any) -> list[LiveSession]:
    """The live sessions of ``user`` (a user object or its primary key), soonest to expire first."""
    cache = _session_cache()
    result: list[LiveSession] = cache.client.execute(
        _user_sessions_step(cache, _user_id_string(user))
    )
    return result


async def auser_sessions(user: Any) -> list[LiveSession]:
    """Async :func:`user_sessions`."""
    cache = _session_cache()
    result: list[LiveSession] = await cache.client.aexecute(
        _user_sessions_step(cache, _user_id_string(user))
    )
    return result


def end_user_sessions(user: Any, *, keep: str | None = None) -> int:
    """Log ``user`` out everywhere: delete all their sessions but ``keep``; returns how many ended.

    Pass ``keep=request.session.session_key`` to log out the user's other devices only.
    """
    cache = _session_cache()
    ended: int = cache.client.execute(_end_user_sessions_step(cache, _user_id_string(user), keep))
    return ended


async def aend_user_sessions(user: Any, *, keep: str | None = None) -> int:
    """Async :func:`end_user_sessions`."""
    cache = _session_cache()
    ended: int = await cache.client.aexecute(
        _end_user_sessions_step(cache, _user_id_string(user), keep)
    )
    return ended
