"""One Step's commands spread over several servers, sans I/O.

The shard and cluster clients route each command by its keys. A command
whose keys all live in one place goes there whole; a multi-key command that
can be answered piecewise (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH) is split
into one piece per place and its replies merged back; any other command
whose keys are spread out is answered with a CROSSSLOT error reply naming
them, as Redis Cluster answers it, so that an operation which can do better
(``ops.rename_version`` copies instead) still may. The Step's replies come
back in the Step's order, so no operation learns how many servers there are.

:class:`Dispatch` holds that plan for one round trip and follows Redis
Cluster's redirections (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) as they come back.
It does no I/O: the client's sync and async drivers take its batches, send
each to its node, and feed the replies (or the failure) back.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Protocol

from ..config import Node
from ..transport.breaker import CircuitOpen
from ..transport.resp import ReplyError, Unreachable, encode_command

Command = Sequence[Any]

# Commands that name no key: they go to the node the caller pinned, if any.
KEYLESS = frozenset(
    {
        b"ASKING", b"AUTH", b"CLIENT", b"CLUSTER", b"CONFIG", b"DBSIZE", b"ECHO",
        b"FLUSHALL", b"FLUSHDB", b"FUNCTION", b"HELLO", b"INFO", b"KEYS", b"PING",
        b"LATENCY", b"RANDOMKEY", b"READONLY", b"ROLE", b"SCAN", b"SCRIPT", b"SELECT",
        b"SENTINEL", b"SLOWLOG", b"TIME",
    }
)  # fmt: skip
# Every argument after the name is a key.
_ALL_KEYS = frozenset(
    {
        b"DEL", b"EXISTS", b"MGET", b"PFCOUNT", b"PFMERGE", b"SDIFF", b"SDIFFSTORE",
        b"SINTER", b"SINTERSTORE", b"SUNION", b"SUNIONSTORE", b"TOUCH", b"UNLINK", b"WATCH",
    }
)  # fmt: skip
# A source and a destination key, then other arguments.
_TWO_KEYS = frozenset(
    {b"BLMOVE", b"COPY", b"LMOVE", b"RENAME", b"RENAMENX", b"RPOPLPUSH", b"SMOVE"}
)
# numkeys at argument 2, then the keys (scripts and functions).
_SCRIPTS = frozenset({b"EVAL", b"EVALSHA", b"EVAL_RO", b"EVALSHA_RO", b"FCALL", b"FCALL_RO"})
# A destination key, numkeys, then the source keys.
_STORE_NUMKEYS = frozenset({b"ZDIFFSTORE", b"ZINTERSTORE", b"ZUNIONSTORE"})
# numkeys at argument 1, then the keys.
_NUMKEYS_FIRST = frozenset({b"SINTERCARD", b"ZDIFF", b"ZINTER", b"ZINTERCARD", b"ZUNION"})
_PAIRS = frozenset({b"MSET", b"MSETNX"})
# A subcommand, then the key (MEMORY USAGE key, OBJECT ENCODING key).
_KEY_SECOND = frozenset({b"MEMORY", b"OBJECT"})

# Multi-key commands whose answer can be put together from per-place pieces.
_SUMMED = frozenset({b"DEL", b"EXISTS", b"TOUCH", b"UNLINK"})

# How often one piece may be redirected (MOVED/ASK) before its error stands,
# and the pauses before sending again while the cluster is electing or
# migrating (TRYAGAIN, CLUSTERDOWN) or a node could not be reached.
MAX_REDIRECTS = 16
RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4)
# Error replies that send a command elsewhere (MOVED, ASK) or later (TRYAGAIN,
# CLUSTERDOWN): the command did not run.
FOLLOWED = ("MOVED", "ASK")
RETRIED = ("TRYAGAIN", "CLUSTERDOWN")
REDIRECTIONS = FOLLOWED + RETRIED


def command_name(command: Command) -> bytes:
    name = command[0]
    if type(name) is not bytes:
        name = str(name).encode() if not isinstance(name, bytes) else bytes(name)
    return name.upper()


def _as_key(arg: Any) -> bytes:
    return arg if type(arg) is bytes else str(arg).encode()


def command_keys(command: Command) -> list[bytes]:
    """The keys a command names, by Redis's key positions; [] for none."""
    name = command_name(command)
    if name in KEYLESS or len(command) < 2:
        return []
    if name in _ALL_KEYS:
        keys = command[1:]
    elif name in _TWO_KEYS:
        keys = command[1:3]
    elif name in _SCRIPTS:
        keys = command[3 : 3 + int(command[2])]
    elif name in _STORE_NUMKEYS:
        keys = [command[1], *command[3 : 3 + int(command[2])]]
    elif name in _NUMKEYS_FIRST:
        keys = command[2 : 2 + int(command[1])]
    elif name in _PAIRS:
        keys = command[1::2]
    elif name in _KEY_SECOND:
        keys = command[2:3]
    else:
        keys = command[1:2]
    return [key if type(key) is bytes else _as_key(key) for key in keys]


