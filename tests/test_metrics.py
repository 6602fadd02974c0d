"""Counters, spans and Prometheus exposition; and nothing at all when they are off."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from django_async_redis import metrics
from django_async_redis.cache import RedisCache
from django_async_redis.client import DefaultClient
from django_async_redis.client.base import BaseClient
from tests import servers
from tests import test_django_cache_suite as django_suite

BACKEND = "django_async_redis.cache.RedisCache"

# One tracer provider per process (OpenTelemetry allows setting it once).
EXPORTER = InMemorySpanExporter()
if not isinstance(trace.get_tracer_provider(), TracerProvider):
    _provider = TracerProvider()
    _provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(_provider)


def entry(**options: Any) -> dict[str, Any]:
    return {
        "BACKEND": BACKEND,
        "LOCATION": settings.CACHES["default"]["LOCATION"],
        "OPTIONS": options,
    }


@pytest.fixture
def measured(flushed_redis: redis.Redis) -> Iterator[RedisCache]:
    setting = {"default": settings.CACHES["default"], "measured": entry(METRICS=True)}
    with override_settings(CACHES=setting):
        cache = caches["measured"]
        assert isinstance(cache, RedisCache)
        metrics.recorder("measured").reset()
        yield cache


# Django's whole suite again, instrumented: a long suite in another configuration.
@pytest.mark.long
@override_settings(
    CACHES=django_suite.suite_caches(
        {**settings.CACHES["default"], "OPTIONS": {"METRICS": True, "TRACING": True}}
    )
)
class InstrumentedDjangoCacheSuiteTests(django_suite.DjangoCacheSuiteTests):
    """Django's whole cache suite with counters and spans on: the instrumented client is
    transparent."""


def test_off_by_default_the_client_is_the_configured_class() -> None:
    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    assert type(cache.client) is DefaultClient
    assert type(cache.client).execute is BaseClient.execute
    assert type(cache.client).aexecute is BaseClient.aexecute
    assert cache.stats() == {}


def test_counters_sync(measured: RedisCache) -> None:
    measured.set("a", 1)
    measured.set_many({"b": 2, "c": 3})  # SET ... PX per key, in one round trip
    assert measured.get("a") == 1
    assert measured.get("missing") is None
    assert measured.get_many(["a", "b", "nope"]) == {"a": 1, "b": 2}
    assert measured.get_or_set("d", 4) == 4  # a miss, then SET NX
    measured.clear()  # one call, however many partitions
    stats = measured.stats()
    assert stats["alias"] == "measured"
    assert stats["calls"] == {"SET": 2, "GET": 3, "MGET": 1, "FLUSHDB": 1}
    assert (stats["hits"], stats["misses"]) == (3, 3)
    assert stats["hit_ratio"] == 0.5
    assert stats["sets"] == 1 + 2 + 1
    assert stats["errors"] == {}
    latency = stats["latency"]
    assert latency["count"] == 7 == latency["buckets"][-1][1]
    assert latency["buckets"][-1][0] == float("inf") and latency["sum"] > 0
    assert stats["breakers"] == {
        measured.client.config.primary.address: {"state": "closed", "failures": 0}
    }


def test_counters_async(measured: RedisCache) -> None:
    async def scenario() -> None:
        await measured.aset("a", 1)
        assert await measured.aget("a") == 1
        assert await measured.aget("b") is None
        assert await measured.aget_many(["a", "b"]) == {"a": 1}
        await measured.aclear()

    asyncio.run(scenario())
    stats = measured.stats()
    assert stats["calls"] == {"SET": 1, "GET": 2, "MGET": 1, "FLUSHDB": 1}
    assert (stats["hits"], stats["misses"]) == (2, 2)


def test_errors_are_counted_also_when_ignored() -> None:
    dead = f"redis://127.0.0.1:{servers.free_port()}"
    options = {"METRICS": True, "IGNORE_EXCEPTIONS": True, "LOG_IGNORED_EXCEPTIONS": False}
    with override_settings(
        CACHES={"dead": {"BACKEND": BACKEND, "LOCATION": dead, "OPTIONS": options}}
    ):
        cache = caches["dead"]
        metrics.recorder("dead").reset()
        assert cache.get("x", "fallback") == "fallback"
        assert asyncio.run(cache.aget("x")) is None
        stats = cache.stats()
    # ConnectionError, or a subclass of it (an unreachable node's own class).
    assert sum(stats["errors"].values()) == 2
    ((address, breaker),) = stats["breakers"].items()
    assert address == dead.removeprefix("redis://") and breaker["failures"] >= 1
    assert stats["calls"] == {"GET": 2}


def test_instances_and_threads_share_the_alias_counters(measured: RedisCache) -> None:
    def worker() -> None:
        caches["measured"].get("k")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert measured.stats()["misses"] == 4


def test_instrumented_client_keeps_its_class(measured: RedisCache) -> None:
    client = measured.client
    assert isinstance(client, DefaultClient) and type(client).__name__ == "DefaultClient"
    assert measured.lock("l").acquire(blocking=False)  # the rest of the client works as before


def test_bad_option() -> None:
    with (
        override_settings(CACHES={"bad": entry(METRICS="yes")}),
        pytest.raises(ImproperlyConfigured, match="OPTIONS 'METRICS' must be True or False"),
    ):
        caches["bad"]


def test_spans(flushed_redis: redis.Redis, redis_server: servers.Server) -> None:
    EXPORTER.clear()
    with override_settings(CACHES={"traced": entry(TRACING=True)}):
        cache = caches["traced"]
        assert cache.stats() == {}  # tracing alone counts nothing
        tracer = trace.get_tracer("test")
        with tracer.start_as_current_span("request"):
            cache.set("secret-key", "secret-value")
            assert cache.get("secret-key") == "secret-value"

        async def scenario() -> None:
            with tracer.start_as_current_span("async request"):
                await cache.aget("secret-key")
                await cache.aget_many(["secret-key", "other"])

        asyncio.run(scenario())
    spans = {span.name: span for span in EXPORTER.get_finished_spans()}
    assert {"SET", "GET", "MGET"} <= set(spans)
    get = spans["GET"]
    assert get.kind == trace.SpanKind.CLIENT
    assert get.attributes is not None
    assert get.attributes["db.system"] == "redis" and get.attributes["db.operation"] == "GET"
    assert get.attributes["server.address"] == redis_server.host
    assert spans["MGET"].parent is not None and spans["MGET"].parent.span_id == (
        spans["async request"].context.span_id
    )
    for span in spans.values():
        assert "secret" not in repr(dict(span.attributes or {}))


def test_failed_calls_mark_the_span() -> None:
    EXPORTER.clear()
    dead = f"redis://127.0.0.1:{servers.free_port()}"
    with (
        override_settings(
            CACHES={"x": {"BACKEND": BACKEND, "LOCATION": dead, "OPTIONS": {"TRACING": True}}}
        ),
        pytest.raises(redis.exceptions.ConnectionError),
    ):
        caches["x"].get("k")
    (span,) = EXPORTER.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR


def test_prometheus_exposition(measured: RedisCache) -> None:
    from prometheus_client import REGISTRY, generate_latest

    measured.set("a", 1)
    measured.get("a")
    measured.get("b")
    text = generate_latest(REGISTRY).decode()
    assert 'django_async_redis_calls_total{alias="measured",command="GET"} 2.0' in text
    assert 'django_async_redis_reads_total{alias="measured",outcome="hit"} 1.0' in text
    assert 'django_async_redis_latency_seconds_count{alias="measured"} 3.0' in text
    assert 'django_async_redis_breaker_open{alias="measured",node=' in text


def test_client_cache_figures_in_stats_and_prometheus(flushed_redis: redis.Redis) -> None:
    from prometheus_client import REGISTRY, generate_latest

    setting = {
        "default": settings.CACHES["default"],
        "local-tier": {**entry(CLIENT_CACHE=True), "KEY_PREFIX": "lt"},
    }
    with override_settings(CACHES=setting):
        cache = caches["local-tier"]
        cache.set("a", 1)
        assert cache.get("a") == 1 and cache.get("a") == 1
        local = cache.stats()["client_cache"]
        assert local["hits"] >= 1 and local["entries"] == 1 and local["tracking_connections"] == 1
        text = generate_latest(REGISTRY).decode()
    assert 'django_async_redis_client_cache_hits_total{alias="local-tier"}' in text
    assert 'django_async_redis_client_cache_entries{alias="local-tier"} 1.0' in text
    assert 'django_async_redis_client_cache_tracking_connections{alias="local-tier"} 1.0' in text
