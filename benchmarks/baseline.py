"""``--baseline REF``: our backend as it was at REF, measured in the same run.

REF (a branch, tag or commit) is checked out, detached, in a git worktree at
``.cache/baseline-<sha>`` (made once, reused while it stays at that commit).
The "ours-baseline" contender's worker gets that worktree's ``src`` first on
PYTHONPATH, ahead of the editable install's path, and the compiled core
turned off: it runs REF's pure-Python path, beside today's ("ours-pure"). The
worker reports the file it imported ``django_async_redis`` from, and the
runner refuses a baseline that did not come from the worktree.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from benchmarks.backends import BASELINE_BACKEND, Backend

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"


def _git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def worktree(ref: str) -> tuple[str, Path]:
    """(the commit REF names, a worktree checked out at it)."""
    sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    path = CACHE / f"baseline-{sha[:12]}"
    if path.exists():
        try:
            if _git("rev-parse", "HEAD", cwd=path) == sha:
                return sha, path
        except RuntimeError:
            pass
        raise RuntimeError(f"{path} exists but is not a worktree at {sha[:12]}: remove it")
    CACHE.mkdir(exist_ok=True)
    _git("worktree", "prune")  # a worktree whose directory was deleted by hand
    _git("worktree", "add", "--detach", str(path), sha)
    return sha, path


def backend(ref: str) -> Backend:
    """The "ours-baseline" contender for REF, its PYTHONPATH set."""
    sha, path = worktree(ref)
    src = path / "src"
    if not (src / "django_async_redis" / "__init__.py").exists():
        raise RuntimeError(f"{ref} ({sha[:12]}) has no src/django_async_redis")
    named = sha[:7] if sha.startswith(ref) else f"{ref} ({sha[:7]})"
    return replace(
        BASELINE_BACKEND,
        label=f"django-async-redis at {named}, pure-Python path",
        env={**BASELINE_BACKEND.env, "PYTHONPATH": str(src)},
    )
