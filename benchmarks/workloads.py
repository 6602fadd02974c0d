"""The workloads, and the uniform face each contender shows them.

A ``Target`` holds plain callables (bound methods for a Django cache, small
wrappers for raw redis-py), so the loops below time the contender, not us.
Every loop is bounded twice: by a duration and by an operation count.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

N_KEYS = 1000  # key space of the mixed and burst workloads
MANY = 100  # keys per get_many / set_many
PICKLED_SIZE = 1024


def value_for(i: int) -> dict[str, Any]:
    """A dict that pickles to about 1 KiB and says which key it belongs to."""
    value = {
        "id": i,
        "title": f"Benchmark item number {i}",
        "author": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "tags": ["cache", "redis", "django", "async"],
        "score": 3.14159,
        "active": True,
        "body": "",
    }
    pad = PICKLED_SIZE - len(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
    value["body"] = ("lorem ipsum dolor sit amet " * 40)[: max(pad - 3, 0)]
    return value


def key_for(i: int) -> str:
    return f"k{i}"


@dataclass
class Target:
    get: Callable[[str], Any] | None = None
    set: Callable[[str, Any], Any] | None = None
    get_many: Callable[[list[str]], dict] | None = None
    set_many: Callable[[dict[str, Any]], Any] | None = None
    aget: Callable[[str], Awaitable[Any]] | None = None
    aset: Callable[[str, Any], Awaitable[Any]] | None = None
    aget_many: Callable[[list[str]], Awaitable[dict]] | None = None
    aset_many: Callable[[dict[str, Any]], Awaitable[Any]] | None = None


SYNC_METHODS = ("get", "set", "get_many", "set_many")
ASYNC_METHODS = ("aget", "aset", "aget_many", "aset_many")


def django_target(cache: Any, has_sync: bool = True) -> Target:
    """A Django cache's bound methods; one the backend lacks (a sync-only
    cluster backend's a* methods) stays None, as do the sync ones of an
    async-only backend (``has_sync`` False)."""
    names = (*SYNC_METHODS, *ASYNC_METHODS) if has_sync else ASYNC_METHODS
    return Target(**{name: getattr(cache, name, None) for name in names})


def proxy_target() -> Target:
    """The async calls as a view makes them: ``from django.core.cache import
    cache; await cache.aget(key)``. Each call looks the method up again through
    Django's ConnectionProxy (its ``__getattr__``, then ``caches["default"]``
    from the handler's asgiref Local), as every call of a view does."""
    from django.core.cache import cache

    def aget(key: str) -> Awaitable[Any]:
        return cache.aget(key)

    def aset(key: str, value: Any) -> Awaitable[Any]:
        return cache.aset(key, value)

    return Target(aget=aget, aset=aset)


RAW_PREFIX = "dar-bench-raw:"


def raw_sync_target(client: Any, p: str = RAW_PREFIX, mget: str = "mget") -> Target:
    """redis-py's client doing a cache's work: pickle, ``SET ... EX``, one
    ``mget`` (``mget_nonatomic`` on a cluster: the keys span slots), a
    non-transactional pipeline for set_many."""
    dumps, loads, proto = pickle.dumps, pickle.loads, pickle.HIGHEST_PROTOCOL
    many = getattr(client, mget)

    def get(key: str) -> Any:
        raw = client.get(p + key)
        return None if raw is None else loads(raw)

    def set_(key: str, value: Any) -> Any:
        return client.set(p + key, dumps(value, proto), ex=300)

    def get_many(keys: list[str]) -> dict:
        raws = many([p + k for k in keys])
        return {k: loads(r) for k, r in zip(keys, raws, strict=True) if r is not None}

    def set_many(mapping: dict[str, Any]) -> Any:
        pipe = client.pipeline(transaction=False)
        for k, v in mapping.items():
            pipe.set(p + k, dumps(v, proto), ex=300)
        return pipe.execute()

    return Target(get=get, set=set_, get_many=get_many, set_many=set_many)


def raw_async_target(
    client: Any, target: Target, p: str = RAW_PREFIX, mget: str = "mget"
) -> Target:
    """``raw_sync_target``'s calls on redis.asyncio's client, awaited."""
    dumps, loads, proto = pickle.dumps, pickle.loads, pickle.HIGHEST_PROTOCOL
    many = getattr(client, mget)

    async def aget(key: str) -> Any:
        raw = await client.get(p + key)
        return None if raw is None else loads(raw)

    async def aset(key: str, value: Any) -> Any:
        return await client.set(p + key, dumps(value, proto), ex=300)

    async def aget_many(keys: list[str]) -> dict:
        raws = await many([p + k for k in keys])
        return {k: loads(r) for k, r in zip(keys, raws, strict=True) if r is not None}

    async def aset_many(mapping: dict[str, Any]) -> Any:
        pipe = client.pipeline(transaction=False)
        for k, v in mapping.items():
            pipe.set(p + k, dumps(v, proto), ex=300)
        return await pipe.execute()

    target.aget, target.aset, target.aget_many, target.aset_many = aget, aset, aget_many, aset_many
    return target


