"""OPTIONS["SIGNING"]: every stored value carries an HMAC-SHA256 tag, checked first.

A value whose tag does not match (changed, written unsigned, or signed with a
key that is neither current nor a fallback) never reaches the deserializer: it
is refused with SignatureError, or read as a logged miss under
ON_DECODE_ERROR="miss". Plain ints stay digits, so INCR keeps working.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import pickle
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_async_redis.cache import RedisCache
from django_async_redis.exceptions import DecodeError, SignatureError
from django_async_redis.signing import MARKER, TAG_LENGTH, Signer, build_signer
from tests import servers

ZLIB = "django_async_redis.compressors.zlib.ZlibCompressor"
JSON = "django_async_redis.serializers.json.JSONSerializer"

# What the planted pickle below runs when it is unpickled.
RAN: list[str] = []


def record(what: str) -> None:
    RAN.append(what)


class Payload:
    """Unpickles into a call of record(): what an attacker's pickle would do."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (record, ("code ran",))


@pytest.fixture
def make_cache(
    redis_server: servers.Server, flushed_redis: redis.Redis
) -> Iterator[Callable[..., RedisCache]]:
    made: list[RedisCache] = []

    def make(**options: Any) -> RedisCache:
        cache = RedisCache(redis_server.url(), {"OPTIONS": options})
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def call(api: str, cache: RedisCache, name: str, *args: Any) -> Any:
    if api == "sync":
        return getattr(cache, name)(*args)
    return asyncio.run(getattr(cache, "a" + name)(*args))


