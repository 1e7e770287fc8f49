"""Own rank in SQL at any depth (issue 14): how many members of a leaderboard earned more than a
score, read from a small table of counts instead of counting the members themselves.

`LeaderboardCell` counts, per board (period, bucket), the members whose positive total falls in
each cell of each level: at level L a total s lies in cell `s >> (8 * L)`, so level 0 holds exact
scores, level 1 blocks of 256, level 2 blocks of 65,536, ... level 7 the top bits of a BigInteger.
The members above s are, level by level, those in the cells after s's own cell inside the same
parent cell (at most 255 cells a level; at level 7 every cell shares parent 0): at most 8 x 255
rows through the unique index, whatever the rank and however many members the board has.

Competition ranking, as Redis's ZCOUNT (score, +inf] + 1: ties share a rank; a total of zero or
less is off the board (Redis drops it with ZREMRANGEBYSCORE -inf 0).

Concurrency: a change of one member's total moves them between cells, so awards to members with
equal totals update the same cell rows. Each transaction writes its cells in one statement in key
order; awards already queue on the rewards pool's row, so this adds no new wait in practice.
"""

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection

from .models import EarningTotal, LeaderboardCell

SHIFT = 8
LEVELS = 8  # 8 x 8 bits: every positive BigInteger

_TABLE = LeaderboardCell._meta.db_table
_ONE_LEVEL = (
    f"SELECT members FROM {_TABLE} "  # noqa: S608 (constants)
    "WHERE period = %s AND bucket = %s AND level = %s AND cell > %s AND cell <= %s"
)
_ABOVE = " UNION ALL ".join([_ONE_LEVEL] * LEVELS)
_MEMBERS_ABOVE = f"SELECT COALESCE(SUM(members), 0) FROM ({_ABOVE}) AS above"  # noqa: S608 (constants)
_UPSERT = (
    f"INSERT INTO {_TABLE} (period, bucket, level, cell, members) VALUES {{values}} "  # noqa: S608 (constants)
    f"ON CONFLICT (period, bucket, level, cell) DO UPDATE SET members = {_TABLE}.members + excluded.members"
)


def cells_of(coins: int) -> list[tuple[int, int]]:
    """(level, cell) of the counted cells a total sits in; none when it is off the board (<= 0).

    Cell 0 is never counted: a sum only takes cells after the reader's own, and no own cell is
    below 0. So a total under 65,536 moves two rows a board, not eight (and the busiest rows, the
    high levels' cell 0 that every member sits in, are never written)."""
    if coins <= 0:
        return []
    return [(level, coins >> (SHIFT * level)) for level in range(LEVELS) if coins >> (SHIFT * level)]


def cell_deltas(old: int, new: int) -> dict[tuple[int, int], int]:
    """What moving one member's total from `old` to `new` does to the counts, by (level, cell)."""
    out: dict[tuple[int, int], int] = defaultdict(int)
    for key in cells_of(old):
        out[key] -= 1
    for key in cells_of(new):
        out[key] += 1
    return {key: n for key, n in out.items() if n}


CellRow = tuple[str, str, int, int, int]
_deferred: ContextVar[list[CellRow] | None] = ContextVar("rank_cells_deferred", default=None)


@contextmanager
def cells_deferred() -> Iterator[None]:
    """Collect the cell changes of several awards in one transaction and write them once, summed
    and in key order, when the block ends without an error (inside the caller's transaction).
    Cells are shared between members: a batch writing them award by award locks them in award
    order, and two batches (or a batch and a single event) then deadlock. Nested blocks hand
    their changes to the outer one; a block that raises drops its own (its savepoint rolls back)."""
    outer = _deferred.get()
    mine: list[CellRow] = []
    token = _deferred.set(mine)
    try:
        yield
    finally:
        _deferred.reset(token)
    if outer is not None:
        outer.extend(mine)
        return
    summed: dict[tuple[str, str, int, int], int] = defaultdict(int)
    for period, bucket, level, cell, n in mine:
        summed[(period, bucket, level, cell)] += n
    cells_apply([(*key, n) for key, n in summed.items() if n])


def cells_apply(rows: list[CellRow]) -> None:
    """Add (period, bucket, level, cell, members delta) rows to the counts, in one statement and
    in key order (two transactions lock shared cells in the same order); inside `cells_deferred`,
    collect them for the block's end instead."""
    if not rows:
        return
    pending = _deferred.get()
    if pending is not None:
        pending.extend(rows)
        return
    rows = sorted(rows)
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT.format(values=values), [v for row in rows for v in row])


def members_above(*, period: str, bucket: str, coins: int) -> int:
    """How many members of the board have a total above `coins` (their rank is this + 1)."""
    params: list[str | int] = []
    for level in range(LEVELS):
        cell = coins >> (SHIFT * level)
        params += [period, bucket, level, cell, (((cell >> SHIFT) + 1) << SHIFT) - 1]  # the parent's last cell
    with connection.cursor() as cursor:
        cursor.execute(_MEMBERS_ABOVE, params)
        return int(cursor.fetchone()[0])


def cells_rebuild_sql(totals_table: str) -> list[str]:
    """Statements that recount every cell from the earned totals (run in one transaction)."""
    select = " UNION ALL ".join(
        f"SELECT period, bucket, {level}, coins >> {SHIFT * level}, COUNT(*) FROM {totals_table} "  # noqa: S608 (constants)
        f"WHERE coins >= {1 << (SHIFT * level)} GROUP BY period, bucket, coins >> {SHIFT * level}"
        for level in range(LEVELS)
    )
    return [
        f"DELETE FROM {_TABLE}",  # noqa: S608 (constants)
        f"INSERT INTO {_TABLE} (period, bucket, level, cell, members) {select}",  # noqa: S608 (constants)
    ]


def cells_rebuild() -> None:
    with connection.cursor() as cursor:
        for sql in cells_rebuild_sql(EarningTotal._meta.db_table):
            cursor.execute(sql)
