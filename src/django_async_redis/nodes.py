"""One server and how to reach it: a LOCATION URL becomes a :class:`Node`.

The URL's host, port or socket, database, credentials, TLS and timeouts, the
handshake a new connection sends, and the validators every setting goes
through (config.py uses them for OPTIONS). Equal nodes share connections.
"""

from __future__ import annotations

import difflib
import re
import ssl
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_SOCKET_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 5.0

# The circuit breaker (transport/breaker.py): node failures in a row that open
# it, and seconds before a trial call.
DEFAULT_BREAKER_THRESHOLD = 3
DEFAULT_BREAKER_COOLDOWN = 1.0

URL_QUERY_KEYS = frozenset(
    {
        "db",
        "socket_timeout",
        "socket_connect_timeout",
        "client_name",
        "protocol",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_check_hostname",
    }
)

SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")


def _unknown(kind: str, key: str, known: frozenset[str]) -> ImproperlyConfigured:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ImproperlyConfigured(f"Unknown {kind} {key!r}.{hint}")


def redacted(url: str) -> str:
    """``url`` with any password shown as ***: for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is not None:
        user = parts.netloc.rpartition("@")[0].partition(":")[0]
        parts = parts._replace(netloc=f"{user}:***@{parts.netloc.rpartition('@')[2]}")
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", urlunsplit(parts))


def _timeout(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ImproperlyConfigured(f"{name} must be a number of seconds or None, not {value!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds, not {value!r}") from None
    if seconds <= 0:
        raise ImproperlyConfigured(f"{name} must be positive, not {value!r}")
    return seconds


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(f"{name} must be a positive integer, not {value!r}")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{name} must be True or False, not {value!r}")
    return value


def _global_setting(suffix: str, default: Any) -> Any:
    """A project-wide setting under django-redis's name or the seed's spelling."""
    for prefix in ("DJANGO_REDIS_", "DJANGO_ASYNC_REDIS_"):
        name = prefix + suffix
        if hasattr(settings, name):
            return getattr(settings, name)
    return default


@dataclass(frozen=True)
class TLSOptions:
    cert_reqs: str = "required"
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    keyfile_password: str | None = field(default=None, repr=False)
    check_hostname: bool = True

    def context(self) -> ssl.SSLContext:
        """An SSL context built from these options (made per connection set, not per call)."""
        context = ssl.create_default_context(cafile=self.ca_certs)
        reqs = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
        context.check_hostname = self.check_hostname and self.cert_reqs != "none"
        context.verify_mode = reqs[self.cert_reqs]
        if self.certfile:
            context.load_cert_chain(self.certfile, self.keyfile, self.keyfile_password)
        return context


@dataclass(frozen=True)
class Node:
    """One server and how to talk to it; equal nodes share connections."""

    host: str = "127.0.0.1"
    port: int = 6379
    unix_path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TLSOptions | None = None
    socket_timeout: float | None = DEFAULT_SOCKET_TIMEOUT
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
    keepalive: bool = True
    client_name: str | None = None
    # A cluster replica that should serve reads (READONLY on connect).
    readonly: bool = False
    breaker_threshold: int = DEFAULT_BREAKER_THRESHOLD
    breaker_cooldown: float = DEFAULT_BREAKER_COOLDOWN
    # RESP2, or RESP3 (HELLO 3) with PROTOCOL: 3.
    protocol: int = 2

    if TYPE_CHECKING:
        # Not a real field (it would join astuple, which __post_init__ hashes):
        # set once in __post_init__, declared here only for the type checker.
        _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Nodes key the connection registries on every call: hash once, not per lookup.
        object.__setattr__(self, "_hash", hash(astuple(self)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def call_budget(self) -> float | None:
        """How long one call may wait in all, connecting included (None: no bound).

        SOCKET_TIMEOUT, or SOCKET_CONNECT_TIMEOUT when that was set longer.
        """
        if self.socket_timeout is None:
            return None
        return max(self.socket_timeout, self.connect_timeout or 0.0)

    @property
    def address(self) -> str:
        return self.unix_path or f"{self.host}:{self.port}"

    def handshake(self) -> list[tuple[Any, ...]]:
        """Commands that prepare a new connection: AUTH, SELECT, CLIENT SETNAME."""
        commands: list[tuple[Any, ...]] = []
        if self.protocol == 3:
            # HELLO switches the protocol, authenticates and names in one go.
            hello: tuple[Any, ...] = (b"HELLO", 3)
            if self.password is not None:
                hello += (b"AUTH", self.username or b"default", self.password)
            if self.client_name:
                hello += (b"SETNAME", self.client_name)
            commands.append(hello)
            if self.db:
                commands.append((b"SELECT", self.db))
            if self.readonly:
                commands.append((b"READONLY",))
            return commands
        if self.password is not None:
            if self.username:
                commands.append((b"AUTH", self.username, self.password))
            else:
                commands.append((b"AUTH", self.password))
        if self.db:
            commands.append((b"SELECT", self.db))
        if self.client_name:
            commands.append((b"CLIENT", b"SETNAME", self.client_name))
        if self.readonly:
            commands.append((b"READONLY",))
        return commands


def _tls_options(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "ssl_cert_reqs" in values:
        reqs = values["ssl_cert_reqs"]
        if reqs is None:
            reqs = "none"
        elif isinstance(reqs, int) and not isinstance(reqs, bool):
            reqs = {int(ssl.CERT_NONE): "none", int(ssl.CERT_OPTIONAL): "optional"}.get(
                reqs, "required"
            )
        if reqs not in ("none", "optional", "required"):
            raise ImproperlyConfigured(
                f"ssl_cert_reqs in {where} must be 'none', 'optional' or 'required', not {reqs!r}"
            )
        options["cert_reqs"] = reqs
    for key in ("ca_certs", "certfile", "keyfile", "keyfile_password"):
        if values.get("ssl_" + key) is not None:
            options[key] = str(values["ssl_" + key])
    if "ssl_check_hostname" in values:
        check = values["ssl_check_hostname"]
        if isinstance(check, str):
            check = check.lower() in ("1", "true", "yes")
        options["check_hostname"] = bool(check)
    return options


def _protocol(value: Any) -> int:
    if value in (2, 3, "2", "3"):
        return int(value)
    raise ImproperlyConfigured(f"PROTOCOL must be 2 (RESP2) or 3 (RESP3), not {value!r}")


def parse_url(url: str, defaults: Mapping[str, Any]) -> Node:
    """A Node from one LOCATION URL; ``defaults`` carries OPTIONS-level values."""
    if not isinstance(url, str) or not url.strip():
        raise ImproperlyConfigured(f"LOCATION entry {url!r} is not a Redis URL")
    url = url.strip()
    parts = urlsplit(url)
    shown = redacted(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ImproperlyConfigured(
            f"LOCATION {shown!r} must start with redis://, rediss:// or unix:// "
            f"(got scheme {parts.scheme!r})"
        )
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    for key in query:
        if key not in URL_QUERY_KEYS:
            raise _unknown(f"query parameter in LOCATION {shown!r}:", key, URL_QUERY_KEYS)

    values = dict(defaults)
    values.update({key: value for key, value in query.items() if key != "db"})
    username = unquote(parts.username) if parts.username else defaults.get("username")
    password = unquote(parts.password) if parts.password is not None else defaults.get("password")

    db_text = query.get("db")
    path = parts.path
    if scheme == "unix":
        if not path:
            raise ImproperlyConfigured(f"LOCATION {shown!r} names no socket path")
    elif path and path != "/" and db_text is None:
        db_text = path.lstrip("/")
    db = 0
    if db_text not in (None, ""):
        try:
            db = int(str(db_text))
        except ValueError:
            raise ImproperlyConfigured(
                f"LOCATION {shown!r}: the database must be a number, not {db_text!r}"
            ) from None
        if db < 0:
            raise ImproperlyConfigured(f"LOCATION {shown!r}: the database must not be negative")

    node_kwargs: dict[str, Any] = {
        "db": db,
        "username": username or None,
        "password": password,
        "socket_timeout": _timeout("SOCKET_TIMEOUT", values.get("socket_timeout")),
        "connect_timeout": _timeout("SOCKET_CONNECT_TIMEOUT", values.get("socket_connect_timeout")),
        "keepalive": bool(values.get("socket_keepalive", True)),
        "client_name": values.get("client_name"),
        "breaker_threshold": values.get("breaker_threshold", DEFAULT_BREAKER_THRESHOLD),
        "protocol": _protocol(values.get("protocol", 2)),
        "breaker_cooldown": values.get("breaker_cooldown", DEFAULT_BREAKER_COOLDOWN),
    }
    if scheme == "unix":
        node_kwargs["unix_path"] = path
    else:
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"LOCATION {shown!r} has an invalid port") from None
        # No host ("redis://", "redis://:pw@/2"): localhost, as redis-py and
        # the seed's own README read it.
        node_kwargs["host"] = parts.hostname or "localhost"
        node_kwargs["port"] = port or 6379
        if scheme in ("rediss", "valkeys"):
            node_kwargs["tls"] = TLSOptions(**_tls_options(values, f"LOCATION {shown!r}"))
    return Node(**node_kwargs)


def split_location(location: Any) -> list[str]:
    """LOCATION as a list of URLs: a list, or a comma/semicolon-separated string."""
    if isinstance(location, str):
        urls = [part for part in location.replace(";", ",").split(",") if part.strip()]
    elif isinstance(location, (list, tuple)):
        urls = list(location)
    else:
        raise ImproperlyConfigured(
            f"LOCATION must be a URL or a list of URLs, not {type(location).__name__}"
        )
    if not urls:
        raise ImproperlyConfigured("LOCATION is empty: give at least one redis:// URL")
    return urls
