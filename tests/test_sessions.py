"""The session engine against a real server: wire format, round trips, expiry,
the per-user index ("log out everywhere"), the error policy, the middleware.

Django's own session suite runs in ``test_django_session_suite.py``; this file
covers what Django's tests cannot see (what is in Redis, how many round trips)
and what goes beyond Django.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth import SESSION_KEY, login, logout
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.contrib.sessions.serializers import JSONSerializer
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path
from django.utils import timezone

from django_async_redis import sessions
from django_async_redis.cache import RedisCache
from django_async_redis.ops import Step
from django_async_redis.sessions import (
    SessionStore,
    aend_user_sessions,
    auser_sessions,
    end_user_sessions,
    user_sessions,
)

ENGINE = "django_async_redis.sessions"
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
# A hung call would otherwise hang the suite: this bound only catches hangs.
HANG_BOUND = 60.0


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


# ---------------------------------------------------------------- fixtures


class RecordingClient:
    """The cache's real client, driven one round trip at a time and recorded.

    Each recorded entry is (api, commands) for one round trip: this is how the
    tests see that an operation costs one round trip and which commands it sent.
    """

    def __init__(self, inner: Any, log: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        self.inner = inner
        self.log = log

    @staticmethod
    def _single(step: Step) -> Step:
        return Step(step.commands, lambda replies: replies, write=step.write, errors_as_values=True)

    @staticmethod
    def _advance(step: Step, replies: list[Any]) -> Any:
        if not step.errors_as_values:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return step.then(replies)

    def execute(self, step: Step) -> Any:
        result: Any = step
        while isinstance(result, Step):
            self.log.append(("sync", list(result.commands)))
            result = self._advance(result, self.inner.execute(self._single(result)))
        return result

    async def aexecute(self, step: Step) -> Any:
        result: Any = step
        while isinstance(result, Step):
            self.log.append(("async", list(result.commands)))
            result = self._advance(result, await self.inner.aexecute(self._single(result)))
        return result


class RoundTrips:
    def __init__(self) -> None:
        self.log: list[tuple[str, list[tuple[Any, ...]]]] = []

    def clear(self) -> None:
        self.log.clear()

    @property
    def names(self) -> list[list[str]]:
        """Command names per round trip, e.g. [["SET"], ["DEL", "ZREM"]]."""
        return [[_name(command) for command in commands] for _, commands in self.log]

    @property
    def apis(self) -> set[str]:
        return {api for api, _ in self.log}

    def commands(self, index: int = 0) -> list[tuple[Any, ...]]:
        return self.log[index][1]


def _name(command: tuple[Any, ...]) -> str:
    head = command[0]
    return (head.decode() if isinstance(head, bytes) else str(head)).upper()


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    trips = RoundTrips()
    original = RedisCache.__dict__["client"]
    monkeypatch.setattr(
        RedisCache,
        "client",
        property(lambda cache: RecordingClient(original.fget(cache), trips.log)),
    )
    return trips


@pytest.fixture
def r(flushed_redis: redis.Redis) -> redis.Redis:
    return flushed_redis


class API:
    """The sync or the async storage API, called the same way from a test."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _call(self, store: SessionStore, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.name == "sync":
            return getattr(store, method)(*args, **kwargs)
        return run(getattr(store, "a" + method)(*args, **kwargs))

    def load(self, store: SessionStore) -> dict[str, Any]:
        result: dict[str, Any] = self._call(store, "load")
        return result

    def exists(self, store: SessionStore, key: str | None) -> bool:
        return bool(self._call(store, "exists", key))

    def create(self, store: SessionStore) -> None:
        self._call(store, "create")

    def save(self, store: SessionStore, must_create: bool = False) -> None:
        self._call(store, "save", must_create=must_create)

    def delete(self, store: SessionStore, key: str | None = None) -> None:
        self._call(store, "delete", key)

    def cycle_key(self, store: SessionStore) -> None:
        self._call(store, "cycle_key")

    def flush(self, store: SessionStore) -> None:
        self._call(store, "flush")

    def user_sessions(self, user: Any) -> list[sessions.LiveSession]:
        if self.name == "sync":
            return user_sessions(user)
        result: list[sessions.LiveSession] = run(auser_sessions(user))
        return result

    def end_user_sessions(self, user: Any, keep: str | None = None) -> int:
        if self.name == "sync":
            return end_user_sessions(user, keep=keep)
        ended: int = run(aend_user_sessions(user, keep=keep))
        return ended


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> API:
    return API(request.param)