class Router(Protocol):
    """Where keys live: the one thing a topology tells a Dispatch."""

    def groups(self, keys: list[bytes]) -> Sequence[Hashable]:
        """The place of each key: keys of one group may share a multi-key command.

        A list at a time: a get_many of many keys pays one call, not one per key.
        """

    def node(self, group: Hashable, write: bool) -> Node:
        """The node serving a group now."""

    def default_node(self, write: bool) -> Node:
        """Where a keyless command goes when the caller pinned no node."""

    def moved(self, slot: int, address: str) -> None:
        """A MOVED reply: the slot lives at ``address`` now."""

    def node_at(self, address: str) -> Node:
        """The node at ``host:port`` (for ASK redirections)."""


class _Piece:
    """A command (or a part of one) on its way to one node."""

    __slots__ = ("asking", "command", "group", "positions", "redirects")

    def __init__(self, command: Command, group: Hashable | None, positions: list[int] | None):
        self.command = command
        self.group = group  # None: keyless, goes to the pinned node
        self.positions = positions  # MGET pieces: which of the keys they fetch
        self.asking: Node | None = None  # after ASK: the node to send ASKING + command to
        self.redirects = 0


def _crossslot(name: bytes, keys: list[bytes]) -> ReplyError:
    shown = ", ".join(repr(key.decode(errors="replace")) for key in keys[:6])
    return ReplyError(
        f"CROSSSLOT Keys in request don't hash to the same slot ({name.decode()} over {shown}"
        f"{', ...' if len(keys) > 6 else ''}); give keys that belong together a common "
        "{hash tag}, e.g. '{user42}:cart' and '{user42}:wishlist'"
    )