def test_values_round_trip_signed(
    api: str, make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    cache = make_cache(SIGNING=True, COMPRESSOR=ZLIB)
    value = {"rows": list(range(500)), "name": "café"}
    call(api, cache, "set", "k", value)
    assert call(api, cache, "get", "k") == value
    stored = flushed_redis.get(cache.make_key("k"))
    assert stored is not None and stored.startswith(MARKER)
    assert call(api, cache, "get_many", ["k", "nope"]) == {"k": value}
    assert call(api, cache, "get_or_set", "other", "made") == "made"
    assert call(api, cache, "get", "other") == "made"


def test_ints_stay_digits_so_incr_works(
    api: str, make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    cache = make_cache(SIGNING=True)
    call(api, cache, "set", "n", 41)
    assert flushed_redis.get(cache.make_key("n")) == b"41"
    assert call(api, cache, "incr", "n") == 42
    assert call(api, cache, "get", "n") == 42
    # Only exact ints: bools and floats are serialized, hence signed.
    call(api, cache, "set", "b", True)
    assert flushed_redis.get(cache.make_key("b")).startswith(MARKER)  # type: ignore[union-attr]
    assert call(api, cache, "get", "b") is True


def test_a_tampered_value_is_refused_before_unpickling(
    api: str, make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    RAN.clear()
    signed, unsigned = make_cache(SIGNING=True), make_cache()
    key = signed.make_key("k")
    # Without signing, whoever writes to Redis runs code in the reader.
    flushed_redis.set(key, pickle.dumps(Payload()))
    unsigned.get("k")
    assert RAN == ["code ran"]
    RAN.clear()
    with pytest.raises(SignatureError, match="not signed") as caught:
        call(api, signed, "get", "k")
    assert key in str(caught.value)
    # A real signed value with its payload swapped for the attacker's pickle.
    signed.set("k", "harmless")
    stored = flushed_redis.get(key)
    assert stored is not None
    flushed_redis.set(key, stored[: len(MARKER) + TAG_LENGTH] + pickle.dumps(Payload()))
    with pytest.raises(SignatureError, match="does not match"):
        call(api, signed, "get", "k")
    # One flipped bit in the tag.
    flushed_redis.set(key, stored[:5] + bytes([stored[5] ^ 1]) + stored[6:])
    with pytest.raises(SignatureError):
        call(api, signed, "get", "k")
    assert RAN == []
    assert isinstance(SignatureError("x"), DecodeError)
    call(api, signed, "set", "after", [1])
    assert call(api, signed, "get", "after") == [1]


def test_miss_mode_reads_a_forged_value_as_a_logged_miss(
    api: str,
    make_cache: Callable[..., RedisCache],
    flushed_redis: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    RAN.clear()
    cache = make_cache(SIGNING=True, ON_DECODE_ERROR="miss")
    cache.set("good", "fine")
    flushed_redis.set(cache.make_key("bad"), pickle.dumps(Payload()))
    with caplog.at_level(logging.WARNING, logger="django_async_redis"):
        assert call(api, cache, "get", "bad", "default") == "default"
        assert call(api, cache, "get_many", ["good", "bad"]) == {"good": "fine"}
    assert cache.make_key("bad") in caplog.text and "not signed" in caplog.text
    assert RAN == []


def test_rotation_signs_with_the_key_and_accepts_fallbacks(
    make_cache: Callable[..., RedisCache],
) -> None:
    old = make_cache(SIGNING={"KEY": "old key"})
    old.set("k", "written with the old key")
    rotated = make_cache(SIGNING={"KEY": "new key", "FALLBACK_KEYS": ["old key"]})
    assert rotated.get("k") == "written with the old key"
    rotated.set("k2", "written with the new key")
    new_only = make_cache(SIGNING={"KEY": "new key"})
    assert new_only.get("k2") == "written with the new key"
    with pytest.raises(SignatureError, match="does not match"):
        new_only.get("k")
    with pytest.raises(SignatureError):
        old.get("k2")


def test_secret_key_and_its_fallbacks_by_default(make_cache: Callable[..., RedisCache]) -> None:
    with override_settings(SECRET_KEY="first secret"):
        make_cache(SIGNING=True).set("k", "v1")
    with override_settings(SECRET_KEY="second secret", SECRET_KEY_FALLBACKS=["first secret"]):
        assert make_cache(SIGNING=True).get("k") == "v1"
    with override_settings(SECRET_KEY="second secret", SECRET_KEY_FALLBACKS=[]):
        unrotated = make_cache(SIGNING=True)
    with pytest.raises(SignatureError):
        unrotated.get("k")
    # A dedicated KEY does not silently accept SECRET_KEY's fallbacks.
    with override_settings(SECRET_KEY_FALLBACKS=["first secret"]):
        dedicated = make_cache(SIGNING={"KEY": "dedicated"})
    with pytest.raises(SignatureError):
        dedicated.get("k")


def test_the_key_is_derived_not_the_secret_itself(
    make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    cache = make_cache(SIGNING={"KEY": "the secret"})
    cache.set("k", "v")
    stored = flushed_redis.get(cache.make_key("k"))
    assert stored is not None
    tag, payload = stored[2 : 2 + TAG_LENGTH], stored[2 + TAG_LENGTH :]
    assert tag != hmac.digest(b"the secret", payload, hashlib.sha256)
    assert pickle.loads(payload) == "v"
    # A SALT keeps two caches' values apart under one secret.
    salted = make_cache(SIGNING={"KEY": "the secret", "SALT": "other"})
    with pytest.raises(SignatureError):
        salted.get("k")


def test_structures_are_signed_too(
    api: str, make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    cache = make_cache(SIGNING=True)
    call(api, cache, "sadd", "set", "a", 2)
    assert call(api, cache, "smembers", "set") == {"a", 2}
    assert call(api, cache, "sismember", "set", "a") is True
    call(api, cache, "zadd", "z", {"m": 1.0, 7: 2.0})
    assert call(api, cache, "zrange", "z", 0, -1) == ["m", 7]
    assert call(api, cache, "zscore", "z", "m") == 1.0
    call(api, cache, "hset", "h", "f", {"x": 1})
    assert call(api, cache, "hget", "h", "f") == {"x": 1}
    call(api, cache, "rpush", "l", "one", [2])
    assert call(api, cache, "lrange", "l", 0, -1) == ["one", [2]]
    members = flushed_redis.smembers(cache.make_key("set"))
    assert any(m.startswith(MARKER) for m in members)
    flushed_redis.sadd(cache.make_key("set"), pickle.dumps("forged"))
    with pytest.raises(SignatureError, match=cache.make_key("set")):
        call(api, cache, "smembers", "set")
    with pytest.raises(ValueError, match="SIGNING"):
        cache.sscan("set", match="a*")


def test_signed_sessions_refuse_forged_payloads(
    redis_server: servers.Server, flushed_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    from django_async_redis.sessions import SessionStore

    caches = {
        "default": {
            "BACKEND": "django_async_redis.cache.RedisCache",
            "LOCATION": redis_server.url(),
        },
        "signed": {
            "BACKEND": "django_async_redis.cache.RedisCache",
            "LOCATION": redis_server.url(),
            "OPTIONS": {"SIGNING": True},
        },
    }
    forged = b'{"_auth_user_id":"1","who":"mallory"}'
    with override_settings(CACHES=caches, SESSION_CACHE_ALIAS="default"):
        store = SessionStore()
        store["who"] = "alice"
        store.save()
        # Unsigned (Django's cache engine is the same): whoever writes to Redis
        # writes sessions.
        flushed_redis.set(store.redis_key(), forged, px=60_000)
        assert SessionStore(store.session_key).load()["who"] == "mallory"
    with override_settings(CACHES=caches, SESSION_CACHE_ALIAS="signed"):
        store = SessionStore()
        store["who"] = "alice"
        store.save()
        assert flushed_redis.get(store.redis_key()).startswith(MARKER)  # type: ignore[union-attr]
        assert SessionStore(store.session_key).load() == {"who": "alice"}
        assert asyncio.run(SessionStore(store.session_key).aload()) == {"who": "alice"}
        flushed_redis.set(store.redis_key(), forged, px=60_000)
        with caplog.at_level(logging.WARNING, logger="django.security.SuspiciousSession"):
            assert SessionStore(store.session_key).load() == {}
        assert "Session data corrupted" in caplog.text


def test_bad_settings_are_refused_without_echoing_keys() -> None:
    with pytest.raises(ImproperlyConfigured, match="must be True, False or a dict"):
        build_signer("yes")
    with pytest.raises(ImproperlyConfigured, match="Unknown OPTIONS\\['SIGNING'\\] key 'KYE'"):
        build_signer({"KYE": "x"})
    with pytest.raises(ImproperlyConfigured, match="needs a key"):
        build_signer({"KEY": ""})
    with pytest.raises(ImproperlyConfigured, match="list of keys") as caught:
        build_signer({"KEY": "k", "FALLBACK_KEYS": "s3cr3t-fallback"})
    assert "s3cr3t" not in str(caught.value)
    with (
        override_settings(SECRET_KEY=""),
        pytest.raises(ImproperlyConfigured, match=r"needs a key|SECRET_KEY"),
    ):
        build_signer(True)
    assert build_signer(False) is None and build_signer(None) is None


def _best_per_call_us(op: Callable[[], Any], rounds: int = 500, repeats: int = 7) -> float:
    # The best of several short runs: the machine is shared, and the minimum is
    # the figure least disturbed by other processes.
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(rounds):
            op()
        best = min(best, (time.perf_counter() - started) / rounds)
    return best * 1e6


def test_signing_cost_is_measured(
    make_cache: Callable[..., RedisCache], capsys: pytest.CaptureFixture[str]
) -> None:
    """Per-call cost of signing, printed (run with -s); never asserted."""
    lines = []
    signer = Signer("k")
    for size in (100, 1_000, 10_000, 100_000):
        payload = pickle.dumps("x" * size)
        signed = signer.sign(payload)
        sign_us = _best_per_call_us(lambda p=payload: signer.sign(p))
        verify_us = _best_per_call_us(lambda s=signed: signer.unsign(s))
        lines.append(
            f"signing: {size:>7}-byte value: sign {sign_us:.2f} us, verify {verify_us:.2f} us"
        )
    value = {"id": 7, "name": "a typical record", "tags": ["x"] * 20, "text": "lorem " * 150}
    plain, signed_cache = make_cache(), make_cache(SIGNING=True)
    plain.set("k", value)
    signed_cache.set("s", value)
    for name in ("set", "get"):
        figures = {}
        for label, cache, key in (("unsigned", plain, "k"), ("signed", signed_cache, "s")):
            if name == "set":
                figures[label] = _best_per_call_us(lambda c=cache, k=key: c.set(k, value))
            else:
                figures[label] = _best_per_call_us(lambda c=cache, k=key: c.get(k))
        lines.append(
            f"signing: sync {name} of a {len(pickle.dumps(value))}-byte record: "
            f"{figures['unsigned']:.1f} us unsigned, {figures['signed']:.1f} us signed"
        )
    with capsys.disabled():
        print("\n" + "\n".join(lines))
