"""How many Redis connections a process holds, counted from outside it.

A contender's own count could be wrong (a pool that says one thing and opens
another), so the burst and the HTTP load test count from outside: a thread
polls the TCP sockets of the process (psutil), and of its children for a
server with workers, whose peer is the Redis server's port. The burst checks
those against the server's own ``CLIENT LIST`` too: a socket the server does
not list is not a connection it serves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class ConnectionCounter(threading.Thread):
    """Polls every ``interval`` seconds until stopped (``stop``, or the end of
    a ``with`` block, which takes one last sample).

    ``per_process``: the most such sockets one process held at a sample;
    ``workers``: the most processes holding one at once; ``listed``: the most
    of them ``listing()`` (the server's CLIENT LIST) showed at once, when given;
    ``samples``: how many samples saw a socket at all.
    """

    def __init__(
        self,
        pid: int,
        redis_port: int,
        interval: float = 0.2,
        children: bool = True,
        established: bool = True,
        listing: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        import psutil

        self.psutil = psutil
        self.root = psutil.Process(pid)
        self.redis_port = redis_port
        self.interval = interval
        self.children = children
        self.established = established  # only ESTABLISHED sockets, not closing ones
        self.listing = listing
        self.stop_event = threading.Event()
        self.per_process = 0
        self.workers = 0
        self.listed = 0
        self.samples = 0

    def _sockets(self, proc: Any) -> Any:
        # psutil < 6 calls it connections()
        return (getattr(proc, "net_connections", None) or proc.connections)(kind="tcp")

    def sample(self) -> None:
        psutil = self.psutil
        try:
            procs = [self.root, *(self.root.children(recursive=True) if self.children else [])]
        except psutil.NoSuchProcess:
            return
        ports: set[int] = set()
        holding = 0
        for proc in procs:
            try:
                sockets = self._sockets(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            mine = {
                s.laddr.port
                for s in sockets
                if s.raddr
                and s.raddr.port == self.redis_port
                and (s.status == "ESTABLISHED" or not self.established)
            }
            self.per_process = max(self.per_process, len(mine))
            holding += bool(mine)
            ports |= mine
        self.workers = max(self.workers, holding)
        if not ports:
            return
        self.samples += 1
        if self.listing is not None:
            listed = self.listing()
            seen = sum(1 for c in listed if int(c["addr"].rsplit(":", 1)[1]) in ports)
            self.listed = max(self.listed, seen)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)

    def stop(self) -> None:
        self.stop_event.set()
        if self.is_alive():
            self.join(5)

    def __enter__(self) -> ConnectionCounter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.sample()  # the connections still open once the load stopped
