"""HTTP load: ``wrk --latency`` when installed, else a small asyncio generator.

The Python generator (``python -m benchmarks.loadgen URL CONNECTIONS SECONDS``)
keeps CONNECTIONS keep-alive connections busy for SECONDS and prints JSON with
req/s and p99. It is slower than wrk and shares the CPU with the server, so its
req/s are a floor; the docs say which one a run used.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from urllib.parse import urlsplit

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if not (rps and p99):
        raise RuntimeError(f"could not read wrk output: {output[-400:]!r}")
    return {
        "req_per_s": float(rps.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "p50_ms": _ms(p50.group(1)) if p50 else None,
        "requests": int(total.group(1)) if total else None,
        "errors": (int(non2xx.group(1)) if non2xx else 0)
        + (sum(int(x) for x in sock.groups()) if sock else 0),
    }


def run(url: str, connections: int, seconds: float) -> dict:
    wrk = shutil.which("wrk")
    if wrk:
        cmd = [wrk, "-t1", f"-c{connections}", f"-d{max(int(seconds), 1)}s", "--latency", url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        result = parse_wrk(out.stdout)
        result["tool"] = "wrk"
        return result
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.loadgen", url, str(connections), str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"load generator failed: {out.stderr.strip()[-300:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["tool"] = "python"
    return result


async def _generate(url: str, connections: int, seconds: float) -> dict:
    parts = urlsplit(url)
    request = (f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.hostname}\r\n\r\n").encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                found = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if found is None:
                    raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
                length = int(found.group(1))
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if not head.startswith(b"HTTP/1.1 2"):
                    errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "req_per_s": len(latencies) / elapsed,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3 if latencies else None,
        "p50_ms": latencies[len(latencies) // 2] * 1e3 if latencies else None,
        "requests": len(latencies),
        "errors": errors,
    }


if __name__ == "__main__":
    _url, _conns, _secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(asyncio.run(_generate(_url, _conns, _secs))))