def ceiling_target(compiled: bool = False) -> Target:
    """No Redis at all: the stored bytes live in a dict, and each async call
    still waits on one future. The futures of one loop tick are resolved
    together by one callback, as a transport's read callback would.

    Everything every contender must do in this process (pickle, a task switch
    per call, the workload's own bookkeeping) and nothing else: no backend on
    this loop can beat it, so it puts the other figures in proportion.

    ``compiled``: each call awaits our compiled ReplyFuture instead, and the
    tick's callback wakes the callers directly, as our compiled transport's
    read callback does: the floor of that design, before any I/O.
    """
    if compiled:
        from django_async_redis.transport import aio

        if not aio.COMPILED:
            raise RuntimeError("the compiled core is not built (see setup.py)")
        resolve, future_class = aio.resolve_replies, aio.reply_future_class
    dumps, loads, proto = pickle.dumps, pickle.loads, pickle.HIGHEST_PROTOCOL
    store: dict[str, bytes] = {}
    waiting: list[tuple[asyncio.Future, Any]] = []

    def get(key: str) -> Any:
        raw = store.get(key)
        return None if raw is None else loads(raw)

    def set_(key: str, value: Any) -> Any:
        store[key] = dumps(value, proto)
        return True

    def get_many(keys: list[str]) -> dict:
        return {k: loads(store[k]) for k in keys if k in store}

    def set_many(mapping: dict[str, Any]) -> Any:
        store.update((k, dumps(v, proto)) for k, v in mapping.items())
        return []

    def resolve_all() -> None:
        batch = waiting[:]
        waiting.clear()
        if compiled:
            resolve(asyncio.get_running_loop(), batch)
            return
        for future, result in batch:
            future.set_result(result)

    def resolved(result: Any) -> Awaitable[Any]:
        loop = asyncio.get_running_loop()
        future = future_class(loop, 1, None, 0) if compiled else loop.create_future()
        if not waiting:
            loop.call_soon(resolve_all)
        waiting.append((future, result))
        return future

    # A compiled future answers the list of its replies, as our transport's do.
    def reply(answer: Any) -> Any:
        return answer[0] if compiled else answer

    async def aget(key: str) -> Any:
        return get(reply(await resolved(key)))

    async def aset(key: str, value: Any) -> Any:
        return reply(await resolved(set_(key, value)))

    async def aget_many(keys: list[str]) -> dict:
        return get_many(reply(await resolved(keys)))

    async def aset_many(mapping: dict[str, Any]) -> Any:
        return reply(await resolved(set_many(mapping)))

    return Target(get, set_, get_many, set_many, aget, aset, aget_many, aset_many)


# --- timing loops ------------------------------------------------------------


@dataclass
class Budget:
    warmup: float
    duration: float
    max_ops: int

    @property
    def limit(self) -> float:
        """How long a workload of this budget may take, before the watchdog's slack."""
        return self.warmup + self.duration


def _check_value(result: Any, i: int) -> None:
    if not isinstance(result, dict) or result.get("id") != i:
        raise AssertionError(f"key {key_for(i)} read back {str(result)[:80]!r}")


def _per_call(elapsed: float, ops: int, warm: int) -> dict:
    return {
        "us_per_op": elapsed / ops * 1e6,
        "ops": ops,
        "seconds": elapsed,
        "total_ops": warm + ops,
    }


# sequential and asequential are twins on purpose: the timed loop calls (or
# awaits) ``fn`` directly, as a caller would; a loop shared through a helper
# would be timed along with the contender.
def sequential(fn: Callable[[], Any], budget: Budget) -> dict:
    """Mean microseconds per call of ``fn``, called back to back."""
    batch = 10
    end = time.perf_counter() + budget.warmup
    warm = 0
    while time.perf_counter() < end:
        fn()
        warm += 1
    ops = 0
    t0 = time.perf_counter()
    deadline = t0 + budget.duration
    while ops < budget.max_ops:
        for _ in range(batch):
            fn()
        ops += batch
        if time.perf_counter() >= deadline:
            break
    return _per_call(time.perf_counter() - t0, ops, warm)


async def asequential(fn: Callable[[], Awaitable[Any]], budget: Budget) -> dict:
    """Mean microseconds per call of ``fn``, awaited back to back."""
    batch = 10
    end = time.perf_counter() + budget.warmup
    warm = 0
    while time.perf_counter() < end:
        await fn()
        warm += 1
    ops = 0
    t0 = time.perf_counter()
    deadline = t0 + budget.duration
    while ops < budget.max_ops:
        for _ in range(batch):
            await fn()
        ops += batch
        if time.perf_counter() >= deadline:
            break
    return _per_call(time.perf_counter() - t0, ops, warm)


async def _mixed_op(
    target: Target, rng: random.Random, values: list[Any], state: dict, write_ratio: float
) -> None:
    """One aget (checked against its own key's value) or, at ``write_ratio``, one aset."""
    i = rng.randrange(N_KEYS)
    try:
        if rng.random() < write_ratio:
            await target.aset(key_for(i), values[i])
        else:
            got = await target.aget(key_for(i))
            if not isinstance(got, dict) or got.get("id") != i:
                state["wrong"] += 1
        state["ops"] += 1
    except Exception as exc:
        state["errors"] += 1
        if state["first_error"] is None:
            state["first_error"] = f"{type(exc).__name__}: {exc}"[:300]
        raise