def saved_session(api: API, **data: Any) -> SessionStore:
    store = SessionStore()
    for key, value in data.items():
        store[key] = value  # no I/O: a session without a key loads nothing
    api.save(store)
    assert store.session_key is not None
    return store


def stored(r: redis.Redis, key: str) -> Any:
    """The JSON document Redis holds at ``key`` (None when there is none)."""
    raw: Any = r.get(key)
    return None if raw is None else json.loads(raw)


def redis_key(session_key: str) -> str:
    return SessionStore().redis_key(session_key)


def index_key(user_id: Any) -> str:
    cache = sessions._session_cache()
    return str(cache.make_and_validate_key(sessions.USER_INDEX_KEY_PREFIX + str(user_id)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------- configuration


@override_settings(
    CACHES={
        "default": settings.CACHES["default"],
        "sessions": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    },
    SESSION_CACHE_ALIAS="sessions",
)
def test_needs_a_django_async_redis_cache() -> None:
    with pytest.raises(ImproperlyConfigured, match="SESSION_CACHE_ALIAS \\('sessions'\\)"):
        SessionStore()


def test_uses_the_alias_named_by_session_cache_alias(r: redis.Redis) -> None:
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
        "sessions": {**settings.CACHES["default"], "KEY_PREFIX": "site", "VERSION": 3},
    }
    with override_settings(CACHES=caches, SESSION_CACHE_ALIAS="sessions"):
        store = saved_session(API("sync"), a=1)
        # The cache's key function applies: KEY_PREFIX and VERSION are honoured.
        assert store.redis_key() == f"site:3:django_async_redis.sessions:{store.session_key}"
        assert r.exists(store.redis_key()) == 1


# ---------------------------------------------------------------- one round trip each


def test_create_is_one_set_nx_px(api: API, r: redis.Redis, round_trips: RoundTrips) -> None:
    store = SessionStore()
    store["a"] = 1
    api.create(store)
    assert round_trips.names == [["SET"]]
    command = round_trips.commands()[0]
    assert command[1] == store.redis_key()
    assert command[3:5] == (b"NX", b"PX")
    assert command[5] == settings.SESSION_COOKIE_AGE * 1000
    assert store.modified is True
    assert round_trips.apis == {api.name}


def test_save_of_new_session_creates_it(api: API, r: redis.Redis, round_trips: RoundTrips) -> None:
    store = saved_session(api, a=1)
    assert round_trips.names == [["SET"]]
    assert b"NX" in round_trips.commands()[0]
    assert stored(r, store.redis_key()) == {"a": 1}


def test_save_of_existing_session_is_one_set_xx(
    api: API, r: redis.Redis, round_trips: RoundTrips
) -> None:
    store = saved_session(api, a=1)
    store["b"] = 2
    round_trips.clear()
    api.save(store)
    assert round_trips.names == [["SET"]]
    assert round_trips.commands()[0][3:5] == (b"XX", b"PX")
    assert stored(r, store.redis_key()) == {"a": 1, "b": 2}


def test_load_exists_delete_are_one_command_each(
    api: API, r: redis.Redis, round_trips: RoundTrips
) -> None:
    key = saved_session(api, a=1).session_key
    round_trips.clear()
    store = SessionStore(key)
    assert api.load(store) == {"a": 1}
    assert api.exists(store, key) is True
    api.delete(store, key)
    assert api.exists(store, key) is False
    assert round_trips.names == [["GET"], ["EXISTS"], ["DEL"], ["EXISTS"]]
    assert round_trips.apis == {api.name}


def test_exists_of_no_key_asks_nothing(api: API, round_trips: RoundTrips) -> None:
    assert api.exists(SessionStore(), None) is False
    assert api.exists(SessionStore(), "") is False
    assert round_trips.names == []


def test_cycle_key_writes_the_new_key_before_deleting_the_old(
    api: API, r: redis.Redis, round_trips: RoundTrips
) -> None:
    store = saved_session(api, a=1)
    old = store.session_key
    old_redis_key = store.redis_key()
    round_trips.clear()
    api.cycle_key(store)
    new = store.session_key
    assert new != old
    # Two round trips, in this order: there is never a moment where neither
    # key exists (between them, both do).
    assert round_trips.names == [["SET"], ["DEL"]]
    assert round_trips.commands(0)[0][1] == store.redis_key()
    assert round_trips.commands(0)[0][3] == b"NX"
    assert round_trips.commands(1)[0][1] == old_redis_key
    assert r.exists(old_redis_key) == 0
    assert stored(r, store.redis_key()) == {"a": 1}
    assert dict(store.items()) == {"a": 1}


def test_cycle_key_of_unloaded_session_loads_first(
    api: API, r: redis.Redis, round_trips: RoundTrips
) -> None:
    key = saved_session(api, a=1).session_key
    round_trips.clear()
    store = SessionStore(key)
    api.cycle_key(store)
    assert round_trips.names == [["GET"], ["SET"], ["DEL"]]
    assert stored(r, store.redis_key()) == {"a": 1}


def test_save_does_not_resurrect_a_deleted_session(api: API, r: redis.Redis) -> None:
    store = saved_session(api, a=1)
    SessionStore().delete(store.session_key)  # a logout elsewhere
    store["a"] = 2
    with pytest.raises(UpdateError):
        api.save(store)
    assert r.exists(store.redis_key()) == 0


def test_save_must_create_of_existing_key_raises_create_error(api: API, r: redis.Redis) -> None:
    store = saved_session(api, a=1)
    other = SessionStore(store.session_key)
    other["b"] = 2
    with pytest.raises(CreateError):
        api.save(other, must_create=True)
    assert stored(r, store.redis_key()) == {"a": 1}


def test_save_of_unloaded_session_whose_key_is_gone_raises_update_error(
    api: API, r: redis.Redis
) -> None:
    store = SessionStore("gone" * 8)
    with pytest.raises(UpdateError):
        api.save(store)
    assert r.dbsize() == 0


def test_load_of_unknown_key_forgets_it(api: API, r: redis.Redis) -> None:
    store = SessionStore("unknown" * 4)
    assert api.load(store) == {}
    assert store.session_key is None
    assert r.dbsize() == 0


def test_create_retries_on_a_taken_key(
    api: API, r: redis.Redis, round_trips: RoundTrips, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = saved_session(api, a="theirs")
    keys = iter([taken.session_key, "f" * 32])
    monkeypatch.setattr(sessions, "get_random_string", lambda *args: next(keys))
    round_trips.clear()
    store = SessionStore()
    store["b"] = "mine"
    api.create(store)
    assert store.session_key == "f" * 32
    assert round_trips.names == [["SET"], ["SET"]]
    assert stored(r, taken.redis_key()) == {"a": "theirs"}
    assert stored(r, store.redis_key()) == {"b": "mine"}


# ---------------------------------------------------------------- serialization


class MarkedJSONSerializer:
    """A custom SESSION_SERIALIZER whose output is recognisable in Redis."""

    def dumps(self, obj: Any) -> bytes:
        return b"marked:" + JSONSerializer().dumps(obj)

    def loads(self, data: bytes) -> Any:
        assert data.startswith(b"marked:")
        return JSONSerializer().loads(data[len(b"marked:") :])


def test_sessions_are_stored_as_json_by_default(api: API, r: redis.Redis) -> None:
    store = saved_session(api, name="café", n=[1, 2])
    # SESSION_SERIALIZER's bytes as they are: no pickle, no signing envelope.
    assert stored(r, store.redis_key()) == {"name": "café", "n": [1, 2]}


def test_json_refuses_what_it_cannot_represent(api: API) -> None:
    store = SessionStore()
    store["when"] = timezone.now()
    with pytest.raises(TypeError):
        api.save(store)


@override_settings(SESSION_SERIALIZER="tests.test_sessions.MarkedJSONSerializer")
def test_custom_serializer_is_respected(api: API, r: redis.Redis) -> None:
    store = saved_session(api, a=1)
    assert r.get(store.redis_key()) == b'marked:{"a":1}'
    assert api.load(SessionStore(store.session_key)) == {"a": 1}


def test_unreadable_data_is_a_missing_session(
    api: API, r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    store = saved_session(api, a=1)
    r.set(store.redis_key(), b"\x80not json", px=60_000)
    fresh = SessionStore(store.session_key)
    with caplog.at_level(logging.WARNING, logger="django.security.SuspiciousSession"):
        assert api.load(fresh) == {}
    assert fresh.session_key is None
    assert "Session data corrupted" in caplog.text


# ---------------------------------------------------------------- expiry


def pttl_seconds(r: redis.Redis, key: str) -> float:
    return int(r.pttl(key)) / 1000


def test_ttl_is_the_cookie_age_by_default(api: API, r: redis.Redis) -> None:
    store = saved_session(api, a=1)
    age = settings.SESSION_COOKIE_AGE
    assert age - 60 < pttl_seconds(r, store.redis_key()) <= age


@pytest.mark.parametrize(
    "expiry",
    [300, timedelta(seconds=300), "datetime"],
    ids=["seconds", "timedelta", "datetime"],
)
def test_custom_expiry_sets_the_ttl(api: API, r: redis.Redis, expiry: Any) -> None:
    if expiry == "datetime":
        expiry = timezone.now() + timedelta(seconds=300)
    store = SessionStore()
    store["a"] = 1
    store.set_expiry(expiry)
    api.save(store)
    assert 240 < pttl_seconds(r, store.redis_key()) <= 300
    assert api.load(SessionStore(store.session_key))["a"] == 1


def test_browser_length_session_is_kept_for_the_cookie_age(api: API, r: redis.Redis) -> None:
    store = SessionStore()
    store["a"] = 1
    store.set_expiry(0)
    api.save(store)
    assert store.get_expire_at_browser_close() is True
    age = settings.SESSION_COOKIE_AGE
    assert age - 60 < pttl_seconds(r, store.redis_key()) <= age


def test_new_session_with_past_expiry_is_not_stored(
    api: API, r: redis.Redis, round_trips: RoundTrips
) -> None:
    store = SessionStore()
    store["a"] = 1
    store.set_expiry(-10)
    api.save(store)
    assert round_trips.names == [["EXISTS"]]
    assert r.dbsize() == 0


def test_saving_past_expiry_ends_an_existing_session(api: API, r: redis.Redis) -> None:
    store = saved_session(api, a=1)
    store.set_expiry(-10)
    api.save(store)
    assert r.exists(store.redis_key()) == 0
    # Like any save of a session deleted elsewhere: UpdateError.
    with pytest.raises(UpdateError):
        api.save(store)


def test_expiry_is_redis_own(api: API, r: redis.Redis) -> None:
    store = SessionStore()
    store["a"] = 1
    store.set_expiry(1)
    api.save(store)
    deadline = time.monotonic() + HANG_BOUND
    while r.exists(store.redis_key()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.load(SessionStore(store.session_key)) == {}


def test_clearsessions_command_is_a_no_op(r: redis.Redis) -> None:
    store = saved_session(API("sync"), a=1)
    with override_settings(SESSION_ENGINE=ENGINE):
        call_command("clearsessions")
    assert r.exists(store.redis_key()) == 1


# ---------------------------------------------------------------- the user index


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", password="pw")


@pytest.fixture
def bob(db: None) -> User:
    return User.objects.create_user("bob", password="pw")


def logged_in(user: User) -> SessionStore:
    """A session as after django.contrib.auth.login() and the response's save."""
    request = HttpRequest()
    request.session = SessionStore()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.save()
    return request.session


def indexed(r: redis.Redis, user: Any) -> set[str]:
    members: list[Any] = r.zrange(index_key(user.pk), 0, -1)
    return {member.decode() for member in members}


def test_login_indexes_the_session(api: API, r: redis.Redis, alice: User) -> None:
    phone, laptop = logged_in(alice), logged_in(alice)
    assert indexed(r, alice) == {phone.session_key, laptop.session_key}
    listed = api.user_sessions(alice)
    assert {s.session_key for s in listed} == {phone.session_key, laptop.session_key}
    for live in listed:
        assert live.expires_at is not None
        remaining = (live.expires_at - timezone.now()).total_seconds()
        assert settings.SESSION_COOKIE_AGE - 60 < remaining <= settings.SESSION_COOKIE_AGE
    # The index lives at least as long as the sessions it lists.
    assert r.pttl(index_key(alice.pk)) >= r.pttl(phone.redis_key()) - 1000


def test_user_may_be_given_as_object_or_pk(api: API, r: redis.Redis, alice: User) -> None:
    store = logged_in(alice)
    for who in (alice, alice.pk, str(alice.pk)):
        assert [s.session_key for s in api.user_sessions(who)] == [store.session_key]


def test_index_follows_the_longest_expiry(r: redis.Redis, alice: User) -> None:
    long_lived = logged_in(alice)
    long_lived.set_expiry(10 * 86400)
    long_lived.save()
    short_lived = logged_in(alice)
    short_lived.set_expiry(60)
    short_lived.save()
    # A later, shorter session must not shorten the index below the longer one.
    assert r.pttl(index_key(alice.pk)) > 9 * 86400 * 1000


def test_anonymous_sessions_are_not_indexed(
    api: API, r: redis.Redis, round_trips: RoundTrips
) -> None:
    saved_session(api, a=1)
    assert round_trips.names == [["SET"]]
    assert r.keys("*user_sessions*") == []


def test_authenticated_save_is_still_one_round_trip(
    api: API, r: redis.Redis, alice: User, round_trips: RoundTrips
) -> None:
    store = logged_in(alice)
    store["x"] = 1
    round_trips.clear()
    api.save(store)
    assert len(round_trips.log) == 1
    assert round_trips.names[0][0] == "SET"
    assert "ZADD" in round_trips.names[0]


def test_cycle_key_moves_the_index_entry(api: API, r: redis.Redis, alice: User) -> None:
    store = logged_in(alice)
    old = store.session_key
    api.cycle_key(store)
    assert store.session_key != old
    assert indexed(r, alice) == {store.session_key}


def test_logout_removes_the_index_entry(r: redis.Redis, alice: User) -> None:
    store = logged_in(alice)
    request = HttpRequest()
    request.session = SessionStore(store.session_key)
    request.user = alice
    logout(request)
    assert r.exists(store.redis_key()) == 0
    assert indexed(r, alice) == set()


def test_flush_removes_the_index_entry(api: API, r: redis.Redis, alice: User) -> None:
    key = logged_in(alice).session_key
    store = SessionStore(key)
    api.load(store)
    api.flush(store)
    assert store.session_key is None
    assert r.exists(redis_key(key)) == 0
    assert indexed(r, alice) == set()


def test_delete_of_a_loaded_session_removes_the_index_entry(
    api: API, r: redis.Redis, alice: User
) -> None:
    key = logged_in(alice).session_key
    store = SessionStore(key)
    api.load(store)
    api.delete(store)
    assert indexed(r, alice) == set()


def test_another_user_in_the_same_session_moves_the_entry(
    api: API, r: redis.Redis, alice: User, bob: User
) -> None:
    store = logged_in(alice)
    # Code that swaps the user without flushing (login() itself would flush).
    store[SESSION_KEY] = str(bob.pk)
    api.save(store)
    assert indexed(r, alice) == set()
    assert indexed(r, bob) == {store.session_key}


def test_losing_the_user_leaves_the_index(api: API, r: redis.Redis, alice: User) -> None:
    store = logged_in(alice)
    del store[SESSION_KEY]
    api.save(store)
    assert indexed(r, alice) == set()
    assert r.exists(store.redis_key()) == 1


def test_replacing_unloaded_data_leaves_the_former_users_index(
    api: API, r: redis.Redis, alice: User, round_trips: RoundTrips
) -> None:
    key = logged_in(alice).session_key
    store = SessionStore(key)
    store.clear()  # replaces the data without loading it: whose it was is unknown
    store["fresh"] = 1
    round_trips.clear()
    api.save(store)
    # SET XX GET stores and returns the former data at once; its user's index
    # is then left in a second round trip.
    assert round_trips.names == [["SET"], ["ZREM"]]
    assert round_trips.commands(0)[0][-1] == b"GET"
    assert indexed(r, alice) == set()
    assert stored(r, redis_key(key)) == {"fresh": 1}


def test_replacing_unloaded_anonymous_data_is_one_round_trip(
    api: API, r: redis.Redis, round_trips: RoundTrips
) -> None:
    key = saved_session(api, a=1).session_key
    store = SessionStore(key)
    store.clear()
    store["b"] = 2
    round_trips.clear()
    api.save(store)
    assert round_trips.names == [["SET"]]


def test_expiring_unloaded_data_leaves_the_former_users_index(
    api: API, r: redis.Redis, alice: User
) -> None:
    key = logged_in(alice).session_key
    store = SessionStore(key)
    store.clear()
    store.set_expiry(-1)
    api.save(store)
    assert r.exists(redis_key(key)) == 0
    assert indexed(r, alice) == set()


def test_listing_prunes_sessions_deleted_behind_the_index(
    api: API, r: redis.Redis, alice: User
) -> None:
    phone, laptop = logged_in(alice), logged_in(alice)
    r.delete(phone.redis_key())  # evicted, or deleted by hand
    assert indexed(r, alice) == {phone.session_key, laptop.session_key}
    assert [s.session_key for s in api.user_sessions(alice)] == [laptop.session_key]
    assert indexed(r, alice) == {laptop.session_key}


def test_delete_by_key_finds_the_owner(
    api: API, r: redis.Redis, alice: User, round_trips: RoundTrips
) -> None:
    phone, laptop = logged_in(alice), logged_in(alice)
    round_trips.clear()
    api.delete(SessionStore(), phone.session_key)  # the deleter does not know whose it is
    # GETDEL deletes and reads at once; the owner's index is then left.
    assert round_trips.names == [["GETDEL"], ["ZREM"]]
    assert indexed(r, alice) == {laptop.session_key}
    round_trips.clear()
    anonymous = saved_session(api, a=1)
    round_trips.clear()
    api.delete(SessionStore(), anonymous.session_key)
    assert round_trips.names == [["GETDEL"]]


def test_expired_members_are_pruned(api: API, r: redis.Redis, alice: User) -> None:
    store = logged_in(alice)
    r.zadd(index_key(alice.pk), {"long-expired-session-key": 1})
    assert [s.session_key for s in api.user_sessions(alice)] == [store.session_key]
    assert indexed(r, alice) == {store.session_key}


def test_end_user_sessions_logs_out_everywhere(
    api: API, r: redis.Redis, alice: User, bob: User
) -> None:
    phone, laptop = logged_in(alice), logged_in(alice)
    bobs = logged_in(bob)
    assert api.end_user_sessions(alice) == 2
    assert r.exists(phone.redis_key(), laptop.redis_key()) == 0
    assert indexed(r, alice) == set()
    assert api.user_sessions(alice) == []
    assert r.exists(bobs.redis_key()) == 1
    # A request of an ended session that was in flight cannot bring it back,
    # nor leave an index entry behind.
    laptop["x"] = 1
    with pytest.raises(UpdateError):
        api.save(laptop)
    assert r.exists(laptop.redis_key()) == 0
    assert indexed(r, alice) == set()


def test_end_user_sessions_can_keep_the_current_one(api: API, r: redis.Redis, alice: User) -> None:
    phone, laptop = logged_in(alice), logged_in(alice)
    assert api.end_user_sessions(alice, keep=laptop.session_key) == 1
    assert r.exists(phone.redis_key()) == 0
    assert r.exists(laptop.redis_key()) == 1
    assert [s.session_key for s in api.user_sessions(alice)] == [laptop.session_key]


def test_end_user_sessions_of_nobody(api: API, r: redis.Redis) -> None:
    assert api.end_user_sessions(12345) == 0
    assert api.user_sessions(12345) == []


def test_user_functions_refuse_none() -> None:
    with pytest.raises(ValueError):
        user_sessions(None)


# ---------------------------------------------------------------- errors


def dead_cache(**options: Any) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django_async_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 5, "SOCKET_TIMEOUT": 5, **options},
        }
    }


@pytest.fixture
def outage() -> Iterator[None]:
    with override_settings(CACHES=dead_cache()):
        yield


def test_outage_surfaces_as_an_error(api: API, outage: None) -> None:
    started = time.monotonic()
    for operation in (
        lambda: api.load(SessionStore("k" * 32)),
        lambda: api.exists(SessionStore(), "k" * 32),
        lambda: api.save(SessionStore()),
        lambda: api.delete(SessionStore(), "k" * 32),
    ):
        with pytest.raises(redis.exceptions.ConnectionError):
            operation()
    assert time.monotonic() - started < HANG_BOUND
    with pytest.raises(redis.exceptions.ConnectionError):
        api.user_sessions(1)


def test_cache_ignore_exceptions_does_not_apply_to_sessions(api: API) -> None:
    with (
        override_settings(CACHES=dead_cache(IGNORE_EXCEPTIONS=True)),
        pytest.raises(redis.exceptions.ConnectionError),
    ):
        api.load(SessionStore("k" * 32))


@override_settings(DJANGO_ASYNC_REDIS_SESSION_IGNORE_EXCEPTIONS=True)
def test_ignore_setting_fails_open(
    api: API, outage: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="django_async_redis.sessions"):
        store = SessionStore("k" * 32)
        assert api.load(store) == {}
        # The key is kept: the session may still exist, and forgetting the key
        # would delete the cookie, turning a passing outage into a logout.
        assert store.session_key == "k" * 32
        assert api.exists(store, "k" * 32) is False
        store._session_cache = {}
        store["a"] = 1
        api.save(store)  # skipped: it would overwrite the real session with this empty view
        api.delete(store)
    assert "Session load failed; ignored" in caplog.text
    assert "Session not saved" in caplog.text


@override_settings(DJANGO_ASYNC_REDIS_SESSION_IGNORE_EXCEPTIONS=True)
def test_ignore_setting_does_not_hide_reply_errors(api: API, r: redis.Redis) -> None:
    store = saved_session(api, a=1)
    r.delete(store.redis_key())
    r.lpush(store.redis_key(), "not a string")  # WRONGTYPE is a bug, not an outage
    with pytest.raises(redis.exceptions.ResponseError):
        api.load(SessionStore(store.session_key))


# ---------------------------------------------------------------- through the middleware


def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.get_username() or "anonymous")


