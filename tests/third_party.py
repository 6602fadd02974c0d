"""Helpers for the tests of third-party apps with our backend (tests/test_app_*.py).

Some of what those tests prove needs a Django process of its own: the system
check framework as ``manage.py check`` runs it (``SILENCED_SYSTEM_CHECKS`` is
applied there, not by ``run_checks``), and an app's own test suite run by
Django's test runner with the app's settings. Each child is a plain
``python -m django <command>`` with this checkout's ``src`` and the repository
root on its path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BACKEND = "django_async_redis.cache.RedisCache"
# A hung child (a cache call that never returns) fails the test instead of the
# run; a healthy child takes seconds.
CHILD_TIMEOUT = 600


def installed(distribution: str) -> str:
    """The installed version of ``distribution``, for the report lines of a test."""
    return version(distribution)


def run_django(
    settings_module: str,
    *argv: str,
    path: Sequence[Path] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m django <argv>`` in a child process with ``settings_module``."""
    child_env = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join(str(p) for p in [*path, REPO, REPO / "src"]),
        "DJANGO_SETTINGS_MODULE": settings_module,
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *argv],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=CHILD_TIMEOUT,
        cwd=REPO,
    )


def manage_check(tmp_path: Path, settings_body: str) -> subprocess.CompletedProcess[str]:
    """``manage.py check --fail-level WARNING`` on a settings module written from ``settings_body``.

    With ``--fail-level WARNING`` a warning that is not silenced fails the
    command (exit 1) and a silenced one does not (exit 0), so the exit code
    says whether ``SILENCED_SYSTEM_CHECKS`` took.
    """
    (tmp_path / "app_check_settings.py").write_text(textwrap.dedent(settings_body))
    return run_django("app_check_settings", "check", "--fail-level", "WARNING", path=[tmp_path])


@dataclass
class SuiteResult:
    """What Django's test runner printed at the end of a run."""

    ran: int
    failures: int
    errors: int
    skipped: int
    ok: bool


_RAN = re.compile(r"^Ran (\d+) tests? in ", re.MULTILINE)
_VERDICT = re.compile(r"^(OK|FAILED)(?: \((.*)\))?$", re.MULTILINE)


def suite_result(output: str) -> SuiteResult:
    """Parse unittest's closing lines (``Ran N tests``, ``OK (skipped=2)``)."""
    ran = _RAN.search(output)
    verdict = _VERDICT.search(output)
    if ran is None or verdict is None:
        raise AssertionError(f"no test runner summary in the output:\n{output[-4000:]}")
    counts = dict.fromkeys(("failures", "errors", "skipped"), 0)
    for part in (verdict.group(2) or "").split(","):
        name, _, number = part.strip().partition("=")
        if name in counts:
            counts[name] = int(number)
    return SuiteResult(
        ran=int(ran.group(1)),
        failures=counts["failures"],
        errors=counts["errors"],
        skipped=counts["skipped"],
        ok=verdict.group(1) == "OK",
    )
