"""Server-side prepared statements for the few hand-written queries on the hottest paths.

Why: PostgreSQL plans a statement on every execution. For the balance endpoint's one statement
(token, member, account, ledger totals, download count) planning cost several times executing it
(about 0.5 ms against 0.1 ms). `PREPARE` once per connection and `EXECUTE` afterwards skips that.

Rules that keep this safe:
- only on PostgreSQL, and only outside `transaction.atomic()` (autocommit): if the server no
  longer knows the statement (someone ran `DISCARD ALL`, a pooler moved us to another server
  connection, a migration changed a table's row type) the failed EXECUTE aborts nothing, and we
  prepare again or fall back to the plain statement;
- statements are tracked per connection and forgotten when Django opens a new one
  (`connection_created`);
- `GOLDBOOK_SQL_PREPARE=False` turns it off, e.g. behind PgBouncer in transaction pooling mode.
"""

import re
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.backends.signals import connection_created

_NAMED = re.compile(r"%\((\w+)\)s")
_ATTR = "_goldbook_prepared"
# SQLSTATEs meaning "prepare again": unknown statement name; cached plan's row type changed.
_STALE = {"26000", "0A000"}
_DUPLICATE = "42P05"


def _forget_prepared(sender: Any, connection: Any, **kwargs: Any) -> None:
    setattr(connection, _ATTR, set())


connection_created.connect(_forget_prepared, dispatch_uid="goldbook-forget-prepared")


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc.__cause__, "pgcode", None)


_NAMES: set[str] = set()


class PreparedStatement:
    """A statement with named parameters (`%(name)s`), run as a prepared statement when it is
    safe to (see the module docstring) and as plain SQL otherwise, with the same results."""

    def __init__(self, name: str, sql: str) -> None:
        if not name.isidentifier() or name in _NAMES:
            raise ValueError(f"Not a new statement name: {name!r}")
        _NAMES.add(name)
        self.name = name
        self.sql = sql
        self.param_names = list(dict.fromkeys(_NAMED.findall(sql)))
        position = {n: i + 1 for i, n in enumerate(self.param_names)}
        self.prepare_sql = f"PREPARE {name} AS " + _NAMED.sub(lambda m: f"${position[m.group(1)]}", sql)
        self.execute_sql = f"EXECUTE {name}(" + ", ".join(f"%({n})s" for n in self.param_names) + ")"

    def fetchone(self, params: dict[str, Any]) -> tuple[Any, ...] | None:
        with connection.cursor() as cursor:
            if (
                connection.vendor == "postgresql"
                and not connection.in_atomic_block
                and getattr(settings, "GOLDBOOK_SQL_PREPARE", True)
            ):
                wrapper = connections[DEFAULT_DB_ALIAS]  # `connection` is a proxy to it
                prepared: set[str] = wrapper.__dict__.setdefault(_ATTR, set())
                for _attempt in range(2):
                    try:
                        if self.name not in prepared:
                            self._prepare(cursor)
                            prepared.add(self.name)
                        cursor.execute(self.execute_sql, params)
                        return cursor.fetchone()  # type: ignore[no-any-return]
                    except DatabaseError as exc:
                        if _sqlstate(exc) not in _STALE:
                            raise
                        prepared.discard(self.name)
                        # A plan whose row type changed: drop it so PREPARE can take the name again.
                        self._deallocate(cursor)
            cursor.execute(self.sql, params)
            return cursor.fetchone()  # type: ignore[no-any-return]

    def _prepare(self, cursor: Any) -> None:
        try:
            cursor.execute(self.prepare_sql)
        except DatabaseError as exc:
            if _sqlstate(exc) != _DUPLICATE:  # already prepared on this connection: fine
                raise

    def _deallocate(self, cursor: Any) -> None:
        try:
            cursor.execute(f"DEALLOCATE {self.name}")
        except DatabaseError as exc:
            if _sqlstate(exc) != "26000":  # it was not there at all
                raise
