"""The test matrix and the project's checks, as nox sessions.

    nox -l                                        # every session
    nox -s tests-py3.11-django5.2-redis -- -k churn
    nox -s lint types docs package demo

`scripts/test` is the one command that runs all of it, as CI does: it sets up
the machine (Debian packages, the Pythons, nox itself), installs every
session's venv one after another, then runs the sessions two at a time with a
hang timeout, and ends with the `N passed, M failed` line. Run nox directly
for one session at a time.

Each test session is one leg of the matrix: a Python, a Django version and a
server kind. TEST_SERVER tells the pytest harness (tests/servers.py) which
server binary to start on a free port; REDIS_URL is removed from the leg's
environment so the leg really runs against the server its name says.

Venvs live under `.nox/`. They are made with uv when it is installed beside
nox (scripts/test installs it: a venv is ready in about 3 s instead of 15),
else with the standard library's venv; TEST_VENV_BACKEND=venv forces the
latter. A venv is reinstalled only when what it was installed from changes
(pyproject.toml, the requirements, the interpreter): see `install_once`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Leg:
    python: str  # "3.11"
    django: str  # "4.2"
    server: str  # "redis" or "valkey"
    # Whether this leg runs the multi-server topology tests (Sentinel, Cluster,
    # shards; pytest marker "topology"): they start up to ten servers each, so
    # two legs, one per server kind, carry them and the others skip the cost.
    topologies: bool = False

    @property
    def name(self) -> str:
        return f"py{self.python}-django{self.django}-{self.server}"

    @property
    def session(self) -> str:
        return f"tests-{self.name}"

    @property
    def django_spec(self) -> str:
        return f"Django~={self.django}.0"


# Why this layout:
# - Every Django version runs against Redis (Debian's, the server most users
#   have); 5.2 (the LTS most sites run) and 6.1 (the newest) also against
#   Valkey 8, which is where protocol differences would first show.
# - Django 4.2/5.2 on 3.11 (the machine's python3, always present); 6.0/6.1
#   need >= 3.12; 3.13 gets the newest Django where pyenv has it; 3.10, the
#   oldest Python we support, runs with 4.2 (the oldest Django) where present.
# - Eight legs, two at a time on two cores.
# The order is the run order, two at a time: legs of one Django version are
# kept apart, so the two running together mostly differ in Django and server.
MATRIX = [
    Leg("3.11", "4.2", "redis"),
    Leg("3.11", "5.2", "redis", topologies=True),
    Leg("3.12", "6.0", "redis"),
    Leg("3.12", "6.1", "redis"),
    Leg("3.11", "5.2", "valkey"),
    Leg("3.12", "6.1", "valkey", topologies=True),
    Leg("3.13", "6.1", "redis"),
    Leg("3.10", "4.2", "redis"),
]

# The machine's own python3: its legs must run, whatever else is missing; the
# checks (lint, types, docs, package, demo) run on it too.
DEFAULT_PYTHON = "3.11"
# mypy checks against this Django's stubs and sources.
TYPES_DJANGO = "5.2"
# The sessions that are not legs of the matrix, in the order scripts/test runs them.
CHECKS = ["lint", "types", "package", "docs", "demo"]

# Bump to force every venv to be reinstalled when the way we install changes.
INSTALL_RECIPE_VERSION = "2"
STAMP_NAME = ".django-async-redis-requirements"
# What ruff checks (scripts/test and scripts/demo are Python without the .py).
LINTED = ["src", "tests", "noxfile.py", "examples/demo", "scripts/test", "scripts/demo"]
# What the package check needs beside the project.
PACKAGE_TOOLS = ["build>=1.2", "twine>=5"]
# The wheel is the library only: these never belong in it.
WHEEL_FORBIDDEN = ("tests/", "examples/", "benchmarks/", "docs/", "scripts/")


def interpreter(version: str) -> str:
    """The Python for `version`: the path scripts/test found, else nox's own search.

    scripts/test sets TEST_PYTHON_3_12=/path/to/python3.12 and so on: pyenv's
    shims answer only for the selected version, so nox's search on PATH alone
    would miss the others.
    """
    return os.environ.get(f"TEST_PYTHON_{version.replace('.', '_')}") or version


def venv_backend() -> str:
    wanted = os.environ.get("TEST_VENV_BACKEND")
    if wanted:
        return wanted
    has_uv = importlib.util.find_spec("uv") is not None or shutil.which("uv")
    return "uv" if has_uv else "venv"


try:
    import nox
except ImportError:  # scripts/test reads MATRIX and CHECKS before nox is installed
    nox = None  # type: ignore[assignment,unused-ignore]


if nox is not None:
    nox.options.sessions = [*CHECKS, *(leg.session for leg in MATRIX)]
    # Reuse venvs; install_once decides whether they need installing again.
    nox.options.reuse_venv = "yes"
    # Only Pythons on the machine: standalone builds cannot be downloaded here.
    nox.options.download_python = "never"
    BACKEND = venv_backend()
    # uv's venvs have no pip unless seeded, and a few tests call `python -m pip`.
    VENV_PARAMS = ["--seed"] if BACKEND == "uv" else []

    def install_once(session: nox.Session, *requirements: str) -> None:
        """`session.install(*requirements)`, skipped while nothing it depends on changed."""
        assert session.virtualenv.location is not None
        stamp = Path(session.virtualenv.location) / STAMP_NAME
        digest = hashlib.sha256()
        for part in (
            INSTALL_RECIPE_VERSION,
            BACKEND,
            str(session.python),
            sys.version,
            *requirements,
            (REPO / "pyproject.toml").read_text(),
        ):
            digest.update(part.encode() + b"\0")
        wanted = digest.hexdigest()
        if stamp.is_file() and stamp.read_text() == wanted:
            session.log("requirements unchanged since the last install: reused")
            return
        session.install(*requirements)
        stamp.write_text(wanted)

    def installing_only(session: nox.Session) -> bool:
        """`nox --install-only` (scripts/test's set-up pass): skip the Python-level checks too."""
        return bool(session._runner.global_config.install_only)

    def add_leg(leg: Leg) -> None:
        @nox.session(
            name=leg.session,
            python=interpreter(leg.python),
            venv_backend=BACKEND,
            venv_params=VENV_PARAMS,
            tags=["tests"],
        )
        def tests(session: nox.Session) -> None:
            # Editable, so source edits need no reinstall; Django pinned per leg.
            install_once(session, "-e", ".[all,test]", leg.django_spec)
            env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
            env["TEST_SERVER"] = leg.server
            env["TEST_TOPOLOGIES"] = "1" if leg.topologies else "0"
            # include_outer_env=False: the leg's server column must be the
            # truth, so an inherited REDIS_URL must not reach the tests.
            session.run(
                "python", "-m", "pytest", *session.posargs, env=env, include_outer_env=False
            )

    for leg in MATRIX:
        add_leg(leg)

    @nox.session(python=interpreter(DEFAULT_PYTHON), venv_backend=BACKEND, venv_params=VENV_PARAMS)
    def lint(session: nox.Session) -> None:
        """ruff: the linter and the formatter's check, on the library, the tests and the tooling."""
        install_once(session, "ruff>=0.6")
        session.run("ruff", "check", *LINTED)
        session.run("ruff", "format", "--check", *LINTED)

    @nox.session(python=interpreter(DEFAULT_PYTHON), venv_backend=BACKEND, venv_params=VENV_PARAMS)
    def types(session: nox.Session) -> None:
        """mypy, strict as pyproject.toml configures it, with the project's dependencies."""
        install_once(session, "-e", ".[all,test]", f"Django~={TYPES_DJANGO}.0")
        session.run("mypy")

    @nox.session(python=interpreter(DEFAULT_PYTHON), venv_backend=BACKEND, venv_params=VENV_PARAMS)
    def docs(session: nox.Session) -> None:
        """The docs site, warnings as errors."""
        install_once(session, ".[docs]")
        session.run(
            "mkdocs", "build", "--strict", "--site-dir", ".cache/site",
            env={"NO_MKDOCS_2_WARNING": "1"},  # Material's banner about its future
        )  # fmt: skip

    @nox.session(python=interpreter(DEFAULT_PYTHON), venv_backend=BACKEND, venv_params=VENV_PARAMS)
    def package(session: nox.Session) -> None:
        """sdist + wheel, twine-checked; the wheel inspected, installed in a new venv, imported."""
        install_once(session, *PACKAGE_TOOLS)
        if installing_only(session):
            return
        dist = REPO / ".cache" / "dist"
        shutil.rmtree(dist, ignore_errors=True)
        session.run("python", "-m", "build", "--outdir", str(dist), ".")
        wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            session.error(f"expected one wheel and one sdist in {dist}")
        session.run("python", "-m", "twine", "check", "--strict", str(wheels[0]), str(sdists[0]))
        names = zipfile.ZipFile(wheels[0]).namelist()
        if "django_async_redis/py.typed" not in names:
            session.error("the wheel has no django_async_redis/py.typed")
        stray = [name for name in names if name.startswith(WHEEL_FORBIDDEN)]
        if stray:
            session.error(f"the wheel holds non-library files: {stray[:5]}")
        # A new venv from the standard library, no uv, no cache of ours: as a user's.
        clean = dist / "clean-venv"
        session.run("python", "-m", "venv", str(clean))
        clean_python = str(clean / "bin" / "python")
        session.run(clean_python, "-m", "pip", "install", "-q", str(wheels[0]), external=True)
        # From outside the checkout, so the import can only find the installed wheel.
        probe = (
            "import django_async_redis as m, django_async_redis.cache, "
            "django_async_redis.sessions; print(m.__version__, m.__file__)"
        )
        with session.chdir(dist):
            out = session.run(clean_python, "-c", probe, external=True, silent=True)
        version, location = str(out).split()
        if not location.startswith(str(clean)):
            session.error(f"imported from {location}, not from the clean venv")
        if f"-{version}-" not in wheels[0].name:
            session.error(f"__version__ {version} does not match {wheels[0].name}")
        session.log(f"{wheels[0].name} and {sdists[0].name}: twine check passed; the wheel")
        session.log(f"holds py.typed and no tests; {version} imported from a clean venv")

    @nox.session(python=False)
    def demo(session: nox.Session) -> None:
        """The demo's smoke run, as a new user runs it: it makes .venvs/demo itself."""
        python = os.environ.get(f"TEST_PYTHON_{DEFAULT_PYTHON.replace('.', '_')}", sys.executable)
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        # Its own embedded server, whatever REDIS_URL the caller had.
        session.run(python, "scripts/demo", "--smoke", env=env, include_outer_env=False)