class Dispatch:
    """The plan for one round trip over several nodes, and its replies so far."""

    def __init__(
        self,
        router: Router,
        commands: Sequence[Command],
        write: bool,
        pinned: Node | None = None,
        servers_check_slots: bool = True,
    ) -> None:
        self._router = router
        self._write = write
        self._pinned = pinned
        # Scripts name their keys in arguments only the server can check (a
        # cluster does, with its own CROSSSLOT); independent shards cannot.
        self._servers_check_slots = servers_check_slots
        self._pieces: list[_Piece] = []
        self._outcomes: list[Any] = []
        # Per command of the Step: how its reply is made from its pieces.
        self._plans: list[tuple[str, list[int], Any]] = []
        self._todo: list[int] = []
        self._retries = 0
        self._breaker_retried = False
        self.delay = 0.0
        self.needs_refresh = False
        for command in commands:
            self._plan(command)

    def _add(self, command: Command, group: Hashable | None, positions: list[int] | None) -> int:
        self._pieces.append(_Piece(command, group, positions))
        self._outcomes.append(None)
        self._todo.append(len(self._pieces) - 1)
        return len(self._pieces) - 1

    def _plan(self, command: Command) -> None:
        keys = command_keys(command)
        if not keys:
            self._plans.append(("one", [self._add(command, None, None)], None))
            return
        groups = self._router.groups(keys)
        first = groups[0]
        if len(groups) == 1 or all(g == first for g in groups):
            self._plans.append(("one", [self._add(command, first, None)], None))
            return
        name = command_name(command)
        by_group: dict[Hashable, list[int]] = {}
        for position, place in enumerate(groups):
            by_group.setdefault(place, []).append(position)
        if name in _SUMMED or name == b"MGET":
            # Inline rather than through _add: a get_many over a cluster makes a
            # piece per slot, often one per key.
            head = command[0]
            added = self._pieces
            start = len(added)
            for place, positions in by_group.items():
                if len(positions) == 1:
                    piece = (head, keys[positions[0]])
                else:
                    piece = (head, *[keys[p] for p in positions])
                added.append(_Piece(piece, place, positions))
            pieces = list(range(start, len(added)))
            self._outcomes.extend([None] * len(pieces))
            self._todo.extend(pieces)
            self._plans.append(("sum" if name in _SUMMED else "mget", pieces, len(keys)))
        elif name == b"MSET":
            pieces = [
                self._add(
                    (
                        command[0],
                        *(arg for p in positions for arg in command[1 + 2 * p : 3 + 2 * p]),
                    ),
                    place,
                    positions,
                )
                for place, positions in by_group.items()
            ]
            self._plans.append(("ok", pieces, None))
        elif name in _SCRIPTS and self._servers_check_slots:
            self._plans.append(("one", [self._add(command, first, None)], None))
        else:
            self._plans.append(("answer", [], _crossslot(name, keys)))

    # the drivers' side -----------------------------------------------------

    def take(self) -> list[tuple[Node, list[int]]]:
        """The pieces to send now, grouped by node; [] when every reply is in."""
        if not self._todo:
            return []
        by_node: dict[Node, list[int]] = {}
        node_of = self._router.node
        write = self._write
        all_pieces = self._pieces
        for index in self._todo:
            piece = all_pieces[index]
            if piece.asking is not None:
                node = piece.asking
            elif piece.group is None:
                node = self._pinned or self._router.default_node(write)
            else:
                node = node_of(piece.group, write)
            batch = by_node.get(node)
            if batch is None:
                by_node[node] = [index]
            else:
                batch.append(index)
        self._todo = []
        return list(by_node.items())

    def payload(self, pieces: list[int]) -> tuple[bytes, int]:
        """The bytes of a batch and how many replies it will get."""
        parts = []
        count = len(pieces)
        all_pieces = self._pieces
        for index in pieces:
            piece = all_pieces[index]
            if piece.asking is not None:
                parts.append(b"*1\r\n$6\r\nASKING\r\n")
                count += 1
            parts.append(encode_command(piece.command))
        return b"".join(parts), count

    def feed(self, pieces: list[int], replies: list[Any]) -> None:
        """A batch's replies, in the order it was sent."""
        self.delay = 0.0
        position = 0
        for index in pieces:
            piece = self._pieces[index]
            if piece.asking is not None:
                position += 1  # ASKING's +OK
                piece.asking = None
            reply = replies[position]
            position += 1
            if type(reply) is ReplyError and self._redirected(index, piece, str(reply)):
                continue
            self._outcomes[index] = reply

    def _redirected(self, index: int, piece: _Piece, message: str) -> bool:
        code, _, rest = message.partition(" ")
        if code in FOLLOWED:
            if piece.redirects >= MAX_REDIRECTS:
                return False
            piece.redirects += 1
            slot, _, address = rest.partition(" ")
            if code == "MOVED":
                self._router.moved(int(slot), address)
                self.needs_refresh = True
            else:
                piece.asking = self._router.node_at(address)
            self._todo.append(index)
            return True
        if code in RETRIED and self._retry_later():
            if code == "CLUSTERDOWN":
                self.needs_refresh = True
            self._todo.append(index)
            return True
        return False

    def _retry_later(self) -> bool:
        if self._retries >= len(RETRY_DELAYS):
            return False
        self.delay = max(self.delay, RETRY_DELAYS[self._retries])
        self._retries += 1
        return True

    def failed(self, pieces: list[int], error: Exception) -> None:
        """A batch's node failed: send again elsewhere if nothing reached it, else raise.

        Only a node we could not connect to is retried (after the slot map is
        reloaded): a command that may have reached the server is never sent
        twice, since it may not be safe to repeat (INCR).
        """
        self.needs_refresh = True
        if isinstance(error, CircuitOpen):
            # The node is known to be down: worth one more try, at once, in case
            # the reloaded map names another owner; no waiting on a dead node.
            if self._breaker_retried:
                raise error
            self._breaker_retried = True
        elif not (isinstance(error, Unreachable) and self._retry_later()):
            raise error
        for index in pieces:
            self._pieces[index].asking = None
        self._todo.extend(pieces)

    def replies(self) -> list[Any]:
        """The Step's replies, in its order, pieces merged."""
        outcomes = self._outcomes
        replies: list[Any] = []
        for how, pieces, extra in self._plans:
            if how == "one":
                replies.append(outcomes[pieces[0]])
                continue
            if how == "answer":
                replies.append(extra)
                continue
            parts = [outcomes[index] for index in pieces]
            error = None
            for part in parts:
                if isinstance(part, Exception):
                    error = part
                    break
            if error is not None:
                replies.append(error)
            elif how == "sum":
                replies.append(sum(parts))
            elif how == "ok":
                replies.append(parts[0])
            else:  # mget: each piece's values back in their keys' places
                values: list[Any] = [None] * extra
                all_pieces = self._pieces
                for index, part in zip(pieces, parts, strict=True):
                    positions = all_pieces[index].positions or []
                    if len(positions) == 1:
                        (values[positions[0]],) = part  # exactly one value, or ValueError
                    else:
                        for position, value in zip(positions, part, strict=True):
                            values[position] = value
                replies.append(values)
        return replies