async def awhoami(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    return HttpResponse(user.get_username() or "anonymous")


def count(request: HttpRequest) -> HttpResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return HttpResponse(str(request.session["count"]))


def log_in(request: HttpRequest, username: str) -> HttpResponse:
    login(request, User.objects.get(username=username), "django.contrib.auth.backends.ModelBackend")
    return HttpResponse("ok")


def log_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponse("ok")


def log_out_everywhere(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(end_user_sessions(request.user)))


def log_out_other_devices(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(end_user_sessions(request.user, keep=request.session.session_key)))


def end_then_count(request: HttpRequest) -> HttpResponse:
    end_user_sessions(request.user)
    return count(request)


urlpatterns = [
    path("whoami/", whoami),
    path("awhoami/", awhoami),
    path("count/", count),
    path("login/<str:username>/", log_in),
    path("logout/", log_out),
    path("everywhere/", log_out_everywhere),
    path("others/", log_out_other_devices),
    path("end-then-count/", end_then_count),
]

middleware_settings = override_settings(
    SESSION_ENGINE=ENGINE, MIDDLEWARE=MIDDLEWARE, ROOT_URLCONF=__name__
)


def cookie(client: Client) -> str:
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


@middleware_settings
def test_middleware_session_round_trip(r: redis.Redis) -> None:
    client = Client()
    assert client.get("/count/").content == b"1"
    assert client.get("/count/").content == b"2"
    assert stored(r, redis_key(cookie(client))) == {"count": 2}


@middleware_settings
def test_middleware_login_logout(r: redis.Redis, alice: User) -> None:
    client = Client()
    client.get("/count/")
    anonymous_key = cookie(client)
    client.get("/login/alice/")
    key = cookie(client)
    assert key != anonymous_key  # login cycled the key
    assert r.exists(redis_key(anonymous_key)) == 0
    assert client.get("/whoami/").content == b"alice"
    assert indexed(r, alice) == {key}
    client.get("/logout/")
    assert r.exists(redis_key(key)) == 0
    assert indexed(r, alice) == set()
    assert client.get("/whoami/").content == b"anonymous"


@middleware_settings
def test_middleware_log_out_everywhere(r: redis.Redis, alice: User) -> None:
    phone, laptop, tablet = Client(), Client(), Client()
    for device in (phone, laptop, tablet):
        device.get("/login/alice/")
    assert laptop.get("/others/").content == b"2"
    assert phone.get("/whoami/").content == b"anonymous"
    assert tablet.get("/whoami/").content == b"anonymous"
    assert laptop.get("/whoami/").content == b"alice"
    phone.get("/login/alice/")
    assert phone.get("/everywhere/").content == b"2"
    assert phone.get("/whoami/").content == b"anonymous"
    assert laptop.get("/whoami/").content == b"anonymous"
    assert indexed(r, alice) == set()


@middleware_settings
def test_middleware_update_of_ended_session_is_interrupted(r: redis.Redis, alice: User) -> None:
    client = Client()
    client.get("/login/alice/")
    # The session ends while the request is in flight: the middleware answers
    # 400 (SessionInterrupted) rather than bringing the session back.
    response = client.get("/end-then-count/")
    assert response.status_code == 400
    assert indexed(r, alice) == set()
    assert r.keys("*django_async_redis.sessions:*") == []


@middleware_settings
def test_middleware_outage_is_a_server_error(alice: User) -> None:
    client = Client()
    client.get("/login/alice/")
    with override_settings(CACHES=dead_cache()), pytest.raises(redis.exceptions.ConnectionError):
        client.get("/whoami/")


@middleware_settings
def test_async_view_reads_the_session_natively(r: redis.Redis, alice: User) -> None:
    client = Client()
    client.get("/login/alice/")
    assert client.get("/awhoami/").content == b"alice"


@middleware_settings
def test_async_view_uses_the_async_api(
    r: redis.Redis, alice: User, round_trips: RoundTrips
) -> None:
    client = Client()
    client.get("/login/alice/")
    round_trips.clear()
    assert client.get("/awhoami/").content == b"alice"
    # request.auser() reaches aload(): the session GET went through the
    # async client, on the event loop.
    assert ("async", [(b"GET", redis_key(cookie(client)))]) in round_trips.log
