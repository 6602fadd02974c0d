"""Counters, latency histograms and tracing spans: nothing at all unless asked for.

``OPTIONS["METRICS"] = True`` counts, per cache alias and process, the calls by
Redis command, hits and misses (GET / MGET replies), keys written (SET / MSET),
errors by class and a latency histogram, beside the nodes' circuit breakers;
``cache.stats()`` reads them, and with ``prometheus_client`` installed they are
exposed to its default registry.
``OPTIONS["TRACING"] = True`` makes an OpenTelemetry span per call
(``db.system``, ``db.operation`` and the server address; never a key or value).

Zero cost when off: the choice is made once, when the cache is built. With
neither option the client is the configured class itself, so no call pays even
a flag check. With one, the client is a subclass of the configured class whose
``execute`` / ``aexecute`` wrap the real drivers.
"""

from __future__ import annotations

import bisect
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .ops import Everywhere, Step

if TYPE_CHECKING:
    from .client.base import BaseClient
    from .config import CacheConfig

# Upper bounds of the latency buckets, in seconds (Prometheus' usual ladder,
# with finer steps below a millisecond, where a cache call on a LAN lives).
BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, float("inf"),
)  # fmt: skip

WRITES = {b"SET": 1, b"SETEX": 1, b"PSETEX": 1, b"SETNX": 1}


class Recorder:
    """One alias's counters in this process, shared by every instance of its backend."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.hits = 0
        self.misses = 0
        self.sets = 0
        self.buckets = [0] * len(BUCKETS)
        self.latency_sum = 0.0
        # The alias's latest client, for its nodes' breaker states (read, never kept alive).
        self._client: weakref.ref[Any] | None = None

    def track(self, client: Any) -> None:
        self._client = weakref.ref(client)

    def breakers(self) -> dict[str, dict[str, Any]]:
        """Each known node's circuit breaker: closed, open, or half-open (a trial is due)."""
        client = self._client() if self._client is not None else None
        if client is None:
            return {}
        from .transport.breaker import breaker_states

        return breaker_states(client.nodes)

    def call(
        self, operation: str, seconds: float, error: BaseException | None, tally: Tally
    ) -> None:
        """One finished call: its command, latency, error and what its replies counted."""
        index = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:  # one acquisition per call, whatever it counted
            self.calls[operation] += 1
            self.buckets[index] += 1
            self.latency_sum += seconds
            self.hits += tally.hits
            self.misses += tally.misses
            self.sets += tally.sets
            if error is not None:
                self.errors[type(error).__name__] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            cumulative, running = [], 0
            for bound, count in zip(BUCKETS, self.buckets, strict=True):
                running += count
                cumulative.append((bound, running))
            reads = self.hits + self.misses
            return {
                "alias": self.alias,
                "calls": dict(self.calls),
                "hits": self.hits,
                "misses": self.misses,
                "hit_ratio": self.hits / reads if reads else None,
                "sets": self.sets,
                "errors": dict(self.errors),
                "latency": {
                    "count": running,
                    "sum": self.latency_sum,
                    "buckets": cumulative,  # (upper bound in seconds, calls at or below)
                },
                "breakers": self.breakers(),
            }

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.errors.clear()
            self.hits = self.misses = self.sets = 0
            self.buckets = [0] * len(BUCKETS)
            self.latency_sum = 0.0


_recorders: dict[str, Recorder] = {}
_recorders_lock = threading.Lock()


def recorder(alias: str) -> Recorder:
    with _recorders_lock:
        found = _recorders.get(alias)
        if found is None:
            found = _recorders[alias] = Recorder(alias)
            _expose_to_prometheus()
        return found


def all_recorders() -> list[Recorder]:
    with _recorders_lock:
        return list(_recorders.values())


# what a call is ---------------------------------------------------------------------


# Command names as the metrics spell them, decoded once per name, not per call.
_operation_names: dict[Any, str] = {}


def operation_of(step: Any) -> str:
    """The Redis command that names an operation (OpenTelemetry's ``db.operation``)."""
    if type(step) is Everywhere:
        step = step.make()
    if type(step) is Step and step.commands:
        name = step.commands[0][0]
        found = _operation_names.get(name)
        if found is None:
            found = name.decode() if isinstance(name, bytes) else str(name)
            if len(_operation_names) < 1024:  # names are Redis commands: a few dozen
                _operation_names[name] = found
        return found
    return type(step).__name__


class Tally:
    """What one call's replies counted, added to its Recorder once, when the call ends."""

    __slots__ = ("hits", "misses", "sets")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.sets = 0


_READS = (b"GET", b"MGET")
# The tally of a call that is traced, not counted (TRACING without METRICS).
_NOTHING_COUNTED: Final = Tally()


def _written(command: Any) -> int:
    """How many keys a command sets: 1 for SET and its kin, one per pair for MSET."""
    name = command[0]
    return WRITES.get(name, 0) or (len(command) - 1) // 2 * (name == b"MSET")


