"""The test matrix and the project's checks, as nox sessions.

    nox -l                                        # every session
    nox -s tests-py3.11-django5.2-redis -- -k churn
    nox -s lint types docs package demo

`scripts/test` is the one command that runs all of it, as CI does: it sets up
the machine (Debian packages, the Pythons, nox itself), installs every
session's venv one after another, then runs the sessions three at a time with a
hang timeout, and ends with the `N passed, M failed` line. Run nox directly
for one session at a time.

Each test session is one leg of the matrix: a Python, a Django version, a
server kind, which async core (the compiled one or the pure-Python one) and
which event loop (asyncio's or uvloop). TEST_SERVER tells the pytest harness
(tests/servers.py) which server binary to start on a free port; REDIS_URL is
removed from the leg's environment so the leg really runs against the server
its name says. TEST_CORE and TEST_EVENT_LOOP tell tests/conftest.py and
tests/test_core_mode.py what the leg promises, and the latter fails the leg
when the process runs anything else.

Venvs live under `.nox/`. They are made with uv when it is installed beside
nox (scripts/test installs it: a venv is ready in about 3 s instead of 15),
else with the standard library's venv; TEST_VENV_BACKEND=venv forces the
latter.

What every session installs is pinned: `requirements/<session>.txt` is a lock
made by `nox -s lock` (uv pip compile) from pyproject.toml, and a session
installs exactly that file, then the checkout with --no-deps. A release of any
dependency therefore changes nothing here until someone runs `nox -s lock` and
commits the new locks; a lock older than pyproject.toml's requirements is
refused, naming that command. A venv is reinstalled only when its lock or the
interpreter changes: see `install_locked`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent

# A leg's async core, event loop and dependency versions; the first of each is the default.
CORES = ("compiled", "pure")
LOOPS = ("asyncio", "uvloop")
# "newest": the newest release of every dependency that our ranges admit, as
# of the last `nox -s lock`; "lowest": our runtime dependencies (Django,
# redis, hiredis, the codecs) at the lowest versions pyproject.toml declares,
# so a floor we claim is a floor we test.
DEPS = ("newest", "lowest")


@dataclass(frozen=True)
class Leg:
    python: str  # "3.11"
    django: str  # "5.2"
    server: str  # "redis" or "valkey"
    # Whether this leg runs the multi-server topology tests (Sentinel, Cluster,
    # shards; pytest marker "topology"): they start up to ten servers each, so
    # two legs, one per server kind, carry them and the others skip the cost.
    topologies: bool = False
    # Whether this leg runs the tests of the apps around the backend (pytest
    # marker "apps": the demo, the admin and sessions in Chromium, third-party
    # apps, the toolbar, the benchmarks' HTTP site). What they exercise changes
    # with Django and Python, not with the server, core or loop: one leg per
    # Django version carries them.
    apps: bool = False
    # "compiled": the Cython build of transport/connection.py, rebuilt from the
    # checkout at the start of the leg; "pure": that same file run as Python
    # (DJANGO_ASYNC_REDIS_NO_EXTENSIONS=1), as where no compiler was at hand.
    core: str = "compiled"
    # "asyncio": the standard library's loop; "uvloop": every loop the tests
    # make is uvloop's (tests/conftest.py makes asyncio.new_event_loop uvloop's).
    loop: str = "asyncio"
    deps: str = "newest"

    def __post_init__(self) -> None:
        if self.core not in CORES or self.loop not in LOOPS or self.deps not in DEPS:
            raise ValueError(
                f"{self}: core must be one of {CORES}, loop one of {LOOPS}, deps one of {DEPS}"
            )

    @property
    def name(self) -> str:
        # The defaults add nothing: the suffixes say what is unusual about a
        # leg ("...-valkey-pure", "...-redis-uvloop", "...-redis-lowest-pure").
        parts = [f"py{self.python}", f"django{self.django}", self.server]
        parts += [value for value, default in ((self.deps, DEPS[0]), (self.core, CORES[0]),
                  (self.loop, LOOPS[0])) if value != default]  # fmt: skip
        return "-".join(parts)

    @property
    def session(self) -> str:
        return f"tests-{self.name}"

    @property
    def django_spec(self) -> str:
        return f"Django~={self.django}.0"

    @property
    def requirements(self) -> Requirements:
        # Legs that differ only in server, core or loop install the same set.
        return Requirements(
            name=f"tests-py{self.python}-django{self.django}"
            + ("-lowest" if self.deps == "lowest" else ""),
            python=self.python,
            project=True,
            extras=("all", "test"),
            extra=(self.django_spec,),
            lowest=self.deps == "lowest",
        )


@dataclass(frozen=True)
class Requirements:
    """One lock file, `requirements/<name>.txt`, and what it is compiled from."""

    name: str
    python: str
    # Whether the lock holds the project's own dependencies (with `extras`)
    # and what [build-system] builds it with.
    project: bool = False
    extras: tuple[str, ...] = ()
    # Requirements beside the project's (tools, a Django pin).
    extra: tuple[str, ...] = ()
    # Runtime dependencies at their declared minimums (uv's lowest-direct).
    lowest: bool = False
    # Installed by a Python we do not choose (scripts/test's, scripts/demo's):
    # resolved for every Python we support, not only `python`.
    universal: bool = False

    @property
    def path(self) -> Path:
        return LOCKS / f"{self.name}.txt"


# Why this layout:
# - Supported: Django 5.2 (LTS), 6.0 and 6.1 on Python 3.11 to 3.13, the
#   versions upstream still supports (Django 4.2 ended in April 2026, Python
#   3.10 in October 2026). Django 6.x needs Python >= 3.12.
# - Every Django version runs against Redis (Debian's, the server most users
#   have) and against Valkey 8, where protocol differences would first show.
# - 3.11 (the machine's python3, always present) carries 5.2, the LTS most
#   sites run; 3.12 and 3.13 carry 6.0 and 6.1.
# - The core: most legs run the compiled one, what a pip install from PyPI
#   gives nearly everyone. Two run the pure-Python one, what installs where no
#   compiler is (and what the compiled one must behave exactly like): one of
#   the two topology legs (3.12, 6.1, Valkey), so Sentinel, Cluster and shards
#   run on both cores and each server kind's topologies on a different one, and
#   the lowest-dependencies leg, whose users are the likeliest to have an old
#   toolchain.
# - Dependencies: one leg (3.11, 5.2, Redis) installs every runtime dependency
#   at the lowest version we declare; the others at the newest (as locked).
# - The loop: one leg runs on uvloop (3.12, 6.0, Redis, compiled: the pairing
#   of the fast loop and the fast core that people chasing speed deploy). One,
#   not more: uvloop changes how the transport is driven (its own transports,
#   call_soon and timers), not what the cache does, and every other leg must
#   keep the standard loop most sites run. The uvloop leg carries no
#   topologies: they would cost a third ~7-minute leg.
# - What runs where: every leg runs the core suite (ours and Django's cache and
#   session suites on one server). The two topology legs add Sentinel,
#   Cluster and shards and the long suites (Django's suites again over RESP3,
#   instrumented, with CLIENT_CACHE on): they change with the server and the
#   core, which those two legs span. One leg per Django version adds the apps
#   (see Leg.apps), spanning the three Pythons and both servers.
# - Eight legs, three at a time on two cores (scripts/test's DEFAULT_JOBS),
#   under CI's 30 minutes. The order is the run order: the two longest legs
#   (the topology ones) first, side by side, then the rest, so no long leg
#   starts last; legs of one Django version are kept apart, so the legs running
#   together mostly differ in Django.
MATRIX = [
    Leg("3.11", "5.2", "redis", topologies=True),
    Leg("3.12", "6.1", "valkey", topologies=True, core="pure"),
    Leg("3.12", "6.0", "redis", loop="uvloop", apps=True),
    Leg("3.11", "5.2", "valkey", apps=True),
    Leg("3.13", "6.1", "redis", apps=True),
    Leg("3.13", "6.0", "valkey"),
    Leg("3.12", "6.1", "redis"),
    Leg("3.11", "5.2", "redis", core="pure", deps="lowest"),
]

# The machine's own python3: its legs must run, whatever else is missing; the
# checks (lint, types, docs, package, demo) run on it too.
DEFAULT_PYTHON = "3.11"
# mypy checks against this leg's install: the oldest Django's stubs and sources.
TYPES_LEG = MATRIX[0]
# The sessions that are not legs of the matrix, in the order scripts/test runs them.
CHECKS = ["lint", "types", "package", "docs", "demo"]

# Bump to force every venv to be reinstalled when the way we install changes.
INSTALL_RECIPE_VERSION = "4"  # 4: from the lock files, then the checkout with --no-deps
STAMP_NAME = ".django-async-redis-requirements"
# What ruff checks (scripts/test and scripts/demo are Python without the .py).
LINTED = [
    "src",
    "tests",
    "benchmarks",
    "noxfile.py",
    "examples/demo",
    "scripts/test",
    "scripts/demo",
]
# ---------------------------------------------------------------- pinned installs
#
# Every session installs a lock file from requirements/, made by `nox -s lock`
# with uv's resolver from pyproject.toml and the tool lists here. Runtime
# dependencies stay ranges in pyproject.toml (users resolve them); the locks
# pin what CI tests them with. A lock whose inputs changed since it was made is
# refused (`stale_lock`), so a new requirement cannot slip in unpinned.
LOCKS = REPO / "requirements"
# Bump when the way locks are compiled changes: every lock is then stale.
LOCK_FORMAT = "1"
LOCK_DIGEST = "# inputs: "
# The extras that are runtime dependencies (the codecs), as opposed to tools.
RUNTIME_EXTRAS = ("all",)


def pyproject() -> dict:  # type: ignore[type-arg]
    with (REPO / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def optional(extra: str) -> tuple[str, ...]:
    """An extra's requirements, for a lock that needs them without the project."""
    return tuple(pyproject()["project"]["optional-dependencies"][extra])


