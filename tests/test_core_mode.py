"""The async core and the event loop a run promises are the ones its tests run on.

noxfile.py's legs name which core they test (``TEST_CORE``: ``compiled``, the
Cython build of transport/connection.py, or ``pure``, that file as Python) and
which event loop (``TEST_EVENT_LOOP``: ``uvloop``, else asyncio's own). Without
these checks a compiled leg whose build fell back to pure Python (setup.py never
fails, by design), or a uvloop leg whose policy did not take, would pass while
testing something else. Run without those variables, as a developer runs
pytest, the same checks hold against what this process can import.

Compiled modules are also checked against the files they were built from: an
in-place build older than the last edit of its source runs the old code,
and one setup.py does not declare (a leftover experiment) shadows the .py of
the same name.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.machinery
import importlib.util
import os
import threading
from pathlib import Path

from asgiref.sync import async_to_sync
from django.core.cache import caches

import django_async_redis
from django_async_redis.transport import aio, connection
from tests import servers

REPO = Path(__file__).resolve().parent.parent
# Where the imported package is: src/ in the checkout (the editable install).
PACKAGE = Path(django_async_redis.__file__).resolve().parent
CORE = "django_async_redis.transport._connection_c"
CORES = ("compiled", "pure")
EVENT_LOOPS = ("asyncio", "uvloop")
HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set on classes made by a class statement


def declared_compiled_modules() -> dict[str, Path]:
    """setup.py's COMPILED_MODULES (module name -> its .py source), read, not run."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "COMPILED_MODULES"
            for target in statement.targets
        ):
            declared: dict[str, str] = ast.literal_eval(statement.value)
            # The sources are named from the repository root ("src/..."); find
            # them beside the package that was imported.
            return {
                name: PACKAGE.parent / Path(source).relative_to("src")
                for name, source in declared.items()
            }
    raise AssertionError("setup.py assigns no COMPILED_MODULES")


def compiled_modules_in_package() -> dict[str, Path]:
    """The modules this interpreter would import from a compiled file in the package.

    A file counts when its name is a module name plus one of this Python's
    extension suffixes: another Python's build (``x.cpython-312-...so`` seen by
    3.11) is not importable here, so it is not counted.
    """
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*"):
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            stem = path.name.removesuffix(suffix)
            if stem != path.name and stem.isidentifier():
                parts = path.parent.relative_to(PACKAGE.parent).parts
                found[".".join((*parts, stem))] = path
                break
    return found


def expected_core() -> str:
    named = os.environ.get("TEST_CORE")
    if named is not None:
        assert named in CORES, f"TEST_CORE={named!r}: expected one of {CORES}"
        return named
    # No leg says: the compiled core runs exactly when it can be imported and is not switched off.
    if os.environ.get("DJANGO_ASYNC_REDIS_NO_EXTENSIONS"):
        return "pure"
    return "compiled" if importlib.util.find_spec(CORE) is not None else "pure"


def test_the_core_that_runs_is_the_one_named() -> None:
    core = expected_core()
    assert isinstance(aio.COMPILED, bool)
    assert aio.COMPILED is (core == "compiled"), (
        f"expected the {core} core; aio.COMPILED is {aio.COMPILED} "
        f"(compiled modules here: {sorted(compiled_modules_in_package())})"
    )
    running = (aio.connection_class, aio.reply_future_class, aio.resolve_replies)
    if core == "pure":
        assert running == (
            connection.MultiplexedConnection,
            connection.ReplyFuture,
            connection.resolve_replies,
        )
        return
    from django_async_redis.transport import _connection_c  # type: ignore[attr-defined]

    assert running == (
        _connection_c.MultiplexedConnection,
        _connection_c.ReplyFuture,
        _connection_c.resolve_replies,
    )
    # The .pxd's C types were applied: its `cdef class`es are C types. Compiled
    # without it, Cython turns the classes of connection.py into ordinary ones.
    for cls in (aio.connection_class, aio.reply_future_class):
        assert not cls.__flags__ & HEAPTYPE, f"{cls} was compiled without _connection_c.pxd"


def test_compiled_modules_are_declared_and_newer_than_their_sources() -> None:
    declared = declared_compiled_modules()
    assert CORE in declared
    found = compiled_modules_in_package()
    # Each undeclared one shadows the .py beside it with whatever it was built from.
    assert set(found) <= set(declared), (
        f"compiled modules setup.py does not build: {sorted(set(found) - set(declared))}"
    )
    for name, built in found.items():
        source = declared[name]
        # Cython reads the .pxd named after the module, beside the source.
        inputs = [source, source.with_name(f"{name.rpartition('.')[2]}.pxd")]
        newer = [
            path.name
            for path in inputs
            if path.is_file() and path.stat().st_mtime > built.stat().st_mtime
        ]
        assert not newer, (
            f"{built.name} is older than {newer}: it runs old code; "
            "rebuild with `python setup.py build_ext --inplace`"
        )


def test_cache_calls_run_on_the_event_loop_named(redis_server: servers.Server) -> None:
    """Every way the suite gets a loop gives the one named, and cache calls work on it.

    asyncio.run, here and in another thread; async_to_sync (asgiref runs its
    loop in a thread of its own); a loop of one's own, as Django's async test
    cases make.
    """
    wanted = os.environ.get("TEST_EVENT_LOOP", "asyncio")
    assert wanted in EVENT_LOOPS, f"TEST_EVENT_LOOP={wanted!r}: expected one of {EVENT_LOOPS}"
    backend = caches["default"]

    async def call(key: str) -> tuple[str, object]:
        module = type(asyncio.get_running_loop()).__module__
        await backend.aset(key, module)
        return module, await backend.aget(key)

    ran = {
        "asyncio.run": asyncio.run(call("core-mode:run")),
        "async_to_sync": async_to_sync(call)("core-mode:async-to-sync"),
    }
    in_thread: list[tuple[str, object]] = []
    thread = threading.Thread(target=lambda: in_thread.append(asyncio.run(call("core-mode:t"))))
    thread.start()
    thread.join()
    (ran["asyncio.run in a thread"],) = in_thread
    loop = asyncio.new_event_loop()
    try:
        ran["new_event_loop"] = loop.run_until_complete(call("core-mode:new-loop"))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    backend.delete_many(
        ["core-mode:run", "core-mode:async-to-sync", "core-mode:t", "core-mode:new-loop"]
    )
    # uvloop's loop class is uvloop.Loop; asyncio's is asyncio.unix_events' (or windows_events').
    assert {how: module.split(".")[0] for how, (module, _) in ran.items()} == dict.fromkeys(
        ran, wanted
    )
    # Each value went to the server and came back through the loop it names.
    assert all(stored == module for module, stored in ran.values()), ran
