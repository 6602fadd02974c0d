"""Make sure the benchmark runs inside a virtualenv holding the ``bench`` extra.

Standard library only: this runs under whatever ``python3`` started us.

django-vcache needs Python 3.12 or later, so the venv is made with the first
of ``$BENCH_PYTHON``, a python3.12 / python3.13 found on PATH or under pyenv,
and finally the running interpreter (then django-vcache reports itself as
unavailable). The install is redone only when pyproject.toml changes.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO / ".venvs" / "bench"
STAMP = ".bench-installed"
# Installed beside the bench extra until the extra lists them.
EXTRA_REQUIREMENTS = ("uvloop>=0.19; sys_platform != 'win32'",)
COMPILED_SOURCES = (
    REPO / "src" / "django_async_redis" / "transport" / "connection.py",
    REPO / "src" / "django_async_redis" / "transport" / "_connection_c.pxd",
)


def venv_dir() -> Path:
    return Path(os.environ.get("BENCH_VENV") or DEFAULT_VENV).expanduser()


def _version_of(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def choose_python() -> str:
    """The interpreter for a new venv: the first that runs and is >= 3.12."""
    if os.environ.get("BENCH_PYTHON"):
        return os.environ["BENCH_PYTHON"]
    candidates = [shutil.which(name) for name in ("python3.12", "python3.13")]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for minor in ("12", "13", "14"):
        candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.{minor}*/bin/python3"))
    for python in candidates:
        if python and (_version_of(python) or (0, 0)) >= (3, 12):
            return python
    return sys.executable


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _pyproject_digest() -> str:
    text = (REPO / "pyproject.toml").read_bytes() + repr(EXTRA_REQUIREMENTS).encode()
    return hashlib.sha256(text).hexdigest()


def ensure_venv() -> Path:
    """Create/refresh the venv if needed; return its python."""
    venv = venv_dir()
    python = _venv_python(venv)
    if not python.exists():
        base = choose_python()
        print(f"[bench] creating virtualenv {venv} with {base}", file=sys.stderr, flush=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=False)
    stamp = venv / STAMP
    digest = _pyproject_digest()
    if not stamp.exists() or stamp.read_text().strip() != digest:
        print(f"[bench] installing {REPO}[bench] into {venv}", file=sys.stderr, flush=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-e", f"{REPO}[bench]"], check=False
        )
        if done.returncode != 0:
            # One peer that fails to install must not take the others down: the
            # project alone, then each requirement of the extra on its own.
            print(
                "[bench] installing the bench extra failed; trying its parts",
                file=sys.stderr,
                flush=True,
            )
            subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(REPO)])
            for requirement in [*bench_requirements(), *EXTRA_REQUIREMENTS]:
                subprocess.run([str(python), "-m", "pip", "install", "-q", requirement])
        else:
            extra = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *EXTRA_REQUIREMENTS], check=False
            )
            if extra.returncode == 0:
                stamp.write_text(digest)
    return python


def bench_requirements() -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10: nothing to split the extra with
        return []
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return list(data.get("project", {}).get("optional-dependencies", {}).get("bench", []))


def in_venv(venv: Path) -> bool:
    try:
        return Path(sys.prefix).resolve() == venv.resolve()
    except OSError:
        return False


def reexec_in_venv(argv: list[str], module: str = "benchmarks") -> None:
    """Replace this process with ``python -m MODULE ARGV`` from the bench venv
    (the peers live there); returns only when already in it."""
    venv = venv_dir()
    if in_venv(venv):
        return
    python = ensure_venv()
    os.chdir(REPO)
    os.execv(str(python), [str(python), "-m", module, *argv])


def build_compiled_core() -> None:
    """Rebuild the in-place compiled core when its sources are newer than it
    (or it is missing): a stale build would make "ours" run old code. Runs
    ``setup.py build_ext --inplace`` with the running interpreter (the venv's),
    which falls back to no extension rather than failing."""
    import sysconfig

    if not (REPO / "setup.py").exists():
        return
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    built = REPO / "src" / "django_async_redis" / "transport" / f"_connection_c{suffix}"
    sources = [p for p in COMPILED_SOURCES if p.exists()]
    if not sources:
        return
    newest = max(p.stat().st_mtime for p in sources)
    if built.exists() and built.stat().st_mtime >= newest:
        return
    why = "missing" if not built.exists() else "older than its sources"
    print(f"[bench] the compiled core is {why}: setup.py build_ext --inplace", file=sys.stderr,
          flush=True)  # fmt: skip
    done = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not built.exists():
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])[:300]
        print(f"[bench] no compiled core ({tail}): ours runs the pure path", file=sys.stderr)