LINT_REQUIREMENTS = Requirements("lint", DEFAULT_PYTHON, extra=("ruff>=0.6",))
# mkdocstrings reads the sources from src/ (mkdocs.yml), so the docs need no install.
DOCS_REQUIREMENTS = Requirements("docs", DEFAULT_PYTHON, extra=optional("docs"))
# The package check's tools (build[uv]: build's isolated environments made
# with uv, seconds faster each, and the check builds three wheels), and what
# its builds and its clean venv install:
# the build requirements ([build-system]) and the runtime dependencies, both
# taken from this lock as constraints.
PACKAGE_REQUIREMENTS = Requirements(
    "package", DEFAULT_PYTHON, project=True, extra=("build[uv]>=1.2", "twine>=5")
)
# scripts/demo's venv, on whichever Python runs it; scripts/test's nox and uv.
DEMO_REQUIREMENTS = Requirements(
    "demo", DEFAULT_PYTHON, project=True, extras=("demo",), universal=True
)
NOX_REQUIREMENTS = Requirements(
    "nox", DEFAULT_PYTHON, extra=("nox>=2025.2.9", "uv>=0.5"), universal=True
)


def all_requirements() -> list[Requirements]:
    legs = dict.fromkeys(leg.requirements for leg in MATRIX)
    checks = [LINT_REQUIREMENTS, DOCS_REQUIREMENTS, PACKAGE_REQUIREMENTS]
    return [*legs, *checks, DEMO_REQUIREMENTS, NOX_REQUIREMENTS]


