"""Server-side prepared statements for the few hand-written queries on the hottest paths.

Why: PostgreSQL plans a statement on every execution. For the balance endpoint's one statement
(token, member, account, ledger totals, download count) planning cost several times executing it
(about 0.5 ms against 0.1 ms). `PREPARE` once per connection and `EXECUTE` afterwards skips that.

It also stands in for Django's per-request connection health check (`CONN_HEALTH_CHECKS`, a
"SELECT 1" round trip before the first query) when it is the request's first query: a dead
connection is replaced and the statement run again, which is what the check would have done.

Rules that keep this safe:
- only on PostgreSQL, and only outside `transaction.atomic()` (autocommit): if the server no
  longer knows the statement (someone ran `DISCARD ALL`, a pooler moved us to another server
  connection, a migration changed a table's row type) the failed EXECUTE aborts nothing, and we
  prepare again or fall back to the plain statement;
- statements are tracked per connection and forgotten when Django opens a new one
  (`connection_created`);
- `GOLDBOOK_SQL_PREPARE=False` turns it off; `PGBOUNCER_TRANSACTION_POOLING=true` makes that the
  default, since a transaction pooler moves a client between server connections and PgBouncer's
  `max_prepared_statements` tracks protocol-level statements only, never SQL `PREPARE`.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connection, connections
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
    """The SQLSTATE of a driver error, or of the driver error behind a `django.db` one
    (`pgcode` in psycopg2, `sqlstate` in psycopg 3)."""
    for err in (exc, exc.__cause__):
        code = getattr(err, "pgcode", None) or getattr(err, "sqlstate", None)
        if code:
            return str(code)
    return None


def _errors(wrapper: Any) -> tuple[type[BaseException], ...]:
    # Inside _cursor's driver-cursor path, errors are not yet django.db errors.
    return (DatabaseError, wrapper.Database.Error)


_NAMES: set[str] = set()


@contextmanager
def _cursor(wrapper: Any) -> Iterator[Any]:
    """Django's cursor when anything watches queries (DEBUG, CaptureQueriesContext, execute
    wrappers), else the driver's own: Django's wrapper costs about a fifth of what running the
    balance statement costs the client. Errors still become `django.db` errors."""
    if wrapper.queries_logged or wrapper.execute_wrappers:
        with wrapper.cursor() as cursor:
            yield cursor
        return
    wrapper.ensure_connection()
    with wrapper.wrap_database_errors, wrapper.connection.cursor() as cursor:
        yield cursor


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
        wrapper = connections[DEFAULT_DB_ALIAS]  # `connection` is a proxy to it
        if (
            wrapper.vendor != "postgresql"
            or wrapper.in_atomic_block
            or not getattr(settings, "GOLDBOOK_SQL_PREPARE", True)
        ):
            with wrapper.cursor() as cursor:
                cursor.execute(self.sql, params)
                row: tuple[Any, ...] | None = cursor.fetchone()
                return row
        # With CONN_HEALTH_CHECKS Django sends "SELECT 1" before a request's first query, a whole
        # round trip. Our statement only reads, so it can be the check itself: if the connection
        # turns out dead, replace it (what the check would have done) and run it once more.
        # Django's own flags for CONN_HEALTH_CHECKS (not in the type stubs).
        check_pending = (
            wrapper.connection is not None
            and getattr(wrapper, "health_check_enabled", False)
            and not getattr(wrapper, "health_check_done", True)
        )
        if check_pending:
            wrapper.health_check_done = True  # type: ignore[attr-defined]
        try:
            return self._fetchone_prepared(wrapper, params)
        except (OperationalError, InterfaceError):
            if not check_pending or wrapper.is_usable():
                raise
            wrapper.close()
            return self._fetchone_prepared(wrapper, params)

    def _fetchone_prepared(self, wrapper: Any, params: dict[str, Any]) -> tuple[Any, ...] | None:
        errors = _errors(wrapper)
        with _cursor(wrapper) as cursor:
            prepared: set[str] = wrapper.__dict__.setdefault(_ATTR, set())
            for _attempt in range(2):
                try:
                    if self.name not in prepared:
                        self._prepare(cursor, errors)
                        prepared.add(self.name)
                    cursor.execute(self.execute_sql, params)
                    row: tuple[Any, ...] | None = cursor.fetchone()
                    return row
                except errors as exc:
                    if _sqlstate(exc) not in _STALE:
                        raise
                    prepared.discard(self.name)
                    # A plan whose row type changed: drop it so PREPARE can take the name again.
                    self._deallocate(cursor, errors)
            cursor.execute(self.sql, params)
            last: tuple[Any, ...] | None = cursor.fetchone()
            return last

    def _prepare(self, cursor: Any, errors: tuple[type[BaseException], ...]) -> None:
        try:
            cursor.execute(self.prepare_sql)
        except errors as exc:
            if _sqlstate(exc) != _DUPLICATE:  # already prepared on this connection: fine
                raise

    def _deallocate(self, cursor: Any, errors: tuple[type[BaseException], ...]) -> None:
        try:
            cursor.execute(f"DEALLOCATE {self.name}")
        except errors as exc:
            if _sqlstate(exc) != "26000":  # it was not there at all
                raise


def ensure_database(url: str | None = None) -> None:
    """Create the PostgreSQL database DATABASE_URL names if it does not exist yet (a fresh
    machine has only `postgres` and `test`). Connects to the server's `postgres` database to do
    it. A no-op for SQLite or without DATABASE_URL. Used by `make` before checks and tests."""
    import os
    from urllib.parse import unquote, urlsplit

    import psycopg2
    from psycopg2 import sql

    url = url if url is not None else os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        return
    name = unquote(parts.path.lstrip("/"))
    admin = psycopg2.connect(
        host=parts.hostname or None,
        port=parts.port or 5432,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        dbname="postgres",
        connect_timeout=5,
    )
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()


class ModelColumns:
    """The concrete columns of `model` under a table alias, and turning a slice of a raw row back
    into an instance, with the backend's converters applied as the ORM would (SQLite returns
    naive datetimes and 0/1 for booleans; PostgreSQL needs none)."""

    def __init__(self, model: Any, alias: str, only: tuple[str, ...] = ()) -> None:
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if not only or f.attname in only]
        self.attnames = [f.attname for f in self.fields]
        self.sql = ", ".join(f'{alias}."{f.column}"' for f in self.fields)
        self._converters: list[tuple[int, list[Any], Any]] | None = None

    def __len__(self) -> int:
        return len(self.fields)

    def instance(self, values: tuple[Any, ...]) -> Any:
        if self._converters is None:
            table = self.model._meta.db_table
            found = []
            for i, f in enumerate(self.fields):
                col = f.get_col(table)
                convs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if convs:
                    found.append((i, convs, col))
            self._converters = found
        if self._converters:
            row = list(values)
            for i, convs, col in self._converters:
                for conv in convs:
                    row[i] = conv(row[i], col, connection)
            values = tuple(row)
        return self.model.from_db(connection.alias, self.attnames, values)
