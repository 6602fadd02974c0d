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
from collections import Counter
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
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """``python -m django <argv>`` in a child process with ``settings_module``.

    ``path`` goes on the child's ``PYTHONPATH`` before the repository root.
    """
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
        cwd=cwd,
    )


def manage_check(tmp_path: Path, settings_body: str) -> subprocess.CompletedProcess[str]:
    """``manage.py check --fail-level WARNING`` on a settings module written from ``settings_body``.

    With ``--fail-level WARNING`` a warning that is not silenced fails the
    command (exit 1) and a silenced one does not (exit 0), so the exit code
    says whether ``SILENCED_SYSTEM_CHECKS`` took.
    """
    (tmp_path / "app_check_settings.py").write_text(textwrap.dedent(settings_body))
    # No bytecode: a test that rewrites the settings within a second must not
    # get the first version back from __pycache__.
    return run_django(
        "app_check_settings",
        "check",
        "--fail-level",
        "WARNING",
        path=[tmp_path],
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )


def assert_warns_and_silences(
    tmp_path: Path, settings_body: str, check_id: str, message: str
) -> None:
    """``manage.py check`` shows ``check_id`` (with ``message``) for these settings,
    and SILENCED_SYSTEM_CHECKS with ``check_id`` removes it, as the docs say."""
    loud = manage_check(tmp_path, settings_body)
    assert loud.returncode == 1, loud.stderr
    assert check_id in loud.stderr
    assert message in loud.stderr
    quiet = manage_check(tmp_path, settings_body + f"    SILENCED_SYSTEM_CHECKS = [{check_id!r}]\n")
    assert quiet.returncode == 0, quiet.stderr
    assert check_id.split(".")[0] not in quiet.stdout + quiet.stderr
    assert "System check identified no issues (1 silenced)." in quiet.stdout


@dataclass
class SuiteResult:
    """What Django's test runner printed, run with ``-v 2`` (one line per test)."""

    outcomes: Counter[str]  # "ok", "skipped", "FAIL", "ERROR", ...
    ok: bool  # its closing verdict: "OK", possibly with skips

    @property
    def ran(self) -> int:
        return sum(self.outcomes.values())


# "test_x (module.Class.test_x) ... ok" or a docstring's first line, then the outcome.
_OUTCOME = re.compile(
    r" \.\.\. (ok|skipped|FAIL|ERROR|expected failure|unexpected success)\b", re.MULTILINE
)
_VERDICT = re.compile(r"^(OK|FAILED)(?: \(.*\))?$", re.MULTILINE)


def suite_result(output: str) -> SuiteResult:
    """Count the per-test outcome lines and read the closing verdict."""
    verdicts = _VERDICT.findall(output)
    if not verdicts:
        raise AssertionError(f"no test runner verdict in the output:\n{output[-4000:]}")
    outcomes = Counter(match.group(1) for match in _OUTCOME.finditer(output))
    return SuiteResult(outcomes=outcomes, ok=verdicts[-1] == "OK")
