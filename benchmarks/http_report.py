"""The HTTP load test's table and targets (the run is ``http_load.py``).

Every figure is the median over the rounds; req/s also shows its spread
[min-max]. "ours is" is the median [min-max] of ours' req/s divided by the
peer's, each ratio taken within one round (the two ran minutes apart at most),
so the machine's drift between rounds cancels out. "Redis conns" is the most
connections to Redis one process of the server held at any sample, over every
round.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks import figures
from benchmarks.figures import DASH
from benchmarks.figures import span as _span
from benchmarks.http_plan import ASYNC_VIEWS, PEERS
from benchmarks.targets import status, verdict_line

TARGET_E2E = (
    "End to end, uvicorn and granian, 100 and 300 connections: ahead of every peer in "
    "requests per second, on asyncio and uvloop, with <= 4 Redis connections per worker process"
)
TARGET_WSGI = "Under gunicorn (sync and gthread workers): ahead of every peer"
MOST_CONNECTIONS = 4


def _index(data: dict) -> dict[tuple, list[dict]]:
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for cell in data["cells"]:
        key = (cell["config"], cell["connections"], cell["view"], cell["contender"])
        cells[key].append(cell)
    return cells


def _good(cells: list[dict]) -> list[dict]:
    return [c for c in cells if "req_per_s" in c and not c.get("failed")]


def _why_not(cells: list[dict]) -> str:
    for c in cells:
        if "unavailable" in c:
            return "unavailable: " + c["unavailable"]
        if c.get("failed"):
            return "failed: " + c["failed"]
    return "not run"


def ratio(data: dict, key: tuple, peer: str) -> dict | None:
    """Ours' req/s over ``peer``'s, round by round: median, min, max, n."""
    cells = _index(data)
    config, conns, view, _ = key
    ours = {c["round"]: c["req_per_s"] for c in _good(cells[(config, conns, view, "ours")])}
    theirs = {c["round"]: c["req_per_s"] for c in _good(cells[(config, conns, view, peer)])}
    return figures.paired(ours, theirs, higher_is_better=True)


def rows(data: dict) -> list[dict[str, Any]]:
    found = []
    cells = _index(data)
    for (config, conns, view, name), group in cells.items():
        good = _good(group)
        server, _, loop = config.partition("/")
        row: dict[str, Any] = {
            "server": server, "loop": loop or "-", "connections": conns, "view": view,
            "contender": name, "label": data["contenders"][name]["label"],
        }  # fmt: skip
        row["max_conns"] = max((c.get("redis_conns_per_process", 0) for c in group), default=0)
        if not good:
            row["missing"] = _why_not(group)
        else:
            rps = [c["req_per_s"] for c in good]
            row.update(
                rps=statistics.median(rps),
                rps_min=min(rps),
                rps_max=max(rps),
                p50=statistics.median(c["p50_ms"] for c in good if c.get("p50_ms") is not None),
                p99=statistics.median(c["p99_ms"] for c in good),
                rounds=len(good),
            )
        if name != "ours":
            row["ratio"] = ratio(data, (config, conns, view, name), name)
        found.append(row)
    return found


def table(data: dict) -> str:
    meta = data["meta"]
    v = meta["versions"]
    head = [
        f"HTTP load test: {meta['date']}, {meta['cpus']} CPUs, Python {meta['python']}, "
        f"{meta['server']} on loopback, {meta['plan']['rounds']} round(s) of wrk "
        f"-d{meta['plan']['seconds']}s per cell; load average "
        f"{meta['load_average_at_start']:.2f} before, {meta.get('load_average_at_end', 0):.2f} "
        f"after; took {meta.get('seconds', 0):.0f} s",
        "versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        "",
        "| server | loop | conns | view | contender | req/s | [min-max] | p50 ms | p99 ms "
        "| Redis conns/process | ours is (req/s) |",
        "| --- | --- | ---: | --- | --- | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    lines = []
    for r in rows(data):
        ratio_text = (
            "—" if r["contender"] == "ours" else (_span(r["ratio"]) if r.get("ratio") else "n/a")
        )
        cells = [r["server"], r["loop"], str(r["connections"]), r["view"], r["label"]]
        if "missing" in r:
            cells += [f"n/a: {r['missing'][:120]}", "", "", "", str(r["max_conns"]), ratio_text]
        else:
            cells += [
                f"{r['rps']:,.0f}",
                f"{r['rps_min']:,.0f}{DASH}{r['rps_max']:,.0f}",
                f"{r['p50']:.1f}",
                f"{r['p99']:.1f}",
                str(r["max_conns"]),
                ratio_text,
            ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(head + lines)


def summary(data: dict) -> str:
    """One line per (server, loop, connections, view): ours' req/s and Redis
    connections, and the median ratio to each peer (the floor last)."""
    names = [n for n in (*PEERS, "locmem") if n in data["contenders"]]
    head = [
        "| server | loop | conns | view | ours req/s | ours Redis conns | "
        + " | ".join(f"vs {data['contenders'][n]['label'].split(' (')[0]}" for n in names)
        + " |",
        "| --- | --- | ---: | --- | ---: | ---: | " + " | ".join("---:" for _ in names) + " |",
    ]
    lines = []
    for r in rows(data):
        if r["contender"] != "ours":
            continue
        key = (f"{r['server']}/{r['loop']}" if r["loop"] != "-" else r["server"],
               r["connections"], r["view"])  # fmt: skip
        ours = "n/a" if "missing" in r else f"{r['rps']:,.0f}"
        ratios = []
        for name in names:
            found = ratio(data, (*key, name), name)
            ratios.append(f"{found['median']:.2f}x" if found else "n/a")
        cells = [r["server"], r["loop"], str(r["connections"]), r["view"], ours,
                 str(r["max_conns"]), *ratios]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(head + lines)


def _judge(data: dict, configs: list[str], conns: tuple[int, ...] | None, views: tuple[str, ...],
           limit_conns: bool) -> tuple[bool | None, str]:  # fmt: skip
    """Ours ahead of every peer measured (median ratio > 1) in every cell of
    ``configs`` x ``conns`` x ``views``; with ``limit_conns``, ours never held
    more than 4 Redis connections in one process."""
    cells = _index(data)
    ok: bool | None = True
    parts: list[str] = []
    for config in configs:
        for (cfg, c, view, name), group in sorted(cells.items()):
            if cfg != config or name != "ours" or view not in views or (conns and c not in conns):
                continue
            where = f"{config} c{c} {view}"
            good = _good(group)
            if not good:
                ok = False
                parts.append(f"{where}: ours {_why_not(group)[:80]}")
                continue
            worst: tuple[str, dict] | None = None
            absent = []  # peers with no figure here: failed, unavailable
            for peer in PEERS:
                r = ratio(data, (cfg, c, view, peer), peer)
                if r is None:
                    if (peer_cells := cells.get((cfg, c, view, peer))) is not None:
                        absent.append(f"{peer} {_why_not(peer_cells).split(':')[0]}")
                elif worst is None or r["median"] < worst[1]["median"]:
                    worst = (peer, r)
            held = max(x.get("redis_conns_per_process", 0) for x in group)
            if worst is None:
                parts.append(f"{where}: no peer measured")
                continue
            ahead = worst[1]["median"] > 1.0
            fits = held <= MOST_CONNECTIONS or not limit_conns
            ok = ok and ahead and fits
            mark = "" if ahead and fits else " <-"
            extra = f", {held} conns" if limit_conns else ""
            if absent:
                extra += f" ({', '.join(absent)})"
            parts.append(f"{where}: worst {worst[0]} {_span(worst[1])}{extra}{mark}")
    if not parts:
        return None, "not run"
    return ok, "; ".join(parts)


def targets(data: dict) -> list[dict]:
    configs = data["meta"]["configs"]
    asgi = [c for c in configs if c.split("/")[0] in ("uvicorn", "granian")]
    wsgi = [c for c in configs if c.startswith("gunicorn")]
    found = []
    for text, chosen, conns, views, limit in (
        (TARGET_E2E, asgi, (100, 300), ASYNC_VIEWS, True),
        (TARGET_WSGI, wsgi, None, ("page-sync",), False),
    ):
        ok, detail = _judge(data, chosen, conns, views, limit)
        found.append({"target": text, "status": status(ok), "detail": detail})
    return found


def targets_text(found: list[dict]) -> str:
    return "\n".join(verdict_line(t["status"], f"{t['target']}: {t['detail']}") for t in found)


def main(argv: list[str]) -> int:
    """``python -m benchmarks.http_report [JSON]``: the report of a saved run again."""
    import json

    from benchmarks.http_load import JSON_PATH

    data = json.loads(Path(argv[0] if argv else JSON_PATH).read_text())
    print(table(data))
    print()
    print(summary(data))
    print()
    print(targets_text(targets(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
