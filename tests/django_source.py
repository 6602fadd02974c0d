"""Django's own test suite, fetched from PyPI for the installed Django version.

Django's ``tests/`` directory is not in the wheel, so we download the source
distribution of exactly the installed version once, extract its ``tests/``
into ``<repo>/.cache/django-src/<version>/tests`` (gitignored) and put that
directory on ``sys.path``. The test apps (``cache``, ``sessions_tests``, ...)
then import under their own names, as they do under Django's ``runtests.py``.

``DJANGO_SOURCE_CACHE`` moves the cache directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Iterator
from importlib.metadata import version as installed_version
from os import environ
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DOWNLOAD_TIMEOUT = 300


def django_version() -> str:
    """The installed Django distribution's version, e.g. ``"5.2.19"``."""
    return installed_version("Django")


def cache_root() -> Path:
    return Path(environ.get("DJANGO_SOURCE_CACHE") or REPO_ROOT / ".cache" / "django-src")


def django_tests_dir() -> Path:
    """Path of the extracted ``tests/`` of the installed Django (fetched on first use)."""
    version = django_version()
    target = cache_root() / version
    tests = target / "tests"
    if (target / ".complete").exists():
        return tests
    target.mkdir(parents=True, exist_ok=True)
    with _locked(target / ".lock"):
        if not (target / ".complete").exists():
            sdist = _download_sdist(version, target)
            _extract_tests(sdist, tests)
            (target / ".complete").write_text(sdist.name + "\n")
    return tests


def add_django_tests_to_path() -> Path:
    """Make Django's test apps importable; returns the ``tests/`` directory.

    Appended, not prepended, so nothing in Django's tests shadows an installed
    module.
    """
    tests = django_tests_dir()
    if str(tests) not in sys.path:
        sys.path.append(str(tests))
    return tests


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _find_sdist(directory: Path, version: str) -> Path | None:
    for candidate in directory.iterdir():
        if candidate.name.lower() == f"django-{version}.tar.gz":
            return candidate
    return None


def _download_sdist(version: str, target: Path) -> Path:
    existing = _find_sdist(target, version)
    if existing is not None:
        return existing
    errors = []
    try:
        return _download_with_pip(version, target)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        errors.append(f"pip download: {exc}")
    try:
        return _download_from_json_api(version, target)
    except (OSError, ValueError, RuntimeError) as exc:
        errors.append(f"PyPI JSON API: {exc}")
    raise RuntimeError(
        f"cannot fetch the Django {version} source distribution:\n" + "\n".join(errors)
    )


def _download_with_pip(version: str, target: Path) -> Path:
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        completed = subprocess.run(
            [*pip, f"Django=={version}", "--dest", scratch],
            capture_output=True,
            text=True,
            timeout=DOWNLOAD_TIMEOUT,
        )
        if completed.returncode != 0:
            raise RuntimeError(completed.stderr.strip()[-2000:] or completed.stdout[-2000:])
        sdist = _find_sdist(Path(scratch), version)
        if sdist is None:
            raise RuntimeError(f"pip saved no django-{version}.tar.gz")
        return Path(shutil.move(str(sdist), target / sdist.name))


def _download_from_json_api(version: str, target: Path) -> Path:
    url = f"https://pypi.org/pypi/Django/{version}/json"
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
        release = json.load(response)
    for artefact in release["urls"]:
        if artefact["packagetype"] == "sdist":
            break
    else:
        raise RuntimeError(f"PyPI lists no sdist for Django {version}")
    partial = target / (artefact["filename"] + ".part")
    digest = hashlib.sha256()
    with (
        urllib.request.urlopen(artefact["url"], timeout=DOWNLOAD_TIMEOUT) as response,
        open(partial, "wb") as out,
    ):
        while chunk := response.read(1 << 16):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != artefact["digests"]["sha256"]:
        partial.unlink()
        raise RuntimeError(f"sha256 mismatch for {artefact['url']}")
    return partial.rename(target / artefact["filename"])


def _extract_tests(sdist: Path, tests: Path) -> None:
    """Extract only ``<top>/tests/`` of the sdist into ``tests``."""
    staging = Path(tempfile.mkdtemp(dir=tests.parent))
    try:
        with tarfile.open(sdist) as archive:
            members = []
            for member in archive.getmembers():
                _, _, rest = member.name.partition("/")
                if rest == "tests" or rest.startswith("tests/"):
                    members.append(member)
            if not members:
                raise RuntimeError(f"{sdist.name} has no tests/ directory")
            if hasattr(tarfile, "data_filter"):
                archive.extractall(staging, members=members, filter="data")
            else:  # Python 3.11 before 3.11.4: members are Django's own, from PyPI
                archive.extractall(staging, members=members)
        extracted = staging / members[0].name.partition("/")[0] / "tests"
        if tests.exists():
            shutil.rmtree(tests)
        extracted.rename(tests)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    print(add_django_tests_to_path())
