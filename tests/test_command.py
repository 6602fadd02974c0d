"""``manage.py redis_cache``: every subcommand, on one server and on every topology."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_async_redis.management.commands.redis_cache import Command
from django_async_redis.management.inspect import key_group
from tests import servers, topologies

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, **kwargs: Any) -> str:
    out = StringIO()
    call_command(Command(), *args, stdout=out, **kwargs)
    return out.getvalue()


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json"))


@pytest.fixture
def filled(flushed_redis: redis.Redis) -> redis.Redis:
    cache = caches["default"]
    cache.set_many({f"user:{i}:profile": {"n": i} for i in range(120)}, 300)
    cache.set_many({f"rate:{i}": i for i in range(30)}, 300)
    flushed_redis.set("foreign:key", b"not ours")  # outside the cache's key space
    return flushed_redis


def test_ping(redis_server: servers.Server) -> None:
    output = run("ping")
    assert output.startswith("default") and redis_server.address in output and " ms" in output
    (row,) = run_json("ping", "--samples", "1")["ping"]
    assert row["alias"] == "default" and row["node"] == redis_server.address
    assert row["ms"] >= 0


def test_ping_reports_a_dead_node() -> None:
    dead = {"BACKEND": "django_async_redis.cache.RedisCache"}
    dead["LOCATION"] = f"redis://127.0.0.1:{servers.free_port()}"
    with override_settings(CACHES={"default": dead}):
        with pytest.raises(CommandError, match="1 of 1 nodes did not answer"):
            run("ping")
        (row,) = run_json("ping")["ping"]
    assert "error" in row and "ms" not in row


def test_info(filled: redis.Redis) -> None:
    cache = caches["default"]
    cache.get("user:1:profile")
    cache.get("missing")
    output = run("info")
    for part in ("server", "memory", "clients", "keys     151 in db", "hits"):
        assert part in output
    (entry,) = run_json("info")["info"]
    assert entry["keys"] == 151
    assert 0 < entry["hit_ratio"] < 1
    assert entry["memory"]["used_memory_human"]


def test_info_reports_the_client_cache(flushed_redis: redis.Redis) -> None:
    entry = {
        "BACKEND": "django_async_redis.cache.RedisCache",
        "LOCATION": servers.session_server().url(),
        "KEY_PREFIX": "cmd",
        "OPTIONS": {"CLIENT_CACHE": True},
    }
    with override_settings(CACHES={"default": entry}):
        cache = caches["default"]
        cache.set("k", 1)
        assert cache.get("k") == 1 and cache.get("k") == 1
        assert "client cache  1 entries" in run("info")
        local = run_json("info")["client_cache"]["default"]
    assert local["entries"] == 1 and local["hits"] >= 1 and local["tracking_connections"] == 1


def test_keys_counts_in_the_cache_key_space(filled: redis.Redis) -> None:
    assert "default: 120 keys match ':1:user:*'" in run("keys", "user:*")
    assert run_json("keys", "*")["keys"][0]["nodes"] == {servers.session_server().address: 150}
    assert run_json("keys", "--raw", "foreign:*")["keys"][0]["nodes"] == {
        servers.session_server().address: 1
    }
    assert "0 keys" in run("keys", "user:*", "--version", "2")
    listed = run_json("keys", "rate:*", "--list", "5")["keys"][0]["keys"]
    assert len(listed) == 5 and all(key.startswith(":1:rate:") for key in listed)


def test_keys_progress_goes_to_stderr(
    filled: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    run("keys", "*", "--progress")
    assert "scanning" in capsys.readouterr().err


def test_delete(filled: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "would delete 30 keys" in run("delete", "rate:*", "--dry-run")
    assert filled.dbsize() == 151
    answers = iter(["n", "y"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    with pytest.raises(CommandError, match="Cancelled"):
        run("delete", "rate:*")
    assert filled.dbsize() == 151
    assert "deleted 30 keys" in run("delete", "rate:*")
    assert filled.dbsize() == 121
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked despite --yes"))
    (entry,) = run_json("delete", "user:*", "--yes")["delete"]
    assert entry == {"alias": "default", "pattern": ":1:user:*", "matched": 120, "deleted": 120}
    assert filled.keys() == [b"foreign:key"]


def test_stats(filled: redis.Redis) -> None:
    output = run("stats")
    assert ":1:user:*" in output and ":1:rate:*" in output
    (entry,) = run_json("stats", "--sample", "500")["stats"]
    assert entry["exact"] is True and entry["keys"] == 150
    by_prefix = {row["prefix"]: row for row in entry["prefixes"]}
    assert by_prefix[":1:user:*"]["keys"] == 120 and by_prefix[":1:rate:*"]["keys"] == 30
    assert by_prefix[":1:user:*"]["bytes"] > by_prefix[":1:rate:*"]["bytes"] > 0
    sampled = run_json("stats", "--sample", "5")["stats"][0]
    assert sampled["exact"] is False and sampled["keys"] == 150
    assert {row["measured_keys"] for row in sampled["prefixes"]} == {5}


def test_key_groups() -> None:
    assert key_group("user:42:profile", None) == "user:*"
    assert key_group("views.decorators.cache.cache_page..GET." + "a" * 32, None) == (
        "views.decorators.cache.cache_page..GET.*"
    )
    assert key_group("django_async_redis.sessions:" + "k2x9" * 8, None) == (
        "django_async_redis.sessions:*"
    )
    assert key_group("plain", None) == "plain"
    assert key_group("a:b:c:d", 2) == "a:b:*"


def test_bad_input() -> None:
    with pytest.raises(CommandError, match="No cache alias 'nope'"):
        run("ping", "--alias", "nope")
    locmem = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    with (
        override_settings(CACHES={"default": locmem}),
        pytest.raises(CommandError, match="No django_async_redis cache"),
    ):
        run("ping")
    with (
        override_settings(CACHES={"default": settings_default(), "local": locmem}),
        pytest.raises(CommandError, match="not a django_async_redis cache"),
    ):
        run("ping", "--alias", "local")
    with pytest.raises(CommandError, match="--sample must be at least 1"):
        run("stats", "--sample", "0")


def settings_default() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.CACHES["default"])


def test_manage_py_finds_the_command(redis_server: servers.Server, tmp_path: Path) -> None:
    (tmp_path / "command_settings.py").write_text(
        textwrap.dedent(
            f"""
            SECRET_KEY = "x"
            INSTALLED_APPS = ["django_async_redis"]
            CACHES = {{"default": {{"BACKEND": "django_async_redis.cache.RedisCache",
                                    "LOCATION": "{redis_server.url()}"}}}}
            """
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "src")]),
        "DJANGO_SETTINGS_MODULE": "command_settings",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "django", "redis_cache", "ping"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert redis_server.address in completed.stdout


@pytest.mark.topology
@pytest.mark.parametrize("topology", topologies.TOPOLOGIES)
def test_every_subcommand_on_the_topologies(topology: str) -> None:
    with override_settings(CACHES={"default": topologies.cache_settings(topology)}):
        cache = caches["default"]
        cache.delete_pattern("cmd:*")
        # Keys without a hash tag: spread over every primary / shard.
        cache.set_many({f"cmd:{i}": i for i in range(60)}, 300)
        try:
            pings = run_json("ping")["ping"]
            assert all("ms" in row for row in pings), pings
            parts = {"cluster": 3, "shard": 2, "sentinel": 1}[topology]
            assert len(pings) == parts
            nodes = run_json("keys", "cmd:*")["keys"][0]["nodes"]
            assert sum(nodes.values()) == 60
            if topology != "sentinel":
                assert len(nodes) == parts and all(nodes.values())  # spread, and all found
            assert len(run_json("info")["info"]) == parts
            (entry,) = run_json("stats", "cmd:*", "--sample", "100")["stats"]
            assert entry["keys"] == 60 and entry["exact"]
            assert run_json("delete", "cmd:*", "--yes")["delete"][0]["deleted"] == 60
            assert cache.get_many([f"cmd:{i}" for i in range(60)]) == {}
        finally:
            cache.delete_pattern("cmd:*")
