"""Every ```python block of the docs and the README runs, against a real server.

Blocks of a page run in order in one namespace, as a reader would type them:
``cache`` is the suite's default cache (django-async-redis on the session
server), ``user`` a user object and ``request`` a request carrying a live
session of that user. A block with a top-level ``await`` runs in its own
``asyncio.run``; the others run as plain sync code, with no loop running.
``127.0.0.1:6379`` / ``localhost:6379`` in a block mean the session server.

Settings blocks are executed too, and then checked: each cache of a
``CACHES`` dict is built from its entry (which validates every option) and,
when it points at the server with the default topology, a value is written,
read back and deleted through it; ``SESSION_ENGINE`` must import and have a
``SessionStore``; any other upper-case name must be a Django setting or one the
library reads.

A block that cannot run here says why, in a comment line right above it:
``<!-- docs-test: skip <reason> -->``.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import global_settings
from django.utils.module_loading import import_string

from tests import servers

REPO = Path(__file__).resolve().parent.parent
PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
FENCE = re.compile(r"^```(?:python|py)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b\s*(.*?)\s*-->\s*$")
SERVER_SPELLINGS = ("127.0.0.1:6379", "localhost:6379")
LIBRARY_SOURCE = "\n".join(
    path.read_text() for path in (REPO / "src" / "django_async_redis").rglob("*.py")
)
DEFAULT_CLIENTS = {
    None,
    "django_async_redis.client.DefaultClient",
    "django_async_redis.client.default.DefaultClient",
    "django_redis.client.DefaultClient",
}


@dataclass
class Block:
    page: Path
    line: int
    source: str
    skip: str | None


def blocks_of(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").splitlines()
        previous = before[-1] if before else ""
        marker = SKIP.search(previous)
        if marker and not marker.group(1):
            raise AssertionError(f"{page.name}: a docs-test skip marker must give its reason")
        line = text.count("\n", 0, match.start()) + 2
        found.append(Block(page, line, match.group(1), marker.group(1) if marker else None))
    return found


def pages_with_code() -> list[Path]:
    return [page for page in PAGES if blocks_of(page)]


def assigned_names(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def locations(location: Any) -> list[str]:
    if isinstance(location, (list, tuple)):
        return [str(url) for url in location]
    return [url for url in re.split(r"[,;]", str(location or "")) if url]


def check_cache(alias: str, entry: dict[str, Any], server: servers.Server, where: str) -> None:
    backend = import_string(entry["BACKEND"])
    params = {key: value for key, value in entry.items() if key not in ("BACKEND", "LOCATION")}
    cache = backend(entry.get("LOCATION", ""), params)
    options = entry.get("OPTIONS") or {}
    on_server = all(
        url.split("://", 1)[0] in ("redis", "valkey") and f"//{server.address}/" in url + "/"
        for url in locations(entry.get("LOCATION"))
    )
    plain = options.get("CLIENT_CLASS") in DEFAULT_CLIENTS and "SENTINELS" not in options
    try:
        if on_server and plain and locations(entry.get("LOCATION")):
            key = f"docs-check-{uuid.uuid4().hex}"
            cache.set(key, {"from": where}, 30)
            assert cache.get(key) == {"from": where}, f"{where}: CACHES[{alias!r}] round trip"
            cache.delete(key)
    finally:
        cache.close()


def check_settings(
    names: set[str], namespace: dict[str, Any], server: servers.Server, where: str
) -> None:
    for name in sorted(n for n in names if n.isupper()):
        value = namespace[name]
        if name == "CACHES":
            for alias, entry in value.items():
                check_cache(alias, entry, server, where)
        elif name == "SESSION_ENGINE":
            module = import_string(f"{value}.SessionStore")
            assert inspect.isclass(module), f"{where}: {value} has no SessionStore"
        elif name == "SESSION_CACHE_ALIAS":
            caches = namespace.get("CACHES", {"default": None})
            assert value in caches, f"{where}: SESSION_CACHE_ALIAS {value!r} names no cache"
        else:
            suffix = re.sub(r"^DJANGO_(ASYNC_)?REDIS_", "", name)
            known = hasattr(global_settings, name) or f'"{suffix}"' in LIBRARY_SOURCE
            known = known or f'"{name}"' in LIBRARY_SOURCE
            assert known, f"{where}: {name} is neither a Django setting nor one the library reads"


def page_namespace() -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.core.cache import cache, caches

    from django_async_redis.sessions import SessionStore

    user = User(pk=4242, username="ada")
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session.save()

    class Request:
        """What the examples use of a request: its session and user."""

        def __init__(self) -> None:
            self.session = session
            self.user = user

    return {
        "__name__": "docs_example",
        "cache": cache,
        "caches": caches,
        "user": user,
        "request": Request(),
    }


def flush(server: servers.Server, sources: list[str]) -> None:
    databases = {0} | {
        int(db) for src in sources for db in re.findall(rf"{server.address}/(\d+)", src)
    }
    for db in databases:
        with contextlib.closing(server.client(db=db)) as raw:
            raw.flushdb()


@pytest.mark.parametrize("page", pages_with_code(), ids=lambda page: page.name)
def test_every_python_block_runs(page: Path, redis_server: servers.Server) -> None:
    blocks = blocks_of(page)
    sources = []
    for block in blocks:
        source = block.source
        for spelling in SERVER_SPELLINGS:
            source = source.replace(spelling, redis_server.address)
        sources.append(source)
    flush(redis_server, sources)
    namespace = page_namespace()
    try:
        for block, source in zip(blocks, sources, strict=True):
            if block.skip:
                continue
            where = f"{page.name}, the block at line {block.line}"
            code = compile(source, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            if code.co_flags & inspect.CO_COROUTINE:
                asyncio.run(eval(code, namespace))
            else:
                exec(code, namespace)
            check_settings(assigned_names(source), namespace, redis_server, where)
    finally:
        flush(redis_server, sources)


def test_every_option_the_library_takes_is_documented() -> None:
    from django_async_redis.config import KNOWN_OPTIONS, UNSUPPORTED_OPTIONS

    page = (REPO / "docs" / "configuration.md").read_text()
    missing = sorted(key for key in KNOWN_OPTIONS if f"`{key}`" not in page)
    assert not missing, f"docs/configuration.md does not describe {missing}"
    refused = (REPO / "docs" / "migrate-from-django-redis.md").read_text()
    missing = sorted(key for key in UNSUPPORTED_OPTIONS if f"`{key}`" not in refused)
    assert not missing, f"docs/migrate-from-django-redis.md does not say {missing} is refused"


def test_a_skip_marker_needs_a_reason(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- docs-test: skip -->\n```python\nraise SystemExit\n```\n")
    with pytest.raises(AssertionError, match="must give its reason"):
        blocks_of(page)


def test_the_block_extractor_finds_blocks_and_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```python\nx = 1\n```\n\n```console\nls\n```\n\n"
        "<!-- docs-test: skip needs a TLS server -->\n```py\ny = 2\n```\n"
    )
    found = blocks_of(page)
    assert [(b.line, b.source, b.skip) for b in found] == [
        (4, "x = 1\n", None),
        (13, "y = 2\n", "needs a TLS server"),
    ]
