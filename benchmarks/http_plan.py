"""The HTTP load test's plan: its contenders, server configurations, cells and rounds.

The first stage of the HTTP load test (``http_load.py`` runs it,
``http_report.py`` reports it). A *cell* is one (server, loop, view,
connections, contender): one wrk run. ``python3 -m benchmarks --http`` makes
the plan from its options: ``--quick`` is ``HttpPlan.quick`` (one round of
1 s cells), ``--reps``, ``--http-seconds``, ``--http-servers`` and ``--only``
narrow it (``with_only``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.backends import BY_NAME, Backend

BIN = Path(sys.executable).parent  # granian's and gunicorn's scripts, beside the venv's python

# The contenders, in table order. django-valkey's async backend has no sync
# API: the WSGI rows run its sync backend (same package, same pool design).
CACHEX = Backend(
    "cachex",
    "django-cachex",
    "django",
    "django_cachex.cache.RedisCache",
    "django-cachex",
    async_note="native async over redis.asyncio",
    micro=False,
    burst=False,
)
# Ours again with the sync path's shared connections (SYNC_CONNECTIONS, off by
# default): threads of a gthread worker queue their round trips on 2 lanes.
# Only the WSGI rows run it: the async path never takes the sync pool.
OURS_SHARED = replace(
    BY_NAME["ours"],
    name="ours-shared",
    label="django-async-redis, SYNC_CONNECTIONS=2",
    options={**BY_NAME["ours"].options, "SYNC_CONNECTIONS": 2},
)
WSGI_ONLY = {OURS_SHARED.name}
CONTENDERS: list[Backend] = [
    BY_NAME["ours"],
    OURS_SHARED,
    BY_NAME["vcache"],
    BY_NAME["django-valkey"],
    CACHEX,
    BY_NAME["django-redis"],
    BY_NAME["django"],
    BY_NAME["locmem"],
]
SYNC_PATHS = {"django-valkey": "django_valkey.cache.ValkeyCache"}
LABELS = {"django-valkey": "django-valkey", "locmem": "LocMemCache (no Redis: the floor)"}
PEERS = ("vcache", "django-valkey", "cachex", "django-redis", "django")
ASYNC_VIEWS = ("page", "cached", "session")
SYNC_VIEWS = ("page-sync",)


@dataclass(frozen=True)
class Config:
    """One way of serving the site."""

    server: str  # uvicorn, granian, gunicorn-sync, gunicorn-gthread
    loop: str  # asyncio, uvloop; "-" for the WSGI servers

    @property
    def name(self) -> str:
        return self.server if self.loop == "-" else f"{self.server}/{self.loop}"

    @property
    def wsgi(self) -> bool:
        return self.server.startswith("gunicorn")

    def command(self, port: int) -> list[str]:
        if self.server == "uvicorn":
            return [
                sys.executable, "-m", "uvicorn", "benchmarks.e2e_site:application",
                "--host", "127.0.0.1", "--port", str(port), "--loop", self.loop,
                "--http", "httptools", "--no-access-log", "--log-level", "warning",
                "--lifespan", "off", "--workers", "1",
            ]  # fmt: skip
        if self.server == "granian":
            return [
                str(BIN / "granian"), "--interface", "asginl", "--host", "127.0.0.1",
                "--port", str(port), "--loop", self.loop, "--workers", "1",
                "--no-ws", "--log-level", "warning", "--no-access-log",
                "benchmarks.e2e_site:application",
            ]  # fmt: skip
        kind = self.server.partition("-")[2]
        threads = ["--threads", "4"] if kind == "gthread" else []
        return [
            str(BIN / "gunicorn"), "--workers", "1", "--worker-class", kind, *threads,
            "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
            "benchmarks.e2e_site:wsgi_application",
        ]  # fmt: skip


CONFIGS = [
    Config("uvicorn", "asyncio"),
    Config("uvicorn", "uvloop"),
    Config("granian", "asyncio"),
    Config("granian", "uvloop"),
    Config("gunicorn-sync", "-"),
    Config("gunicorn-gthread", "-"),
]


@dataclass
class HttpPlan:
    rounds: int = 3
    # wrk -d per cell: at 300 connections a request may take a second, and
    # wrk counts only the requests answered within -d (shorter cells quantize).
    seconds: int = 3
    warmup: float = 1.0  # wrk against /page/ after each start
    connections: tuple[int, ...] = (1, 100, 300)
    wsgi_connections: tuple[int, ...] = (100,)
    # The 1-connection cell (a latency figure) runs on these configurations
    # and views only: it costs as much as the others and says the least.
    single: tuple[str, ...] = ("uvicorn/asyncio",)
    single_views: tuple[str, ...] = ("page",)
    configs: list[Config] = field(default_factory=lambda: list(CONFIGS))
    only: set[str] = field(default_factory=set)

    @classmethod
    def quick(cls) -> HttpPlan:
        return cls(rounds=1, seconds=1, warmup=0.5)

    def cells(self, config: Config) -> list[tuple[str, int]]:
        views = SYNC_VIEWS if config.wsgi else ASYNC_VIEWS
        conns = self.wsgi_connections if config.wsgi else self.connections
        return [
            (view, c)
            for view in views
            for c in conns
            if c != 1 or config.wsgi or (config.name in self.single and view in self.single_views)
        ]


def contenders(plan: HttpPlan) -> list[Backend]:
    return [b for b in CONTENDERS if not plan.only or b.name in plan.only]


def serving(backends: list[Backend], config: Config) -> list[Backend]:
    """The contenders that run under ``config`` (the WSGI-only ones on WSGI servers only)."""
    return [b for b in backends if config.wsgi or b.name not in WSGI_ONLY]


def with_only(plan: HttpPlan, names: set[str], servers_: set[str] | None) -> HttpPlan:
    configs = [c for c in plan.configs if not servers_ or {c.server, c.name} & servers_]
    return replace(plan, only=names, configs=configs)
