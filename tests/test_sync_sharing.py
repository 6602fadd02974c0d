"""Threads sharing connections (OPTIONS SYNC_CONNECTIONS, transport/shared.py).

Against real servers: many threads' round trips go through a few connections
per node, and every caller still gets its own answer: under mixed operations,
with callers giving up mid-flight, with the connections killed mid-burst, and
across a fork. Nothing here depends on how fast the machine is: the callers
that must give up wait on bytes a proxy holds back, and counts are exact.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from redis import exceptions as redis_errors

from django_async_redis.cache import RedisCache
from tests import servers
from tests.forking import answer_from_a_child
from tests.test_faults import StallingProxy

THREADS = 64
ROUNDS = 60


def build(url: str, **options: Any) -> RedisCache:
    return RedisCache(url, {"OPTIONS": {"SYNC_CONNECTIONS": 2, **options}})


@pytest.fixture
def server() -> Iterator[servers.Server]:
    started = servers.start_server()
    try:
        yield started
    finally:
        started.stop()


def run_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    """Run ``target(i)`` in ``count`` threads started together; the errors they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def body(index: int) -> None:
        start.wait()
        try:
            target(index)
        except BaseException as error:  # collected: the test says which
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a thread hung"
    return errors


def mixed_operations(cache: RedisCache, index: int, rounds: int) -> None:
    """Operations whose answers only this thread can know: a wrong reply shows."""
    rng = random.Random(index)
    counter = f"counter:{index}"
    cache.set(counter, 0)
    for step in range(rounds):
        key = f"t{index}:k{step % 7}"
        value = {"thread": index, "step": step, "pad": "x" * rng.randrange(0, 3000)}
        cache.set(key, value)
        assert cache.get(key) == value
        assert cache.incr(counter) == step + 1
        many = cache.get_many([key, f"t{index}:absent"])
        assert many == {key: value}
        if step % 5 == 0:
            assert cache.delete(key) is True
            assert cache.get(key) is None


def test_many_threads_each_get_their_own_answers(server: servers.Server) -> None:
    cache = build(server.url())
    errors = run_threads(THREADS, lambda index: mixed_operations(cache, index, ROUNDS))
    assert errors == []
    # Every thread's calls went through the two shared connections of the node.
    assert len(servers.clients_of_this_process(server)) <= 2
    assert all(cache.get(f"counter:{index}") == ROUNDS for index in range(THREADS))


def test_callers_that_give_up_never_get_another_callers_reply(server: servers.Server) -> None:
    proxy = StallingProxy((server.host, server.port))
    try:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        patient = build(url, SOCKET_TIMEOUT=60)
        # No breaker: each batch that times out would count against it.
        impatient = build(url, SOCKET_TIMEOUT=0.2, BREAKER_THRESHOLD=0)
        for index in range(THREADS):
            patient.set(f"own:{index}", index)
        impatient.get("own:0")  # its lane's connection is open before the stall
        proxy.stall()
        outcomes: dict[int, Any] = {}

        def call(index: int) -> None:
            # Half give up (their replies cannot have come: the proxy holds them),
            # half wait; all of them share the two connections of their cache.
            try:
                if index % 2:
                    outcomes[index] = impatient.get(f"own:{index}")
                else:
                    outcomes[index] = ("patient", patient.get(f"own:{index}"))
            except redis_errors.TimeoutError:
                outcomes[index] = "gave up"

        errors: list[BaseException] = []
        released = threading.Event()

        def release_when_the_impatient_gave_up() -> None:
            # Only once every impatient caller has given up do bytes flow again.
            while list(outcomes.values()).count("gave up") < THREADS // 2:
                if released.wait(0.01):
                    return
            proxy.resume()

        watcher = threading.Thread(target=release_when_the_impatient_gave_up)
        watcher.start()
        try:
            errors = run_threads(THREADS, call)
        finally:
            released.set()
            watcher.join()
        assert errors == []
        gave_up = [i for i, outcome in outcomes.items() if outcome == "gave up"]
        assert sorted(gave_up) == [i for i in range(THREADS) if i % 2]
        for index in range(0, THREADS, 2):
            assert outcomes[index] == ("patient", index)
        # The lanes are in step afterwards: every answer is still the caller's own.
        for index in range(THREADS):
            assert impatient.get(f"own:{index}") == index
            assert patient.get(f"own:{index}") == index
    finally:
        proxy.close()


def test_connections_killed_mid_burst(server: servers.Server) -> None:
    cache = build(server.url())
    for index in range(THREADS):
        cache.set(f"own:{index}", index)
    wrong: list[Any] = []
    killed: list[int] = []
    lost = [0]

    def call(index: int) -> None:
        for step in range(ROUNDS):
            if index == 0 and step == ROUNDS // 2:
                with server.client() as admin:
                    for entry in servers.clients_of_this_process(server):
                        killed.append(admin.execute_command("CLIENT", "KILL", "ID", entry["id"]))
            try:
                answer = cache.get(f"own:{index}")
            except redis_errors.ConnectionError:
                lost[0] += 1
                continue
            if answer != index:
                wrong.append((index, answer))

    assert run_threads(THREADS, call) == []
    assert killed and all(killed)  # the lanes' connections were there, and killed
    assert wrong == []
    # The lanes reconnect: every thread is answered after the kill.
    assert run_threads(THREADS, lambda index: mixed_operations(cache, index, 5)) == []
    assert len(servers.clients_of_this_process(server)) <= 2
    print(f"calls that met the killed connections: {lost[0]}")


def test_fork_in_the_middle(server: servers.Server) -> None:
    cache = build(server.url())
    stop = threading.Event()
    errors: list[BaseException] = []

    def hammer(index: int) -> None:
        while not stop.is_set():
            try:
                cache.set(f"parent:{index}", index)
                assert cache.get(f"parent:{index}") == index
            except BaseException as error:
                errors.append(error)
                return

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    try:

        def child() -> str:  # its lanes start empty, without the parent's sockets
            cache.set("child", "yes")
            return f"{cache.get('child')}:{cache.get('parent:0') in (None, 0)}"

        answer = answer_from_a_child(child)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert answer == "yes:True"
    assert errors == []
    assert cache.get("child") == "yes"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "must be 0 (off) or a positive integer, not -1"),
        (True, "must be 0 (off) or a positive integer, not True"),
        ("2", "must be 0 (off) or a positive integer, not '2'"),
    ],
)
def test_bad_values_are_refused_at_startup(value: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        RedisCache("redis://127.0.0.1:6379/0", {"OPTIONS": {"SYNC_CONNECTIONS": value}})


def test_more_than_max_connections_is_refused() -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"\(8\) is more than .*max_connections'\] \(4\)"
    ):
        RedisCache(
            "redis://127.0.0.1:6379/0",
            {"OPTIONS": {"SYNC_CONNECTIONS": 8, "CONNECTION_POOL_KWARGS": {"max_connections": 4}}},
        )