async def concurrent_mixed(
    target: Target, tasks: int, budget: Budget, write_ratio: float = 0.1
) -> dict:
    """``tasks`` asyncio tasks, each looping 90% aget / 10% aset over N_KEYS keys.

    Counts completed operations inside the measured window only; every read is
    checked to be its own key's value.
    """
    values = [value_for(i) for i in range(N_KEYS)]
    state = {"ops": 0, "stop": False, "errors": 0, "wrong": 0, "first_error": None}
    per_task_cap = max(budget.max_ops // tasks, 1)

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(per_task_cap):
            if state["stop"]:
                return
            try:
                await _mixed_op(target, rng, values, state, write_ratio)
            except Exception:
                await asyncio.sleep(0.001)

    running = [asyncio.ensure_future(worker(n)) for n in range(tasks)]
    await asyncio.sleep(budget.warmup)
    ops0, t0 = state["ops"], time.perf_counter()
    await asyncio.sleep(budget.duration)
    ops1, t1 = state["ops"], time.perf_counter()
    state["stop"] = True
    _, pending = await asyncio.wait(running, timeout=30)
    for task in pending:
        task.cancel()
    result = {
        "ops_per_s": (ops1 - ops0) / (t1 - t0),
        "ops": ops1 - ops0,
        "seconds": t1 - t0,
        "errors": state["errors"],
        "wrong_values": state["wrong"],
        "total_ops": state["ops"],
    }
    if state["first_error"]:
        result["first_error"] = state["first_error"]
    return result


async def burst(target: Target, tasks: int, ops_per_task: int, seconds: float) -> dict:
    """``tasks`` tasks started at once, ``ops_per_task`` mixed ops each, time-capped."""
    values = [value_for(i) for i in range(N_KEYS)]
    state = {"ops": 0, "errors": 0, "wrong": 0, "first_error": None}
    deadline = time.perf_counter() + seconds

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(ops_per_task):
            if time.perf_counter() > deadline:
                return
            with contextlib.suppress(Exception):  # counted in state by _mixed_op
                await _mixed_op(target, rng, values, state, 0.1)

    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(tasks))), timeout=seconds + 60)
    elapsed = time.perf_counter() - t0
    result = {
        "tasks": tasks,
        "ops": state["ops"],
        "seconds": elapsed,
        "ops_per_s": state["ops"] / elapsed,
        "errors": state["errors"],
        "wrong_values": state["wrong"],
    }
    if state["first_error"]:
        result["first_error"] = state["first_error"]
    return result


# --- the fixed data each workload reads ------------------------------------


def populate_sync(target: Target) -> None:
    for start in range(0, N_KEYS, MANY):
        target.set_many({key_for(i): value_for(i) for i in range(start, start + MANY)})
    _check_value(target.get(key_for(7)), 7)
    got = target.get_many([key_for(i) for i in range(MANY)])
    if len(got) != MANY:
        raise AssertionError(f"get_many returned {len(got)} of {MANY} keys")


async def apopulate(target: Target) -> None:
    for start in range(0, N_KEYS, MANY):
        await target.aset_many({key_for(i): value_for(i) for i in range(start, start + MANY)})
    _check_value(await target.aget(key_for(7)), 7)
    got = await target.aget_many([key_for(i) for i in range(MANY)])
    if len(got) != MANY:
        raise AssertionError(f"aget_many returned {len(got)} of {MANY} keys")


def jobs(
    t: Target,
    budgets: dict[str, Budget],
    run: Callable[[Awaitable[dict]], dict],
    tasks: int,
    keys: list[str],
    mapping: dict[str, Any] | None = None,
    proxy: Target | None = None,
) -> dict[str, Callable[[], dict]]:
    """Every workload on ``t``, by name, each a callable giving its result:
    ``run`` runs a coroutine on the worker's one loop, ``keys`` are read by the
    get_many pair, ``mapping`` written by the set_many pair, ``proxy`` is the
    target of ``concurrent_proxy``. The worker says which of them apply."""
    one = key_for(3)
    return {
        "get": lambda: sequential(lambda: t.get(one), budgets["get"]),
        "get_many": lambda: sequential(lambda: t.get_many(keys), budgets["get_many"]),
        "set_many": lambda: sequential(lambda: t.set_many(mapping), budgets["set_many"]),
        "aget": lambda: run(asequential(lambda: t.aget(one), budgets["aget"])),
        "concurrent": lambda: run(concurrent_mixed(t, tasks, budgets["concurrent"])),
        "concurrent_proxy": lambda: run(
            concurrent_mixed(proxy, tasks, budgets["concurrent_proxy"])
        ),
        "aget_many": lambda: run(asequential(lambda: t.aget_many(keys), budgets["aget_many"])),
        "aset_many": lambda: run(asequential(lambda: t.aset_many(mapping), budgets["aset_many"])),
    }
