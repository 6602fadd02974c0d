"""Sorted sets on the cache, with django-redis 7's names, arguments and answers.

Members are always serialized, ints included (django-redis does the same for
sorted sets, unlike plain values), so both libraries store identical bytes.
``min``/``max`` keep django-redis's parameter names, so keyword calls work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..ops import Step
from ..ops import sorted_sets as ops
from ..ops.sorted_sets import Score
from .base import StructureBase

ScoreCast = Callable[[Any], Any]


class SortedSetsMixin(StructureBase):
    """ZADD, ZRANGE, ZPOPMAX and the rest."""

    def _zadd(
        self,
        key: Any,
        mapping: Mapping[Any, float],
        flags: dict[str, bool],
        version: int | None,
    ) -> Step[int | float | None]:
        pairs = [(self._serialize(member), score) for member, score in mapping.items()]
        return ops.zadd(self._key(key, version), pairs, **flags)

    def _zrange(
        self,
        key: Any,
        start: int,
        end: int,
        desc: bool,
        withscores: bool,
        cast: ScoreCast,
        version: int | None,
    ) -> Step[list[Any]]:
        command = b"ZREVRANGE" if desc else b"ZRANGE"
        return ops.zrange(
            command, self._key(key, version), start, end, withscores, cast, self._decode
        )

    def _zrange_by_score(
        self,
        command: bytes,
        key: Any,
        first: Score,
        second: Score,
        start: int | None,
        num: int | None,
        withscores: bool,
        cast: ScoreCast,
        version: int | None,
    ) -> Step[list[Any]]:
        return ops.zrange_by_score(
            command,
            self._key(key, version),
            first,
            second,
            start,
            num,
            withscores,
            cast,
            self._decode,
        )

    def _zrank(
        self, command: bytes, key: Any, value: Any, withscore: bool, version: int | None
    ) -> Step[Any]:
        return ops.zrank(command, self._key(key, version), self._serialize(value), withscore)

    def _members(self, values: tuple[Any, ...]) -> list[bytes]:
        return [self._serialize(value) for value in values]

    # sync -------------------------------------------------------------------

    def zadd(
        self,
        key: Any,
        mapping: Mapping[Any, float],
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        incr: bool = False,
        gt: bool = False,
        lt: bool = False,
        version: int | None = None,
    ) -> int | float | None:
        """Add members with their scores; how many were added (changed with ``ch``),
        or with ``incr`` the member's new score (None when NX/XX prevented it)."""
        flags = {"nx": nx, "xx": xx, "ch": ch, "incr": incr, "gt": gt, "lt": lt}
        return self._run(self._zadd(key, mapping, flags, version))

    def zcard(self, key: Any, version: int | None = None) -> int:
        return self._run(ops.zcard(self._key(key, version)))

    def zcount(self, key: Any, min: Score, max: Score, version: int | None = None) -> int:
        return self._run(ops.zcount(self._key(key, version), min, max))

    def zincrby(self, key: Any, amount: float, value: Any, version: int | None = None) -> float:
        return self._run(ops.zincrby(self._key(key, version), amount, self._serialize(value)))

    def zpopmax(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        """The highest (member, score), removed; with ``count`` a list; None when empty."""
        return self._run(ops.zpop(b"ZPOPMAX", self._key(key, version), count, self._decode))

    def zpopmin(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        """The lowest (member, score), removed; with ``count`` a list; None when empty."""
        return self._run(ops.zpop(b"ZPOPMIN", self._key(key, version), count, self._decode))

    def zrange(
        self,
        key: Any,
        start: int,
        end: int,
        desc: bool = False,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
        version: int | None = None,
    ) -> list[Any]:
        """Members by rank; with ``withscores`` (member, score) pairs."""
        return self._run(self._zrange(key, start, end, desc, withscores, score_cast_func, version))

    def zrevrange(
        self,
        key: Any,
        start: int,
        end: int,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
        version: int | None = None,
    ) -> list[Any]:
        return self._run(self._zrange(key, start, end, True, withscores, score_cast_func, version))

    def zrangebyscore(
        self,
        key: Any,
        min: Score,
        max: Score,
        start: int | None = None,
        num: int | None = None,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
        version: int | None = None,
    ) -> list[Any]:
        """Members with scores from ``min`` to ``max``; ``start``/``num`` page them."""
        step = self._zrange_by_score(
            b"ZRANGEBYSCORE", key, min, max, start, num, withscores, score_cast_func, version
        )
        return self._run(step)

    def zrevrangebyscore(
        self,
        key: Any,
        max: Score,
        min: Score,
        start: int | None = None,
        num: int | None = None,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
        version: int | None = None,
    ) -> list[Any]:
        step = self._zrange_by_score(
            b"ZREVRANGEBYSCORE", key, max, min, start, num, withscores, score_cast_func, version
        )
        return self._run(step)

    def zrank(
        self, key: Any, value: Any, withscore: bool = False, version: int | None = None
    ) -> Any:
        """The member's rank from the lowest score (with ``withscore`` [rank, score]); None."""
        return self._run(self._zrank(b"ZRANK", key, value, withscore, version))

    def zrevrank(
        self, key: Any, value: Any, withscore: bool = False, version: int | None = None
    ) -> Any:
        """The member's rank from the highest score (with ``withscore`` [rank, score]); None."""
        return self._run(self._zrank(b"ZREVRANK", key, value, withscore, version))

    def zrem(self, key: Any, *values: Any, version: int | None = None) -> int:
        return self._run(ops.zrem(self._key(key, version), self._members(values)))

    def zremrangebyscore(self, key: Any, min: Score, max: Score, version: int | None = None) -> int:
        return self._run(ops.zremrangebyscore(self._key(key, version), min, max))

    def zscore(self, key: Any, value: Any, version: int | None = None) -> float | None:
        return self._run(ops.zscore(self._key(key, version), self._serialize(value)))

    def zmscore(self, key: Any, *values: Any, version: int | None = None) -> list[float | None]:
        """The scores of ``values`` in order, None for each non-member."""
        return self._run(ops.zmscore(self._key(key, version), self._members(values)))

    # async ------------------------------------------------------------------

    async def azadd(
        self,
        key: Any,
        mapping: Mapping[Any, float],
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        incr: bool = False,
        gt: bool = False,
        lt: bool = False,
        version: int | None = None,
    ) -> int | float | None:
        flags = {"nx": nx, "xx": xx, "ch": ch, "incr": incr, "gt": gt, "lt": lt}
        return await self._arun(self._zadd(key, mapping, flags, version))

    async def azcard(self, key: Any, version: int | None = None) -> int:
        return await self._arun(ops.zcard(self._key(key, version)))

    async def azcount(self, key: Any, min: Score, max: Score, version: int | None = None) -> int:
        return await self._arun(ops.zcount(self._key(key, version), min, max))

    async def azincrby(
        self, key: Any, amount: float, value: Any, version: int | None = None
    ) -> float:
        step = ops.zincrby(self._key(key, version), amount, self._serialize(value))
        return await self._arun(step)

    async def azpopmax(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        step = ops.zpop(b"ZPOPMAX", self._key(key, version), count, self._decode)
        return await self._arun(step)

    async def azpopmin(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        step = ops.zpop(b"ZPOPMIN", self._key(key, version), count, self._decode)
        return await self._arun(step)

    async def azrange(
        self,
        key: Any,
        start: int,
        end: int,
        desc: bool = False,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
        version: int | None = None,
    ) -> list[Any]:
        return await self._arun(
            self._zrange(key, start, end, desc, withscores, score_cast_func, version)
        )

    async def azrevrange(
        self,
        key: Any,
        start: int,
        end: int,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
        version: int | None = None,
    ) -> list[Any]:
        return await self._arun(
            self._zrange(key, start, end, True, withscores, score_cast_func, version)
        )

    async def azrangebyscore(
        self,
        key: Any,
        min: Score,
        max: Score,
        start: int | None = None,
        num: int | None = None,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
        version: int | None = None,
    ) -> list[Any]:
        step = self._zrange_by_score(
            b"ZRANGEBYSCORE", key, min, max, start, num, withscores, score_cast_func, version
        )
        return await self._arun(step)

    async def azrevrangebyscore(
        self,
        key: Any,
        max: Score,
        min: Score,
        start: int | None = None,
        num: int | None = None,
        withscores: bool = False,
        score_cast_func: ScoreCast = float,
        version: int | None = None,
    ) -> list[Any]:
        step = self._zrange_by_score(
            b"ZREVRANGEBYSCORE", key, max, min, start, num, withscores, score_cast_func, version
        )
        return await self._arun(step)

    async def azrank(
        self, key: Any, value: Any, withscore: bool = False, version: int | None = None
    ) -> Any:
        return await self._arun(self._zrank(b"ZRANK", key, value, withscore, version))

    async def azrevrank(
        self, key: Any, value: Any, withscore: bool = False, version: int | None = None
    ) -> Any:
        return await self._arun(self._zrank(b"ZREVRANK", key, value, withscore, version))

    async def azrem(self, key: Any, *values: Any, version: int | None = None) -> int:
        return await self._arun(ops.zrem(self._key(key, version), self._members(values)))

    async def azremrangebyscore(
        self, key: Any, min: Score, max: Score, version: int | None = None
    ) -> int:
        return await self._arun(ops.zremrangebyscore(self._key(key, version), min, max))

    async def azscore(self, key: Any, value: Any, version: int | None = None) -> float | None:
        return await self._arun(ops.zscore(self._key(key, version), self._serialize(value)))

    async def azmscore(
        self, key: Any, *values: Any, version: int | None = None
    ) -> list[float | None]:
        return await self._arun(ops.zmscore(self._key(key, version), self._members(values)))
