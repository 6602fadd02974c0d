"""One server's own pages: INFO by section, SLOWLOG and latency, secrets redacted.

Everything comes from one round trip to the pinned node (INFO, SLOWLOG GET,
SLOWLOG LEN, LATENCY LATEST, CONFIG GET latency-monitor-threshold; errors as
values, since ACLs or renamed commands may refuse some) and the same PING
``manage.py redis_cache ping`` measures. Nothing shown can carry a secret:
credentials in URLs, fields named like a password, and the arguments of the
commands that take one (AUTH, HELLO ... AUTH, MIGRATE ... AUTH/AUTH2, CONFIG SET
of a password, ACL SETUSER) are replaced by ``***``.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from ..client.base import BaseClient
from ..management import inspect
from .nodes import Target

SLOWLOG_ENTRIES = 25
HIDDEN = "***"
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/@\s:]*):([^/@\s]*)@")
_PASSWORD_PARAMETER = re.compile(r"(?i)\b(password|pass|passwd|auth)=([^&\s]*)")
_SECRET_NAMES = re.compile(r"(?i)pass|auth|secret|token")


def redact(text: str) -> str:
    """``text`` with URL credentials and ``password=`` parameters hidden."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m[1]}{m[2]}:{HIDDEN}@", text)
    return _PASSWORD_PARAMETER.sub(lambda m: f"{m[1]}={HIDDEN}", text)


def redact_command(args: list[str]) -> list[str]:
    """A logged command's arguments, with any password in them hidden."""
    if not args:
        return args
    name = args[0].upper()
    shown = list(args)
    if name == "AUTH":
        return [args[0], *[HIDDEN] * (len(args) - 1)]
    if name == "ACL" and len(args) > 1 and args[1].upper() == "SETUSER":
        return [*args[:3], *[HIDDEN] * (len(args) - 3)]
    if name == "CONFIG" and len(args) > 3 and args[1].upper() == "SET":
        for index in range(2, len(args) - 1, 2):
            if _SECRET_NAMES.search(args[index]):
                shown[index + 1] = HIDDEN
        return shown
    if name in ("HELLO", "MIGRATE"):
        index = 1
        while index < len(args):
            option = args[index].upper()
            if option == "AUTH":
                # HELLO ... AUTH username password; MIGRATE ... AUTH password
                secret = index + (2 if name == "HELLO" else 1)
            elif option == "AUTH2":  # MIGRATE ... AUTH2 username password
                secret = index + 2
            else:
                index += 1
                continue
            if secret < len(args):
                shown[secret] = HIDDEN
            index = secret + 1
    return [redact(arg) for arg in shown]


def info_sections(text: bytes | str) -> dict[str, list[tuple[str, str]]]:
    """INFO's reply by section (``# Server``...), each a list of (field, value), redacted."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    sections: dict[str, list[tuple[str, str]]] = {}
    current = sections.setdefault("", [])
    for line in text.splitlines():
        if line.startswith("#"):
            current = sections.setdefault(line.lstrip("# ").strip(), [])
        elif ":" in line:
            name, _, value = line.partition(":")
            current.append((name, HIDDEN if _SECRET_NAMES.search(name) else redact(value)))
    if not sections[""]:
        del sections[""]
    return sections


@dataclass
class SlowEntry:
    id: int
    when: datetime.datetime
    micros: int
    command: list[str]
    client: str


@dataclass
class ServerPage:
    target: Target
    sections: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    slowlog: list[SlowEntry] = field(default_factory=list)
    slowlog_length: int | None = None
    latency: list[tuple[str, datetime.datetime, int, int]] = field(default_factory=list)
    latency_threshold: str = ""
    ping_ms: float | None = None
    errors: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    return value.decode(errors="backslashreplace") if isinstance(value, bytes) else str(value)


def _when(seconds: Any) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(int(seconds), tz=datetime.UTC)


def server_page(client: BaseClient, target: Target) -> ServerPage:
    page = ServerPage(target)
    info, slowlog, slowlog_length, latency, threshold = inspect.run(
        client,
        [
            (b"INFO",),
            (b"SLOWLOG", b"GET", SLOWLOG_ENTRIES),
            (b"SLOWLOG", b"LEN"),
            (b"LATENCY", b"LATEST"),
            (b"CONFIG", b"GET", b"latency-monitor-threshold"),
        ],
        target.node,
    )
    for what, reply in (("INFO", info), ("SLOWLOG", slowlog), ("LATENCY", latency)):
        if isinstance(reply, Exception):
            page.errors.append(f"{what}: {reply}")
    if not isinstance(info, Exception):
        page.sections = info_sections(info)
    if not isinstance(slowlog, Exception):
        for entry in slowlog:
            entry_id, when, micros, args, *rest = entry
            page.slowlog.append(
                SlowEntry(
                    id=int(entry_id),
                    when=_when(when),
                    micros=int(micros),
                    command=redact_command([_text(arg) for arg in args]),
                    client=_text(rest[0]) if rest else "",
                )
            )
    if isinstance(slowlog_length, int):
        page.slowlog_length = slowlog_length
    if not isinstance(latency, Exception):
        for event, when, latest, worst, *_ in latency:
            page.latency.append((_text(event), _when(when), int(latest), int(worst)))
    if isinstance(threshold, list) and len(threshold) == 2:
        page.latency_threshold = _text(threshold[1])
    elif isinstance(threshold, dict):  # RESP3 answers a map
        page.latency_threshold = _text(next(iter(threshold.values()), ""))
    try:
        page.ping_ms = round(inspect.ping(client, target.node), 3)
    except inspect.FAILURES as error:
        page.errors.append(f"PING: {error}")
    return page