def lock_digest(requirements: Requirements) -> str:
    """What a lock is made from: the project's declared requirements and the set's own."""
    project = pyproject()
    inputs = {
        "format": LOCK_FORMAT,
        "set": repr(requirements),
        "requires-python": project["project"]["requires-python"],
        "dependencies": project["project"]["dependencies"],
        "optional": project["project"]["optional-dependencies"],
        "build": project["build-system"]["requires"],
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def stale_lock(requirements: Requirements) -> str | None:
    """Why `requirements`' lock cannot be installed, or None if it is current."""
    path = requirements.path
    if not path.is_file():
        return f"{path.relative_to(REPO)} does not exist"
    first = path.read_text().splitlines()[:3]
    if f"{LOCK_DIGEST}{lock_digest(requirements)}" not in first:
        return f"{path.relative_to(REPO)} was made from other requirements than pyproject.toml's"
    return None


def compile_lock(uv: str, requirements: Requirements) -> None:
    """Write requirements/<name>.txt with uv's resolver (`uv pip compile`)."""
    with tempfile.TemporaryDirectory() as scratch:
        extra = Path(scratch) / "extra.in"
        extra.write_text("".join(f"{line}\n" for line in requirements.extra))
        sources = [str(extra)]
        if requirements.project:
            sources.append(str(REPO / "pyproject.toml"))
            # The checkout is installed with --no-build-isolation from the lock,
            # and the package check builds with it as constraints: so what
            # [build-system] builds with is pinned too.
            build = Path(scratch) / "build.in"
            build.write_text("\n".join(pyproject()["build-system"]["requires"]) + "\n")
            sources.append(str(build))
        extras = [f"--extra={name}" for name in requirements.extras]
        common = [uv, "pip", "compile", "--quiet", "--no-header", "--no-annotate"]
        common += ["--python-version", requirements.python]
        if requirements.universal:
            common.append("--universal")
        if requirements.lowest:
            # First the declared minimums of the runtime dependencies (the
            # direct ones of pyproject.toml, the runtime extras, the leg's Django
            # pin), then the tools at their newest around those.
            floor = Path(scratch) / "floor.txt"
            runtime = [f"--extra={name}" for name in requirements.extras if name in RUNTIME_EXTRAS]
            subprocess.run(
                [*common, *runtime, "--resolution", "lowest-direct", "-o", str(floor), *sources],
                check=True,
            )  # fmt: skip
            common += ["-c", str(floor)]
        body = Path(scratch) / "lock.txt"
        subprocess.run([*common, *extras, "-o", str(body), *sources], check=True)
        LOCKS.mkdir(exist_ok=True)
        requirements.path.write_text(
            "# Made by `nox -s lock` from pyproject.toml (and noxfile.py's tool lists):\n"
            "# do not edit; run it again and commit the result to update.\n"
            f"{LOCK_DIGEST}{lock_digest(requirements)}\n" + body.read_text()
        )


# The wheel is the library only: these never belong in it (nor the Cython
# sources: the generated C stays in build/cython, the .pxd in the sdist).
WHEEL_FORBIDDEN = ("tests/", "examples/", "benchmarks/", "docs/", "scripts/")
WHEEL_FORBIDDEN_SUFFIXES = (".c", ".pxd", ".pyx")
# The compiled core, as setup.py names it, and what building it needs beside the
# Python sources: the sdist must hold these, or a build from it (what pip does
# where no wheel fits) would silently compile without the C types, or not at all.
COMPILED_CORE = "django_async_redis/transport/_connection_c"
SDIST_REQUIRED = (
    "setup.py",
    "src/django_async_redis/transport/connection.py",
    "src/django_async_redis/transport/_connection_c.pxd",
)
# What the sdist must not hold: build outputs (generated C, compiled modules).
SDIST_FORBIDDEN_SUFFIXES = (".c", ".so", ".pyd")
# The package check's probe, run by a clean venv's python from outside the
# checkout: what was imported from where, which core runs, which compiled
# modules the installed package holds. "static_type": the connection class is
# a C type, i.e. the .pxd's `cdef class` applied; Cython compiling connection.py
# without it would make an ordinary (heap-allocated) Python class.
PACKAGE_PROBE = """
import importlib.machinery, json, pathlib
import django_async_redis as m, django_async_redis.cache, django_async_redis.sessions
from django_async_redis.transport import aio
package = pathlib.Path(m.__file__).parent
suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
print(json.dumps({
    "version": m.__version__,
    "file": m.__file__,
    "compiled": aio.COMPILED,
    "extensions": sorted(
        str(p.relative_to(package.parent)) for p in package.rglob("*") if p.name.endswith(suffixes)
    ),
    "static_type": not aio.connection_class.__flags__ & (1 << 9),  # Py_TPFLAGS_HEAPTYPE
}))
"""


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
    # Reuse venvs; install_locked decides whether they need installing again.
    nox.options.reuse_venv = "yes"
    # Only Pythons on the machine: standalone builds cannot be downloaded here.
    nox.options.download_python = "never"
    BACKEND = venv_backend()
    # uv's venvs have no pip unless seeded, and a few tests call `python -m pip`.
    VENV_PARAMS = ["--seed"] if BACKEND == "uv" else []

    def install_locked(session: nox.Session, requirements: Requirements, checkout: bool) -> None:
        """Install `requirements`' lock, then (`checkout`) this checkout, editable, without deps.

        Skipped while nothing it depends on changed (the lock, the project's
        build files, the interpreter). The checkout is built with
        --no-build-isolation, from the setuptools and Cython the lock pinned.
        """
        problem = stale_lock(requirements)
        if problem:
            session.error(f"{problem}: run `nox -s lock`, then commit requirements/")
        assert session.virtualenv.location is not None
        stamp = Path(session.virtualenv.location) / STAMP_NAME
        digest = hashlib.sha256()
        parts = [INSTALL_RECIPE_VERSION, BACKEND, str(session.python), sys.version]
        parts.append(requirements.path.read_text())
        if checkout:
            parts += [(REPO / name).read_text() for name in ("pyproject.toml", "setup.py")]
        for part in parts:
            digest.update(part.encode() + b"\0")
        wanted = digest.hexdigest()
        if stamp.is_file() and stamp.read_text() == wanted:
            session.log("requirements unchanged since the last install: reused")
            return
        if session._runner.global_config.no_install:
            # `nox -R` installs nothing: the stamp must not claim this lock went in
            # (a later run would then skip an install it needs).
            session.warn(
                f"{requirements.path.name} changed since the last install; not "
                "installed under --no-install (-R): run without -R to install it"
            )
            return
        session.install("-r", str(requirements.path))
        if checkout:
            session.install("--no-deps", "--no-build-isolation", "-e", ".")
        stamp.write_text(wanted)

    def installing_only(session: nox.Session) -> bool:
        """`nox --install-only` (scripts/test's set-up pass): skip the Python-level checks too."""
        return bool(session._runner.global_config.install_only)

    def without(*names: str) -> dict[str, str]:
        """This process's environment less `names` (for include_outer_env=False)."""
        return {k: v for k, v in os.environ.items() if k not in names}

    @contextlib.contextmanager
    def build_lock() -> Iterator[None]:
        """Builds of the core from the checkout take turns, across sessions.

        Every run of setup.py in the checkout (build_ext, and the sdist step
        of `python -m build .`) translates connection.py into the same
        build/cython/ file, and a leg may build while the package check does.
        """
        path = REPO / "build" / ".compiled-core.lock"
        path.parent.mkdir(exist_ok=True)
        with path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def build_compiled_core(session: nox.Session) -> None:
        """Compile the core from the checkout as it is now, into src/ beside connection.py.

        The editable install compiled it when the venv was made, but an in-place
        module built before the last edit of connection.py or _connection_c.pxd
        silently runs old code: so every compiled leg builds again (setup.py
        always re-translates). This is `setup.py build_ext --inplace`, done so
        that two legs of one Python running at once cannot hurt each other: the
        builds take turns (`build_lock`), and the new module replaces the old
        by a rename, where --inplace would rewrite the old file in place, under
        a pytest that has it mapped. And since setup.py never fails (no
        compiler: pure package), the leg stops here if no module came out.
        """
        if installing_only(session):
            return
        assert session.virtualenv.location is not None
        out = Path(session.virtualenv.location) / "compiled-core"
        shutil.rmtree(out, ignore_errors=True)
        with build_lock():
            session.run(
                "python", "setup.py", "--quiet", "build_ext",
                "--build-lib", str(out / "lib"), "--build-temp", str(out / "temp"),
                env=without("DJANGO_ASYNC_REDIS_NO_EXTENSIONS"), include_outer_env=False,
            )  # fmt: skip
            built = sorted((out / "lib").rglob("*.so"))
            if not built:
                session.error("the compiled core did not build (setup.py's messages are above)")
            for module in built:
                target = REPO / "src" / module.relative_to(out / "lib")
                partial = target.with_name(f".{target.name}.partial")
                shutil.copyfile(module, partial)
                os.replace(partial, target)
                session.log(f"compiled core: {target.relative_to(REPO)}")

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
            install_locked(session, leg.requirements, checkout=True)
            env = without("REDIS_URL", "DJANGO_ASYNC_REDIS_NO_EXTENSIONS", "TEST_EVENT_LOOP")
            env["TEST_SERVER"] = leg.server
            env["TEST_TOPOLOGIES"] = "1" if leg.topologies else "0"
            env["TEST_APPS"] = "1" if leg.apps else "0"
            # tests/test_core_mode.py fails the leg if the process runs another core or loop.
            env["TEST_CORE"] = leg.core
            if leg.core == "compiled":
                build_compiled_core(session)
            else:
                env["DJANGO_ASYNC_REDIS_NO_EXTENSIONS"] = "1"
            if leg.loop != "asyncio":
                env["TEST_EVENT_LOOP"] = leg.loop
            # include_outer_env=False: the leg's name must be the truth, so an
            # inherited REDIS_URL (or core or loop switch) must not reach the tests.
            session.run(
                "python", "-m", "pytest", *session.posargs, env=env, include_outer_env=False
            )

    for leg in MATRIX:
        add_leg(leg)

    @nox.session(python=interpreter(DEFAULT_PYTHON), venv_backend=BACKEND, venv_params=VENV_PARAMS)
    def lint(session: nox.Session) -> None:
        """ruff: the linter and the formatter's check, on the library, the tests and the tooling."""
        install_locked(session, LINT_REQUIREMENTS, checkout=False)
        session.run("ruff", "check", *LINTED)
        session.run("ruff", "format", "--check", *LINTED)

    @nox.session(python=interpreter(DEFAULT_PYTHON), venv_backend=BACKEND, venv_params=VENV_PARAMS)
    def types(session: nox.Session) -> None:
        """mypy, strict as pyproject.toml configures it, with the project's dependencies."""
        install_locked(session, TYPES_LEG.requirements, checkout=True)
        session.run("mypy")

    @nox.session(python=interpreter(DEFAULT_PYTHON), venv_backend=BACKEND, venv_params=VENV_PARAMS)
    def docs(session: nox.Session) -> None:
        """The docs site, warnings as errors."""
        install_locked(session, DOCS_REQUIREMENTS, checkout=False)
        session.run(
            "mkdocs", "build", "--strict", "--site-dir", ".cache/site",
            env={"NO_MKDOCS_2_WARNING": "1"},  # Material's banner about its future
        )  # fmt: skip

    def check_wheel(session: nox.Session, wheel: Path, compiled: bool) -> None:
        """The library only, py.typed included; the compiled core exactly when `compiled`."""
        names = zipfile.ZipFile(wheel).namelist()
        if "django_async_redis/py.typed" not in names:
            session.error(f"{wheel.name} has no django_async_redis/py.typed")
        stray = [
            name
            for name in names
            if name.startswith(WHEEL_FORBIDDEN) or name.endswith(WHEEL_FORBIDDEN_SUFFIXES)
        ]
        if stray:
            session.error(f"{wheel.name} holds non-library files: {stray[:5]}")
        binaries = [name for name in names if name.endswith((".so", ".pyd"))]
        just_the_core = len(binaries) == 1 and binaries[0].startswith(f"{COMPILED_CORE}.")
        if not (just_the_core if compiled else not binaries):
            session.error(
                f"{wheel.name}: compiled modules {binaries}, expected compiled={compiled}"
            )

    def check_sdist(session: nox.Session, sdist: Path) -> None:
        """What building the core needs is in; what a build made is not."""
        with tarfile.open(sdist) as archive:
            # Each member is under "django_async_redis-VERSION/".
            names = {member.split("/", 1)[1] for member in archive.getnames() if "/" in member}
        missing = [name for name in SDIST_REQUIRED if name not in names]
        if missing:
            session.error(f"{sdist.name} lacks {missing}")
        built = sorted(
            name
            for name in names
            if name.startswith("build/") or name.endswith(SDIST_FORBIDDEN_SUFFIXES)
        )
        if built:
            session.error(f"{sdist.name} holds build outputs: {built[:5]}")

    @nox.session(python=interpreter(DEFAULT_PYTHON), venv_backend=BACKEND, venv_params=VENV_PARAMS)
    def package(session: nox.Session) -> None:
        """sdist + wheel, twine-checked; then the two pure-Python fallbacks of the build.

        The release build (the sdist, then the wheel from it) must hold the
        compiled core; a wheel built from that sdist with no working compiler
        (CC=false) and one with DJANGO_ASYNC_REDIS_NO_EXTENSIONS=1 must build
        all the same, with no compiled module. All three are installed in turn
        in one new venv and imported from outside the checkout, and must run
        the core they hold (aio.COMPILED).
        """
        install_locked(session, PACKAGE_REQUIREMENTS, checkout=False)
        if installing_only(session):
            return
        dist = REPO / ".cache" / "dist"
        shutil.rmtree(dist, ignore_errors=True)
        # The caller's switches must not decide what the release build makes.
        build_env = without("DJANGO_ASYNC_REDIS_NO_EXTENSIONS", "CC")
        # The isolated build environments install [build-system]'s requirements
        # with uv: pinned by the lock, as everything else here.
        pinned = str(PACKAGE_REQUIREMENTS.path)
        build_env["UV_CONSTRAINT"] = pinned
        build = ["python", "-m", "build", "--installer", "uv"]
        with build_lock():
            session.run(*build, "--outdir", str(dist), ".", env=build_env, include_outer_env=False)
        wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            session.error(f"expected one wheel and one sdist in {dist}")
        wheel, sdist = wheels[0], sdists[0]
        check_sdist(session, sdist)
        check_wheel(session, wheel, compiled=True)
        # The fallbacks, each built from a fresh copy of the sdist, as pip builds
        # where no wheel fits the machine.
        fallbacks: dict[str, Path] = {}
        for label, switch in (
            ("no-compiler", {"CC": "false"}),
            ("no-extensions", {"DJANGO_ASYNC_REDIS_NO_EXTENSIONS": "1"}),
        ):
            unpacked = dist / label / "sdist"
            with tarfile.open(sdist) as archive:
                archive.extractall(unpacked, filter="data")
            (tree,) = unpacked.iterdir()
            out = dist / label
            session.run(
                *build, "--wheel", "--outdir", str(out), str(tree),
                env={**build_env, **switch}, include_outer_env=False,
            )  # fmt: skip
            (fallbacks[label],) = out.glob("*.whl")
            check_wheel(session, fallbacks[label], compiled=False)
        if not fallbacks["no-extensions"].name.endswith("-py3-none-any.whl"):
            session.error(f"{fallbacks['no-extensions'].name}: a pure build is not py3-none-any")
        session.run(
            "python", "-m", "twine", "check", "--strict", str(sdist), str(wheel),
            *map(str, fallbacks.values()),
        )  # fmt: skip

        # A new venv from the standard library, no uv, no cache of ours: as a
        # user's. The first wheel brings the dependencies; the others replace it.
        clean = dist / "clean-venv"
        session.run("python", "-m", "venv", str(clean))
        clean_python = str(clean / "bin" / "python")
        probe_env = without("DJANGO_ASYNC_REDIS_NO_EXTENSIONS", "PYTHONPATH")
        for index, (label, candidate) in enumerate([("release", wheel), *fallbacks.items()]):
            reinstall = ["--no-deps", "--force-reinstall"] if index else []
            session.run(
                clean_python, "-m", "pip", "install", "-q", "-c", pinned, *reinstall,
                str(candidate),
                external=True,
            )  # fmt: skip
            # From outside the checkout, so the import can only find the installed wheel.
            with session.chdir(dist):
                out = session.run(
                    clean_python, "-c", PACKAGE_PROBE, external=True, silent=True,
                    env=probe_env, include_outer_env=False,
                )  # fmt: skip
            found = json.loads(str(out).strip().splitlines()[-1])
            if not found["file"].startswith(str(clean)):
                session.error(f"{label}: imported from {found['file']}, not from the clean venv")
            if f"-{found['version']}-" not in candidate.name:
                session.error(f"{label}: __version__ {found['version']} vs {candidate.name}")
            compiled = label == "release"
            if (found["compiled"], found["static_type"]) != (compiled, compiled):
                session.error(f"{label}: expected compiled={compiled}, the probe found {found}")
            if compiled != bool(found["extensions"]):
                session.error(f"{label}: installed compiled modules {found['extensions']}")
            session.log(
                f"{label}: {candidate.name} imported from the clean venv, "
                f"COMPILED={found['compiled']}, compiled modules {found['extensions']}"
            )
        session.log(f"{sdist.name}: holds setup.py, connection.py and the .pxd, no build outputs;")
        session.log("the wheels hold py.typed and no tests; twine check passed on all four")

    @nox.session(python=False)
    def demo(session: nox.Session) -> None:
        """The demo's smoke run, as a new user runs it: it makes .venvs/demo itself."""
        python = os.environ.get(f"TEST_PYTHON_{DEFAULT_PYTHON.replace('.', '_')}", sys.executable)
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        # Its own embedded server, whatever REDIS_URL the caller had.
        session.run(python, "scripts/demo", "--smoke", env=env, include_outer_env=False)

    @nox.session(python=False)
    def lock(session: nox.Session) -> None:
        """Remake the lock files in requirements/: `nox -s lock [-- NAME ...]`, then commit them.

        Run it on purpose: to take new releases of the tools and dependencies,
        and after changing a requirement in pyproject.toml (until then the
        sessions refuse the stale lock). NAME is a lock's file name without .txt.
        """
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        if uv is None:
            session.error("no uv beside nox or on PATH (scripts/test installs both)")
        wanted = set(session.posargs)
        chosen = [r for r in all_requirements() if not wanted or r.name in wanted]
        unknown = wanted - {r.name for r in chosen}
        if unknown:
            names = ", ".join(r.name for r in all_requirements())
            session.error(f"no lock named {', '.join(sorted(unknown))}; the locks: {names}")
        for requirements in chosen:
            session.log(f"compiling {requirements.path.relative_to(REPO)}")
            compile_lock(uv, requirements)
