"""Debian packages the tests drive (chromium, wrk): found on PATH, or apt-get installed.

Installed only when missing and we are root; several legs running at once
take one lock, so they never race for dpkg's. When a program cannot be had,
the test that needs it is skipped, saying why (a set-up gap, not a pass).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

APT_LOCK = Path(tempfile.gettempdir()) / "django-async-redis-apt.lock"
# A bound that only catches a hung apt-get.
INSTALL_TIMEOUT = 1200


def _apt_install(package: str) -> str:
    """Install Debian's ``package``; returns why it failed ("" on success)."""
    if shutil.which("apt-get") is None:
        return "there is no apt-get on this machine"
    if os.geteuid() != 0:
        return f"installing it needs root (apt-get install {package})"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", package],
    ):
        try:
            done = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{' '.join(command)} failed: {error}"
        if done.returncode != 0:
            return f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-500:]}"
    return ""


def program(name: str, package: str | None = None) -> str:
    """The path of ``name``, apt-get installing its package if missing; else the test skips."""
    path = shutil.which(name)
    if path is not None:
        return path
    with open(APT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reason = "" if shutil.which(name) else _apt_install(package or name)
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed and could not be installed: {reason}")
    return path