def _counting(step: Any, tally: Tally) -> Any:
    """``step`` whose replies are also counted: hits and misses of GET/MGET, keys SET."""
    if type(step) is not Step or not step.commands:
        return step
    commands = step.commands
    reads: tuple[int, ...]  # the replies to count: those of the GETs, or of the MGET
    if len(commands) == 1:  # the usual round trip: no scan of the commands
        tally.sets += _written(commands[0])
        reads = (0,) if commands[0][0] in _READS else ()
    else:
        tally.sets += sum(_written(command) for command in commands)
        # Every GET of the round trip (the herd sends GET + PTTL per key), or the MGET.
        reads = (
            tuple(i for i, command in enumerate(commands) if command[0] in _READS)
            if commands[0][0] in _READS
            else ()
        )
    then = step.then

    def counted(replies: list[Any]) -> Any:
        for index in reads:
            reply = replies[index]
            if reply is None:
                tally.misses += 1
            elif isinstance(reply, list):  # MGET
                missing = reply.count(None)
                tally.hits += len(reply) - missing
                tally.misses += missing
            elif not isinstance(reply, Exception):
                tally.hits += 1
        # The operation's next round trip (get_or_set's SET NX, say) is counted too.
        return _counting(then(replies), tally)

    return Step(commands, counted, step.write, errors_as_values=step.errors_as_values)


# the instrumented client -------------------------------------------------------------

# Set while an instrumented call runs: the driver's own nested calls (one per
# partition for Everywhere) belong to it and are not counted again.
_measuring: ContextVar[bool] = ContextVar("django_async_redis_measuring", default=False)


class InstrumentedClient:
    """Mixed in before the configured client class: measures each driven operation.

    The measuring is split into ``_begin`` and ``_end`` around the real driver,
    not a generator context manager: that alone cost a few microseconds a call.
    """

    recorder: Recorder | None = None
    tracer: Any = None
    _span_attributes: Mapping[str, Any] = {}

    def _begin(self, step: Any) -> tuple[Any, _Measurement]:
        """The step to drive instead of ``step`` (counted), and what ``_end`` needs."""
        operation = operation_of(step)
        span = None
        if self.tracer is not None:
            span = self.tracer.start_as_current_span(
                operation,
                kind=_span_kind(),
                attributes={**self._span_attributes, "db.operation": operation},
            )
            span.__enter__()
        tally = _NOTHING_COUNTED
        measured = step
        if self.recorder is not None:
            tally = Tally()
            measured = _counting(step, tally)
        token = _measuring.set(True)
        return measured, (operation, token, time.perf_counter(), tally, span)

    def _end(self, measurement: _Measurement, error: BaseException | None) -> None:
        operation, token, started, tally, span = measurement
        seconds = time.perf_counter() - started
        _measuring.reset(token)
        if self.recorder is not None:
            self.recorder.call(operation, seconds, error, tally)
        if span is not None:
            if error is None:
                span.__exit__(None, None, None)
            else:  # the span records the error and its status (it never swallows it)
                span.__exit__(type(error), error, error.__traceback__)

    def execute(self, step: Any, node: Any = None) -> Any:
        if _measuring.get():
            return super().execute(step, node)  # type: ignore[misc]
        measured, measurement = self._begin(step)
        try:
            result = super().execute(measured, node)  # type: ignore[misc]
        except BaseException as error:
            self._end(measurement, error)
            raise
        self._end(measurement, None)
        return result

    async def aexecute(self, step: Any, node: Any = None) -> Any:
        if _measuring.get():
            return await super().aexecute(step, node)  # type: ignore[misc]
        measured, measurement = self._begin(step)
        try:
            result = await super().aexecute(measured, node)  # type: ignore[misc]
        except BaseException as error:
            self._end(measurement, error)
            raise
        self._end(measurement, None)
        return result


# operation, _measuring's token, start time, the call's tally, its span (or None)
_Measurement = tuple[str, Any, float, Tally, Any]


def _span_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.CLIENT


def build_client(
    client_class: type[BaseClient], config: CacheConfig, location: Any, params: Mapping[str, Any]
) -> BaseClient:
    """The cache's client: ``client_class`` itself, or its instrumented subclass when asked."""
    options = config.options
    metrics = _flag(options, "METRICS")
    tracing = _flag(options, "TRACING")
    if not (metrics or tracing):
        return client_class(config)
    tracer = _tracer() if tracing else None
    from .client.base import mixed_into

    client: Any = mixed_into(InstrumentedClient, client_class)(config)
    client.recorder = recorder(alias_of(location, params)) if metrics else None
    if client.recorder is not None:
        client.recorder.track(client)
    client.tracer = tracer
    primary = config.primary
    client._span_attributes = {
        "db.system": "redis",
        "server.address": primary.unix_path or primary.host,
        **({} if primary.unix_path else {"server.port": primary.port}),
        "db.redis.database_index": primary.db,
    }
    return cast("BaseClient", client)


