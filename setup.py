"""The optional compiled core; every other piece of metadata is in pyproject.toml.

Cython compiles ``transport/connection.py`` (the async protocol: reply parsing,
FIFO matching, the reply future) into ``transport/_connection_c`` with the C
types of ``_connection_c.pxd``. The .py file is the one source of the logic and
stays in the package as the pure-Python path.

The build never fails an install: with ``DJANGO_ASYNC_REDIS_NO_EXTENSIONS=1``,
without Cython, or when the compiler is missing or fails, the package installs
without the extension and runs the pure path (``django_async_redis.transport
.aio.COMPILED`` says which one a process runs; a debug log line says why).
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

COMPILED_MODULES = {
    "django_async_redis.transport._connection_c": "src/django_async_redis/transport/connection.py",
}

# The annotations are mypy's; the C types come from the .pxd alone.
DIRECTIVES = {
    "language_level": 3,
    "annotation_typing": False,
    "boundscheck": False,
    "wraparound": False,
    # The compiled module keeps no state of its own across threads: each
    # connection is used by its event loop's thread only, as on the pure path.
    "freethreading_compatible": True,
}


def _say(message: str) -> None:
    print(f"django-async-redis: {message}", file=sys.stderr)


def extensions() -> list[Extension]:
    if os.environ.get("DJANGO_ASYNC_REDIS_NO_EXTENSIONS"):
        _say("DJANGO_ASYNC_REDIS_NO_EXTENSIONS is set: building the pure-Python package only")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _say("Cython is not installed: building the pure-Python package only")
        return []
    modules = [Extension(name, [source]) for name, source in COMPILED_MODULES.items()]
    try:
        built: list[Extension] = cythonize(
            modules,
            compiler_directives=DIRECTIVES,
            build_dir="build/cython",
            # Cython tracks a .pxd named after the source, not after the module:
            # always translate, or an edit of _connection_c.pxd alone would be missed.
            force=True,
            quiet=True,
        )
    except Exception as error:  # a Cython too old for the directives, say
        _say(f"Cython could not translate the compiled core ({error}): pure-Python only")
        return []
    return built


class OptionalBuildExt(build_ext):
    """build_ext that falls back to the pure-Python package instead of failing."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # no compiler at all (distutils' PlatformError)
            _say(f"no compiled core ({error}): the pure-Python path will run")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:  # the compiler failed on this module
            _say(f"could not compile {ext.name} ({error}): the pure-Python path will run")


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
