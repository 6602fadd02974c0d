"""A circuit breaker per node: a failing server costs one timeout, not one per call.

Per process and per node, shared by the sync and the async transport (a
server that hangs for threads hangs for tasks too). Closed, it only counts:
``threshold`` node failures in a row (a refused or timed-out connect, a
request that got no byte back within SOCKET_TIMEOUT, a connection lost with
requests in flight) open it. Open, every call to the node fails at once with
:class:`CircuitOpen` (a redis-py ConnectionError, so IGNORE_EXCEPTIONS answers
the default within microseconds). After ``cooldown`` seconds the next call is
let through as the trial, one at a time, while the others still fail fast: if
it succeeds the breaker closes, if not it stays open for another cooldown. No
thread and no timer: probing rides on the traffic there is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any, Final

from redis import exceptions as redis_errors

from ..config import Node
from .resp import Unreachable


class CircuitOpen(Unreachable, redis_errors.ConnectionError):
    """The node failed repeatedly and is not being tried: nothing was sent."""


class Breaker:
    """The failure count and open/trial state of one node."""

    __slots__ = ("_cooldown", "_threshold", "_trial_budget", "address", "failures", "last_error",
                 "open_until", "trial_until")  # fmt: skip

    def __init__(self, node: Node) -> None:
        self.address = node.address
        self._threshold = node.breaker_threshold
        self._cooldown = node.breaker_cooldown
        # How long a trial may take before another caller may try: it can wait
        # out a connect and a read timeout.
        self._trial_budget = (node.connect_timeout or 5.0) + (node.socket_timeout or 5.0)
        self.failures = 0
        # 0.0 while closed: the hot path reads this one attribute and moves on.
        self.open_until = 0.0
        self.trial_until = 0.0
        self.last_error = ""

    def admit(self) -> None:
        """Called only while open: raise CircuitOpen, or let this call through as the trial."""
        now = time.monotonic()
        if now < self.open_until or now < self.trial_until:
            raise CircuitOpen(
                f"{self.address} is failing ({self.failures} failures in a row, last: "
                f"{self.last_error}); not tried again for "
                f"{max(self.open_until - now, 0.0):.2f} s (circuit breaker)"
            )
        self.trial_until = now + self._trial_budget

    def failure(self, error: BaseException | str) -> None:
        """A node failure: count it, and open (or keep open) past the threshold."""
        if not self._threshold:
            return
        self.failures += 1
        self.last_error = str(error)
        if self.open_until or self.failures >= self._threshold:
            self.open_until = time.monotonic() + self._cooldown
            self.trial_until = 0.0

    def success(self) -> None:
        """The node answered: close."""
        self.failures = 0
        self.open_until = 0.0
        self.trial_until = 0.0


_breakers: dict[tuple[str, int, float], Breaker] = {}
_lock: Final = threading.Lock()


def breaker_for(node: Node) -> Breaker:
    """The process's breaker for ``node`` (the same for its sync and async connections)."""
    # By address, not by Node: two databases or client names on one server share
    # its fate.
    key = (node.address, node.breaker_threshold, node.breaker_cooldown)
    breaker = _breakers.get(key)
    if breaker is None:
        with _lock:
            breaker = _breakers.setdefault(key, Breaker(node))
    return breaker


def breaker_states(nodes: Iterable[Node]) -> dict[str, dict[str, Any]]:
    """Each node's breaker by address: closed, open, or half-open (a trial is due)."""
    now = time.monotonic()
    states = {}
    for node in nodes:
        breaker = breaker_for(node)
        if not breaker.open_until:
            state = "closed"
        elif now < breaker.open_until:
            state = "open"
        else:
            state = "half-open"
        states[node.address] = {"state": state, "failures": breaker.failures}
    return states
