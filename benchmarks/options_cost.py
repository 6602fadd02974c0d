"""What the optional features cost per call: ``python3 -m benchmarks.options_cost``.

The same cache (``django_async_redis.cache.RedisCache``, one server on loopback)
with nothing on, with ``SIGNING``, with ``METRICS``, with ``TRACING`` (an
OpenTelemetry SDK provider with a batch processor and an exporter that drops
the spans, so exporting is off the call path as in production), and with
metrics and tracing together. Sequential sync ``get`` and ``set`` and ``aget``
of a ~1 KiB pickled dict; the variants are interleaved in every round (the
machine is noisy) and the medians of the rounds are printed, with the extra
microseconds over the plain cache. Client and server share one CPU (as in the
suite's "one CPU" rows). Nothing is asserted.

Options: ``--rounds N`` (default 7), ``--calls N`` per workload and round (3000).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from statistics import median
from typing import Any

from benchmarks.figures import median_range
from benchmarks.runner import rotated

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "SIGNING": {"SIGNING": True},
    "METRICS": {"METRICS": True},
    "TRACING": {"TRACING": True},
    "METRICS+TRACING": {"METRICS": True, "TRACING": True},
}
VALUE = {"user": 42, "name": "x" * 900, "tags": list(range(20))}


def _setup_tracing() -> bool:
    """An SDK tracer provider whose spans go nowhere, batched off the call path."""
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        return False

    class Dropping(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropping()))
    trace.set_tracer_provider(provider)
    return True


def _per_call(run: Callable[[], None], calls: int) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) / calls * 1e6


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.options_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args(argv)
    from benchmarks import bootstrap

    bootstrap.reexec_in_venv(argv, "benchmarks.options_cost")
    from django.conf import settings

    settings.configure(SECRET_KEY="benchmarks-options-cost", USE_TZ=True)
    import django

    django.setup()
    from benchmarks import server as bench_server
    from django_async_redis.cache import RedisCache

    tracing = _setup_tracing()
    server = bench_server.start()
    # Client and server on one CPU, as the suite's "one CPU" rows: a round trip then
    # costs what the code costs, not a cross-CPU wake-up (about 100 us on this VM).
    pid = server.pid()
    if hasattr(os, "sched_setaffinity") and pid is not None:
        os.sched_setaffinity(0, {0})
        os.sched_setaffinity(pid, {0})
    try:
        caches = {}
        for name, options in VARIANTS.items():
            if "TRACING" in options and not tracing:
                print(f"{name}: not measured (opentelemetry-sdk is not installed)")
                continue
            cache = RedisCache(server.url, {"KEY_PREFIX": f"cost-{name}", "OPTIONS": options})
            cache.set("k", VALUE)
            caches[name] = cache
        figures: dict[tuple[str, str], list[float]] = {}
        loop = asyncio.new_event_loop()
        calls = args.calls
        for round_number in range(args.rounds):
            for name in rotated(list(caches), round_number):
                cache = caches[name]

                def gets(cache: RedisCache = cache) -> None:
                    for _ in range(calls):
                        cache.get("k")

                def sets(cache: RedisCache = cache) -> None:
                    for _ in range(calls):
                        cache.set("k", VALUE)

                async def agets(cache: RedisCache = cache) -> None:
                    for _ in range(calls):
                        await cache.aget("k")

                figures.setdefault((name, "get"), []).append(_per_call(gets, calls))
                figures.setdefault((name, "set"), []).append(_per_call(sets, calls))
                figures.setdefault((name, "aget"), []).append(
                    _per_call(lambda cache=cache: loop.run_until_complete(agets(cache)), calls)
                )
        loop.close()
    finally:
        server.stop()
    print(_table(figures, args.rounds, server.version))
    return 0


def _table(figures: dict[tuple[str, str], list[float]], rounds: int, version: str) -> str:
    lines = [
        f"per call, µs: median of {rounds} interleaved rounds (min-max); {version}, loopback",
        "| options | sync get | sync set | aget | extra over plain (get / set / aget) |",
        "| --- | --- | --- | --- | --- |",
    ]
    names = sorted({name for name, _ in figures}, key=list(VARIANTS).index)
    plain = {w: median(figures[("plain", w)]) for w in ("get", "set", "aget")}
    for name in names:
        cells = []
        extra = []
        for workload in ("get", "set", "aget"):
            values = figures[(name, workload)]
            cells.append(median_range(values))
            extra.append(f"{median(values) - plain[workload]:+.1f}")
        lines.append(f"| {name} | {' | '.join(cells)} | {' / '.join(extra)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
