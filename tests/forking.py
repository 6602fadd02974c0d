"""Running a few lines in a forked child and hearing its answer."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable


def answer_from_a_child(child: Callable[[], str]) -> str:
    """Fork; the child runs ``child`` and leaves at once; its answer (or its error) comes back.

    Python 3.12+ warns about fork() in a process with threads; the child here
    only runs ``child``, which is what the tests that fork are about.
    """
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            try:
                answer = child()
            except BaseException as error:
                answer = f"the child failed: {error!r}"
            os.write(write, answer.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)
    return answer
