"""The drivers of clients that spread a round trip over several nodes.

Shard and Cluster clients plan each round trip with a
:class:`~django_async_redis.client.routing.Dispatch`; the loops below send
its batches, one per node (concurrently on the async path, each on that
node's multiplexed connection, so auto-pipelining holds per node), and feed
the replies back until every command has its answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from ..config import Node
from ..ops import Step
from ..transport.registry import async_pool
from ..transport.resp import ReplyError, Unreachable
from .base import BaseClient
from .default import payload, submit_when_connected
from .routing import KEYLESS, REDIRECTIONS, Dispatch, Router, command_keys, command_name


class RoutedClient(BaseClient):
    """A client whose every key has a place; subclasses say where."""

    # Whether the servers themselves refuse a script over keys of several
    # places (a cluster does; independent shards cannot tell).
    servers_check_slots = False

    def router(self) -> Router:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Before a round trip: make sure the routing is known (blocking)."""

    async def _aprepare(self) -> None:
        """Before a round trip: make sure the routing is known (async)."""

    def _refresh_routing(self) -> None:
        """Redirections or a failed node: learn the routing again now (blocking)."""

    async def _arefresh_routing(self) -> None:
        """Redirections or a failed node: learn the routing again now (async)."""

    def _routing_stale(self) -> None:
        """A round trip failed: the next one learns the routing first."""

    def _node_of(self, key: bytes, write: bool) -> Node | None:
        """Where ``key`` lives now, if the routing is known and fresh; else None."""
        return None

    def _single_target(self, step: Step[Any], node: Node | None) -> Node | None:
        """The node of a lone command naming one key: the hot path, planned in a line."""
        commands = step.commands
        if node is not None or len(commands) != 1:
            return None
        keys = command_keys(commands[0])
        return self._node_of(keys[0], step.write) if len(keys) == 1 else None

    @staticmethod
    def _direct(step: Step[Any], node: Node | None) -> bool:
        """A pinned round trip of keyless commands only: no routing needed."""
        return node is not None and all(command_name(c) in KEYLESS for c in step.commands)

    def _round_trip(self, step: Step[Any], node: Node | None) -> list[Any]:
        if node is not None and self._direct(step, node):
            pool = self.sync_pool(node)
            return pool.execute(payload(step.commands), len(step.commands))
        target = self._single_target(step, node)
        if target is not None:
            try:
                replies = self.sync_pool(target).execute(payload(step.commands), 1)
            except Unreachable:
                pass  # the full dispatch below reloads the routing and retries
            except Exception:
                self._routing_stale()
                raise
            else:
                if not _redirected(replies[0]):
                    return replies
            # Redirected (nothing was executed) or unreachable: plan it properly.
            self._routing_stale()
        self._prepare()
        dispatch = Dispatch(
            self.router(), step.commands, step.write, node, self.servers_check_slots
        )
        try:
            while batches := dispatch.take():
                if dispatch.delay:
                    time.sleep(dispatch.delay)
                # Send to every node first, then read: the round trips overlap.
                # Every started connection is read (or dropped) before any
                # failure is acted on, so none is left borrowed.
                outcomes: list[tuple[list[int], list[Any] | None, Exception | None]] = []
                sent = []
                for target, pieces in batches:
                    data, count = dispatch.payload(pieces)
                    pool = self.sync_pool(target)
                    try:
                        sent.append((pool, pool.start(data), pieces, count))
                    except Exception as refused:
                        outcomes.append((pieces, None, refused))
                for pool, connection, pieces, count in sent:
                    try:
                        outcomes.append((pieces, pool.finish(connection, count), None))
                    except Exception as broken:
                        outcomes.append((pieces, None, broken))
                for pieces, answered, failure in outcomes:
                    if failure is not None:
                        dispatch.failed(pieces, failure)
                    else:
                        assert answered is not None
                        dispatch.feed(pieces, answered)
                if dispatch.needs_refresh:
                    dispatch.needs_refresh = False
                    self._refresh_routing()
        finally:
            if dispatch.needs_refresh:
                self._routing_stale()
        return dispatch.replies()

    def _submit(self, step: Step[Any], node: Node | None) -> Awaitable[list[Any]]:
        target = self._single_target(step, node)
        if target is not None:
            return self._single(target, step)
        return self._dispatch(step, node)

    async def _single(self, target: Node, step: Step[Any]) -> list[Any]:
        try:
            replies = await _send(target, self._async_connections, payload(step.commands), 1)
        except Unreachable:
            pass  # the full dispatch below reloads the routing and retries
        except Exception:
            self._routing_stale()
            raise
        else:
            if not _redirected(replies[0]):
                return replies
        self._routing_stale()
        return await self._dispatch(step, None)

    async def _dispatch(self, step: Step[Any], node: Node | None) -> list[Any]:
        if node is not None and self._direct(step, node):
            return await _send(
                node, self._async_connections, payload(step.commands), len(step.commands)
            )
        await self._aprepare()
        dispatch = Dispatch(
            self.router(), step.commands, step.write, node, self.servers_check_slots
        )
        try:
            while batches := dispatch.take():
                if dispatch.delay:
                    await asyncio.sleep(dispatch.delay)
                if len(batches) == 1:
                    target, pieces = batches[0]
                    try:
                        replies = await _send(
                            target, self._async_connections, *dispatch.payload(pieces)
                        )
                    except Exception as error:
                        dispatch.failed(pieces, error)
                    else:
                        dispatch.feed(pieces, replies)
                else:
                    sends = [
                        _send(target, self._async_connections, *dispatch.payload(pieces))
                        for target, pieces in batches
                    ]
                    outcomes = await asyncio.gather(*sends, return_exceptions=True)
                    for (_, pieces), outcome in zip(batches, outcomes, strict=True):
                        if isinstance(outcome, BaseException):
                            if not isinstance(outcome, Exception):
                                raise outcome
                            dispatch.failed(pieces, outcome)
                        else:
                            dispatch.feed(pieces, outcome)
                if dispatch.needs_refresh:
                    dispatch.needs_refresh = False
                    await self._arefresh_routing()
        finally:
            if dispatch.needs_refresh:
                self._routing_stale()
        return dispatch.replies()


def _redirected(reply: Any) -> bool:
    """A reply telling us to go elsewhere or later (the command did not run)."""
    return type(reply) is ReplyError and str(reply).startswith(REDIRECTIONS)


async def _send(node: Node, size: int, data: bytes, count: int) -> list[Any]:
    pool = async_pool(node, size)
    connection = pool.ready_connection()
    if connection is not None:
        return await connection.submit(data, count, node.socket_timeout)
    return await submit_when_connected(pool, data, count)
