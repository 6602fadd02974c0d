"""Cache operations, written once and free of I/O.

An operation is a :class:`Step`: the commands to send in one round trip and a
function that turns their replies into the operation's result. A multi-step
operation returns another ``Step`` from ``then``; the runner sends that one
next. The sync and the async runner (``client``) both drive the same steps, so
the semantics below exist exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Command = tuple[Any, ...]


class Step:
    """One round trip: ``commands`` are pipelined, ``then(replies)`` gives the result.

    ``write`` routes the step to the primary; reads may go to a replica.
    Error replies never reach ``then`` unless ``errors_as_values`` is set: the
    runner raises the first one as redis-py's exception class.
    """

    __slots__ = ("commands", "errors_as_values", "then", "write")

    def __init__(
        self,
        commands: Sequence[Command],
        then: Callable[[list[Any]], Any],
        *,
        write: bool,
        errors_as_values: bool = False,
    ) -> None:
        self.commands = commands
        self.then = then
        self.write = write
        self.errors_as_values = errors_as_values
