"""``manage.py redis_cache``: look at and clean the Redis caches of this project.

    manage.py redis_cache ping                   latency of every node of every alias
    manage.py redis_cache info                   server, memory, clients, hit ratio
    manage.py redis_cache keys 'user:*'          how many keys match (in the cache's key space)
    manage.py redis_cache delete 'user:*'        delete them (asks first; --dry-run, --yes)
    manage.py redis_cache stats                  keys and memory by prefix, sampled

Every subcommand takes ``--alias`` (repeatable; default: every alias that is a
django_async_redis cache) and ``--json``. Patterns are in the cache's key space
(KEY_PREFIX and VERSION applied, as ``cache.keys()`` does) unless ``--raw``.
The command talks through the cache's own client (see ``management.inspect``).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...cache import RedisCache
from .. import inspect

SUBCOMMANDS = ("ping", "info", "keys", "delete", "stats")


class Command(BaseCommand):
    help = "Inspect and clean django-async-redis caches: ping, info, keys, delete, stats."

    def add_arguments(self, parser: CommandParser) -> None:
        common = CommandParser(add_help=False)
        common.add_argument(
            "--alias",
            action="append",
            dest="aliases",
            metavar="ALIAS",
            help="a CACHES alias (repeatable); default: every django_async_redis alias",
        )
        common.add_argument("--json", action="store_true", help="print one JSON document")
        pattern = CommandParser(add_help=False)
        pattern.add_argument("--raw", action="store_true", help="PATTERN is a raw Redis glob")
        pattern.add_argument("--version", type=int, dest="key_version", help="the key version")
        pattern.add_argument(
            "--progress",
            action="store_true",
            default=None,
            help="show scan progress on stderr (default: when stderr is a terminal)",
        )
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        ping = actions.add_parser("ping", parents=[common], help="PING every node")
        ping.add_argument("--samples", type=int, default=3, help="round trips per node")
        actions.add_parser("info", parents=[common], help="server, memory, clients, hit ratio")
        keys = actions.add_parser("keys", parents=[common, pattern], help="count matching keys")
        keys.add_argument("pattern", metavar="PATTERN")
        keys.add_argument("--list", type=int, default=0, metavar="N", help="print N of them")
        delete = actions.add_parser("delete", parents=[common, pattern], help="delete keys")
        delete.add_argument("pattern", metavar="PATTERN")
        delete.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        delete.add_argument(
            "--yes",
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="do not ask for confirmation",
        )
        stats = actions.add_parser("stats", parents=[common, pattern], help="usage by prefix")
        stats.add_argument("pattern", metavar="PATTERN", nargs="?", default="*")
        stats.add_argument(
            "--sample", type=int, default=50, help="keys measured per prefix (default 50)"
        )
        stats.add_argument("--depth", type=int, help="prefix parts to group by (default: auto)")

    def handle(self, *args: Any, **options: Any) -> None:
        self.as_json = bool(options["json"])
        aliases = self._aliases(options.get("aliases"))
        result = getattr(self, f"_{options['action']}")(aliases, options)
        if self.as_json:
            self.stdout.write(json.dumps(result, indent=2, default=str))

    # which caches -----------------------------------------------------------------

    def _aliases(self, requested: list[str] | None) -> list[tuple[str, RedisCache]]:
        if not requested:
            chosen = inspect.redis_caches()
            if not chosen:
                raise CommandError("No django_async_redis cache in CACHES")
            return chosen
        chosen = []
        for alias in requested:
            if alias not in settings.CACHES:
                raise CommandError(
                    f"No cache alias {alias!r} in CACHES ({', '.join(settings.CACHES)})"
                )
            cache = caches[alias]
            if not isinstance(cache, RedisCache):
                raise CommandError(
                    f"CACHES[{alias!r}] is a {type(cache).__module__}.{type(cache).__name__}, "
                    "not a django_async_redis cache"
                )
            chosen.append((alias, cache))
        return chosen

    def _say(self, text: str = "") -> None:
        if not self.as_json:
            self.stdout.write(text)

    # ping ------------------------------------------------------------------------------

    def _ping(self, aliases: list[tuple[str, RedisCache]], options: dict[str, Any]) -> Any:
        samples = options["samples"]
        if samples < 1:
            raise CommandError("--samples must be at least 1")
        rows = []
        for alias, cache in aliases:
            client = cache.client
            targets = _safe_parts(client) + [(n.address, n) for n in inspect.replicas_of(client)]
            for address, node in targets:
                row: dict[str, Any] = {"alias": alias, "node": address}
                try:
                    row["ms"] = round(inspect.ping(client, node, samples), 3)
                    row["node"] = inspect.address_of(client, node)
                except inspect.FAILURES as error:
                    row["error"] = str(error) or type(error).__name__
                rows.append(row)
        width = max(len(row["alias"]) for row in rows)
        for row in rows:
            answer = f"{row['ms']:.3f} ms" if "ms" in row else self.style.ERROR(row["error"])
            self._say(f"{row['alias']:<{width}}  {row['node']:<24} {answer}")
        failed = [row for row in rows if "error" in row]
        if failed and not self.as_json:
            raise CommandError(f"{len(failed)} of {len(rows)} nodes did not answer")
        return {"ping": rows}

    # info ------------------------------------------------------------------------------

    def _info(self, aliases: list[tuple[str, RedisCache]], options: dict[str, Any]) -> Any:
        report = []
        local_caches: dict[str, dict[str, int]] = {}
        for alias, cache in aliases:
            client = cache.client
            for address, node in _safe_parts(client):
                entry: dict[str, Any] = {"alias": alias, "node": address}
                try:
                    entry.update(inspect.info(client, node, client.config.primary.db))
                    entry["node"] = inspect.address_of(client, node)
                except inspect.FAILURES as error:
                    entry["error"] = str(error)
                report.append(entry)
                self._render_info(entry)
            local = cache.stats().get("client_cache")
            if local is not None:
                local_caches[alias] = local
                self._say(
                    f"  client cache  {local['entries']} entries, {_bytes(local['bytes'])} held; "
                    f"{local['hits']} local hits, {local['misses']} misses, "
                    f"{local['invalidations']} invalidations, {local['evictions']} evictions, "
                    f"{local['flushes']} flushes; "
                    f"{local['tracking_connections']} tracking connections (this process)"
                )
        return {"info": report, "client_cache": local_caches}

    def _render_info(self, entry: dict[str, Any]) -> None:
        self._say(self.style.MIGRATE_HEADING(f"{entry['alias']} @ {entry['node']}"))
        if "error" in entry:
            self._say("  " + self.style.ERROR(entry["error"]))
            return
        server, memory = entry["server"], entry["memory"]
        clients, stats = entry["clients"], entry["stats"]
        version = server.get("valkey_version") or server.get("redis_version", "?")
        kind = "valkey" if "valkey_version" in server else "redis"
        ratio = entry["hit_ratio"]
        self._say(
            f"  server   {kind} {version}, {server.get('redis_mode', '?')} mode, "
            f"up {_duration(int(server.get('uptime_in_seconds', 0)))}"
        )
        self._say(
            f"  memory   {memory.get('used_memory_human', '?')} used, max "
            f"{memory.get('maxmemory_human', '?')} ({memory.get('maxmemory_policy', '?')})"
        )
        self._say(
            f"  clients  {clients.get('connected_clients', '?')} connected, "
            f"{clients.get('blocked_clients', '?')} blocked"
        )
        self._say(
            f"  keys     {entry['keys']} in db {entry['db']}, "
            f"{stats.get('expired_keys', '?')} expired, {stats.get('evicted_keys', '?')} evicted"
        )
        if ratio is None:
            self._say("  hits     n/a: no reads since the server started")
        else:
            self._say(
                f"  hits     {ratio:.1%} ({stats.get('keyspace_hits', 0)} hits, "
                f"{stats.get('keyspace_misses', 0)} misses since the server started)"
            )

    # keys / delete ------------------------------------------------------------------------

    def _keys(self, aliases: list[tuple[str, RedisCache]], options: dict[str, Any]) -> Any:
        report = []
        for alias, cache in aliases:
            glob = inspect.cache_glob(
                cache, options["pattern"], options["raw"], options["key_version"]
            )
            found, listed = self._count(alias, cache, glob, options, keep=options["list"])
            report.append(
                {"alias": alias, "pattern": glob.decode(), "nodes": found, "keys": listed}
            )
            total = sum(found.values())
            self._say(f"{alias}: {total} keys match {glob.decode()!r}" + _per_node(found))
            for key in listed:
                self._say(f"  {key}")
        return {"keys": report}

    def _count(
        self,
        alias: str,
        cache: RedisCache,
        glob: bytes,
        options: dict[str, Any],
        keep: int = 0,
    ) -> tuple[dict[str, int], list[str]]:
        client = cache.client
        counts: dict[str, int] = {}
        kept: list[str] = []
        show = self._show_progress(options)
        for address, node in inspect.part_nodes(client):
            progress = inspect.ScanProgress(address, size=inspect.dbsize(client, node))
            for page in inspect.scan(client, node, glob, progress=progress):
                kept += [key.decode(errors="replace") for key in page[: keep - len(kept)]]
                if show:
                    self._progress(alias, progress)
            counts[inspect.address_of(client, node)] = progress.matched
        if show:
            sys.stderr.write("\r\033[K")
        return counts, kept

    def _delete(self, aliases: list[tuple[str, RedisCache]], options: dict[str, Any]) -> Any:
        report = []
        for alias, cache in aliases:
            glob = inspect.cache_glob(
                cache, options["pattern"], options["raw"], options["key_version"]
            )
            found, _ = self._count(alias, cache, glob, options)
            total = sum(found.values())
            entry: dict[str, Any] = {"alias": alias, "pattern": glob.decode(), "matched": total}
            report.append(entry)
            if options["dry_run"] or not total:
                entry["deleted"] = 0
                verb = "would delete" if options["dry_run"] else "nothing to delete:"
                self._say(
                    f"{alias}: {verb} {total} keys matching {glob.decode()!r}" + _per_node(found)
                )
                continue
            if options["interactive"]:
                answer = input(
                    f"Delete {total} keys matching {glob.decode()!r} from {alias!r}? [y/N] "
                )
                if answer.strip().lower() not in ("y", "yes"):
                    raise CommandError("Cancelled: nothing deleted")
            client = cache.client
            deleted = 0
            for _address, node in inspect.part_nodes(client):
                for page in inspect.scan(client, node, glob):
                    deleted += inspect.unlink(client, node, page)
            entry["deleted"] = deleted
            self._say(f"{alias}: deleted {deleted} keys matching {glob.decode()!r}")
        return {"delete": report}

    # stats ------------------------------------------------------------------------------------

    def _stats(self, aliases: list[tuple[str, RedisCache]], options: dict[str, Any]) -> Any:
        if options["sample"] < 1:
            raise CommandError("--sample must be at least 1")
        report = []
        show = self._show_progress(options)
        for alias, cache in aliases:
            glob = inspect.cache_glob(
                cache, options["pattern"], options["raw"], options["key_version"]
            )
            namespace = "" if options["raw"] else f"{cache.key_prefix}:{cache.version}:"
            found = inspect.stats(
                cache.client,
                glob,
                options["sample"],
                options["depth"],
                namespace,
                progress=functools.partial(self._progress, alias) if show else None,
            )
            if show:
                sys.stderr.write("\r\033[K")
            report.append({"alias": alias, "pattern": glob.decode(), **found})
            how = "exact" if found["exact"] else f"memory from {options['sample']} keys a prefix"
            self._say(
                self.style.MIGRATE_HEADING(
                    f"{alias}: {found['keys']} keys, {_bytes(found['bytes'])} "
                    f"matching {glob.decode()!r} ({how})"
                )
            )
            width = max([len(row["prefix"]) for row in found["prefixes"]] + [6])
            self._say(f"  {'prefix':<{width}}  {'keys':>10}  {'memory':>10}")
            for row in found["prefixes"]:
                self._say(
                    f"  {row['prefix']:<{width}}  {row['keys']:>10}  {_bytes(row['bytes']):>10}"
                )
        return {"stats": report}

    # progress ------------------------------------------------------------------------------------

    def _show_progress(self, options: dict[str, Any]) -> bool:
        if self.as_json:
            return False
        if options.get("progress") is not None:
            return bool(options["progress"])
        return sys.stderr.isatty()

    _last_progress = 0.0

    def _progress(self, alias: str, progress: inspect.ScanProgress) -> None:
        now = time.monotonic()
        if now - self._last_progress < 0.1:  # at most ten updates a second
            return
        self._last_progress = now
        share = f" ~{progress.fraction:.0%}" if progress.fraction is not None else ""
        sys.stderr.write(
            f"\r\033[K{alias} {progress.address}: scanning{share}, {progress.matched} matched"
        )
        sys.stderr.flush()


def _safe_parts(client: Any) -> list[tuple[str, Any]]:
    """The parts of the key space; a cluster that cannot load its slot map is one failed row."""
    try:
        return inspect.part_nodes(client)
    except inspect.FAILURES:
        return [(", ".join(node.address for node in client.config.nodes), None)]


def _per_node(counts: dict[str, int]) -> str:
    if len(counts) < 2:
        return ""
    return " (" + ", ".join(f"{node}: {count}" for node, count in counts.items()) + ")"


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m"


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"