def _flag(options: Mapping[str, Any], name: str) -> bool:
    value = options.get(name, False)
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"OPTIONS {name!r} must be True or False, not {value!r}")
    return value


def _tracer() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        raise ImproperlyConfigured(
            "OPTIONS 'TRACING' needs the OpenTelemetry API: pip install opentelemetry-api"
        ) from None
    from . import __version__

    return trace.get_tracer("django_async_redis", __version__)


def alias_of(location: Any, params: Mapping[str, Any]) -> str:
    """The CACHES alias these settings came from (a backend is not told its alias).

    Django builds a backend from a copy of the alias's entry without BACKEND and
    LOCATION; the first alias whose entry matches names the counters. Two
    aliases with identical settings therefore share them.
    """
    for alias, entry in getattr(settings, "CACHES", {}).items():
        rest = {key: value for key, value in entry.items() if key not in ("BACKEND", "LOCATION")}
        if entry.get("LOCATION", "") == location and rest == dict(params):
            return str(alias)
    return str(location)


def stats_of(client: Any) -> dict[str, Any]:
    """What ``cache.stats()`` returns: the alias's counters ({} when METRICS is off), and
    with CLIENT_CACHE on, the local tier's under ``"client_cache"``."""
    found = getattr(client, "recorder", None)
    stats = found.snapshot() if isinstance(found, Recorder) else {}
    tier = getattr(client, "tier", None)
    if tier is not None:
        stats["client_cache"] = tier.stats()
    return stats


# Prometheus ----------------------------------------------------------------------------

_exposed = False


def _expose_to_prometheus() -> None:
    """Register one collector with prometheus_client's default registry, if it is installed.

    It reads the recorders when scraped, so a call costs nothing more with it.
    """
    global _exposed
    if _exposed:
        return
    try:
        from prometheus_client import REGISTRY
    except ImportError:
        return
    REGISTRY.register(PrometheusCollector())
    _exposed = True


class PrometheusCollector:
    """``django_async_redis_*`` metrics, labelled by alias."""

    def describe(self) -> list[Any]:
        return []  # described when collected: the aliases appear as caches are built

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        calls = CounterMetricFamily(
            "django_async_redis_calls", "Cache calls by Redis command", labels=["alias", "command"]
        )
        reads = CounterMetricFamily(
            "django_async_redis_reads", "GET/MGET keys by outcome", labels=["alias", "outcome"]
        )
        sets = CounterMetricFamily("django_async_redis_sets", "Keys written", labels=["alias"])
        errors = CounterMetricFamily(
            "django_async_redis_errors", "Failed calls by error class", labels=["alias", "error"]
        )
        latency = HistogramMetricFamily(
            "django_async_redis_latency_seconds", "Cache call latency", labels=["alias"]
        )
        breaker_open = GaugeMetricFamily(
            "django_async_redis_breaker_open",
            "1 while a node's circuit breaker is open or half-open",
            labels=["alias", "node"],
        )
        yield from _client_cache_families(CounterMetricFamily, GaugeMetricFamily)
        for found in all_recorders():
            snap = found.snapshot()
            alias = found.alias
            for command, count in snap["calls"].items():
                calls.add_metric([alias, command], count)
            reads.add_metric([alias, "hit"], snap["hits"])
            reads.add_metric([alias, "miss"], snap["misses"])
            sets.add_metric([alias], snap["sets"])
            for error, count in snap["errors"].items():
                errors.add_metric([alias, error], count)
            buckets = [
                ("+Inf" if bound == float("inf") else repr(bound), count)
                for bound, count in snap["latency"]["buckets"]
            ]
            latency.add_metric([alias], buckets, sum_value=snap["latency"]["sum"])
            for node, breaker in snap["breakers"].items():
                breaker_open.add_metric([alias, node], int(breaker["state"] != "closed"))
        yield from (calls, reads, sets, errors, latency, breaker_open)


# What each client cache's tier counts, and the gauges of what it holds.
_TIER_COUNTERS = ("hits", "misses", "invalidations", "evictions", "flushes")
_TIER_GAUGES = ("entries", "bytes", "tracking_connections")


def _client_cache_families(counter: Any, gauge: Any) -> list[Any]:
    """``django_async_redis_client_cache_*`` for every tier of the process, by alias."""
    from .client_cache.client import all_tiers

    families = {
        name: counter(
            f"django_async_redis_client_cache_{name}", f"Local tier {name}", labels=["alias"]
        )
        for name in _TIER_COUNTERS
    }
    families.update(
        {
            name: gauge(
                f"django_async_redis_client_cache_{name}", f"Local tier {name}", labels=["alias"]
            )
            for name in _TIER_GAUGES
        }
    )
    for alias, tier in all_tiers():
        stats = tier.stats()
        for name, family in families.items():
            family.add_metric([alias], stats[name])
    return list(families.values())
